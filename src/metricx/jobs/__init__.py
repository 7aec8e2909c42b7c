"""The job queue's ground floor, which every domain may use: enqueueing inside the caller's
transaction (``enqueue``), the runtime a task runs with (``context``) and the detection of
jobs whose worker died (``stalled``). The worker process itself, which registers every
domain's tasks, is ``metricx.worker``, at the top of the house."""
