"""The driver side of ``cluster --engine spark``: the global merges of the bucket-local forests.

Each bucket's task reduced its links with a local union-find (:mod:`.clustertasks`); what is
left to merge is small per address, so the driver merges it in one numba union-find over
dense addr_ids (``graph/unionfind.py``: 4 B per address while ids fit in int32):

- **co-spend clusters** (:func:`merge_cospend`): the union of the buckets' multi-input
  forests; the non-singleton clusters are written as (addr_id, root, size) rows for the
  joins that hand them to the link tasks. Any labelling of the same partition serves: the
  heuristics compare cluster labels for equality and read sizes.
- **the clustering** (:func:`guarded_unions`): the links in chain order, with the collapse
  guard and the actor guard exactly as the embedded engine applies them. The guard makes the
  result depend on the order of unions, so it runs here, in the embedded engine's order
  (bucket after bucket, each bucket's links as built), over a reduced list: a link that is
  *redundant* in its bucket (earlier links of the same bucket already join its ends) can
  never be a union where no guard can hold anything back, and is dropped there. Whether a
  guard can act is decided per component of the unguarded link graph
  (:func:`guard_components`, one union-find over the non-redundant links): the collapse guard
  only where the component holds at least ``2 × (max_merge_size + 1)`` addresses (two sets
  both above the size, disjoint), the actor guard only where it holds addresses of two
  different actors. In every other component the guarded union-find does what an unguarded
  one does, so the dropped links would have been skipped; links of the components where a
  guard may act are all kept, in order. Components never interact, so the unions, the held
  links and the final clusters are the embedded engine's.

Driver memory per address: the union-find 4 B (8 B beyond 2^31 − 1 addresses), the actor
codes 4 B when tags guard, the *guarded* bitmap 1 bit; the first union-find is freed before
the second is made. Links are read in record batches of 131,072 rows.

>>> import pyarrow as pa, pyarrow.parquet as pq
>>> from chainsleuth.cluster.links import Links
>>> from chainsleuth.spark.clustertasks import links_table
>>> e = np.array([0, 1, 2], dtype=np.int64)  # links 0-1, 1-2, 2-3 among 6 addresses
>>> _ = pq.write_table(links_table(Links(e, e + 1, e, e * 0, ["multi-input"]),
...                                np.zeros(3, bool)), tmp / "b0.parquet")
>>> guard_components(6, [tmp / "b0.parquet"], 3, None) is None  # 2 × 4 > 6: never holds
True
>>> bits = guard_components(6, [tmp / "b0.parquet"], 1, None)  # {0..3}: two sets of 2 may
>>> bit_of(bits, np.arange(6)).tolist()
[True, True, True, True, False, False]
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from chainsleuth.cluster.links import Links
from chainsleuth.cluster.stream import EVIDENCE_SCHEMA, ROW_GROUP, evidence_table
from chainsleuth.graph.unionfind import NO_GUARD, flatten, new_parent, union_links

__all__ = [
    "COSPEND_SCHEMA",
    "GuardedCounts",
    "bit_of",
    "guard_components",
    "guarded_unions",
    "merge_cospend",
]

I64 = NDArray[np.int64]

COSPEND_SCHEMA = pa.schema([("addr_id", pa.int64()), ("root", pa.int64()), ("size", pa.int64())])
"""Rows of the co-spend clusters file (24 B per address in a cluster of two or more)."""

_CHUNK = 1 << 20
"""Addresses per step when a per-address array is turned into rows (a multiple of 8)."""


def _batches(files: list[Path], columns: list[str]) -> Iterator[pa.RecordBatch]:
    for path in files:
        if path.exists():
            yield from pq.ParquetFile(path).iter_batches(batch_size=ROW_GROUP, columns=columns)


def _ints(batch: pa.RecordBatch, name: str) -> I64:
    return np.asarray(batch.column(name).to_numpy(), dtype=np.int64)


def _roots(parent: NDArray[Any], lo: int, hi: int) -> I64:
    """Roots of addresses ``lo`` … ``hi - 1`` of a flattened union-find."""
    p = parent[lo:hi].astype(np.int64)
    return np.where(p < 0, np.arange(lo, hi, dtype=np.int64), p)


def merge_cospend(n_addr: int, files: list[Path], out: Path) -> int:
    """Merge the buckets' co-spend forests (``a``, ``b`` pairs) and write the clusters of two
    or more addresses to ``out`` (:data:`COSPEND_SCHEMA`); returns the rows written.

    Memory: the union-find, 4 B per address, and one chunk of rows.

    >>> _ = pq.write_table(pa.table({"a": [0, 4], "b": [2, 0]}), tmp / "p.parquet")
    >>> merge_cospend(6, [tmp / "p.parquet"], tmp / "c.parquet")
    3
    >>> pq.read_table(tmp / "c.parquet").column("size").to_pylist()
    [3, 3, 3]
    """
    parent = new_parent(n_addr)
    for batch in _batches(files, ["a", "b"]):
        union_links(parent, _ints(batch, "a"), _ints(batch, "b"))
    flatten(parent)
    rows = 0
    tmp = out.with_name(out.name + ".tmp")
    with pq.ParquetWriter(tmp, COSPEND_SCHEMA) as writer:
        for lo in range(0, n_addr, _CHUNK):
            hi = min(lo + _CHUNK, n_addr)
            root = _roots(parent, lo, hi)
            size = -parent[root].astype(np.int64)
            keep = np.flatnonzero(size >= 2)
            if len(keep):
                addr = np.arange(lo, hi, dtype=np.int64)[keep]
                table = pa.table({"addr_id": addr, "root": root[keep], "size": size[keep]})
                writer.write_table(table.cast(COSPEND_SCHEMA), row_group_size=ROW_GROUP)
                rows += len(keep)
    tmp.replace(out)
    return rows


def bit_of(bits: NDArray[np.uint8], idx: I64) -> NDArray[np.bool_]:
    """Bits ``idx`` of a bitmap made by ``np.packbits``.

    >>> bit_of(np.packbits([0, 1, 1]), np.array([0, 1, 2])).tolist()
    [False, True, True]
    """
    return ((bits[idx >> 3] >> (7 - (idx & 7)).astype(np.uint8)) & 1).astype(np.bool_)


def guard_components(
    n_addr: int, files: list[Path], guard: int, actor_codes: NDArray[Any] | None
) -> NDArray[np.uint8] | None:
    """Per address (a bitmap, 1 bit each) whether a guard may act in its component of the
    unguarded link graph (module docstring); None when no guard can act anywhere.

    Memory: the union-find (4 B per address) and the bitmap; the actor codes are the caller's.
    See the module docstring for an example.
    """
    size_guard = guard != NO_GUARD and 2 * (guard + 1) <= n_addr
    tagged = np.flatnonzero(actor_codes) if actor_codes is not None else np.zeros(0, np.int64)
    if not size_guard and len(tagged) < 2:
        return None
    parent = new_parent(n_addr)
    for batch in _batches(files, ["addr_a", "addr_b", "redundant"]):
        keep = ~np.asarray(batch.column("redundant").to_numpy(zero_copy_only=False), bool)
        union_links(parent, _ints(batch, "addr_a")[keep], _ints(batch, "addr_b")[keep])
    flatten(parent)
    # components holding two different actors (tagged addresses are few)
    two_actors = np.zeros(0, dtype=np.int64)
    if actor_codes is not None and len(tagged):
        t_root = np.where(parent[tagged] < 0, tagged, parent[tagged]).astype(np.int64)
        pairs = np.unique(np.stack([t_root, actor_codes[tagged].astype(np.int64)]), axis=1)
        roots, n_actors = np.unique(pairs[0], return_counts=True)
        two_actors = roots[n_actors >= 2]
    bits = np.zeros((n_addr + 7) // 8, dtype=np.uint8)
    for lo in range(0, n_addr, _CHUNK):
        hi = min(lo + _CHUNK, n_addr)
        root = _roots(parent, lo, hi)
        flag = np.isin(root, two_actors)
        if size_guard:
            flag |= -parent[root].astype(np.int64) >= 2 * (guard + 1)
        bits[lo >> 3 : (hi + 7) >> 3] = np.packbits(flag)
    return bits


class GuardedCounts:
    """Links read, unions, held links (what :func:`guarded_unions` did)."""

    __slots__ = ("n_held", "n_links", "n_unions")

    def __init__(self) -> None:
        self.n_links = 0
        self.n_unions = 0
        self.n_held = 0


def _links(batch: pa.RecordBatch) -> Links:
    rule = batch.column("rule")
    prob = np.asarray(batch.column("probability").to_numpy(zero_copy_only=False), np.float32)
    return Links(
        _ints(batch, "addr_a"),
        _ints(batch, "addr_b"),
        _ints(batch, "tx_id"),
        np.asarray(rule.indices.to_numpy(zero_copy_only=False), dtype=np.int64),
        [str(r) for r in rule.dictionary.to_pylist()],
        prob,
    )


def guarded_unions(
    parent: NDArray[Any],
    files: list[Path],
    *,
    guard: int,
    actor_codes: NDArray[Any] | None,
    guarded: NDArray[np.uint8] | None,
    evidence: Path,
    held: Path,
) -> GuardedCounts:
    """Apply the links of ``files`` (in order) to ``parent`` with the collapse guard
    (``guard``; ``NO_GUARD`` for none) and the actor guard (``actor_codes``, updated in
    place), skipping the redundant links outside the ``guarded`` components; write the
    unions to ``evidence`` and the held links to ``held`` (:data:`EVIDENCE_SCHEMA`, the
    embedded engine's rows).

    >>> from chainsleuth.cluster.links import Links
    >>> from chainsleuth.spark.clustertasks import links_table
    >>> e = np.array([0, 1, 0], dtype=np.int64)
    >>> _ = pq.write_table(links_table(Links(e, np.array([1, 2, 2]), e, e * 0, ["x"]),
    ...                                np.array([False, False, True])), tmp / "b0.parquet")
    >>> p = new_parent(3)
    >>> c = guarded_unions(p, [tmp / "b0.parquet"], guard=NO_GUARD, actor_codes=None,
    ...                    guarded=None, evidence=tmp / "e.parquet", held=tmp / "h.parquet")
    >>> c.n_unions, c.n_held, pq.read_table(tmp / "e.parquet").num_rows
    (2, 0, 2)
    """
    counts = GuardedCounts()
    columns = ["tx_id", "addr_a", "addr_b", "rule", "probability", "redundant"]
    with (
        pq.ParquetWriter(evidence, EVIDENCE_SCHEMA) as ev_out,
        pq.ParquetWriter(held, EVIDENCE_SCHEMA) as held_out,
    ):
        for batch in _batches(files, columns):
            redundant = np.asarray(batch.column("redundant").to_numpy(zero_copy_only=False), bool)
            counts.n_links += batch.num_rows
            keep = ~redundant
            if guarded is not None and redundant.any():
                idx = np.flatnonzero(redundant)
                keep[idx] = bit_of(guarded, _ints(batch, "addr_a")[idx])
            sub = np.flatnonzero(keep)
            if not len(sub):
                continue
            links = _links(batch)
            merged, held_idx = union_links(
                parent, links.a[sub], links.b[sub], actor=actor_codes, max_merge_size=guard
            )
            if len(merged):
                ev_out.write_table(evidence_table(links, sub[merged]), row_group_size=ROW_GROUP)
            if len(held_idx):
                held_out.write_table(evidence_table(links, sub[held_idx]), row_group_size=ROW_GROUP)
            counts.n_unions += len(merged)
            counts.n_held += len(held_idx)
    return counts
