"""BI access: read-only roles bound to a workspace (row-level security over the ``bi`` views of
migration 0017) and day files of daily facts (Parquet or CSV) for tools that read files."""
