"""A cluster's members, neighbours and transactions, read page by page for the API.

Nothing here scans a whole table. Members come from the run's ``members.parquet``, sorted by
cluster id, so a filter on one cluster reads only the row groups holding it (Parquet
statistics); they are listed biggest receiver first (``received`` descending, then
``addr_id``), the order ``show cluster:ID`` uses. Neighbours and transactions come from the
run's flow graph (``derived/clusters/<run>/flowgraph/``: read-only memmaps, built by the trace
engine), whose per-node CSRs give a cluster's receiving and spending entries directly.

Neighbour value: an edge A → B carries, summed over every transaction in which A spends an
input, the value of that transaction's outputs paying B (B ≠ A). ``direction="out"`` lists
the Bs of A; ``direction="in"`` lists the As paying B, with the same edge value, so a graph
drawn from both ends agrees.

>>> from chainsleuth.cluster.runs import run_dir
>>> members = cluster_members(run_dir(ds, "default"), 92)  # ds: the regtest chain, clustered
>>> members.num_rows, members.column("addr_id")[0].as_py()
(416, 3254)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from chainsleuth.store.runtables import rows_with_key
from chainsleuth.trace.flowgraph import FlowGraph

__all__ = ["ClusterTxs", "Neighbours", "cluster_members", "cluster_txs", "neighbours"]

I64 = NDArray[np.int64]


def cluster_members(run_folder: Path, cluster_id: int) -> pa.Table:
    """Rows (addr_id, received, sent, n_outputs) of one cluster's members, biggest receiver
    first (ties by addr_id), from ``members.parquet`` (only the row groups holding it)."""
    table = rows_with_key(
        run_folder / "members.parquet",
        "cluster_id",
        int(cluster_id),
        ["addr_id", "received", "sent", "n_outputs"],
    )
    return table.sort_by([("received", "descending"), ("addr_id", "ascending")])


@dataclass(frozen=True)
class Neighbours:
    """A cluster's neighbours on one side, largest value first (ties by cluster id)."""

    cluster_id: I64
    value: I64
    tx_count: I64
    first_tx: I64
    last_tx: I64


def _empty() -> I64:
    return np.zeros(0, dtype=np.int64)


def _entries_txs(entries: I64, tx_of: I64) -> I64:
    return np.unique(np.asarray(tx_of[entries], dtype=np.int64))


def _side(start: I64, txs: I64) -> tuple[I64, I64]:
    """(entry indices, their tx positions) of every entry of transactions ``txs`` on the
    side whose CSR starts are ``start``."""
    lo = np.asarray(start[txs], dtype=np.int64)
    hi = np.asarray(start[txs + 1], dtype=np.int64)
    counts = hi - lo
    if counts.sum() == 0:
        return _empty(), _empty()
    owner = np.repeat(txs, counts)
    first = np.repeat(lo - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
    return np.arange(int(counts.sum()), dtype=np.int64) + first, owner


def neighbours(graph: FlowGraph, node: int, direction: str) -> Neighbours:
    """The clusters ``node`` pays (``"out"``) or is paid by (``"in"``), with edge values (see
    the module docstring), transaction counts and first/last transaction positions."""
    if direction == "out":
        txs = _entries_txs(graph.spends_of(node), graph.in_tx())
        entries, owner = _side(graph.tx_out_start, txs)
        other = np.asarray(graph.out_node[entries], dtype=np.int64)
        value = np.asarray(graph.out_value[entries], dtype=np.int64)
        keep = (other != node) & (other >= 0)
        other, value, owner = other[keep], value[keep], owner[keep]
    else:
        txs = _entries_txs(graph.receipts_of(node), graph.out_tx())
        # what ``node`` received in each of these transactions
        entries, owner_out = _side(graph.tx_out_start, txs)
        mine = np.asarray(graph.out_node[entries], dtype=np.int64) == node
        got = np.zeros(txs.size, dtype=np.int64)
        np.add.at(
            got,
            np.searchsorted(txs, owner_out[mine]),
            np.asarray(graph.out_value[entries[mine]], dtype=np.int64),
        )
        ins, owner = _side(graph.tx_in_start, txs)
        other = np.asarray(graph.in_node[ins], dtype=np.int64)
        keep = (other != node) & (other >= 0)
        other, owner = other[keep], owner[keep]
        # one edge per (payer, transaction): a payer with several inputs counts once
        pair = np.unique(np.stack([other, owner]), axis=1) if other.size else np.zeros((2, 0))
        other = np.asarray(pair[0], dtype=np.int64)
        owner = np.asarray(pair[1], dtype=np.int64)
        value = got[np.searchsorted(txs, owner)]
    if other.size == 0:
        return Neighbours(_empty(), _empty(), _empty(), _empty(), _empty())
    nodes, inv = np.unique(other, return_inverse=True)
    total = np.zeros(nodes.size, dtype=np.int64)
    np.add.at(total, inv, value)
    pairs = np.unique(np.stack([inv, owner]), axis=1)
    tx_count = np.bincount(pairs[0], minlength=nodes.size).astype(np.int64)
    first = np.full(nodes.size, np.iinfo(np.int64).max, dtype=np.int64)
    last = np.full(nodes.size, -1, dtype=np.int64)
    np.minimum.at(first, inv, owner)
    np.maximum.at(last, inv, owner)
    order = np.lexsort((nodes, -total))
    return Neighbours(nodes[order], total[order], tx_count[order], first[order], last[order])


@dataclass(frozen=True)
class ClusterTxs:
    """A cluster's transactions in chain order: position in the graph, satoshis the cluster
    received and spent in each."""

    tx: I64
    received: I64
    sent: I64


def cluster_txs(graph: FlowGraph, node: int) -> ClusterTxs:
    """Every transaction in which ``node`` receives or spends, in chain order."""
    recv_e = np.asarray(graph.receipts_of(node), dtype=np.int64)
    spend_e = np.asarray(graph.spends_of(node), dtype=np.int64)
    recv_tx = np.asarray(graph.out_tx()[recv_e], dtype=np.int64)
    spend_tx = np.asarray(graph.in_tx()[spend_e], dtype=np.int64)
    txs = np.unique(np.concatenate([recv_tx, spend_tx]))
    received = np.zeros(txs.size, dtype=np.int64)
    sent = np.zeros(txs.size, dtype=np.int64)
    np.add.at(
        received,
        np.searchsorted(txs, recv_tx),
        np.asarray(graph.out_value[recv_e], dtype=np.int64),
    )
    np.add.at(
        sent, np.searchsorted(txs, spend_tx), np.asarray(graph.in_value[spend_e], dtype=np.int64)
    )
    return ClusterTxs(txs, received, sent)
