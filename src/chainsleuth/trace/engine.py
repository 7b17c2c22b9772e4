"""The trace engine: follow value from seed nodes backwards or forwards, hop by hop.

``trace`` runs the hop kernels of :mod:`chainsleuth.trace.kernels` under a policy
(:mod:`chainsleuth.trace.policies`), applies the limits (hops, minimum value, time window) and
the stop conditions (stop categories, cluster size) between hops, and returns a
:class:`TraceResult`: the flow subgraph (edges: value, transaction, hop; money direction
``src → dst``) and the endpoints reached with the value attributed to each.

>>> from chainsleuth.trace.flowgraph import FlowGraph, _tiny_view
>>> g = FlowGraph.from_view(_tiny_view())
>>> r = trace(g, [1], direction="back", hops=3, policy="haircut")
>>> [(e.node, e.kind, round(e.value)) for e in r.endpoints()]
[(0, 'mined', 30)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from chainsleuth.errors import InputError, NotFoundError
from chainsleuth.trace.flowgraph import FlowGraph, build_flow_graph
from chainsleuth.trace.kernels import HopOut, hop_back, hop_forward
from chainsleuth.trace.labels import NodeLabels, load_node_labels
from chainsleuth.trace.policies import (
    ENDPOINT_KINDS,
    HAIRCUT,
    HOP_LIMIT,
    LARGE,
    POISON,
    STOP,
    policy_code,
)

if TYPE_CHECKING:
    from chainsleuth.budget import MemoryBudget
    from chainsleuth.store.dataset import Dataset

__all__ = ["Endpoint", "Seed", "TraceResult", "resolve_seeds", "trace"]

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
Progress = Callable[[int, int], None]
Front = tuple[I64, I64, F64, F64, I64]
"""packets: node, transaction position, value, FIFO offset, seed index"""


@dataclass(frozen=True, slots=True)
class Seed:
    """Where a trace starts: value at ``node`` tied to transaction position ``tx``.

    Going back, ``tx`` is the spend to explain (only receipts before it count) and ``value``
    defaults to the node's inputs in it; without ``tx``, everything the node ever received is
    explained. Going forward, ``tx`` is the receipt to follow (only later spends count) and
    ``value`` defaults to the node's outputs in it; without ``tx``, every receipt from others
    (transactions the node does not itself spend in) is followed. ``lo`` is the packet's offset
    in the node's satoshi queue (FIFO); it defaults to that of the node's first entry in ``tx``.
    """

    node: int
    tx: int | None = None
    value: float | None = None
    lo: float = 0.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Value that ended at ``node`` for reason ``kind`` via transaction position ``tx``."""

    node: int
    kind: str
    value: float
    tx: int
    hop: int
    seed: int = -1
    """index of the seed the value came from (-1: summed over seeds)"""


