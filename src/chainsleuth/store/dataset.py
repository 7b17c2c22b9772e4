"""The Python API over a dataset directory: open, query with SQL, look objects up.

>>> import tempfile
>>> from chainsleuth.ingest import ingest_blocks
>>> path = tempfile.mkdtemp() + "/ds"
>>> _ = ingest_blocks("tests/data/regtest-core-a/blocks", path, "regtest", to_height=120)
>>> ds = Dataset.open(path)
>>> ds.sql("select count(*) from txs").fetchone()
(121,)
>>> ds.block(0)["hash"] == ds.network.genesis_hash
True
>>> ds.tx(ds.txid_of(1))["outputs"][0]["address"]
'bcrt1q5308qu3ejczty83g4ghe2n23kzulh66wz4wnm2'
>>> ds.address("bcrt1q5308qu3ejczty83g4ghe2n23kzulh66wz4wnm2")["first_height"]
1
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from chainsleuth.chain.network import Network, get_network
from chainsleuth.errors import InputError, NotFoundError
from chainsleuth.store.catalog import create_derived_views, create_views
from chainsleuth.store.lookup import Lookup
from chainsleuth.store.manifest import MANIFEST_NAME, Manifest
from chainsleuth.store.schema import TABLE_NAMES

__all__ = ["Dataset", "Query"]


class Query:
    """A SQL query bound to a dataset connection, run when a result is fetched."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None
    ) -> None:
        self._con = con
        self.query = query
        self.params = params or []

    def _run(self) -> duckdb.DuckDBPyConnection:
        # A fresh cursor per query: no half-fetched result is ever left on the shared connection.
        return self._con.cursor().execute(self.query, self.params)

    def fetchall(self) -> list[tuple[Any, ...]]:
        """All rows as tuples."""
        return self._run().fetchall()

    def fetchone(self) -> tuple[Any, ...] | None:
        """The first row, or None."""
        return self._run().fetchone()

    def arrow(self) -> pa.Table:
        """The result as an Arrow table."""
        rel = self._con.cursor().sql(self.query, params=self.params or None)
        return rel.to_arrow_table()

    def df(self) -> Any:
        """The result as a pandas DataFrame."""
        return self._con.cursor().sql(self.query, params=self.params or None).df()

    def fetchnumpy(self) -> dict[str, Any]:
        """The result as a dict of numpy arrays."""
        return self._run().fetchnumpy()


