"""What an investigation reads of the chain beyond the cluster flow graph, entry by entry.

The investigation walks the cluster :class:`~chainsleuth.trace.flowgraph.FlowGraph` from the
nodes it has reached (their ``node_recv``/``node_spend`` entries, then those transactions'
CSR slices); :class:`CaseChain` adds the three facts the graph does not carry, each read only
for the entries asked about:

- the address of an input or output entry (the address-level graph's ``in_node``/``out_node``,
  opened as read-only memmaps: pages are read on demand);
- the output an input entry spends (``inputs.out_id``, read from the rows of the inputs' parts
  by position, :class:`~chainsleuth.store.rows.PartRows`, and kept in a dict: 100 B per input
  asked about);
- the transaction of an entry (a binary search of the transaction CSR starts, :func:`entry_tx`).

Entry positions equal dataset ids for a full-chain graph: output entry = ``out_id``,
transaction position = ``tx_id``, input entries are the ``inputs`` rows in (tx_id, vin) order.

>>> chain = CaseChain.open(ds, build_flow_graph(ds))
>>> t = int(np.flatnonzero(~np.asarray(chain.graph.is_coinbase))[10])  # a spend
>>> e = int(chain.graph.tx_in_start[t])  # its first input entry
>>> int(chain.in_tx(np.array([e]))[0]) == t
True
>>> ins = ds.arrow("inputs", ["tx_id", "vin", "out_id", "addr_id"]).to_pylist()
>>> row = next(r for r in ins if (r["tx_id"], r["vin"]) == (t, 0))
>>> (int(chain.spent_output(np.array([e]))[0]), int(chain.in_addr(np.array([e]))[0])) == (
...     row["out_id"], row["addr_id"])
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from chainsleuth.errors import DatasetError
from chainsleuth.heuristics.view import SCRIPT_TYPES, ChainView
from chainsleuth.store.rows import numpy_of
from chainsleuth.trace.flowgraph import FlowGraph, build_flow_graph

if TYPE_CHECKING:
    from chainsleuth.budget import MemoryBudget
    from chainsleuth.store.dataset import Dataset
    from chainsleuth.store.rows import PartRows

__all__ = ["CaseChain", "concat_ranges", "entry_tx", "node_entries", "plain", "tx_set"]

I64 = NDArray[np.int64]


def plain(graph: FlowGraph) -> FlowGraph:
    """The graph with every memmap seen as a plain ndarray over the same mapped pages (no copy,
    still read on demand): indexing a ``np.memmap`` costs a Python-level ``__getitem__`` per
    call, which the per-transaction walks of an investigation make hundreds of thousands of.

    >>> g = plain(build_flow_graph(ds))
    >>> type(g.in_node).__name__, g.in_node.flags.owndata
    ('ndarray', False)
    """
    arrays: dict[str, Any] = {
        f.name: np.asarray(getattr(graph, f.name))
        for f in dataclasses.fields(graph)
        if isinstance(getattr(graph, f.name), np.memmap)
    }
    return dataclasses.replace(graph, **arrays) if arrays else graph


def entry_tx(start: I64, entries: I64) -> I64:
    """The transaction position of each entry, given a CSR ``start`` (``tx_in_start`` or
    ``tx_out_start``): a binary search, so a memmapped ``start`` is read at a few pages.

    >>> entry_tx(np.array([0, 1, 3, 3, 4]), np.array([0, 1, 2, 3])).tolist()
    [0, 1, 1, 3]
    """
    # the keys in start's own dtype (int32 or int64): else NumPy casts (reads) all of start
    keys = np.asarray(entries, dtype=np.int64).astype(start.dtype)
    pos = np.searchsorted(start, keys, side="right") - 1
    return np.asarray(pos, dtype=np.int64)


def node_entries(start: I64, entries: I64, nodes: I64) -> I64:
    """The entries of ``nodes`` in a node CSR (``node_recv_start``/``node_recv`` or the spend
    pair), concatenated, sorted (chain order).

    >>> node_entries(np.array([0, 2, 3, 5]), np.array([4, 9, 1, 0, 7]), np.array([0, 2])).tolist()
    [0, 4, 7, 9]
    """
    parts = [
        np.asarray(entries[int(start[n]) : int(start[n + 1])], dtype=np.int64)
        for n in np.asarray(nodes, dtype=np.int64).tolist()
    ]
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(parts))


def tx_set(positions: I64) -> I64:
    """Distinct transaction positions, sorted.

    >>> tx_set(np.array([3, 1, 3])).tolist()
    [1, 3]
    """
    return np.unique(np.asarray(positions, dtype=np.int64))


def concat_ranges(lo: I64, hi: I64) -> I64:
    """The concatenated ranges ``lo[k]:hi[k]``.

    >>> concat_ranges(np.array([0, 5]), np.array([2, 6])).tolist()
    [0, 1, 5]
    """
    n = hi - lo
    if not n.sum():
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(lo - np.concatenate([[0], np.cumsum(n)[:-1]]), n)
    return np.asarray(starts + np.arange(int(n.sum())), dtype=np.int64)


_TYPE_CODE = {name: code for code, name in enumerate(SCRIPT_TYPES)}


def _codes(names: list[Any]) -> NDArray[np.int8]:
    """Script type names → the view's codes (-1: none or unknown)."""
    return np.array([_TYPE_CODE.get(n, -1) if n else -1 for n in names], dtype=np.int8)


