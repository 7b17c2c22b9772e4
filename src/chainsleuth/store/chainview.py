"""Load a :class:`~chainsleuth.heuristics.view.ChainView` from a dataset (the only SQL it needs).

The view's columns come from three scans of the ``txs``, ``outputs`` and ``inputs`` views and
one of the append-only ``spends`` table; algorithms never open the database themselves.
Memory: the view itself (45 B per transaction, 41 per input, 33 per output) plus one table's
Arrow columns while it is converted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from chainsleuth.heuristics.view import SCRIPT_TYPES, ChainView

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

__all__ = ["load_chain_view", "load_tx_times"]

I64 = NDArray[np.int64]


def _column(table: Any, name: str, fill: int | bool, dtype: type[np.generic]) -> NDArray[Any]:
    col = table.column(name)
    if col.null_count:
        col = col.fill_null(fill)
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=dtype)


def _code_sql(column: str) -> str:
    """SQL mapping a script type name column to its code (-1 for NULL or an unknown name)."""
    cases = " ".join(f"WHEN '{name}' THEN {code}" for code, name in enumerate(SCRIPT_TYPES))
    return f"CASE {column} {cases} ELSE -1 END::TINYINT AS {column}_code"


def _scan(ds: Dataset, table: str, columns: list[str], *, script_type: bool = False) -> Any:
    """Columns of one table as Arrow, in storage order (plus ``script_type_code`` if asked)."""
    cols = [*columns, _code_sql("script_type")] if script_type else columns
    return ds.con.sql(f"SELECT {', '.join(cols)} FROM {table}").to_arrow_table()


def _is_dense(ids: I64) -> bool:
    """Whether ``ids`` are exactly 0, 1, ..., len - 1 in that order."""
    n = len(ids)
    if n == 0:
        return True
    return int(ids[0]) == 0 and int(ids[-1]) == n - 1 and bool(np.all(np.diff(ids) == 1))


def _positions(keys: I64, wanted: I64) -> I64:
    """``np.searchsorted(keys, wanted)`` for strictly increasing ``keys``; O(n) when dense."""
    if _is_dense(keys):
        # keys[i] == i: the insertion point of v is v itself, clipped into [0, len(keys)]
        return np.clip(wanted, 0, len(keys))
    return np.searchsorted(keys, wanted)


def _sort_rows(table: Any, order: I64) -> Any:
    """``table`` with its rows permuted by ``order``."""
    return table.take(pa.array(order))


def _order_by(keys: I64) -> I64 | None:
    """A stable sorting permutation of unique ``keys``, or None when already increasing."""
    if len(keys) < 2 or bool(np.all(keys[1:] > keys[:-1])):
        return None
    return np.argsort(keys, kind="stable").astype(np.int64)


def _order_by_pair(major: I64, minor: I64) -> I64 | None:
    """A permutation sorting rows by (major, minor), or None when already strictly sorted."""
    if len(major) < 2:
        return None
    step = major[1:] - major[:-1]
    if bool(np.all((step > 0) | ((step == 0) & (minor[1:] > minor[:-1])))):
        return None
    return np.lexsort((minor, major)).astype(np.int64)


def load_chain_view(ds: Dataset) -> ChainView:
    """Load the columns heuristics need from a dataset (three SQL scans).

    The tables are read in storage order, which is id order for every dataset the ingester
    writes; that is checked (one linear pass) and the rows are sorted only when it fails.
    Dense ids (``tx_id`` and ``out_id`` counting 0, 1, ...) turn the id → position lookups
    into plain index arithmetic.

    >>> view = load_chain_view(ds)  # ds: the regtest chain
    >>> view.n_tx, view.n_addr
    (3981, 9175)
    """
    txs = _scan(ds, "txs", ["tx_id", "height", "version", "locktime", "is_coinbase", "n_out"])
    outs = _scan(ds, "outputs", ["out_id", "value", "addr_id"], script_type=True)
    spends = ds.con.sql("SELECT out_id, tx_id FROM spends").fetchnumpy()
    ins = _scan(
        ds,
        "inputs",
        ["tx_id", "vin", "out_id", "value", "addr_id", "sequence"],
        script_type=True,
    )
    n_addr_row = ds.sql("SELECT coalesce(max(addr_id), -1) + 1 FROM addresses").fetchall()
    tx_id = _column(txs, "tx_id", -1, np.int64)
    out_id = _column(outs, "out_id", -1, np.int64)
    in_tx_id = _column(ins, "tx_id", -1, np.int64)
    tx_order = _order_by(tx_id)
    if tx_order is not None:
        txs, tx_id = _sort_rows(txs, tx_order), tx_id[tx_order]
    out_order = _order_by(out_id)
    if out_order is not None:
        outs, out_id = _sort_rows(outs, out_order), out_id[out_order]
    in_order = _order_by_pair(in_tx_id, _column(ins, "vin", -1, np.int64))
    if in_order is not None:
        ins, in_tx_id = _sort_rows(ins, in_order), in_tx_id[in_order]
    # spends (append-only, one row per spent output) scattered onto the outputs' positions
    spent_tx = np.full(len(out_id), -1, dtype=np.int64)
    spent_tx[_positions(out_id, np.asarray(spends["out_id"], dtype=np.int64))] = spends["tx_id"]
    spent_pos = _positions(tx_id, spent_tx)
    prev_out = _column(ins, "out_id", -1, np.int64)
    prev_pos = _positions(out_id, prev_out)
    coinbase = _column(txs, "is_coinbase", False, np.bool_)
    # Core reports one input for a coinbase; the inputs table keeps it with a NULL out_id.
    in_tx_rows = _positions(tx_id, in_tx_id)
    n_in = np.bincount(in_tx_rows, minlength=len(tx_id)).astype(np.int64)
    return ChainView.from_columns(
        tx_id=tx_id,
        height=_column(txs, "height", 0, np.int32),
        version=_column(txs, "version", 0, np.int64),
        locktime=_column(txs, "locktime", 0, np.int64),
        is_coinbase=coinbase,
        n_in=n_in,
        n_out=_column(txs, "n_out", 0, np.int64),
        in_addr=_column(ins, "addr_id", -1, np.int64),
        in_value=_column(ins, "value", 0, np.int64),
        in_type=_column(ins, "script_type_code", -1, np.int8),
        in_sequence=_column(ins, "sequence", 0, np.int64),
        in_prev_out=np.where(prev_out >= 0, prev_pos, -1),
        out_value=_column(outs, "value", 0, np.int64),
        out_addr=_column(outs, "addr_id", -1, np.int64),
        out_type=_column(outs, "script_type_code", -1, np.int8),
        out_spent_by=np.where(spent_tx >= 0, spent_pos, -1),
        n_addr=int(n_addr_row[0][0]),
    )


def load_tx_times(ds: Dataset) -> I64:
    """Block time (epoch seconds) of every transaction, in ``tx_id`` order: the ``tx_time``
    column a flow graph built from a :class:`ChainView` carries.

    >>> times = load_tx_times(ds)  # ds: the regtest chain
    >>> times.dtype.name, len(times) == load_chain_view(ds).n_tx, bool((times > 0).all())
    ('int64', True, True)
    """
    raw = ds.sql("SELECT epoch_us(time) // 1000000 AS t FROM txs ORDER BY tx_id").fetchnumpy()
    return np.asarray(raw["t"], dtype=np.int64)
