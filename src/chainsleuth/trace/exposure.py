"""Exposure of a cluster: which kinds of counterparties its money came from and went to.

Incoming exposure follows everything the node received backwards, outgoing exposure everything
it received forwards, with the haircut policy (value shared pro-rata), stopping at the first
attributed node on each path. ``direct`` looks one transaction away; ``within N hops`` up to N.
Each row gives a category's value and share of the traced total. Value that reached no
attributed node is ``unattributed``; value from coinbases is ``mining``; going forward, value
still held is ``unspent`` and fees are ``fee``; the node's own change is ``self``.

>>> from chainsleuth.trace.flowgraph import FlowGraph, _tiny_view
>>> from chainsleuth.trace.labels import NodeLabel, NodeLabels
>>> g = FlowGraph.from_view(_tiny_view())
>>> rows = exposure(g, 1, hops=2, labels=NodeLabels({0: NodeLabel("Pool", "miner", None)}))
>>> [(r.direction, r.scope, r.category, round(r.share, 2)) for r in rows if r.scope == "direct"]
[('incoming', 'direct', 'miner', 1.0), ('outgoing', 'direct', 'unspent', 1.0)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chainsleuth.trace.engine import Seed, TraceResult, trace
from chainsleuth.trace.flowgraph import FlowGraph, build_flow_graph
from chainsleuth.trace.labels import NodeLabels, load_node_labels

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

__all__ = ["ExposureRow", "exposure"]

_KIND_CATEGORY = {
    "mined": "mining",
    "unspent": "unspent",
    "fee": "fee",
    "no-address": "no-address",
    "time-window": "unattributed",
}


@dataclass(frozen=True, slots=True)
class ExposureRow:
    """Value of one counterparty category in one direction and scope."""

    direction: str
    """``incoming`` or ``outgoing``"""
    scope: str
    """``direct`` or ``within N hops``"""
    category: str
    value: float
    share: float
    tip_height: int | None = None
    """dataset tip the flow graph was built at (None: computed on a bare graph)"""


def _rows(
    result: TraceResult, node: int, direction: str, scope: str, tip: int | None
) -> list[ExposureRow]:
    totals: dict[str, float] = {}
    for e in result.endpoints():
        if e.kind in _KIND_CATEGORY:
            cat = _KIND_CATEGORY[e.kind]
        elif e.kind in ("stop", "large"):
            lab = result.labels.get(e.node)
            cat = (lab.category or "unknown") if lab else "large-cluster"
        elif e.node == node:
            cat = "self"
        else:
            cat = "unattributed"
        totals[cat] = totals.get(cat, 0.0) + e.value
    totals["unattributed"] = totals.get("unattributed", 0.0) + result.below_min
    if totals["unattributed"] == 0.0:
        del totals["unattributed"]
    grand = sum(totals.values()) or 1.0
    rows = [ExposureRow(direction, scope, c, v, v / grand, tip) for c, v in totals.items()]
    rows.sort(key=lambda r: -r.value)
    return rows


def exposure(
    source: Dataset | FlowGraph,
    node: int,
    *,
    hops: int = 3,
    labels: NodeLabels | None = None,
    run: str | None = None,
    min_value: float = 1.0,
    allow_stale: bool = False,
) -> list[ExposureRow]:
    """Incoming and outgoing exposure of ``node`` by counterparty category, direct and within
    ``hops`` hops (see the module docstring). From a dataset, a stale clustering run is refused
    unless ``allow_stale``; every row records the dataset tip it was computed at.

    >>> row = exposure(ds, 92)[0]  # the service's cluster
    >>> row.direction, row.scope, row.category, row.value, row.tip_height
    ('incoming', 'direct', 'unattributed', 790048782.0, 473)
    """
    tip: int | None = None
    if isinstance(source, FlowGraph):
        graph = source
        node_labels = labels if labels is not None else NodeLabels()
    else:
        graph = build_flow_graph(source, run, allow_stale=allow_stale)
        node_labels = labels if labels is not None else load_node_labels(source, graph)
        tip = int(source.tip_height)
    categories = sorted({lab.category for lab in node_labels.by_node.values() if lab.category})
    rows: list[ExposureRow] = []
    for direction, way in (("incoming", "back"), ("outgoing", "forward")):
        for scope, depth in (("direct", 1), (f"within {hops} hops", hops)):
            result = trace(
                graph,
                [Seed(node)],
                direction=way,
                hops=depth,
                policy="haircut",
                min_value=min_value,
                stop_categories=categories,
                labels=node_labels,
            )
            rows.extend(_rows(result, node, direction, scope, tip))
    return rows
