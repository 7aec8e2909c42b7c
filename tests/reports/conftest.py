"""Report tests send to receivers on 127.0.0.1, which metricx refuses by default: the
operator's allow-list admits it (as in tests/notifications)."""

from tests.notifications.conftest import settings  # noqa: F401
