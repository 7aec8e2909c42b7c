"""Notifications: a workspace's alerts sent to a Slack-compatible webhook or by e-mail, once
when an alert opens and once when it resolves, with retries."""
