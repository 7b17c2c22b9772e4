"""Investigate a service from a few seed addresses: its wallet, customers, their funding
sources and the service's cash-out points, each claim with the transactions behind it.

Steps (:func:`investigate_service`):

1. the seeds' clusters, grown into the service wallet (:mod:`chainsleuth.investigate.expand`)
   and profiled (size, first/last activity, total received, payments, monthly timeline);
2. **customers**: every transaction that pays the wallet and spends no coin of it; the paying
   cluster is the one that put in most of the inputs;
3. **funding**: each payment traced back from the customer's inputs (default: haircut, at most
   6 hops, stopping at exchanges); the funding source is the attributed endpoint that received
   the largest share, with the transaction through which the value left it (the withdrawal);
4. **cash-out**: the service's outflows traced forward to attributed entities.

>>> # case = investigate_service(Dataset.open("data/regtest"), ["bcrt1q..."])
>>> # len(case.payments), case.payments[0].funding.entity -> (977, 'exchange-1')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from chainsleuth.errors import InputError
from chainsleuth.heuristics.view import ChainView
from chainsleuth.investigate.expand import Join, ServiceWallet, expand_service, grow_entities
from chainsleuth.store.chainview import load_chain_view
from chainsleuth.trace.engine import Seed, TraceResult, trace
from chainsleuth.trace.flowgraph import FlowGraph, build_flow_graph
from chainsleuth.trace.labels import NodeLabels, load_node_labels
from chainsleuth.trace.policies import policy_code

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

__all__ = [
    "CashOut",
    "Funding",
    "Investigation",
    "Payment",
    "ServiceProfile",
    "find_payments",
    "investigate_service",
    "profile_service",
]

I64 = NDArray[np.int64]
Step = Callable[[str, int, int], None]
"""progress callback: (step name, done, total)"""


@dataclass(frozen=True, slots=True)
class Funding:
    """Where (part of) a payment's value came from: an attributed entity and its outflow tx."""

    node: int
    entity: str
    category: str | None
    tx: int
    value: float
    hops: int
    share: float
    """fraction of the traced value attributed to this entity"""


@dataclass(slots=True)
class Payment:
    """One customer payment into the service."""

    tx: int
    customer: int
    amount: int
    service_addr: int
    customer_value: int
    """value of the customer's inputs in the transaction"""
    funding: Funding | None = None
    path_txs: list[int] = field(default_factory=list)
    """transactions from the funding source to the payment (trace edges of this payment)"""


@dataclass(frozen=True, slots=True)
class CashOut:
    """An attributed entity reached by the service's outflows."""

    node: int
    entity: str
    category: str | None
    value: float
    txs: tuple[int, ...]
    hops: int


@dataclass(frozen=True, slots=True)
class ServiceProfile:
    """Summary facts about the service wallet."""

    n_clusters: int
    n_addresses: int
    first_height: int
    last_height: int
    first_time: int
    last_time: int
    total_received: int
    n_payments: int
    monthly: list[tuple[str, int, int]]
    """(YYYY-MM, payments, amount received in sats)"""


@dataclass(slots=True)
class Investigation:
    """Everything :func:`investigate_service` found, with positions into ``graph``."""

    seeds: list[str]
    graph: FlowGraph
    labels: NodeLabels
    wallet: ServiceWallet
    profile: ServiceProfile
    payments: list[Payment]
    cashouts: list[CashOut]
    params: dict[str, Any]
    grown: list[Join] = field(default_factory=list)
    """clusters newly attributed to stop-category entities (sweep outputs)"""


