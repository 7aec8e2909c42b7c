"""The fact store: metric facts (one measured bucket of one entity), the measure registry,
the one writer (staging, merge, rollup deltas), the rollups and the monthly partitions.

Ingest and sync hand ``FactInput`` records to the ingest service, which places and keys them
and calls ``writer``; the query layer reads facts and rollups with SQL built from the registry.
"""
