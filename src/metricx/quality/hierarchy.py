"""Hierarchy reconciliation: facts of entities that are not what the facts claim (or that Meta
no longer returns), entities whose parent is missing or wrong, and entities that moved to
another parent since validation last looked."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from metricx.models import Severity
from metricx.quality import reads, repository
from metricx.quality.finding import (
    ENTITY_MOVED,
    ORPHANED_ENTITY,
    UNKNOWN_ENTITY_FACTS,
    Finding,
    Window,
    plain,
)

PARENT_LEVEL = {"campaign": "account", "adset": "campaign", "ad": "adset"}


def unknown_entity_facts(session: Session, window: Window) -> list[Finding]:
    """Facts pointing at an entity of another workspace, provider or level, or dated after the
    entity disappeared from Meta: numbers nobody can attribute."""
    findings = []
    for (
        entity_id,
        level,
        external_id,
        reason,
        first,
        last,
        count,
        spend,
        impr,
    ) in reads.mismatched_facts(session, window):
        why = (
            "dated after Meta stopped returning the entity"
            if reason == "removed"
            else f"recorded for another {reason.split(':')[0]} ({reason.split(':')[-1]})"
            if reason.startswith("level")
            else f"recorded for another {reason}"
        )
        findings.append(
            Finding(
                kind=UNKNOWN_ENTITY_FACTS,
                severity=Severity.CRITICAL,
                entity_id=entity_id,
                level=level,
                external_id=external_id,
                period_start=first,
                period_end=last + timedelta(hours=1),
                detail=reason,
                numbers={
                    "facts": count,
                    "spend": plain(spend),
                    "impressions": plain(impr),
                    "reason": reason,
                },
                message=f"{level} {external_id}: {count} facts from {first:%Y-%m-%d %H:%M} to "
                f"{last:%Y-%m-%d %H:%M} UTC {why} (spend {plain(spend)}, impressions {impr})",
            )
        )
    return findings


def _orphan_reason(row: Any, connection_id: uuid.UUID) -> str | None:
    _, level, _, parent_id, _, _, removed_at, p_level, p_connection, p_removed, _ = row
    expected = PARENT_LEVEL.get(level)
    if expected is None:
        return None
    if parent_id is None:
        return f"has no {expected}"
    if p_level != expected:
        return f"has a {p_level} as parent instead of an {expected}"
    if p_connection != connection_id:
        return f"its {expected} belongs to another connection"
    if p_removed is not None and removed_at is None:
        return f"its {expected} was removed from Meta but it was not"
    return None


def orphaned_entities(session: Session, window: Window) -> list[Finding]:
    """Campaigns, ad sets and ads without the parent the hierarchy requires."""
    findings = []
    for row in reads.entities(session, window):
        reason = _orphan_reason(row, window.connection.id)
        if reason is None:
            continue
        entity_id, level, external_id, parent_id = row[0], row[1], row[2], row[3]
        findings.append(
            Finding(
                kind=ORPHANED_ENTITY,
                entity_id=entity_id,
                level=level,
                external_id=external_id,
                numbers={
                    "expected_parent_level": PARENT_LEVEL[level],
                    "parent_level": row[7],
                    "parent_external_id": row[10],
                    "parent_id": str(parent_id) if parent_id else None,
                },
                message=f"{level} {external_id} {reason}",
            )
        )
    return findings


def moved_entities(session: Session, window: Window) -> list[Finding]:
    """Entities whose parent changed since the previous validation (Meta never moves an ad or
    an ad set, so a move means re-used ids or a broken sync; its past facts now roll up under
    the new parent). Reported while the move is inside the window."""
    rows = reads.entities(session, window)
    names = {r[0]: (r[1], r[2]) for r in rows}
    snapshots = repository.record_parents(
        session,
        workspace_id=window.workspace_id,
        parents={r[0]: r[3] for r in rows if r[1] != "account"},
        now=window.now,
    )
    findings = []
    for snap in snapshots:
        if snap.moved_at is None or snap.moved_at < window.start_utc or snap.parent_id is None:
            continue  # (losing a parent is the orphan check's)
        level, external_id = names[snap.entity_id]
        before = names.get(snap.previous_parent_id) if snap.previous_parent_id else None
        after = names.get(snap.parent_id) if snap.parent_id else None
        findings.append(
            Finding(
                kind=ENTITY_MOVED,
                entity_id=snap.entity_id,
                level=level,
                external_id=external_id,
                period_start=snap.moved_at,
                period_end=snap.moved_at,
                detail=str(snap.parent_id),
                numbers={
                    "previous_parent": before[1] if before else None,
                    "parent": after[1] if after else None,
                },
                message=f"{level} {external_id} moved from "
                f"{before[0] + ' ' + before[1] if before else 'no parent'} to "
                f"{after[0] + ' ' + after[1] if after else 'no parent'} "
                f"(seen {snap.moved_at:%Y-%m-%d %H:%M} UTC)",
            )
        )
    return findings
