"""Signing in does not tell which e-mail addresses have an account: failures at an unknown
address are counted and slowed down exactly like wrong passwords on an existing account,
and the counters hold only a keyed hash of the address."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from metricx.auth.service import (
    FREE_LOGIN_FAILURES,
    authenticate,
    email_digest,
    forget_old_sign_in_failures,
)
from metricx.models import SignInFailure
from metricx.runtime import Runtime
from metricx.worker.queue import build_queue
from tests.conftest import unique_email
from tests.factories import PASSWORD, make_user
from tests.web.login_form import login_form_token

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ATTEMPTS = FREE_LOGIN_FAILURES + 1  # the free failures, then the first locked answer


def api_answer(client: TestClient, email: str, password: str) -> tuple[int, Any, str | None]:
    answer = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    return answer.status_code, answer.json(), answer.headers.get("retry-after")


def api_answers(client: TestClient, email: str) -> list[tuple[int, Any, str | None]]:
    return [api_answer(client, email, "wrong guess") for _ in range(ATTEMPTS)]


def form_answers(client: TestClient, email: str) -> list[tuple[int, str, str | None]]:
    form = {"email": email, "password": "wrong guess", "csrf_token": login_form_token(client)}
    answers = [client.post("/login", data=form) for _ in range(ATTEMPTS)]
    return [(a.status_code, page_without(a, email), a.headers.get("retry-after")) for a in answers]


def page_without(answer: httpx.Response, email: str) -> str:
    # The form keeps what was typed in the e-mail field; everything else must be the same.
    return answer.text.replace(email, "EMAIL")


def test_an_unknown_address_gets_the_same_api_answers_as_a_wrong_password(
    client: TestClient, db: Session
) -> None:
    known = make_user(db).email
    unknown = unique_email("nobody")
    # Then the right password (for the account), which waits out the lock all the same.
    for_known = [*api_answers(client, known), api_answer(client, known, PASSWORD)]
    for_unknown = [*api_answers(client, unknown), api_answer(client, unknown, PASSWORD)]
    assert [status for status, _, _ in for_unknown] == [401] * FREE_LOGIN_FAILURES + [429, 429]
    assert for_unknown == for_known
    _, body, retry_after = for_unknown[-1]
    assert body["error"]["code"] == "too_many_requests"
    assert body["error"]["details"]["retry_after_seconds"] == int(retry_after or 0) >= 1


def test_an_unknown_address_gets_the_same_form_answers_as_a_wrong_password(
    client: TestClient, db: Session
) -> None:
    known = make_user(db).email
    unknown = unique_email("nobody")
    for_known, for_unknown = form_answers(client, known), form_answers(client, unknown)
    assert [status for status, _, _ in for_unknown] == [401] * FREE_LOGIN_FAILURES + [429]
    assert [(s, r) for s, _, r in for_unknown] == [(s, r) for s, _, r in for_known]
    assert [page for _, page, _ in for_unknown] == [page for _, page, _ in for_known]
    assert "Too many failed sign-ins" in for_unknown[-1][1]


def outcome(session: Session, runtime: Runtime, email: str, password: str, at: datetime) -> Any:
    attempt = authenticate(
        session, email=email, password=password, secret_key=runtime.secret_key, now=at
    )
    error = attempt.error
    if error is None:
        return "signed in"
    return (error.status_code, error.code, error.message, error.details, error.headers)


def test_locks_grow_alike_for_known_and_unknown_addresses(db: Session, runtime: Runtime) -> None:
    known = make_user(db).email
    unknown = unique_email("nobody")
    # Attempts at set times: some inside a lock (429), some after it ends (counted again).
    seconds = [0, 1, 2, 3, 4, 4.5, 5.5, 6, 8, 9, 30, 31]
    at = [T0 + timedelta(seconds=s) for s in seconds]
    for_known = [outcome(db, runtime, known, "wrong", t) for t in at]
    for_unknown = [outcome(db, runtime, unknown, "wrong", t) for t in at]
    assert for_unknown == for_known
    statuses = [o[0] for o in for_unknown]
    # 5 free failures (the 5th locks 1 s), then locks of 2 s, 4 s, 8 s after each failure.
    assert statuses == [401, 401, 401, 401, 401, 429, 401, 429, 401, 429, 401, 429]
    assert [o[3] for o in for_unknown if o[0] == 429] == [
        {"retry_after_seconds": s} for s in (1, 1, 3, 7)
    ]
    # Case and spaces do not make a new address with a fresh allowance.
    assert outcome(db, runtime, f"  {unknown.upper()} ", "wrong", at[-1])[0] == 429
    # Once the lock ends the right password signs in, and the count starts again.
    assert outcome(db, runtime, known, PASSWORD, T0 + timedelta(minutes=20)) == "signed in"
    assert db.get(SignInFailure, email_digest(known, secret_key=runtime.secret_key)) is None


def test_the_counters_hold_no_address_in_clear(
    client: TestClient, db: Session, runtime: Runtime
) -> None:
    known = make_user(db).email
    unknown = unique_email("nobody")
    for email in (known, unknown):
        client.post("/api/v1/auth/login", json={"email": email, "password": "wrong guess"})
    rows = db.execute(text("SELECT t::text, t.email_digest FROM sign_in_failures t")).all()
    ours = {email_digest(e, secret_key=runtime.secret_key) for e in (known, unknown)}
    assert ours <= {digest for _, digest in rows}
    for email in (known, unknown):
        local_part = email.split("@")[0]
        assert not [row for row, _ in rows if local_part in row.lower()]
        # Keyed: not a plain hash that anyone can match against a list of addresses...
        assert hashlib.sha256(email.encode()).hexdigest() not in ours
        # ...and under another secret (another installation) the digest is another one.
        assert email_digest(email, secret_key="another secret") not in ours


def test_idle_counters_are_forgotten_and_recent_ones_kept(db: Session, runtime: Runtime) -> None:
    idle, recent = unique_email("idle"), unique_email("recent")
    outcome(db, runtime, idle, "wrong", T0)
    outcome(db, runtime, recent, "wrong", T0 + timedelta(hours=23))
    forgotten = forget_old_sign_in_failures(db, now=T0 + timedelta(days=1, minutes=1))
    assert forgotten >= 1
    assert db.get(SignInFailure, email_digest(idle, secret_key=runtime.secret_key)) is None
    assert db.get(SignInFailure, email_digest(recent, secret_key=runtime.secret_key)) is not None


def test_forgetting_idle_counters_is_scheduled() -> None:
    queue = build_queue("postgresql://unused@localhost/unused")
    periodic = {t.task.name for t in queue.periodic_registry.periodic_tasks.values()}
    assert "forget_sign_in_failures" in periodic
