"""DuckDB views over the Parquet parts a manifest lists; the ``chainsleuth.duckdb`` catalog.

Views name exactly the files in the manifest, so a killed run's leftovers are never read. The
catalog file is rebuildable and never the only copy of anything. The ``outputs`` view adds
``spent_by_tx`` / ``spent_by_vin`` from the append-only ``spends`` table (a left join on
``out_id``; each output is spent at most once).

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

from chainsleuth.store.manifest import Manifest
from chainsleuth.store.schema import STORED_TABLES, TABLES

__all__ = ["CATALOG_NAME", "create_views", "write_catalog"]

CATALOG_NAME = "chainsleuth.duckdb"


def _files(data: Path, manifest: Manifest, table: str) -> list[str]:
    prefix = f"tables/{table}/"
    return sorted(str((data / f).resolve()) for f in manifest.files if f.startswith(prefix))


def _source(data: Path, manifest: Manifest, table: str) -> str:
    """A FROM-clause source of the stored parts of ``table`` (an empty typed relation if none)."""
    files = _files(data, manifest, table)
    if files:
        listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        return f"read_parquet([{listing}])"
    cols = ", ".join(
        f'NULL::{_SQL_TYPES.get(str(f.type), "BLOB")} AS "{f.name}"' for f in TABLES[table]
    )
    return f"(SELECT {cols} LIMIT 0)"


_SQL_TYPES = {
    "int64": "BIGINT",
    "int32": "INTEGER",
    "uint32": "UINTEGER",
    "bool": "BOOLEAN",
    "string": "VARCHAR",
    "large_string": "VARCHAR",
    "timestamp[us, tz=UTC]": "TIMESTAMPTZ",
}


def create_views(con: duckdb.DuckDBPyConnection, data: Path, manifest: Manifest) -> None:
    """Create (or replace) one view per table on ``con``."""
    for table in STORED_TABLES:
        src = _source(data, manifest, table)
        if table == "outputs":
            spends = _source(data, manifest, "spends")
            con.execute(
                "CREATE OR REPLACE VIEW outputs AS SELECT o.*, s.tx_id AS spent_by_tx, "
                f"s.vin AS spent_by_vin FROM {src} o LEFT JOIN "
                f"(SELECT out_id, tx_id, vin FROM {spends}) s USING (out_id)"
            )
        else:
            con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM {src}")


DERIVED_VIEWS: dict[str, str] = {}
"""Views over derived Parquet files that modules above ``store/`` register (view name → path
relative to the dataset; ``tags/store.py`` registers ``tags``). :class:`Dataset` creates the
ones whose file exists, so ``store/`` knows their names only through this registry."""


def register_derived_view(name: str, relpath: str) -> None:
    """Ask every dataset opened from now on for a view ``name`` over ``DATASET/relpath``.

    >>> register_derived_view("doc_example", "derived/x.parquet"); DERIVED_VIEWS["doc_example"]
    'derived/x.parquet'
    >>> del DERIVED_VIEWS["doc_example"]
    """
    if not name.isidentifier():
        raise ValueError(f"not a view name: {name!r}")
    DERIVED_VIEWS[name] = relpath


def create_parquet_view(con: duckdb.DuckDBPyConnection, name: str, path: Path) -> bool:
    """Create (or refresh) view ``name`` over one Parquet file; False when it does not exist.

    >>> import duckdb
    >>> create_parquet_view(duckdb.connect(), "x", Path("/nonexistent.parquet"))
    False
    """
    if not name.isidentifier():
        raise ValueError(f"not a view name: {name!r}")
    if not path.exists():
        return False
    quoted = "'" + str(path).replace("'", "''") + "'"
    cur = con.cursor()
    try:
        cur.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet({quoted})")
    finally:
        cur.close()
    return True


def create_derived_views(con: duckdb.DuckDBPyConnection, data: Path) -> list[str]:
    """The registered derived views whose files exist under ``data``, created on ``con``."""
    return [
        name for name, rel in DERIVED_VIEWS.items() if create_parquet_view(con, name, data / rel)
    ]


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
