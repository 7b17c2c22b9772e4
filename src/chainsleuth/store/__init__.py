"""The dataset: Parquet tables partitioned by height, a manifest with checksums, indexes, DuckDB."""
