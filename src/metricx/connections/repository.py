"""All SQL of connections, tokens, OAuth round trips and entity upserts. Every query on a
workspace's rows goes through ``_in_workspace`` so a missing tenant filter cannot happen."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from metricx.models import (
    Connection,
    ConnectionStatus,
    Entity,
    Fetch,
    OAuthGrant,
    OAuthState,
    Provider,
    Token,
)

Scoped = type[Connection] | type[Fetch] | type[Token] | type[Entity]


def _in_workspace(stmt: Select[Any], model: Scoped, workspace_id: uuid.UUID) -> Select[Any]:
    return stmt.where(model.workspace_id == workspace_id)


# ---- connections -------------------------------------------------------------------------------


def connections_of(session: Session, workspace_id: uuid.UUID) -> list[Connection]:
    stmt = _in_workspace(select(Connection), Connection, workspace_id)
    return list(session.scalars(stmt.order_by(Connection.created_at, Connection.name)))


def connection(
    session: Session, workspace_id: uuid.UUID, connection_id: uuid.UUID
) -> Connection | None:
    stmt = _in_workspace(select(Connection), Connection, workspace_id)
    return session.scalar(stmt.where(Connection.id == connection_id))


def connection_for_account(
    session: Session, workspace_id: uuid.UUID, provider: Provider, account_id: str
) -> Connection | None:
    stmt = _in_workspace(select(Connection), Connection, workspace_id)
    return session.scalar(
        stmt.where(Connection.provider == provider, Connection.external_account_id == account_id)
    )


def connections_using_token(session: Session, token: Token) -> list[Connection]:
    stmt = _in_workspace(select(Connection), Connection, token.workspace_id)
    return list(session.scalars(stmt.where(Connection.token_id == token.id)))


def connection_by_id(session: Session, connection_id: uuid.UUID) -> Connection | None:
    """For tasks, which get ids only (the row carries its workspace)."""
    return session.get(Connection, connection_id)


# ---- tokens ------------------------------------------------------------------------------------


def token(session: Session, workspace_id: uuid.UUID, token_id: uuid.UUID) -> Token | None:
    stmt = _in_workspace(select(Token), Token, workspace_id)
    return session.scalar(stmt.where(Token.id == token_id))


def tokens_in_use(session: Session) -> list[Token]:
    """Every token some non-disconnected connection relies on (the periodic check)."""
    used = select(Connection.token_id).where(
        Connection.token_id.is_not(None), Connection.status != ConnectionStatus.DISCONNECTED
    )
    return list(session.scalars(select(Token).where(Token.id.in_(used)).order_by(Token.id)))


def all_tokens_for_update(session: Session, after: uuid.UUID | None, batch: int) -> list[Token]:
    stmt = select(Token).order_by(Token.id).limit(batch).with_for_update()
    if after is not None:
        stmt = stmt.where(Token.id > after)
    return list(session.scalars(stmt))


# ---- OAuth round trips ---------------------------------------------------------------------------


def claim_state(session: Session, state_id: uuid.UUID, now: datetime) -> OAuthState | None:
    """Mark the state used, atomically: a replayed or expired state returns None."""
    return session.scalar(
        update(OAuthState)
        .where(OAuthState.id == state_id, OAuthState.used_at.is_(None), OAuthState.expires_at > now)
        .values(used_at=now)
        .returning(OAuthState)
    )


def grant(session: Session, grant_id: uuid.UUID) -> OAuthGrant | None:
    return session.get(OAuthGrant, grant_id)


# ---- fetches -----------------------------------------------------------------------------------


def fetch(session: Session, workspace_id: uuid.UUID, fetch_id: uuid.UUID) -> Fetch | None:
    stmt = _in_workspace(select(Fetch), Fetch, workspace_id)
    return session.scalar(stmt.where(Fetch.id == fetch_id))


def fetches_of(
    session: Session, workspace_id: uuid.UUID, connection_id: uuid.UUID, limit: int = 50
) -> list[Fetch]:
    stmt = _in_workspace(select(Fetch), Fetch, workspace_id)
    stmt = stmt.where(Fetch.connection_id == connection_id)
    return list(session.scalars(stmt.order_by(Fetch.created_at.desc()).limit(limit)))


# ---- entities ------------------------------------------------------------------------------------


def entity_state(
    session: Session, workspace_id: uuid.UUID, provider: Provider, level: str
) -> dict[str, tuple[Any, ...]]:
    """external_id -> (id, connection_id, parent_id, name, status, effective_status,
    objective, goal, removed_at, optimization_goal, promoted_object, attribution_setting,
    result_type) of one level, in one query."""
    rows = session.execute(
        select(
            Entity.external_id,
            Entity.id,
            Entity.connection_id,
            Entity.parent_id,
            Entity.name,
            Entity.status,
            Entity.effective_status,
            Entity.objective,
            Entity.goal,
            Entity.removed_at,
            Entity.optimization_goal,
            Entity.promoted_object,
            Entity.attribution_setting,
            Entity.result_type,
        ).where(
            Entity.workspace_id == workspace_id,
            Entity.provider == provider,
            Entity.level == level,
        )
    )
    return {r[0]: tuple(r[1:]) for r in rows}


UPSERT_BATCH = 1000


def upsert_entities(session: Session, rows: Sequence[dict[str, Any]]) -> dict[str, uuid.UUID]:
    """INSERT ... ON CONFLICT on (workspace, provider, level, external_id); external_id -> id."""
    ids: dict[str, uuid.UUID] = {}
    for start in range(0, len(rows), UPSERT_BATCH):
        chunk = rows[start : start + UPSERT_BATCH]
        base = insert(Entity).values(list(chunk))
        stmt = base.on_conflict_do_update(
            index_elements=[Entity.workspace_id, Entity.provider, Entity.level, Entity.external_id],
            set_={
                name: base.excluded[name]
                for name in (
                    "connection_id",
                    "parent_id",
                    "name",
                    "status",
                    "effective_status",
                    "objective",
                    "goal",
                    "created_time",
                    "removed_at",
                    "updated_at",
                    "optimization_goal",
                    "promoted_object",
                    "attribution_setting",
                    "result_type",
                )
            },
        ).returning(Entity.external_id, Entity.id)
        ids.update({ext: eid for ext, eid in session.execute(stmt)})
    return ids


def mark_removed(session: Session, entity_ids: Sequence[uuid.UUID], when: datetime) -> None:
    for start in range(0, len(entity_ids), UPSERT_BATCH):
        session.execute(
            update(Entity)
            .where(Entity.id.in_(entity_ids[start : start + UPSERT_BATCH]))
            .values(removed_at=when, updated_at=when)
        )


def connection_entity_ids(
    session: Session, connection: Connection, level: str
) -> dict[str, tuple[uuid.UUID, datetime | None]]:
    rows = session.execute(
        select(Entity.external_id, Entity.id, Entity.removed_at).where(
            Entity.workspace_id == connection.workspace_id,
            Entity.connection_id == connection.id,
            Entity.level == level,
        )
    )
    return {ext: (eid, removed) for ext, eid, removed in rows}
