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

import pyarrow as pa

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

__all__ = ["address_actor_rows", "address_tag_rows", "query_arrow"]


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


def address_tag_rows(ds: Dataset, path: Path, addr_ids: Sequence[int]) -> pa.Table:
    """Every column of the address and cluster tags in the tag file ``path`` of the given
    addresses, after their ``addr_id``; ordered by addr_id, pack, target kind, label.

    >>> from chainsleuth.tags.store import tags_path
    >>> rows = address_tag_rows(ds, tags_path(ds), [9, 7])  # 7 carries no tag
    >>> rows.column("addr_id").to_pylist(), rows.column("label").to_pylist()
    ([9], ['Exchange One'])
    """
    wanted = pa.table({"addr_id": pa.array([int(a) for a in addr_ids], pa.int64())})
    query = (
        "SELECT * FROM (" + _ADDRESS_TAGS + ") "
        "WHERE addr_id IN (SELECT addr_id FROM _chainsleuth_wanted_ids) "
        "ORDER BY addr_id, pack, target_kind, label"
    )
    return query_arrow(ds, query, {"_chainsleuth_wanted_ids": wanted}, [str(path)])
