"""`metricx reports create|list|send|delete` on a configured database, the send going to a
real SMTP receiver on 127.0.0.1 (admitted by the operator's allow-list)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from sqlalchemy.orm import Session

from metricx.db import make_engine
from metricx.models import ChannelKind, NotificationChannel
from tests.notifications.test_destinations import SmtpReceiver, smtp  # noqa: F401
from tests.test_cli import base_env, run, run_json


def email_channel(database_url: str, workspace_id: str, port: int) -> str:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            row = NotificationChannel(
                workspace_id=uuid.UUID(workspace_id),
                kind=ChannelKind.EMAIL,
                name="team",
                config={
                    "host": "127.0.0.1",
                    "port": port,
                    "sender": "metricx@example.com",
                    "recipients": ["team@example.com"],
                    "security": "none",
                },
            )
            session.add(row)
            session.commit()
            return str(row.id)
    finally:
        engine.dispose()


def test_reports_cli_round_trip(
    tmp_path: Path,
    fresh_database,  # type: ignore[no-untyped-def]
    smtp: SmtpReceiver,  # noqa: F811
) -> None:
    env = base_env(tmp_path)
    env["METRICX_DATABASE_URL"] = url = fresh_database("reports_cli")
    env["METRICX_NOTIFY_ALLOWED_HOSTS"] = "127.0.0.1"
    run_json(env, "db", "upgrade")
    run_json(env, "users", "create", "--email", "r@example.com", "--password", "s3cret-pass")
    ws = run_json(env, "workspaces", "create", "--name", "R & D", "--owner", "r@example.com")
    channel = email_channel(url, ws["id"], smtp.server_address[1])
    made = run_json(
        env, "reports", "create", "--workspace", ws["id"], "--name", "Weekly",
        "--channel", channel, "--frequency", "weekly", "--weekday", "monday", "--hour", "7",
    )  # fmt: skip
    assert (made["frequency"], made["weekday"], made["hour"]) == ("weekly", "monday", 7)
    listed = run_json(env, "reports", "list", "--workspace", ws["id"])
    assert [r["id"] for r in listed["reports"]] == [made["id"]]
    sent = run_json(env, "reports", "send", "--workspace", ws["id"], "--report", made["id"])
    assert sent["sent"] is True
    [message] = smtp.messages
    assert "Subject: [metricx] Weekly: R & D" in message and "text/html" in message
    bad = run(
        env, "reports", "create", "--workspace", ws["id"], "--name", "Daily",
        "--channel", channel, "--hour", "25", "--json", ok=False,
    )  # fmt: skip
    assert bad.returncode == 1 and json.loads(bad.stderr)["error"]["code"] == "invalid_input"
    assert "hour" in bad.stderr and "Traceback" not in bad.stderr
    other = run(
        env, "reports", "create", "--workspace", ws["id"], "--name", "Daily",
        "--channel", str(uuid.uuid4()), ok=False,
    )  # fmt: skip
    assert other.returncode == 1 and "channel_id" in other.stderr
    run_json(env, "reports", "delete", "--workspace", ws["id"], "--report", made["id"])
    assert run_json(env, "reports", "list", "--workspace", ws["id"])["reports"] == []
