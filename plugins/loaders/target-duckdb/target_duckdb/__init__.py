"""target-duckdb: Singer target for DuckDB (MERGE on keys, schema evolution, BATCH files)."""
