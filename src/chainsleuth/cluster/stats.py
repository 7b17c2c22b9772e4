"""Per-cluster and per-member summaries of a clustering, in one linear pass each.

``cluster`` gives every addr_id its cluster id (usually the smallest addr_id of the cluster,
as :func:`~chainsleuth.graph.unionfind.roots_to_min_ids` returns). Cluster ids are mapped to
dense ranks with a bincount (any other labelling falls back to ``np.unique``); small numba
kernels then walk the view's transactions in chain order, so no global sort or hash table is
needed.

>>> from chainsleuth.heuristics.view import ChainView
>>> v = ChainView.from_columns(
...     tx_id=[0, 1], height=[5, 6], version=[1, 2], locktime=[0, 0],
...     is_coinbase=[True, False], n_in=[1, 1], n_out=[1, 2], in_addr=[-1, 0],
...     in_value=[0, 50], in_type=[-1, 2], in_sequence=[0, 0], in_prev_out=[-1, 0],
...     out_value=[50, 30, 19], out_addr=[0, 1, 0], out_type=[2, 2, 2],
...     out_spent_by=[1, -1, -1])
>>> cluster_stats(v, np.array([0, 1, 0]))["n_txs"].tolist()
[2, 1]
>>> member_stats(v, np.array([0, 1, 0])).column("addr_id").to_pylist()
[0, 2, 1]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from numba import njit
from numpy.typing import NDArray

from chainsleuth.heuristics.view import ChainView

__all__ = ["cluster_stats", "member_stats"]

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]
F64 = NDArray[np.float64]


def _ranks(cluster: NDArray[Any]) -> tuple[I64, I64, I64]:
    """(sorted distinct cluster ids, their sizes, every address's index into them).

    Equal to ``np.unique(cluster, return_counts=True)`` plus the inverse, computed with a
    bincount when the ids are in ``[0, len(cluster))``.

    >>> ids, size, rank = _ranks(np.array([4, 0, 4, 3, 4]))
    >>> ids.tolist(), size.tolist(), rank.tolist()
    ([0, 3, 4], [1, 1, 3], [2, 0, 2, 1, 2])
    """
    n = len(cluster)
    if n and int(cluster.min()) >= 0 and int(cluster.max()) < n:
        counts = np.bincount(cluster, minlength=n)
        ids = np.flatnonzero(counts)
        index = np.zeros(n, dtype=np.int64)
        index[ids] = np.arange(len(ids), dtype=np.int64)
        return ids.astype(np.int64), counts[ids].astype(np.int64), index[cluster]
    uniq, inverse, size = np.unique(cluster, return_inverse=True, return_counts=True)
    return uniq.astype(np.int64), size.astype(np.int64), inverse.reshape(-1).astype(np.int64)


def _check_addresses(view: ChainView, n: int) -> None:
    """Raise IndexError unless every address of ``view`` indexes an array of length ``n``.

    >>> from chainsleuth.heuristics.view import ChainView
    >>> v = ChainView.from_columns(
    ...     tx_id=[0], height=[0], version=[1], locktime=[0], is_coinbase=[True], n_in=[1],
    ...     n_out=[1], in_addr=[-1], in_value=[0], in_type=[-1], in_sequence=[0],
    ...     in_prev_out=[-1], out_value=[50], out_addr=[3], out_type=[0], out_spent_by=[-1])
    >>> _check_addresses(v, 2)
    Traceback (most recent call last):
    IndexError: addr_id 3 out of range for 2 addresses
    """
    top = max(int(view.in_addr.max(initial=-1)), int(view.out_addr.max(initial=-1)))
    if top >= n:
        raise IndexError(f"addr_id {top} out of range for {n} addresses")


@njit(cache=True)
def _cluster_kernel(
    rank: I64,
    n: int,
    height: I32,
    in_start: I64,
    in_addr: I64,
    in_value: I64,
    out_start: I64,
    out_addr: I64,
    out_value: I64,
) -> tuple[F64, I64]:
    """Per cluster rank: ``money`` rows (received, sent) and ``state`` rows (first height,
    last height, distinct transactions, last transaction seen).

    Amounts are float sums in position order, exactly like a weighted ``np.bincount``. Each
    cluster's fields share a row so that one random access touches one or two cache lines.
    """
    money = np.zeros((n, 2), np.float64)
    state = np.empty((n, 4), np.int64)
    for c in range(n):
        state[c, 0] = np.iinfo(np.int32).max
        state[c, 1] = -1
        state[c, 2] = 0
        state[c, 3] = -1
    for t in range(len(out_start) - 1):
        h = height[t]
        for side in range(2):
            if side == 0:
                lo, hi, addr, value = out_start[t], out_start[t + 1], out_addr, out_value
            else:
                lo, hi, addr, value = in_start[t], in_start[t + 1], in_addr, in_value
            for j in range(lo, hi):
                a = addr[j]
                if a < 0:
                    continue
                c = rank[a]
                money[c, side] += np.float64(value[j])
                if h < state[c, 0]:
                    state[c, 0] = h
                if h > state[c, 1]:
                    state[c, 1] = h
                if state[c, 3] != t:
                    state[c, 3] = t
                    state[c, 2] += 1
    return money, state


def cluster_stats(view: ChainView, cluster: I64) -> dict[str, NDArray[Any]]:
    """Per-cluster size, first/last height, tx count, received, sent and balance.

    Clusters are listed by ascending id; ``n_txs`` counts the distinct transactions paying
    or spending any member; a cluster never seen in a transaction has heights -1.

    >>> from chainsleuth.heuristics.view import ChainView
    >>> v = ChainView.from_columns(
    ...     tx_id=[0, 1], height=[5, 6], version=[1, 2], locktime=[0, 0],
    ...     is_coinbase=[True, False], n_in=[1, 1], n_out=[1, 2], in_addr=[-1, 0],
    ...     in_value=[0, 50], in_type=[-1, 2], in_sequence=[0, 0], in_prev_out=[-1, 0],
    ...     out_value=[50, 30, 19], out_addr=[0, 1, 0], out_type=[2, 2, 2],
    ...     out_spent_by=[1, -1, -1])
    >>> s = cluster_stats(v, np.array([0, 1, 0]))
    >>> s["cluster_id"].tolist(), s["size"].tolist(), s["balance"].tolist(), s["n_txs"].tolist()
    ([0, 1], [2, 1], [19, 30], [2, 1])
    """
    labels = np.asarray(cluster)
    _check_addresses(view, len(labels))
    ids, size, rank = _ranks(labels)
    money, state = _cluster_kernel(
        rank,
        len(ids),
        np.ascontiguousarray(view.height, dtype=np.int32),
        view.in_start,
        view.in_addr,
        view.in_value,
        view.out_start,
        view.out_addr,
        view.out_value,
    )
    first = state[:, 0].astype(np.int32)
    last = state[:, 1].astype(np.int32)
    first[first > last] = -1
    rec = np.rint(money[:, 0]).astype(np.int64)
    snt = np.rint(money[:, 1]).astype(np.int64)
    return {
        "cluster_id": ids,
        "size": size,
        "first_height": first,
        "last_height": last,
        "n_txs": np.ascontiguousarray(state[:, 2]),
        "total_received": rec,
        "total_sent": snt,
        "balance": rec - snt,
    }


@njit(cache=True)
def _address_sums(n: int, in_addr: I64, in_value: I64, out_addr: I64, out_value: I64) -> I64:
    """Per address a row (received, sent, outputs received) of int64 sums."""
    sums = np.zeros((n, 3), np.int64)
    for j in range(len(out_addr)):
        a = out_addr[j]
        if a >= 0:
            sums[a, 0] += out_value[j]
            sums[a, 2] += 1
    for i in range(len(in_addr)):
        a = in_addr[i]
        if a >= 0:
            sums[a, 1] += in_value[i]
    return sums


@njit(cache=True)
def _gather_rows(sums: I64, order: I64) -> tuple[I64, I64, I64]:
    """The three columns of ``sums`` taken in ``order``."""
    n = len(order)
    received = np.empty(n, np.int64)
    sent = np.empty(n, np.int64)
    n_outputs = np.empty(n, np.int64)
    for i in range(n):
        a = order[i]
        received[i] = sums[a, 0]
        sent[i] = sums[a, 1]
        n_outputs[i] = sums[a, 2]
    return received, sent, n_outputs


@njit(cache=True)
def _member_order(rank: I64, n_ranks: int, received: I64) -> I64:
    """Addresses by cluster rank, then received descending, then addr_id: a counting sort by
    rank, then numba's stable merge sort within each cluster of two or more."""
    n = len(rank)
    start = np.zeros(n_ranks + 1, np.int64)
    for a in range(n):
        start[rank[a] + 1] += 1
    for k in range(n_ranks):
        start[k + 1] += start[k]
    fill = start[:-1].copy()
    order = np.empty(n, np.int64)
    for a in range(n):
        order[fill[rank[a]]] = a
        fill[rank[a]] += 1
    for k in range(n_ranks):
        lo, hi = start[k], start[k + 1]
        if hi - lo >= 2:
            members = order[lo:hi].copy()
            by_received = np.argsort(-received[members], kind="mergesort")
            for i in range(hi - lo):
                order[lo + i] = members[by_received[i]]
    return order


def member_stats(view: ChainView, cluster: I64) -> pa.Table:
    """Per address: its cluster, amounts received/sent and outputs received; sorted by cluster.

    Within a cluster, members come by amount received (largest first), then by addr_id.

    >>> from chainsleuth.heuristics.view import ChainView
    >>> v = ChainView.from_columns(
    ...     tx_id=[0, 1], height=[5, 6], version=[1, 2], locktime=[0, 0],
    ...     is_coinbase=[True, False], n_in=[1, 1], n_out=[1, 3], in_addr=[-1, 0],
    ...     in_value=[0, 50], in_type=[-1, 2], in_sequence=[0, 0], in_prev_out=[-1, 0],
    ...     out_value=[50, 30, 19, 1], out_addr=[0, 1, 2, 3], out_type=[2, 2, 2, 2],
    ...     out_spent_by=[1, -1, -1, -1])
    >>> t = member_stats(v, np.array([0, 1, 0, 1]))
    >>> t.column("addr_id").to_pylist(), t.column("sent").to_pylist()
    ([0, 2, 1, 3], [50, 0, 0, 0])
    """
    labels = np.asarray(cluster)
    n = len(labels)
    _check_addresses(view, n)
    sums = _address_sums(n, view.in_addr, view.in_value, view.out_addr, view.out_value)
    ids, _size, rank = _ranks(labels)
    order = _member_order(rank, len(ids), np.ascontiguousarray(sums[:, 0]))
    received, sent, n_outputs = _gather_rows(sums, order)
    return pa.table(
        {
            "cluster_id": labels[order],
            "addr_id": order,
            "received": received,
            "sent": sent,
            "n_outputs": n_outputs,
        }
    )
