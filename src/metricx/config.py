"""Settings: one object, read once from the environment (prefix ``METRICX_``) and passed in."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob metricx reads. The README's configuration table is generated from this."""

    model_config = SettingsConfigDict(env_prefix="METRICX_", env_file=None, extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://user@host:5432/db). Unset: the embedded "
        "PostgreSQL server in the data dir is started and used.",
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
        description="Signs session cookies and OAuth state. Unset: generated into the data dir.",
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
    partition_months_behind: int = Field(
        default=37,
        description="Monthly partitions created behind today (Meta keeps 37 months of insights).",
    )

    @property
    def embedded(self) -> bool:
        return self.database_url is None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings; only entry points call this, everything else takes them."""
    return Settings()
