"""The sync tests' sandbox and committed database, for validating really synced data."""

from tests.sync.conftest import (  # noqa: F401
    _restore_sandbox,
    sync_database,
    sync_engine,
    sync_runtime,
    sync_sandbox,
    sync_settings,
)
