"""Users, sign-in, browser sessions and API keys."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from metricx.auth import repository
from metricx.auth.passwords import hash_password, new_token, token_digest, verify_password
from metricx.auth.schemas import ApiKeyScope
from metricx.errors import (
    Conflict,
    InvalidInput,
    MetricxError,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from metricx.kit.crypto import derive_key, keyed_digest
from metricx.models import ApiKey, User, UserSession

API_KEY_PREFIX = "mx_"
FREE_LOGIN_FAILURES = 5
MAX_LOCK = timedelta(minutes=15)
# Well past the longest lock: a counter idle this long starts again from zero.
FAILURES_FORGOTTEN_AFTER = timedelta(days=1)


def utcnow() -> datetime:
    return datetime.now(UTC)


def create_user(session: Session, *, email: str, password: str, name: str | None = None) -> User:
    email = email.strip().lower()
    if "@" not in email or len(email) < 3:
        raise InvalidInput("email must be an e-mail address", details={"field": "email"})
    if len(password) < 8:
        raise InvalidInput(
            "password must have at least 8 characters", details={"field": "password"}
        )
    if repository.user_by_email(session, email) is not None:
        raise Conflict(f"a user with e-mail {email} exists already")
    user = User(email=email, name=name, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    return user


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in attempt. A failure is returned, not raised: counting it is a
    write that must be committed, not rolled back with the error."""

    user: User | None
    error: MetricxError | None = None


def sign_in_key(secret_key: str) -> bytes:
    """The key of the e-mail digests in sign_in_failures, derived from the app's secret."""
    return derive_key(secret_key, "sign-in-failures")


def email_digest(email: str, *, secret_key: str) -> str:
    """How sign_in_failures knows an address: a keyed hash of it, never the address."""
    return keyed_digest(sign_in_key(secret_key), email.strip().lower())


def authenticate(
    session: Session, *, email: str, password: str, secret_key: str, now: datetime | None = None
) -> SignIn:
    """Check a password; repeated failures lock the address for a growing time.

    Failures are counted per address whether an account has it or not, and an unknown
    address is checked against a dummy hash: the answers, their order and their timing are
    the same, so signing in does not tell which addresses have an account."""
    now = now or utcnow()
    digest = email_digest(email, secret_key=secret_key)
    user = repository.user_by_email(session, email)
    locked_until = repository.sign_in_lock(session, digest)
    if locked_until is not None and locked_until > now:
        retry = max(1, int((locked_until - now).total_seconds()))
        return SignIn(
            None,
            TooManyRequests(
                "too many failed sign-ins; try again later",
                details={"retry_after_seconds": retry},
                headers={"Retry-After": str(retry)},
            ),
        )
    if user is None or not verify_password(user.password_hash if user else None, password):
        failures = repository.count_sign_in_failure(session, digest, now)
        over = failures - FREE_LOGIN_FAILURES
        if over >= 0:
            lock = min(MAX_LOCK, timedelta(seconds=2**over))
            repository.lock_sign_ins(session, digest, now + lock)
        return SignIn(None, Unauthorized("wrong e-mail or password"))
    repository.forget_sign_in_failures(session, digest)
    user.last_login_at = now
    return SignIn(user)


def forget_old_sign_in_failures(
    session: Session, *, idle: timedelta = FAILURES_FORGOTTEN_AFTER, now: datetime | None = None
) -> int:
    """Drop the counters of addresses with no failure for ``idle``: guessing at unknown
    addresses must not grow the table for ever."""
    return repository.purge_sign_in_failures(session, (now or utcnow()) - idle)


def purge_expired_sessions(session: Session, *, now: datetime | None = None) -> int:
    """Delete sessions, OAuth states and grants that expired a day ago or more."""
    return repository.purge_expired_sessions(session, (now or utcnow()) - timedelta(days=1))


@dataclass(frozen=True)
class NewSession:
    token: str
    row: UserSession


def start_session(session: Session, *, user: User, max_age_seconds: int) -> NewSession:
    token = new_token()
    row = UserSession(
        user_id=user.id,
        token_hash=token_digest(token),
        csrf_token=new_token(24),
        expires_at=utcnow() + timedelta(seconds=max_age_seconds),
    )
    session.add(row)
    session.flush()
    return NewSession(token=token, row=row)


def session_user(session: Session, *, token: str) -> tuple[User, UserSession] | None:
    row = repository.live_session_by_hash(session, token_digest(token), utcnow())
    if row is None:
        return None
    user = repository.user_by_id(session, row.user_id)
    return (user, row) if user is not None else None


def end_session(session: Session, *, row: UserSession) -> None:
    row.revoked_at = utcnow()


# Live (unrevoked) API keys per workspace: each listing returns them all, and a fuzzing
# campaign that created thousands made every listing slower than the last.
MAX_LIVE_API_KEYS = 100


@dataclass(frozen=True)
class NewApiKey:
    key: str
    row: ApiKey


def create_api_key(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    name: str = "api key",
    scopes: list[ApiKeyScope] | None = None,
    created_by: uuid.UUID | None = None,
) -> NewApiKey:
    if repository.live_api_key_count(session, workspace_id) >= MAX_LIVE_API_KEYS:
        raise Conflict(
            f"a workspace holds at most {MAX_LIVE_API_KEYS} live API keys: revoke one first",
            code="too_many_api_keys",
            details={"limit": MAX_LIVE_API_KEYS},
        )
    scopes = scopes or list(ApiKeyScope)
    prefix = new_token(6)[:8]
    key = f"{API_KEY_PREFIX}{prefix}_{new_token(32)}"
    row = ApiKey(
        workspace_id=workspace_id,
        name=name,
        prefix=prefix,
        key_hash=token_digest(key),
        scopes=sorted({s.value for s in scopes}),
        created_by_id=created_by,
    )
    session.add(row)
    session.flush()
    return NewApiKey(key=key, row=row)


def api_key_for(session: Session, *, key: str) -> ApiKey | None:
    """The live key row for a presented key, or None (unknown or revoked)."""
    if not key.startswith(API_KEY_PREFIX):
        return None
    row = repository.api_key_by_hash(session, token_digest(key))
    if row is None or row.revoked_at is not None:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        repository.touch_api_key(session, row.id, now)
    return row


def revoke_api_key(session: Session, *, workspace_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey:
    row = repository.api_key_in(session, workspace_id, key_id)
    if row is None:
        raise NotFound("no such API key in this workspace")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def list_api_keys(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    revoked: bool | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[ApiKey]:
    return repository.api_keys_of(
        session, workspace_id, revoked=revoked, limit=limit, offset=offset
    )
