"""The flow graph: value moving from input nodes to output nodes, one transaction at a time.

A *node* is an address (``level="address"``) or a cluster of a clustering run
(``level="cluster"``). The graph keeps every input and output *entry* of every transaction, in
chain order, with the node it belongs to, so the trace policies can split value pro-rata
(haircut), in order (FIFO) or not at all (poison), and every hop keeps its transaction for
evidence. All columns are flat numpy arrays in CSR layout, readable by numba kernels:

- inputs of transaction position ``t``: entries ``tx_in_start[t]:tx_in_start[t + 1]``
  (``in_node``, ``in_value``);
- outputs likewise (``out_node``, ``out_value``);
- per node, its receiving output entries ``node_recv[node_recv_start[n]:node_recv_start[n+1]]``
  and its spending input entries ``node_spend[...]``, both in chain order, with their running
  totals every ``CUM_STEP`` entries (``recv_ckpt``, ``spend_ckpt``:
  :mod:`chainsleuth.trace.checkpoints`).

A node's receipts and spends in chain order define its satoshi queue: satoshi ``k`` it spends
is satoshi ``k`` it received under FIFO. An entry's coordinates there (``out_cum``/``in_cum``:
the node's total received/spent before it) and in its transaction (``out_off``/``in_off``:
the satoshis of the entries before it on its side) are derived where FIFO needs them, not
stored (the properties and methods of that name compute them for the whole graph, for tests).

Id columns are int32 where every value they hold is below :data:`NARROW_LIMIT` (2**31), else
int64, chosen from the counts (:func:`column_dtypes`): node ids (``node_of_addr``,
``in_node``, ``out_node``) by the number of nodes, ``tx_id`` and the entries' transactions by
the number of transactions, input entry indices (``tx_in_start``, ``node_spend`` and its
starts) by the number of inputs, output ones likewise, ``node_size`` by the number of
addresses. Values and running totals (satoshis) are int64.

>>> g = FlowGraph.from_view(_tiny_view())
>>> g.n_node, g.tx_in_total.tolist(), g.tx_out_total.tolist()
(3, [0, 50], [50, 49])
>>> g.receipts_of(1).tolist(), g.spends_of(0).tolist()
([1], [1])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from chainsleuth.heuristics.view import ChainView
from chainsleuth.trace.checkpoints import checkpoints, entry_cum_array
from chainsleuth.trace.kernels import entry_cums

if TYPE_CHECKING:
    from chainsleuth.budget import MemoryBudget
    from chainsleuth.store.dataset import Dataset

__all__ = ["NARROW_LIMIT", "FlowGraph", "build_flow_graph", "column_dtypes", "entry_offsets"]

I64 = NDArray[np.int64]

NARROW_LIMIT = 2**31
"""an id column is int32 when its count (the largest value it can hold) is below this, else
int64; lowering it (tests) forces the wide dtypes"""

ID_COLUMNS: dict[str, str] = {
    "node_of_addr": "node",
    "in_node": "node",
    "out_node": "node",
    "node_size": "addr",
    "tx_id": "tx",
    "in_tx": "tx",
    "out_tx": "tx",
    "tx_in_start": "in",
    "node_spend_start": "in",
    "node_spend": "in",
    "tx_out_start": "out",
    "node_recv_start": "out",
    "node_recv": "out",
}
"""id columns and the count that bounds their values (see :func:`column_dtypes`)"""


def column_dtypes(
    *, node: int, addr: int, tx: int, n_in: int, n_out: int
) -> dict[str, np.dtype[Any]]:
    """The dtype of every id column (:data:`ID_COLUMNS`) for these counts: int32 when the
    count is below :data:`NARROW_LIMIT`, else int64.

    >>> d = column_dtypes(node=10, addr=10, tx=5, n_in=2**31, n_out=7)
    >>> d["in_node"].name, d["node_spend"].name, d["node_recv"].name
    ('int32', 'int64', 'int32')
    """
    counts = {"node": node, "addr": addr, "tx": tx, "in": n_in, "out": n_out}
    narrow, wide = np.dtype("<i4"), np.dtype("<i8")
    return {
        name: narrow if int(counts[kind]) < NARROW_LIMIT else wide
        for name, kind in ID_COLUMNS.items()
    }


def entry_offsets(start: I64, values: I64) -> I64:
    """Per entry, the satoshis of the entries before it in its transaction (``start``: the
    transaction CSR of that side); what the FIFO kernels sum on the fly.

    >>> entry_offsets(np.array([0, 1, 3]), np.array([50, 30, 19])).tolist()
    [0, 0, 30]
    """
    return _within_group_offset(np.asarray(start, dtype=np.int64), np.asarray(values))


def _offsets(counts: I64) -> I64:
    start = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=start[1:])
    return start


def _within_group_offset(start: I64, values: I64) -> I64:
    """Exclusive running sum of ``values`` restarting at each CSR group ``start``."""
    run = np.cumsum(values) - values
    counts = np.diff(start)
    base = (
        np.repeat(run[start[:-1].clip(max=max(len(values) - 1, 0))], counts) if len(values) else run
    )
    return np.asarray(run - base, dtype=np.int64)


def _node_csr(node: I64, n_node: int, values: I64) -> tuple[I64, I64, I64]:
    """Per node: CSR start, entry indices in chain order, and each entry's running sum."""
    has = node >= 0
    idx = np.flatnonzero(has).astype(np.int64)
    order = idx[np.argsort(node[idx], kind="stable")]
    start = _offsets(np.bincount(node[idx], minlength=n_node).astype(np.int64))
    cum_sorted = _within_group_offset(start, values[order])
    cum = np.full(len(node), -1, dtype=np.int64)
    cum[order] = cum_sorted
    return start, order, cum


