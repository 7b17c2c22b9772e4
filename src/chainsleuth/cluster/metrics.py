"""Clustering accuracy from contingency counts: no address pair is ever materialised.

For clusters ``c`` and true wallets ``w``, with ``n_cw`` addresses in both, the number of
same-cluster pairs is Σ_c C(n_c, 2), same-wallet pairs Σ_w C(n_w, 2) and pairs that are both
Σ_cw C(n_cw, 2). Pairwise precision and recall follow; only addresses with a known owner count.

>>> import numpy as np
>>> cluster = np.array([0, 0, 0, 3, 3]); wallet = np.array([1, 1, 2, 2, 2])
>>> s = pairwise_scores(cluster, wallet)
>>> (s.true_pairs, s.predicted_pairs, s.truth_pairs)
(2, 4, 4)
>>> m = false_merges(cluster, wallet)
>>> (m.n_false_merges, m.largest_cluster, m.largest_size, m.largest_n_wallets)
(1, 0, 3, 2)
>>> round(purity(cluster, wallet), 3)
0.8
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["FalseMerges", "PairwiseScores", "false_merges", "pairwise_scores", "purity"]

I64 = NDArray[np.int64]


def _pairs(counts: I64) -> int:
    c = counts.astype(np.int64)
    return int((c * (c - 1) // 2).sum())


def _known(cluster: I64, wallet: I64) -> tuple[I64, I64]:
    c = np.asarray(cluster, dtype=np.int64)
    w = np.asarray(wallet, dtype=np.int64)
    keep = w >= 0
    return c[keep], w[keep]


def _contingency(cluster: I64, wallet: I64) -> tuple[I64, I64, I64]:
    """Unique (cluster, wallet) cells and their address counts."""
    if len(cluster) == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e.copy(), e.copy()
    order = np.lexsort((wallet, cluster))
    c = cluster[order]
    w = wallet[order]
    start = np.flatnonzero(np.r_[True, (c[1:] != c[:-1]) | (w[1:] != w[:-1])])
    counts = np.diff(np.r_[start, len(c)]).astype(np.int64)
    return c[start], w[start], counts


@dataclass(frozen=True, slots=True)
class PairwiseScores:
    """Pairwise precision and recall with the pair counts they come from."""

    true_pairs: int
    predicted_pairs: int
    truth_pairs: int

    @property
    def precision(self) -> float:
        """Share of same-cluster pairs that are same-wallet (1.0 when nothing is clustered)."""
        return self.true_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        """Share of same-wallet pairs that share a cluster."""
        return self.true_pairs / self.truth_pairs if self.truth_pairs else 1.0


def pairwise_scores(cluster: I64, wallet: I64) -> PairwiseScores:
    """Pairwise scores over addresses whose ``wallet`` is known (≥ 0).

    See the module docstring for an example.
    """
    c, w = _known(cluster, wallet)
    _, _, cell = _contingency(c, w)
    return PairwiseScores(
        true_pairs=_pairs(cell),
        predicted_pairs=_pairs(np.unique(c, return_counts=True)[1]),
        truth_pairs=_pairs(np.unique(w, return_counts=True)[1]),
    )


@dataclass(frozen=True, slots=True)
class FalseMerges:
    """Clusters holding addresses of more than one wallet, and the largest such cluster."""

    n_false_merges: int
    largest_cluster: int
    """cluster id of the largest false merge (-1 when there is none)"""
    largest_size: int
    largest_n_wallets: int
    largest_wallets: list[int]
    """wallet indices in the largest false merge, most addresses first"""


def false_merges(cluster: I64, wallet: I64) -> FalseMerges:
    """Count clusters mixing wallets (addresses of unknown owner ignored).

    See the module docstring for an example.
    """
    c, w = _known(cluster, wallet)
    cc, cw, counts = _contingency(c, w)
    ids, n_wallets = np.unique(cc, return_counts=True)
    mixed = ids[n_wallets > 1]
    if len(mixed) == 0:
        return FalseMerges(0, -1, 0, 0, [])
    sizes = np.bincount(np.searchsorted(ids, cc), weights=counts).astype(np.int64)
    mixed_sizes = sizes[np.searchsorted(ids, mixed)]
    top = int(mixed[int(np.argmax(mixed_sizes))])
    cells = cc == top
    order = np.argsort(-counts[cells], kind="stable")
    return FalseMerges(
        n_false_merges=len(mixed),
        largest_cluster=top,
        largest_size=int(mixed_sizes.max()),
        largest_n_wallets=int(cells.sum()),
        largest_wallets=[int(x) for x in cw[cells][order]],
    )


def purity(cluster: I64, wallet: I64) -> float:
    """Share of addresses that belong to their cluster's majority wallet.

    See the module docstring for an example.
    """
    c, w = _known(cluster, wallet)
    if len(c) == 0:
        return 1.0
    cc, _, counts = _contingency(c, w)
    best = np.zeros(len(np.unique(cc)), dtype=np.int64)
    np.maximum.at(best, np.searchsorted(np.unique(cc), cc), counts)
    return float(best.sum() / len(c))
