"""A trace result as plain data: txids, times and labels resolved from the dataset.

>>> from chainsleuth.trace.engine import trace
>>> doc = trace_to_dict(ds, trace(ds, [seed], direction="forward", hops=3))
>>> end = doc["endpoints"][0]
>>> end["kind"], end["value_sats"], end["txid"][:16]
('unspent', 96746703, 'c741011c81db7164')
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from chainsleuth.store.queries import txids_by_tx_id
from chainsleuth.trace.engine import TraceResult
from chainsleuth.trace.flowgraph import FlowGraph

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

__all__ = ["dropped_rows", "iso_time", "trace_to_dict", "txid_map"]


def iso_time(epoch: int) -> str:
    """UTC ISO-8601 time of epoch seconds.

    >>> iso_time(0)
    '1970-01-01T00:00:00Z'
    """
    return datetime.fromtimestamp(int(epoch), UTC).isoformat().replace("+00:00", "Z")


def txid_map(ds: Dataset, graph: FlowGraph, positions: Iterable[int]) -> dict[int, str]:
    """txid (hex) of transaction positions of ``graph``, in one query.

    >>> from chainsleuth.trace.flowgraph import build_flow_graph
    >>> txid_map(ds, build_flow_graph(ds), [0])
    {0: '4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b'}
    """
    pos = sorted({int(p) for p in positions if p >= 0})
    if not pos:
        return {}
    ids = graph.tx_id[np.array(pos, dtype=np.int64)]
    by_id = txids_by_tx_id(ds, ids.tolist())
    return {p: by_id[int(i)] for p, i in zip(pos, ids.tolist(), strict=True)}


def dropped_rows(result: TraceResult) -> list[dict[str, Any]]:
    """Value each limit cut off (:meth:`TraceResult.dropped`) in sats and as a share of the
    seeds' value, one row per limit, with the option that sets it.

    >>> from chainsleuth.trace.engine import trace
    >>> from chainsleuth.trace.flowgraph import FlowGraph, _tiny_view
    >>> r = trace(FlowGraph.from_view(_tiny_view()), [0], direction="forward", hops=1)
    >>> [(d["limit"], d["value_sats"], d["share"]) for d in dropped_rows(r) if d["value_sats"]]
    [('hops', 49, 0.98)]
    """
    options = {
        "min_value": "--min-value",
        "hops": "--hops",
        "time_window": "--start/--end",
        "max_cluster_size": "--max-cluster-size",
    }
    seed = result.seed_value
    return [
        {
            "limit": limit,
            "option": options[limit],
            "value_sats": round(value),
            "share": value / seed if seed > 0 else 0.0,
        }
        for limit, value in result.dropped().items()
    ]


def trace_to_dict(ds: Dataset, result: TraceResult, max_edges: int | None = None) -> dict[str, Any]:
    """Parameters, nodes (with labels), edges and endpoints of a trace, txids resolved; the
    seeds' value, the value each limit dropped, and the dataset and clustering-run tips used.

    The module docstring has a runnable example.
    """
    g = result.graph
    edges = result.edges()
    if max_edges is not None:
        edges = edges[:max_edges]
    ends = result.endpoints()
    txid = txid_map(ds, g, [e[2] for e in edges] + [e.tx for e in ends])

    def label(node: int) -> dict[str, Any]:
        lab = result.labels.get(node)
        return {
            "label": lab.label if lab else None,
            "category": lab.category if lab else None,
            "entity": lab.entity if lab else None,
        }

    run_tip: dict[str, Any] | None = None
    if g.run is not None:
        from chainsleuth.cluster.runs import run_params

        params = run_params(ds, g.run)
        run_tip = {"tip_height": params.get("tip_height"), "tip_hash": params.get("tip_hash")}
    return {
        "parameters": result.params,
        "dataset": {"tip_height": int(ds.tip_height), "tip_hash": ds.tip_hash},
        "clustering_run": None if g.run is None else {"name": g.run, **(run_tip or {})},
        "seeds": [s.node for s in result.seeds],
        "nodes": [
            {"node": int(n), "size": int(g.node_size[n]), **label(int(n))} for n in result.nodes()
        ],
        "edges": [
            {
                "src": s,
                "dst": d,
                "txid": txid.get(t),
                "time": iso_time(g.tx_time[t]),
                "value_sats": round(v),
                "hop": h,
            }
            for s, d, t, v, h in edges
        ],
        "endpoints": [
            {
                "node": e.node,
                **label(e.node),
                "kind": e.kind,
                "value_sats": round(e.value),
                "txid": txid.get(e.tx),
                "time": iso_time(g.tx_time[e.tx]) if 0 <= e.tx < g.n_tx else None,
                "hops": e.hop,
            }
            for e in ends
        ],
        "below_min_value_sats": round(result.below_min),
        "seed_value_sats": round(result.seed_value),
        "dropped": dropped_rows(result),
    }
