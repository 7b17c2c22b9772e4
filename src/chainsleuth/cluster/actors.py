"""The actor table a clustering run's collapse guard uses, and its snapshot.

The caller builds the table (from the tag store: :func:`chainsleuth.tags.guard.actor_table`,
keeping only tags at or above a confidence level) and hands it to
:func:`chainsleuth.cluster.run.cluster_dataset`; the run records what it saw in
``params.json`` (``tags``: a sha256 over the rows used, counts, the threshold and the packs) and
the rows themselves in ``tags.parquet``, so commands can later name tags imported after it.

>>> t = ActorTable.from_rows([(4, "exchange-1", 90, "ex1"), (2, "miner", 50, "m")], 50)
>>> t.codes(6).tolist()
[0, 0, 2, 0, 1, 0]
>>> p = t.params(); (p["n_tags"], p["n_addresses"], p["n_actors"], p["packs"])
(2, 2, 2, ['ex1', 'm'])
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

__all__ = ["ACTOR_ROWS_SCHEMA", "ActorTable", "snapshot_sha256"]

I64 = NDArray[np.int64]

ACTOR_ROWS_SCHEMA = pa.schema(
    [
        ("addr_id", pa.int64()),
        ("actor", pa.string()),
        ("confidence", pa.int32()),
        ("pack", pa.string()),
    ]
)
"""Columns of an actor table (and of a run's ``tags.parquet``): one row per tag used, with the
tag's numeric confidence level (5-100) and its pack."""

Row = tuple[int, str, int, str]


def snapshot_sha256(rows: Iterable[tuple[int, str, int]]) -> str:
    """sha256 over the sorted distinct (addr_id, actor, confidence) rows, one ``id\\tactor\\tlevel``
    line each: the same tags give the same hash whatever their order or pack.

    >>> snapshot_sha256([]) == hashlib.sha256(b"").hexdigest()
    True
    >>> rows = [(1, "a", 90), (0, "b", 50)]
    >>> snapshot_sha256(rows) == snapshot_sha256(rows[::-1])
    True
    """
    digest = hashlib.sha256()
    for addr, actor, level in sorted(set(rows)):
        digest.update(f"{int(addr)}\t{actor}\t{int(level)}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class ActorTable:
    """Tagged addresses and the actor each belongs to, as far as tags of at least
    ``min_confidence`` say (rows sorted by addr_id, actor, confidence, pack)."""

    rows: tuple[Row, ...]
    min_confidence: int | None
    """the confidence level (5-100) a tag needs to be used; None: no threshold"""
    store_sha256: str | None = None
    """sha256 of the tag store file the rows came from (None: not from a store)"""

    @classmethod
    def from_rows(
        cls, rows: Iterable[Row], min_confidence: int | None, store_sha256: str | None = None
    ) -> ActorTable:
        """A table of (addr_id, actor, confidence level, pack) rows.

        >>> ActorTable.from_rows([], 50).rows
        ()
        """
        clean = {(int(a), str(x), int(c), str(p)) for a, x, c, p in rows}
        return cls(tuple(sorted(clean)), min_confidence, store_sha256)

    @classmethod
    def from_arrow(
        cls, table: pa.Table, min_confidence: int | None, store_sha256: str | None = None
    ) -> ActorTable:
        """A table from Arrow columns :data:`ACTOR_ROWS_SCHEMA`.

        >>> ActorTable.from_arrow(ACTOR_ROWS_SCHEMA.empty_table(), None).rows
        ()
        """
        cols = [table.column(n).to_pylist() for n in ACTOR_ROWS_SCHEMA.names]
        return cls.from_rows(zip(*cols, strict=True), min_confidence, store_sha256)

    def to_arrow(self) -> pa.Table:
        """The rows as Arrow (:data:`ACTOR_ROWS_SCHEMA`), e.g. for the run's ``tags.parquet``.

        >>> ActorTable.from_rows([(3, "x", 90, "p")], 50).to_arrow().num_rows
        1
        """
        cols = list(zip(*self.rows, strict=True)) if self.rows else [(), (), (), ()]
        arrays = [pa.array(list(c), f.type) for c, f in zip(cols, ACTOR_ROWS_SCHEMA, strict=True)]
        return pa.Table.from_arrays(arrays, schema=ACTOR_ROWS_SCHEMA)

    def __len__(self) -> int:
        return len(self.rows)

    def triples(self) -> set[tuple[int, str, int]]:
        """The distinct (addr_id, actor, confidence) rows the snapshot hash covers."""
        return {(a, x, c) for a, x, c, _p in self.rows}

    def codes(
        self, n_addr: int, dtype: type[np.signedinteger[Any]] = np.int64
    ) -> NDArray[Any] | None:
        """Per addr_id an actor code (0 = untagged), or None when no address is tagged.

        An address whose tags name two actors is left untagged: it cannot arbitrate.

        >>> ActorTable.from_rows([(0, "a", 90, "p"), (0, "b", 90, "p")], 50).codes(2).tolist()
        [0, 0]
        """
        if not self.rows:
            return None
        names = sorted({x for _a, x, _c, _p in self.rows})
        code_of = {name: i + 1 for i, name in enumerate(names)}
        out = np.zeros(n_addr, dtype=dtype)
        for a, x, _c, _p in self.rows:
            if 0 <= a < n_addr:
                code = code_of[x]
                out[a] = code if out[a] in (0, code) else -1
        out[out < 0] = 0
        return out

    def params(self) -> dict[str, Any]:
        """The ``tags`` object of a run's ``params.json``.

        >>> ActorTable.from_rows([], 50).params()["n_tags"]
        0
        """
        return {
            "snapshot_sha256": snapshot_sha256(self.triples()),
            "n_tags": len(self.rows),
            "n_addresses": len({a for a, _x, _c, _p in self.rows}),
            "n_actors": len({x for _a, x, _c, _p in self.rows}),
            "min_confidence": self.min_confidence,
            "packs": sorted({p for _a, _x, _c, p in self.rows}),
            "store_sha256": self.store_sha256,
        }
