"""Double SHA-256 of many messages at once: txids and merkle trees for the scale chain generator.

hashlib costs ~3 µs per double SHA-256 here (two objects, whatever the length), more than the
whole budget of a transaction at 200k tx/s. These kernels hash up to :data:`LANES` messages
side by side: every step of the compression function is a loop over the lanes, which LLVM turns
into 8-wide AVX2 integer code (~150 ns per 64-byte block and message on a 2 GHz core, against
~400 ns for one message at a time). Messages are sorted by their number of blocks so the lanes
of a group finish together. Digests are raw (wire order), as :func:`hashlib.sha256` gives them.

Scratch per call: 32 uint32 words per lane (128 bytes x 256 lanes = 32 KiB) plus an int64 sort
key and block count per message (16 bytes each). The loops run without numba's reference
counting (:data:`~chainsleuth.simulate.scalechain_kernels.KERNEL`).

>>> import hashlib, numpy as np
>>> msgs = [b"", b"abc", bytes(range(200))]
>>> buf = np.frombuffer(b"".join(msgs), np.uint8)
>>> lens = np.array([len(m) for m in msgs], np.int64)
>>> out = np.zeros((3, 8), np.uint32)
>>> sha256d_many(buf, np.cumsum(lens) - lens, lens, out)
>>> all(out[i].astype(">u4").tobytes() == hashlib.sha256(hashlib.sha256(m).digest()).digest()
...     for i, m in enumerate(msgs))
True
"""

from __future__ import annotations

import numpy as np
from numba import njit

from chainsleuth.simulate.scalechain_kernels import KERNEL

__all__ = ["LANES", "merkle_root_words", "sha256d_many"]

LANES = 256
"""Messages hashed side by side in one group."""

_K = np.array(
    [
        0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4,
        0xAB1C5ED5, 0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE,
        0x9BDC06A7, 0xC19BF174, 0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F,
        0x4A7484AA, 0x5CB0A9DC, 0x76F988DA, 0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7,
        0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967, 0x27B70A85, 0x2E1B2138, 0x4D2C6DFC,
        0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85, 0xA2BFE8A1, 0xA81A664B,
        0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070, 0x19A4C116,
        0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
        0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7,
        0xC67178F2,
    ],
    dtype=np.uint32,
)  # fmt: skip
_H0 = np.array(
    [
        0x6A09E667,
        0xBB67AE85,
        0x3C6EF372,
        0xA54FF53A,
        0x510E527F,
        0x9B05688C,
        0x1F83D9AB,
        0x5BE0CD19,
    ],
    dtype=np.uint32,
)


@njit(**KERNEL, inline="always")
def _rotr(x, n):  # type: ignore[no-untyped-def]
    return (x >> np.uint32(n)) | (x << np.uint32(32 - n))


@njit(**KERNEL)
def _compress(st, w, v, n):  # type: ignore[no-untyped-def]
    """One SHA-256 block for lanes ``0..n``: ``st`` (8 x LANES) += rounds over ``w`` (16 x LANES).

    ``w`` is used as the rolling message schedule (clobbered); ``v`` (8 x LANES) is scratch
    holding a..h, renamed by index each round instead of moved.
    """
    for i in range(8):
        for lane in range(n):
            v[i, lane] = st[i, lane]
    for t in range(64):
        k = _K[t]
        j = t & 15
        if t >= 16:
            j15 = (t - 15) & 15
            j2 = (t - 2) & 15
            j7 = (t - 7) & 15
            for lane in range(n):
                x = w[j15, lane]
                y = w[j2, lane]
                s0 = _rotr(x, 7) ^ _rotr(x, 18) ^ (x >> np.uint32(3))
                s1 = _rotr(y, 17) ^ _rotr(y, 19) ^ (y >> np.uint32(10))
                w[j, lane] = np.uint32(w[j, lane] + np.uint32(s0) + w[j7, lane] + np.uint32(s1))
        ia = (8 - t) & 7
        ib = (9 - t) & 7
        ic = (10 - t) & 7
        i_d = (11 - t) & 7
        ie = (12 - t) & 7
        i_f = (13 - t) & 7
        ig = (14 - t) & 7
        ih = (15 - t) & 7
        for lane in range(n):
            a = v[ia, lane]
            b = v[ib, lane]
            c = v[ic, lane]
            e = v[ie, lane]
            s1 = _rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)
            ch = (e & v[i_f, lane]) ^ (~e & v[ig, lane])
            t1 = np.uint32(v[ih, lane] + np.uint32(s1) + np.uint32(ch) + k + w[j, lane])
            s0 = _rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)
            maj = (a & b) ^ (c & (a ^ b))
            v[i_d, lane] = np.uint32(v[i_d, lane] + t1)
            v[ih, lane] = np.uint32(t1 + np.uint32(s0) + np.uint32(maj))
    for i in range(8):
        for lane in range(n):
            st[i, lane] = np.uint32(st[i, lane] + v[i, lane])


