"""A pytest plugin (loaded with ``-p``) that declares one more additive measure before any
other metricx module is imported: what adding a measure to the registry in the source does."""

from metricx.facts import measures

EXTRA = measures.whole("video_30s_plays", "30-second video plays")
measures.declare(EXTRA)

# The one migration such a measure needs: its column on the facts and on the rollups.
MIGRATION = (
    "ALTER TABLE metric_facts ADD COLUMN video_30s_plays bigint",
    "ALTER TABLE metric_rollups ADD COLUMN video_30s_plays bigint NOT NULL DEFAULT 0",
)
