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

>>> from chainsleuth.trace.flowgraph import FlowGraph
>>> from chainsleuth.heuristics.view import ChainView
>>> v = ChainView.from_columns(
...     tx_id=[0, 1], height=[0, 1], version=[2, 2], locktime=[0, 0],
...     is_coinbase=[True, False], n_in=[1, 2], n_out=[2, 1], in_addr=[-1, 0, 1],
...     in_value=[0, 5, 5], in_type=[-1, 2, 2], in_sequence=[0, 0, 0], in_prev_out=[-1, 0, 1],
...     out_value=[5, 5, 9], out_addr=[0, 1, 2], out_type=[2, 2, 2], out_spent_by=[1, 1, -1])
>>> g = FlowGraph.from_view(v, np.array([0, 1, 2]))
>>> sorted(expand_service(g, v, [0, 1]).nodes)
[0, 1, 2]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from chainsleuth.errors import SeedRefusedError
from chainsleuth.heuristics.view import ChainView
from chainsleuth.trace.flowgraph import FlowGraph
from chainsleuth.trace.labels import NodeLabel, NodeLabels

__all__ = ["Join", "ServiceWallet", "expand_service", "grow_entities"]

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
    ins = graph.in_node[graph.tx_in_start[t] : graph.tx_in_start[t + 1]]
    outs = graph.out_node[graph.tx_out_start[t] : graph.tx_out_start[t + 1]]
    return ins, outs


def _service_only_txs(graph: FlowGraph, member: NDArray[np.bool_], in_tx: I64) -> I64:
    """Transactions whose every input entry belongs to the service."""
    ok = (graph.in_node >= 0) & member[graph.in_node.clip(min=0)]
    n_in = np.diff(graph.tx_in_start)
    n_ok = np.bincount(in_tx[ok], minlength=graph.n_tx)
    return np.flatnonzero((n_ok == n_in) & (n_in > 0) & ~graph.is_coinbase).astype(np.int64)


def expand_service(
    graph: FlowGraph,
    view: ChainView,
    seeds: Iterable[int],
    labels: NodeLabels | None = None,
    *,
    deposit_categories: Iterable[str] = ("exchange",),
    max_rounds: int = 50,
    max_addresses: int | None = None,
) -> ServiceWallet:
    """Grow the seed nodes (clusters) into the service wallet (see the module docstring);
    ``labels`` tell which clusters are exchanges (``deposit_categories``): those never join.
    A wallet growing past ``max_addresses`` addresses raises SeedRefusedError.

    >>> from chainsleuth.store.chainview import load_chain_view
    >>> from chainsleuth.trace.flowgraph import build_flow_graph
    >>> wallet = expand_service(build_flow_graph(ds), load_chain_view(ds), [92])
    >>> len(wallet.nodes), wallet.joins[0].rule
    (86, 'sweep-output')
    """
    wallet = ServiceWallet(seeds=sorted({int(s) for s in seeds}))
    wallet.nodes.update(wallet.seeds)
    member = np.zeros(graph.n_node, dtype=np.bool_)
    member[wallet.seeds] = True
    depository = np.zeros(graph.n_node, dtype=np.bool_)
    if labels is not None:
        depository[labels.nodes_in(deposit_categories)] = True
    wallet.blocked.update(int(n) for n in np.flatnonzero(depository))
    in_tx = graph.in_tx()
    for _ in range(max_rounds):
        before = len(wallet.nodes)
        _check_size(graph, wallet, member, max_addresses)
        own = _service_only_txs(graph, member, in_tx)
        paid: dict[int, list[int]] = {}
        for t in own.tolist():
            ins, outs = _tx_nodes(graph, t)
            addrs = view.out_addr[graph.tx_out_start[t] : graph.tx_out_start[t + 1]]
            if len(ins) >= 2 and len(outs) == 1 and outs[0] >= 0 and not member[outs[0]]:
                _join(wallet, member, int(outs[0]), "sweep-output", t)
            for node, addr in zip(outs.tolist(), addrs.tolist(), strict=True):
                if node >= 0 and addr >= 0 and not member[node]:
                    paid.setdefault(addr, []).append(t)
        wallet.cashout_addresses.update(
            a for a, txs in paid.items() if len(set(txs)) >= 2 or depository[graph.node_of_addr[a]]
        )
        _join_cashout_payers(graph, view, wallet, member)
        _join_sweep_inputs(graph, wallet, member, in_tx)
        _join_peel_sources(graph, view, wallet, member, in_tx)
        for t in own.tolist():
            _, outs = _tx_nodes(graph, t)
            addrs = view.out_addr[graph.tx_out_start[t] : graph.tx_out_start[t + 1]]
            if len(outs) != 2:
                continue
            hits = [a in wallet.cashout_addresses for a in addrs.tolist()]
            if sum(hits) == 1:
                other = int(outs[1] if hits[0] else outs[0])
                if other >= 0 and not member[other]:
                    _join(wallet, member, other, "peel-change", t)
        if len(wallet.nodes) == before:
            break
    _check_size(graph, wallet, member, max_addresses)
    return wallet


def _check_size(
    graph: FlowGraph, wallet: ServiceWallet, member: NDArray[np.bool_], bound: int | None
) -> None:
    size = int(graph.node_size[member].sum())
    if bound is not None and size > bound:
        raise SeedRefusedError(
            f"seed cluster(s) {', '.join(map(str, wallet.seeds))}: the service wallet grew to "
            f"{size:,} addresses, past the bound of {bound:,} (--max-service-share); the seed "
            "looks like an exchange's or an ordinary user's address, not a service's"
        )