@dataclass(slots=True)
class _InputRows:
    """``inputs.out_id`` of input entries, read from the parts by position (cached)."""

    rows: PartRows
    first_in: I64
    """per partition: its first input position (partitions in manifest order)"""
    tx_id: I64
    tx_in_start: I64
    cache: dict[int, int] = field(default_factory=dict)

    def read(self, entries: I64, columns: list[str]) -> dict[str, list[Any]]:
        """Columns of the input rows at ``entries`` (sorted, distinct), checked against the
        graph's (tx_id, vin) of each entry."""
        out: dict[str, list[Any]] = {c: [] for c in columns}
        part = np.searchsorted(self.first_in, entries, side="right") - 1
        tx = entry_tx(self.tx_in_start, entries)
        for p in np.unique(part).tolist():
            sel = part == p
            got = self.rows.take(
                "inputs", int(p), entries[sel] - self.first_in[p], ["tx_id", "vin", *columns]
            )
            tx_ids = np.asarray(got.column("tx_id").to_numpy(), dtype=np.int64)
            vins = np.asarray(got.column("vin").to_numpy(), dtype=np.int64)
            expect_vin = entries[sel] - np.asarray(self.tx_in_start[tx[sel]], dtype=np.int64)
            if not (
                np.array_equal(tx_ids, np.asarray(self.tx_id[tx[sel]]))
                and np.array_equal(vins, expect_vin)
            ):
                raise DatasetError("inputs rows are not in the flow graph's entry order")
            for c in columns:
                out[c].extend(got.column(c).to_pylist())
        return out

    def spent(self, entries: I64) -> I64:
        todo = sorted({int(e) for e in entries.tolist()} - self.cache.keys())
        if todo:
            want = np.array(todo, dtype=np.int64)
            got = self.read(want, ["out_id"])["out_id"]
            for e, o in zip(todo, got, strict=True):
                self.cache[e] = -1 if o is None else int(o)
        return np.array([self.cache[int(e)] for e in entries.tolist()], dtype=np.int64)


