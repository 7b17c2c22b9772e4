"""Expand seed clusters to a service's whole wallet, with a transaction behind every step.

Clustering alone (multi-input, change) splits a service that sweeps its deposits in batches
into one cluster per sweep. Three service-level rules, applied until nothing changes, join
those parts; each join records the rule and the txid that justify it:

- ``sweep-output``: a transaction whose inputs all belong to the service, with two or more
  inputs and a single output, is a consolidation: its output belongs to the service;
- ``sweep-input``: a single-output transaction paying the service from three or more inputs,
  all of one cluster, is a sweep of that cluster into the service: the cluster joins.
- ``cashout-address``: an address outside the service that the service pays from
  service-only transactions, either in two or more transactions or once when the address's
  cluster is attributed to an exchange, is the service's own deposit address at an exchange
  (an exchange gives each customer one); every other transaction paying that address from a
  single cluster is the service cashing out too, so its inputs' cluster joins.
- ``peel-change``: a service-only transaction with two outputs, one to a cash-out address of
  the previous rule, keeps the other output: it joins the service;
- ``peel-source``: a two-output transaction spending one outside cluster, whose output to the
  service is then spent *alone* by a service-only transaction (a peel hop or cash-out, unlike a
  customer's deposit, which is swept together with others), is a peel of the service's own
  coins: the spending cluster joins.

Every rule starts from the wallet's clusters: their spending and receiving entries
(``node_spend``/``node_recv``) name the candidate transactions, whose CSR slices are then read;
no step scans the chain. The wallet is a set of nodes; per round the candidates take 8 B per
entry of the wallet's clusters.

>>> from chainsleuth.trace.flowgraph import FlowGraph
>>> from chainsleuth.heuristics.view import ChainView
>>> v = ChainView.from_columns(
...     tx_id=[0, 1], height=[0, 1], version=[2, 2], locktime=[0, 0],
...     is_coinbase=[True, False], n_in=[1, 2], n_out=[2, 1], in_addr=[-1, 0, 1],
...     in_value=[0, 5, 5], in_type=[-1, 2, 2], in_sequence=[0, 0, 0], in_prev_out=[-1, 0, 1],
...     out_value=[5, 5, 9], out_addr=[0, 1, 2], out_type=[2, 2, 2], out_spent_by=[1, 1, -1])
>>> g = FlowGraph.from_view(v, np.array([0, 1, 2]))
>>> sorted(expand_service(g, CaseChain.from_view(g, v), [0, 1]).nodes)
[0, 1, 2]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from chainsleuth.errors import SeedRefusedError
from chainsleuth.heuristics.view import ChainView
from chainsleuth.investigate.chain import CaseChain, entry_tx, node_entries, tx_set
from chainsleuth.trace.flowgraph import FlowGraph
from chainsleuth.trace.labels import NodeLabel, NodeLabels

__all__ = [
    "Join",
    "ServiceWallet",
    "expand_service",
    "grow_entities",
    "recv_txs",
    "service_only_txs",
    "spend_txs",
]

I64 = NDArray[np.int64]

SWEEP_MIN_INPUTS = 3
"""A single-output transaction needs this many inputs to count as a sweep into the service."""


@dataclass(frozen=True, slots=True)
class Join:
    """One cluster joined to the service: the rule and the transaction position behind it."""

    node: int
    rule: str
    tx: int


@dataclass(slots=True)
class ServiceWallet:
    """The service's clusters, how each beyond the seeds was joined, and its cash-out addresses."""

    seeds: list[int]
    nodes: set[int] = field(default_factory=set)
    joins: list[Join] = field(default_factory=list)
    cashout_addresses: set[int] = field(default_factory=set)
    refused: list[Join] = field(default_factory=list)
    """joins a rule proposed for clusters attributed to a deposit category (never joined)"""
    blocked: set[int] = field(default_factory=set)
    """clusters attributed to a deposit category (exchanges): never part of the service"""


def _tx_nodes(graph: FlowGraph, t: int) -> tuple[I64, I64]:
    ins = np.asarray(graph.in_node[graph.tx_in_start[t] : graph.tx_in_start[t + 1]])
    outs = np.asarray(graph.out_node[graph.tx_out_start[t] : graph.tx_out_start[t + 1]])
    return ins, outs