def _join(wallet: ServiceWallet, member: NDArray[np.bool_], node: int, rule: str, t: int) -> None:
    if node in wallet.blocked:
        if all(j.node != node for j in wallet.refused):
            wallet.refused.append(Join(node, rule, t))
        return
    member[node] = True
    wallet.nodes.add(node)
    wallet.joins.append(Join(node, rule, t))


def _join_cashout_payers(
    graph: FlowGraph, view: ChainView, wallet: ServiceWallet, member: NDArray[np.bool_]
) -> None:
    """Clusters that alone pay a cash-out address join the service."""
    if not wallet.cashout_addresses:
        return
    targets = np.array(sorted(wallet.cashout_addresses), dtype=np.int64)
    hit = np.isin(view.out_addr, targets)
    out_tx = graph.out_tx()
    for t in np.unique(out_tx[hit]).tolist():
        ins, _ = _tx_nodes(graph, t)
        payers = np.unique(ins[ins >= 0])
        if len(payers) == 1 and not member[payers[0]]:
            _join(wallet, member, int(payers[0]), "cashout-address", t)


def _join_sweep_inputs(
    graph: FlowGraph, wallet: ServiceWallet, member: NDArray[np.bool_], in_tx: I64
) -> None:
    """Consolidations into the service: one output (a member) fed by several inputs of a single
    other cluster; that cluster joins."""
    n_in = np.diff(graph.tx_in_start)
    n_out = np.diff(graph.tx_out_start)
    one_out = (n_out == 1) & (n_in >= SWEEP_MIN_INPUTS)
    first_out = graph.out_node[graph.tx_out_start[:-1].clip(max=max(len(graph.out_node) - 1, 0))]
    cand = np.flatnonzero(one_out & (first_out >= 0))
    cand = cand[member[first_out[cand]]]
    for t in cand.tolist():
        ins, _ = _tx_nodes(graph, t)
        payers = np.unique(ins)
        if len(payers) == 1 and payers[0] >= 0 and not member[payers[0]]:
            _join(wallet, member, int(payers[0]), "sweep-input", t)


def grow_entities(
    graph: FlowGraph, labels: NodeLabels, categories: Iterable[str], max_rounds: int = 50
) -> tuple[NodeLabels, list[Join]]:
    """Extend the labels of attributed entities of the given categories (e.g. exchanges) by the
    ``sweep-output`` rule alone: the single output of a transaction spending two or more inputs,
    all of clusters of one entity, belongs to that entity (a sweep into a fresh hot-wallet
    address). Returns the grown labels and one Join per newly labelled cluster.

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
    entity = np.full(graph.n_node, -1, dtype=np.int64)
    names: list[NodeLabel] = []
    index: dict[str, int] = {}
    for node, lab in by_node.items():
        if (lab.category or "").lower() in wanted:
            code = index.setdefault(lab.entity, len(names))
            if code == len(names):
                names.append(lab)
            entity[node] = code
    n_in = np.diff(graph.tx_in_start)
    n_out = np.diff(graph.tx_out_start)
    cand = np.flatnonzero((n_out == 1) & (n_in >= 2) & ~graph.is_coinbase)
    in_tx = graph.in_tx()
    joins: list[Join] = []
    for _ in range(max_rounds):
        ent_in = np.where(graph.in_node >= 0, entity[graph.in_node.clip(min=0)], -1)
        lo = np.full(graph.n_tx, np.iinfo(np.int64).max, dtype=np.int64)
        hi = np.full(graph.n_tx, -2, dtype=np.int64)
        np.minimum.at(lo, in_tx, ent_in)
        np.maximum.at(hi, in_tx, ent_in)
        out_node = graph.out_node[graph.tx_out_start[cand]]
        ok = (lo[cand] == hi[cand]) & (lo[cand] >= 0) & (out_node >= 0)
        ok &= entity[out_node.clip(min=0)] < 0
        if not ok.any():
            break
        for t, node in zip(cand[ok].tolist(), out_node[ok].tolist(), strict=True):
            if entity[node] < 0:
                entity[node] = lo[t]
                by_node[node] = names[int(lo[t])]
                joins.append(Join(node, "sweep-output", t))
    return NodeLabels(by_node), joins


def _join_peel_sources(
    graph: FlowGraph,
    view: ChainView,
    wallet: ServiceWallet,
    member: NDArray[np.bool_],
    in_tx: I64,
) -> None:
    """Outside clusters whose two-output transaction feeds a service output that a service-only
    transaction then spends as its single input join the service."""
    n_in = np.diff(graph.tx_in_start)
    single = np.flatnonzero((n_in == 1) & ~graph.is_coinbase)
    first_in = graph.in_node[graph.tx_in_start[single]]
    single = single[(first_in >= 0) & member[first_in.clip(min=0)]]
    prev_out = view.in_prev_out[graph.tx_in_start[single]]
    prev_out = prev_out[prev_out >= 0]
    out_tx = graph.out_tx()
    n_out = np.diff(graph.tx_out_start)
    for t in np.unique(out_tx[prev_out]).tolist():
        if n_out[t] != 2 or graph.is_coinbase[t]:
            continue
        ins, _ = _tx_nodes(graph, t)
        payers = np.unique(ins)
        if len(payers) == 1 and payers[0] >= 0 and not member[payers[0]]:
            _join(wallet, member, int(payers[0]), "peel-source", t)