@dataclass(slots=True)
class CaseChain:
    """The cluster flow graph plus per-entry addresses and spent outputs, read on demand.

    Holds no whole-chain array in RAM: ``addr`` is the address-level graph, memmapped (built
    from a small view in RAM in tests); spent outputs are cached per input
    entry asked about (100 B each).

    >>> from chainsleuth.trace.flowgraph import _tiny_view
    >>> v = _tiny_view()
    >>> c = CaseChain.from_view(FlowGraph.from_view(v), v)
    >>> c.spent_output(np.array([1])).tolist(), c.out_tx(np.array([2])).tolist()
    ([0], [1])
    """

    graph: FlowGraph
    addr: FlowGraph
    """the address-level graph (its nodes are addr_ids)"""
    n_addr: int
    inputs: _InputRows | None = None
    view: ChainView | None = None
    """the chain view a small example was built from"""

    @classmethod
    def open(
        cls, ds: Dataset, graph: FlowGraph, *, budget: MemoryBudget | None = None
    ) -> CaseChain:
        """For a dataset: addresses from its address-level graph (memmaps, built on first
        use within ``budget``), spent outputs from its ``inputs`` parts."""
        addr = plain(build_flow_graph(ds, level="address", budget=budget))
        rows = ds.lookup.rows
        counts = [p.n_inputs for p in ds.manifest.partitions]
        first_in = np.zeros(len(counts), dtype=np.int64)
        if counts:
            first_in[1:] = np.cumsum(counts[:-1])
        return cls(
            graph=graph,
            addr=addr,
            n_addr=int(ds.manifest.counts.get("addresses", len(addr.node_of_addr))),
            inputs=_InputRows(rows, first_in, graph.tx_id, graph.tx_in_start),
        )

    @classmethod
    def from_view(cls, graph: FlowGraph, view: ChainView) -> CaseChain:
        """From a chain view held in RAM (small examples and tests)."""
        return cls(
            graph=graph,
            addr=FlowGraph.from_view(view),
            n_addr=view.n_addr,
            view=view,
        )

    def in_tx(self, entries: I64) -> I64:
        """Transaction position of input entries."""
        return entry_tx(self.graph.tx_in_start, entries)

    def out_tx(self, entries: I64) -> I64:
        """Transaction position of output entries."""
        return entry_tx(self.graph.tx_out_start, entries)

    def in_addr(self, entries: I64) -> I64:
        """addr_id of input entries (-1: none)."""
        return np.asarray(self.addr.in_node[np.asarray(entries, dtype=np.int64)], dtype=np.int64)

    def out_addr(self, entries: I64) -> I64:
        """addr_id of output entries (-1: none)."""
        return np.asarray(self.addr.out_node[np.asarray(entries, dtype=np.int64)], dtype=np.int64)

    def addr_receipts(self, addrs: Iterable[int]) -> I64:
        """Output entries paying the addresses ``addrs``, sorted (the address graph's
        ``node_recv``)."""
        ids = np.array(sorted({int(a) for a in addrs}), dtype=np.int64)
        return node_entries(self.addr.node_recv_start, self.addr.node_recv, ids)

    def spent_output(self, entries: I64) -> I64:
        """The output entry each input entry spends (-1: coinbase)."""
        entries = np.asarray(entries, dtype=np.int64)
        if self.view is not None:
            return np.asarray(self.view.in_prev_out[entries], dtype=np.int64)
        assert self.inputs is not None
        return self.inputs.spent(entries)

    def sub_view(self, txs: I64) -> tuple[ChainView, I64]:
        """A chain view of the transactions ``txs`` (sorted positions) alone, for the
        heuristics that judge one transaction at a time, and each of its outputs' entry in the
        graph. Addresses are renumbered (equal stays equal); ``in_prev_out`` and
        ``out_spent_by`` are -1. RAM: the view (45 B/tx, 41 B/input, 33 B/output) and the rows
        read for it.

        >>> from chainsleuth.trace.flowgraph import _tiny_view
        >>> v = _tiny_view()
        >>> sub, outs = CaseChain.from_view(FlowGraph.from_view(v), v).sub_view(np.array([1]))
        >>> sub.n_tx, sub.out_value.tolist(), outs.tolist()
        (1, [30, 19], [1, 2])
        """
        g = self.graph
        txs = np.asarray(txs, dtype=np.int64)
        i0 = np.asarray(g.tx_in_start[txs], dtype=np.int64)
        i1 = np.asarray(g.tx_in_start[txs + 1], dtype=np.int64)
        o0 = np.asarray(g.tx_out_start[txs], dtype=np.int64)
        o1 = np.asarray(g.tx_out_start[txs + 1], dtype=np.int64)
        ins = concat_ranges(i0, i1)
        outs = concat_ranges(o0, o1)
        in_addr = self.in_addr(ins)
        out_addr = self.out_addr(outs)
        both = np.concatenate([in_addr, out_addr])
        _, local = np.unique(both, return_inverse=True)
        local = np.where(both >= 0, local - int((both < 0).any()), -1)
        v = self.view
        if v is not None:
            version, locktime = v.version[txs], v.locktime[txs]
            in_value, in_type, in_seq = v.in_value[ins], v.in_type[ins], v.in_sequence[ins]
            out_type = v.out_type[outs]
        else:
            assert self.inputs is not None
            rows = self.inputs.rows
            t = rows.by_id("txs", np.asarray(g.tx_id[txs]), ["tx_id", "version", "locktime"])
            if t.num_rows != len(txs):
                raise DatasetError("transactions of the flow graph missing from the dataset")
            version = numpy_of(t.column("version"))
            locktime = numpy_of(t.column("locktime"))
            got = self.inputs.read(ins, ["value", "script_type", "sequence"])
            in_value = np.array([x or 0 for x in got["value"]], dtype=np.int64)
            in_type = _codes(got["script_type"])
            in_seq = np.array([x or 0 for x in got["sequence"]], dtype=np.int64)
            o = rows.by_id("outputs", outs, ["out_id", "script_type"])
            if o.num_rows != len(outs):
                raise DatasetError("outputs of the flow graph missing from the dataset")
            out_type = _codes(o.column("script_type").to_pylist())
        view = ChainView.from_columns(
            tx_id=np.asarray(g.tx_id[txs]),
            height=np.asarray(g.tx_height[txs]),
            version=version,
            locktime=locktime,
            is_coinbase=np.asarray(g.is_coinbase[txs]),
            n_in=i1 - i0,
            n_out=o1 - o0,
            in_addr=local[: len(ins)],
            in_value=in_value,
            in_type=in_type,
            in_sequence=in_seq,
            in_prev_out=np.full(len(ins), -1, dtype=np.int64),
            out_value=np.asarray(g.out_value[outs]),
            out_addr=local[len(ins) :],
            out_type=out_type,
            out_spent_by=np.full(len(outs), -1, dtype=np.int64),
        )
        return view, outs

    def ins(self, t: int) -> tuple[int, int]:
        """Input entry range of transaction ``t``."""
        g = self.graph
        return int(g.tx_in_start[t]), int(g.tx_in_start[t + 1])

    def outs(self, t: int) -> tuple[int, int]:
        """Output entry range of transaction ``t``."""
        g = self.graph
        return int(g.tx_out_start[t]), int(g.tx_out_start[t + 1])
