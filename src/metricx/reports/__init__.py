"""Scheduled reports: a workspace's KPI tiles and top campaigns, daily or weekly, through its
notification channels (an e-mail, or a webhook's JSON)."""