def _sorted(nodes: Iterable[int]) -> I64:
    return np.array(sorted({int(n) for n in nodes}), dtype=np.int64)


def _n_in(graph: FlowGraph, txs: I64) -> I64:
    return np.asarray(graph.tx_in_start[txs + 1] - graph.tx_in_start[txs], dtype=np.int64)


def _n_out(graph: FlowGraph, txs: I64) -> I64:
    return np.asarray(graph.tx_out_start[txs + 1] - graph.tx_out_start[txs], dtype=np.int64)


def spend_txs(graph: FlowGraph, nodes: Iterable[int]) -> tuple[I64, I64]:
    """Transactions in which ``nodes`` spend (sorted) and how many of each one's input entries
    are theirs.

    >>> from chainsleuth.trace.flowgraph import _tiny_view
    >>> [a.tolist() for a in spend_txs(FlowGraph.from_view(_tiny_view()), [0])]
    [[1], [1]]
    """
    entries = node_entries(graph.node_spend_start, graph.node_spend, _sorted(nodes))
    txs, counts = np.unique(entry_tx(graph.tx_in_start, entries), return_counts=True)
    return txs.astype(np.int64), counts.astype(np.int64)


def recv_txs(graph: FlowGraph, nodes: Iterable[int]) -> I64:
    """Transactions paying ``nodes`` (sorted).

    >>> from chainsleuth.trace.flowgraph import _tiny_view
    >>> recv_txs(FlowGraph.from_view(_tiny_view()), [1, 2]).tolist()
    [1]
    """
    entries = node_entries(graph.node_recv_start, graph.node_recv, _sorted(nodes))
    return tx_set(entry_tx(graph.tx_out_start, entries))


def service_only_txs(graph: FlowGraph, nodes: Iterable[int]) -> I64:
    """Transactions whose every input entry belongs to ``nodes`` (not coinbase), sorted.

    >>> from chainsleuth.trace.flowgraph import _tiny_view
    >>> service_only_txs(FlowGraph.from_view(_tiny_view()), [0]).tolist()
    [1]
    """
    txs, counts = spend_txs(graph, nodes)
    keep = (counts == _n_in(graph, txs)) & ~np.asarray(graph.is_coinbase[txs], dtype=np.bool_)
    return txs[keep]


def _as_chain(graph: FlowGraph, chain: CaseChain | ChainView) -> CaseChain:
    return chain if isinstance(chain, CaseChain) else CaseChain.from_view(graph, chain)


