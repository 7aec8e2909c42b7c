"""`metricx conversions create|list|delete` on a configured database."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli import base_env, run, run_json


def test_conversions_cli_round_trip(tmp_path: Path, fresh_database) -> None:  # type: ignore[no-untyped-def]
    env = base_env(tmp_path)
    env["METRICX_DATABASE_URL"] = fresh_database("conversions_cli")
    run_json(env, "db", "upgrade")
    run_json(env, "users", "create", "--email", "c@example.com", "--password", "s3cret-pass")
    ws = run_json(env, "workspaces", "create", "--name", "C", "--owner", "c@example.com")
    made = run_json(
        env, "conversions", "create", "--workspace", ws["id"], "--name", "Checkouts",
        "--action-type", "offsite_conversion.fb_pixel_initiate_checkout",
        "--value-source", "fixed", "--fixed-value", "15",
    )  # fmt: skip
    assert made["counted_action_types"] == ["offsite_conversion.fb_pixel_initiate_checkout"]
    listed = run_json(env, "conversions", "list", "--workspace", ws["id"])
    assert [c["name"] for c in listed["conversions"]] == ["Checkouts"]
    dup = run(
        env, "conversions", "create", "--workspace", ws["id"], "--name", "Checkouts",
        "--action-type", "lead", "--json", ok=False,
    )  # fmt: skip
    assert dup.returncode == 1 and json.loads(dup.stderr)["error"]["code"] == "name_taken"
    bad = run(
        env, "conversions", "create", "--workspace", ws["id"], "--name", "Bad",
        "--action-type", "Not a type", ok=False,
    )  # fmt: skip
    assert bad.returncode == 1 and "action_types" in bad.stderr and "Traceback" not in bad.stderr
    run_json(env, "conversions", "delete", "--workspace", ws["id"], "--conversion", made["id"])
    assert run_json(env, "conversions", "list", "--workspace", ws["id"])["conversions"] == []
