"""The address dictionary: script key → dense ``addr_id`` in bounded RAM, spilling to disk.

:class:`AddressDictionary` has the semantics of :class:`~chainsleuth.store.hashindex.AddressIndex`
(ids dense from 0 in order of first appearance) but holds at most ``memory_bytes`` of structures
in RAM whatever the number of addresses; the rest lives in immutable sorted files.

Structures and their cost (``F`` = fence spacing, 128 rows unless the budget is tiny):

* **Hot table** (RAM): open addressing with linear probing over an ``(slots, 3)`` ``uint64``
  array ``[k0, k1, id + 1]`` (0 = empty): **24 B per slot**, filled to at most
  :data:`MAX_LOAD` = 0.7, so **≥ 34 B per hot key**. It is sized from the budget when created
  — or, given ``expected_keys`` (ingest's estimate from the blocks to read), for those keys
  if fewer — and never grows by doubling: only at a spill, while empty, it is resized (smaller
  to leave the run indexes their bytes, see the budget split below; to its full share once
  more keys came than expected). Past 64 MiB it lives in anonymous memory advised for huge
  pages (:func:`zeroed_slots`). The home slot is
  ``((k0 >> 32) · slots) >> 32``: monotone in ``k0``, so a full table is already nearly sorted
  and is turned into a sorted run in place (compaction plus an insertion sort that moves each
  key about once; heapsort if the keys are not uniform).
* **Runs** (disk): when the hot table reaches its load limit its keys are written as one
  immutable run ``run-NNNNNN.npy``: ``(n, 3)`` ``uint64`` rows ``[k0, k1, id]`` sorted by
  ``(k0, k1)``, **24 B per key on disk** (+ a 128-byte ``.npy`` header). Every key lives in exactly
  one place (the hot table or one run), so runs are disjoint. Runs are read by offset with
  ``pread`` called from the numba kernels (a lookup reads 8 fenced blocks, 24 KiB, that serve
  the next sorted queries too; merges read sequentially through fixed buffers), not through
  ``mmap``: on this Linux 6 kernel a mapped run's pages stay in the process RSS, whole
  page-cache folios at a time (``MADV_RANDOM`` does not prevent it; 200,000 random lookups map
  a whole 687 MiB run, and ``MADV_DONTNEED`` every 256 lookups still leaves ~400 MiB mapped),
  while ``pread`` through the page cache keeps the RSS flat (``bench/addrdict.py --reads``).
* **Run index** (RAM, also saved as ``run-NNNNNN.index.npy``): a blocked Bloom filter (512-bit
  blocks, up to 7 bits set per key) of **10 bits = 1.25 B per key** (≈1 % false positives) and
  the first ``k0`` of every ``F`` rows (**8 B per F keys**: 0.0625 B/key at F = 128), so
  :data:`INDEX_BYTES_PER_KEY` = 1.3125 B per key on disk. When the keys outgrow the index part
  of the budget, new and merged runs get fewer Bloom bits (graceful: a false positive costs one
  fenced binary search in one run, at most one ``pread``) and sparser fences.
* **Merging** (tiered, ratio :data:`MERGE_RATIO` = 4): spills are level-0 runs; when a level holds
  4 runs they are merged (a streaming k-way merge in numba through fixed input and output
  buffers) into one run of the next level. Each key is rewritten about ``log4(n / hot keys)``
  times, lookups consult ``≤ 3 · levels + 1`` Bloom filters. Replaced runs stay on disk (the
  last checkpoint may name them) until :meth:`AddressDictionary.remove_unreferenced`.
  Merges run in a thread of their own (the merge kernel and the writes release the GIL) while
  lookups and inserts go on against the runs being merged; the merged run takes their place at
  the next spill, checkpoint or close. Names, index sizes and the run list are planned as
  merging at once would leave them, so files and states are the same bytes. (Inline, the
  27.5 M-key merge of a 30 M-transaction ingest stalled its last tenth: 124k against ~185k
  tx/s; in the thread that tenth ran at 152k.) While a merge runs, the Bloom filters of its
  inputs and of its output coexist: + 1.3125 B per key being merged.

Budget split (``memory_bytes`` = M): I/O (merge and read buffers) ``M / 16`` clamped to
[16 KiB, 64 MiB]; of the rest R, the hot table gets ``R/2`` at first and, as keys move to runs,
``R`` minus :data:`INDEX_BYTES_PER_KEY` (1.3125 B) per key in runs (and in the next spill), but
never less than ``R/8``; the run indexes get everything else. So the Bloom filters keep their 10
bits per key up to ``7R/8 / 1.3125`` keys on disk (≈ 40 M keys for 64 MiB, 670 M for 1 GiB,
3 B for 4.5 GiB) and thin out beyond. :attr:`~AddressDictionary.nbytes` (hot table
+ indexes) stays ≤ M − I/O. Scratch of one :meth:`~AddressDictionary.assign` call is
proportional to that call (≈ 100 B per key of the batch at most: outputs, miss lists, a
deduplication table at load ≤ 0.5, the sorted queries) and comes on top, like the caller's own
arrays.

A lookup of a batch: probe the hot table (numba), deduplicate the misses (a scratch hash table),
put them in key order (:func:`key_order`, a one-pass counting sort on the high bits of ``k0``,
which also orders the Bloom blocks, the runs and the hot slots), test them against each run's
Bloom filter and binary-search the positives within their fenced block (one ``pread`` fetches 8
blocks: the next sorted queries often fall in them), then hand the next ids to the keys found
nowhere in order of first appearance and insert them into the hot table in key order (spilling,
and merging, when it is full; what fits before a spill is a strided subset, never a prefix in
key order, which would overfill one stretch of the table).

Persistence: :meth:`~AddressDictionary.checkpoint` writes the hot table's keys as
``hot-GGGGGG.npy`` (24 B per hot key) and returns every file the state needs with its sha256
(runs are hashed once, when written, and made durable by the first checkpoint that names them);
:meth:`~AddressDictionary.open` restores that state.

>>> import tempfile
>>> from pathlib import Path
>>> d = AddressDictionary.create(Path(tempfile.mkdtemp()) / "addr", memory_bytes=8 << 20)
>>> k0 = np.array([7, 9, 7, 5], np.uint64)
>>> k1 = np.array([1, 2, 1, 3], np.uint64)
>>> ids, new = d.assign(k0, k1, np.array([True, True, True, False]))
>>> ids.tolist(), new.tolist(), d.count
([0, 1, 0, -1], [True, True, False, False], 2)
>>> files = d.checkpoint(1)
>>> sorted(files)
['hot-000001.npy']
>>> again = AddressDictionary.open(d.directory, d.state(), memory_bytes=8 << 20)
>>> again.lookup(k0, k1).tolist()
[0, 1, 0, -1]
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import math
import mmap
import os
import re
import threading
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit, types

from chainsleuth.errors import ChainsleuthError, DatasetError

__all__ = [
    "BLOOM_BITS_PER_KEY",
    "FENCE_EVERY",
    "INDEX_BYTES_PER_KEY",
    "MAX_LOAD",
    "MERGE_RATIO",
    "MIN_MEMORY_BYTES",
    "AddressDictionary",
    "bloom_fill",
    "hot_drain",
    "hot_gather",
    "hot_insert",
    "hot_probe",
    "key_order",
    "merge_step",
    "resolve",
    "runs_lookup",
    "zeroed_slots",
]

FORMAT = 1
MAX_LOAD = 0.7
BLOOM_BITS_PER_KEY = 10.0
MERGE_RATIO = 4
FENCE_EVERY = 128
MAX_FENCE_EVERY = 1 << 16
MIN_MEMORY_BYTES = 32 << 10
INDEX_BYTES_PER_KEY = BLOOM_BITS_PER_KEY / 8 + 8 / FENCE_EVERY
READ_ROWS = 1024  # rows one lookup pread fetches (24 KiB): 8 blocks at F = 128
SLOT_BYTES = 24
_MAX_SLOTS = (1 << 32) - 1
# ssize_t pread(int fd, void *buf, size_t count, off_t offset), resolved by name (cacheable);
# the buffer address is passed as an integer (LP64 platforms).
_pread: Any = types.ExternalFunction(
    "pread", types.int64(types.int32, types.uintp, types.uintp, types.int64)
)
_RUN_NAME = re.compile(r"^run-(\d+)(?:\.index)?\.npy$")
_OWN_NAME = re.compile(r"^(?:run-\d+(?:\.index)?|hot-\d+)\.npy(?:\.tmp)?$")


# --------------------------------------------------------------------------------------------
# numba kernels (plain-Python twins with the same signatures: chainsleuth.store.addrdict_ref)


@njit(cache=True, inline="always")
def _home(k0: np.uint64, cap: int) -> np.int64:
    return np.int64(((k0 >> np.uint64(32)) * np.uint64(cap)) >> np.uint64(32))


@njit(cache=True, inline="always")
def _key_lt(a0: np.uint64, a1: np.uint64, b0: np.uint64, b1: np.uint64) -> bool:
    return bool(a0 < b0 or (a0 == b0 and a1 < b1))


@njit(cache=True, inline="always")
def _bloom_base(k0: np.uint64, words: int) -> np.int64:
    # the block follows k0's high bits, like the sort order: keys taken in order (runs being
    # built, queries sorted by k0) walk the filter forwards instead of missing the cache
    blocks = np.uint64(words >> 3)
    return np.int64(((k0 >> np.uint64(32)) * blocks) >> np.uint64(32)) * 8


@njit(cache=True, inline="always")
def _bloom_add(bloom: np.ndarray, nk: int, k0: np.uint64, k1: np.uint64) -> None:
    base = _bloom_base(k0, bloom.shape[0])
    h = k1  # the bits within the block: independent of k0
    for j in range(nk):
        bit = (h >> np.uint64(9 * j)) & np.uint64(511)
        w = base + np.int64(bit >> np.uint64(6))
        bloom[w] |= np.uint64(1) << (bit & np.uint64(63))


@njit(cache=True, inline="always")
def _bloom_maybe(bloom: np.ndarray, nk: int, k0: np.uint64, k1: np.uint64) -> bool:
    if bloom.shape[0] < 8:
        return True
    base = _bloom_base(k0, bloom.shape[0])
    h = k1
    for j in range(nk):
        bit = (h >> np.uint64(9 * j)) & np.uint64(511)
        w = base + np.int64(bit >> np.uint64(6))
        if bloom[w] & (np.uint64(1) << (bit & np.uint64(63))) == np.uint64(0):
            return False
    return True


@njit(cache=True)
def _read_rows(fd: int, header: int, first: int, count: int, buf: np.ndarray) -> bool:
    """``pread`` rows ``[first, first + count)`` of a run file into ``buf[:count]``."""
    want = count * 24
    done = 0
    while done < want:
        got = _pread(
            np.int32(fd),
            buf.ctypes.data + np.uintp(done),
            np.uintp(want - done),
            np.int64(header + first * 24 + done),
        )
        if got <= 0:
            return False
        done += got
    return True


@njit(cache=True)
def _run_find(
    fd: int,
    header: int,
    n: int,
    fences: np.ndarray,
    every: int,
    q0: np.uint64,
    q1: np.uint64,
    buf: np.ndarray,
    held: np.ndarray,
) -> np.int64:
    """The id of ``(q0, q1)`` in a run file, -1 when absent, -2 on a read error.

    ``buf`` holds rows ``[held[0], held[0] + held[1])`` of the file from earlier calls: a
    block inside them is not read again, and a read fills the whole buffer (sorted queries
    tend to fall in the next blocks).
    """
    nf = fences.shape[0]
    lo = 0
    hi = nf
    while lo < hi:  # fences strictly below q0
        mid = (lo + hi) >> 1
        if fences[mid] < q0:
            lo = mid + 1
        else:
            hi = mid
    below = lo
    hi = nf
    while lo < hi:  # fences at or below q0
        mid = (lo + hi) >> 1
        if fences[mid] <= q0:
            lo = mid + 1
        else:
            hi = mid
    # the key, if present, is in rows [a, b): before them k0 < q0, from b on k0 > q0
    a = (below - 1) * every if below > 0 else 0
    b = min(lo * every, n)
    while b - a > buf.shape[0]:  # only when many keys share one k0: narrow row by row
        mid = (a + b) >> 1
        held[1] = -1
        if not _read_rows(fd, header, mid, 1, buf):
            return np.int64(-2)
        if buf[0, 0] == q0 and buf[0, 1] == q1:
            return np.int64(buf[0, 2])
        if _key_lt(buf[0, 0], buf[0, 1], q0, q1):
            a = mid + 1
        else:
            b = mid
    if a >= b:
        return np.int64(-1)
    if a < held[0] or b > held[0] + held[1]:
        # read ahead a whole buffer: the next sorted queries usually land in it
        count = min(buf.shape[0], n - a)
        held[1] = -1
        if not _read_rows(fd, header, a, count, buf):
            return np.int64(-2)
        held[0] = a
        held[1] = count
    lo = a - held[0]
    hi = b - held[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if _key_lt(buf[mid, 0], buf[mid, 1], q0, q1):
            lo = mid + 1
        else:
            hi = mid
    if lo < b - held[0] and buf[lo, 0] == q0 and buf[lo, 1] == q1:
        return np.int64(buf[lo, 2])
    return np.int64(-1)


@njit(cache=True)
def key_order(k0: np.ndarray) -> np.ndarray:
    """A permutation putting ``k0`` in order of its high bits (a one-pass counting sort).

    Nearly sorted is enough: queries taken in this order walk the Bloom filters and run files
    forwards. Stable, so equal keys keep their relative order.
    """
    n = k0.shape[0]
    bits = 1
    while bits < 16 and (1 << (bits + 1)) <= n:
        bits += 1
    shift = np.uint64(64 - bits)
    counts = np.zeros((1 << bits) + 1, dtype=np.int64)
    for i in range(n):
        counts[np.int64(k0[i] >> shift) + 1] += 1
    for b in range(1 << bits):
        counts[b + 1] += counts[b]
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        bucket = np.int64(k0[i] >> shift)
        order[counts[bucket]] = i
        counts[bucket] += 1
    return order


@njit(cache=True)
def hot_probe(
    table: np.ndarray, k0: np.ndarray, k1: np.ndarray, want: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probe the hot table: (ids or -1, miss_of, uniq).

    ``miss_of[i]`` is the index in ``uniq`` of a wanted key the table lacks (-1 otherwise);
    ``uniq`` holds the position of each distinct missing key's first occurrence, in order.
    """
    cap = table.shape[0]
    n = k0.shape[0]
    ids = np.full(n, -1, dtype=np.int64)
    miss_of = np.full(n, -1, dtype=np.int64)
    misses = np.empty(n, dtype=np.int64)
    nm = 0
    for i in range(n):
        if not want[i]:
            continue
        a = k0[i]
        b = k1[i]
        s = int(_home(a, cap))
        hit = False
        while table[s, 2] != 0:
            if table[s, 0] == a and table[s, 1] == b:
                ids[i] = np.int64(table[s, 2]) - 1
                hit = True
                break
            s += 1
            if s == cap:
                s = 0
        if not hit:
            misses[nm] = i
            nm += 1
    size = 2
    while size < 2 * nm:
        size *= 2
    mask = np.uint64(size - 1)
    # slot: the unique's index (low 32 bits) and a 31-bit fingerprint of k0 (high bits), so
    # that a distinct key is told apart without reading the keys of the one found there
    seen = np.full(size, -1, dtype=np.int64)
    uniq = np.empty(nm, dtype=np.int64)
    nu = 0
    for t in range(nm):
        i = misses[t]
        h = np.int64(k1[i] & mask)
        finger = np.int64(k0[i] >> np.uint64(33)) << 32
        while True:
            v = seen[h]
            if v == -1:
                seen[h] = finger | nu
                uniq[nu] = i
                miss_of[i] = nu
                nu += 1
                break
            if v & np.int64(-4294967296) == finger:
                u = v & np.int64(0xFFFFFFFF)
                j = uniq[u]
                if k0[j] == k0[i] and k1[j] == k1[i]:
                    miss_of[i] = u
                    break
            h = (h + 1) & np.int64(size - 1)
    return ids, miss_of, uniq[:nu].copy()


