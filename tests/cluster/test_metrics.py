"""Pairwise metrics from contingency counts equal brute-force pair counting."""

from __future__ import annotations

from itertools import combinations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsleuth.cluster.metrics import false_merges, pairwise_scores, purity


def brute(cluster: list[int], wallet: list[int]) -> tuple[int, int, int]:
    tp = pred = true = 0
    for i, j in combinations(range(len(cluster)), 2):
        same_c = cluster[i] == cluster[j]
        same_w = wallet[i] == wallet[j]
        tp += same_c and same_w
        pred += same_c
        true += same_w
    return tp, pred, true


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 4)), min_size=0, max_size=40))
def test_pair_counts_match_brute_force(rows: list[tuple[int, int]]) -> None:
    cluster = [c for c, _ in rows]
    wallet = [w for _, w in rows]
    s = pairwise_scores(np.array(cluster, dtype=np.int64), np.array(wallet, dtype=np.int64))
    assert (s.true_pairs, s.predicted_pairs, s.truth_pairs) == brute(cluster, wallet)


def test_unknown_owner_ignored_and_false_merges() -> None:
    cluster = np.array([0, 0, 0, 0, 4, 4, 6, 6])
    wallet = np.array([1, 1, 2, -1, 3, 3, 2, 5])
    s = pairwise_scores(cluster, wallet)
    assert (s.true_pairs, s.predicted_pairs, s.truth_pairs) == (2, 5, 3)
    m = false_merges(cluster, wallet)
    assert (m.n_false_merges, m.largest_cluster, m.largest_size) == (2, 0, 3)
    assert m.largest_wallets == [1, 2]
    assert purity(cluster, wallet) == 5 / 7