@dataclass(frozen=True, slots=True, eq=False)
class FlowGraph:
    """Transactions as value flows between nodes (see the module docstring)."""

    level: str
    """``address`` or ``cluster``"""
    run: str | None
    """clustering run the cluster nodes come from (None at address level)"""
    n_node: int
    node_of_addr: I64
    """node of every addr_id (identity at address level)"""
    node_size: I64
    """addresses per node"""
    tx_id: I64
    """dataset tx_id of every transaction position (int32 or int64, as every id column)"""
    tx_height: NDArray[np.int32]
    tx_time: I64
    """block time, seconds since the epoch (0 when unknown)"""
    is_coinbase: NDArray[np.bool_]
    tx_in_start: I64
    tx_out_start: I64
    tx_in_total: I64
    tx_out_total: I64
    in_node: I64
    in_value: I64
    out_node: I64
    out_value: I64
    node_recv_start: I64
    node_recv: I64
    node_spend_start: I64
    node_spend: I64
    recv_ckpt: I64
    """running totals of the nodes' receipts every ``CUM_STEP`` entries of ``node_recv``"""
    spend_ckpt: I64
    """likewise for ``node_spend``"""
    node_total_in: I64
    node_total_out: I64

    @classmethod
    def from_view(
        cls,
        view: ChainView,
        node_of_addr: I64 | None = None,
        *,
        tx_time: I64 | None = None,
        level: str | None = None,
        run: str | None = None,
    ) -> FlowGraph:
        """Build the graph from a chain view; ``node_of_addr`` maps addr_id → node (identity
        when None, i.e. address level).

        >>> FlowGraph.from_view(_tiny_view(), np.array([0, 0, 1])).n_node
        2
        """
        if node_of_addr is None:
            mapping = np.arange(view.n_addr, dtype=np.int64)
        else:
            mapping = np.asarray(node_of_addr, dtype=np.int64)
            if len(mapping) < view.n_addr:
                extra = np.arange(len(mapping), view.n_addr, dtype=np.int64)
                mapping = np.concatenate([mapping, extra])
        n_node = int(mapping.max(initial=-1)) + 1
        in_node = np.where(view.in_addr >= 0, mapping[view.in_addr.clip(min=0)], -1)
        out_node = np.where(view.out_addr >= 0, mapping[view.out_addr.clip(min=0)], -1)
        in_value = np.where(in_node >= 0, view.in_value, 0).astype(np.int64)
        out_value = view.out_value.astype(np.int64)
        tx_in_total = np.add.reduceat(in_value, view.in_start[:-1]) if view.n_in else None
        n_in = np.diff(view.in_start)
        n_out = np.diff(view.out_start)
        in_total = np.zeros(view.n_tx, dtype=np.int64)
        if tx_in_total is not None:
            in_total[n_in > 0] = tx_in_total[n_in > 0]
        out_total = np.zeros(view.n_tx, dtype=np.int64)
        if view.n_out:
            sums = np.add.reduceat(out_value, view.out_start[:-1].clip(max=view.n_out - 1))
            out_total[n_out > 0] = sums[n_out > 0]
        recv_start, recv, _ = _node_csr(out_node, n_node, out_value)
        spend_start, spend, _ = _node_csr(in_node, n_node, in_value)
        node_size = np.bincount(mapping, minlength=n_node).astype(np.int64)
        total_in = np.bincount(out_node[out_node >= 0], out_value[out_node >= 0], n_node)
        total_out = np.bincount(in_node[in_node >= 0], in_value[in_node >= 0], n_node)
        times = np.zeros(view.n_tx, dtype=np.int64) if tx_time is None else tx_time
        n_tx = max(int(view.n_tx), int(np.max(view.tx_id, initial=-1)) + 1)
        dt = column_dtypes(
            node=n_node, addr=len(mapping), tx=n_tx, n_in=view.n_in, n_out=view.n_out
        )
        ids = {
            "node_of_addr": mapping, "node_size": node_size, "tx_id": view.tx_id,
            "tx_in_start": view.in_start, "tx_out_start": view.out_start, "in_node": in_node,
            "out_node": out_node, "node_recv_start": recv_start, "node_recv": recv,
            "node_spend_start": spend_start, "node_spend": spend,
        }  # fmt: skip
        return cls(
            level=level or ("address" if node_of_addr is None else "cluster"),
            run=run,
            n_node=n_node,
            tx_height=view.height,
            tx_time=np.asarray(times, dtype=np.int64),
            is_coinbase=view.is_coinbase,
            tx_in_total=in_total,
            tx_out_total=out_total,
            in_value=in_value,
            out_value=out_value,
            recv_ckpt=checkpoints(recv_start, recv, out_value),
            spend_ckpt=checkpoints(spend_start, spend, in_value),
            node_total_in=np.rint(total_in).astype(np.int64),
            node_total_out=np.rint(total_out).astype(np.int64),
            **{name: np.asarray(arr).astype(dt[name]) for name, arr in ids.items()},
        )

    @property
    def n_tx(self) -> int:
        """Number of transactions."""
        return len(self.tx_id)

    def receipts_of(self, node: int) -> I64:
        """Output entries paying ``node``, in chain order.

        >>> FlowGraph.from_view(_tiny_view()).receipts_of(2).tolist()
        [2]
        """
        return self.node_recv[self.node_recv_start[node] : self.node_recv_start[node + 1]]

    def spends_of(self, node: int) -> I64:
        """Input entries spending from ``node``, in chain order.

        >>> FlowGraph.from_view(_tiny_view()).spends_of(0).tolist()
        [1]
        """
        return self.node_spend[self.node_spend_start[node] : self.node_spend_start[node + 1]]

    def in_tx(self) -> I64:
        """Transaction position of every input entry."""
        return np.repeat(np.arange(self.n_tx, dtype=np.int64), np.diff(self.tx_in_start))

    def out_tx(self) -> I64:
        """Transaction position of every output entry."""
        return np.repeat(np.arange(self.n_tx, dtype=np.int64), np.diff(self.tx_out_start))

    @property
    def in_cum(self) -> I64:
        """Per input entry, its node's total spent before it (-1 without a node); computed
        over the whole graph (tests, small graphs).

        >>> FlowGraph.from_view(_tiny_view()).in_cum.tolist()
        [-1, 0]
        """
        return entry_cum_array(self.node_spend_start, self.node_spend, self.in_value)

    @property
    def out_cum(self) -> I64:
        """Per output entry, its node's total received before it (-1 without a node);
        computed over the whole graph (tests, small graphs)."""
        return entry_cum_array(self.node_recv_start, self.node_recv, self.out_value)

    def spend_cums(self, node: int, entries: I64) -> I64:
        """``node``'s total spent before each of its input ``entries`` (a few reads each)."""
        return np.asarray(
            entry_cums(
                self.node_spend_start, self.node_spend, self.spend_ckpt, self.in_value,
                int(node), np.asarray(entries, dtype=np.int64),
            ),
            dtype=np.int64,
        )  # fmt: skip

    def recv_cums(self, node: int, entries: I64) -> I64:
        """``node``'s total received before each of its output ``entries``.

        >>> FlowGraph.from_view(_tiny_view()).recv_cums(0, np.array([0])).tolist()
        [0]
        """
        return np.asarray(
            entry_cums(
                self.node_recv_start, self.node_recv, self.recv_ckpt, self.out_value,
                int(node), np.asarray(entries, dtype=np.int64),
            ),
            dtype=np.int64,
        )  # fmt: skip

    def in_off(self) -> I64:
        """Per input entry, the input satoshis before it in its transaction (computed)."""
        return entry_offsets(self.tx_in_start, self.in_value)

    def out_off(self) -> I64:
        """Per output entry, the output satoshis before it in its transaction (computed)."""
        return entry_offsets(self.tx_out_start, self.out_value)

    def nbytes(self) -> int:
        """Memory held by the graph's arrays, in bytes.

        >>> FlowGraph.from_view(_tiny_view()).nbytes() > 0
        True
        """
        return sum(
            int(getattr(self, name).nbytes)
            for name in self.__slots__
            if isinstance(getattr(self, name), np.ndarray)
        )


