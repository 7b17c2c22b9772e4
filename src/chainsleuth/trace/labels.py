"""Who each flow-graph node is, as far as the tags say: label, category and actor.

At cluster level the labels come from the tags' cluster attribution
(:func:`chainsleuth.tags.attribution.cluster_labels`); at address level from the address tags.

>>> labels = NodeLabels({7: NodeLabel("Exchange One", "exchange", "exchange-1")})
>>> labels.category(7), labels.category(8), labels.nodes_in(("exchange",)).tolist()
('exchange', None, [7])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset
    from chainsleuth.trace.flowgraph import FlowGraph

__all__ = ["NodeLabel", "NodeLabels", "load_node_labels"]


@dataclass(frozen=True, slots=True)
class NodeLabel:
    """The attribution of one node."""

    label: str
    category: str | None
    actor: str | None

    @property
    def entity(self) -> str:
        """The actor when known, else the label.

        >>> NodeLabel("Exchange One", "exchange", None).entity
        'Exchange One'
        """
        return self.actor or self.label


@dataclass(frozen=True, slots=True)
class NodeLabels:
    """Labels of the attributed nodes (unattributed nodes are absent)."""

    by_node: Mapping[int, NodeLabel] = field(default_factory=dict)

    def get(self, node: int) -> NodeLabel | None:
        """The label of ``node``, or None.

        >>> NodeLabels().get(3) is None
        True
        """
        return self.by_node.get(int(node))

    def category(self, node: int) -> str | None:
        """The category of ``node``, or None.

        >>> NodeLabels({1: NodeLabel("M", "market", None)}).category(1)
        'market'
        """
        lab = self.by_node.get(int(node))
        return None if lab is None else lab.category

    def nodes_in(self, categories: Iterable[str]) -> NDArray[np.int64]:
        """Sorted nodes whose category is one of ``categories``.

        >>> NodeLabels({4: NodeLabel("E", "exchange", None)}).nodes_in(["exchange"]).tolist()
        [4]
        """
        wanted = {c.lower() for c in categories}
        hits = [n for n, lab in self.by_node.items() if (lab.category or "").lower() in wanted]
        return np.array(sorted(hits), dtype=np.int64)


def load_node_labels(ds: Dataset, graph: FlowGraph) -> NodeLabels:
    """Labels of the graph's nodes from the dataset's imported tags (empty when none).

    >>> from chainsleuth.trace.flowgraph import build_flow_graph
    >>> load_node_labels(ds, build_flow_graph(ds)).get(34)
    NodeLabel(label='Exchange One', category='exchange', actor='exchange-1')
    """
    from chainsleuth.tags.attribution import cluster_labels
    from chainsleuth.tags.store import address_actor_table

    out: dict[int, NodeLabel] = {}
    if graph.level == "cluster":
        for row in cluster_labels(ds, graph.run).to_pylist():
            out[int(row["cluster_id"])] = NodeLabel(
                str(row["label"]), row["category"], row["actor"]
            )
        return NodeLabels(out)
    for row in address_actor_table(ds).to_pylist():
        node = int(row["addr_id"])
        if node not in out:
            out[node] = NodeLabel(str(row["actor"]), row["category"], row["actor"])
    return NodeLabels(out)
