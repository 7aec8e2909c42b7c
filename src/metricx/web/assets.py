"""The static files, fingerprinted: each page names a file with its content's hash
(``/static/src/app.js?v=<hash>``), computed once at start-up, and an answer for the current
hash may be kept for a year (``immutable``); any other answer is revalidated (its ETag) before
use. A new release changes the hash, so browsers fetch the new file at once."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/static"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


@cache
def fingerprints() -> dict[str, str]:
    """Every static file's path (relative to the static folder) and its content hash."""
    found: dict[str, str] = {}
    for file in sorted(STATIC_DIR.rglob("*")):
        if file.is_file() and not file.name.startswith("."):
            digest = hashlib.sha256(file.read_bytes()).hexdigest()[:16]
            found[file.relative_to(STATIC_DIR).as_posix()] = digest
    return found


def asset_url(path: str) -> str:
    """The address of a static file for a page: with its hash when the file is known."""
    digest = fingerprints().get(path)
    url = f"{STATIC_PREFIX}/{path}"
    return f"{url}?v={digest}" if digest else url


class FingerprintedStatic(StaticFiles):
    """StaticFiles with the cache policy above."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        asked = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v")
        digest = fingerprints().get(Path(path).as_posix())
        if response.status_code in (200, 304) and digest and asked == [digest]:
            response.headers["cache-control"] = IMMUTABLE
        else:
            response.headers["cache-control"] = REVALIDATE
        return response


def mount(app: FastAPI) -> None:
    fingerprints()  # hashed now, at start-up, not on the first page
    app.mount(STATIC_PREFIX, FingerprintedStatic(directory=STATIC_DIR), name="static")
