"""Plain-Python twins of the numba kernels of :mod:`chainsleuth.store.addrdict`.

Same names, signatures and in-place effects, written with Python integers and the obvious
loops (``sorted`` where the kernel sorts in place): tests feed both the same inputs. The one
documented difference: :func:`hot_drain` leaves the slots from ``n`` on unspecified in both.

>>> import numpy as np
>>> table = np.zeros((8, 3), np.uint64)
>>> hot_insert(table, np.array([[5 << 32, 1, 0], [1 << 32, 2, 1]], np.uint64), 0, 5, 0)
(2, 2)
>>> n = hot_drain(table)
>>> table[:n].tolist()
[[4294967296, 2, 1], [21474836480, 1, 0]]
"""

from __future__ import annotations

import os
import struct

import numpy as np

__all__ = [
    "bloom_fill",
    "hot_drain",
    "hot_gather",
    "hot_insert",
    "hot_probe",
    "key_order",
    "merge_step",
    "resolve",
    "runs_lookup",
]


def _home(k0: int, cap: int) -> int:
    return ((k0 >> 32) * cap) >> 32


def _bloom_bits(bloom: np.ndarray, nk: int, k0: int, k1: int) -> list[tuple[int, int]]:
    """(word, bit) of each of the key's ``nk`` bits."""
    blocks = bloom.shape[0] // 8
    base = (((k0 >> 32) * blocks) >> 32) * 8
    h = k1
    out = []
    for j in range(nk):
        bit = (h >> (9 * j)) & 511
        out.append((base + (bit >> 6), bit & 63))
    return out


def _bloom_maybe(bloom: np.ndarray, nk: int, k0: int, k1: int) -> bool:
    if bloom.shape[0] < 8:
        return True
    return all((int(bloom[w]) >> b) & 1 for w, b in _bloom_bits(bloom, nk, k0, k1))


def hot_probe(
    table: np.ndarray, k0: np.ndarray, k1: np.ndarray, want: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Twin of :func:`chainsleuth.store.addrdict.hot_probe`."""
    cap = table.shape[0]
    n = k0.shape[0]
    ids = [-1] * n
    miss_of = [-1] * n
    first: dict[tuple[int, int], int] = {}
    uniq: list[int] = []
    for i in range(n):
        if not want[i]:
            continue
        key = (int(k0[i]), int(k1[i]))
        s = _home(key[0], cap)
        while int(table[s, 2]) != 0:
            if (int(table[s, 0]), int(table[s, 1])) == key:
                ids[i] = int(table[s, 2]) - 1
                break
            s = (s + 1) % cap
        else:
            if key not in first:
                first[key] = len(uniq)
                uniq.append(i)
            miss_of[i] = first[key]
    return (
        np.array(ids, dtype=np.int64),
        np.array(miss_of, dtype=np.int64),
        np.array(uniq, dtype=np.int64),
    )


def _row(fd: int, header: int, r: int) -> tuple[int, int, int]:
    a, b, c = struct.unpack("<3Q", os.pread(fd, 24, header + 24 * r))
    return a, b, c


def key_order(k0: np.ndarray) -> np.ndarray:
    """Twin of :func:`chainsleuth.store.addrdict.key_order` (a stable sort on the same bits)."""
    n = k0.shape[0]
    bits = 1
    while bits < 16 and 1 << (bits + 1) <= n:
        bits += 1
    high = [int(k) >> (64 - bits) for k in k0]
    return np.array(sorted(range(n), key=lambda i: high[i]), dtype=np.int64)


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
    """Twin of :func:`chainsleuth.store.addrdict.runs_lookup` (row-by-row binary search over the
    whole file instead of fences and block reads)."""
    probes = 0
    for i in range(q0.shape[0]):
        key = (int(q0[i]), int(q1[i]))
        if found[i] == -1 and _bloom_maybe(bloom, nk, *key):
            probes += 1
            lo, hi = 0, n
            while lo < hi:
                mid = (lo + hi) // 2
                if _row(fd, header, mid)[:2] < key:
                    lo = mid + 1
                else:
                    hi = mid
            row = _row(fd, header, lo) if lo < n else None
            found[i] = row[2] if row is not None and row[:2] == key else -1
    return probes


def resolve(
    ids: np.ndarray,
    miss_of: np.ndarray,
    uniq: np.ndarray,
    found: np.ndarray,
    q0: np.ndarray,
    q1: np.ndarray,
    count: int,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Twin of :func:`chainsleuth.store.addrdict.resolve`."""
    fresh = [int(f) == -1 for f in found]
    rows = []
    for u, is_fresh in enumerate(fresh):
        if is_fresh:
            found[u] = count
            rows.append([int(q0[u]), int(q1[u]), count])
            count += 1
    new = np.zeros(ids.shape[0], dtype=np.bool_)
    for i in range(ids.shape[0]):
        u = int(miss_of[i])
        if u >= 0:
            ids[i] = found[u]
            new[i] = fresh[u] and int(uniq[u]) == i
    return new, np.array(rows, dtype=np.uint64).reshape(-1, 3), count


def hot_insert(
    table: np.ndarray, rows: np.ndarray, start: int, limit: int, filled: int
) -> tuple[int, int]:
    """Twin of :func:`chainsleuth.store.addrdict.hot_insert`."""
    cap = table.shape[0]
    i = start
    while i < rows.shape[0] and filled < limit:
        s = _home(int(rows[i, 0]), cap)
        while int(table[s, 2]) != 0:
            s = (s + 1) % cap
        table[s] = [int(rows[i, 0]), int(rows[i, 1]), int(rows[i, 2]) + 1]
        filled += 1
        i += 1
    return i, filled


def hot_drain(table: np.ndarray) -> int:
    """Twin of :func:`chainsleuth.store.addrdict.hot_drain` (rows from ``n`` on unspecified)."""
    live = sorted((int(a), int(b), int(c) - 1) for a, b, c in table.tolist() if int(c) != 0)
    for r, row in enumerate(live):
        table[r] = row
    return len(live)


def hot_gather(table: np.ndarray, start: int, out: np.ndarray) -> tuple[int, int]:
    """Twin of :func:`chainsleuth.store.addrdict.hot_gather`."""
    m = 0
    s = start
    while s < table.shape[0] and m < out.shape[0]:
        if int(table[s, 2]) != 0:
            out[m] = [int(table[s, 0]), int(table[s, 1]), int(table[s, 2]) - 1]
            m += 1
        s += 1
    return s, m


def bloom_fill(bloom: np.ndarray, nk: int, rows: np.ndarray) -> None:
    """Twin of :func:`chainsleuth.store.addrdict.bloom_fill`."""
    if bloom.shape[0] < 8:
        return
    for a, b, _ in rows.tolist():
        for w, bit in _bloom_bits(bloom, nk, int(a), int(b)):
            bloom[w] = int(bloom[w]) | (1 << bit)


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
    """Twin of :func:`chainsleuth.store.addrdict.merge_step` (reads each head row from its file;
    ``bufs``, ``buf_first`` and ``buf_len`` are left alone)."""
    m = 0
    while m < out.shape[0]:
        heads = [
            (_row(int(fds[t]), int(headers[t]), int(cursors[t])), t)
            for t in range(fds.shape[0])
            if cursors[t] < sizes[t]
        ]
        if not heads:
            break
        (a, b, c), t = min(heads)
        out[m] = [a, b, c]
        cursors[t] += 1
        bloom_fill(bloom, nk, out[m : m + 1])
        if (out_base + m) % every == 0:
            fences[(out_base + m) // every] = a
        m += 1
    return m
