"""Thumbnail copies: Meta's thumbnail URLs are signed and expire (403 "URL signature
expired" after a few days), so each creative's thumbnail is copied into metricx's data dir
when it is synced and served from there.

Files are content-addressed: ``<data_dir>/thumbnails/<sha[:2]>/<sha256>`` (no extension; the
content type is kept on the creative). The same image used by many creatives or workspaces is
stored once; a file is only ever reachable through a creative row of the asking workspace.

A download goes through the egress guard (kit/egress.py): the host must resolve to public
addresses only, or be the configured Graph API's host (``METRICX_META_GRAPH_URL``: the
operator trusts it for the API already; the local sandbox serves its images there too), or
one named in ``METRICX_THUMBNAIL_ALLOWED_HOSTS``; the connection goes to the address that was
checked, and redirects are not followed. The answer must say an image type (PNG, JPEG, GIF,
WebP), its bytes must look like one, and it must fit ``METRICX_THUMBNAIL_MAX_BYTES``.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from metricx.config import Settings
from metricx.kit import egress

CONTENT_TYPES = {
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff",
    "image/gif": b"GIF8",
    "image/webp": b"RIFF",
}
SHA_RE = re.compile(r"^[0-9a-f]{64}$")
ATTEMPTS = 2
THREADS = 4  # downloads at once in one sync


class ThumbnailRefused(Exception):
    """Not fetched or not stored; the message says why (no URL secrets in it)."""


@dataclass(frozen=True)
class StoredThumbnail:
    sha256: str
    content_type: str
    size: int


def root(settings: Settings) -> Path:
    return settings.data_dir / "thumbnails"


def path_for(settings: Settings, sha256: str) -> Path:
    if not SHA_RE.match(sha256):
        raise ValueError("not a sha256")
    return root(settings) / sha256[:2] / sha256


def sniff(data: bytes, declared: str) -> str:
    """The image type, if the declared one is an image type and the bytes agree."""
    kind = declared.split(";", 1)[0].strip().lower()
    if kind == "image/jpg":
        kind = "image/jpeg"
    magic = CONTENT_TYPES.get(kind)
    if magic is None:
        raise ThumbnailRefused(f"not an image type: {kind[:60] or 'none'}")
    if not data.startswith(magic) or (kind == "image/webp" and data[8:12] != b"WEBP"):
        raise ThumbnailRefused(f"the bytes are not {kind}")
    return kind


def store(settings: Settings, data: bytes, declared: str) -> StoredThumbnail:
    """Write the bytes under their digest (atomically; an existing copy is kept)."""
    if len(data) > settings.thumbnail_max_bytes:
        raise ThumbnailRefused(f"larger than {settings.thumbnail_max_bytes} bytes")
    kind = sniff(data, declared)
    digest = hashlib.sha256(data).hexdigest()
    target = path_for(settings, digest)
    if target.exists():
        # Fresh again: the pruning (``prune``) spares files touched within its grace time, so
        # a copy a sync is about to name is not removed before its creative row commits.
        os.utime(target)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return StoredThumbnail(digest, kind, len(data))


def prune(settings: Settings, referenced: set[str], *, grace_seconds: float) -> list[str]:
    """Remove the copies no creative names any more (a workspace deleted, a creative's image
    replaced), and unfinished temporary files, untouched for ``grace_seconds``; return the
    digests removed. A copy a sync is storing right now is younger than the grace time."""
    removed: list[str] = []
    folder = root(settings)
    if not folder.is_dir():
        return removed
    cutoff = time.time() - grace_seconds
    for path in folder.glob("*/*"):
        name = path.name
        keep = name in referenced or not (SHA_RE.match(name) or name.startswith(".part-"))
        try:
            if keep or path.stat().st_mtime > cutoff:
                continue
            path.unlink()
        except OSError:
            continue  # gone meanwhile, or not ours to remove
        if SHA_RE.match(name):
            removed.append(name)
    return removed


def read(settings: Settings, sha256: str) -> bytes | None:
    try:
        return path_for(settings, sha256).read_bytes()
    except (OSError, ValueError):
        return None


def allowed_hosts(settings: Settings) -> egress.AllowList:
    graph = urlsplit(settings.meta_graph_url).hostname or ""
    extra = settings.thumbnail_allowed_hosts
    return egress.AllowList.parse(",".join(h for h in (graph, extra) if h))


class ThumbnailFetcher:
    """Downloads thumbnails for one sync (one HTTP client, reused)."""

    def __init__(
        self, settings: Settings, resolve: egress.Resolver = egress.system_resolver
    ) -> None:
        self.settings = settings
        self.allowed = allowed_hosts(settings)
        self.resolve = resolve
        self.timeout = httpx.Timeout(
            settings.meta_read_timeout_seconds, connect=settings.meta_connect_timeout_seconds
        )
        self.fetched = 0
        # one client (its connections kept alive) for the sync's downloads, from any thread
        self.client = httpx.Client(
            timeout=self.timeout,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=THREADS, max_keepalive_connections=THREADS),
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ThumbnailFetcher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def fetch(self, url: str) -> StoredThumbnail:
        last: ThumbnailRefused | None = None
        for _ in range(ATTEMPTS):
            try:
                return self._fetch_once(url)
            except _Transient as exc:
                last = ThumbnailRefused(str(exc))
        assert last is not None
        raise last

    def _fetch_once(self, url: str) -> StoredThumbnail:
        try:
            parts = urlsplit(url)
            host, port = parts.hostname or "", parts.port
        except ValueError:
            raise ThumbnailRefused("the thumbnail URL is not valid") from None
        if parts.scheme not in ("http", "https"):
            raise ThumbnailRefused("the thumbnail URL is not http or https")
        port = port or (443 if parts.scheme == "https" else 80)
        try:
            address = egress.checked_addresses(host, port, self.allowed, self.resolve)[0]
        except egress.RefusedDestination as exc:
            raise ThumbnailRefused(f"destination refused: {exc}") from None
        netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        pinned = urlunsplit(parts._replace(netloc=netloc))
        name = f"[{host}]" if ":" in host else host
        headers = {"Host": name if parts.port is None else f"{name}:{port}"}
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        limit = self.settings.thumbnail_max_bytes
        try:
            with self.client.stream("GET", pinned, headers=headers, extensions=extensions) as resp:
                if resp.status_code >= 500:
                    raise _Transient(f"the image host answered {resp.status_code}")
                if resp.status_code != 200:
                    raise ThumbnailRefused(f"the image host answered {resp.status_code}")
                declared = resp.headers.get("content-type", "")
                if declared.split(";", 1)[0].strip().lower() not in (*CONTENT_TYPES, "image/jpg"):
                    raise ThumbnailRefused(f"not an image type: {declared[:60] or 'none'}")
                length = resp.headers.get("content-length")
                if length and length.isdigit() and int(length) > limit:
                    raise ThumbnailRefused(f"larger than {limit} bytes")
                body = bytearray()
                for piece in resp.iter_bytes():
                    body.extend(piece)
                    if len(body) > limit:
                        raise ThumbnailRefused(f"larger than {limit} bytes")
        except httpx.HTTPError as exc:
            raise _Transient(f"image host unreachable: {type(exc).__name__}") from None
        self.fetched += 1
        return store(self.settings, bytes(body), declared)


class _Transient(Exception):
    pass


def api_path(workspace_id: object, external_id: str, sha256: str | None) -> str | None:
    """Where the API serves a creative's stored thumbnail (None: no copy stored)."""
    if not sha256:
        return None
    return f"/api/v1/workspaces/{workspace_id}/creatives/{external_id}/thumbnail"