def expand_service(
    graph: FlowGraph,
    chain: CaseChain | ChainView,
    seeds: Iterable[int],
    labels: NodeLabels | None = None,
    *,
    deposit_categories: Iterable[str] = ("exchange",),
    max_rounds: int = 50,
    max_addresses: int | None = None,
) -> ServiceWallet:
    """Grow the seed nodes (clusters) into the service wallet (see the module docstring);
    ``labels`` tell which clusters are exchanges (``deposit_categories``): those never join.
    A wallet growing past ``max_addresses`` addresses raises SeedRefusedError. ``chain`` gives
    the entries' addresses and spent outputs (a ChainView is accepted for small examples).

    >>> from chainsleuth.trace.flowgraph import build_flow_graph
    >>> g = build_flow_graph(ds)
    >>> wallet = expand_service(g, CaseChain.open(ds, g), [92])
    >>> len(wallet.nodes), wallet.joins[0].rule
    (86, 'sweep-output')
    """
    chain = _as_chain(graph, chain)
    wallet = ServiceWallet(seeds=sorted({int(s) for s in seeds}))
    wallet.nodes.update(wallet.seeds)
    if labels is not None:
        wallet.blocked.update(int(n) for n in labels.nodes_in(deposit_categories))
    member = wallet.nodes
    for _ in range(max_rounds):
        before = len(wallet.nodes)
        _check_size(graph, wallet, max_addresses)
        own = service_only_txs(graph, member)
        paid: dict[int, list[int]] = {}
        for t in own.tolist():
            ins, outs = _tx_nodes(graph, t)
            o0, o1 = chain.outs(t)
            addrs = chain.out_addr(np.arange(o0, o1, dtype=np.int64))
            if len(ins) >= 2 and len(outs) == 1 and outs[0] >= 0 and int(outs[0]) not in member:
                _join(wallet, int(outs[0]), "sweep-output", t)
            for node, addr in zip(outs.tolist(), addrs.tolist(), strict=True):
                if node >= 0 and addr >= 0 and node not in member:
                    paid.setdefault(addr, []).append(t)
        wallet.cashout_addresses.update(
            a
            for a, txs in paid.items()
            if len(set(txs)) >= 2 or int(graph.node_of_addr[a]) in wallet.blocked
        )
        # the bound is checked after every step: a join that pulls in a giant cluster is
        # refused before the next step reads that cluster's transactions
        _check_size(graph, wallet, max_addresses)
        _join_cashout_payers(graph, chain, wallet)
        _check_size(graph, wallet, max_addresses)
        _join_sweep_inputs(graph, wallet)
        _check_size(graph, wallet, max_addresses)
        _join_peel_sources(graph, chain, wallet)
        _check_size(graph, wallet, max_addresses)
        for t in own.tolist():
            _, outs = _tx_nodes(graph, t)
            if len(outs) != 2:
                continue
            o0, o1 = chain.outs(t)
            addrs = chain.out_addr(np.arange(o0, o1, dtype=np.int64))
            hits = [a in wallet.cashout_addresses for a in addrs.tolist()]
            if sum(hits) == 1:
                other = int(outs[1] if hits[0] else outs[0])
                if other >= 0 and other not in member:
                    _join(wallet, other, "peel-change", t)
        if len(wallet.nodes) == before:
            break
    _check_size(graph, wallet, max_addresses)
    return wallet


def _check_size(graph: FlowGraph, wallet: ServiceWallet, bound: int | None) -> None:
    size = int(np.asarray(graph.node_size[_sorted(wallet.nodes)]).sum())
    if bound is not None and size > bound:
        raise SeedRefusedError(
            f"seed cluster(s) {', '.join(map(str, wallet.seeds))}: the service wallet grew to "
            f"{size:,} addresses, past the bound of {bound:,} (--max-service-share); the seed "
            "looks like an exchange's or an ordinary user's address, not a service's"
        )


def _join(wallet: ServiceWallet, node: int, rule: str, t: int) -> None:
    if node in wallet.blocked:
        if all(j.node != node for j in wallet.refused):
            wallet.refused.append(Join(node, rule, t))
        return
    wallet.nodes.add(node)
    wallet.joins.append(Join(node, rule, t))


def _join_cashout_payers(graph: FlowGraph, chain: CaseChain, wallet: ServiceWallet) -> None:
    """Clusters that alone pay a cash-out address join the service."""
    if not wallet.cashout_addresses:
        return
    txs = tx_set(chain.out_tx(chain.addr_receipts(sorted(wallet.cashout_addresses))))
    for t in txs.tolist():
        ins, _ = _tx_nodes(graph, t)
        payers = np.unique(ins[ins >= 0])
        if len(payers) == 1 and int(payers[0]) not in wallet.nodes:
            _join(wallet, int(payers[0]), "cashout-address", t)


def _join_sweep_inputs(graph: FlowGraph, wallet: ServiceWallet) -> None:
    """Consolidations into the service: one output (a member) fed by several inputs of a single
    other cluster; that cluster joins."""
    cand = recv_txs(graph, wallet.nodes)
    cand = cand[(_n_out(graph, cand) == 1) & (_n_in(graph, cand) >= SWEEP_MIN_INPUTS)]
    for t in cand.tolist():
        ins, _ = _tx_nodes(graph, t)
        payers = np.unique(ins)
        if len(payers) == 1 and payers[0] >= 0 and int(payers[0]) not in wallet.nodes:
            _join(wallet, int(payers[0]), "sweep-input", t)


