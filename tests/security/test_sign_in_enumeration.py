"""Signing in does not tell which e-mail addresses have an account: failures at an unknown
address are counted and slowed down exactly like wrong passwords on an existing account,
and the counters hold only a keyed hash of the address."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
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
    purge_expired_sessions,
    start_session,
    utcnow,
)
from metricx.models import SignInFailure, UserSession
from metricx.runtime import Runtime
from metricx.worker.queue import build_queue
from tests.conftest import unique_email
from tests.factories import PASSWORD, make_user
from tests.web.login_form import login_form_token

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
# Over HTTP the clock is real: the 6th failure lands inside the 1 s lock of the 5th unless
# the machine is slow, so attempts go on (locks of 2, 4, 8 ... s) until one is refused. The
# exact sequence, clock in hand, is test_locks_grow_alike_for_known_and_unknown_addresses.
MAX_ATTEMPTS = FREE_LOGIN_FAILURES + 6
Answer = tuple[int, Any, str | None]  # status, body (JSON or page), Retry-After


def until_locked(attempt: Callable[[], httpx.Response], email: str) -> list[Answer]:
    answers: list[Answer] = []
    while len(answers) < MAX_ATTEMPTS and (not answers or answers[-1][0] != 429):
        answer = attempt()
        is_json = answer.headers["content-type"].startswith("application/json")
        # A page keeps what was typed in the e-mail field; everything else must be the same.
        body = answer.json() if is_json else answer.text.replace(email, "EMAIL")
        answers.append((answer.status_code, body, answer.headers.get("retry-after")))
    return answers


def without_wait(answer: Answer) -> Answer:
    """The answer with how long to wait left out (it depends on the real clock)."""
    status, body, retry_after = answer
    if status != 429:
        return answer
    assert retry_after is not None and int(retry_after) >= 1
    if isinstance(body, dict):
        assert body["error"]["details"] == {"retry_after_seconds": int(retry_after)}
        body = {"error": {**body["error"], "details": "WAIT"}}
    return status, body, "WAIT"


def assert_same_answers(for_known: list[Answer], for_unknown: list[Answer]) -> None:
    for answers in (for_known, for_unknown):
        statuses = [status for status, _, _ in answers]
        assert statuses[:FREE_LOGIN_FAILURES] == [401] * FREE_LOGIN_FAILURES, statuses
        assert set(statuses[FREE_LOGIN_FAILURES:-1]) <= {401} and statuses[-1] == 429, statuses
    # The same wrong-password answer every time, then the same locked answer.
    assert {repr(without_wait(a)) for a in for_known} == {
        repr(without_wait(a)) for a in for_unknown
    }
    assert len({repr(without_wait(a)) for a in for_unknown}) == 2


def test_an_unknown_address_gets_the_same_api_answers_as_a_wrong_password(
    client: TestClient, db: Session
) -> None:
    known = make_user(db).email
    unknown = unique_email("nobody")

    def post(email: str) -> Callable[[], httpx.Response]:
        body = {"email": email, "password": "wrong guess"}
        return lambda: client.post("/api/v1/auth/login", json=body)

    for_known, for_unknown = until_locked(post(known), known), until_locked(post(unknown), unknown)
    assert_same_answers(for_known, for_unknown)
    assert for_unknown[-1][1]["error"]["code"] == "too_many_requests"
    assert for_unknown[0][1]["error"]["code"] == "unauthorized"


def test_an_unknown_address_gets_the_same_form_answers_as_a_wrong_password(
    client: TestClient, db: Session
) -> None:
    known = make_user(db).email
    unknown = unique_email("nobody")
    token = login_form_token(client)

    def post(email: str) -> Callable[[], httpx.Response]:
        form = {"email": email, "password": "wrong guess", "csrf_token": token}
        return lambda: client.post("/login", data=form, headers={"Accept": "text/html"})

    for_known, for_unknown = until_locked(post(known), known), until_locked(post(unknown), unknown)
    assert_same_answers(for_known, for_unknown)
    assert "Too many failed sign-ins; try again later." in for_unknown[-1][1]
    assert "Wrong e-mail or password." in for_unknown[0][1]


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
    # Inside a lock even the account's right password gets the very same answer.
    during_lock = at[-1] + timedelta(seconds=1)
    assert outcome(db, runtime, known, PASSWORD, during_lock) == outcome(
        db, runtime, unknown, PASSWORD, during_lock
    )
    assert outcome(db, runtime, known, PASSWORD, during_lock)[0] == 429
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


def test_expired_sessions_are_purged_and_live_ones_kept(db: Session) -> None:
    user = make_user(db)
    old = start_session(db, user=user, max_age_seconds=60)
    live = start_session(db, user=user, max_age_seconds=3600 * 24 * 30)
    old.row.expires_at = utcnow() - timedelta(days=2)
    db.flush()
    assert purge_expired_sessions(db) >= 1
    db.expire_all()
    assert db.get(UserSession, old.row.id) is None
    assert db.get(UserSession, live.row.id) is not None
