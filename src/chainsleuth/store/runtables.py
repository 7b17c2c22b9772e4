"""Reads of a clustering run's Parquet files (``derived/clusters/<run>/``) with DuckDB.

``clusters.parquet`` and ``members.parquet`` are sorted by cluster id, so a filter on one
cluster lets Parquet row-group statistics skip the rest; ``evidence.parquet`` is read for the
evidence rows of one cluster's members. Clusters and members are read with pyarrow's
row-group filters; the evidence join runs on an in-memory DuckDB connection of its own, paths
and ids as parameters.

>>> from chainsleuth.cluster.runs import run_dir
>>> run = run_dir(ds, "default")  # ds: the regtest chain, clustered
>>> cluster_row(run / "clusters.parquet", 92)[:2]  # (cluster_id, size)
(92, 416)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

__all__ = ["CLUSTER_COLUMNS", "cluster_evidence", "cluster_row", "member_ids", "top_members"]

CLUSTER_COLUMNS = (
    "cluster_id",
    "size",
    "first_height",
    "last_height",
    "n_txs",
    "total_received",
    "total_sent",
    "balance",
)
"""The columns of ``clusters.parquet`` a cluster's profile shows, in :func:`cluster_row`'s
order."""


def cluster_row(clusters: Path, cluster_id: int) -> tuple[Any, ...] | None:
    """The :data:`CLUSTER_COLUMNS` of one cluster in a run's ``clusters.parquet`` (None when
    the run has no such cluster); only the row groups that can hold it are read.

    >>> from chainsleuth.cluster.runs import run_dir
    >>> cluster_row(run_dir(ds, "default") / "clusters.parquet", -1) is None
    True
    """
    table = pq.read_table(
        clusters, columns=list(CLUSTER_COLUMNS), filters=[("cluster_id", "=", int(cluster_id))]
    )
    if not table.num_rows:
        return None
    return tuple(table.column(c)[0].as_py() for c in CLUSTER_COLUMNS)


def _members(members: Path, cluster_id: int) -> pa.Table:
    """(addr_id, received, sent, n_outputs) of one cluster's members (its row groups only)."""
    return pq.read_table(
        members,
        columns=["addr_id", "received", "sent", "n_outputs"],
        filters=[("cluster_id", "=", int(cluster_id))],
    )


def member_ids(members: Path, cluster_id: int) -> NDArray[np.int64]:
    """The addr_ids of one cluster's members, ascending, from a run's ``members.parquet``
    (only the row groups holding the cluster: the cost follows the cluster, not the chain).

    >>> from chainsleuth.cluster.runs import run_dir
    >>> ids = member_ids(run_dir(ds, "default") / "members.parquet", 92)
    >>> ids.size, int(ids[0])
    (416, 92)
    """
    ids = _members(members, cluster_id).column("addr_id").to_numpy()
    return np.sort(np.asarray(ids, dtype=np.int64))


def top_members(members: Path, cluster_id: int, top: int) -> list[tuple[Any, ...]]:
    """(addr_id, received, sent, n_outputs) of the ``top`` members of a cluster that received
    most (ties by addr_id), from a run's ``members.parquet``.

    >>> from chainsleuth.cluster.runs import run_dir
    >>> [r[0] for r in top_members(run_dir(ds, "default") / "members.parquet", 92, 2)]
    [3254, 3837]
    """
    table = _members(members, cluster_id)
    table = table.sort_by([("received", "descending"), ("addr_id", "ascending")]).slice(0, top)
    cols = [table.column(c).to_pylist() for c in ("addr_id", "received", "sent", "n_outputs")]
    return list(zip(*cols, strict=True))


def cluster_evidence(evidence: Path, members: NDArray[np.int64]) -> list[tuple[Any, ...]]:
    """(addr_a, addr_b, tx_id, rule) of every row of a run's ``evidence.parquet`` whose
    ``addr_a`` is one of ``members`` (the addr_ids of one cluster).

    >>> from chainsleuth.cluster.runs import run_dir
    >>> cluster_evidence(run_dir(ds, "default") / "evidence.parquet", np.array([3]))
    [(3, 1, 214, 'multi-input')]
    """
    con = duckdb.connect()
    try:
        con.register("members", pa.table({"addr_id": members}))
        return con.sql(
            "SELECT e.addr_a, e.addr_b, e.tx_id, e.rule FROM read_parquet(?) e "
            "SEMI JOIN members m ON e.addr_a = m.addr_id",
            params=[str(evidence)],
        ).fetchall()
    finally:
        con.close()
