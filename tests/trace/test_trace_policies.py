"""Poison, haircut and FIFO on a hand-built chain, against values worked out by hand (the
arithmetic is in each test's comments).

The chain (addresses A=0, B=1, D=2, E=3; E is tagged as an exchange)::

    tx0  coinbase            -> E 100
    tx1  coinbase            -> B 60
    tx2  E(100)              -> A 40, E 59          fee 1   (a withdrawal)
    tx3  B(60)               -> A 20, B 39          fee 1
    tx4  A(40 of tx2)        -> D 30, A 9           fee 1
    tx5  A(9 of tx4), A(20 of tx3) -> D 10, B 18    fee 1

Block times are 1000, 1100, ..., 1500.
"""

from __future__ import annotations

import numpy as np
import pytest

from chainsleuth.errors import InputError, NotFoundError
from chainsleuth.heuristics.view import ChainView
from chainsleuth.trace.engine import Seed, TraceResult, trace
from chainsleuth.trace.flowgraph import FlowGraph
from chainsleuth.trace.labels import NodeLabel, NodeLabels

A, B, D, E = 0, 1, 2, 3


def small_view() -> ChainView:
    return ChainView.from_columns(
        tx_id=[0, 1, 2, 3, 4, 5], height=[0, 1, 2, 3, 4, 5], version=[2] * 6, locktime=[0] * 6,
        is_coinbase=[True, True, False, False, False, False],
        n_in=[1, 1, 1, 1, 1, 2], n_out=[1, 1, 2, 2, 2, 2],
        in_addr=[-1, -1, E, B, A, A, A], in_value=[0, 0, 100, 60, 40, 9, 20],
        in_type=[-1, -1, 2, 2, 2, 2, 2], in_sequence=[0] * 7,
        in_prev_out=[-1, -1, 0, 1, 2, 7, 4],
        out_value=[100, 60, 40, 59, 20, 39, 30, 9, 10, 18],
        out_addr=[E, B, A, E, A, B, D, A, D, B], out_type=[2] * 10,
        out_spent_by=[2, 3, 4, -1, 5, -1, -1, 5, -1, -1],
    )  # fmt: skip


@pytest.fixture
def small_graph() -> FlowGraph:
    """The six-transaction chain at address level."""
    times = np.array([1000, 1100, 1200, 1300, 1400, 1500], dtype=np.int64)
    return FlowGraph.from_view(small_view(), tx_time=times)


@pytest.fixture
def small_clusters() -> FlowGraph:
    """The small chain at cluster level: A and B in cluster 0 (two addresses), D 2, E 3."""
    return FlowGraph.from_view(small_view(), np.array([0, 0, 2, 3]))


@pytest.fixture
def small_labels() -> NodeLabels:
    return NodeLabels({E: NodeLabel("Exchange E", "exchange", "exchange-e")})


def totals(result: TraceResult) -> dict[tuple[int, str], float]:
    return {(n, k): v for n, k, v in result.endpoint_totals()}


def test_graph_columns(small_graph: FlowGraph) -> None:
    g = small_graph
    assert g.tx_in_total.tolist() == [0, 0, 100, 60, 40, 29]
    assert g.tx_out_total.tolist() == [100, 60, 99, 59, 39, 28]
    assert g.node_total_in.tolist() == [69, 117, 40, 159]
    assert g.node_total_out.tolist() == [69, 60, 0, 100]
    # A's queue: receipts at 0 (tx2), 40 (tx3), 60 (tx4); spends at 0 (tx4), 40, 49 (tx5)
    assert g.out_cum[g.receipts_of(A)].tolist() == [0, 40, 60]
    assert g.in_cum[g.spends_of(A)].tolist() == [0, 40, 49]
    assert g.in_off()[g.tx_in_start[5] : g.tx_in_start[6]].tolist() == [0, 9]


def test_back_haircut(small_graph: FlowGraph, small_labels: NodeLabels) -> None:
    # D's 40 = 30 (tx4) + 10 (tx5). tx4 → A before tx4: tx2 40, tx3 20 → E 20, B 10.
    # tx5 → A before tx5: tx2 40, tx3 20, tx4 9 (of 69) → E 400/69, B 200/69, A@tx4 90/69;
    # A@tx4 90/69 → E 60/69, B 30/69. E = 20 + 460/69 = 80/3; B's coinbase = 40/3.
    r = trace(small_graph, [D], hops=4, policy="haircut", labels=small_labels, min_value=0)
    t = totals(r)
    assert t[(E, "stop")] == pytest.approx(80 / 3)
    assert t[(B, "mined")] == pytest.approx(40 / 3)
    assert sum(t.values()) == pytest.approx(40)
    stop = r.endpoints(["stop"])
    # E's withdrawal tx2 is reached first at hop 2 (D ← A ← E)
    assert [(e.tx, e.hop) for e in stop] == [(2, 2)]


def test_back_haircut_hop_limit(small_graph: FlowGraph, small_labels: NodeLabels) -> None:
    # after two hops: E 20 + 400/69 stopped; B@tx3 10 + 200/69 and A@tx4 90/69 in flight
    r = trace(small_graph, [D], hops=2, policy="haircut", labels=small_labels)
    t = totals(r)
    assert t[(E, "stop")] == pytest.approx(20 + 400 / 69)
    assert t[(B, "hop-limit")] == pytest.approx(10 + 200 / 69)
    assert t[(A, "hop-limit")] == pytest.approx(90 / 69)


