"""The shared-deposit-address search follows deposit addresses from the payers to a fixpoint:
on the real-Core-wallet regtest case it finds exactly the groups the exhaustive pairing of every
exchange receipt finds, and stops at its entry bound (what it reads at 30 M transactions:
docs/benchmarks.md)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from chainsleuth.investigate import customers
from chainsleuth.investigate.chain import CaseChain, entry_tx, node_entries, plain, tx_set
from chainsleuth.investigate.customers import CustomerGroups, group_customers
from chainsleuth.investigate.service import Investigation, investigate_service
from chainsleuth.store.dataset import Dataset
from chainsleuth.trace.flowgraph import FlowGraph, build_flow_graph


def _exhaustive(
    graph: FlowGraph,
    chain: CaseChain,
    outside: customers._Outside,
    deposit: np.ndarray,
    seeds: object,
    **_: object,
) -> list[tuple[int, int, int]]:
    """The pairing over every receipt of every deposit cluster (the former rule, whole-chain)."""
    pos = node_entries(graph.node_recv_start, graph.node_recv, deposit)
    out_tx = entry_tx(graph.tx_out_start, pos)
    txs = tx_set(out_tx)
    who = customers._sole_payers(graph, txs)[np.searchsorted(txs, out_tx)]
    addr = chain.out_addr(pos)
    keep = (who >= 0) & outside.mask(who) & (addr >= 0)
    return customers._pairs_by_key(addr[keep], who[keep], out_tx[keep])


@pytest.fixture(scope="module")
def setting(
    case_dataset: Path, regtest_truth: Path
) -> tuple[Investigation, FlowGraph, CaseChain, list[tuple[int, int, int]]]:
    with open(regtest_truth / "service_customers.csv", newline="") as fh:
        seed = list(csv.DictReader(fh))[100]["deposit_address"]
    ds = Dataset.open(case_dataset)
    inv = investigate_service(ds, [seed])
    graph = plain(build_flow_graph(ds, inv.graph.run))
    chain = CaseChain.open(ds, graph)
    payments = [(p.tx, p.customer, p.service_addr) for p in inv.payments]
    return inv, graph, chain, payments


def _group(
    setting: tuple[Investigation, FlowGraph, CaseChain, list[tuple[int, int, int]]],
    **kwargs: int,
) -> CustomerGroups:
    inv, graph, chain, payments = setting
    return group_customers(graph, chain, inv.wallet.nodes, inv.labels, payments, **kwargs)


def _links(groups: CustomerGroups) -> list[tuple[int, int, str, int]]:
    return [(k.a, k.b, k.rule, k.tx) for k in groups.links]


def test_same_groups_as_the_exhaustive_pairing(
    setting: tuple[Investigation, FlowGraph, CaseChain, list[tuple[int, int, int]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bounded = _group(setting)
    monkeypatch.setattr(customers, "_shared_addresses", _exhaustive)
    full = _group(setting)
    assert bounded.group_of_payment == full.group_of_payment
    assert bounded.clusters == full.clusters
    assert _links(bounded) == _links(full)
    shared = [k for k in bounded.links if k.rule == "shared-deposit-address"]
    assert len(shared) >= 10  # the rule matters on this case
    search = bounded.deposit_search
    assert not search.capped and search.hub_addresses == 0 and search.entries_read > 0


def _refines(fine: CustomerGroups, coarse: CustomerGroups) -> bool:
    """Every two payments in one group of ``fine`` are in one group of ``coarse``."""
    pairs = list(zip(fine.group_of_payment, coarse.group_of_payment, strict=True))
    return all(len({c for f2, c in pairs if f2 == f}) == 1 for f, _c in pairs)


def test_entry_bound_caps_the_search(
    setting: tuple[Investigation, FlowGraph, CaseChain, list[tuple[int, int, int]]],
) -> None:
    full = _group(setting)
    small = _group(setting, max_search_entries=50)
    assert small.deposit_search.capped
    assert 0 < small.deposit_search.entries_read <= 50
    shared = [k for k in small.links if k.rule == "shared-deposit-address"]
    assert len(shared) < len([k for k in full.links if k.rule == "shared-deposit-address"])
    assert small.n_groups > full.n_groups
    assert _refines(small, full)


def test_hub_addresses_are_skipped(
    setting: tuple[Investigation, FlowGraph, CaseChain, list[tuple[int, int, int]]],
) -> None:
    full = _group(setting)
    hubs = _group(setting, hub_receipts=1)
    assert hubs.deposit_search.hub_addresses > 0 and not hubs.deposit_search.capped
    # an address paid once links nobody: with every reused address skipped, no shared links
    assert not [k for k in hubs.links if k.rule == "shared-deposit-address"]
    assert hubs.n_groups > full.n_groups
    assert _refines(hubs, full)
