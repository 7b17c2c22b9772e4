"""Double SHA-256 of many messages at once, in numba: txids, wtxids, merkle roots, checksums.

hashlib costs ~1.5 µs per hash object and digest here, whatever the length: four of them per
transaction (txid) plus two per merkle node is more than the rest of the ingest's per-transaction
work. These kernels hash up to :data:`LANES` messages side by side: every step of the compression
function is a loop over the lanes, which LLVM turns into 8-wide AVX2 integer code. Messages are
sorted by their number of 64-byte blocks so that the lanes of a group finish together. Digests
come back as (n, 8) big-endian uint32 words; :func:`words_to_bytes` gives the raw (wire-order)
digests hashlib would return.

Scratch per call: 32 uint32 words per lane (128 bytes x 256 lanes = 32 KiB) plus a sort key and
a block count per message (16 bytes each). The compression function, its constants and the
second hash are the scale chain generator's (:mod:`chainsleuth.simulate.scalechain_sha256`, one
kernel for both); this module adds messages made of up to three pieces (a SegWit transaction's
txid skips its marker, flag and witnesses without a copy), merkle roots of many blocks in one
call with Core's mutation flag, and checksums.

>>> import hashlib
>>> msgs = [b"", b"abc", bytes(range(200))]
>>> buf = np.frombuffer(b"".join(msgs), np.uint8)
>>> lens = np.array([len(m) for m in msgs], np.int64)
>>> out = words_to_bytes(sha256d_many(buf, np.cumsum(lens) - lens, lens))
>>> [bytes(d) for d in out] == [hashlib.sha256(hashlib.sha256(m).digest()).digest() for m in msgs]
True
"""

from __future__ import annotations

import numpy as np
from numba import njit

from chainsleuth.ingest import sha256native
from chainsleuth.simulate.scalechain_kernels import KERNEL
from chainsleuth.simulate.scalechain_sha256 import (
    _H0,
    _PAD64_KW,
    LANES,
    _compress,
    _compress_fixed,
    _second_hash,
)
from chainsleuth.simulate.scalechain_sha256 import sha256d_many as _sha256d_into

__all__ = [
    "LANES",
    "bytes_to_words",
    "merkle_roots",
    "sha256d_many",
    "sha256d_pieces",
    "sha256d_pieces_lanes",
    "words_to_bytes",
]


@njit(**KERNEL, inline="always")
def _load_block(buf, pieces, i, length, k, w, lane):  # type: ignore[no-untyped-def]
    """Message block ``k`` of message ``i`` (total ``length``) with SHA-256 padding into lane.

    A full block inside one piece is read as words; otherwise the bytes of each piece that
    overlap the block are or-ed into place (a SegWit txid's blocks straddle its pieces).
    """
    base = 64 * k
    stop = min(length, base + 64)
    pos = 0  # offset in the message of the current piece
    for p in range(3):
        ln = pieces[i, 2 * p + 1]
        if base >= pos and base + 64 <= pos + ln:  # the whole block lies in this piece
            q0 = pieces[i, 2 * p] + base - pos
            for j in range(16):
                q = q0 + 4 * j
                w[j, lane] = (
                    (np.uint32(buf[q]) << np.uint32(24))
                    | (np.uint32(buf[q + 1]) << np.uint32(16))
                    | (np.uint32(buf[q + 2]) << np.uint32(8))
                    | np.uint32(buf[q + 3])
                )
            return
        pos += ln
    for j in range(16):
        w[j, lane] = np.uint32(0)
    pos = 0
    for p in range(3):
        ln = pieces[i, 2 * p + 1]
        lo = max(base, pos)
        hi = min(stop, pos + ln)
        src = pieces[i, 2 * p] - pos
        for m in range(lo, hi):
            r = m - base
            w[r >> 2, lane] |= np.uint32(buf[src + m]) << np.uint32(24 - 8 * (r & 3))
        pos += ln
    if base <= length < base + 64:
        r = length - base
        w[r >> 2, lane] |= np.uint32(0x80) << np.uint32(24 - 8 * (r & 3))
    if (length + 8) // 64 == k:  # the last block carries the bit length
        bits = np.uint64(length) * np.uint64(8)
        w[14, lane] = np.uint32(bits >> np.uint64(32))
        w[15, lane] = np.uint32(bits & np.uint64(0xFFFFFFFF))


@njit(**KERNEL)
def _hash_groups(buf, pieces, lens, out, blocks, order, st, w, v):  # type: ignore[no-untyped-def]
    n_msg = lens.shape[0]
    for first in range(0, n_msg, LANES):
        n = min(LANES, n_msg - first)
        for lane in range(n):
            for j in range(8):
                st[j, lane] = _H0[j]
        for k in range(blocks[order[first]]):
            active = n
            while blocks[order[first + active - 1]] <= k:
                active -= 1
            for lane in range(active):
                i = order[first + lane]
                _load_block(buf, pieces, i, lens[i], k, w, lane)
            _compress(st, w, v, active)
        _second_hash(st, w, v, n, out, order, first)


def sha256d_pieces(buf: np.ndarray, pieces: np.ndarray) -> np.ndarray:
    """Double SHA-256 of messages made of three pieces of ``buf``, as (n, 8) big-endian words.

    ``pieces`` is (n, 6) int64: ``start0, len0, start1, len1, start2, len2`` per message (unused
    pieces have length 0). Through libcrypto where it is there
    (:mod:`~chainsleuth.ingest.sha256native`), else the lanes (:func:`sha256d_pieces_lanes`).
    """
    fns = sha256native.FUNCTIONS
    if fns is not None:
        return sha256native.sha256d_pieces(fns, buf, pieces)
    return sha256d_pieces_lanes(buf, pieces)


