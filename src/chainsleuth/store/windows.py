"""The chain in windows: consecutive transaction ranges loaded one at a time as chain views.

Stages that must not hold the whole chain (streamed clustering, the on-disk flow graph) walk
the chain in order, one :class:`TxWindow` at a time. A window is a range of ``tx_id`` inside
one partition, so it reads only that partition's ``txs``, ``outputs`` and ``inputs`` parts
(pyarrow skips the row groups outside the range by their statistics). Windows are cut so that
each holds at most ``max_rows`` transactions + inputs + outputs (one transaction is never
split, so a single huge transaction may exceed it).

:func:`load_window` returns a :class:`~chainsleuth.heuristics.view.ChainView` whose positions
are local to the window (position 0 is the window's first transaction and output) and whose
addresses are the dataset's ``addr_id`` values; ``n_addr`` is the dataset's address count.
A window view has no links outside itself: ``out_spent_by`` and ``in_prev_out`` are -1
everywhere (a caller that needs spenders reads them separately, e.g. from the ``spend``
index files).

Memory: the view of a window of ``n`` transactions, ``i`` inputs and ``o`` outputs is
``45 n + 41 i + 33 o`` bytes, plus the Arrow columns of one table while it is converted.

>>> from chainsleuth.store.manifest import Manifest
>>> m = Manifest.load(ds.path)  # the regtest chain
>>> wins = chain_windows(m, max_rows=4000)
>>> sum(w.n_txs for w in wins) == m.counts["txs"]
True
>>> v = load_window(ds.path, m, wins[1]).view
>>> (v.n_tx, int(v.tx_id[0]) == wins[1].tx_lo)
(100, True)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from chainsleuth.errors import DatasetError
from chainsleuth.heuristics.view import SCRIPT_TYPES, ChainView
from chainsleuth.store.manifest import Manifest, Partition
from chainsleuth.store.parts import part_name

__all__ = [
    "VIEW_BYTES_PER_ROW",
    "LoadedWindow",
    "TxWindow",
    "chain_windows",
    "iter_windows",
    "load_window",
    "window_rows",
]

I64 = NDArray[np.int64]

VIEW_BYTES_PER_ROW = 45
"""Upper bound of a window view's bytes per transaction, input or output row (see above)."""


@dataclass(frozen=True, slots=True)
class TxWindow:
    """Transactions ``tx_lo`` ≤ tx_id < ``tx_hi`` of one partition, with their id ranges."""

    partition: Partition
    tx_lo: int
    tx_hi: int
    n_rows: int
    """estimated transactions + inputs + outputs"""

    @property
    def n_txs(self) -> int:
        """Transactions in the window."""
        return self.tx_hi - self.tx_lo


def _part_path(data: Path, table: str, p: Partition, span: int) -> Path:
    return data / "tables" / table / part_name(p.lo, span)