@njit(**KERNEL, inline="always")
def _load_block(buf, start, length, k, w, lane):  # type: ignore[no-untyped-def]
    """Message block ``k`` of ``buf[start:start+length]`` with SHA-256 padding into lane."""
    base = 64 * k
    if base + 64 <= length:
        p = start + base
        for j in range(16):
            q = p + 4 * j
            w[j, lane] = (
                (np.uint32(buf[q]) << np.uint32(24))
                | (np.uint32(buf[q + 1]) << np.uint32(16))
                | (np.uint32(buf[q + 2]) << np.uint32(8))
                | np.uint32(buf[q + 3])
            )
        return
    for j in range(16):
        w[j, lane] = np.uint32(0)
    for pos in range(base, min(length, base + 64)):
        r = pos - base
        w[r >> 2, lane] |= np.uint32(buf[start + pos]) << np.uint32(24 - 8 * (r & 3))
    if base <= length < base + 64:
        r = length - base
        w[r >> 2, lane] |= np.uint32(0x80) << np.uint32(24 - 8 * (r & 3))
    if (length + 8) // 64 == k:  # the last block carries the bit length
        bits = np.uint64(length) * np.uint64(8)
        w[14, lane] = np.uint32(bits >> np.uint64(32))
        w[15, lane] = np.uint32(bits & np.uint64(0xFFFFFFFF))


@njit(**KERNEL)
def _compress_fixed(st, kw, v, n):  # type: ignore[no-untyped-def]
    """:func:`_compress` for a block known in advance: ``kw`` holds K[t] + W[t] for all rounds."""
    for i in range(8):
        for lane in range(n):
            v[i, lane] = st[i, lane]
    for t in range(64):
        k = kw[t]
        ia = (8 - t) & 7
        ib = (9 - t) & 7
        ic = (10 - t) & 7
        i_d = (11 - t) & 7
        ie = (12 - t) & 7
        i_f = (13 - t) & 7
        ig = (14 - t) & 7
        ih = (15 - t) & 7
        for lane in range(n):
            a = v[ia, lane]
            b = v[ib, lane]
            c = v[ic, lane]
            e = v[ie, lane]
            s1 = _rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)
            ch = (e & v[i_f, lane]) ^ (~e & v[ig, lane])
            t1 = np.uint32(v[ih, lane] + np.uint32(s1) + np.uint32(ch) + k)
            s0 = _rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)
            maj = (a & b) ^ (c & (a ^ b))
            v[i_d, lane] = np.uint32(v[i_d, lane] + t1)
            v[ih, lane] = np.uint32(t1 + np.uint32(s0) + np.uint32(maj))
    for i in range(8):
        for lane in range(n):
            st[i, lane] = np.uint32(st[i, lane] + v[i, lane])


