"""Annotate dataset profiles with the newest clustering run and the imported tags.

``show`` prints an address with its cluster and labels, a transaction's counterparties with
theirs, and a cluster with its members' tags and best label.

>>> label_text([])
''
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainsleuth.cluster.profile import cluster_profile
from chainsleuth.cluster.runs import (
    check_fresh,
    latest_run,
    list_runs,
    load_address_cluster,
    run_dir,
)
from chainsleuth.errors import NotFoundError
from chainsleuth.store.dataset import Dataset
from chainsleuth.store.runtables import member_ids
from chainsleuth.tags.model import Tag
from chainsleuth.tags.store import labels_for_addresses, labels_for_txids, tags_path

__all__ = [
    "annotate_profile",
    "best_tag",
    "cluster_tag_fields",
    "cluster_view",
    "label_text",
    "resolve_run",
    "tag_dict",
]


def resolve_run(ds: Dataset, run: str | None, *, allow_stale: bool = False) -> str | None:
    """The named run, or the newest one, or None when the dataset has no clustering; a stale
    run is refused (StaleRunError) unless ``allow_stale``."""
    if run is not None:
        if run not in list_runs(ds):
            raise NotFoundError(f"clustering run not found: {run}")
    else:
        try:
            run = latest_run(ds)
        except NotFoundError:
            return None
    check_fresh(ds, run, allow_stale=allow_stale)
    return run


def best_tag(tags: Sequence[Tag]) -> Tag | None:
    """The tag to show first: highest confidence, then most recent.

    >>> best_tag([]) is None
    True
    """
    if not tags:
        return None
    return max(tags, key=lambda t: (t.confidence_level, t.lastmod))


def label_text(tags: Sequence[Tag]) -> str:
    """``label (category, confidence)`` of the best tag, or ''."""
    tag = best_tag(tags)
    if tag is None:
        return ""
    category = f"{tag.category}, " if tag.category else ""
    return f"{tag.label} ({category}{tag.confidence})"


def tag_dict(tag: Tag) -> dict[str, Any]:
    """A tag as ``show --json`` prints it (the API answers the same)."""
    return {
        "label": tag.label,
        "category": tag.category,
        "actor": tag.actor,
        "confidence": tag.confidence,
        "source": tag.source,
        "pack": tag.pack,
    }


def cluster_view(
    ds: Dataset, run: str, cluster_id: int, *, allow_stale: bool = False
) -> dict[str, Any]:
    """A cluster profile with its members' tags and best label (a stale run is refused unless
    ``allow_stale``)."""
    prof = cluster_profile(ds, run, cluster_id, allow_stale=allow_stale)
    tags: list[Tag] = []
    if tags_path(ds).exists():  # members are only needed to collect their tags
        members = member_ids(run_dir(ds, run) / "members.parquet", cluster_id)
        tags = [t for ts in labels_for_addresses(ds, members.tolist()).values() for t in ts]
    prof.update(cluster_tag_fields(tags))
    for entry in prof["top_addresses"]:
        entry["label"] = label_text(
            labels_for_addresses(ds, [entry["addr_id"]]).get(entry["addr_id"], [])
        )
    return prof


def cluster_tag_fields(tags: Sequence[Tag]) -> dict[str, Any]:
    """What a cluster profile says of its members' tags: ``label``, the first 50 ``tags``,
    ``n_tags``, the ``actors`` named and whether they ``conflict``.

    >>> cluster_tag_fields([])
    {'label': '', 'tags': [], 'n_tags': 0, 'conflict': False, 'actors': []}
    """
    actors = sorted({t.actor or t.label for t in tags})
    return {
        "label": label_text(tags),
        "tags": [tag_dict(t) for t in tags[:50]],
        "n_tags": len(tags),
        "conflict": len(actors) > 1,
        "actors": actors,
    }


def annotate_profile(
    ds: Dataset, kind: str, prof: dict[str, Any], run: str | None, *, allow_stale: bool = False
) -> None:
    """Add ``cluster``/``label`` fields to an address or transaction profile in place (a stale
    ``run`` is refused unless ``allow_stale``)."""
    if run is not None:
        check_fresh(ds, run, allow_stale=allow_stale)
    mapping = load_address_cluster(ds, run) if run is not None else None
    if kind == "address":
        addr_id = prof["addr_id"]
        prof["labels"] = [tag_dict(t) for t in labels_for_addresses(ds, [addr_id]).get(addr_id, [])]
        if mapping is not None and addr_id < mapping.shape[0]:
            cid = int(mapping[addr_id])
            c = cluster_view(ds, run, cid, allow_stale=allow_stale)  # type: ignore[arg-type]
            prof["cluster"] = {
                "run": run,
                "cluster_id": cid,
                "size": c["size"],
                "label": c["label"],
                "conflict": c["conflict"],
            }
    elif kind == "tx":
        rows = prof["inputs"] + prof["outputs"]
        addresses = [r["address"] for r in rows if r.get("address")]
        ids = {a: ds.addr_id(a) for a in set(addresses)}
        labels = labels_for_addresses(ds, list(ids.values()))
        for r in rows:
            a = r.get("address")
            if not a:
                continue
            r["label"] = label_text(labels.get(ids[a], []))
            if mapping is not None and ids[a] < mapping.shape[0]:
                r["cluster_id"] = int(mapping[ids[a]])
        prof["tx_labels"] = [
            tag_dict(t) for t in labels_for_txids(ds, [prof["txid"]]).get(prof["txid"], [])
        ]