def _month(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m")


def find_payments(graph: FlowGraph, view: ChainView, member: NDArray[np.bool_]) -> list[Payment]:
    """Transactions paying the service without spending from it, one Payment each.

    >>> # find_payments(graph, view, member)[0].amount -> 629314
    """
    out_ok = (graph.out_node >= 0) & member[graph.out_node.clip(min=0)]
    in_mem = (graph.in_node >= 0) & member[graph.in_node.clip(min=0)]
    out_tx = graph.out_tx()
    in_tx = graph.in_tx()
    spends_service = np.zeros(graph.n_tx, dtype=np.bool_)
    spends_service[in_tx[in_mem]] = True
    txs = np.unique(out_tx[out_ok])
    txs = txs[~spends_service[txs] & ~graph.is_coinbase[txs]]
    payments: list[Payment] = []
    for t in txs.tolist():
        o0, o1 = graph.tx_out_start[t], graph.tx_out_start[t + 1]
        i0, i1 = graph.tx_in_start[t], graph.tx_in_start[t + 1]
        outs = np.arange(o0, o1)[out_ok[o0:o1]]
        ins_node = graph.in_node[i0:i1]
        ins_val = graph.in_value[i0:i1]
        valid = ins_node >= 0
        if not valid.any():
            continue
        nodes, inv = np.unique(ins_node[valid], return_inverse=True)
        per = np.bincount(inv, ins_val[valid])
        best = int(np.argmax(per))
        biggest = outs[int(np.argmax(graph.out_value[outs]))]
        payments.append(
            Payment(
                tx=t,
                customer=int(nodes[best]),
                amount=int(graph.out_value[outs].sum()),
                service_addr=int(view.out_addr[biggest]),
                customer_value=int(per[best]),
            )
        )
    return payments


def profile_service(
    graph: FlowGraph, member: NDArray[np.bool_], payments: Sequence[Payment]
) -> ServiceProfile:
    """Size, activity span, volume and monthly timeline of the service wallet.

    >>> # profile_service(graph, member, payments).n_addresses -> 1016
    """
    out_ok = (graph.out_node >= 0) & member[graph.out_node.clip(min=0)]
    in_ok = (graph.in_node >= 0) & member[graph.in_node.clip(min=0)]
    txs = np.unique(np.concatenate([graph.out_tx()[out_ok], graph.in_tx()[in_ok]]))
    months: dict[str, list[int]] = {}
    for p in payments:
        row = months.setdefault(_month(int(graph.tx_time[p.tx])), [0, 0])
        row[0] += 1
        row[1] += p.amount
    has = len(txs) > 0
    return ServiceProfile(
        n_clusters=int(member.sum()),
        n_addresses=int(graph.node_size[member].sum()),
        first_height=int(graph.tx_height[txs[0]]) if has else -1,
        last_height=int(graph.tx_height[txs[-1]]) if has else -1,
        first_time=int(graph.tx_time[txs[0]]) if has else 0,
        last_time=int(graph.tx_time[txs[-1]]) if has else 0,
        total_received=int(graph.out_value[out_ok].sum()),
        n_payments=len(payments),
        monthly=[(m, v[0], v[1]) for m, v in sorted(months.items())],
    )


def _customer_seeds(payments: Sequence[Payment]) -> list[Seed]:
    """One seed per payment: the customer's inputs in the payment transaction."""
    return [Seed(p.customer, p.tx) for p in payments]


def _attach_funding(result: TraceResult, payments: Sequence[Payment], labels: NodeLabels) -> None:
    """Give each payment its largest attributed endpoint (per seed) as funding source."""
    per_seed: dict[int, list[Any]] = {}
    for e in result.endpoints(("stop",), per_seed=True):
        per_seed.setdefault(e.seed, []).append(e)
    order = np.argsort(result.edge_seed, kind="stable")
    bounds = np.searchsorted(result.edge_seed[order], np.arange(len(payments) + 1))
    for idx, p in enumerate(payments):
        ends = per_seed.get(idx, [])
        if not ends:
            continue
        by_entity: dict[str, float] = {}
        for e in ends:
            lab = labels.get(e.node)
            name = lab.entity if lab else str(e.node)
            by_entity[name] = by_entity.get(name, 0.0) + e.value
        top_entity = max(by_entity, key=lambda k: by_entity[k])
        best = max(
            (e for e in ends if (lab := labels.get(e.node)) and lab.entity == top_entity),
            key=lambda e: e.value,
        )
        lab = labels.get(best.node)
        p.funding = Funding(
            node=best.node,
            entity=top_entity,
            category=lab.category if lab else None,
            tx=best.tx,
            value=by_entity[top_entity],
            hops=best.hop,
            share=by_entity[top_entity] / max(p.customer_value, 1),
        )
        p.path_txs = _path_to(result, order[bounds[idx] : bounds[idx + 1]], best.node, best.tx)


def _path_to(result: TraceResult, mask: I64, node: int, tx: int) -> list[int]:
    """Transactions of one chain of trace edges from ``node`` (leaving in ``tx``) to the seed,
    following the largest edge at each step (money direction)."""
    src = result.edge_src[mask]
    dst = result.edge_dst[mask]
    etx = result.edge_tx[mask]
    val = result.edge_value[mask]
    hop = result.edge_hop[mask]
    path = [tx]
    here = np.flatnonzero((src == node) & (etx == tx))
    if not len(here):
        return path
    cur = here[int(np.argmax(val[here]))]
    while hop[cur] > 1:
        nxt = np.flatnonzero((src == dst[cur]) & (hop == hop[cur] - 1) & (etx > etx[cur]))
        if not len(nxt):
            break
        cur = nxt[int(np.argmax(val[nxt]))]
        path.append(int(etx[cur]))
    return path


def _cashouts(result: TraceResult, labels: NodeLabels) -> list[CashOut]:
    grouped: dict[int, list[Any]] = {}
    for e in result.endpoints(("stop",)):
        grouped.setdefault(e.node, []).append(e)
    rows = []
    for node, ends in grouped.items():
        lab = labels.get(node)
        rows.append(
            CashOut(
                node=node,
                entity=lab.entity if lab else str(node),
                category=lab.category if lab else None,
                value=sum(e.value for e in ends),
                txs=tuple(sorted({e.tx for e in ends})),
                hops=min(e.hop for e in ends),
            )
        )
    rows.sort(key=lambda c: -c.value)
    return rows


def _merge_service(
    graph: FlowGraph, view: ChainView, member: NDArray[np.bool_], service_node: int
) -> FlowGraph:
    """The flow graph with every service cluster merged into ``service_node``, so the service
    is one pool and its internal moves (sweeps, peels) are not counted as outflows."""
    mapping = graph.node_of_addr.copy()
    mapping[member[mapping]] = service_node
    return FlowGraph.from_view(view, mapping, tx_time=graph.tx_time, level="cluster", run=graph.run)


def investigate_service(
    ds: Dataset,
    seeds: Sequence[str],
    out: Path | str | None = None,
    *,
    run: str | None = None,
    hops: int = 6,
    policy: str = "haircut",
    stop_categories: Sequence[str] = ("exchange",),
    min_value: float = 1000.0,
    forward_hops: int = 6,
    progress: Step | None = None,
) -> Investigation:
    """Run the service investigation from seed addresses (see the module docstring); when
    ``out`` is given, also write the case files there (``investigate.case.write_case``).

    >>> # investigate_service(ds, ["bcrt1qrlz3a8k2dar5uy50thgrhjjrdyjrcmp6pwmstv"]).profile
    """
    say = progress or (lambda _s, _d, _t: None)
    if not seeds:
        raise InputError("no seed address given")
    policy_code(policy)
    if hops < 1 or forward_hops < 1:
        raise InputError(f"hops must be at least 1: {min(hops, forward_hops)}")
    say("loading flow graph", 0, 5)
    view = load_chain_view(ds)
    graph = build_flow_graph(ds, run, view=view)
    labels = load_node_labels(ds, graph)
    seed_nodes = []
    for address in seeds:
        addr = ds.addr_id(address)
        seed_nodes.append(int(graph.node_of_addr[addr]))
    say("expanding the service wallet", 1, 5)
    wallet = expand_service(graph, view, seed_nodes, labels, deposit_categories=stop_categories)
    member = np.zeros(graph.n_node, dtype=np.bool_)
    member[sorted(wallet.nodes)] = True
    payments = find_payments(graph, view, member)
    profile = profile_service(graph, member, payments)
    service_node = min(wallet.nodes)
    case_graph = _merge_service(graph, view, member, service_node)
    labels, grown = grow_entities(case_graph, labels, stop_categories)
    say("tracing customers back", 2, 5)
    if payments:
        back = trace(
            case_graph,
            _customer_seeds(payments),
            direction="back",
            hops=hops,
            policy=policy,
            min_value=min_value,
            stop_categories=stop_categories,
            labels=labels,
        )
        _attach_funding(back, payments, labels)
    say("tracing the service forward", 3, 5)
    fwd = trace(
        case_graph,
        [Seed(service_node)],
        direction="forward",
        hops=forward_hops,
        policy=policy,
        min_value=min_value,
        stop_categories=stop_categories,
        labels=labels,
    )
    say("done", 5, 5)
    inv = Investigation(
        seeds=list(seeds),
        graph=graph,
        labels=labels,
        wallet=wallet,
        profile=profile,
        payments=payments,
        cashouts=_cashouts(fwd, labels),
        grown=grown,
        params={
            "run": graph.run,
            "hops": hops,
            "forward_hops": forward_hops,
            "policy": policy,
            "stop_categories": list(stop_categories),
            "min_value": min_value,
        },
    )
    if out is not None:
        from chainsleuth.investigate.case import write_case

        write_case(ds, inv, out)
    return inv