def _tiny_view() -> ChainView:
    """Coinbase paying address 0 (50), then address 0 paying 1 (30) and 2 (19), fee 1."""
    return ChainView.from_columns(
        tx_id=[0, 1], height=[0, 1], version=[1, 2], locktime=[0, 0], is_coinbase=[True, False],
        n_in=[1, 1], n_out=[1, 2], in_addr=[-1, 0], in_value=[0, 50], in_type=[-1, 2],
        in_sequence=[0, 0], in_prev_out=[-1, 0], out_value=[50, 30, 19], out_addr=[0, 1, 2],
        out_type=[2, 2, 2], out_spent_by=[1, -1, -1],
    )  # fmt: skip


def build_flow_graph(
    ds: Dataset,
    run: str | None = None,
    *,
    level: str = "cluster",
    view: ChainView | None = None,
    allow_stale: bool = False,
    budget: MemoryBudget | None = None,
) -> FlowGraph:
    """The flow graph of a dataset at cluster level (``run``, default the newest clustering run)
    or at address level (``level="address"``).

    A stale run (made at an older tip than the dataset's) is refused with StaleRunError before
    anything is loaded, unless ``allow_stale`` (then a StaleRunWarning); see
    :func:`chainsleuth.cluster.runs.check_fresh`.

    Without ``view`` the graph is the persisted one, memmapped from disk
    (:func:`chainsleuth.trace.diskgraph.disk_flow_graph`: built on first use within
    ``budget``, default ``--memory-limit``'s, then reused). With ``view`` (a chain view the
    caller already holds) it is built in RAM from it.

    >>> g = build_flow_graph(ds)  # ds: the regtest chain, clustered
    >>> (g.level, g.n_tx, g.run, g.in_node.flags.writeable)
    ('cluster', 3981, 'default', False)
    """
    from chainsleuth.cluster.runs import check_fresh, latest_run, load_address_cluster
    from chainsleuth.errors import InputError

    if level not in ("cluster", "address"):
        raise InputError(f"unknown flow graph level: {level!r} (cluster or address)")
    name = ""
    if level == "cluster":
        name = run if run is not None else latest_run(ds)
        check_fresh(ds, name, allow_stale=allow_stale)
    if view is None:
        from chainsleuth.trace.diskgraph import disk_flow_graph

        return disk_flow_graph(ds, name or None, level=level, budget=budget)
    from chainsleuth.store.chainview import load_tx_times

    chain = view
    times = load_tx_times(ds)
    if level == "address":
        return FlowGraph.from_view(chain, None, tx_time=times, level="address")
    mapping = load_address_cluster(ds, name)
    return FlowGraph.from_view(chain, mapping, tx_time=times, level="cluster", run=name)
