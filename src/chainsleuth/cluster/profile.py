"""A cluster's profile for ``chainsleuth show``: answered from the run's small files.

Reads one row of ``clusters.parquet`` and the top rows of ``members.parquet`` (sorted by
cluster id, so Parquet row-group statistics skip everything else): fast on any cluster size.

>>> cluster_profile(ds, "default", 92)["size"]  # one of the service's clusters
416
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chainsleuth.cluster.runs import check_fresh, run_dir
from chainsleuth.errors import NotFoundError
from chainsleuth.store.queries import block_times
from chainsleuth.store.runtables import CLUSTER_COLUMNS, cluster_row, top_members

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

__all__ = ["cluster_profile"]


def cluster_profile(
    ds: Dataset, run: str, cluster_id: int, top: int = 10, *, allow_stale: bool = False
) -> dict[str, Any]:
    """Size, first/last seen (height and time), tx count, received/sent/balance, top addresses.

    NotFoundError when the run or the cluster does not exist; StaleRunError when the run is
    stale, unless ``allow_stale``.

    >>> p = cluster_profile(ds, "default", 92)
    >>> p["size"], p["top_addresses"][0]["address"]
    (416, 'bcrt1qyr59p8zestspkd6l6dz8qu6tj0q2daadeqmyhm')
    """
    directory = run_dir(ds, run)
    check_fresh(ds, directory.name, allow_stale=allow_stale)
    row = cluster_row(directory / "clusters.parquet", cluster_id)
    if row is None:
        raise NotFoundError(f"cluster not in run {directory.name!r}: {cluster_id}")
    members = top_members(directory / "members.parquet", cluster_id, top)
    profile: dict[str, Any] = dict(zip(CLUSTER_COLUMNS, (int(v) for v in row), strict=True))
    profile["run"] = directory.name
    when = block_times(ds, [profile["first_height"], profile["last_height"]])
    first, last = when.get(profile["first_height"]), when.get(profile["last_height"])
    profile["first_seen"] = first.isoformat() if first is not None else None
    profile["last_seen"] = last.isoformat() if last is not None else None
    profile["top_addresses"] = [
        {
            "addr_id": int(addr_id),
            "address": ds.address_of(int(addr_id)),
            "received": int(received),
            "sent": int(sent),
            "balance": int(received) - int(sent),
            "n_outputs": int(n_outputs),
        }
        for addr_id, received, sent, n_outputs in members
    ]
    return profile