def chain_windows(manifest: Manifest, max_rows: int) -> list[TxWindow]:
    """The chain's windows in order: each partition split into equal ``tx_id`` ranges so that
    each holds about ``max_rows`` transactions + inputs + outputs or fewer.

    >>> from chainsleuth.store.manifest import Manifest
    >>> m = Manifest.load(ds.path)
    >>> [w.n_txs for w in chain_windows(m, 10**9)] == [p.n_txs for p in m.partitions]
    True
    """
    out: list[TxWindow] = []
    limit = max(int(max_rows), 1)
    for p in manifest.partitions:
        rows = p.n_txs + p.n_inputs + p.n_outputs
        if p.n_txs == 0:
            continue
        k = min(max(math.ceil(rows / limit), 1), p.n_txs)
        bounds = [p.first_tx_id + (p.n_txs * j) // k for j in range(k + 1)]
        for lo, hi in itertools.pairwise(bounds):
            out.append(TxWindow(p, lo, hi, int(rows * (hi - lo) / p.n_txs)))
    return out


def window_rows(memory_bytes: int, bytes_per_row: int = 4 * VIEW_BYTES_PER_ROW) -> int:
    """Rows per window that keep a window's view and its scratch within ``memory_bytes``
    (``bytes_per_row`` covers the view and the temporaries built from it).

    >>> window_rows(180 << 20)
    1048576
    """
    return max(int(memory_bytes) // bytes_per_row, 1024)


def _read(path: Path, columns: list[str], lo: int, hi: int) -> pa.Table:
    try:
        return pq.read_table(
            path, columns=columns, filters=[("tx_id", ">=", lo), ("tx_id", "<", hi)]
        )
    except (OSError, pa.ArrowInvalid) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc


def _ints(table: pa.Table, name: str, fill: int, dtype: type[np.generic]) -> NDArray[Any]:
    col = table.column(name)
    if col.null_count:
        col = pc.fill_null(col, fill)
    return np.asarray(col.to_numpy(), dtype=dtype)


_CODES = pa.array(list(SCRIPT_TYPES), pa.string())


def _type_codes(table: pa.Table) -> NDArray[np.int8]:
    """Script type names → codes (-1 for null or an unknown name)."""
    codes = pc.index_in(table.column("script_type"), value_set=_CODES)
    return np.asarray(pc.fill_null(codes, -1).to_numpy(), dtype=np.int8)


@dataclass(frozen=True, slots=True, eq=False)
class LoadedWindow:
    """A window, its chain view, and the dataset id of its first output (its outputs are
    ``first_out_id`` … ``first_out_id + view.n_out - 1``)."""

    window: TxWindow
    view: ChainView
    first_out_id: int


def load_window(data: Path | str, manifest: Manifest, window: TxWindow) -> LoadedWindow:
    """The chain view of one window (local positions, dataset addr_ids; see the module
    docstring).

    >>> from chainsleuth.store.manifest import Manifest
    >>> m = Manifest.load(ds.path)
    >>> w = load_window(ds.path, m, chain_windows(m, 10**9)[0])
    >>> w.view.n_tx == m.partitions[0].n_txs, w.view.n_addr == m.counts["addresses"]
    (True, True)
    >>> w.first_out_id
    0
    """
    root = Path(data)
    p, lo, hi = window.partition, window.tx_lo, window.tx_hi
    span = manifest.partition_span
    txs = _read(
        _part_path(root, "txs", p, span),
        ["tx_id", "height", "version", "locktime", "is_coinbase", "first_out_id"],
        lo,
        hi,
    )
    outs = _read(
        _part_path(root, "outputs", p, span),
        ["out_id", "tx_id", "value", "addr_id", "script_type"],
        lo,
        hi,
    )
    ins = _read(
        _part_path(root, "inputs", p, span),
        ["tx_id", "vin", "value", "addr_id", "sequence", "script_type"],
        lo,
        hi,
    )
    tx_id = _ints(txs, "tx_id", -1, np.int64)
    if len(tx_id) != hi - lo or (len(tx_id) and (tx_id[0] != lo or tx_id[-1] != hi - 1)):
        raise DatasetError(f"partition {p.lo}-{p.hi}: txs rows {lo}..{hi - 1} are not all there")
    out_tx = _ints(outs, "tx_id", -1, np.int64)
    in_tx = _ints(ins, "tx_id", -1, np.int64)
    if np.any(np.diff(out_tx) < 0) or np.any(np.diff(in_tx) < 0):
        raise DatasetError(f"partition {p.lo}-{p.hi}: rows are not in chain order")
    n_in = np.bincount(in_tx - lo, minlength=hi - lo).astype(np.int64)
    n_out = np.bincount(out_tx - lo, minlength=hi - lo).astype(np.int64)
    none_in = np.full(len(in_tx), -1, dtype=np.int64)
    out_id = _ints(outs, "out_id", -1, np.int64)
    first_out = int(_ints(txs, "first_out_id", -1, np.int64)[0]) if len(tx_id) else p.first_out_id
    if len(out_id) and (out_id[0] != first_out or out_id[-1] != first_out + len(out_id) - 1):
        raise DatasetError(f"partition {p.lo}-{p.hi}: outputs of txs {lo}..{hi - 1} are not dense")
    view = ChainView.from_columns(
        tx_id=tx_id,
        height=_ints(txs, "height", 0, np.int32),
        version=_ints(txs, "version", 0, np.int64),
        locktime=_ints(txs, "locktime", 0, np.int64),
        is_coinbase=_ints(txs, "is_coinbase", 0, np.bool_),
        n_in=n_in,
        n_out=n_out,
        in_addr=_ints(ins, "addr_id", -1, np.int64),
        in_value=_ints(ins, "value", 0, np.int64),
        in_type=_type_codes(ins),
        in_sequence=_ints(ins, "sequence", 0, np.int64),
        in_prev_out=none_in,
        out_value=_ints(outs, "value", 0, np.int64),
        out_addr=_ints(outs, "addr_id", -1, np.int64),
        out_type=_type_codes(outs),
        out_spent_by=np.full(len(out_tx), -1, dtype=np.int64),
        n_addr=int(manifest.counts.get("addresses", 0)),
    )
    return LoadedWindow(window, view, first_out)


def iter_windows(data: Path | str, manifest: Manifest, max_rows: int) -> Iterator[LoadedWindow]:
    """Each window of the chain with its view, in chain order.

    >>> from chainsleuth.store.manifest import Manifest
    >>> m = Manifest.load(ds.path)
    >>> sum(w.view.n_out for w in iter_windows(ds.path, m, 5000)) == m.counts["outputs"]
    True
    """
    for window in chain_windows(manifest, max_rows):
        yield load_window(data, manifest, window)