@njit(cache=True, nogil=True)
def sha256d_pieces_lanes(buf, pieces):  # type: ignore[no-untyped-def]
    """:func:`sha256d_pieces` in the lanes. Scratch: 16 bytes per message plus 32 KiB."""
    n = pieces.shape[0]
    lens = np.empty(n, np.int64)
    for i in range(n):
        lens[i] = pieces[i, 1] + pieces[i, 3] + pieces[i, 5]
    blocks = (lens + 8) // 64 + 1
    order = np.argsort(-blocks, kind="mergesort")  # most blocks first: active lanes are a prefix
    out = np.empty((n, 8), np.uint32)
    st = np.empty((8, LANES), np.uint32)
    w = np.empty((16, LANES), np.uint32)
    v = np.empty((8, LANES), np.uint32)
    _hash_groups(buf, pieces, lens, out, blocks, order, st, w, v)
    return out


def sha256d_many(buf: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Double SHA-256 of ``buf[starts[i]:starts[i]+lens[i]]`` as (n, 8) big-endian words
    (libcrypto, else the scale chain generator's lanes)."""
    if sha256native.FUNCTIONS is not None:
        pieces = np.zeros((starts.shape[0], 6), np.int64)
        pieces[:, 0] = starts
        pieces[:, 1] = lens
        return sha256native.sha256d_pieces(sha256native.FUNCTIONS, buf, pieces)
    out = np.empty((starts.shape[0], 8), np.uint32)
    _sha256d_into(buf, np.asarray(starts, np.int64), np.asarray(lens, np.int64), out)
    return out


@njit(**KERNEL)
def _hash_pairs(level, left, right, nxt, st, w, v, rows):  # type: ignore[no-untyped-def]
    """``nxt[p]`` = SHA-256d(level[left[p]] ‖ level[right[p]]) (64-byte messages)."""
    m = left.shape[0]
    for first in range(0, m, LANES):
        cnt = min(LANES, m - first)
        for lane in range(cnt):
            a = left[first + lane]
            b = right[first + lane]
            for j in range(8):
                w[j, lane] = level[a, j]
                w[8 + j, lane] = level[b, j]
                st[j, lane] = _H0[j]
        _compress(st, w, v, cnt)
        _compress_fixed(st, _PAD64_KW, v, cnt)  # the padding block of a 64-byte message
        _second_hash(st, w, v, cnt, nxt, rows, first)


@njit(cache=True, nogil=True)
def merkle_roots(leaves, first, count):  # type: ignore[no-untyped-def]
    """Merkle roots of many trees at once and Core's mutation flag of each (CVE-2012-2459).

    ``leaves`` is (n, 8) big-endian words; tree ``b`` is ``leaves[first[b]:first[b]+count[b]]``.
    As :func:`chainsleuth.chain.hashes.merkle_root_mutated`: an odd level pairs its last hash
    with itself; a tree is mutated when two identical hashes are paired at any level (the
    self-pairing aside); an empty tree gives zeros. Returns ((B, 8) words, (B,) bool). All
    trees advance one level per round, so small blocks share the lanes (faster here than
    libcrypto one pair at a time: 0.31 against 0.41 s for 2 M leaves).
    """
    nb = first.shape[0]
    roots = np.zeros((nb, 8), np.uint32)
    mutated = np.zeros(nb, np.bool_)
    cnt = count.astype(np.int64)
    off = first.astype(np.int64)
    st = np.empty((8, LANES), np.uint32)
    w = np.empty((16, LANES), np.uint32)
    v = np.empty((8, LANES), np.uint32)
    level = leaves
    while True:
        total = 0
        for b in range(nb):
            if cnt[b] == 1:
                for j in range(8):
                    roots[b, j] = level[off[b], j]
                cnt[b] = 0
            elif cnt[b] > 1:
                total += (cnt[b] + 1) // 2
        if total == 0:
            return roots, mutated
        left = np.empty(total, np.int64)
        right = np.empty(total, np.int64)
        p = 0
        for b in range(nb):
            c = cnt[b]
            if c < 2:
                continue
            o = off[b]
            off[b] = p
            for i in range((c + 1) // 2):
                a = o + 2 * i
                z = a + 1 if 2 * i + 1 < c else a
                if z != a and not mutated[b]:
                    same = True
                    for j in range(8):
                        if level[a, j] != level[z, j]:
                            same = False
                            break
                    mutated[b] = same
                left[p] = a
                right[p] = z
                p += 1
            cnt[b] = (c + 1) // 2
        nxt = np.empty((total, 8), np.uint32)
        _hash_pairs(level, left, right, nxt, st, w, v, np.arange(total))
        level = nxt


def words_to_bytes(words: np.ndarray) -> np.ndarray:
    """(n, 8) big-endian uint32 digests as (n, 32) uint8 raw digests (hashlib's byte order).

    >>> words_to_bytes(np.array([[0x01020304] + [0] * 7], np.uint32))[0, :4].tolist()
    [1, 2, 3, 4]
    """
    return np.ascontiguousarray(words, dtype=">u4").view(np.uint8).reshape(-1, 32)


def bytes_to_words(digests: np.ndarray) -> np.ndarray:
    """(n, 32) uint8 raw digests as (n, 8) native uint32 words, the kernels' layout.

    >>> int(bytes_to_words(np.arange(32, dtype=np.uint8).reshape(1, 32))[0, 0]) == 0x00010203
    True
    """
    return np.ascontiguousarray(digests, dtype=np.uint8).view(">u4").astype(np.uint32)
