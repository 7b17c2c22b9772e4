"""Profiles annotated with clusters and labels, as ``chainsleuth show`` annotates them
(:mod:`chainsleuth.report.annotate`), made cheap enough to answer per request.

``show`` answers one question per process; a server answers thousands against the same tag
store. So the tags are indexed once per tag-store version (:func:`tag_index`: address tags by
addr_id, transaction tags by txid — one join of the tag file with the addresses, instead of one
per request), a cluster's view is kept per (run, cluster, tag-store version) in a bounded cache,
and a cluster's row and members are read with Parquet statistics (one cluster's row groups),
never by a pass over every address. The results are the CLI's, field for field (the API tests
compare them).

>>> from chainsleuth.api.limits import ApiLimits
>>> from chainsleuth.api.state import ServerState
>>> st = ServerState.for_dataset(ds.path, ApiLimits())  # ds: the regtest chain, clustered
>>> with st.dataset() as d:
...     view = cluster_view(st, d, "default", 92)
>>> view["size"], view["top_addresses"][0]["address"]
(416, 'bcrt1qyr59p8zestspkd6l6dz8qu6tj0q2daadeqmyhm')
>>> st.close()
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from chainsleuth.api.clusterdata import cluster_members
from chainsleuth.errors import NotFoundError
from chainsleuth.report.annotate import best_tag, cluster_tag_fields, label_text, tag_dict
from chainsleuth.store.dataset import Dataset
from chainsleuth.store.runtables import CLUSTER_COLUMNS, rows_with_key
from chainsleuth.tags.model import Tag

if TYPE_CHECKING:
    from chainsleuth.api.state import ServerState

__all__ = ["TagIndex", "annotate_tx", "cluster_view", "tag_dict", "tag_index", "tags_stamp"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TEXT = ("target", "label", "actor", "category", "abuse", "source", "pack", "context")


@dataclass(frozen=True)
class TagIndex:
    """The tag store of one version: address-bound tags by addr_id (each list in the order
    ``labels_for_addresses`` gives) and transaction tags by txid."""

    by_addr: dict[int, list[Tag]] = field(default_factory=dict)
    by_txid: dict[str, list[Tag]] = field(default_factory=dict)
    all_tags: list[Tag] = field(default_factory=list)

    def for_addresses(self, addr_ids: list[int]) -> dict[int, list[Tag]]:
        """``labels_for_addresses`` for these ids (ids without tags left out)."""
        return {a: self.by_addr[a] for a in addr_ids if a in self.by_addr}

    def search(self, query: str) -> list[Tag]:
        """``tags.store.search_tags``: tags whose target, label, actor, category, abuse,
        source, pack or context contains ``query`` (case-insensitive), in store order."""
        needle = query.lower()
        return [
            t for t in self.all_tags if any(needle in (getattr(t, f) or "").lower() for f in _TEXT)
        ]


def tags_stamp(ds: Dataset) -> tuple[int, int, int] | None:
    """(inode, mtime_ns, size) of the tag store file, None without one: names its version
    (every write replaces the file by a rename, so two edits inside one clock tick that leave
    the size alike still differ in inode)."""
    from chainsleuth.tags.store import tags_path

    try:
        st = tags_path(ds).stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def tag_index(state: ServerState, ds: Dataset) -> TagIndex:
    """The :class:`TagIndex` of the tag store as it is now (rebuilt when it changes)."""
    stamp = tags_stamp(ds)

    def make() -> TagIndex:
        from chainsleuth.store.tagtables import address_tags
        from chainsleuth.tags.store import labels_for_addresses, load_tags, tags_path

        if stamp is None:
            return TagIndex()
        ids = sorted(set(address_tags(ds, tags_path(ds)).column("addr_id").to_pylist()))
        every = load_tags(ds)
        by_txid: dict[str, list[Tag]] = {}
        for tag in every:
            if tag.target_kind == "tx":
                by_txid.setdefault(tag.target, []).append(tag)
        return TagIndex(labels_for_addresses(ds, ids), by_txid, every)

    return state.memo(("tag_index", stamp, ds.tip_hash), make)


def _cluster_row(folder: Any, cluster_id: int) -> dict[str, int] | None:
    table = rows_with_key(
        folder / "clusters.parquet", "cluster_id", int(cluster_id), list(CLUSTER_COLUMNS)
    )
    if table.num_rows == 0:
        return None
    return {k: int(v) for k, v in table.slice(0, 1).to_pylist()[0].items()}


def _block_time(ds: Dataset, height: int) -> str | None:
    row = ds.lookup.rows.block(height, ["time"])
    if row is None or row["time"] is None:
        return None
    return (_EPOCH + timedelta(microseconds=int(row["time"]))).isoformat()


def _build_cluster_view(
    state: ServerState, ds: Dataset, run: str, cluster_id: int, top: int = 10
) -> dict[str, Any]:
    """``report.annotate.cluster_view`` (over ``cluster.profile.cluster_profile``), read
    through Parquet statistics and the tag index."""
    from chainsleuth.cluster.runs import run_dir

    folder = run_dir(ds, run)
    row = _cluster_row(folder, cluster_id)
    if row is None:
        raise NotFoundError(f"cluster not in run {folder.name!r}: {cluster_id}")
    members = cluster_members(folder, cluster_id)
    head = members.slice(0, top).to_pylist()
    names = ds.lookup.addresses_of(np.array([m["addr_id"] for m in head], dtype=np.int64))
    prof: dict[str, Any] = {k: row[k] for k in CLUSTER_COLUMNS}
    prof["run"] = folder.name
    prof["first_seen"] = _block_time(ds, prof["first_height"])
    prof["last_seen"] = _block_time(ds, prof["last_height"])
    prof["top_addresses"] = [
        {
            "addr_id": int(m["addr_id"]),
            "address": name,
            "received": int(m["received"]),
            "sent": int(m["sent"]),
            "balance": int(m["received"]) - int(m["sent"]),
            "n_outputs": int(m["n_outputs"]),
        }
        for m, name in zip(head, names, strict=True)
    ]
    index = tag_index(state, ds)
    member_ids = sorted(members.column("addr_id").to_pylist())
    tags = [t for ts in index.for_addresses(member_ids).values() for t in ts]
    prof.update(cluster_tag_fields(tags))
    for entry in prof["top_addresses"]:
        entry["label"] = label_text(index.by_addr.get(entry["addr_id"], []))
    best = best_tag(tags)
    prof["category"] = None if best is None else best.category
    return prof


def cluster_view(state: ServerState, ds: Dataset, run: str, cluster_id: int) -> dict[str, Any]:
    """A cluster's annotated profile (``show cluster:ID --json``'s fields, plus ``category``:
    the best tag's), cached per run, cluster and tag-store version. NotFoundError when the
    run has no such cluster."""
    from chainsleuth.cluster.runs import run_dir

    params = run_dir(ds, run) / "params.json"
    key = ("cluster_view", run, params.stat().st_mtime_ns, int(cluster_id), tags_stamp(ds))
    view = state.memo(key, lambda: _build_cluster_view(state, ds, run, int(cluster_id)))
    return copy.deepcopy(view)


def annotate_tx(state: ServerState, ds: Dataset, prof: dict[str, Any], run: str | None) -> None:
    """``report.annotate.annotate_profile(ds, "tx", prof, run)`` from the tag index, plus the
    API's ``value_sats``, ``cluster`` and ``labels`` on every input and output."""
    from chainsleuth.cluster.runs import load_address_cluster

    mapping = load_address_cluster(ds, run) if run is not None else None
    index = tag_index(state, ds)
    rows = prof["inputs"] + prof["outputs"]
    ids = {a: ds.addr_id(a) for a in {r["address"] for r in rows if r.get("address")}}
    for r in rows:
        r["value_sats"] = r["value"]
        r["cluster"] = None
        r["labels"] = []
        a = r.get("address")
        if not a:
            continue
        tags = index.by_addr.get(ids[a], [])
        r["label"] = label_text(tags)
        r["labels"] = [tag_dict(t) for t in tags]
        if mapping is not None and ids[a] < mapping.shape[0]:
            r["cluster_id"] = int(mapping[ids[a]])
            r["cluster"] = r["cluster_id"]
    prof["tx_labels"] = [tag_dict(t) for t in index.by_txid.get(prof["txid"], [])]
    prof["fee_sats"] = prof["fee"]
