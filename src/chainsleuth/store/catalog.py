"""DuckDB views over the Parquet parts a manifest lists; the ``chainsleuth.duckdb`` catalog.

Views name exactly the files in the manifest, so a killed run's leftovers are never read. The
catalog file is rebuildable and never the only copy of anything.

>>> import duckdb
>>> con = duckdb.connect()
>>> from chainsleuth.store.manifest import Manifest
>>> create_views(con, Path("."), Manifest.new("main", 10))
>>> con.sql("select count(*) from txs").fetchall()
[(0,)]
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from chainsleuth.store.manifest import Manifest
from chainsleuth.store.schema import TABLE_NAMES, TABLES

__all__ = ["CATALOG_NAME", "create_views", "write_catalog"]

CATALOG_NAME = "chainsleuth.duckdb"


def _files(data: Path, manifest: Manifest, table: str) -> list[str]:
    prefix = f"tables/{table}/"
    return sorted(str((data / f).resolve()) for f in manifest.files if f.startswith(prefix))


def create_views(con: duckdb.DuckDBPyConnection, data: Path, manifest: Manifest) -> None:
    """Create (or replace) one view per table on ``con``."""
    for table in TABLE_NAMES:
        files = _files(data, manifest, table)
        if files:
            listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
            con.execute(
                f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet([{listing}])"
            )
        else:
            empty = pa.Table.from_batches([], schema=TABLES[table])  # noqa: F841 - read by DuckDB
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM empty")


def write_catalog(data: Path, manifest: Manifest) -> None:
    """(Re)write ``DATASET/chainsleuth.duckdb`` with views over the manifest's parts."""
    path = data / CATALOG_NAME
    tmp = data / (CATALOG_NAME + ".tmp")
    if tmp.exists():
        tmp.unlink()
    con = duckdb.connect(str(tmp))
    try:
        create_views(con, data, manifest)
    finally:
        con.close()
    tmp.replace(path)