class Dataset:
    """An opened dataset: its manifest, network and a DuckDB connection with table views.

    Views ``blocks``, ``txs``, ``outputs``, ``inputs`` and ``addresses`` cover exactly the parts
    the manifest lists; modules above ``store/`` register views over their derived files
    (``catalog.register_derived_view``: ``tags``), created when the file exists.
    """

    def __init__(self, path: Path, manifest: Manifest) -> None:
        self.path = path
        self.manifest = manifest
        self.network: Network = get_network(manifest.network)
        self.con: duckdb.DuckDBPyConnection = duckdb.connect()
        create_views(self.con, path, manifest)
        self._register_derived_views()

    def _register_derived_views(self) -> None:
        """Views over the derived results other modules registered (``catalog.DERIVED_VIEWS``,
        e.g. ``tags``) whose files are on disk, so SQL can join them."""
        create_derived_views(self.con, self.path)

    @classmethod
    def open(cls, path: str | Path) -> Dataset:
        """Open the dataset at ``path`` (DatasetError when it is not one)."""
        p = Path(path)
        return cls(p, Manifest.load(p))

    # -- basic facts -------------------------------------------------------------------------
    @property
    def tip_height(self) -> int:
        """Height of the last ingested block (-1 for an empty dataset)."""
        return self.manifest.tip_height

    @property
    def tip_hash(self) -> str:
        """Hash (hex, display order) of the last ingested block."""
        return self.manifest.tip_hash

    @cached_property
    def manifest_sha256(self) -> str:
        """sha256 of ``manifest.json`` as stored: names this exact snapshot of the data."""
        return hashlib.sha256((self.path / MANIFEST_NAME).read_bytes()).hexdigest()

    # -- queries -----------------------------------------------------------------------------
    def sql(self, query: str, params: list[Any] | None = None) -> Query:
        """SQL over the dataset's views; fetch with ``.fetchall()``, ``.fetchone()``,
        ``.arrow()``, ``.df()`` or ``.fetchnumpy()`` (each call runs the query)."""
        return Query(self.con, query, params)

    def arrow(self, table: str, columns: list[str] | None = None) -> pa.Table:
        """A whole table as Arrow, optionally only some columns."""
        if table not in TABLE_NAMES:
            raise InputError(f"unknown table {table!r} (valid: {', '.join(TABLE_NAMES)})")
        cols = ", ".join(f'"{c}"' for c in columns) if columns else "*"
        return self.sql(f"SELECT {cols} FROM {table}").arrow()

    def derived_dir(self, kind: str, name: str) -> Path:
        """``DATASET/derived/<kind>/<name>/``, created if missing."""
        path = self.path / "derived" / kind / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- lookups -----------------------------------------------------------------------------
    @cached_property
    def lookup(self) -> Lookup:
        """Point lookups over the dataset's index files and parts (:mod:`~chainsleuth.store.
        lookup`); ``lookup.indexed`` is False for a dataset whose manifest lists no indexes."""
        return Lookup(self.path, self.manifest, self.network, self.con)

    def addr_id(self, address: str) -> int:
        """The addr_id of an address string (NotFoundError naming it when absent).

        With lookup indexes the address is found from its output script, without a scan (so an
        upper-case bech32 spelling finds it too); without them a SQL scan matches the string.
        """
        lk = self.lookup
        found = lk.known.get(address)
        if found is None:
            found = lk.addr_id(address) if lk.indexed else self._addr_id_sql(address)
        if found is None:
            raise NotFoundError(f"address not in dataset: {address}")
        return found

    def _addr_id_sql(self, address: str) -> int | None:
        row = self.sql("SELECT addr_id FROM addresses WHERE address = ?", [address]).fetchone()
        return None if row is None else int(row[0])

    def address_of(self, addr_id: int) -> str | None:
        """The address string of an addr_id, or None (reads one row of one part)."""
        return self.lookup.addresses_of(np.array([addr_id]))[0]

    def tx_id(self, txid_hex: str) -> int:
        """The dense tx_id of a txid given in hex (NotFoundError / InputError naming it)."""
        txid = _parse_hash(txid_hex, "txid")
        lk = self.lookup
        if lk.indexed:
            found = lk.tx_id(txid)
        else:
            row = self.sql("SELECT tx_id FROM txs WHERE txid = ?", [txid]).fetchone()
            found = None if row is None else int(row[0])
        if found is None:
            raise NotFoundError(f"transaction not in dataset: {txid_hex}")
        return found

    def txid_of(self, tx_id: int) -> str:
        """The txid (hex) of a dense tx_id (reads one row of one part)."""
        txid = self.lookup.txids_of(np.array([tx_id]))[0]
        if txid is None:
            raise NotFoundError(f"tx_id not in dataset: {tx_id}")
        return txid

    def tx(self, txid_hex: str) -> dict[str, Any]:
        """A transaction's profile: inputs with spent addresses and values, outputs, spenders."""
        from chainsleuth.store.profiles import tx_profile

        return tx_profile(self, txid_hex)

    def address(self, address: str) -> dict[str, Any]:
        """An address's profile: received/spent totals, balance and latest transactions."""
        from chainsleuth.store.profiles import address_profile

        return address_profile(self, address)

    def block(self, height_or_hash: int | str) -> dict[str, Any]:
        """A block's summary by height or hash."""
        from chainsleuth.store.profiles import block_profile

        return block_profile(self, str(height_or_hash))

    def close(self) -> None:
        """Close the DuckDB connection and the part readers lookups opened."""
        if "lookup" in self.__dict__:
            self.lookup.rows.close()
        self.con.close()

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse_hash(text: str, what: str) -> bytes:
    t = text.strip().lower()
    if len(t) != 64:
        raise InputError(f"{what} must be 64 hex characters: {text!r}")
    try:
        return bytes.fromhex(t)
    except ValueError:
        raise InputError(f"{what} is not hex: {text!r}") from None
