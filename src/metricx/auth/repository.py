"""All SQL of users, sessions and API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from metricx.models import (
    ApiKey,
    Membership,
    OAuthGrant,
    OAuthState,
    SignInFailure,
    User,
    UserSession,
    Workspace,
)


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def user_by_id(session: Session, user_id: uuid.UUID) -> User | None:
    return session.get(User, user_id)


def sign_in_lock(session: Session, email_digest: str) -> datetime | None:
    return session.scalar(
        select(SignInFailure.locked_until).where(SignInFailure.email_digest == email_digest)
    )


def count_sign_in_failure(session: Session, email_digest: str, now: datetime) -> int:
    """One more failure for this address; the count so far. One statement, so concurrent
    failures are all counted."""
    added = insert(SignInFailure).values(email_digest=email_digest, failures=1, last_failed_at=now)
    counted = added.on_conflict_do_update(
        index_elements=[SignInFailure.email_digest],
        set_={"failures": SignInFailure.failures + 1, "last_failed_at": now},
    ).returning(SignInFailure.failures)
    return session.execute(counted).scalar_one()


def lock_sign_ins(session: Session, email_digest: str, until: datetime) -> None:
    session.execute(
        update(SignInFailure)
        .where(SignInFailure.email_digest == email_digest)
        .values(locked_until=until)
    )


def forget_sign_in_failures(session: Session, email_digest: str) -> None:
    session.execute(delete(SignInFailure).where(SignInFailure.email_digest == email_digest))


def purge_sign_in_failures(session: Session, failed_before: datetime) -> int:
    idle = delete(SignInFailure).where(SignInFailure.last_failed_at < failed_before)
    done = session.execute(idle)
    return int(done.rowcount)  # type: ignore[attr-defined]


def purge_expired_sessions(session: Session, expired_before: datetime) -> int:
    """Sign-in sessions, OAuth states and grants past their expiry: never used again."""
    done = 0
    for model in (UserSession, OAuthState, OAuthGrant):
        result = session.execute(delete(model).where(model.expires_at < expired_before))
        done += int(result.rowcount)  # type: ignore[attr-defined]
    return done


def live_session_by_hash(session: Session, token_hash: str, now: datetime) -> UserSession | None:
    return session.scalar(
        select(UserSession).where(
            UserSession.token_hash == token_hash,
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > now,
        )
    )


def api_key_by_hash(session: Session, key_hash: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))


def api_keys_of(
    session: Session,
    workspace_id: uuid.UUID,
    *,
    revoked: bool | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[ApiKey]:
    query = select(ApiKey).where(ApiKey.workspace_id == workspace_id)
    if revoked is not None:
        query = query.where(
            ApiKey.revoked_at.is_not(None) if revoked else ApiKey.revoked_at.is_(None)
        )
    query = query.order_by(ApiKey.created_at, ApiKey.id).offset(offset).limit(limit)
    return list(session.scalars(query))


def live_api_key_count(session: Session, workspace_id: uuid.UUID) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(ApiKey)
            .where(ApiKey.workspace_id == workspace_id, ApiKey.revoked_at.is_(None))
        )
        or 0
    )


def api_key_in(session: Session, workspace_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey | None:
    return session.scalar(
        select(ApiKey).where(ApiKey.workspace_id == workspace_id, ApiKey.id == key_id)
    )


def touch_api_key(session: Session, key_id: uuid.UUID, now: datetime) -> None:
    """Mark the key used, unless another transaction holds its row: an ingest that marked it
    holds the row until it commits (seconds), and the mark is approximate anyway (a minute),
    so a request skips it rather than wait."""
    free = (
        select(ApiKey.id)
        .where(ApiKey.id == key_id)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    session.execute(update(ApiKey).where(ApiKey.id == free).values(last_used_at=now))


def workspace_by_id(session: Session, workspace_id: uuid.UUID) -> Workspace | None:
    return session.get(Workspace, workspace_id)


def membership(session: Session, workspace_id: uuid.UUID, user_id: uuid.UUID) -> Membership | None:
    return session.scalar(
        select(Membership).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user_id
        )
    )
