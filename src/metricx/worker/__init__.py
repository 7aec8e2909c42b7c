"""The Procrastinate queue: tasks, the periodic schedule, and running workers."""