@njit(cache=True)
def runs_lookup(
    fd: int,
    header: int,
    n: int,
    fences: np.ndarray,
    every: int,
    bloom: np.ndarray,
    nk: int,
    q0: np.ndarray,
    q1: np.ndarray,
    found: np.ndarray,
    buf: np.ndarray,
) -> int:
    """Fill ``found[i]`` (still -1) with the id of ``(q0[i], q1[i])`` in one sorted run file.

    Queries are tested against the run's Bloom filter first; each positive costs one ``pread``
    of ``buf`` rows from its fenced block (``every`` rows) on, unless an earlier read of this
    call holds the block already (queries in :func:`key_order` often do). Returns the number
    of positives searched, or -1 on a read error.
    """
    probes = 0
    held = np.full(2, -1, dtype=np.int64)
    for i in range(q0.shape[0]):
        if found[i] == -1 and _bloom_maybe(bloom, nk, q0[i], q1[i]):
            probes += 1
            r = _run_find(fd, header, n, fences, every, q0[i], q1[i], buf, held)
            if r == -2:
                return -1
            found[i] = r
    return probes


@njit(cache=True)
def resolve(
    ids: np.ndarray,
    miss_of: np.ndarray,
    uniq: np.ndarray,
    found: np.ndarray,
    q0: np.ndarray,
    q1: np.ndarray,
    count: int,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Give the next ids to distinct keys found nowhere, then fill ``ids`` for every miss.

    ``found`` (one per distinct miss, -1 = unknown) is completed in place. Returns (is_new,
    rows ``[k0, k1, id]`` of the new keys in id order, next count).
    """
    nu = uniq.shape[0]
    fresh = np.zeros(nu, dtype=np.bool_)
    n_new = 0
    for u in range(nu):
        if found[u] == -1:
            fresh[u] = True
            n_new += 1
    rows = np.empty((n_new, 3), dtype=np.uint64)
    r = 0
    for u in range(nu):
        if fresh[u]:
            found[u] = count
            rows[r, 0] = q0[u]
            rows[r, 1] = q1[u]
            rows[r, 2] = np.uint64(count)
            r += 1
            count += 1
    new = np.zeros(ids.shape[0], dtype=np.bool_)
    for i in range(ids.shape[0]):
        u = miss_of[i]
        if u >= 0:
            ids[i] = found[u]
            if fresh[u] and uniq[u] == i:
                new[i] = True
    return new, rows, count


@njit(cache=True)
def hot_insert(
    table: np.ndarray, rows: np.ndarray, start: int, limit: int, filled: int
) -> tuple[int, int]:
    """Insert absent keys ``rows[start:]`` (``[k0, k1, id]``) until ``filled`` reaches ``limit``.

    Returns (next row to insert, keys now in the table).
    """
    cap = table.shape[0]
    i = start
    n = rows.shape[0]
    while i < n and filled < limit:
        s = int(_home(rows[i, 0], cap))
        while table[s, 2] != 0:
            s += 1
            if s == cap:
                s = 0
        table[s, 0] = rows[i, 0]
        table[s, 1] = rows[i, 1]
        table[s, 2] = rows[i, 2] + np.uint64(1)
        filled += 1
        i += 1
    return i, filled


@njit(cache=True, inline="always")
def _swap_rows(t: np.ndarray, a: int, b: int) -> None:
    for c in range(3):
        x = t[a, c]
        t[a, c] = t[b, c]
        t[b, c] = x


@njit(cache=True)
def _heapsort_rows(t: np.ndarray, n: int) -> None:
    # in place, by (k0, k1): the fallback when keys are not uniform
    for top in range((n >> 1) - 1, -1, -1):
        _sift(t, top, n)
    for end in range(n - 1, 0, -1):
        _swap_rows(t, 0, end)
        _sift(t, 0, end)


@njit(cache=True)
def _sift(t: np.ndarray, root: int, n: int) -> None:
    while True:
        child = 2 * root + 1
        if child >= n:
            return
        if child + 1 < n and _key_lt(t[child, 0], t[child, 1], t[child + 1, 0], t[child + 1, 1]):
            child += 1
        if not _key_lt(t[root, 0], t[root, 1], t[child, 0], t[child, 1]):
            return
        _swap_rows(t, root, child)
        root = child


@njit(cache=True)
def hot_drain(table: np.ndarray) -> int:
    """Turn the hot table into a sorted run in place: rows ``[0, n)`` become ``[k0, k1, id]``.

    Returns ``n``. The slots from ``n`` on are garbage afterwards: the caller zeroes the table.
    """
    cap = table.shape[0]
    first_empty = 0
    while first_empty < cap and table[first_empty, 2] != 0:
        first_empty += 1
    wrapped = 0  # keys of the cluster that wraps past the end sit at the start
    for s in range(first_empty):
        if _home(table[s, 0], cap) > s:
            wrapped += 1
    tail = np.empty((wrapped, 3), dtype=np.uint64)
    w = 0
    n = 0
    for s in range(cap):
        if table[s, 2] == 0:
            continue
        if s < first_empty and _home(table[s, 0], cap) > s:
            for c in range(3):
                tail[w, c] = table[s, c]
            w += 1
            continue
        if n != s:
            for c in range(3):
                table[n, c] = table[s, c]
        n += 1
    for t in range(wrapped):
        for c in range(3):
            table[n, c] = tail[t, c]
        n += 1
    # nearly sorted: linear probing keeps keys within their cluster of the home order
    budget = 64 * n + 1024
    moves = 0
    i = 1
    while i < n and moves <= budget:
        a0 = table[i, 0]
        a1 = table[i, 1]
        a2 = table[i, 2]
        j = i - 1
        while j >= 0 and _key_lt(a0, a1, table[j, 0], table[j, 1]):
            table[j + 1, 0] = table[j, 0]
            table[j + 1, 1] = table[j, 1]
            table[j + 1, 2] = table[j, 2]
            j -= 1
            moves += 1
        table[j + 1, 0] = a0
        table[j + 1, 1] = a1
        table[j + 1, 2] = a2
        i += 1
    if i < n:
        _heapsort_rows(table, n)
    for r in range(n):
        table[r, 2] -= np.uint64(1)
    return n


@njit(cache=True)
def hot_gather(table: np.ndarray, start: int, out: np.ndarray) -> tuple[int, int]:
    """Copy occupied slots from ``start`` on into ``out`` as ``[k0, k1, id]`` until it is full.

    Returns (next slot, rows written).
    """
    cap = table.shape[0]
    m = 0
    s = start
    while s < cap and m < out.shape[0]:
        if table[s, 2] != 0:
            out[m, 0] = table[s, 0]
            out[m, 1] = table[s, 1]
            out[m, 2] = table[s, 2] - np.uint64(1)
            m += 1
        s += 1
    return s, m


@njit(cache=True)
def bloom_fill(bloom: np.ndarray, nk: int, rows: np.ndarray) -> None:
    """Add every key of ``rows`` to a blocked Bloom filter (``nk`` bits per key)."""
    if bloom.shape[0] < 8:
        return
    for i in range(rows.shape[0]):
        _bloom_add(bloom, nk, rows[i, 0], rows[i, 1])


@njit(cache=True, nogil=True)
def merge_step(
    fds: np.ndarray,
    headers: np.ndarray,
    sizes: np.ndarray,
    cursors: np.ndarray,
    bufs: np.ndarray,
    buf_first: np.ndarray,
    buf_len: np.ndarray,
    out: np.ndarray,
    bloom: np.ndarray,
    nk: int,
    fences: np.ndarray,
    every: int,
    out_base: int,
) -> int:
    """Merge sorted run files into ``out`` until it is full (a streaming k-way merge).

    Input ``t`` is the file ``fds[t]`` of ``sizes[t]`` rows after a ``headers[t]``-byte header;
    ``cursors[t]`` is its next row, ``bufs[t]`` holds its rows ``[buf_first[t], + buf_len[t])``
    and is refilled with ``pread`` when used up. Each row written is also added to the merged
    run's Bloom filter, and the row at global position ``out_base + m`` is its fence
    ``(out_base + m) // every`` when divisible. Returns the rows written (0 when every input is
    exhausted), -1 on a read error.
    """
    t_count = fds.shape[0]
    cap = bufs.shape[1]
    has_bloom = bloom.shape[0] >= 8
    m = 0
    while m < out.shape[0]:
        best = -1
        bj = 0
        b0 = np.uint64(0)
        b1 = np.uint64(0)
        for t in range(t_count):
            c = cursors[t]
            if c >= sizes[t]:
                continue
            j = c - buf_first[t]
            if j >= buf_len[t]:
                cnt = min(cap, sizes[t] - c)
                if not _read_rows(fds[t], headers[t], c, cnt, bufs[t]):
                    return -1
                buf_first[t] = c
                buf_len[t] = cnt
                j = 0
            r0 = bufs[t, j, 0]
            r1 = bufs[t, j, 1]
            if best == -1 or _key_lt(r0, r1, b0, b1):
                best = t
                bj = j
                b0 = r0
                b1 = r1
        if best == -1:
            break
        out[m, 0] = b0
        out[m, 1] = b1
        out[m, 2] = bufs[best, bj, 2]
        cursors[best] += 1
        if has_bloom:
            _bloom_add(bloom, nk, b0, b1)
        g = out_base + m
        if g % every == 0:
            fences[g // every] = b0
        m += 1
    return m


# --------------------------------------------------------------------------------------------
# files


def _npy_header(shape: tuple[int, ...]) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf,
        {
            "descr": np.lib.format.dtype_to_descr(np.dtype(np.uint64)),
            "fortran_order": False,
            "shape": shape,
        },
    )
    return buf.getvalue()


def _write_npy(
    path: Path, shape: tuple[int, ...], chunks: Iterable[np.ndarray], *, sync: bool
) -> str:
    """Write a ``uint64`` ``.npy`` from chunks (tmp + rename); returns its sha256.

    ``sync`` fsyncs the data before the rename; runs skip it and are synced by the first
    checkpoint that names them (most are merged away before that).
    """
    tmp = path.with_name(path.name + ".tmp")
    digest = hashlib.sha256()
    expected = math.prod(shape) * 8
    written = 0
    with open(tmp, "wb") as fh:
        header = _npy_header(shape)
        fh.write(header)
        digest.update(header)
        for chunk in chunks:
            data = np.ascontiguousarray(chunk, dtype=np.uint64)
            view = data.data.cast("B")
            fh.write(view)
            digest.update(view)
            written += data.nbytes
        fh.flush()
        if sync:
            os.fsync(fh.fileno())
    if written != expected:
        tmp.unlink()
        raise ChainsleuthError(f"{path.name}: wrote {written} bytes of {expected}")
    os.replace(tmp, path)
    return digest.hexdigest()


def _npy_open(path: Path, shape: tuple[int, ...]) -> tuple[int, int]:
    """Open a ``uint64`` ``.npy`` of ``shape`` for reads by offset: (fd, data offset)."""
    with open(path, "rb") as fh:
        try:
            version = np.lib.format.read_magic(fh)
            found, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        except ValueError as e:
            raise DatasetError(f"not an address dictionary file: {path} ({e})") from e
        header = fh.tell()
        if version != (1, 0) or fortran or dtype != np.dtype(np.uint64) or found != shape:
            raise DatasetError(f"not an address dictionary file of shape {shape}: {path}")
        if os.fstat(fh.fileno()).st_size < header + 8 * math.prod(shape):
            raise DatasetError(f"address dictionary file truncated: {path}")
    return os.open(path, os.O_RDONLY), header


def _read_chunks(path: Path, n: int, rows: int) -> Iterator[np.ndarray]:
    """The ``(n, 3)`` rows of a ``.npy`` file, ``rows`` at a time (one reused buffer)."""
    fd, header = _npy_open(path, (n, 3))
    buf = np.empty((rows, 3), dtype=np.uint64)
    try:
        for first in range(0, n, rows):
            count = min(rows, n - first)
            if not _read_rows(fd, header, first, count, buf):
                raise DatasetError(f"cannot read address dictionary file: {path}")
            yield buf[:count]
    finally:
        os.close(fd)


class _Run:
    """One immutable sorted run: an open file descriptor, its Bloom filter and fences in RAM."""

    def __init__(
        self,
        directory: Path,
        entry: dict[str, Any],
        bloom: np.ndarray | None = None,
        fences: np.ndarray | None = None,
        *,
        synced: bool = True,
    ) -> None:
        self.entry = entry
        self.keys = int(entry["keys"])
        self.level = int(entry["level"])
        self.every = int(entry["fence_every"])
        self.bloom_k = int(entry["bloom_k"])
        self.synced = synced
        if bloom is None or fences is None:
            words = int(entry["bloom_words"])
            index_path = directory / entry["index"]
            n_fences = -(-self.keys // self.every)
            fd, header = _npy_open(index_path, (words + n_fences,))
            os.close(fd)
            index = np.fromfile(index_path, dtype=np.uint64, offset=header)
            bloom, fences = index[:words].copy(), index[words:].copy()
        self.bloom = bloom
        self.fences = fences
        self.fd, self.header = _npy_open(directory / entry["file"], (self.keys, 3))
        self._closer = weakref.finalize(self, os.close, self.fd)

    @property
    def index_nbytes(self) -> int:
        return int(self.bloom.nbytes + self.fences.nbytes)

    def files(self) -> dict[str, str]:
        return {
            self.entry["file"]: self.entry["sha256"],
            self.entry["index"]: self.entry["index_sha256"],
        }

    def sync(self, directory: Path) -> None:
        if not self.synced:
            os.fsync(self.fd)
            fd = os.open(directory / self.entry["index"], os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self.synced = True

    def drop_index(self) -> None:
        self.bloom = np.zeros(0, dtype=np.uint64)
        self.fences = np.zeros(0, dtype=np.uint64)

    def close(self) -> None:
        self.drop_index()
        self._closer()


class _Planned:
    """A run a planned merge will write: its keys, level and index bytes (for planning the
    merges after it). 24 bytes of fields."""

    __slots__ = ("index_nbytes", "keys", "level")

    def __init__(self, keys: int, level: int, index_nbytes: int) -> None:
        self.keys = keys
        self.level = level
        self.index_nbytes = index_nbytes


class _MergeJob:
    """One planned merge: its input runs (open runs, or runs an earlier job of the same thread
    writes), the level and file names of its output, its index plan, and the run once written."""

    def __init__(
        self,
        group: list[_Run | _Planned],
        level: int,
        names: tuple[str, str],
        plan: tuple[int, int, int],
        planned: _Planned,
    ) -> None:
        self.group = group
        self.level = level
        self.names = names
        self.plan = plan
        self.planned = planned
        self.run: _Run | None = None


class _Merges(threading.Thread):
    """Runs planned merges in order in a thread of their own (the merge kernel and the file
    writes release the GIL). A job's inputs written by an earlier job are closed once merged."""

    def __init__(self, owner: AddressDictionary, jobs: list[_MergeJob]) -> None:
        super().__init__(name="chainsleuth-addr-merge", daemon=True)
        self.owner = owner
        self.jobs = jobs
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        written: dict[int, _Run] = {}
        try:
            for job in self.jobs:
                group = [written[id(r)] if isinstance(r, _Planned) else r for r in job.group]
                job.run = self.owner._merge(group, job.level, job.names, job.plan)
                written[id(job.planned)] = job.run
        except BaseException as exc:  # re-raised on the owner's thread
            self.error = exc


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _state_files(state: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """Every file a state names: {name: (sha256, bytes)}."""
    files: dict[str, tuple[str, int]] = {}
    hot = state.get("hot")
    if hot is not None:
        files[hot["file"]] = (hot["sha256"], int(hot["bytes"]))
    for run in state.get("runs", []):
        files[run["file"]] = (run["sha256"], int(run["bytes"]))
        files[run["index"]] = (run["index_sha256"], int(run["index_bytes"]))
    return files


# --------------------------------------------------------------------------------------------


def zeroed_slots(slots: int) -> np.ndarray:
    """A zeroed ``(slots, 3)`` ``uint64`` table in anonymous memory asking the kernel for huge
    pages (``MADV_HUGEPAGE``; Linux's default transparent-huge-page mode honours it). A hash
    table touches its pages at random: with 4 KiB pages a 2 M-transaction ingest faulted in
    every page of a multi-GiB table one key at a time and missed the TLB on nearly every probe.
    Where huge pages are not available this is plain zeroed memory.

    >>> t = zeroed_slots(5)
    >>> t.shape, t.dtype.name, int(t.sum())
    ((5, 3), 'uint64', 0)
    """
    size = max(slots, 1) * 3 * 8
    if size < _HUGE_PAGE_MIN:
        return np.zeros((slots, 3), dtype=np.uint64)
    buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    if advice is not None:
        with contextlib.suppress(OSError):  # a kernel without transparent huge pages
            buf.madvise(advice)
    return np.frombuffer(buf, dtype=np.uint64, count=slots * 3).reshape(slots, 3)


HINT_LOAD = 0.56
"""Load a hot table sized from ``expected_keys`` reaches when the estimate is exact (0.8 of
:data:`MAX_LOAD`: an estimate a little low still fits)."""

_HUGE_PAGE_MIN = 64 << 20
"""Tables smaller than this are plain numpy arrays (huge pages pay off on big tables)."""


class AddressDictionary:
    """Script key → dense ``addr_id`` in at most ``memory_bytes`` of RAM; the rest on disk.

    Create with :meth:`create` or :meth:`open`; see the module docstring for the layout and the
    bytes per key of each structure. After an exception inside a call (say a full disk during a
    spill) the object is unusable: open the last checkpoint again.
    """

    def __init__(
        self,
        directory: Path,
        memory_bytes: int,
        on_disk: int = 0,
        expected_keys: int | None = None,
    ) -> None:
        """Use :meth:`create` or :meth:`open` (``on_disk``: keys already in runs;
        ``expected_keys``: see :meth:`create`)."""
        if memory_bytes < MIN_MEMORY_BYTES:
            raise ValueError(f"memory_bytes below {MIN_MEMORY_BYTES}: {memory_bytes}")
        self.directory = Path(directory)
        self.memory_bytes = int(memory_bytes)
        self.expected_keys = expected_keys
        self.io_bytes = min(max(memory_bytes // 16, 16 << 10), 64 << 20)
        self._size_hot(on_disk)
        self._table = zeroed_slots(self.slots)
        self._hot_n = 0
        self._buffer_rows = max(1024, self.io_bytes // 2 // SLOT_BYTES)
        self._runs: list[_Run] = []
        self._merging: _Merges | None = None
        self._seq = 0
        self.count = 0
        self.probes = 0  # run blocks read (Bloom positives): a statistic
        self._state: dict[str, Any] = self._make_state(None, None)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def create(
        cls, directory: Path, *, memory_bytes: int, expected_keys: int | None = None
    ) -> AddressDictionary:
        """An empty dictionary whose files live in ``directory`` (created if needed).

        ``expected_keys``: an upper estimate of the keys to come (ingest's, from the bytes of
        blocks to read). The hot table is then sized for them (at load 0.56) rather than from
        the whole budget: a small chain gets a small table, which is faster to fill and keeps
        the RSS down. If more keys come, the table spills once and the hint is dropped (the
        next tables take their full share). Ids do not depend on it.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        d = cls(directory, memory_bytes, expected_keys=expected_keys)
        d._seq = d._max_seq_on_disk() + 1  # never overwrite a file already there
        return d

    @classmethod
    def open(
        cls,
        directory: Path,
        state: dict[str, Any],
        *,
        memory_bytes: int,
        expected_keys: int | None = None,
    ) -> AddressDictionary:
        """The dictionary exactly as :meth:`checkpoint` left it (``state`` from :meth:`state`;
        ``expected_keys``: new keys to come, as for :meth:`create`).

        Raises :class:`~chainsleuth.errors.DatasetError` naming a missing or truncated file.
        """
        directory = Path(directory)
        if state.get("format") != FORMAT:
            raise DatasetError(f"address dictionary state of unknown format: {directory}")
        for name, (_, size) in _state_files(state).items():
            path = directory / name
            if not path.is_file():
                raise DatasetError(f"address dictionary file missing: {path}")
            if path.stat().st_size != size:
                raise DatasetError(f"address dictionary file truncated: {path}")
        saved_hot = 0 if state["hot"] is None else int(state["hot"]["keys"])
        hint = None if expected_keys is None else expected_keys + saved_hot
        d = cls(directory, memory_bytes, sum(int(r["keys"]) for r in state["runs"]), hint)
        d.count = int(state["count"])
        d._seq = max(int(state["next_run"]), d._max_seq_on_disk() + 1)
        d._runs = [_Run(directory, dict(entry)) for entry in state["runs"]]
        hot = state["hot"]
        n_hot = 0 if hot is None else int(hot["keys"])
        # the file is in slot order (by k0): a smaller table takes every passes-th key per pass,
        # spread over all keys, and spills between passes
        passes = -(-n_hot // d.hot_limit)
        for p in range(passes):
            if p:
                d._spill()
            first = 0
            for rows in _read_chunks(directory / hot["file"], n_hot, d._buffer_rows):
                d._insert(rows[(p - first) % passes :: passes])
                first += rows.shape[0]
        d._state = copy.deepcopy(state)
        return d

    def close(self) -> None:
        """Close the run files (the object is unusable afterwards)."""
        self._finish_merges()
        for run in self._runs:
            run.close()
        self._runs = []

    # -- queries --------------------------------------------------------------------------------

    def assign(
        self, k0: np.ndarray, k1: np.ndarray, want: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Look up or insert each wanted key; returns (addr_id or -1, is_new).

        Same contract as :meth:`AddressIndex.assign`: new keys get the next ids in order of
        first appearance, repeats within the call included.
        """
        k0, k1, want = self._coerce(k0, k1, want)
        ids, miss_of, uniq = hot_probe(self._table, k0, k1, want)
        if uniq.shape[0] == 0:
            return ids, np.zeros(k0.shape[0], dtype=np.bool_)
        q0 = k0[uniq]
        q1 = k1[uniq]
        found = self._search_runs(q0, q1)
        new, rows, self.count = resolve(ids, miss_of, uniq, found, q0, q1, self.count)
        self._insert(rows[key_order(rows[:, 0])])  # in slot order: the table is walked forwards
        return ids, new

    def lookup(self, k0: np.ndarray, k1: np.ndarray) -> np.ndarray:
        """The id of each key, -1 when absent (read-only)."""
        k0, k1, want = self._coerce(k0, k1, None)
        ids, miss_of, uniq = hot_probe(self._table, k0, k1, want)
        if uniq.shape[0]:
            found = self._search_runs(k0[uniq], k1[uniq])
            sel = miss_of >= 0
            ids[sel] = found[miss_of[sel]]
        return ids

    @staticmethod
    def _coerce(
        k0: np.ndarray, k1: np.ndarray, want: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a = np.ascontiguousarray(k0, dtype=np.uint64)
        b = np.ascontiguousarray(k1, dtype=np.uint64)
        w = (
            np.ones(a.shape[0], dtype=np.bool_)
            if want is None
            else np.ascontiguousarray(want, dtype=np.bool_)
        )
        if a.ndim != 1 or a.shape != b.shape or a.shape != w.shape:
            raise ValueError(f"k0, k1, want must be 1-D of one length: {a.shape} {b.shape}")
        if a.shape[0] >= 1 << 31:
            raise ValueError(f"at most 2**31 - 1 keys per call: {a.shape[0]}")
        return a, b, w

    def _search_runs(self, q0: np.ndarray, q1: np.ndarray) -> np.ndarray:
        """Ids of distinct keys in the runs (-1: in none)."""
        found = np.full(q0.shape[0], -1, dtype=np.int64)
        if not self._runs:
            return found
        buf = np.empty((max(READ_ROWS, *(r.every for r in self._runs)), 3), dtype=np.uint64)
        order = key_order(q0)  # walk the Bloom filters and run files forwards
        s0, s1 = q0[order], q1[order]
        hits = np.full(q0.shape[0], -1, dtype=np.int64)
        for run in sorted(self._runs, key=lambda r: -r.keys):  # biggest (oldest) first
            probes = runs_lookup(
                run.fd,
                run.header,
                run.keys,
                run.fences,
                run.every,
                run.bloom,
                run.bloom_k,
                s0,
                s1,
                hits,
                buf,
            )
            if probes < 0:
                raise ChainsleuthError(f"cannot read {self.directory / run.entry['file']}")
            self.probes += probes
        found[order] = hits
        return found

    # -- hot table, spills, merges --------------------------------------------------------------

    def _insert(self, rows: np.ndarray) -> None:
        """Insert new keys (in key order), spilling whenever the table reaches its limit.

        What fits before a spill is an evenly strided subset of ``rows``, not a prefix: a
        prefix of keys in order would all have their home slots in one stretch of the table,
        overfill it and make clusters thousands of slots long.
        """
        while rows.shape[0]:
            room = self.hot_limit - self._hot_n
            if rows.shape[0] <= room:
                _, self._hot_n = hot_insert(self._table, rows, 0, self.hot_limit, self._hot_n)
                return
            if room > 0:
                pick = np.zeros(rows.shape[0], dtype=np.bool_)
                pick[np.arange(room, dtype=np.int64) * rows.shape[0] // room] = True
                _, self._hot_n = hot_insert(self._table, rows[pick], 0, self.hot_limit, self._hot_n)
                rows = rows[~pick]
            self._spill()

    def _size_hot(self, on_disk: int) -> None:
        """Split the budget for ``on_disk`` keys in runs: the run indexes are given their
        :data:`INDEX_BYTES_PER_KEY` for those and the next spill, out of the hot table, which
        shrinks from half to an eighth of the budget (then the Bloom filters thin out)."""
        avail = self.memory_bytes - self.io_bytes
        top = avail // 2
        upcoming = on_disk + int(top // SLOT_BYTES * MAX_LOAD)
        hot = min(top, max(avail // 8, avail - int(upcoming * INDEX_BYTES_PER_KEY)))
        if self.expected_keys is not None:  # sized for the keys to come, not the budget
            hot = min(hot, int(self.expected_keys / HINT_LOAD) * SLOT_BYTES)
        self.slots = int(min(max(hot // SLOT_BYTES, 64), _MAX_SLOTS))
        self.index_bytes = avail - self.slots * SLOT_BYTES
        self.hot_limit = int(self.slots * MAX_LOAD)

    def _next_name(self) -> tuple[str, str]:
        seq = self._seq
        self._seq += 1
        return f"run-{seq:06d}.npy", f"run-{seq:06d}.index.npy"

    def _max_seq_on_disk(self) -> int:
        seqs = [int(m.group(1)) for p in self.directory.iterdir() if (m := _RUN_NAME.match(p.name))]
        return max(seqs, default=-1)

    def _index_plan(
        self, n: int, level: int, runs: list[_Run] | list[_Planned] | None = None
    ) -> tuple[int, int, int]:
        """(fence spacing, Bloom words, bits set per key) for a new run of ``n`` keys.

        The run gets its part of the index budget in proportion to its keys. When that is
        short of :data:`BLOOM_BITS_PER_KEY`, the keys the levels below this one can gather
        before it is merged again (``hot keys · (4^level - 1)``) are counted too, so that the
        big runs leave bits for the runs to come instead of all of them getting none.
        """
        runs = self._runs if runs is None else runs
        on_disk = sum(r.keys for r in runs) + n
        share = self.index_bytes * n / on_disk  # this run's fair part of the index budget
        if 8 * share / n < BLOOM_BITS_PER_KEY:
            share = self.index_bytes * n / (on_disk + self.hot_limit * (MERGE_RATIO**level - 1))
        every = FENCE_EVERY
        while every < MAX_FENCE_EVERY and 8 * -(-n // every) > share / 4:
            every *= 2
        fence_bytes = 8 * -(-n // every)
        free = self.index_bytes - sum(r.index_nbytes for r in runs) - fence_bytes
        bits = min(BLOOM_BITS_PER_KEY, 8 * (share - fence_bytes) / n, 8 * free / n)
        blocks = int(bits * n / 512) if bits > 0 else 0
        if blocks == 0:
            return every, 0, 0
        k = min(7, max(1, round(blocks * 512 / n * math.log(2))))
        return every, blocks * 8, k

    def _new_run(
        self,
        name: str,
        index_name: str,
        sha: str,
        n: int,
        level: int,
        every: int,
        bloom: np.ndarray,
        k: int,
        fences: np.ndarray,
    ) -> _Run:
        """Write a run's index file; the run, open (any thread: touches no shared state)."""
        index_path = self.directory / index_name
        index_sha = _write_npy(index_path, (bloom.size + fences.size,), [bloom, fences], sync=False)
        entry = {
            "file": name,
            "index": index_name,
            "keys": n,
            "level": level,
            "fence_every": every,
            "bloom_words": int(bloom.size),
            "bloom_k": k,
            "bytes": (self.directory / name).stat().st_size,
            "index_bytes": index_path.stat().st_size,
            "sha256": sha,
            "index_sha256": index_sha,
        }
        return _Run(self.directory, entry, bloom, fences, synced=False)

    def _spill(self) -> None:
        self._finish_merges()
        n = hot_drain(self._table)
        rows = self._table[:n]
        name, index_name = self._next_name()
        sha = _write_npy(self.directory / name, (n, 3), [rows], sync=False)
        self.expected_keys = None  # more keys than expected: the next tables take their share
        self._size_hot(sum(r.keys for r in self._runs) + n)
        every, words, k = self._index_plan(n, 0)
        bloom = np.zeros(words, dtype=np.uint64)
        bloom_fill(bloom, k, rows)
        fences = rows[::every, 0].copy()
        del rows
        if self.slots != self._table.shape[0]:  # resize: free the old table first
            self._table = np.zeros((0, 3), dtype=np.uint64)
            self._table = zeroed_slots(self.slots)
        else:
            self._table.fill(0)
        self._hot_n = 0
        self._runs.append(self._new_run(name, index_name, sha, n, 0, every, bloom, k, fences))
        self._start_merges()

    def _start_merges(self) -> None:
        """Plan the merges full levels call for (a level's merged run may fill the next one)
        and run them in a thread while lookups and inserts go on; :meth:`_finish_merges` puts
        their runs in place at the next spill, checkpoint or close.

        Names, index sizes and the order of the run list are planned here exactly as merging
        at once would give them, and every place the run list is saved or sized waits for the
        thread first: files and states are the same bytes whatever the thread's timing. While
        it runs, lookups search the runs being merged (still in the list), and their Bloom
        filters and the new run's coexist: + ``INDEX_BYTES_PER_KEY`` per key merged.
        """
        runs: list[_Run | _Planned] = list(self._runs)
        jobs: list[_MergeJob] = []
        while True:
            levels: dict[int, list[_Run | _Planned]] = {}
            for run in runs:
                levels.setdefault(run.level, []).append(run)
            full = sorted(lv for lv, at in levels.items() if len(at) >= MERGE_RATIO)
            if not full:
                break
            group = levels[full[0]][:MERGE_RATIO]
            runs = [r for r in runs if all(r is not g for g in group)]
            n = sum(r.keys for r in group)
            plan = self._index_plan(n, full[0] + 1, runs)  # type: ignore[arg-type]
            every, words, _ = plan
            planned = _Planned(n, full[0] + 1, 8 * words + 8 * -(-n // every))
            jobs.append(_MergeJob(group, full[0] + 1, self._next_name(), plan, planned))
            runs.append(planned)
        if jobs:
            self._merging = _Merges(self, jobs)

    def _finish_merges(self) -> None:
        """Wait for the merges in flight and put their runs in the list (as merging at once
        would have: each group out, its merged run appended); re-raise what failed."""
        merging, self._merging = self._merging, None
        if merging is None:
            return
        merging.join()
        if merging.error is not None:
            raise merging.error
        written: dict[int, _Run] = {}
        for job in merging.jobs:
            assert job.run is not None
            for member in job.group:
                run = written[id(member)] if isinstance(member, _Planned) else member
                self._runs.remove(run)
                run.close()
            self._runs.append(job.run)
            written[id(job.planned)] = job.run

    def _merge(self, group: list[_Run], level: int, names: tuple[str, str],
               plan: tuple[int, int, int]) -> _Run:  # fmt: skip
        """The runs of ``group`` merged into one new run of ``level`` (files written, run open):
        touches none of the dictionary's shared state, so it runs in the merge thread."""
        n = sum(r.keys for r in group)
        every, words, k = plan
        bloom = np.zeros(words, dtype=np.uint64)
        fences = np.empty(-(-n // every), dtype=np.uint64)
        name, index_name = names
        t = len(group)
        fds = np.array([r.fd for r in group], dtype=np.int64)
        headers = np.array([r.header for r in group], dtype=np.int64)
        sizes = np.array([r.keys for r in group], dtype=np.int64)
        cursors = np.zeros(t, dtype=np.int64)
        bufs = np.empty((t, max(64, self._buffer_rows // t), 3), dtype=np.uint64)
        buf_first = np.zeros(t, dtype=np.int64)
        buf_len = np.zeros(t, dtype=np.int64)
        out = np.empty((self._buffer_rows, 3), dtype=np.uint64)

        def chunks() -> Iterator[np.ndarray]:
            base = 0
            while True:
                m = merge_step(
                    fds, headers, sizes, cursors, bufs, buf_first, buf_len,
                    out, bloom, k, fences, every, base,
                )  # fmt: skip
                if m < 0:
                    raise ChainsleuthError(f"cannot read runs of {self.directory}")
                if m == 0:
                    return
                base += m
                yield out[:m]

        sha = _write_npy(self.directory / name, (n, 3), chunks(), sync=False)
        return self._new_run(name, index_name, sha, n, level, every, bloom, k, fences)

    # -- persistence ----------------------------------------------------------------------------

    def _make_state(self, generation: int | None, hot: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "count": self.count,
            "generation": generation,
            "hot": hot,
            "runs": [copy.deepcopy(r.entry) for r in self._runs],
            "next_run": self._seq,
            "params": {
                "memory_bytes": self.memory_bytes,
                "hot_slots": self.slots,
                "max_load": MAX_LOAD,
                "bloom_bits_per_key": BLOOM_BITS_PER_KEY,
                "merge_ratio": MERGE_RATIO,
            },
        }

    def checkpoint(self, generation: int) -> dict[str, str]:
        """Save the current state; returns ``{file name: sha256}`` of every file it needs.

        The hot table is written as ``hot-<generation>.npy`` (24 B per hot key, sorted by
        key); runs already
        are on disk and were hashed when written. Files of earlier checkpoints are left alone:
        delete them with :meth:`remove_unreferenced` once the caller has recorded
        :meth:`state`. ``generation`` must grow from checkpoint to checkpoint.
        """
        if generation < 0:
            raise ValueError(f"generation must be >= 0: {generation}")
        self._finish_merges()
        name = f"hot-{generation:06d}.npy"
        # sorted by key, not in slot order: the file is the same whatever the table's size
        # (ingest sizes it from the blocks still to read) and whatever order keys came in; the
        # table is then filled again from the file (in key order: walked forwards)
        n = hot_drain(self._table)
        sha = _write_npy(self.directory / name, (n, 3), [self._table[:n]] if n else [], sync=True)
        self._table.fill(0)
        self._hot_n = 0
        for rows in _read_chunks(self.directory / name, n, self._buffer_rows):
            _, self._hot_n = hot_insert(self._table, rows, 0, self.hot_limit, self._hot_n)
        for run in self._runs:
            run.sync(self.directory)
        _fsync_dir(self.directory)
        hot = {
            "file": name,
            "keys": self._hot_n,
            "bytes": (self.directory / name).stat().st_size,
            "sha256": sha,
        }
        self._state = self._make_state(generation, hot)
        return {name: sha for name, (sha, _) in _state_files(self._state).items()}

    def state(self) -> dict[str, Any]:
        """The state written by the last :meth:`checkpoint` (JSON-able), for the manifest."""
        return copy.deepcopy(self._state)

    def remove_unreferenced(self, keep: dict[str, Any]) -> list[str]:
        """Delete this dictionary's files that neither ``keep`` nor the live object needs.

        Only names this class writes are considered (``run-*.npy``, ``hot-*.npy``, their
        ``.tmp``); returns the deleted names, sorted.
        """
        self._finish_merges()  # a merge in flight writes a file no state names yet
        needed = set(_state_files(keep)) | set(_state_files(self._state))
        for run in self._runs:
            needed |= set(run.files())
        removed = []
        for path in self.directory.iterdir():
            if _OWN_NAME.match(path.name) and path.name not in needed and path.is_file():
                path.unlink()
                removed.append(path.name)
        return sorted(removed)

    # -- introspection --------------------------------------------------------------------------

    @property
    def hot_count(self) -> int:
        """Keys in the hot table."""
        return self._hot_n

    @property
    def run_sizes(self) -> list[int]:
        """Keys in each run, oldest first (once the merges in flight are done)."""
        self._finish_merges()
        return [r.keys for r in self._runs]

    @property
    def nbytes(self) -> int:
        """RAM held by the structures: hot table, Bloom filters and fences."""
        return int(self._table.nbytes + sum(r.index_nbytes for r in self._runs))
