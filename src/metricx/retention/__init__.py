"""Data retention: old metric facts archived to Parquet, then removed from PostgreSQL."""
