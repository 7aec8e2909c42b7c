"""Small factories: each test arranges only what it needs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from metricx.auth.service import create_api_key, create_user
from metricx.models import Role, User, Workspace
from metricx.workspaces.service import add_member, create_workspace

PASSWORD = "correct horse battery"


def make_user(db: Session, email: str | None = None, password: str = PASSWORD) -> User:
    return create_user(
        db, email=email or f"u-{uuid.uuid4().hex[:10]}@example.com", password=password
    )


def make_workspace(db: Session, owner: User | None = None, timezone: str = "UTC") -> Workspace:
    owner = owner or make_user(db)
    return create_workspace(
        db, name=f"ws {uuid.uuid4().hex[:6]}", owner_id=owner.id, timezone=timezone
    )


@dataclass
class KeyedWorkspace:
    workspace: Workspace
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def make_keyed_workspace(db: Session, timezone: str = "UTC") -> KeyedWorkspace:
    ws = make_workspace(db, timezone=timezone)
    return KeyedWorkspace(ws, create_api_key(db, workspace_id=ws.id).key)


def join(db: Session, workspace: Workspace, user: User, role: Role = Role.MEMBER) -> None:
    add_member(db, workspace_id=workspace.id, user_id=user.id, role=role)
