"""Every table but the fact store's (``metricx.facts.tables``), one file each. Importing this
package registers them on ``Base.metadata``."""

from metricx.models.alerts import Alert, Severity
from metricx.models.api_keys import ApiKey
from metricx.models.base import Base, Granularity, Level, Provider
from metricx.models.connections import Connection, ConnectionStatus
from metricx.models.creatives import AdCreative, Creative
from metricx.models.custom_conversions import CustomConversion
from metricx.models.entities import Entity
from metricx.models.fact_archives import FactArchive
from metricx.models.failed_records import FailedRecord, FailedRecordStatus
from metricx.models.fetches import Fetch, RunStatus
from metricx.models.fx_rates import FxRate
from metricx.models.imports import Import, ImportStatus
from metricx.models.ingest_quotas import IngestQuota
from metricx.models.notifications import (
    ChannelKind,
    DeliveryEvent,
    NotificationChannel,
    NotificationDelivery,
)
from metricx.models.oauth import OAuthGrant, OAuthState
from metricx.models.quality import EntityParentSnapshot, QualityFinding
from metricx.models.reach_ranges import ReachRange
from metricx.models.reports import ReportDelivery, ReportFrequency, ReportSchedule
from metricx.models.saved_views import SavedView
from metricx.models.sign_in_failures import SignInFailure
from metricx.models.tokens import Token, TokenStatus
from metricx.models.users import User, UserSession
from metricx.models.workspace_conversions import WorkspaceConversion
from metricx.models.workspaces import Membership, Role, Workspace

__all__ = [
    "AdCreative",
    "Alert",
    "ApiKey",
    "Base",
    "ChannelKind",
    "Connection",
    "ConnectionStatus",
    "Creative",
    "CustomConversion",
    "DeliveryEvent",
    "Entity",
    "EntityParentSnapshot",
    "FactArchive",
    "FailedRecord",
    "FailedRecordStatus",
    "Fetch",
    "FxRate",
    "Granularity",
    "Import",
    "ImportStatus",
    "IngestQuota",
    "Level",
    "Membership",
    "NotificationChannel",
    "NotificationDelivery",
    "OAuthGrant",
    "OAuthState",
    "Provider",
    "QualityFinding",
    "ReachRange",
    "ReportDelivery",
    "ReportFrequency",
    "ReportSchedule",
    "Role",
    "RunStatus",
    "SavedView",
    "Severity",
    "SignInFailure",
    "Token",
    "TokenStatus",
    "User",
    "UserSession",
    "Workspace",
    "WorkspaceConversion",
]
