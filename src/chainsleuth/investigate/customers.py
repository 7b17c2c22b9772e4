"""Customers as wallets: group the clusters that paid a service into one group per customer.

Clustering keeps only links strong enough to merge address sets for every later use. A single
customer's wallet still falls into many clusters (each exchange withdrawal starts a fresh coin
history; change the clustering could not tell apart ends one). Inside a case, weaker evidence
is enough to say "these payments came from one wallet", as long as every grouping step is
shown with its rule, its transaction and its confidence, and kept apart from the structural
clusters. Rules (``GROUP_RULES``):

- ``payment-change``: a payment with exactly two outputs, one to the service: the other output
  is the payer's change, so its cluster is the payer's wallet;
- ``change``: an ordinary spend (outside the service, not a CoinJoin) by or to a payer
  cluster whose change output one of the change heuristics ``GROUP_CHANGE_HEURISTICS`` singles
  out and none rules out (one vote, where structural clustering asks for two): the change's
  cluster is the spender's wallet;
- ``shared-deposit-address``: two clusters that each alone pay the same address of an
  exchange-attributed cluster (an exchange gives each account holder its own deposit
  address): one account holder. Looked for from the payers outwards (the deposit addresses
  they pay, every payer of those, their deposit addresses, … to a fixpoint), never over all
  of an exchange's receipts; an address paid more than ``HUB_RECEIPTS`` times is no one
  account's and links nobody;
- ``reused-order-address``: two payer clusters paying the same service deposit address (a
  service hands out one address per order; customers re-use their own).

A payment whose payer cluster is itself attributed (an exchange withdrawing straight to the
service for one of its account holders) is a lead to that account: it is its own group and is
never joined to another through the attributed cluster. Groups are bounded
(``max_group_clusters``): a union that would grow past it is held back and recorded.

Confidence per rule (``RULE_CONFIDENCE``) is the measured share of that rule's links joining two
clusters of one true owner on the real-Core-wallet regtest chain and the simulated case
(``chainsleuth eval investigation`` re-measures it per case; docs/case-files.md).

>>> from chainsleuth.heuristics.view import ChainView
>>> from chainsleuth.trace.flowgraph import FlowGraph
>>> from chainsleuth.trace.labels import NodeLabels
>>> v = ChainView.from_columns(
...     tx_id=[0, 1, 2], height=[0, 1, 2], version=[2, 2, 2], locktime=[0, 0, 0],
...     is_coinbase=[True, False, False], n_in=[1, 1, 1], n_out=[1, 2, 2],
...     in_addr=[-1, 0, 2], in_value=[0, 90, 60], in_type=[-1, 2, 2],
...     in_sequence=[0, 0, 0], in_prev_out=[-1, 0, 2], out_value=[90, 30, 60, 20, 40],
...     out_addr=[0, 1, 2, 3, 4], out_type=[2, 2, 2, 2, 2], out_spent_by=[1, -1, 2, -1, -1])
>>> g = FlowGraph.from_view(v, np.arange(5))
>>> groups = group_customers(g, v, {1, 3}, NodeLabels(), [(1, 0, 1), (2, 2, 3)])
>>> groups.group_of_payment, [(k.a, k.b, k.rule) for k in groups.links]
([1, 1], [(0, 2, 'payment-change'), (2, 4, 'payment-change')])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from chainsleuth.heuristics.change import ChangeContext, signals_of
from chainsleuth.heuristics.consensus import consensus_change
from chainsleuth.heuristics.view import ChainView
from chainsleuth.investigate.chain import (
    CaseChain,
    concat_ranges,
    entry_tx,
    node_entries,
    tx_set,
)
from chainsleuth.investigate.expand import recv_txs, spend_txs
from chainsleuth.trace.flowgraph import FlowGraph
from chainsleuth.trace.labels import NodeLabels

__all__ = [
    "GROUP_CHANGE_HEURISTICS",
    "GROUP_RULES",
    "HUB_RECEIPTS",
    "MAX_GROUP_CLUSTERS",
    "MAX_SEARCH_ENTRIES",
    "RULE_CONFIDENCE",
    "CustomerGroups",
    "DepositSearch",
    "GroupLink",
    "group_customers",
]

I64 = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

GROUP_RULES = ("payment-change", "change", "shared-deposit-address", "reused-order-address")
"""Grouping rules, strongest first (see the module docstring)."""

RULE_CONFIDENCE = {
    "payment-change": 0.999,
    "change": 0.9,
    "shared-deposit-address": 0.999,
    "reused-order-address": 0.99,
}
"""Per rule: share of its links that joined two clusters of one owner, measured on
regtest-core-a and the simulated case (docs/case-files.md)."""

GROUP_CHANGE_HEURISTICS = ("round_number", "script_type", "optimal_change")
"""Change heuristics whose single vote (none against) is a ``change`` grouping link."""

GROUP_CHANGE_MIN_AGREE = 1
"""How many of those heuristics must single out the change."""

MAX_GROUP_CLUSTERS = 500
"""A group never grows past this many clusters; larger unions are held back."""

HUB_RECEIPTS = 10_000
"""A deposit address paid more often than this is not one account holder's: no
``shared-deposit-address`` links through it."""

MAX_SEARCH_ENTRIES = 4_000_000
"""The shared-deposit-address search reads at most this many spend and receipt entries (about
240 MB of RAM at 60 B each); a case that needs more is marked ``capped``."""


@dataclass(frozen=True, slots=True)
class GroupLink:
    """One step joining two clusters into one customer group: the rule and its transaction."""

    a: int
    b: int
    rule: str
    tx: int
    """transaction position (in the flow graph) behind the link"""
    confidence: float


@dataclass(slots=True)
class DepositSearch:
    """What the shared-deposit-address search read: bounded by entries, not by the chain.

    >>> DepositSearch().capped
    False
    """

    entries_read: int = 0
    hub_addresses: int = 0
    """deposit addresses skipped: paid more than ``HUB_RECEIPTS`` times (not one account's)"""
    capped: bool = False
    """the entry bound stopped the search before its fixpoint"""


@dataclass(slots=True)
class CustomerGroups:
    """Customer groups of a case: per payment its group (1…N, in order of first payment),
    per group its payer clusters, and every link that joined two groups."""

    group_of_payment: list[int]
    clusters: dict[int, list[int]] = field(default_factory=dict)
    """group → the payer clusters in it (sorted)"""
    links: list[GroupLink] = field(default_factory=list)
    """links that joined two parts of a group (in the order applied)"""
    link_group: list[int] = field(default_factory=list)
    """per link: its group"""
    held: list[GroupLink] = field(default_factory=list)
    """links refused by the group size bound"""
    account_leads: set[int] = field(default_factory=set)
    """groups of one payment made straight from an attributed cluster (an exchange account)"""
    deposit_search: DepositSearch = field(default_factory=lambda: DepositSearch())
    """what the shared-deposit-address search read, and whether its bound stopped it"""

    @property
    def n_groups(self) -> int:
        """How many customer groups.

        >>> CustomerGroups([1, 2, 1]).n_groups
        2
        """
        return len(set(self.group_of_payment))

    def confidence(self, group: int) -> float:
        """The weakest link's confidence in ``group`` (1.0 for a single cluster).

        >>> CustomerGroups([1], {1: [5]}).confidence(1)
        1.0
        """
        return min(
            (k.confidence for k, g in zip(self.links, self.link_group, strict=True) if g == group),
            default=1.0,
        )


class _Forest:
    """Union-find over the graph nodes it is given, with a size bound: two dict entries per
    node touched (parent, size; about 200 B), none for the others."""

    def __init__(self, bound: int) -> None:
        self.parent: dict[int, int] = {}
        self.size: dict[int, int] = {}
        self.bound = bound

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a: int, b: int) -> bool | None:
        """True when joined, False when already one, None when held by the bound."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        size_a, size_b = self.size.get(ra, 1), self.size.get(rb, 1)
        if size_a + size_b > self.bound:
            return None
        lo, hi = (ra, rb) if ra < rb else (rb, ra)
        self.parent[hi] = lo
        self.size[lo] = size_a + size_b
        return True


class _Outside:
    """Clusters outside the service and not attributed: a test against the two sorted lists."""

    def __init__(self, members: Iterable[int], attributed: Iterable[int]) -> None:
        self.excluded = np.array(sorted({*map(int, members), *map(int, attributed)}), np.int64)
        self._set = set(self.excluded.tolist())

    def __getitem__(self, node: int) -> bool:
        return int(node) not in self._set

    def mask(self, nodes: I64) -> BoolArray:
        return np.asarray(~np.isin(nodes, self.excluded), dtype=np.bool_)


def _payment_change(
    graph: FlowGraph, outside: _Outside, payments: Sequence[tuple[int, int, int]]
) -> list[tuple[int, int, int]]:
    links = []
    for tx, payer, _addr in payments:
        if not outside[payer]:
            continue
        o0, o1 = int(graph.tx_out_start[tx]), int(graph.tx_out_start[tx + 1])
        if o1 - o0 != 2:
            continue
        nodes = np.asarray(graph.out_node[o0:o1])
        other = [int(n) for n in nodes if n >= 0 and outside[n]]
        paid_service = [n for n in nodes if n >= 0 and not outside[n]]
        if len(other) == 1 and len(paid_service) == 1:
            links.append((payer, other[0], tx))
    return links


def _sole_payers(graph: FlowGraph, txs: I64) -> I64:
    """Per transaction of ``txs``: the one node every input entry belongs to, else -1.

    >>> from chainsleuth.trace.flowgraph import _tiny_view
    >>> _sole_payers(FlowGraph.from_view(_tiny_view()), np.array([0, 1])).tolist()
    [-1, 0]
    """
    txs = np.asarray(txs, dtype=np.int64)
    out = np.full(len(txs), -1, dtype=np.int64)
    i0 = np.asarray(graph.tx_in_start[txs], dtype=np.int64)
    n = np.asarray(graph.tx_in_start[txs + 1], dtype=np.int64) - i0
    has = n > 0
    if not has.any():
        return out
    ins = np.asarray(graph.in_node[concat_ranges(i0, i0 + n)], dtype=np.int64)
    starts = (np.cumsum(n) - n)[has]
    lo = np.minimum.reduceat(ins, starts)
    hi = np.maximum.reduceat(ins, starts)
    out[has] = np.where(lo == hi, lo, -1)
    return out


def _change_links(
    graph: FlowGraph, chain: CaseChain, outside: _Outside, payers: Iterable[int]
) -> list[tuple[int, int, int]]:
    """``change`` links of spends by or to the payer clusters: the change heuristics run on a
    view of those transactions alone (each judges one transaction at a time)."""
    payers = np.array(sorted({int(p) for p in payers}), dtype=np.int64)
    spent, _n = spend_txs(graph, payers)
    txs = np.union1d(spent, recv_txs(graph, payers)).astype(np.int64)
    if not len(txs):
        return []
    view, out_entry = chain.sub_view(txs)
    ctx = ChangeContext.of(view)
    signals = signals_of(ctx, list(GROUP_CHANGE_HEURISTICS))
    change = consensus_change(signals, min_agree=GROUP_CHANGE_MIN_AGREE)
    if not len(change.tx):
        return []
    tx = txs[change.tx]
    payer = _sole_payers(graph, tx)
    dest = np.asarray(graph.out_node[out_entry[change.out]], dtype=np.int64)
    ok = (payer >= 0) & (dest >= 0)
    ok &= outside.mask(payer) & outside.mask(dest) & (payer != dest)
    return list(zip(payer[ok].tolist(), dest[ok].tolist(), tx[ok].tolist(), strict=True))


def _shared_addresses(
    graph: FlowGraph,
    chain: CaseChain,
    outside: _Outside,
    deposit: I64,
    seeds: Iterable[int],
    *,
    max_entries: int = MAX_SEARCH_ENTRIES,
    hub_receipts: int = HUB_RECEIPTS,
    stats: DepositSearch | None = None,
) -> list[tuple[int, int, int]]:
    """Pairs of outside clusters paying one address of a deposit (exchange) cluster alone, in
    the part of the cluster ↔ deposit-address graph reachable from ``seeds``.

    A fixpoint from the seeds: the deposit addresses the reached clusters pay alone (from
    their spends), then every receipt of those addresses (the address-level graph), whose sole
    payers are reached in turn. Links found elsewhere could never join a group holding a
    payment, so they are not looked for; the links found are exactly those of the exhaustive
    pairing over all deposit receipts, restricted to the components of the seeds. Reads at most
    ``max_entries`` spend and receipt entries (RAM: about 60 B per entry read), whatever the
    size of the exchange clusters; addresses paid more than ``hub_receipts`` times are skipped.
    """
    stats = stats if stats is not None else DepositSearch()
    deposit = np.asarray(deposit, dtype=np.int64)
    frontier = np.array(sorted({int(s) for s in seeds if outside[int(s)]}), dtype=np.int64)
    if not len(deposit) or not len(frontier):
        return []
    seen_nodes = frontier
    seen_addrs = np.zeros(0, dtype=np.int64)
    parts: list[tuple[I64, I64, I64]] = []
    addr_graph = chain.addr
    while len(frontier) and not stats.capped:
        # 1. deposit addresses the frontier pays alone
        n_spend = np.asarray(graph.node_spend_start[frontier + 1], dtype=np.int64) - np.asarray(
            graph.node_spend_start[frontier], dtype=np.int64
        )
        frontier, cost = _within(frontier, n_spend, max_entries - stats.entries_read, stats)
        stats.entries_read += cost
        spent = node_entries(graph.node_spend_start, graph.node_spend, frontier)
        txs = tx_set(entry_tx(graph.tx_in_start, spent))
        txs = txs[np.isin(_sole_payers(graph, txs), frontier)]
        o0 = np.asarray(graph.tx_out_start[txs], dtype=np.int64)
        outs = concat_ranges(o0, np.asarray(graph.tx_out_start[txs + 1], dtype=np.int64))
        outs = outs[np.isin(np.asarray(graph.out_node[outs], dtype=np.int64), deposit)]
        addrs = np.unique(chain.out_addr(outs))
        addrs = np.setdiff1d(addrs[addrs >= 0], seen_addrs, assume_unique=True)
        seen_addrs = np.union1d(seen_addrs, addrs)
        # 2. every receipt of those addresses, and its sole payer
        n_recv = np.asarray(addr_graph.node_recv_start[addrs + 1], dtype=np.int64) - np.asarray(
            addr_graph.node_recv_start[addrs], dtype=np.int64
        )
        hub = n_recv > hub_receipts
        stats.hub_addresses += int(hub.sum())
        addrs, n_recv = addrs[~hub], n_recv[~hub]
        addrs, cost = _within(addrs, n_recv, max_entries - stats.entries_read, stats)
        stats.entries_read += cost
        pos = node_entries(addr_graph.node_recv_start, addr_graph.node_recv, addrs)
        out_tx = entry_tx(graph.tx_out_start, pos)
        who = _sole_payers(graph, out_tx)
        keep = (who >= 0) & outside.mask(who)
        parts.append((chain.out_addr(pos[keep]), who[keep], out_tx[keep]))
        frontier = np.setdiff1d(np.unique(who[keep]), seen_nodes, assume_unique=True)
        seen_nodes = np.union1d(seen_nodes, frontier)
    if not parts:
        return []
    addr, who, tx = (np.concatenate([p[k] for p in parts]) for k in range(3))
    return _pairs_by_key(addr, who, tx)


def _within(items: I64, cost: I64, room: int, stats: DepositSearch) -> tuple[I64, int]:
    """The cheapest ``items`` (ties by value) whose summed ``cost`` fits ``room``, and that
    cost; marks ``stats`` capped when some are left out.

    >>> s = DepositSearch()
    >>> _within(np.array([7, 3, 5]), np.array([4, 1, 2]), 3, s), s.capped
    ((array([3, 5]), 3), True)
    """
    order = np.lexsort((items, cost))
    total = np.cumsum(cost[order])
    fits = int(np.searchsorted(total, room, side="right"))
    if fits < len(items):
        stats.capped = True
    return items[order[:fits]], int(total[fits - 1]) if fits else 0


def _pairs_by_key(key: I64, who: I64, tx: I64) -> list[tuple[int, int, int]]:
    """For each key, link its first payer with every other payer (at that payer's first tx)."""
    order = np.lexsort((tx, key))
    links: list[tuple[int, int, int]] = []
    first_of: dict[int, int] = {}
    seen: set[tuple[int, int]] = set()
    for k, w, t in zip(key[order].tolist(), who[order].tolist(), tx[order].tolist(), strict=True):
        anchor = first_of.setdefault(k, w)
        if anchor != w and (k, w) not in seen:
            seen.add((k, w))
            links.append((anchor, w, t))
    return links


def group_customers(
    graph: FlowGraph,
    chain: CaseChain | ChainView,
    members: Iterable[int],
    labels: NodeLabels,
    payments: Sequence[tuple[int, int, int]],
    *,
    deposit_categories: Sequence[str] = ("exchange",),
    max_group_clusters: int = MAX_GROUP_CLUSTERS,
    max_search_entries: int = MAX_SEARCH_ENTRIES,
    hub_receipts: int = HUB_RECEIPTS,
) -> CustomerGroups:
    """Group the payer clusters of ``payments`` ((tx, payer cluster, service address) each)
    into customers (see the module docstring). ``members`` are the service's clusters.
    Every rule reads the entries of the payer clusters, or of the deposit addresses reached
    from them (at most ``max_search_entries``; addresses paid more than ``hub_receipts``
    times are skipped).

    The module docstring has a runnable example.
    """
    if not isinstance(chain, CaseChain):
        chain = CaseChain.from_view(graph, chain)
    outside = _Outside(members, labels.by_node)
    deposit = labels.nodes_in(deposit_categories)
    forest = _Forest(max_group_clusters)
    out = CustomerGroups(group_of_payment=[])
    ordered = sorted(payments)
    payer_of = {p for _t, p, _a in ordered}
    candidates: list[tuple[str, list[tuple[int, int, int]]]] = [
        ("payment-change", _payment_change(graph, outside, ordered)),
        (
            "change",
            [
                k
                for k in _change_links(graph, chain, outside, payer_of)
                if k[0] in payer_of or k[1] in payer_of
            ],
        ),
    ]
    # every cluster another rule reaches starts the deposit-address search
    seeds = payer_of.union(*({a, b} for _r, links in candidates for a, b, _t in links))
    candidates.append(
        (
            "shared-deposit-address",
            _shared_addresses(
                graph,
                chain,
                outside,
                deposit,
                seeds,
                max_entries=max_search_entries,
                hub_receipts=hub_receipts,
                stats=out.deposit_search,
            ),
        )
    )
    direct = [(a, p, t) for t, p, a in ordered if outside[p]]
    if direct:
        arr = np.array(direct, dtype=np.int64)
        candidates.append(("reused-order-address", _pairs_by_key(arr[:, 0], arr[:, 1], arr[:, 2])))
    for rule, links in candidates:
        for a, b, tx in links:
            done = forest.union(int(a), int(b))
            link = GroupLink(int(a), int(b), rule, int(tx), RULE_CONFIDENCE[rule])
            if done:
                out.links.append(link)
            elif done is None:
                out.held.append(link)
    number: dict[int | tuple[int, int], int] = {}
    for tx, payer, _addr in payments:
        key: int | tuple[int, int] = forest.find(payer) if outside[payer] else (payer, tx)
        group = number.setdefault(key, len(number) + 1)
        out.group_of_payment.append(group)
        out.clusters.setdefault(group, [])
        if payer not in out.clusters[group]:
            out.clusters[group].append(payer)
        if not outside[payer]:
            out.account_leads.add(group)
    for group in out.clusters:
        out.clusters[group].sort()
    # keep the links of groups that hold payments (others joined clusters nobody paid from)
    joined, out.links = out.links, []
    for link in joined:
        found = number.get(forest.find(link.a))
        if found is not None:
            out.links.append(link)
            out.link_group.append(found)
    return out
