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

>>> case = investigate_service(ds, [seed])  # ds: the regtest chain, clustered and tagged
>>> len(case.payments), case.profile.income, case.payments[0].funding.entity
(977, 1821915624, 'exchange-1')
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from chainsleuth.budget import TMP_DIR
from chainsleuth.errors import InputError, SeedRefusedError
from chainsleuth.investigate.chain import CaseChain, entry_tx, node_entries, plain
from chainsleuth.investigate.customers import CustomerGroups, group_customers
from chainsleuth.investigate.expand import (
    Join,
    ServiceWallet,
    expand_service,
    grow_entities,
    recv_txs,
    service_only_txs,
    spend_txs,
)
from chainsleuth.investigate.merge import merge_nodes
from chainsleuth.scratch import scratch_folder
from chainsleuth.trace.engine import Seed, TraceResult, trace
from chainsleuth.trace.flowgraph import FlowGraph, build_flow_graph
from chainsleuth.trace.labels import NodeLabels, load_node_labels
from chainsleuth.trace.policies import policy_code

if TYPE_CHECKING:
    from chainsleuth.budget import MemoryBudget
    from chainsleuth.store.dataset import Dataset

__all__ = [
    "Exposure",
    "Funding",
    "Investigation",
    "Outflow",
    "Payment",
    "ServiceProfile",
    "find_outflows",
    "find_payments",
    "funding_confidence",
    "investigate_service",
    "profile_service",
]

I64 = NDArray[np.int64]

DEFAULT_MAX_SERVICE_SHARE = 0.25
"""A service wallet may hold at most this share of the dataset's addresses; a seed whose
wallet grows past it is refused (an exchange's or an ordinary user's address, not a
service's)."""

MIN_SERVICE_BOUND = 1_000
"""…but never less than this many addresses (tiny chains)."""

FUNDING_CONFIDENCE = (0.98, 0.98, 0.91, 0.85, 0.84)
"""Measured chance that a lead's funding entity is right, by the number of hops between the
funding transaction and the payment (index 1, 2, 3, ≥ 4): the worse of regtest-core-a (real
Core wallets) and the simulated demo case, leads scored against each customer's home exchange
(docs/case-files.md); ``eval investigation`` re-measures it as ``funding_calibration``."""


def funding_confidence(hops: int) -> float:
    """The calibrated confidence of a funding source found ``hops`` transactions back.

    >>> funding_confidence(1), funding_confidence(7)
    (0.98, 0.84)
    """
    return FUNDING_CONFIDENCE[min(max(hops, 1), len(FUNDING_CONFIDENCE) - 1)]


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
    payer_addrs: list[int] = field(default_factory=list)
    """addr_ids of the payer cluster's inputs in the payment"""
    service_outs: list[int] = field(default_factory=list)
    """output positions of the payment that pay the service"""
    group: int = 0
    """customer group (1…N), see :mod:`chainsleuth.investigate.customers`"""
    funding_out: int = -1
    """output position of the funding transaction that the evidence chain follows (the
    withdrawal output), -1 when unknown"""
    funding_addr: int = -1
    """addr_id that output pays"""


@dataclass(frozen=True, slots=True)
class Outflow:
    """One output of a transaction spending only the service's coins to an address outside it:
    a cash-out when the receiving cluster is attributed to a cash-out category (an exchange)."""

    node: int
    entity: str
    """the receiving cluster's entity, or "" when unattributed"""
    category: str | None
    tx: int
    out: int
    """output position (the vout is ``out - graph.tx_out_start[tx]``)"""
    addr: int
    amount: int


@dataclass(frozen=True, slots=True)
class Exposure:
    """An attributed entity the service's outflows reach by tracing (policy-dependent)."""

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
    income: int = 0
    """customer payments only"""
    self_transfers: int = 0
    """received from transactions spending only the service's own coins (sweeps, peel change)"""
    other_received: int = 0
    """received in transactions that spend both the service's and others' coins"""


@dataclass(slots=True)
class Investigation:
    """Everything :func:`investigate_service` found, with positions into ``graph``."""

    seeds: list[str]
    graph: FlowGraph
    labels: NodeLabels
    wallet: ServiceWallet
    profile: ServiceProfile
    payments: list[Payment]
    cashouts: list[Outflow]
    """outflows to clusters of a cash-out category (exchanges), one per output"""
    params: dict[str, Any]
    grown: list[Join] = field(default_factory=list)
    """clusters newly attributed to stop-category entities (sweep outputs)"""
    outflows: list[Outflow] = field(default_factory=list)
    """every other outflow of the service (unattributed or other categories)"""
    exposure: list[Exposure] = field(default_factory=list)
    """attributed entities the forward trace reaches (an estimate under the policy)"""
    groups: CustomerGroups | None = None


