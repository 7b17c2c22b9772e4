"""Fixtures for the tag tests: the example TagPacks and a minimal dataset stand-in.

``MiniDataset`` carries only what the tag store touches (``path``, ``network``, ``con`` with an
``addresses`` table) and gives every address of the regtest truth an addr_id in file order, so
store and attribution logic can be tested without an ingest; the tests in ``test_dataset.py``
run the same checks on the real ingested ``regtest_dataset``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from chainsleuth.chain.network import Network, get_network

DATA = Path(__file__).resolve().parents[1] / "data"
PACKS = DATA / "tagpacks"
INVALID = PACKS / "invalid"
TRUTH = DATA / "regtest-core-a" / "truth"


@dataclass
class MiniDataset:
    """The slice of ``chainsleuth.store.dataset.Dataset`` the tag store uses."""

    path: Path
    network: Network
    con: duckdb.DuckDBPyConnection


def truth_rows() -> list[dict[str, str]]:
    """Rows of the regtest truth addresses.csv."""
    with open(TRUTH / "addresses.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def mini_ds(tmp_path: Path) -> MiniDataset:
    rows = truth_rows()
    con = duckdb.connect()
    addresses = pa.table(
        {
            "addr_id": pa.array(range(len(rows)), pa.int64()),
            "address": [r["address"] for r in rows],
        }
    )
    con.register("_addresses_src", addresses)
    con.execute("CREATE TABLE addresses AS SELECT * FROM _addresses_src")
    con.unregister("_addresses_src")
    return MiniDataset(tmp_path / "ds", get_network("regtest"), con)
