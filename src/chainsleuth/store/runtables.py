"""Reads of a clustering run's Parquet files (``derived/clusters/<run>/``) with DuckDB.

``clusters.parquet`` and ``members.parquet`` are sorted by cluster id, so a filter on one
cluster lets Parquet row-group statistics skip the rest; ``evidence.parquet`` is read for the
evidence rows of one cluster's members. Each read runs on an in-memory connection of its own;
paths and ids go in as parameters.

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
from numpy.typing import NDArray

__all__ = ["CLUSTER_COLUMNS", "cluster_evidence", "cluster_row", "top_members"]

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
    the run has no such cluster).

    >>> from chainsleuth.cluster.runs import run_dir
    >>> cluster_row(run_dir(ds, "default") / "clusters.parquet", -1) is None
    True
    """
    con = duckdb.connect()
    try:
        rows = con.sql(
            f"SELECT {', '.join(CLUSTER_COLUMNS)} FROM read_parquet(?) WHERE cluster_id = ?",
            params=[str(clusters), int(cluster_id)],
        ).fetchall()
    finally:
        con.close()
    return rows[0] if rows else None


def top_members(members: Path, cluster_id: int, top: int) -> list[tuple[Any, ...]]:
    """(addr_id, received, sent, n_outputs) of the ``top`` members of a cluster that received
    most (ties by addr_id), from a run's ``members.parquet``.

    >>> from chainsleuth.cluster.runs import run_dir
    >>> [r[0] for r in top_members(run_dir(ds, "default") / "members.parquet", 92, 2)]
    [3254, 3837]
    """
    con = duckdb.connect()
    try:
        return con.sql(
            "SELECT addr_id, received, sent, n_outputs FROM read_parquet(?) "
            "WHERE cluster_id = ? ORDER BY received DESC, addr_id LIMIT ?",
            params=[str(members), int(cluster_id), int(top)],
        ).fetchall()
    finally:
        con.close()


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
