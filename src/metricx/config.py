"""Settings: one object, read once from the environment (prefix ``METRICX_``) and passed in."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from metricx.kit.egress import AllowList

INTERACTIVE_WAIT = 2.0  # seconds: the longest single pause in a request a person waits on
# Meta's attribution windows that still return figures (Marketing API v25): 'default', the ad
# set's own setting, is always kept besides them; 7d_view and 28d_view were retired.
ATTRIBUTION_WINDOWS = ("1d_click", "7d_click", "28d_click", "1d_view", "1d_ev")
RETIRED_ATTRIBUTION_WINDOWS = ("7d_view", "28d_view")


class Settings(BaseSettings):
    """Every knob metricx reads. The README's configuration table is generated from this."""

    model_config = SettingsConfigDict(env_prefix="METRICX_", env_file=None, extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://user@host:5432/db). Unset: the embedded "
        "PostgreSQL server in the data dir is started and used.",
    )
    database_pooler: Literal["", "transaction"] = Field(
        default="",
        description="'transaction' when METRICX_DATABASE_URL goes through a transaction-mode "
        "pooler (PgBouncer): session settings are then sent in each transaction instead of at "
        "connect. For `metricx serve` only: the worker needs a session (LISTEN/NOTIFY, "
        "advisory locks) and refuses to start with it.",
    )
    database_read_url: str | None = Field(
        default=None,
        description="A streaming read replica of the database: dashboard and query reads go "
        "there while it is close enough behind (writes, the job queue and reads that must see "
        "their own write stay on the primary). Unset: every read goes to the primary.",
    )
    database_read_max_lag_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How far behind the primary the read replica may be; further (or "
        "unreachable), reads go to the primary until it catches up.",
    )
    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("metricx")),
        description="Where the embedded database, the generated encryption key and archives live.",
    )
    encryption_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated Fernet keys, newest first. Unset: one is generated into "
        "the data dir (0600) on first use.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs OAuth state and the sign-in form's CSRF cookie, and keys the hashed "
        "e-mails of failed sign-in counters. Unset: generated into the data dir.",
    )
    base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The public URL of the web app (OAuth redirect, links in notifications).",
    )
    meta_app_id: str | None = Field(default=None, description="Your Meta app's id.")
    meta_app_secret: SecretStr | None = Field(default=None, description="Your Meta app's secret.")
    meta_graph_url: str = Field(
        default="https://graph.facebook.com",
        description="Graph API base URL; the sandbox's URL in tests and the demo.",
    )
    meta_api_version: str = Field(default="v25.0", description="Marketing API version.")
    meta_scopes: str = Field(
        default="ads_read,ads_management,read_insights",
        description="Scopes requested in the Meta login dialog.",
    )
    meta_dialog_url: str | None = Field(
        default=None,
        description="Base URL of the Meta login dialog. Unset: https://www.facebook.com for the "
        "real Graph API, else METRICX_META_GRAPH_URL (the sandbox serves the dialog).",
    )
    meta_connect_timeout_seconds: float = Field(
        default=10.0, description="Connect timeout of every Graph API call."
    )
    meta_read_timeout_seconds: float = Field(
        default=120.0, description="Read timeout of every Graph API call."
    )
    meta_max_retries: int = Field(
        default=4, description="Retries of a transient Graph API failure (backoff with jitter)."
    )
    meta_backoff_base_seconds: float = Field(
        default=1.0, description="First retry delay; doubles per retry, with jitter."
    )
    meta_backoff_max_seconds: float = Field(default=60.0, description="Longest retry delay.")
    meta_interactive_max_retries: int = Field(
        default=1,
        description="Retries of a transient Graph API failure while a person waits (connecting "
        "accounts, validating now): a quick error beats a request held for a minute.",
    )
    meta_max_throttle_wait_seconds: float = Field(
        default=600.0,
        description="Longest in-call wait when Meta throttles; longer waits end the job, "
        "which is retried when Meta says access is back.",
    )
    meta_slowdown_usage_pct: float = Field(
        default=75.0, description="Above this rate-limit usage (%), calls are spaced out."
    )
    meta_slowdown_max_seconds: float = Field(
        default=30.0, description="Pause before a call when the usage is close to 100%."
    )
    meta_async_poll_timeout_seconds: float = Field(
        default=3600.0, description="Give up on an async insights report after this long."
    )
    thumbnail_max_bytes: int = Field(
        default=2_000_000,
        ge=1024,
        description="Largest creative thumbnail copied into the data dir (bytes); a larger one "
        "is not stored.",
    )
    thumbnail_allowed_hosts: str = Field(
        default="",
        description="Hosts and networks creative thumbnails may be downloaded from although "
        "they are not public (comma-separated, as METRICX_NOTIFY_ALLOWED_HOSTS); the Graph "
        "API's host (METRICX_META_GRAPH_URL) always may.",
    )
    breakdown_tolerance: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="How far a breakdown's summed values may stray from the unbroken total "
        "(relative: 0.02 is 2%) before the query answer's reconciliation flags it; Meta's "
        "breakdown values are estimates and hide small cells.",
    )
    meta_entity_page_size: int = Field(
        default=1000, description="`limit` of the campaigns/ad sets/ads edge calls."
    )
    token_expiry_warning_days: int = Field(
        default=7, description="A token expiring within this many days raises an alert."
    )
    oauth_state_ttl_seconds: int = Field(
        default=600, description="How long a Meta login round trip may take (state lifetime)."
    )
    secure_cookies: bool = Field(
        default=True, description="Mark session cookies Secure (turned off by the local demo)."
    )
    session_max_age_seconds: int = Field(
        default=14 * 24 * 3600, description="Browser session life."
    )
    log_format: str = Field(default="json", description="json (production) or console.")
    log_level: str = Field(default="INFO", description="Logging level.")
    partition_months_ahead: int = Field(
        default=3, description="Monthly metric_facts partitions kept ready ahead of today."
    )
    stats_refresh_share: float = Field(
        default=0.1,
        ge=0,
        description="The worker analyzes (every minute) each table whose rows changed by this "
        "share of its size since its planner statistics were gathered, as autovacuum would "
        "if it is on and has come round, and each table never analyzed that holds rows; a "
        "sync does it as it ends (0: leave it to autovacuum).",
    )
    dashboard_rows: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Rows the dashboard's table shows at first, and adds with each \"Show "
        'more" (the totals, the chart and the CSV are over every row).',
    )
    job_history_days: int = Field(
        default=14,
        ge=0,
        le=36500,
        description="Finished background jobs (and their events) are deleted this many days "
        "after they ended (0: kept for ever).",
    )
    partition_months_behind: int = Field(
        default=37,
        description="Monthly partitions created behind today (Meta keeps 37 months of insights).",
    )

    ingest_max_json_bytes: int = Field(
        default=32 * 1024 * 1024,
        description="Largest JSON ingest body (after gunzip); larger answers 413. Use NDJSON "
        "for big loads.",
    )
    ingest_max_ndjson_bytes: int = Field(
        default=4 * 1024 * 1024 * 1024,
        description="Largest NDJSON ingest stream (after gunzip); it is read at constant memory.",
    )
    ingest_max_expansion_ratio: int = Field(
        default=100,
        description="A gzip body may inflate to at most this many times its compressed size "
        "(past its first MiB); more answers 413 (a compression bomb).",
    )
    ingest_max_blank_lines: int = Field(
        default=10_000,
        description="Blank lines an NDJSON body may hold; more answers 413.",
    )
    ingest_max_record_bytes: int = Field(
        default=64 * 1024,
        description="Largest single record (an NDJSON line, or a record of a JSON body); a "
        "larger one fails as a record, the others are stored.",
    )
    ingest_max_array_items: int = Field(
        default=1000,
        description="Most items of an array (or members of an object) inside a record; more "
        "fails the record.",
    )
    ingest_max_depth: int = Field(
        default=32,
        description="Deepest nesting of objects and arrays in a record; deeper fails the record.",
    )
    ingest_failed_payload_bytes: int = Field(
        default=4096,
        description="A failed record's stored payload keeps at most this many bytes of it "
        "(larger ones are kept truncated, marked as such).",
    )
    ingest_chunk_records: int = Field(
        default=10_000, description="Records parsed and written per step of an ingest."
    )
    ingest_max_future_hours: int = Field(
        default=48, description="A fact starting further ahead of now than this is refused."
    )
    ingest_max_reported_errors: int = Field(
        default=1000,
        description="Record errors listed in one ingest answer (all go to failed records).",
    )
    ingest_alert_failures: int = Field(
        default=3,
        description="Failed or partial imports of a workspace within the window that raise an "
        "alert.",
    )
    ingest_alert_window_minutes: int = Field(
        default=15, description="The window of ingest_alert_failures, in minutes."
    )

    sync_lookback_days_daily: int = Field(
        default=28,
        description="Every metrics sync re-reads this many past days of daily figures "
        "(Meta revises insights for up to 28 days).",
    )
    sync_lookback_days_hourly: int = Field(
        default=3, description="Every metrics sync re-reads this many past days of hourly figures."
    )
    sync_backfill_days: int = Field(
        default=90, description="History a new connection's first sync loads."
    )
    sync_backfill_max_days: int = Field(
        default=37 * 30,
        description="Longest backfill that may be requested (Meta keeps 37 months of insights).",
    )
    sync_breakdowns: bool = Field(
        default=True,
        description="Sync each connection's breakdown sets (age x gender, country, placement, "
        "device by default: `metricx connections breakdowns`); false turns every breakdown "
        "chunk off.",
    )
    sync_breakdown_reach_jobs: int = Field(
        default=10,
        description="Report jobs the daily pass may spend re-reading breakdown windows that "
        "start over 13 months back and were stored without reach (Meta gives such reach to "
        "10 report jobs per ad account per day, and leaves it out past that); 0: never.",
    )
    sync_chunk_days_daily: int = Field(
        default=31, description="Days of daily figures per backfill chunk (one checkpoint each)."
    )
    sync_chunk_days_hourly: int = Field(
        default=14,
        description="Days of hourly figures per backfill chunk (one checkpoint each; a chunk "
        "is one report job, so longer chunks mean fewer jobs and more work redone after a "
        "crash).",
    )
    sync_async_min_rows: int = Field(
        default=50_000,
        description="A chunk expected to return more rows than this uses an async report job; "
        "smaller ones a synchronous call.",
    )
    sync_report_concurrency: int = Field(
        default=3,
        ge=1,
        le=16,
        description="Chunks of one connection's sync fetched at once (each its own report job "
        "at Meta, paged into its own spool file), all within one rate governor: they slow down "
        "together near Meta's limit and all wait when Meta throttles one. Writes stay one at "
        "a time. 1: one chunk after another.",
    )
    sync_page_size: int = Field(default=5000, description="`limit` of insights calls.")
    sync_chunk_attempts: int = Field(
        default=4,
        description="Attempts of one chunk before it is dead-lettered (the rest goes on).",
    )
    sync_retry_base_seconds: float = Field(
        default=5.0, description="First wait before a failed chunk is retried; doubles, jittered."
    )
    sync_retry_max_seconds: float = Field(default=300.0, description="Longest chunk retry wait.")
    sync_inline_wait_max_seconds: float = Field(
        default=120.0,
        description="A chunk retry wait up to this is slept in the job; a longer one (Meta's "
        "regain-access estimate) re-schedules the job and frees the worker.",
    )
    sync_entities_max_age_minutes: int = Field(
        default=60,
        description="A sync first refreshes campaigns, ad sets and ads when their last sync is "
        "older than this.",
    )
    sync_lock_retry_seconds: float = Field(
        default=30.0,
        description="A sync job finding its connection busy (another sync runs) retries after "
        "this long.",
    )
    sync_gap_horizon_days: int = Field(
        default=90, description="How far back the daily gap check looks for missing days."
    )

    # Exchange rates (fx/): the reporting currency's daily rates.
    fx_url: str | None = Field(
        default=None,
        description="Where the worker fetches exchange rates every hour (the ECB's "
        "reference-rate XML or CSV, e.g. its eurofxref-daily.xml; units per one euro). "
        "Unset: no fetch; rates come from `metricx fx load` and the API.",
    )
    fx_timeout_seconds: float = Field(
        default=30.0, description="Timeout of one fetch of `METRICX_FX_URL`."
    )
    fx_carry_forward_days: int = Field(
        default=0,
        ge=0,
        le=7,
        description="Days after a published rate that the periodic fetch fills with it, as the "
        "ECB's convention for weekends and holidays (Friday's rate for Saturday and Sunday), "
        "stored as rates of their own marked 'carried from <day>'; a published rate for such a "
        "day replaces it. 0: none (a day without a published rate is a missing rate).",
    )

    # Operations: metrics, alerts, notifications, retention, doctor.
    worker_metrics_port: int = Field(
        default=0,
        description="Port on which `metricx worker` serves /metrics for Prometheus (0: none; "
        "`--metrics-port` overrides). Each worker process needs its own port.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token Prometheus sends to scrape /metrics on the web app's port "
        "(`Authorization: Bearer ...`). Unset: /metrics answers 404 there; scrape a worker's "
        "or `metricx serve --metrics-port`'s operator port instead.",
    )
    metrics_db_timeout_ms: int = Field(
        default=2000,
        description="Statement timeout of the database gauges computed at each /metrics scrape.",
    )
    alert_stale_hours: int = Field(
        default=6,
        description="An active connection whose data has not been current for this many hours "
        "(no new complete hour and no successful sync) raises a stale_data alert.",
    )
    alert_sync_failures: int = Field(
        default=3,
        description="This many failed syncs in a row of one connection raise a sync_failures "
        "alert.",
    )
    queue_max_job_age_minutes: int = Field(
        default=30,
        description="`metricx doctor` reports the queue unhealthy when a job waits longer.",
    )
    notification_max_attempts: int = Field(
        default=8,
        description="Attempts to deliver one notification (exponential backoff between them).",
    )
    notification_timeout_seconds: float = Field(
        default=10.0, description="Timeout of one webhook call or SMTP session."
    )
    notify_allowed_hosts: str = Field(
        default="",
        description="Webhook and SMTP destinations allowed although they are not public: "
        "comma-separated host names and networks (`relay.internal,10.20.0.0/16`). Others "
        "resolving to loopback, private, link-local, unique-local, multicast or reserved "
        "addresses are refused when a channel is saved and at each send; cloud metadata "
        "addresses always are.",
    )
    retention_minute_days: int = Field(
        default=14, description="Minute facts are archived after this many days (0: kept forever)."
    )
    retention_hour_days: int = Field(
        default=762,
        description="Hourly facts are archived after this many days (25 months; 0: forever).",
    )
    retention_day_days: int = Field(
        default=0,
        description="Daily facts, and breakdown facts, are archived after this many days "
        "(0: kept forever).",
    )
    archive_dir: Path | None = Field(
        default=None,
        description="Where retention writes the Parquet archives. Unset: `archive/` in the data "
        "dir.",
    )

    # Day-file export (export/): `metricx export` and the optional periodic job.
    export_dir: Path | None = Field(
        default=None,
        description="Where the periodic export job writes one file per day of daily facts "
        "(every workspace, `<workspace id>/<level>/<day>.<format>`); days inside the daily "
        "sync lookback are rewritten when revised, older files are left alone. Unset: no "
        "periodic export (`metricx export` still works).",
    )
    export_format: Literal["parquet", "csv"] = Field(
        default="parquet", description="File format of the periodic export: parquet or csv."
    )

    # Data validation (quality/): after each sync and on a schedule.
    quality_window_days: int = Field(
        default=7,
        description="Validation checks this many complete local days (yesterday backwards).",
    )
    quality_sum_tolerance: float = Field(
        default=0.0,
        description="Relative difference allowed between hourly and daily sums and between ad "
        "sums and Meta's level totals (0: they must match exactly).",
    )
    quality_meta_levels: str = Field(
        default="account,campaign,adset",
        description="Levels whose daily totals validation fetches from Meta to compare with "
        "the sums of stored ad facts (comma-separated; empty: none).",
    )
    quality_new_entity_grace_hours: int = Field(
        default=24,
        description="An active ad created longer ago than this, with a successful sync since, "
        "and no facts at all is reported as a new entity without data.",
    )
    quality_anomaly_baseline_days: int = Field(
        default=14, description="Days of an ad's own history its anomalies are judged against."
    )
    quality_anomaly_min_baseline_days: int = Field(
        default=7, description="Fewer baseline days with data than this: no anomaly verdict."
    )
    quality_anomaly_z: float = Field(
        default=6.0,
        description="Robust z-score (distance from the baseline median in MADs) of a jump or "
        "collapse.",
    )
    quality_anomaly_ratio: float = Field(
        default=3.0,
        description="A jump is at least this many times the baseline median, a collapse at most "
        "its inverse.",
    )
    quality_anomaly_min_spend: float = Field(
        default=5.0,
        description="Ads whose median daily spend is below this are too small for spend anomalies.",
    )
    quality_anomaly_min_impressions: int = Field(
        default=500,
        description="Ads whose median daily impressions are below this are too small for "
        "impression anomalies.",
    )
    quality_alert_min_findings: int = Field(
        default=1,
        description="A connection with at least this many open warning or critical findings "
        "raises a validation_discrepancy alert (0: never).",
    )

    web_live_poll_seconds: float = Field(
        default=3.0,
        description="How often an open dashboard's live-update stream checks for new data.",
    )

    # The database when it is slow, hung or gone: every wait is bounded (metricx.db).
    db_connect_timeout_seconds: int = Field(
        default=5,
        ge=1,
        description="Connect timeout of every database connection (libpq `connect_timeout`; "
        "libpq counts 1 as 2).",
    )
    db_pool_size: int = Field(default=10, ge=1, description="Database connections kept open.")
    db_max_overflow: int = Field(
        default=10, ge=0, description="Connections opened beyond the pool under load."
    )
    db_pool_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Longest wait for a free connection of the pool; then a request answers 503.",
    )
    db_statement_timeout_ms: int = Field(
        default=20000,
        ge=1,
        description="Statement timeout of a web or API request's database work (capped by "
        "what is left of METRICX_REQUEST_TIMEOUT_SECONDS); a request that hits it answers 503.",
    )
    db_idle_in_transaction_timeout_ms: int = Field(
        default=60000,
        ge=0,
        description="A web or API request's transaction left idle this long is ended by the "
        "server (0: never).",
    )
    db_background_statement_timeout_ms: int = Field(
        default=3_600_000,
        ge=0,
        description="Statement timeout of the worker's jobs and the CLI (syncs, retention, "
        "rollup rebuilds, migrations), which may run long statements (0: none).",
    )
    db_background_idle_in_transaction_timeout_ms: int = Field(
        default=3_600_000,
        ge=0,
        description="Idle-in-transaction timeout of the worker's jobs and the CLI (0: none).",
    )
    request_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A request's time for its database work, counted from the last piece of "
        "its body: its statements' timeouts are cut to what is left, and once it is spent "
        "the request answers 503. A pool wait and a connect can add "
        "METRICX_DB_POOL_TIMEOUT_SECONDS + METRICX_DB_CONNECT_TIMEOUT_SECONDS.",
    )
    ingest_concurrency: int = Field(
        default=2,
        ge=1,
        description="HTTP ingests one server process works on at once; more wait their turn "
        "(their bodies unread) so dashboard questions keep CPU and connections under a write "
        "load.",
    )
    ingest_reads_first_ms: int = Field(
        default=500,
        ge=0,
        le=60_000,
        description="An HTTP ingest takes each step (parse, write, close) once no dashboard "
        "question is in flight in its server process, or after waiting this long for one, "
        "and waits 8 times this at most in all (0: never waits): questions keep the CPU "
        "under a write load, and ingest slows down but never stops.",
    )
    answer_cache_seconds: float = Field(
        default=10.0,
        ge=0,
        description="How long a dashboard answer is reused for the same question while "
        "nothing was written (0: never).",
    )

    # Meta's attribution windows (issue #16): every action type's figure per window is kept.
    meta_attribution_windows: str = Field(
        default="1d_click,7d_click,28d_click,1d_view,1d_ev",
        description="Attribution windows asked of Meta for every action type on the daily "
        "ad-level insights (comma-separated, of "
        + ", ".join(ATTRIBUTION_WINDOWS)
        + "); Meta retires windows, so drop one here when it does. The query API's "
        "`attribution=` accepts these.",
    )

    @field_validator("meta_attribution_windows")
    @classmethod
    def _known_windows(cls, value: str) -> str:
        tokens = [t.strip() for t in value.split(",") if t.strip()]
        unknown = [t for t in tokens if t not in ATTRIBUTION_WINDOWS]
        if unknown:
            named = [
                f"{t} (retired by Meta on 2026-01-12)" if t in RETIRED_ATTRIBUTION_WINDOWS else t
                for t in unknown
            ]
            raise ValueError(
                f"METRICX_META_ATTRIBUTION_WINDOWS: unknown attribution window(s) "
                f"{', '.join(named)}; known: {', '.join(ATTRIBUTION_WINDOWS)}"
            )
        if len(set(tokens)) != len(tokens):
            raise ValueError("an attribution window is listed twice")
        return ",".join(tokens)

    @property
    def attribution_windows(self) -> tuple[str, ...]:
        """The windows asked of Meta, in the order configured."""
        return tuple(t for t in self.meta_attribution_windows.split(",") if t)

    db_client_grace_seconds: float = Field(
        default=2.0,
        gt=0,
        description="How long metricx waits for the database past the time it should have "
        "answered (a request's deadline, else the statement timeout) before closing the "
        "connection itself: a frozen server or a network that silently drops packets never "
        "fires the server's own timeouts. The request then answers 503.",
    )

    # Per-workspace ingest quotas (metricx.ingest.quotas): 429 with Retry-After past a rate.
    ingest_requests_per_minute: int = Field(
        default=12_000,
        ge=0,
        description="Ingest requests a workspace may send per minute (a token bucket: a full "
        "minute's worth may come at once, then they refill evenly); past it, 429 with "
        "Retry-After (0: no limit).",
    )
    ingest_records_per_minute: int = Field(
        default=12_000_000,
        ge=0,
        description="Records a workspace may send per minute, good or bad (a token bucket as "
        "above). A request is let in while the bucket is not empty and its records are "
        "counted as they are read, so one large request may overdraw it: the next ones "
        "answer 429 until it has refilled (0: no limit).",
    )
    ingest_max_failed_records_per_import: int = Field(
        default=10_000,
        ge=0,
        description="Failed records stored (for listing and replay) per import; the failures "
        "past it are still counted and reported in the answer (`failed_not_stored`), not "
        "stored. The good records of the request are stored all the same (0: no limit).",
    )
    ingest_max_failed_records_per_day: int = Field(
        default=200_000,
        ge=0,
        description="Failed records a workspace may store per UTC day across its API imports; "
        "past it, failures are counted and reported but not stored (0: no limit).",
    )

    @field_validator("notify_allowed_hosts", "thumbnail_allowed_hosts")
    @classmethod
    def _valid_allow_list(cls, value: str) -> str:
        AllowList.parse(value)  # a typo in a network fails at start, not at the first send
        return value

    @property
    def notify_allow_list(self) -> AllowList:
        return AllowList.parse(self.notify_allowed_hosts)

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def meta_dialog_base(self) -> str:
        if self.meta_dialog_url:
            return self.meta_dialog_url.rstrip("/")
        graph = self.meta_graph_url.rstrip("/")
        return "https://www.facebook.com" if graph == "https://graph.facebook.com" else graph

    @property
    def archive_path(self) -> Path:
        return self.archive_dir or self.data_dir / "archive"

    def interactive(self) -> Settings:
        """These settings for Graph calls a person waits on (an API request, a page): at most
        ``meta_interactive_max_retries`` short retries, no waiting out a throttle; the error
        comes back instead (background jobs keep the patient settings)."""
        return self.model_copy(
            update={
                "meta_max_retries": min(self.meta_max_retries, self.meta_interactive_max_retries),
                "meta_backoff_max_seconds": min(self.meta_backoff_max_seconds, INTERACTIVE_WAIT),
                "meta_max_throttle_wait_seconds": 0.0,
                "meta_slowdown_max_seconds": min(self.meta_slowdown_max_seconds, INTERACTIVE_WAIT),
            }
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings; only entry points call this, everything else takes them."""
    return Settings()