def _month(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m")


def _members(nodes: Iterable[int]) -> I64:
    return np.array(sorted({int(n) for n in nodes}), dtype=np.int64)


def find_payments(graph: FlowGraph, chain: CaseChain, members: Iterable[int]) -> list[Payment]:
    """Transactions paying the service (``members``: its clusters) without spending from it,
    one Payment each; found from the members' receipts (``node_recv``).

    >>> from chainsleuth.trace.flowgraph import build_flow_graph
    >>> graph = build_flow_graph(ds)
    >>> chain = CaseChain.open(ds, graph)
    >>> payments = find_payments(graph, chain, expand_service(graph, chain, [92]).nodes)
    >>> len(payments), payments[0].amount
    (977, 629314)
    """
    mem = _members(members)
    txs = recv_txs(graph, mem)
    spending, _n = spend_txs(graph, mem)
    txs = txs[~np.isin(txs, spending) & ~np.asarray(graph.is_coinbase[txs], dtype=np.bool_)]
    payments: list[Payment] = []
    for t in txs.tolist():
        o0, o1 = chain.outs(t)
        i0, i1 = chain.ins(t)
        out_node = np.asarray(graph.out_node[o0:o1])
        outs = np.arange(o0, o1, dtype=np.int64)[np.isin(out_node, mem)]
        ins_node = np.asarray(graph.in_node[i0:i1])
        ins_val = np.asarray(graph.in_value[i0:i1])
        valid = ins_node >= 0
        if not valid.any():
            continue
        nodes, inv = np.unique(ins_node[valid], return_inverse=True)
        per = np.bincount(inv, ins_val[valid])
        best = int(np.argmax(per))
        values = np.asarray(graph.out_value[outs])
        biggest = outs[int(np.argmax(values))]
        payer_addrs = chain.in_addr(np.arange(i0, i1, dtype=np.int64))[ins_node == nodes[best]]
        payments.append(
            Payment(
                tx=t,
                customer=int(nodes[best]),
                amount=int(values.sum()),
                service_addr=int(chain.out_addr(np.array([biggest]))[0]),
                customer_value=int(per[best]),
                payer_addrs=sorted({int(a) for a in payer_addrs if a >= 0}),
                service_outs=[int(o) for o in outs],
            )
        )
    return payments


def profile_service(
    graph: FlowGraph, members: Iterable[int], payments: Sequence[Payment]
) -> ServiceProfile:
    """Size, activity span, volume and monthly timeline of the service wallet (``members``:
    its clusters); what it received split into customer payments (income), its own transfers
    and the rest. Reads the members' entries only.

    >>> from chainsleuth.trace.flowgraph import build_flow_graph
    >>> graph = build_flow_graph(ds)
    >>> chain = CaseChain.open(ds, graph)
    >>> members = expand_service(graph, chain, [92]).nodes
    >>> prof = profile_service(graph, members, find_payments(graph, chain, members))
    >>> prof.n_addresses, prof.income, prof.income + prof.self_transfers <= prof.total_received
    (1016, 1821915624, True)
    """
    mem = _members(members)
    recv = node_entries(graph.node_recv_start, graph.node_recv, mem)
    spend = node_entries(graph.node_spend_start, graph.node_spend, mem)
    recv_tx = entry_tx(graph.tx_out_start, recv)
    txs = np.unique(np.concatenate([recv_tx, entry_tx(graph.tx_in_start, spend)]))
    months: dict[str, list[int]] = {}
    for p in payments:
        row = months.setdefault(_month(int(graph.tx_time[p.tx])), [0, 0])
        row[0] += 1
        row[1] += p.amount
    has = len(txs) > 0
    recv_value = np.asarray(graph.out_value[recv], dtype=np.int64)
    total = int(recv_value.sum())
    own = service_only_txs(graph, mem)
    self_transfers = int(recv_value[np.isin(recv_tx, own)].sum())
    income = sum(p.amount for p in payments)
    return ServiceProfile(
        n_clusters=len(mem),
        n_addresses=int(np.asarray(graph.node_size[mem]).sum()),
        first_height=int(graph.tx_height[txs[0]]) if has else -1,
        last_height=int(graph.tx_height[txs[-1]]) if has else -1,
        first_time=int(graph.tx_time[txs[0]]) if has else 0,
        last_time=int(graph.tx_time[txs[-1]]) if has else 0,
        total_received=total,
        n_payments=len(payments),
        monthly=[(m, v[0], v[1]) for m, v in sorted(months.items())],
        income=income,
        self_transfers=self_transfers,
        other_received=total - self_transfers - income,
    )


def find_outflows(
    graph: FlowGraph,
    chain: CaseChain,
    members: Iterable[int],
    labels: NodeLabels,
    cashout_categories: Sequence[str] = ("exchange",),
) -> tuple[list[Outflow], list[Outflow]]:
    """The service's outflows, one per output of a transaction spending only its coins to an
    address outside it: (cash-outs to ``cashout_categories``, every other outflow).

    >>> from chainsleuth.trace.flowgraph import build_flow_graph
    >>> graph = build_flow_graph(ds)
    >>> chain = CaseChain.open(ds, graph)
    >>> labels = load_node_labels(ds, graph)
    >>> members = expand_service(graph, chain, [92], labels).nodes
    >>> cash, other = find_outflows(graph, chain, members, labels)
    >>> len(cash), cash[0].entity, cash[0].amount, len(other)
    (113, 'exchange-1', 32430681, 14)
    """
    mem = _members(members)
    wanted = {c.lower() for c in cashout_categories}
    cash: list[Outflow] = []
    other: list[Outflow] = []
    for t in service_only_txs(graph, mem).tolist():
        o0, o1 = chain.outs(t)
        entries = np.arange(o0, o1, dtype=np.int64)
        node = np.asarray(graph.out_node[o0:o1])
        addrs = chain.out_addr(entries)
        outside = (node >= 0) & ~np.isin(node, mem) & (addrs >= 0)
        for k in np.flatnonzero(outside).tolist():
            lab = labels.get(int(node[k]))
            row = Outflow(
                node=int(node[k]),
                entity=lab.entity if lab else "",
                category=lab.category if lab else None,
                tx=t,
                out=o0 + k,
                addr=int(addrs[k]),
                amount=int(graph.out_value[o0 + k]),
            )
            is_cash = lab is not None and (lab.category or "").lower() in wanted
            (cash if is_cash else other).append(row)
    return cash, other


def _customer_seeds(payments: Sequence[Payment]) -> list[Seed]:
    """One seed per payment: the customer's inputs in the payment transaction."""
    return [Seed(p.customer, p.tx) for p in payments]


def _attach_funding(
    result: TraceResult,
    payments: Sequence[Payment],
    labels: NodeLabels,
    chain: CaseChain,
    graph: FlowGraph,
) -> None:
    """Give each payment its largest attributed endpoint (per seed) as funding source."""
    per_seed: dict[int, list[Any]] = {}
    for e in result.endpoints(("stop",), per_seed=True):
        per_seed.setdefault(e.seed, []).append(e)
    pending: list[tuple[Payment, int, int]] = []
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
        mask = order[bounds[idx] : bounds[idx + 1]]
        p.path_txs = _path_to(result, mask, best.node, best.tx)
        if best.tx == p.tx:  # paid straight from the entity's cluster
            p.funding_out = max(p.service_outs, key=lambda o: int(graph.out_value[o]))
        else:
            first = mask[(result.edge_src[mask] == best.node) & (result.edge_tx[mask] == best.tx)]
            receiver = int(result.edge_dst[first[np.argmax(result.edge_value[first])]])
            pending.append((p, best.tx, receiver))
    # the spent outputs of every evidence step after a withdrawal, read at once
    steps = [p.path_txs[1] if len(p.path_txs) > 1 else p.tx for p, _t, _r in pending]
    if steps:
        chain.spent_output(np.concatenate([np.arange(*chain.ins(t)) for t in steps]))
    for p, tx, receiver in pending:
        p.funding_out = _withdrawal_output(chain, graph, tx, p.path_txs, p.tx, receiver)
    for p in payments:
        if p.funding is not None:
            p.funding_addr = _out_addr(chain, p.funding_out)


def _attach_direct_funding(
    payments: Sequence[Payment],
    labels: NodeLabels,
    chain: CaseChain,
    graph: FlowGraph,
    categories: Sequence[str],
) -> None:
    """A payment spending outputs that an attributed entity (``categories``) paid straight to
    the customer is funded by that withdrawal: exact to the output, no trace needed. The entity
    whose outputs bring the most value wins; the withdrawal is its largest such output.
    Reads the spent outputs of the customers' inputs in the payments only."""
    wanted = {c.lower() for c in categories}
    mine = [
        i for p in payments for i in range(*chain.ins(p.tx)) if int(graph.in_node[i]) == p.customer
    ]
    chain.spent_output(np.array(mine, dtype=np.int64))  # one batched read
    for p in payments:
        i0, i1 = chain.ins(p.tx)
        by_entity: dict[str, list[int]] = {}
        nodes: dict[str, int] = {}
        for i in range(i0, i1):
            if graph.in_node[i] != p.customer:
                continue
            prev = int(chain.spent_output(np.array([i]))[0])
            if prev < 0:
                continue
            src_tx = int(chain.out_tx(np.array([prev]))[0])
            j0, j1 = chain.ins(src_tx)
            if j0 == j1 or graph.is_coinbase[src_tx]:
                continue
            sender = int(graph.in_node[j0])
            lab = labels.get(sender) if sender >= 0 else None
            if lab is None or (lab.category or "").lower() not in wanted:
                continue
            if sender == p.customer:
                continue
            by_entity.setdefault(lab.entity, []).append(prev)
            nodes[lab.entity] = sender
        if not by_entity:
            continue
        value = {e: sum(int(graph.out_value[o]) for o in outs) for e, outs in by_entity.items()}
        entity = max(value, key=lambda e: value[e])
        out = max(by_entity[entity], key=lambda o: int(graph.out_value[o]))
        tx = int(chain.out_tx(np.array([out]))[0])
        lab = labels.get(nodes[entity])
        p.funding = Funding(
            node=nodes[entity],
            entity=entity,
            category=lab.category if lab else None,
            tx=tx,
            value=float(value[entity]),
            hops=1,
            share=value[entity] / max(p.customer_value, 1),
        )
        p.path_txs = [tx, p.tx]
        p.funding_out = out
        p.funding_addr = _out_addr(chain, out)


def _out_addr(chain: CaseChain, out: int) -> int:
    return int(chain.out_addr(np.array([out]))[0]) if out >= 0 else -1


def _withdrawal_output(
    chain: CaseChain, graph: FlowGraph, tx: int, path: Sequence[int], payment: int, receiver: int
) -> int:
    """The output of funding transaction ``tx`` that the next evidence step spends (read from
    that step's inputs), else the one paying the trace's receiving cluster ``receiver`` (the
    largest when several), else -1."""
    nxt = path[1] if len(path) > 1 else payment
    o0, o1 = chain.outs(tx)
    spent = set(chain.spent_output(np.arange(*chain.ins(nxt), dtype=np.int64)).tolist())
    hits = [o for o in range(o0, o1) if o in spent]
    if not hits:
        hits = [o for o in range(o0, o1) if graph.out_node[o] == receiver]
    return max(hits, key=lambda o: int(graph.out_value[o])) if hits else -1


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


def _exposure(result: TraceResult, labels: NodeLabels) -> list[Exposure]:
    grouped: dict[int, list[Any]] = {}
    for e in result.endpoints(("stop",)):
        grouped.setdefault(e.node, []).append(e)
    rows = []
    for node, ends in grouped.items():
        lab = labels.get(node)
        rows.append(
            Exposure(
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


def _scratch(ds: Dataset) -> contextlib.AbstractContextManager[Path]:
    """A private folder under ``DATASET/_tmp/`` for the case graph, removed afterwards (and
    by the next investigation if this process is killed)."""
    return scratch_folder(Path(ds.path) / TMP_DIR, "casegraph")


def _check_seeds(
    ds: Dataset,
    seeds: Sequence[str],
    graph: FlowGraph,
    labels: NodeLabels,
    stop_categories: Sequence[str],
) -> list[int]:
    """The seeds' clusters; refuses a seed attributed to a stop category (an exchange) and
    seeds attributed to two different actors."""
    wanted = {c.lower() for c in stop_categories}
    nodes: list[int] = []
    actors: dict[str, str] = {}
    for address in seeds:
        node = int(graph.node_of_addr[ds.addr_id(address)])
        lab = labels.get(node)
        if lab is not None and (lab.category or "").lower() in wanted:
            raise SeedRefusedError(
                f"seed {address} is in cluster {node}, attributed to {lab.entity} "
                f"({lab.category}): a service's own address is not in an exchange's wallet"
            )
        if lab is not None:
            actors.setdefault(lab.entity, address)
        nodes.append(node)
    if len(actors) > 1:
        (a1, s1), (a2, s2) = list(actors.items())[:2]
        raise SeedRefusedError(
            f"seeds {s1} and {s2} are attributed to different actors: {a1}, {a2}"
        )
    return nodes


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
    max_service_share: float = DEFAULT_MAX_SERVICE_SHARE,
    allow_stale: bool = False,
    progress: Step | None = None,
    budget: MemoryBudget | None = None,
) -> Investigation:
    """Run the service investigation from seed addresses (see the module docstring); when
    ``out`` is given, also write the case files there (``investigate.case.write_case``).

    Refuses (SeedRefusedError) a seed attributed to a ``stop_categories`` entity, seeds of two
    actors, and a wallet that grows past ``max_service_share`` of the dataset's addresses;
    refuses a stale clustering run unless ``allow_stale``.

    Reads the chain from disk: the cluster and address flow graphs (memmaps, built on first use
    within ``budget``, default ``--memory-limit``'s) walked from the nodes reached, rows of the
    inputs and outputs the steps name, and the case graph (the service merged into one node,
    :mod:`~chainsleuth.investigate.merge`) written under ``DATASET/_tmp/`` for the traces and
    removed after them. Never the whole chain as a view.

    >>> inv = investigate_service(ds, ["bcrt1qrlz3a8k2dar5uy50thgrhjjrdyjrcmp6pwmstv"])
    >>> inv.profile.n_addresses, len({p.group for p in inv.payments})
    (1016, 73)
    """
    say = progress or (lambda _s, _d, _t: None)
    if not seeds:
        raise InputError("no seed address given")
    policy_code(policy)
    if hops < 1 or forward_hops < 1:
        raise InputError(f"hops must be at least 1: {min(hops, forward_hops)}")
    if min_value < 0:
        raise InputError(f"--min-value must not be negative: {min_value}")
    if not 0 < max_service_share <= 1:
        raise InputError(f"max service share must be in (0, 1]: {max_service_share}")
    say("loading flow graph", 0, 5)
    stored = build_flow_graph(ds, run, allow_stale=allow_stale, budget=budget)
    graph = plain(stored)
    chain = CaseChain.open(ds, graph, budget=budget)
    labels = load_node_labels(ds, graph)
    seed_nodes = _check_seeds(ds, seeds, graph, labels, stop_categories)
    say("expanding the service wallet", 1, 5)
    max_addresses = max(MIN_SERVICE_BOUND, int(max_service_share * chain.n_addr))
    wallet = expand_service(
        graph,
        chain,
        seed_nodes,
        labels,
        deposit_categories=stop_categories,
        max_addresses=max_addresses,
    )
    payments = find_payments(graph, chain, wallet.nodes)
    profile = profile_service(graph, wallet.nodes, payments)
    service_node = min(wallet.nodes)
    with _scratch(ds) as folder:
        case_graph = plain(merge_nodes(graph, wallet.nodes, service_node, folder))
        labels, grown = grow_entities(case_graph, labels, stop_categories)
        say("grouping customers", 2, 6)
        groups = group_customers(
            graph,
            chain,
            wallet.nodes,
            labels,
            [(p.tx, p.customer, p.service_addr) for p in payments],
            deposit_categories=stop_categories,
        )
        for p, g in zip(payments, groups.group_of_payment, strict=True):
            p.group = g
        say("tracing customers back", 3, 6)
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
            _attach_funding(back, payments, labels, chain, case_graph)
            _attach_direct_funding(payments, labels, chain, case_graph, stop_categories)
            del back
        say("tracing the service forward", 4, 6)
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
        exposure = _exposure(fwd, labels)
        del fwd, case_graph
    cash, other = find_outflows(graph, chain, wallet.nodes, labels, stop_categories)
    say("done", 6, 6)
    inv = Investigation(
        seeds=list(seeds),
        graph=stored,
        labels=labels,
        wallet=wallet,
        profile=profile,
        payments=payments,
        cashouts=cash,
        outflows=other,
        exposure=exposure,
        groups=groups,
        grown=grown,
        params={
            "run": graph.run,
            "hops": hops,
            "forward_hops": forward_hops,
            "policy": policy,
            "stop_categories": list(stop_categories),
            "min_value": min_value,
            "max_service_share": max_service_share,
            "allow_stale": allow_stale,
        },
    )
    if out is not None:
        from chainsleuth.investigate.case import write_case

        write_case(ds, inv, out)
    return inv
