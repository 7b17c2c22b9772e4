"""store.chainview.load_chain_view: storage order and dense ids are shortcuts, never assumptions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from chainsleuth.heuristics.view import SCRIPT_TYPES, ChainView
from chainsleuth.store.chainview import load_chain_view
from chainsleuth.store.dataset import Dataset

FIELDS = [
    "tx_id",
    "height",
    "version",
    "locktime",
    "is_coinbase",
    "in_start",
    "out_start",
    "in_addr",
    "in_value",
    "in_type",
    "in_sequence",
    "in_prev_out",
    "out_value",
    "out_addr",
    "out_type",
    "out_spent_by",
    "in_tx",
    "out_tx",
]


class TablesDataset:
    """Just enough of a Dataset for load_chain_view: in-memory tables in a chosen row order."""

    def __init__(self, tables: dict[str, pa.Table]) -> None:
        self.con = duckdb.connect()
        for name, table in tables.items():
            self.con.register(f"{name}_src", table)
            self.con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_src")

    def sql(self, query: str) -> Any:
        return self.con.sql(query)


def column(table: pa.Table, name: str, fill: int | bool) -> np.ndarray:
    return np.asarray(table.column(name).fill_null(fill).to_numpy(zero_copy_only=False))


def reference_view(ds: Any) -> ChainView:
    """The columns as SQL with ORDER BY gives them, positions found by binary search."""
    txs = ds.con.sql("SELECT * FROM txs ORDER BY tx_id").to_arrow_table()
    outs = ds.con.sql("SELECT * FROM outputs ORDER BY out_id").to_arrow_table()
    ins = ds.con.sql("SELECT * FROM inputs ORDER BY tx_id, vin").to_arrow_table()
    n_addr = ds.sql("SELECT coalesce(max(addr_id), -1) + 1 FROM addresses").fetchall()[0][0]
    tx_id = column(txs, "tx_id", -1)
    out_id = column(outs, "out_id", -1)
    spent = column(outs, "spent_by_tx", -1)
    prev = column(ins, "out_id", -1)
    code = {name: i for i, name in enumerate(SCRIPT_TYPES)}
    return ChainView.from_columns(
        tx_id=tx_id,
        height=column(txs, "height", 0),
        version=column(txs, "version", 0),
        locktime=column(txs, "locktime", 0),
        is_coinbase=column(txs, "is_coinbase", False),
        n_in=np.bincount(np.searchsorted(tx_id, column(ins, "tx_id", -1)), minlength=len(tx_id)),
        n_out=column(txs, "n_out", 0),
        in_addr=column(ins, "addr_id", -1),
        in_value=column(ins, "value", 0),
        in_type=[code.get(s, -1) for s in ins.column("script_type").to_pylist()],
        in_sequence=column(ins, "sequence", 0),
        in_prev_out=np.where(prev >= 0, np.searchsorted(out_id, prev), -1),
        out_value=column(outs, "value", 0),
        out_addr=column(outs, "addr_id", -1),
        out_type=[code.get(s, -1) for s in outs.column("script_type").to_pylist()],
        out_spent_by=np.where(spent >= 0, np.searchsorted(tx_id, spent), -1),
        n_addr=int(n_addr),
    )


def assert_same_view(got: ChainView, want: ChainView) -> None:
    assert got.n_addr == want.n_addr
    for name in FIELDS:
        g, w = getattr(got, name), getattr(want, name)
        assert g.dtype == w.dtype, name
        np.testing.assert_array_equal(g, w, err_msg=name)


@pytest.fixture(scope="module")
def regtest_tables(regtest_dataset: Path) -> dict[str, pa.Table]:
    with Dataset.open(regtest_dataset) as ds:
        return {
            name: ds.sql(f"SELECT * FROM {name}").arrow()
            for name in ("txs", "outputs", "inputs", "addresses", "spends")
        }


def test_storage_order_matches_order_by(regtest_dataset: Path) -> None:
    with Dataset.open(regtest_dataset) as ds:
        assert_same_view(load_chain_view(ds), reference_view(ds))


def test_shuffled_rows_are_sorted(regtest_tables: dict[str, pa.Table]) -> None:
    rng = np.random.default_rng(7)
    shuffled = {n: t.take(rng.permutation(t.num_rows)) for n, t in regtest_tables.items()}
    ds = TablesDataset(shuffled)
    view = load_chain_view(ds)  # type: ignore[arg-type]
    assert_same_view(view, reference_view(TablesDataset(regtest_tables)))


def test_sparse_ids_use_binary_search(regtest_tables: dict[str, pa.Table]) -> None:
    # every tx_id and out_id tripled plus one: still increasing, no longer 0, 1, 2, ...
    def spread(table: pa.Table, names: list[str]) -> pa.Table:
        for name in names:
            if name in table.column_names:
                i = table.column_names.index(name)
                new = pc.add(pc.multiply(table.column(name), 3), 1)  # nulls stay null
                table = table.set_column(i, name, new)
        return table

    ids = ["tx_id", "out_id", "spent_by_tx"]
    tables = {n: spread(t, ids) for n, t in regtest_tables.items()}
    sparse = TablesDataset(tables)
    view = load_chain_view(sparse)  # type: ignore[arg-type]
    assert_same_view(view, reference_view(sparse))
    dense = load_chain_view(TablesDataset(regtest_tables))  # type: ignore[arg-type]
    assert (view.tx_id == dense.tx_id * 3 + 1).all()
    for name in FIELDS[1:]:
        np.testing.assert_array_equal(getattr(view, name), getattr(dense, name), err_msg=name)