def grow_entities(
    graph: FlowGraph, labels: NodeLabels, categories: Iterable[str], max_rounds: int = 50
) -> tuple[NodeLabels, list[Join]]:
    """Extend the labels of attributed entities of the given categories (e.g. exchanges) by the
    ``sweep-output`` rule alone: the single output of a transaction spending two or more inputs,
    all of clusters of one entity, belongs to that entity (a sweep into a fresh hot-wallet
    address). Returns the grown labels and one Join per newly labelled cluster.

    Walks the entities' own spends: round one the transactions their clusters spend in, each
    later round only those of the clusters the round before labelled (a transaction's verdict
    changes only when one of its inputs' clusters gains an entity). RAM: a dict entry per
    labelled cluster (about 100 B) and 8 B per spend entry of a round's clusters.

    >>> from chainsleuth.trace.flowgraph import FlowGraph
    >>> from chainsleuth.heuristics.view import ChainView
    >>> v = ChainView.from_columns(
    ...     tx_id=[0, 1], height=[0, 1], version=[2, 2], locktime=[0, 0],
    ...     is_coinbase=[True, False], n_in=[1, 2], n_out=[2, 1], in_addr=[-1, 0, 1],
    ...     in_value=[0, 5, 5], in_type=[-1, 2, 2], in_sequence=[0, 0, 0],
    ...     in_prev_out=[-1, 0, 1], out_value=[5, 5, 9], out_addr=[0, 1, 2], out_type=[2, 2, 2],
    ...     out_spent_by=[1, 1, -1])
    >>> g = FlowGraph.from_view(v, np.array([0, 0, 2]))
    >>> grown, joins = grow_entities(g, NodeLabels({0: NodeLabel("X", "exchange", "x")}),
    ...                              ["exchange"])
    >>> grown.get(2), [(j.node, j.rule, j.tx) for j in joins]
    (NodeLabel(label='X', category='exchange', actor='x'), [(2, 'sweep-output', 1)])
    """
    by_node = dict(labels.by_node)
    wanted = {c.lower() for c in categories}
    entity: dict[int, int] = {}
    names: list[NodeLabel] = []
    index: dict[str, int] = {}
    for node, lab in by_node.items():
        if (lab.category or "").lower() in wanted:
            code = index.setdefault(lab.entity, len(names))
            if code == len(names):
                names.append(lab)
            entity[int(node)] = code
    joins: list[Join] = []
    fresh = list(entity)
    for _ in range(max_rounds):
        cand, _counts = spend_txs(graph, fresh)
        cand = cand[
            (_n_out(graph, cand) == 1)
            & (_n_in(graph, cand) >= 2)
            & ~np.asarray(graph.is_coinbase[cand], dtype=np.bool_)
        ]
        found: list[tuple[int, int, int]] = []
        for t in cand.tolist():
            ins, outs = _tx_nodes(graph, t)
            codes = {entity.get(int(n), -1) for n in ins.tolist()}
            node = int(outs[0])
            if len(codes) == 1 and min(codes) >= 0 and node >= 0 and node not in entity:
                found.append((t, node, min(codes)))
        fresh = []
        for t, node, code in found:
            if node not in entity:
                entity[node] = code
                by_node[node] = names[code]
                joins.append(Join(node, "sweep-output", t))
                fresh.append(node)
        if not fresh:
            break
    return NodeLabels(by_node), joins


def _join_peel_sources(graph: FlowGraph, chain: CaseChain, wallet: ServiceWallet) -> None:
    """Outside clusters whose two-output transaction feeds a service output that a service-only
    transaction then spends as its single input join the service."""
    single, _counts = spend_txs(graph, wallet.nodes)
    single = single[(_n_in(graph, single) == 1) & ~np.asarray(graph.is_coinbase[single], bool)]
    prev_out = chain.spent_output(np.asarray(graph.tx_in_start[single], dtype=np.int64))
    prev_out = prev_out[prev_out >= 0]
    for t in tx_set(chain.out_tx(prev_out)).tolist():
        if _n_out(graph, np.array([t]))[0] != 2 or graph.is_coinbase[t]:
            continue
        ins, _ = _tx_nodes(graph, t)
        payers = np.unique(ins)
        if len(payers) == 1 and payers[0] >= 0 and int(payers[0]) not in wallet.nodes:
            _join(wallet, int(payers[0]), "peel-source", t)
