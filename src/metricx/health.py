"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import text

from metricx.auth.dependencies import RuntimeDep
from metricx.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    """Until the web app lands, the front door is the interactive API documentation."""
    return RedirectResponse("/docs")


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive (it answers); says nothing of the database."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready: database down or not migrated"}})
def readyz(runtime: RuntimeDep) -> JSONResponse:
    """Ready to serve: the database answers and its schema is at the newest migration."""
    checks: dict[str, str] = {}
    ok = True
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
        current, head = current_revision(runtime.engine), head_revision()
        if current == head:
            checks["migrations"] = "ok"
        else:
            ok = False
            checks["migrations"] = f"at {current}, newest is {head}: run 'metricx db upgrade'"
    except Exception as exc:  # any failure to reach the database means not ready
        ok = False
        checks["database"] = f"unreachable: {type(exc).__name__}"
    body = {"status": "ok" if ok else "unavailable", "checks": checks}
    return JSONResponse(body, status_code=200 if ok else 503)
