"""SQL over the tag store's Parquet file (``derived/tags/tags.parquet``) and the dataset's
``addresses`` view.

Address-bound tags (kinds ``address`` and ``cluster``) are matched to their ``addr_id`` by
joining the tag's target with ``addresses.address``. The tag file's path goes in as a query
parameter, the addresses asked about as a registered Arrow table.

>>> from chainsleuth.tags.store import tags_path
>>> address_actor_rows(ds, tags_path(ds)).to_pylist()[0]  # ds: regtest with exchange tags
{'addr_id': 9, 'actor': 'exchange-1', 'category': 'exchange'}
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

__all__ = [
    "POINT_LOOKUPS",
    "address_actor_levels",
    "address_actor_rows",
    "address_tag_rows",
    "address_tags",
    "best_cluster_labels",
    "query_arrow",
]


def query_arrow(
    ds: Dataset,
    query: str,
    tables: dict[str, pa.Table] | None = None,
    params: list[Any] | None = None,
) -> pa.Table:
    """Run ``query`` (with ``params`` for its ``?``) on a fresh cursor of ``ds.con`` (so a
    pending result elsewhere on the connection does not interfere), with ``tables`` registered
    under their names.

    >>> query_arrow(ds, "SELECT count(*) AS n FROM x", {"x": pa.table({"a": [1, 2]})}).to_pylist()
    [{'n': 2}]
    """
    cur = ds.con.cursor()
    try:
        for name, table in (tables or {}).items():
            cur.register(name, table)
        return cur.sql(query, params=params).to_arrow_table()
    finally:
        cur.close()


_ADDRESS_TAGS = (
    "SELECT a.addr_id, t.* FROM read_parquet(?) t JOIN addresses a ON a.address = t.target "
    "WHERE t.target_kind IN ('address', 'cluster')"
)
"""Address-bound tags (kinds address and cluster) joined to their addr_id (parameter: the
tag file)."""


def address_actor_rows(ds: Dataset, path: Path) -> pa.Table:
    """One row per distinct (addr_id, actor, category) over the address and cluster tags in
    the tag file ``path`` of addresses present in the dataset; ``actor`` is the tag's actor,
    or its label when it names none. Ordered by addr_id, actor, category (DuckDB's types).

    >>> from chainsleuth.tags.store import tags_path
    >>> address_actor_rows(ds, tags_path(ds)).num_rows
    23
    """
    query = (
        "SELECT DISTINCT CAST(addr_id AS BIGINT) AS addr_id, "
        "coalesce(actor, label) AS actor, category FROM ("
        + _ADDRESS_TAGS
        + ") ORDER BY addr_id, actor, category"
    )
    return query_arrow(ds, query, params=[str(path)])


POINT_LOOKUPS = 4096
"""Up to this many addresses (or distinct tag targets) are matched by point lookups in the
dataset's lookup indexes; beyond, the tag file is joined with the whole ``addresses`` table."""


def _wanted_addresses(ds: Dataset, path: Path, addr_ids: Sequence[int]) -> pa.Table | None:
    """(addr_id, address) of the given addresses that tags can name, found by point lookups
    instead of a scan of ``addresses`` (whose cost grows with the chain): the addresses'
    strings when they are few, else the tag targets' ids (kept when the id's string is the
    target itself, the join's exact match). None when neither is small, or the dataset has
    no lookup indexes."""
    lookup = getattr(ds, "lookup", None)  # a stand-in dataset of tests may have none
    if lookup is None or not lookup.indexed:
        return None
    ids = np.unique(np.asarray([int(a) for a in addr_ids], dtype=np.int64))
    if ids.size <= POINT_LOOKUPS:
        strings = lookup.addresses_of(ids)
        pairs = [(i, a) for i, a in zip(ids.tolist(), strings, strict=True) if a is not None]
    else:
        targets = query_arrow(
            ds,
            "SELECT DISTINCT target FROM read_parquet(?) "
            "WHERE target_kind IN ('address', 'cluster')",
            params=[str(path)],
        ).column(0)
        if len(targets) > POINT_LOOKUPS:
            return None
        wanted = set(ids.tolist())
        found = [(lookup.addr_id(t), t) for t in targets.to_pylist()]
        cands = [(i, t) for i, t in found if i is not None and i in wanted]
        spelled = lookup.addresses_of([i for i, _ in cands])
        pairs = [(i, t) for (i, t), a in zip(cands, spelled, strict=True) if a == t]
    return pa.table(
        {
            "addr_id": pa.array([i for i, _ in pairs], pa.int64()),
            "address": pa.array([a for _, a in pairs], pa.string()),
        }
    )


def address_tag_rows(ds: Dataset, path: Path, addr_ids: Sequence[int]) -> pa.Table:
    """Every column of the address and cluster tags in the tag file ``path`` of the given
    addresses, after their ``addr_id``; ordered by addr_id, pack, target kind, label. A few
    addresses (or a few tag targets) are matched through the lookup indexes, not by scanning
    the ``addresses`` table.

    >>> from chainsleuth.tags.store import tags_path
    >>> rows = address_tag_rows(ds, tags_path(ds), [9, 7])  # 7 carries no tag
    >>> rows.column("addr_id").to_pylist(), rows.column("label").to_pylist()
    ([9], ['Exchange One'])
    """
    order = " ORDER BY addr_id, pack, target_kind, label"
    pairs = _wanted_addresses(ds, path, addr_ids)
    if pairs is not None:
        query = (
            "SELECT w.addr_id, t.* FROM read_parquet(?) t "
            "JOIN _chainsleuth_wanted w ON w.address = t.target "
            "WHERE t.target_kind IN ('address', 'cluster')" + order
        )
        return query_arrow(ds, query, {"_chainsleuth_wanted": pairs}, [str(path)])
    wanted = pa.table({"addr_id": pa.array([int(a) for a in addr_ids], pa.int64())})
    query = (
        "SELECT * FROM (" + _ADDRESS_TAGS + ") "
        "WHERE addr_id IN (SELECT addr_id FROM _chainsleuth_wanted_ids)" + order
    )
    return query_arrow(ds, query, {"_chainsleuth_wanted_ids": wanted}, [str(path)])


def address_tags(ds: Dataset, path: Path) -> pa.Table:
    """The address and cluster tags in the tag file ``path`` of addresses present in the
    dataset, one row per tag: addr_id, target, label, category, actor (its label when the tag
    names none), source, confidence, confidence_level, lastmod, pack.

    >>> from chainsleuth.tags.store import tags_path
    >>> t = address_tags(ds, tags_path(ds))
    >>> t.num_rows, t.column_names[:3]
    (23, ['addr_id', 'target', 'label'])
    """
    query = (
        "SELECT CAST(addr_id AS BIGINT) AS addr_id, target, label, category, "
        "coalesce(actor, label) AS actor, source, confidence, confidence_level, lastmod, pack "
        "FROM (" + _ADDRESS_TAGS + ")"
    )
    return query_arrow(ds, query, params=[str(path)])


def address_actor_levels(ds: Dataset, path: Path, floor: int) -> pa.Table:
    """Distinct (addr_id, actor — else the label —, confidence level, pack) of the address and
    cluster tags in ``path`` whose confidence level is at least ``floor``.

    >>> from chainsleuth.tags.store import tags_path
    >>> address_actor_levels(ds, tags_path(ds), -1).column_names
    ['addr_id', 'actor', 'confidence', 'pack']
    """
    query = (
        "SELECT DISTINCT CAST(addr_id AS BIGINT) AS addr_id, coalesce(actor, label) AS actor, "
        "CAST(confidence_level AS INTEGER) AS confidence, pack FROM ("
        + _ADDRESS_TAGS
        + ") WHERE confidence_level >= ?"
    )
    return query_arrow(ds, query, params=[str(path), int(floor)])


_BEST_LABELS = """
WITH per_label AS (
    SELECT cluster_id, label, max(confidence_level) AS level,
           count(DISTINCT source) AS n_sources
    FROM _chainsleuth_tagged GROUP BY cluster_id, label
), best_label AS (
    SELECT * FROM per_label
    QUALIFY row_number() OVER (
        PARTITION BY cluster_id ORDER BY level DESC, n_sources DESC, label) = 1
), best_tag AS (
    SELECT cluster_id, label, category, actor, confidence FROM _chainsleuth_tagged
    QUALIFY row_number() OVER (
        PARTITION BY cluster_id, label
        ORDER BY confidence_level DESC, lastmod DESC, pack, actor, category) = 1
), summary AS (
    SELECT cluster_id, count(*) AS n_tags, count(DISTINCT addr_id) AS n_tagged_addresses,
           list_sort(list(DISTINCT actor)) AS actors,
           list_sort(list(DISTINCT category) FILTER (WHERE category IS NOT NULL)) AS categories
    FROM _chainsleuth_tagged GROUP BY cluster_id
)
SELECT b.cluster_id, b.label, t.category, t.actor, CAST(b.level AS INTEGER) AS confidence,
       s.n_tags, (len(s.actors) > 1 OR len(coalesce(s.categories, [])) > 1) AS conflict,
       t.confidence AS confidence_name, b.n_sources, s.n_tagged_addresses,
       s.actors, coalesce(s.categories, []) AS categories
FROM best_label b
JOIN best_tag t USING (cluster_id, label)
JOIN summary s USING (cluster_id)
ORDER BY b.cluster_id
"""


def best_cluster_labels(ds: Dataset, tagged: pa.Table) -> pa.Table:
    """Per cluster of ``tagged`` (tags with their ``cluster_id``, as
    :func:`chainsleuth.tags.attribution.tag_clusters` gives them): the best label (highest
    confidence level, then most sources, then name) with that label's best tag's category,
    actor and confidence; the number of tags, of tagged addresses and of sources; every actor
    and category claimed; ``conflict`` when more than one actor or category is claimed.

    >>> from chainsleuth.tags.store import tags_path
    >>> t = address_tags(ds, tags_path(ds))
    >>> t = t.append_column("cluster_id", t.column("addr_id"))  # every address alone
    >>> best_cluster_labels(ds, t).num_rows
    23
    """
    return query_arrow(ds, _BEST_LABELS, {"_chainsleuth_tagged": tagged})
