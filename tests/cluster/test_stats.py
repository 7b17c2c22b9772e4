"""Cluster and member summaries: hand-computed values and a plain reference on regtest data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from chainsleuth.cluster.stats import cluster_stats, member_stats
from chainsleuth.heuristics.view import ChainView
from chainsleuth.store.chainview import load_chain_view
from chainsleuth.store.dataset import Dataset

STATS_COLUMNS = [
    "cluster_id",
    "size",
    "first_height",
    "last_height",
    "n_txs",
    "total_received",
    "total_sent",
    "balance",
]


def small_view() -> ChainView:
    """Five addresses over four transactions at heights 10..13.

    tx0 coinbase pays 50 to a0; tx1 spends it: 30 to a1, 19 to a0; tx2 spends a1 (30): 10 to
    a2, 20 to a3; tx3 spends a0 (19) and a2 (10): 29 to a4 plus an output without an address.
    """
    return ChainView.from_columns(
        tx_id=[0, 1, 2, 3],
        height=[10, 11, 12, 13],
        version=[1, 2, 2, 2],
        locktime=[0, 0, 0, 0],
        is_coinbase=[True, False, False, False],
        n_in=[1, 1, 1, 2],
        n_out=[1, 2, 2, 2],
        in_addr=[-1, 0, 1, 0, 2],
        in_value=[0, 50, 30, 19, 10],
        in_type=[-1, 2, 2, 2, 2],
        in_sequence=[0, 0, 0, 0, 0],
        in_prev_out=[-1, 0, 1, 2, 3],
        out_value=[50, 30, 19, 10, 20, 29, 0],
        out_addr=[0, 1, 0, 2, 3, 4, -1],
        out_type=[2, 2, 2, 2, 2, 2, 7],
        out_spent_by=[1, 2, 3, 3, -1, -1, -1],
    )


def reference_stats(view: ChainView, cluster: np.ndarray) -> dict[str, np.ndarray]:
    """Plain per-event loop over every output and input (the definition of the columns)."""
    ids = sorted({int(c) for c in cluster})
    size = {c: 0 for c in ids}
    for c in cluster:
        size[int(c)] += 1
    received = dict.fromkeys(ids, 0.0)
    sent = dict.fromkeys(ids, 0.0)
    heights: dict[int, list[int]] = {c: [] for c in ids}
    txs: dict[int, set[int]] = {c: set() for c in ids}
    events = [
        (view.out_addr, view.out_value, view.out_tx, received),
        (view.in_addr, view.in_value, view.in_tx, sent),
    ]
    for addr, value, tx, total in events:
        for a, v, t in zip(addr.tolist(), value.tolist(), tx.tolist(), strict=True):
            if a < 0:
                continue
            c = int(cluster[a])
            total[c] += float(v)
            heights[c].append(int(view.height[t]))
            txs[c].add(t)
    rec = np.array([round(received[c]) for c in ids], dtype=np.int64)
    snt = np.array([round(sent[c]) for c in ids], dtype=np.int64)
    return {
        "cluster_id": np.array(ids, dtype=np.int64),
        "size": np.array([size[c] for c in ids], dtype=np.int64),
        "first_height": np.array([min(heights[c], default=-1) for c in ids], dtype=np.int32),
        "last_height": np.array([max(heights[c], default=-1) for c in ids], dtype=np.int32),
        "n_txs": np.array([len(txs[c]) for c in ids], dtype=np.int64),
        "total_received": rec,
        "total_sent": snt,
        "balance": rec - snt,
    }


def reference_members(view: ChainView, cluster: np.ndarray) -> pa.Table:
    """Sort key spelled out: cluster id, then amount received (descending), then addr_id."""
    n = len(cluster)
    received = [0] * n
    sent = [0] * n
    n_outputs = [0] * n
    for a, v in zip(view.out_addr.tolist(), view.out_value.tolist(), strict=True):
        if a >= 0:
            received[a] += v
            n_outputs[a] += 1
    for a, v in zip(view.in_addr.tolist(), view.in_value.tolist(), strict=True):
        if a >= 0:
            sent[a] += v
    order = sorted(range(n), key=lambda a: (int(cluster[a]), -received[a], a))
    return pa.table(
        {
            "cluster_id": np.asarray(cluster)[order],
            "addr_id": np.array(order, dtype=np.int64),
            "received": np.array([received[a] for a in order], dtype=np.int64),
            "sent": np.array([sent[a] for a in order], dtype=np.int64),
            "n_outputs": np.array([n_outputs[a] for a in order], dtype=np.int64),
        }
    )


def assert_same_stats(got: dict[str, Any], want: dict[str, np.ndarray]) -> None:
    assert list(got) == STATS_COLUMNS
    for name in STATS_COLUMNS:
        assert got[name].dtype == want[name].dtype, name
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_cluster_stats_by_hand() -> None:
    # clusters: {a0, a2} -> 0, {a1} -> 1, {a3, a4} -> 3
    s = cluster_stats(small_view(), np.array([0, 1, 0, 3, 3]))
    assert s["cluster_id"].tolist() == [0, 1, 3]
    assert s["size"].tolist() == [2, 1, 2]
    assert s["first_height"].tolist() == [10, 11, 12]
    assert s["last_height"].tolist() == [13, 12, 13]
    # cluster 0: tx0, tx1, tx2 (pays a2), tx3; cluster 1: tx1, tx2; cluster 3: tx2, tx3
    assert s["n_txs"].tolist() == [4, 2, 2]
    assert s["total_received"].tolist() == [79, 30, 49]
    assert s["total_sent"].tolist() == [79, 30, 0]
    assert s["balance"].tolist() == [0, 0, 49]
    assert s["first_height"].dtype == np.int32 and s["n_txs"].dtype == np.int64


def test_cluster_never_seen_has_heights_minus_one() -> None:
    s = cluster_stats(small_view(), np.array([0, 1, 2, 3, 4, 5]))
    assert s["cluster_id"].tolist() == [0, 1, 2, 3, 4, 5]
    assert s["first_height"].tolist()[-1] == -1 and s["last_height"].tolist()[-1] == -1
    assert s["n_txs"].tolist() == [3, 2, 2, 1, 1, 0]


def test_member_stats_by_hand() -> None:
    t = member_stats(small_view(), np.array([0, 1, 0, 3, 3]))
    assert t.column_names == ["cluster_id", "addr_id", "received", "sent", "n_outputs"]
    assert t.column("cluster_id").to_pylist() == [0, 0, 1, 3, 3]
    # a0 received 69 > a2 10; a4 received 29 > a3 20
    assert t.column("addr_id").to_pylist() == [0, 2, 1, 4, 3]
    assert t.column("received").to_pylist() == [69, 10, 30, 29, 20]
    assert t.column("sent").to_pylist() == [69, 10, 30, 0, 0]
    assert t.column("n_outputs").to_pylist() == [2, 1, 1, 1, 1]


def test_member_ties_keep_addr_order_in_big_clusters() -> None:
    # one cluster larger than the insertion-sort cut-off, with many equal amounts
    n = 200
    rng = np.random.default_rng(5)
    values = rng.integers(0, 4, n).tolist()
    view = ChainView.from_columns(
        tx_id=[0],
        height=[1],
        version=[1],
        locktime=[0],
        is_coinbase=[True],
        n_in=[1],
        n_out=[n],
        in_addr=[-1],
        in_value=[0],
        in_type=[-1],
        in_sequence=[0],
        in_prev_out=[-1],
        out_value=values,
        out_addr=list(range(n)),
        out_type=[2] * n,
        out_spent_by=[-1] * n,
    )
    cluster = np.where(np.arange(n) % 3 == 0, 0, 1)
    assert member_stats(view, cluster).equals(reference_members(view, cluster))


def test_labels_outside_the_dense_range_fall_back() -> None:
    view = small_view()
    for cluster in (np.array([7, -2, 7, 40, 40]), np.array([4, 4, 4, 4, 4], dtype=np.int32)):
        assert_same_stats(cluster_stats(view, cluster), reference_stats(view, cluster))
        assert member_stats(view, cluster).equals(reference_members(view, cluster))


def test_address_beyond_the_cluster_array_is_an_error() -> None:
    with pytest.raises(IndexError):
        cluster_stats(small_view(), np.array([0, 1, 2]))
    with pytest.raises(IndexError):
        member_stats(small_view(), np.array([0, 1, 2]))


def multi_input_clusters(view: ChainView) -> np.ndarray:
    """Min-id labels of the multi-input clustering (a plain union-find with path halving)."""
    parent = list(range(view.n_addr))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for t in range(view.n_tx):
        addrs = [a for a in view.in_addr[view.in_start[t] : view.in_start[t + 1]] if a >= 0]
        for a in addrs[1:]:
            ra, rb = find(int(addrs[0])), find(int(a))
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([find(a) for a in range(view.n_addr)], dtype=np.int64)
    label = np.full(view.n_addr, view.n_addr, dtype=np.int64)
    np.minimum.at(label, roots, np.arange(view.n_addr, dtype=np.int64))
    return label[roots]


def test_regtest_matches_the_reference(regtest_dataset: Path) -> None:
    with Dataset.open(regtest_dataset) as ds:
        view = load_chain_view(ds)
    rng = np.random.default_rng(11)
    groups = rng.integers(0, max(view.n_addr // 7, 1), view.n_addr)
    random_min_ids = np.full(groups.max() + 1, view.n_addr, dtype=np.int64)
    np.minimum.at(random_min_ids, groups, np.arange(view.n_addr, dtype=np.int64))
    labelings = {
        "multi-input": multi_input_clusters(view),
        "random groups": random_min_ids[groups],
        "singletons": np.arange(view.n_addr, dtype=np.int64),
    }
    for name, cluster in labelings.items():
        got = cluster_stats(view, cluster)
        assert_same_stats(got, reference_stats(view, cluster))
        assert member_stats(view, cluster).equals(reference_members(view, cluster)), name
    assert len(cluster_stats(view, labelings["multi-input"])["cluster_id"]) < view.n_addr
