"""Why two addresses share a cluster: the chain of evidence links between them.

Evidence rows are exactly the unions that changed something, so within a cluster they form a
spanning tree: the path between two members is unique. It is found by a breadth-first search
over the evidence rows of that one cluster.

>>> a = "bcrt1qr8hsgftgcuf3wkrpcy4gpm79hstpc8mrgr4lsr"  # two of the miner's addresses
>>> b = "bcrt1q5308qu3ejczty83g4ghe2n23kzulh66wz4wnm2"
>>> [(s.txid[:16], s.rule) for s in explain_link(ds, a, b).steps]
[('4cb15f36fb644da0', 'multi-input')]
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from chainsleuth.cluster.runs import check_fresh, load_address_cluster, run_dir
from chainsleuth.store.runtables import cluster_evidence

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

__all__ = ["EvidenceStep", "Explanation", "evidence_path", "explain_link"]


@dataclass(frozen=True, slots=True)
class EvidenceStep:
    """One link on the path: two addresses, the transaction and the rule that joined them."""

    addr_a: str
    addr_b: str
    txid: str
    tx_id: int
    rule: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """The answer to "why are A and B in one cluster?" (``linked`` False: they are not)."""

    run: str
    address_a: str
    address_b: str
    linked: bool
    cluster_id: int | None
    steps: list[EvidenceStep] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form.

        >>> Explanation("r", "a", "b", False, None).to_dict()["linked"]
        False
        """
        return {
            "run": self.run,
            "address_a": self.address_a,
            "address_b": self.address_b,
            "linked": self.linked,
            "cluster_id": self.cluster_id,
            "steps": [
                {
                    "addr_a": s.addr_a,
                    "addr_b": s.addr_b,
                    "txid": s.txid,
                    "tx_id": s.tx_id,
                    "rule": s.rule,
                }
                for s in self.steps
            ],
        }


def evidence_path(
    edges_a: list[int], edges_b: list[int], start: int, goal: int
) -> list[int] | None:
    """Indices of the edges on a path from ``start`` to ``goal`` (None if unreachable).

    >>> evidence_path([1, 2, 2], [2, 3, 9], 1, 3)
    [0, 1]
    >>> evidence_path([1], [2], 1, 5) is None
    True
    """
    if start == goal:
        return []
    adjacency: dict[int, list[tuple[int, int]]] = {}
    for i, (a, b) in enumerate(zip(edges_a, edges_b, strict=True)):
        adjacency.setdefault(a, []).append((b, i))
        adjacency.setdefault(b, []).append((a, i))
    came: dict[int, tuple[int, int]] = {start: (start, -1)}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt, edge in adjacency.get(node, []):
            if nxt in came:
                continue
            came[nxt] = (node, edge)
            if nxt == goal:
                path: list[int] = []
                while nxt != start:
                    nxt, edge = came[nxt]
                    path.append(edge)
                return path[::-1]
            queue.append(nxt)
    return None


def explain_link(
    ds: Dataset,
    address_a: str,
    address_b: str,
    run: str | None = None,
    *,
    allow_stale: bool = False,
) -> Explanation:
    """The evidence chain joining two addresses in a run (the latest run by default).

    NotFoundError when an address is not in the dataset or the run does not exist;
    StaleRunError when the run is stale, unless ``allow_stale``.

    The module docstring has a runnable example.
    """
    directory = run_dir(ds, run)
    run_name = directory.name
    check_fresh(ds, run_name, allow_stale=allow_stale)
    a = ds.addr_id(address_a)
    b = ds.addr_id(address_b)
    cluster = load_address_cluster(ds, run_name)
    ca = int(cluster[a]) if a < len(cluster) else a
    cb = int(cluster[b]) if b < len(cluster) else b
    if ca != cb:
        return Explanation(run_name, address_a, address_b, False, None)
    members = np.flatnonzero(cluster == ca)
    rows = cluster_evidence(directory / "evidence.parquet", members)
    path = evidence_path([r[0] for r in rows], [r[1] for r in rows], a, b)
    if path is None:
        return Explanation(run_name, address_a, address_b, False, None)
    steps = []
    for i in path:
        ea, eb, tx_id, rule = rows[i]
        steps.append(
            EvidenceStep(
                addr_a=ds.address_of(int(ea)) or str(ea),
                addr_b=ds.address_of(int(eb)) or str(eb),
                txid=ds.txid_of(int(tx_id)),
                tx_id=int(tx_id),
                rule=str(rule),
            )
        )
    return Explanation(run_name, address_a, address_b, True, ca, steps)