def _fixed_schedule(words: list[int]) -> np.ndarray:
    """K[t] + W[t] for the 16-word block ``words`` (a constant padding block)."""
    w = list(words)
    mask = 0xFFFFFFFF

    def rotr(x: int, n: int) -> int:
        return ((x >> n) | (x << (32 - n))) & mask

    for t in range(16, 64):
        s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
        s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
        w.append((w[t - 16] + s0 + w[t - 7] + s1) & mask)
    return np.array([(int(k) + x) & mask for k, x in zip(_K, w, strict=True)], dtype=np.uint32)


_PAD64_KW = _fixed_schedule([0x80000000] + [0] * 14 + [512])
"""The second block of a 64-byte message (a merkle node's two child hashes)."""


@njit(**KERNEL)
def _second_hash(st, w, v, n, out, rows, first):  # type: ignore[no-untyped-def]
    """SHA-256 of the 32-byte digests in lanes ``0..n``; big-endian words into
    ``out[rows[first + lane]]``."""
    for lane in range(n):
        for j in range(8):
            w[j, lane] = st[j, lane]
            st[j, lane] = _H0[j]
        w[8, lane] = np.uint32(0x80000000)
        for j in range(9, 15):
            w[j, lane] = np.uint32(0)
        w[15, lane] = np.uint32(256)
    _compress(st, w, v, n)
    for lane in range(n):
        for j in range(8):
            out[rows[first + lane], j] = st[j, lane]


@njit(**KERNEL)
def _hash_groups(buf, starts, lens, out, blocks, order, st, w, v):  # type: ignore[no-untyped-def]
    """The work of :func:`sha256d_many`, group by group of LANES messages."""
    n_msg = starts.shape[0]
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
                _load_block(buf, starts[i], lens[i], k, w, lane)
            _compress(st, w, v, active)
        _second_hash(st, w, v, n, out, order, first)


@njit(cache=True)
def sha256d_many(buf, starts, lens, out):  # type: ignore[no-untyped-def]
    """``out[i]`` = sha256(sha256(buf[starts[i]:starts[i]+lens[i]])) as 8 big-endian uint32.

    ``out`` is (n, 8) uint32; ``out.astype(">u4").tobytes()`` is the digests in wire order.
    """
    blocks = (lens + 8) // 64 + 1
    order = np.argsort(-blocks, kind="mergesort")  # most blocks first: active lanes are a prefix
    st = np.empty((8, LANES), np.uint32)
    w = np.empty((16, LANES), np.uint32)
    v = np.empty((8, LANES), np.uint32)
    _hash_groups(buf, starts, lens, out, blocks, order, st, w, v)


@njit(**KERNEL)
def _merkle_level(level, n, nxt, st, w, v, rows):  # type: ignore[no-untyped-def]
    """Parents of the ``n`` hashes of ``level`` into ``nxt`` (the last one paired with itself)."""
    m = (n + 1) // 2
    for first in range(0, m, LANES):
        cnt = min(LANES, m - first)
        for lane in range(cnt):
            left = 2 * (first + lane)
            right = min(left + 1, n - 1)
            for j in range(8):
                w[j, lane] = level[left, j]
                w[8 + j, lane] = level[right, j]
                st[j, lane] = _H0[j]
        _compress(st, w, v, cnt)
        _compress_fixed(st, _PAD64_KW, v, cnt)
        _second_hash(st, w, v, cnt, nxt, rows, first)


@njit(cache=True)
def merkle_root_words(leaves):  # type: ignore[no-untyped-def]
    """Bitcoin's merkle root of (n, 8) big-endian-word hashes (n >= 1), as 8 uint32.

    An odd level pairs its last hash with itself, as Core does.
    """
    level = leaves
    n = level.shape[0]
    st = np.empty((8, LANES), np.uint32)
    w = np.empty((16, LANES), np.uint32)
    v = np.empty((8, LANES), np.uint32)
    rows = np.arange(n)
    while n > 1:
        nxt = np.empty(((n + 1) // 2, 8), np.uint32)
        _merkle_level(level, n, nxt, st, w, v, rows)
        level = nxt
        n = nxt.shape[0]
    return level[0].copy()
