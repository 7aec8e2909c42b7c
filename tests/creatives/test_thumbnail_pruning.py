"""Thumbnail copies nothing names are removed by the daily retention job: a deleted
workspace's creatives take their copies with them; a copy still named, a copy younger than the
grace time (a sync may be about to name it) and files that are not copies stay."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.creatives import repository, thumbnails
from metricx.models import Creative, Provider
from tests.conftest import make_settings
from tests.factories import make_workspace

PNG = b"\x89PNG\r\n\x1a\n"


def aged(settings: Settings, data: bytes, seconds: float) -> str:
    stored = thumbnails.store(settings, data, "image/png")
    past = time.time() - seconds
    os.utime(thumbnails.path_for(settings, stored.sha256), (past, past))
    return stored.sha256


def test_unnamed_old_copies_go_and_the_rest_stay(db: Session, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    named = aged(settings, PNG + b"named", 3 * 86400)
    orphan = aged(settings, PNG + b"orphan", 3 * 86400)
    young = aged(settings, PNG + b"young", 60)
    stray = thumbnails.root(settings) / "ab" / "notes.txt"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_text("not ours")
    ws = make_workspace(db)
    db.add(
        Creative(
            workspace_id=ws.id,
            provider=Provider.META,
            external_id=uuid.uuid4().hex[:10],
            account_external_id="act_1",
            thumbnail_sha256=named,
        )
    )
    db.flush()
    referenced = repository.referenced_thumbnails(db)
    assert named in referenced and orphan not in referenced

    removed = thumbnails.prune(settings, referenced, grace_seconds=86400)
    assert removed == [orphan]
    assert thumbnails.read(settings, orphan) is None
    assert thumbnails.read(settings, named) == PNG + b"named"
    assert thumbnails.read(settings, young) == PNG + b"young"
    assert stray.exists()

    # Storing the same bytes again makes an old copy young: a sync about to name it keeps it.
    again = aged(settings, PNG + b"again", 3 * 86400)
    thumbnails.store(settings, PNG + b"again", "image/png")
    assert thumbnails.prune(settings, referenced, grace_seconds=86400) == []
    assert thumbnails.read(settings, again) is not None
