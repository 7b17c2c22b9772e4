"""Cluster attribution: give every tagged cluster of a clustering run its best label and flag
clusters whose members' tags disagree.

Tags on addresses (and cluster tags, which name a member address) are mapped to their cluster
through the run's ``address_cluster.parquet``. Within a cluster each label is scored by the
highest confidence level of its tags, then by how many distinct sources assert it; the best
label wins (ties: alphabetical). A cluster is a **conflict** when its tags name more than one
actor (a tag without an actor counts as its label) or more than one category: often a false
merge, sometimes a mislabelled tag. Tags can also disagree *across* a held link: when the
collapse guard kept two tagged clusters apart although a heuristic linked them, the pair is a
**held conflict** (:func:`held_conflicts`), so a wrong tag that stopped a merge stays visible.

>>> labels = cluster_labels(ds)  # ds: regtest, exchange tag packs, clustered "default"
>>> labels.select(["cluster_id", "label", "conflict"]).to_pylist()[0]
{'cluster_id': 9, 'label': 'Exchange One', 'conflict': False}
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainsleuth.errors import NotFoundError
from chainsleuth.store.tagtables import address_tags, best_cluster_labels
from chainsleuth.tags.model import Tag
from chainsleuth.tags.store import labels_for_addresses, tags_path

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

__all__ = [
    "CLUSTER_LABELS_SCHEMA",
    "CONFLICT_TAGS_SCHEMA",
    "HELD_CONFLICTS_SCHEMA",
    "TAGGED_SCHEMA",
    "cluster_labels",
    "cluster_tag_rows",
    "cluster_tags",
    "conflict_tags",
    "conflicting_tags",
    "held_conflicts",
    "label_clusters",
    "tag_clusters",
]

CLUSTER_LABELS_SCHEMA = pa.schema(
    [
        ("cluster_id", pa.int64()),
        ("label", pa.string()),
        ("category", pa.string()),
        ("actor", pa.string()),
        ("confidence", pa.int32()),
        ("n_tags", pa.int64()),
        ("conflict", pa.bool_()),
        ("confidence_name", pa.string()),
        ("n_sources", pa.int64()),
        ("n_tagged_addresses", pa.int64()),
        ("actors", pa.list_(pa.string())),
        ("categories", pa.list_(pa.string())),
    ]
)
"""Columns of :func:`cluster_labels` (the first seven are the cross-module contract)."""

CONFLICT_TAGS_SCHEMA = pa.schema(
    [
        ("cluster_id", pa.int64()),
        ("addr_id", pa.int64()),
        ("address", pa.string()),
        ("label", pa.string()),
        ("actor", pa.string()),
        ("category", pa.string()),
        ("confidence", pa.string()),
        ("source", pa.string()),
        ("pack", pa.string()),
    ]
)
"""Columns of :func:`conflict_tags`: the tags behind each conflicting cluster."""

HELD_CONFLICTS_SCHEMA = pa.schema(
    [
        ("cluster_a", pa.int64()),
        ("cluster_b", pa.int64()),
        ("actors_a", pa.list_(pa.string())),
        ("actors_b", pa.list_(pa.string())),
        ("n_links", pa.int64()),
        ("tx_id", pa.int64()),
    ]
)
"""Columns of :func:`held_conflicts`: tagged cluster pairs (``cluster_a < cluster_b``) whose
tags name different actors and that the collapse guard kept apart; ``n_links`` held links
between them, ``tx_id`` the first transaction of one of them."""

TAGGED_SCHEMA = pa.schema(
    [
        ("addr_id", pa.int64()),
        ("target", pa.string()),
        ("label", pa.string()),
        ("category", pa.string()),
        ("actor", pa.string()),
        ("source", pa.string()),
        ("confidence", pa.string()),
        ("confidence_level", pa.int32()),
        ("lastmod", pa.timestamp("us", tz="UTC")),
        ("pack", pa.string()),
        ("cluster_id", pa.int64()),
    ]
)
"""Columns of :func:`tag_clusters` (``actor`` falls back to the label)."""


def _run_mapping(ds: Dataset, run: str | None) -> np.ndarray:
    from chainsleuth.cluster.runs import latest_run, load_address_cluster

    name = run if run is not None else latest_run(ds)
    return np.asarray(load_address_cluster(ds, name), dtype=np.int64)


def tag_clusters(ds: Dataset, mapping: np.ndarray) -> pa.Table:
    """Every address/cluster tag of an address in the dataset with the ``cluster_id`` that
    ``mapping`` (cluster id indexed by addr_id) gives it; addresses beyond the mapping are left
    out. Columns: :data:`TAGGED_SCHEMA`.

    >>> from chainsleuth.cluster.runs import load_address_cluster
    >>> tagged = tag_clusters(ds, load_address_cluster(ds, "default"))
    >>> tagged.num_rows, tagged.column_names[-1]
    (23, 'cluster_id')
    """
    path = tags_path(ds)
    if not path.exists():
        return TAGGED_SCHEMA.empty_table()
    table = address_tags(ds, path)
    addr_ids = table.column("addr_id").to_numpy()
    covered = addr_ids < mapping.shape[0]
    table = table.filter(pa.array(covered))
    cluster_ids = np.asarray(mapping, dtype=np.int64)[addr_ids[covered]]
    table = table.append_column("cluster_id", pa.array(cluster_ids, pa.int64()))
    return table.cast(TAGGED_SCHEMA)


def label_clusters(ds: Dataset, mapping: np.ndarray) -> pa.Table:
    """:func:`cluster_labels` for an explicit clustering: ``mapping[addr_id]`` is the cluster id.

    >>> label_clusters(ds, np.arange(9174)).num_rows  # every address its own cluster
    23
    """
    tagged = tag_clusters(ds, mapping)
    if tagged.num_rows == 0:
        return CLUSTER_LABELS_SCHEMA.empty_table()
    result = best_cluster_labels(ds, tagged)
    return result.cast(CLUSTER_LABELS_SCHEMA)


def cluster_labels(ds: Dataset, run: str | None = None) -> pa.Table:
    """Best label and conflict flag of every cluster of ``run`` that has tagged members.

    ``run`` defaults to the latest clustering run (NotFoundError if there is none). Columns:
    :data:`CLUSTER_LABELS_SCHEMA`; ``confidence`` is the best label's numeric level, ``actors``
    and ``categories`` everything the cluster's tags claim. Clusters without tags are absent.

    >>> cluster_labels(ds, "default").select(["cluster_id", "label", "conflict"]).to_pylist()[1]
    {'cluster_id': 13, 'label': 'Exchange Two', 'conflict': False}
    """
    return label_clusters(ds, _run_mapping(ds, run))


def conflicting_tags(ds: Dataset, mapping: np.ndarray) -> pa.Table:
    """:func:`conflict_tags` for an explicit clustering (``mapping[addr_id]`` = cluster id).

    >>> from chainsleuth.cluster.runs import load_address_cluster
    >>> conflicting_tags(ds, load_address_cluster(ds, "default")).num_rows  # none here
    0
    """
    tagged = tag_clusters(ds, mapping)
    if tagged.num_rows == 0:
        return CONFLICT_TAGS_SCHEMA.empty_table()
    labels = label_clusters(ds, mapping)
    bad = labels.filter(labels.column("conflict")).column("cluster_id")
    return _tag_rows(tagged, bad)


def conflict_tags(ds: Dataset, run: str | None = None) -> pa.Table:
    """The tags behind every conflicting cluster of ``run``, one row per tag, so an
    investigator sees which addresses carry which actor (columns :data:`CONFLICT_TAGS_SCHEMA`).

    >>> conflict_tags(ds).column_names[:3], conflict_tags(ds).num_rows
    (['cluster_id', 'addr_id', 'address'], 0)
    """
    return conflicting_tags(ds, _run_mapping(ds, run))


def cluster_tags(ds: Dataset, cluster_id: int, run: str | None = None) -> list[Tag]:
    """Every address/cluster tag of the members of cluster ``cluster_id`` in ``run``.

    NotFoundError when the run has no such cluster.

    >>> [t.label for t in cluster_tags(ds, 34)][:2]
    ['Exchange One', 'Exchange One']
    """
    from chainsleuth.cluster.runs import run_dir
    from chainsleuth.store.runtables import member_ids

    members = member_ids(run_dir(ds, run) / "members.parquet", cluster_id)
    if members.size == 0:
        raise NotFoundError(f"cluster {cluster_id} not in the clustering run")
    by_address = labels_for_addresses(ds, members.tolist())
    return [t for addr_id in sorted(by_address) for t in by_address[addr_id]]


def held_conflicts(ds: Dataset, run: str | None = None) -> pa.Table:
    """Pairs of clusters of ``run`` that a heuristic linked, the collapse guard held apart,
    and whose tags name different actors (columns :data:`HELD_CONFLICTS_SCHEMA`, by cluster).

    The guard only holds links on tags strong enough to vote (``cluster --tag-min-confidence``),
    so one of the two sides may carry a wrong tag: the pair is shown like a conflicting cluster.

    >>> held_conflicts(ds, "default").num_rows  # the exchange tags held no link apart here
    0
    """
    import pyarrow.parquet as pq

    from chainsleuth.cluster.runs import latest_run, run_dir

    name = run if run is not None else latest_run(ds)
    held_file = run_dir(ds, name) / "held.parquet"
    mapping = _run_mapping(ds, name)
    if not held_file.is_file():
        return HELD_CONFLICTS_SCHEMA.empty_table()
    held = pq.ParquetFile(held_file).read(columns=["addr_a", "addr_b", "tx_id"])
    tagged = tag_clusters(ds, mapping)
    if held.num_rows == 0 or tagged.num_rows == 0:
        return HELD_CONFLICTS_SCHEMA.empty_table()
    actors: dict[int, set[str]] = {}
    for cid, actor in zip(
        tagged.column("cluster_id").to_pylist(), tagged.column("actor").to_pylist(), strict=True
    ):
        actors.setdefault(int(cid), set()).add(str(actor))
    ids = np.array(sorted(actors), dtype=np.int64)
    ca = mapping[np.asarray(held.column("addr_a").to_numpy(), dtype=np.int64)]
    cb = mapping[np.asarray(held.column("addr_b").to_numpy(), dtype=np.int64)]
    both = np.isin(ca, ids) & np.isin(cb, ids)
    tx = np.asarray(held.column("tx_id").to_numpy(), dtype=np.int64)
    pairs: dict[tuple[int, int], list[int]] = {}
    for a, b, t in zip(ca[both].tolist(), cb[both].tolist(), tx[both].tolist(), strict=True):
        if actors[a] == actors[b]:
            continue
        key = (min(a, b), max(a, b))
        entry = pairs.setdefault(key, [0, t])
        entry[0] += 1
        entry[1] = min(entry[1], t)
    rows = sorted(pairs.items())
    return pa.table(
        {
            "cluster_a": [a for (a, _b), _v in rows],
            "cluster_b": [b for (_a, b), _v in rows],
            "actors_a": [sorted(actors[a]) for (a, _b), _v in rows],
            "actors_b": [sorted(actors[b]) for (_a, b), _v in rows],
            "n_links": [v[0] for _k, v in rows],
            "tx_id": [v[1] for _k, v in rows],
        },
        schema=HELD_CONFLICTS_SCHEMA,
    )


def cluster_tag_rows(ds: Dataset, cluster_ids: list[int], run: str | None = None) -> pa.Table:
    """The tags of the members of the given clusters, one row per tag (columns
    :data:`CONFLICT_TAGS_SCHEMA`), e.g. the two sides of a held conflict.

    >>> rows = cluster_tag_rows(ds, [34])
    >>> rows.num_rows, sorted(set(rows.column("actor").to_pylist()))
    (8, ['exchange-1'])
    """
    tagged = tag_clusters(ds, _run_mapping(ds, run))
    return _tag_rows(tagged, pa.array(cluster_ids))


def _tag_rows(tagged: pa.Table, cluster_ids: pa.Array | pa.ChunkedArray) -> pa.Table:
    """The tagged rows of ``cluster_ids`` as :data:`CONFLICT_TAGS_SCHEMA`, by cluster, actor,
    address."""
    rows = tagged.filter(pc.is_in(tagged.column("cluster_id"), value_set=cluster_ids))
    rows = rows.sort_by(
        [("cluster_id", "ascending"), ("actor", "ascending"), ("addr_id", "ascending")]
    )
    return pa.table(
        {
            "cluster_id": rows.column("cluster_id"),
            "addr_id": rows.column("addr_id"),
            "address": rows.column("target"),
            "label": rows.column("label"),
            "actor": rows.column("actor"),
            "category": rows.column("category"),
            "confidence": rows.column("confidence"),
            "source": rows.column("source"),
            "pack": rows.column("pack"),
        }
    ).cast(CONFLICT_TAGS_SCHEMA)