@dataclass(slots=True)
class TraceResult:
    """A traced flow subgraph and the endpoints reached (see the module docstring)."""

    graph: FlowGraph
    direction: str
    policy: str
    seeds: list[Seed]
    labels: NodeLabels
    edge_src: I64
    edge_dst: I64
    edge_tx: I64
    edge_value: F64
    edge_hop: I64
    edge_seed: I64
    """index of the seed each edge's value came from"""
    end_node: I64
    end_kind: I64
    end_tx: I64
    end_value: F64
    end_hop: I64
    end_seed: I64
    below_min: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    seed_value: float = 0.0
    """value the seeds started with (the denominator of :meth:`dropped` shares)"""

    def endpoints(
        self, kinds: Sequence[str] | None = None, *, per_seed: bool = False
    ) -> list[Endpoint]:
        """Endpoints aggregated by (node, kind, tx) — and seed when ``per_seed`` — largest
        value first.

        >>> from chainsleuth.trace.flowgraph import FlowGraph, _tiny_view
        >>> trace(FlowGraph.from_view(_tiny_view()), [0], direction="forward",
        ...       hops=1, policy="poison").endpoints()[0].kind
        'hop-limit'
        """
        if not len(self.end_node):
            return []
        seed = self.end_seed if per_seed else np.full(len(self.end_node), -1, np.int64)
        uniq, inv = group_rows([self.end_node, self.end_kind, self.end_tx, seed])
        if self.policy == "poison":
            # the same flow reached along several paths counts once
            value = np.zeros(len(uniq), dtype=np.float64)
            np.maximum.at(value, inv, self.end_value)
        else:
            value = np.bincount(inv, self.end_value, len(uniq)).astype(np.float64)
        hop = np.full(len(uniq), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(hop, inv, self.end_hop)
        wanted = None if kinds is None else {ENDPOINT_KINDS.index(k) for k in kinds}
        rows = [
            Endpoint(int(n), ENDPOINT_KINDS[int(k)], float(v), int(t), int(h), int(s))
            for (n, k, t, s), v, h in zip(uniq, value, hop, strict=True)
            if wanted is None or int(k) in wanted
        ]
        rows.sort(key=lambda e: (e.seed, -e.value, e.node, e.tx))
        return rows

    def endpoint_totals(self) -> list[tuple[int, str, float]]:
        """Value per (node, kind), largest first.

        >>> from chainsleuth.trace.flowgraph import FlowGraph, _tiny_view
        >>> trace(FlowGraph.from_view(_tiny_view()), [1], hops=2).endpoint_totals()
        [(0, 'mined', 30.0)]
        """
        totals: dict[tuple[int, str], float] = {}
        for e in self.endpoints():
            totals[(e.node, e.kind)] = totals.get((e.node, e.kind), 0.0) + e.value
        return sorted(((n, k, v) for (n, k), v in totals.items()), key=lambda r: -r[2])

    def dropped(self) -> dict[str, float]:
        """Value each limit cut off, by limit: ``min_value`` (packets below ``min_value``),
        ``hops`` (still in flight after the last hop), ``time_window`` (the next hop lay
        outside ``start_time``/``end_time``) and ``max_cluster_size`` (reached a larger node,
        not expanded); endpoint values summed like :meth:`endpoints`.

        >>> from chainsleuth.trace.flowgraph import FlowGraph, _tiny_view
        >>> r = trace(FlowGraph.from_view(_tiny_view()), [0], direction="forward", hops=1)
        >>> r.dropped()["hops"], r.seed_value
        (49.0, 50.0)
        """
        kinds = {"hop-limit": "hops", "time-window": "time_window", "large": "max_cluster_size"}
        out = {"min_value": float(self.below_min), "hops": 0.0, "time_window": 0.0}
        out["max_cluster_size"] = 0.0
        for e in self.endpoints(list(kinds)):
            out[kinds[e.kind]] += e.value
        return out

    def edges(self) -> list[tuple[int, int, int, float, int]]:
        """Edges ``(src, dst, tx, value, hop)`` aggregated by (src, dst, tx) — summed, or for
        poison the largest, as one flow reached twice counts once — by hop then value.

        >>> from chainsleuth.trace.flowgraph import FlowGraph, _tiny_view
        >>> trace(FlowGraph.from_view(_tiny_view()), [1], hops=1, policy="fifo").edges()
        [(0, 1, 1, 30.0, 1)]
        """
        if not len(self.edge_src):
            return []
        uniq, inv = group_rows([self.edge_src, self.edge_dst, self.edge_tx])
        if self.policy == "poison":
            value = np.zeros(len(uniq), dtype=np.float64)
            np.maximum.at(value, inv, self.edge_value)
        else:
            value = np.bincount(inv, self.edge_value, len(uniq)).astype(np.float64)
        hop = np.full(len(uniq), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(hop, inv, self.edge_hop)
        rows = [
            (int(s), int(d), int(t), float(v), int(h))
            for (s, d, t), v, h in zip(uniq, value, hop, strict=True)
        ]
        rows.sort(key=lambda r: (r[4], -r[3]))
        return rows

    def nodes(self) -> I64:
        """Every node in the subgraph (seeds, edge ends, endpoints), sorted.

        >>> from chainsleuth.trace.flowgraph import FlowGraph, _tiny_view
        >>> trace(FlowGraph.from_view(_tiny_view()), [1], hops=1).nodes().tolist()
        [0, 1]
        """
        seeds = np.array([s.node for s in self.seeds], dtype=np.int64)
        return np.unique(np.concatenate([seeds, self.edge_src, self.edge_dst, self.end_node]))


def _time_window(graph: FlowGraph, start: int | None, end: int | None) -> tuple[int, int]:
    """Transaction positions covered by [start, end] (epoch seconds; block times made
    monotonic by a running maximum). Without bounds nothing is read (the whole chain)."""
    if start is None and end is None:
        return 0, graph.n_tx - 1
    mono = np.maximum.accumulate(graph.tx_time) if graph.n_tx else graph.tx_time
    lo = 0 if start is None else int(np.searchsorted(mono, start, side="left"))
    hi = graph.n_tx - 1 if end is None else int(np.searchsorted(mono, end, side="right")) - 1
    return lo, hi


def _run_hop(
    graph: FlowGraph,
    back: bool,
    policy: int,
    front: tuple[Any, ...],
    win: tuple[int, int],
    min_value: float,
    in_tx: I64,
    out_tx: I64,
) -> HopOut:
    node, tx, value, lo = front[:4]
    cap = max(1024, 16 * len(node))
    while True:
        if back:
            res = hop_back(
                policy, node, tx, value, lo, win[0], win[1], min_value, graph.is_coinbase,
                graph.tx_in_start, graph.tx_in_total, graph.in_node, graph.in_value,
                graph.node_spend_start, graph.node_spend, graph.spend_ckpt, graph.tx_out_start,
                graph.out_value, graph.node_recv_start, graph.node_recv, graph.recv_ckpt,
                out_tx, cap,
            )  # fmt: skip
        else:
            res = hop_forward(
                policy, node, tx, value, lo, win[0], win[1], min_value, graph.node_total_out,
                graph.tx_out_start, graph.tx_in_total, graph.tx_out_total, graph.out_node,
                graph.out_value, graph.node_recv_start, graph.node_recv, graph.recv_ckpt,
                graph.tx_in_start, graph.in_value, graph.node_spend_start, graph.node_spend,
                graph.spend_ckpt, in_tx, cap,
            )  # fmt: skip
        need = max(res[11], res[12])
        if need <= cap:
            return res
        cap = need


def _seed_packets(graph: FlowGraph, seed: Seed, back: bool) -> list[tuple[int, int, float, float]]:
    """The packets (node, tx, value, lo) one seed starts as (see :class:`Seed`)."""
    n = seed.node
    if seed.tx is None:
        if back:
            return [(n, graph.n_tx, float(graph.node_total_in[n]), seed.lo)]
        out: list[tuple[int, int, float, float]] = []
        recv = graph.node_recv[graph.node_recv_start[n] : graph.node_recv_start[n + 1]]
        vals = np.asarray(graph.out_value[np.asarray(recv, dtype=np.int64)], dtype=np.int64)
        cums = np.cumsum(vals) - vals  # the node's running total before each receipt
        key = graph.tx_out_start.dtype.type  # a key of another dtype makes NumPy cast (read) it
        for o, v, c in zip(recv.tolist(), vals.tolist(), cums.tolist(), strict=True):
            t = int(np.searchsorted(graph.tx_out_start, key(o), side="right")) - 1
            ins = graph.in_node[graph.tx_in_start[t] : graph.tx_in_start[t + 1]]
            if not (ins == n).any():
                out.append((n, t, float(v), float(c)))
        return out
    t = int(seed.tx)
    if not 0 <= t < graph.n_tx:
        raise NotFoundError(f"transaction position not in flow graph: {t}")
    if back:
        i0, i1 = graph.tx_in_start[t], graph.tx_in_start[t + 1]
        mine = np.flatnonzero(graph.in_node[i0:i1] == n) + i0
        values, cums = graph.in_value[mine], graph.spend_cums(n, mine)
    else:
        o0, o1 = graph.tx_out_start[t], graph.tx_out_start[t + 1]
        mine = np.flatnonzero(graph.out_node[o0:o1] == n) + o0
        values, cums = graph.out_value[mine], graph.recv_cums(n, mine)
    if seed.value is not None:
        lo = float(cums[0]) if len(cums) and seed.lo == 0.0 else seed.lo
        return [(n, t, float(seed.value), lo)]
    return [(n, t, float(v), float(c)) for v, c in zip(values.tolist(), cums.tolist(), strict=True)]


def _seed_arrays(graph: FlowGraph, seeds: Sequence[Seed], back: bool) -> Front:
    rows: list[tuple[int, int, float, float, int]] = []
    for idx, seed in enumerate(seeds):
        if not 0 <= seed.node < graph.n_node:
            raise NotFoundError(f"node not in flow graph: {seed.node}")
        rows.extend((*p, idx) for p in _seed_packets(graph, seed, back))
    return (
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=np.int64),
        np.array([r[2] for r in rows], dtype=np.float64),
        np.array([r[3] for r in rows], dtype=np.float64),
        np.array([r[4] for r in rows], dtype=np.int64),
    )


def trace(
    source: Dataset | FlowGraph,
    seeds: Sequence[Seed | int | str],
    *,
    direction: str = "back",
    hops: int = 5,
    policy: str = "haircut",
    min_value: float = 1.0,
    start_time: int | None = None,
    end_time: int | None = None,
    stop_categories: Sequence[str] = ("exchange",),
    max_cluster_size: int | None = None,
    labels: NodeLabels | None = None,
    run: str | None = None,
    per_seed: bool = True,
    progress: Progress | None = None,
    allow_stale: bool = False,
    budget: MemoryBudget | None = None,
) -> TraceResult:
    """Trace value from ``seeds`` (Seed, node ids, or addresses when ``source`` is a dataset).

    ``direction``: ``back`` (where did it come from) or ``forward`` (where did it go); ``hops``:
    transactions crossed at most; ``policy``: poison, haircut or fifo; packets below
    ``min_value`` sats are dropped (their total is ``below_min``); ``start_time``/``end_time``
    (epoch seconds) bound the transactions crossed; nodes of a ``stop_categories`` category and
    nodes with more than ``max_cluster_size`` addresses are recorded as endpoints, not expanded.
    ``per_seed=False`` pools the seeds (faster; every endpoint and edge then has seed 0).
    A stale clustering run is refused unless ``allow_stale`` (see
    :func:`~chainsleuth.trace.flowgraph.build_flow_graph`); ``budget`` bounds the graph's
    first build.

    >>> from chainsleuth.trace.flowgraph import FlowGraph, _tiny_view
    >>> r = trace(FlowGraph.from_view(_tiny_view()), [0], direction="forward", hops=1)
    >>> [(e.node, e.kind, round(e.value)) for e in r.endpoints()]
    [(1, 'hop-limit', 30), (2, 'hop-limit', 19), (0, 'fee', 1)]
    """
    if direction not in ("back", "forward"):
        raise InputError(f"unknown trace direction: {direction!r} (back or forward)")
    if hops < 1:
        raise InputError(f"hops must be at least 1: {hops}")
    code = policy_code(policy)
    if isinstance(source, FlowGraph):
        graph = source
        node_labels = labels if labels is not None else NodeLabels()
    else:
        graph = build_flow_graph(source, run, allow_stale=allow_stale, budget=budget)
        node_labels = labels if labels is not None else load_node_labels(source, graph)
    seed_list = resolve_seeds(source, graph, seeds)
    back = direction == "back"
    win = _time_window(graph, start_time, end_time)
    stop_mask = np.zeros(graph.n_node, dtype=np.bool_)
    stop_mask[node_labels.nodes_in(stop_categories)] = True
    large_mask = (
        graph.node_size > max_cluster_size
        if max_cluster_size is not None
        else np.zeros(graph.n_node, dtype=np.bool_)
    )
    in_tx = graph.in_tx()
    out_tx = graph.out_tx()
    front = _seed_arrays(graph, seed_list, back)
    seed_value = float(front[2].sum())
    if not per_seed:
        front = (*front[:4], np.zeros(len(front[4]), dtype=np.int64))
    edges: list[tuple[I64, I64, I64, F64, I64, I64]] = []
    ends: list[tuple[I64, I64, I64, F64, I64, I64]] = []
    seen_poison: set[tuple[int, int, int]] = set()
    below = 0.0
    for hop in range(1, hops + 1):
        if not len(front[0]):
            break
        res = _run_hop(graph, back, code, front, win, min_value, in_tx, out_tx)
        nn, ne = res[11], res[12]
        below += res[13]
        n_node, n_tx, n_prev = res[0][:nn], res[1][:nn], res[4][:nn]
        n_val, n_lo = res[2][:nn], res[3][:nn]
        n_par = res[5][:nn]
        n_seed: I64 = front[4][n_par]
        ends.append(
            (res[6][:ne], res[7][:ne], res[8][:ne], res[9][:ne], np.full(ne, hop, np.int64),
             front[4][res[10][:ne]])
        )  # fmt: skip
        src, dst = (n_node, n_prev) if back else (n_prev, n_node)
        if code == POISON:
            # one flow per packet and (node, tx): the node's entries in it summed
            flows, inv = group_rows([src, dst, n_tx, n_seed, n_par])
            flow_val = np.bincount(inv, n_val, len(flows)).astype(np.float64)
            edges.append(
                (flows[:, 0], flows[:, 1], flows[:, 2], flow_val,
                 np.full(len(flows), hop, np.int64), flows[:, 3])
            )  # fmt: skip
        else:
            edges.append((src, dst, n_tx, n_val, np.full(nn, hop, np.int64), n_seed))
        if code == POISON:
            n_node, n_tx, n_val, n_lo, n_seed = _poison_once(
                (n_node, n_tx, n_val, n_lo, n_seed), n_par, seen_poison
            )
        elif code == HAIRCUT:
            n_node, n_tx, n_val, n_lo, n_seed = _merge_haircut((n_node, n_tx, n_val, n_lo, n_seed))
        small = n_val < min_value
        below += float(n_val[small].sum())
        for mask, kind in (
            (stop_mask[n_node] & ~small, STOP),
            (large_mask[n_node] & ~small, LARGE),
        ):
            ends.append(
                (n_node[mask], np.full(int(mask.sum()), kind, np.int64), n_tx[mask], n_val[mask],
                 np.full(int(mask.sum()), hop, np.int64), n_seed[mask])
            )  # fmt: skip
        go = ~small & ~stop_mask[n_node] & ~large_mask[n_node]
        front = (n_node[go], n_tx[go], n_val[go], n_lo[go], n_seed[go])
        if progress is not None:
            progress(hop, hops)
    if len(front[0]):
        node, tx, value, _lo, seed = front
        ends.append(
            (node, np.full(len(node), HOP_LIMIT, np.int64), tx, value,
             np.full(len(node), hops, np.int64), seed)
        )  # fmt: skip
    return TraceResult(
        graph=graph,
        direction=direction,
        policy=policy,
        seeds=seed_list,
        labels=node_labels,
        edge_src=_cat([e[0] for e in edges], np.int64),
        edge_dst=_cat([e[1] for e in edges], np.int64),
        edge_tx=_cat([e[2] for e in edges], np.int64),
        edge_value=_cat([e[3] for e in edges], np.float64),
        edge_hop=_cat([e[4] for e in edges], np.int64),
        edge_seed=_cat([e[5] for e in edges], np.int64),
        end_node=_cat([e[0] for e in ends], np.int64),
        end_kind=_cat([e[1] for e in ends], np.int64),
        end_tx=_cat([e[2] for e in ends], np.int64),
        end_value=_cat([e[3] for e in ends], np.float64),
        end_hop=_cat([e[4] for e in ends], np.int64),
        end_seed=_cat([e[5] for e in ends], np.int64),
        below_min=below,
        params={
            "direction": direction,
            "hops": hops,
            "policy": policy,
            "min_value": min_value,
            "start_time": start_time,
            "end_time": end_time,
            "stop_categories": list(stop_categories),
            "max_cluster_size": max_cluster_size,
            "level": graph.level,
            "run": graph.run,
        },
        seed_value=seed_value,
    )


def group_rows(columns: Sequence[I64]) -> tuple[I64, I64]:
    """Distinct rows of equal-length int columns (sorted) and each row's group index; a
    lexsort-based ``np.unique(..., axis=0, return_inverse=True)``.

    >>> u, inv = group_rows([np.array([2, 1, 2]), np.array([5, 5, 5])])
    >>> u.tolist(), inv.tolist()
    ([[1, 5], [2, 5]], [1, 0, 1])
    """
    n = len(columns[0])
    if n == 0:
        return np.zeros((0, len(columns)), dtype=np.int64), np.zeros(0, dtype=np.int64)
    lows = [int(c.min()) for c in columns]
    spans = [int(c.max()) - lo + 1 for c, lo in zip(columns, lows, strict=True)]
    if float(np.prod([float(x) for x in spans])) < 2.0**62:
        # one packed int64 key per row: a single sort instead of a lexsort
        key = np.zeros(n, dtype=np.int64)
        for c, lo, span in zip(columns, lows, spans, strict=True):
            key = key * span + (c - lo)
        order = np.argsort(key, kind="stable")
        key_sorted = key[order]
        change = np.empty(n, dtype=np.bool_)
        change[0] = True
        np.not_equal(key_sorted[1:], key_sorted[:-1], out=change[1:])
        group_sorted = np.cumsum(change) - 1
        inv = np.empty(n, dtype=np.int64)
        inv[order] = group_sorted
        firsts = order[change]
        uniq = np.stack([np.asarray(c)[firsts] for c in columns], axis=1).astype(np.int64)
        return uniq, inv
    order = np.lexsort(tuple(reversed(columns)))
    ordered = [np.asarray(c)[order] for c in columns]
    change = np.zeros(n, dtype=np.bool_)
    change[0] = True
    for c in ordered:
        change[1:] |= c[1:] != c[:-1]
    group_sorted = np.cumsum(change) - 1
    inv = np.empty(n, dtype=np.int64)
    inv[order] = group_sorted
    uniq = np.stack([c[change] for c in ordered], axis=1).astype(np.int64)
    return uniq, inv


def _cat(parts: list[Any], dtype: type[np.generic]) -> Any:
    if not parts:
        return np.zeros(0, dtype=dtype)
    return np.concatenate(parts).astype(dtype, copy=False)


def _merge_haircut(front: Front) -> Front:
    """Haircut packets of one hop: those of a seed at the same (node, tx) are summed (they
    split the same way). FIFO keeps every interval; poison see :func:`_poison_once`."""
    node, tx, value, _lo, seed = front
    if len(node):
        uniq, inv = group_rows([seed, node, tx])
        summed: F64 = np.bincount(inv, value, len(uniq)).astype(np.float64)
        zeros: F64 = np.zeros(len(uniq), dtype=np.float64)
        return uniq[:, 1].copy(), uniq[:, 2].copy(), summed, zeros, uniq[:, 0].copy()
    return front


def _poison_once(front: Front, parent: I64, seen: set[tuple[int, int, int]]) -> Front:
    """Poison packets: one per (seed, node, tx) over the whole trace, valued at the node's
    whole flow in that transaction (entries of one parent summed, then the largest parent)."""
    node, tx, value, _lo, seed = front
    if not len(node):
        return front
    per_parent, inv = group_rows([seed, node, tx, parent])
    summed = np.bincount(inv, value, len(per_parent))
    uniq, inv2 = group_rows([per_parent[:, 0], per_parent[:, 1], per_parent[:, 2]])
    best = np.zeros(len(uniq), dtype=np.float64)
    np.maximum.at(best, inv2, summed)
    keep = np.array(
        [(int(s), int(n), int(t)) not in seen for s, n, t in uniq.tolist()], dtype=np.bool_
    )
    seen.update((int(s), int(n), int(t)) for s, n, t in uniq[keep].tolist())
    k = uniq[keep]
    return k[:, 1].copy(), k[:, 2].copy(), best[keep], np.zeros(len(k)), k[:, 0].copy()


def resolve_seeds(
    source: Dataset | FlowGraph, graph: FlowGraph, seeds: Sequence[Seed | int | str]
) -> list[Seed]:
    """Turn node ids, addresses (needs a dataset) and Seeds into Seeds on ``graph``'s nodes.

    >>> from chainsleuth.trace.flowgraph import FlowGraph, _tiny_view
    >>> g = FlowGraph.from_view(_tiny_view())
    >>> resolve_seeds(g, g, [2])
    [Seed(node=2, tx=None, value=None, lo=0.0)]
    """
    out: list[Seed] = []
    if not seeds:
        raise InputError("no seed given")
    for seed in seeds:
        if isinstance(seed, Seed):
            out.append(seed)
        elif isinstance(seed, str):
            if isinstance(source, FlowGraph):
                raise InputError(f"address seeds need a dataset: {seed}")
            addr = source.addr_id(seed)
            if addr >= len(graph.node_of_addr):
                raise NotFoundError(f"address not in flow graph: {seed}")
            out.append(Seed(int(graph.node_of_addr[addr])))
        else:
            if int(seed) < 0 or int(seed) >= graph.n_node:
                raise NotFoundError(f"node not in flow graph: {seed}")
            out.append(Seed(int(seed)))
    return out
