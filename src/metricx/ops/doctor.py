"""``metricx doctor``: one line per check of what a running metricx needs, each failure saying
what to do. Reads only; never generates a key or changes the database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import httpx
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from metricx.config import Settings
from metricx.jobs.stalled import STALLED_AFTER_SECONDS
from metricx.kit.crypto import Cipher, DecryptionError

Status = Literal["ok", "warn", "fail", "skip"]
FERNET_HINT = (
    "generate one with: python -c 'from cryptography.fernet import Fernet; "
    "print(Fernet.generate_key().decode())'"
)


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def healthy(checks: list[Check]) -> bool:
    return all(c.status != "fail" for c in checks)


def check_settings(settings: Settings) -> Check:
    missing = [n for n in ("meta_app_id", "meta_app_secret") if getattr(settings, n) in (None, "")]
    if missing:
        names = ", ".join(f"METRICX_{n.upper()}" for n in missing)
        return Check(
            "settings",
            "warn",
            f"{names} unset: connecting accounts through Meta's login will not work; set them "
            "to your Meta app's id and secret (README: Connecting a real Meta app)",
        )
    return Check("settings", "ok", f"loaded; Meta app {settings.meta_app_id}")


def check_pooler(settings: Settings) -> Check:
    """Behind a transaction-mode pooler only `metricx serve` works: the worker's queue needs
    sessions (LISTEN/NOTIFY, advisory locks)."""
    if settings.database_pooler == "transaction":
        return Check(
            "pooler",
            "warn",
            "METRICX_DATABASE_POOLER=transaction: fine for `metricx serve` (settings go in each "
            "transaction); run `metricx worker` and the CLI with a METRICX_DATABASE_URL to "
            "PostgreSQL itself or a session-mode pooler, without this setting (the worker "
            "refuses to start with it)",
        )
    return Check(
        "pooler",
        "ok",
        "sessions of their own (for a transaction-mode PgBouncer in front of `metricx serve`, "
        "set METRICX_DATABASE_POOLER=transaction for it)",
    )


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def connect_database(
    settings: Settings, resolve: Callable[[Settings], str]
) -> tuple[Engine | None, Check]:
    from metricx.db import make_engine

    where = "the embedded server" if settings.embedded else "METRICX_DATABASE_URL"
    try:
        url = resolve(settings)
        engine = make_engine(url, pool_pre_ping=False)
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
    except Exception as exc:
        shown = _safe_url(settings.database_url) if settings.database_url else "embedded"
        todo = (
            "start PostgreSQL (or fix METRICX_DATABASE_URL), then run metricx doctor again"
            if settings.database_url
            else f"check the data dir {settings.data_dir} (permissions, disk space) and the "
            "embedded server's log there"
        )
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, Check("database", "fail", f"cannot reach {shown} ({reason}): {todo}")
    return engine, Check("database", "ok", f"PostgreSQL {version} at {_safe_url(url)} ({where})")


def check_migrations(engine: Engine) -> Check:
    from metricx.migrate import current_revision, head_revision

    current, head = current_revision(engine), head_revision()
    if current == head:
        return Check("migrations", "ok", f"at the newest revision {head}")
    return Check(
        "migrations",
        "fail",
        f"database at {current or 'no revision'}, the code needs {head}: run metricx db upgrade",
    )


def check_database_role(engine: Engine) -> Check:
    """metricx must connect as its tables' owner (or a superuser): the row-level security
    that keeps BI roles to their workspaces (``metricx bi grant-role``) binds every other
    role, and would hide every row from metricx itself."""
    with engine.connect() as conn:
        user, owner, bound = conn.execute(
            text(
                "SELECT current_user, pg_get_userbyid(c.relowner),"
                " NOT (r.rolsuper OR r.rolbypassrls OR pg_has_role(c.relowner, 'USAGE'))"
                " FROM pg_class c, pg_roles r"
                " WHERE c.oid = 'metric_facts'::regclass AND r.rolname = current_user"
            )
        ).one()
    if not bound:
        return Check(
            "database role", "ok", f"{user} owns the tables (row-level security: BI roles only)"
        )
    return Check(
        "database role",
        "fail",
        f"{user} is not the owner of metricx's tables ({owner}): row-level security hides "
        f"every row from it; connect as {owner} (the role that ran metricx db upgrade)",
    )


def _stored_secrets(engine: Engine) -> list[tuple[str, bytes]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT 'token ' || id, access_token_enc FROM tokens "
                "UNION ALL SELECT 'token ' || id || ' (refresh)', refresh_token_enc FROM tokens "
                "WHERE refresh_token_enc IS NOT NULL "
                "UNION ALL SELECT 'notification channel ' || id, secret_enc "
                "FROM notification_channels WHERE secret_enc IS NOT NULL"
            )
        )
        return [(r[0], bytes(r[1])) for r in rows]


def configured_keys(settings: Settings) -> str | None:
    if settings.encryption_keys is not None:
        return settings.encryption_keys.get_secret_value()
    path = settings.data_dir / "encryption.key"
    return path.read_text().strip() if path.exists() else None


def check_keys(settings: Settings, engine: Engine | None) -> Check:
    source = (
        "METRICX_ENCRYPTION_KEYS"
        if settings.encryption_keys is not None
        else str(settings.data_dir / "encryption.key")
    )
    secrets = _stored_secrets(engine) if engine is not None else []
    csv = configured_keys(settings)
    if csv is None:
        if secrets:
            return Check(
                "encryption keys",
                "fail",
                f"METRICX_ENCRYPTION_KEYS is unset and {source} is missing, so {len(secrets)} "
                "stored secret(s) cannot be decrypted: restore the key file from your backup or "
                "set METRICX_ENCRYPTION_KEYS to the key(s) they were encrypted with",
            )
        return Check(
            "encryption keys", "ok", f"none yet; one is generated at {source} on first use"
        )
    try:
        cipher, newest = Cipher.from_csv(csv), Cipher([csv.split(",")[0]])
    except (ValueError, TypeError) as exc:
        return Check(
            "encryption keys",
            "fail",
            f"{source} holds an invalid Fernet key ({exc}); {FERNET_HINT}",
        )
    unreadable, old = [], 0
    for label, ciphertext in secrets:
        try:
            cipher.decrypt(ciphertext)
        except DecryptionError:
            unreadable.append(label)
            continue
        try:
            newest.decrypt(ciphertext)
        except DecryptionError:
            old += 1
    if unreadable:
        return Check(
            "encryption keys",
            "fail",
            f"{len(unreadable)} of {len(secrets)} stored secret(s) cannot be decrypted with the "
            f"keys in {source} (first: {unreadable[0]}): add the key they were encrypted with "
            "back to METRICX_ENCRYPTION_KEYS, after the newest, then run metricx keys rotate",
        )
    if old:
        return Check(
            "encryption keys",
            "warn",
            f"{old} secret(s) are still encrypted with an older key: run metricx keys rotate, "
            "then the old key can be dropped",
        )
    return Check("encryption keys", "ok", f"valid; all {len(secrets)} stored secret(s) decrypt")


def check_workers(engine: Engine) -> Check:
    with engine.connect() as conn:
        alive = conn.execute(
            text(
                "SELECT count(*) FROM procrastinate_workers "
                "WHERE last_heartbeat > now() - make_interval(secs => :s)"
            ),
            {"s": STALLED_AFTER_SECONDS},
        ).scalar_one()
    if alive:
        return Check("workers", "ok", f"{alive} worker(s) sent a heartbeat in the last minute")
    return Check(
        "workers",
        "fail",
        f"no worker sent a heartbeat in the last {STALLED_AFTER_SECONDS} s, so syncs, alerts, "
        "notifications and retention are not running: start one with metricx worker",
    )


def check_queue(settings: Settings, engine: Engine) -> Check:
    from metricx.telemetry import _JOBS_SQL

    with engine.connect() as conn:
        queues = [(q, int(n), float(age)) for q, n, age in conn.execute(_JOBS_SQL)]
        failed = conn.execute(
            text(
                "SELECT count(*) FROM procrastinate_events "
                "WHERE type = 'failed' AND at > now() - interval '24 hours'"
            )
        ).scalar_one()
    waiting = sum(n for _, n, _ in queues)
    oldest = max((age for _, _, age in queues), default=0.0)
    limit = settings.queue_max_job_age_minutes * 60
    if oldest > limit:
        return Check(
            "queue",
            "fail",
            f"{waiting} job(s) waiting, the oldest for {oldest / 60:.0f} min: start more workers "
            "(metricx worker, or --concurrency) or read the workers' logs for what blocks them",
        )
    if failed:
        return Check(
            "queue",
            "warn",
            f"{waiting} job(s) waiting; {failed} job(s) failed for good in the last 24 h: see "
            "the workers' logs and GET /api/v1/workspaces/<id>/alerts",
        )
    return Check("queue", "ok", f"{waiting} job(s) waiting, the oldest for {oldest:.0f} s")


def check_meta(settings: Settings, get: Callable[..., Any] = httpx.get) -> Check:
    url = f"{settings.meta_graph_url.rstrip('/')}/{settings.meta_api_version}/"
    try:
        response = get(url, timeout=settings.meta_connect_timeout_seconds)
    except httpx.HTTPError as exc:
        hint = (
            "check this machine's network, DNS and proxy (HTTPS_PROXY)"
            if "graph.facebook.com" in url
            else "start it (metricx sandbox --port ...) or fix METRICX_META_GRAPH_URL"
        )
        return Check("meta", "fail", f"cannot reach {url} ({type(exc).__name__}): {hint}")
    return Check("meta", "ok", f"{url} answers (HTTP {response.status_code})")


def run_doctor(
    settings: Settings,
    *,
    resolve: Callable[[Settings], str] | None = None,
    get: Callable[..., Any] = httpx.get,
) -> list[Check]:
    from metricx.db import resolve_database_url

    checks = [check_settings(settings), check_pooler(settings)]
    engine, db_check = connect_database(settings, resolve or resolve_database_url)
    checks.append(db_check)
    if engine is None:
        skipped = "skipped: the database is unreachable"
        checks += [
            Check(n, "skip", skipped) for n in ("migrations", "database role", "workers", "queue")
        ]
        checks.append(check_keys(settings, None))
    else:
        try:
            checks.append(check_migrations(engine))
            migrated = checks[-1].status == "ok"
            checks.append(check_keys(settings, engine if migrated else None))
            if migrated:
                checks.append(check_database_role(engine))
                checks += [check_workers(engine), check_queue(settings, engine)]
            else:
                skipped = "skipped: the database is not migrated"
                checks += [Check(n, "skip", skipped) for n in ("database role", "workers", "queue")]
        finally:
            engine.dispose()
    checks.append(check_meta(settings, get))
    return checks