def test_back_fifo(small_graph: FlowGraph, small_labels: NodeLabels) -> None:
    # D's queue [0,30) from tx4 = A's queue [0,30) = tx2 = E's sats [0,30).
    # D's [30,40) from tx5 = A's inputs [40,49)+[49,50) = A's receipt in tx3 = B's [0,10),
    # which a coinbase created.
    r = trace(small_graph, [D], hops=5, policy="fifo", labels=small_labels)
    t = totals(r)
    assert t == {(E, "stop"): 30.0, (B, "mined"): 10.0}
    [e_stop] = r.endpoints(["stop"])
    assert (e_stop.tx, e_stop.hop) == (2, 2)
    [mined] = r.endpoints(["mined"])
    assert (mined.tx, mined.hop) == (1, 3)


def test_back_poison(small_graph: FlowGraph, small_labels: NodeLabels) -> None:
    # every receipt of A before tx4/tx5 is wholly tainted: E's 100 in tx2, B's 60 in tx3
    r = trace(small_graph, [D], hops=5, policy="poison", labels=small_labels)
    assert totals(r) == {(E, "stop"): 100.0, (B, "mined"): 60.0}
    # A in tx5 is one flow of 9 + 20
    assert (A, D, 5, 29.0, 1) in r.edges()


def test_forward_haircut(small_graph: FlowGraph) -> None:
    # E's external receipt (tx0, 100) → tx2: A 40, E 59 (change, never spent), fee 1.
    # A's 40 shared over A's later spends (40 in tx4, 29 in tx5; of 69):
    # D 40·40/69·30/40 + 40·29/69·10/29 = 1600/69, B 720/69, A 360/69, fees 80/69.
    r = trace(small_graph, [E], direction="forward", hops=2, policy="haircut", stop_categories=())
    t = totals(r)
    assert t[(D, "hop-limit")] == pytest.approx(1600 / 69)
    assert t[(B, "hop-limit")] == pytest.approx(720 / 69)
    assert t[(A, "hop-limit")] == pytest.approx(360 / 69)
    assert t[(E, "unspent")] == pytest.approx(59)
    assert t[(E, "fee")] + t[(A, "fee")] == pytest.approx(1 + 80 / 69)
    assert sum(t.values()) == pytest.approx(100)


def test_forward_fifo(small_graph: FlowGraph) -> None:
    # B's coinbase [0,60) → tx3: A's queue [40,60), B's change [60,99), fee 1.
    # A's [40,60) = tx5 inputs [0,9) + [9,20) → D [0,10), B [10,20) (B's queue [99,109)).
    r = trace(
        small_graph, [Seed(B, 1)], direction="forward", hops=2, policy="fifo", stop_categories=()
    )
    t = totals(r)
    assert t == {
        (D, "hop-limit"): 10.0,
        (B, "hop-limit"): 10.0,
        (B, "unspent"): 39.0,
        (B, "fee"): 1.0,
    }


def test_forward_poison(small_graph: FlowGraph) -> None:
    r = trace(
        small_graph, [Seed(B, 1)], direction="forward", hops=3, policy="poison", stop_categories=()
    )
    t = totals(r)
    # tx3 taints A 20 and B 39; every later spend of A is wholly tainted: tx4 (→ D 30, A 9)
    # and tx5 (→ D 10, B 18); B's change 39 and its 18 from tx5 stay unspent
    assert t[(D, "unspent")] == 40.0
    assert t[(B, "unspent")] == 57.0
    assert (A, B, 5, 18.0, 2) in r.edges()


def test_min_value(small_graph: FlowGraph, small_labels: NodeLabels) -> None:
    # hop 1: A's two inputs in tx5 (90/29 and 200/29) merge into one packet of 10 (kept).
    # hop 2: that packet's shares of tx3 (200/69) and tx4 (90/69) fall below 5 sats
    r = trace(small_graph, [D], hops=4, policy="haircut", labels=small_labels, min_value=5)
    assert r.below_min == pytest.approx(290 / 69)
    t = totals(r)
    assert t[(E, "stop")] == pytest.approx(20 + 400 / 69)
    assert t[(B, "mined")] == pytest.approx(10)


def test_time_window(small_graph: FlowGraph, small_labels: NodeLabels) -> None:
    # from 1250: tx2 (1200) and the coinbase tx1 (1100) lie outside; FIFO stops at A and B
    r = trace(small_graph, [D], hops=5, policy="fifo", labels=small_labels, start_time=1250)
    assert totals(r) == {(A, "time-window"): 30.0, (B, "time-window"): 10.0}
    # up to 1450: tx5 (1500) is outside, D's receipt in tx5 is not followed
    r = trace(small_graph, [D], hops=5, policy="fifo", labels=small_labels, end_time=1450)
    assert totals(r) == {(E, "stop"): 30.0, (D, "time-window"): 10.0}


def test_stop_categories(small_graph: FlowGraph, small_labels: NodeLabels) -> None:
    # without stopping at the exchange, E's 30 goes back to its coinbase
    r = trace(small_graph, [D], hops=5, policy="fifo", labels=small_labels, stop_categories=())
    assert totals(r) == {(E, "mined"): 30.0, (B, "mined"): 10.0}


def test_max_cluster_size(small_clusters: FlowGraph) -> None:
    # cluster level: A and B in one cluster (node 0, two addresses) is not expanded
    r = trace(small_clusters, [2], hops=5, policy="fifo", max_cluster_size=1)
    assert totals(r) == {(0, "large"): 40.0}


def test_bad_arguments(small_graph: FlowGraph) -> None:
    with pytest.raises(InputError, match="policy"):
        trace(small_graph, [D], policy="lifo")
    with pytest.raises(InputError, match="direction"):
        trace(small_graph, [D], direction="sideways")
    with pytest.raises(InputError, match="hops"):
        trace(small_graph, [D], hops=0)
    with pytest.raises(NotFoundError, match="99"):
        trace(small_graph, [99])
    with pytest.raises(InputError, match="no seed"):
        trace(small_graph, [])
