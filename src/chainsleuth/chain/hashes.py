"""Bitcoin's hash functions and merkle trees.

Digests returned here are raw (wire byte order); reverse them for display.

>>> sha256d(b"")[::-1].hex()[:16]
'56944c5d3f98413e'
>>> hash160(b"").hex()
'b472a266d0bd89c13706a4132ccfb16f7c3b9fcb'
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Sequence

__all__ = [
    "has_mutated_merkle",
    "hash160",
    "merkle_root",
    "merkle_root_mutated",
    "sha256",
    "sha256d",
]

_sha256 = hashlib.sha256


def sha256(data: bytes) -> bytes:
    """Single SHA-256 digest.

    >>> sha256(b"abc").hex()[:16]
    'ba7816bf8f01cfea'
    """
    return _sha256(data).digest()


def sha256d(data: bytes) -> bytes:
    """Double SHA-256 (Bitcoin's ``Hash``), raw digest in wire order.

    >>> sha256d(b"hello").hex()[:16]
    '9595c9df90075148'
    """
    return _sha256(_sha256(data).digest()).digest()


def hash160(data: bytes) -> bytes:
    """RIPEMD-160 of SHA-256, as used for P2PKH and P2WPKH key hashes.

    >>> hash160(bytes.fromhex(
    ...     "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")).hex()
    '751e76e8199196d454941c45d1b3a323f1433bd6'
    """
    inner = _sha256(data).digest()
    try:
        return hashlib.new("ripemd160", inner).digest()
    except ValueError:  # OpenSSL builds without the legacy provider
        return _ripemd160(inner)


def merkle_root_mutated(hashes_wire_order: Sequence[bytes]) -> tuple[bytes, bool]:
    """Merkle root of wire-order hashes and whether the tree is mutated (CVE-2012-2459).

    As Bitcoin Core's ``ComputeMerkleRoot(leaves, &mutated)``: an odd level pairs its last hash
    with itself; ``mutated`` is True when two identical hashes are paired at any level (the
    odd-level self-pairing aside). Such a list has the same root as a shorter, valid list, and
    Core rejects its block (``bad-txns-duplicate``). An empty list gives 32 zero bytes.

    >>> a, b, c = sha256d(b"a"), sha256d(b"b"), sha256d(b"c")
    >>> merkle_root_mutated([a, b, c]) == (merkle_root_mutated([a, b, c, c])[0], False)
    True
    >>> merkle_root_mutated([a, b, c, c])[1], merkle_root_mutated([a, a])[1]
    (True, True)
    """
    if not hashes_wire_order:
        return bytes(32), False
    sha = _sha256
    level = list(hashes_wire_order)
    mutated = False
    while len(level) > 1:
        left, right = level[0::2], level[1::2]
        if not mutated:
            mutated = any(map(operator.eq, left, right))
        if len(left) > len(right):
            right.append(left[-1])
        level = [sha(sha(x + y).digest()).digest() for x, y in zip(left, right, strict=True)]
    return level[0], mutated


def merkle_root(hashes_wire_order: Sequence[bytes]) -> bytes:
    """Merkle root of wire-order hashes, duplicating the last hash of an odd level.

    An empty list gives 32 zero bytes (as Bitcoin Core does). See :func:`merkle_root_mutated`.

    >>> a, b = sha256d(b"a"), sha256d(b"b")
    >>> merkle_root([a]) == a
    True
    >>> merkle_root([a, b]) == sha256d(a + b)
    True
    >>> merkle_root([a, b, a]) == sha256d(sha256d(a + b) + sha256d(a + a))
    True
    """
    return merkle_root_mutated(hashes_wire_order)[0]


def has_mutated_merkle(hashes_wire_order: Sequence[bytes]) -> bool:
    """Whether the tree has two identical sibling hashes (CVE-2012-2459 mutation).

    Such a list yields the same root as a shorter, valid list, so a block built from it is
    rejected by Bitcoin Core. The odd-level duplicate of the last hash is not counted.

    >>> a, b = sha256d(b"a"), sha256d(b"b")
    >>> has_mutated_merkle([a, b, a])
    False
    >>> has_mutated_merkle([a, b, a, a])
    True
    """
    return merkle_root_mutated(hashes_wire_order)[1]


# --- pure-Python RIPEMD-160, used only when hashlib lacks it -------------------------------

_R_LEFT = (
    *range(16),
    7,
    4,
    13,
    1,
    10,
    6,
    15,
    3,
    12,
    0,
    9,
    5,
    2,
    14,
    11,
    8,
    3,
    10,
    14,
    4,
    9,
    15,
    8,
    1,
    2,
    7,
    0,
    6,
    13,
    11,
    5,
    12,
    1,
    9,
    11,
    10,
    0,
    8,
    12,
    4,
    13,
    3,
    7,
    15,
    14,
    5,
    6,
    2,
    4,
    0,
    5,
    9,
    7,
    12,
    2,
    10,
    14,
    1,
    3,
    8,
    11,
    6,
    15,
    13,
)
_R_RIGHT = (
    5,
    14,
    7,
    0,
    9,
    2,
    11,
    4,
    13,
    6,
    15,
    8,
    1,
    10,
    3,
    12,
    6,
    11,
    3,
    7,
    0,
    13,
    5,
    10,
    14,
    15,
    8,
    12,
    4,
    9,
    1,
    2,
    15,
    5,
    1,
    3,
    7,
    14,
    6,
    9,
    11,
    8,
    12,
    2,
    10,
    0,
    4,
    13,
    8,
    6,
    4,
    1,
    3,
    11,
    15,
    0,
    5,
    12,
    2,
    13,
    9,
    7,
    10,
    14,
    12,
    15,
    10,
    4,
    1,
    5,
    8,
    7,
    6,
    2,
    13,
    14,
    0,
    3,
    9,
    11,
)
_S_LEFT = (
    11,
    14,
    15,
    12,
    5,
    8,
    7,
    9,
    11,
    13,
    14,
    15,
    6,
    7,
    9,
    8,
    7,
    6,
    8,
    13,
    11,
    9,
    7,
    15,
    7,
    12,
    15,
    9,
    11,
    7,
    13,
    12,
    11,
    13,
    6,
    7,
    14,
    9,
    13,
    15,
    14,
    8,
    13,
    6,
    5,
    12,
    7,
    5,
    11,
    12,
    14,
    15,
    14,
    15,
    9,
    8,
    9,
    14,
    5,
    6,
    8,
    6,
    5,
    12,
    9,
    15,
    5,
    11,
    6,
    8,
    13,
    12,
    5,
    12,
    13,
    14,
    11,
    8,
    5,
    6,
)
_S_RIGHT = (
    8,
    9,
    9,
    11,
    13,
    15,
    15,
    5,
    7,
    7,
    8,
    11,
    14,
    14,
    12,
    6,
    9,
    13,
    15,
    7,
    12,
    8,
    9,
    11,
    7,
    7,
    12,
    7,
    6,
    15,
    13,
    11,
    9,
    7,
    15,
    11,
    8,
    6,
    6,
    14,
    12,
    13,
    5,
    14,
    13,
    13,
    7,
    5,
    15,
    5,
    8,
    11,
    14,
    14,
    6,
    14,
    6,
    9,
    12,
    9,
    12,
    5,
    15,
    8,
    8,
    5,
    12,
    9,
    12,
    5,
    14,
    6,
    8,
    13,
    6,
    5,
    15,
    13,
    11,
    11,
)
_K_LEFT = (0x00000000, 0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC, 0xA953FD4E)
_K_RIGHT = (0x50A28BE6, 0x5C4DD124, 0x6D703EF3, 0x7A6D76E9, 0x00000000)
_MASK = 0xFFFFFFFF


def _rmd_f(j: int, x: int, y: int, z: int) -> int:
    if j < 16:
        return x ^ y ^ z
    if j < 32:
        return (x & y) | (~x & z)
    if j < 48:
        return (x | ~y) ^ z
    if j < 64:
        return (x & z) | (y & ~z)
    return x ^ (y | ~z)


def _rotl(x: int, n: int) -> int:
    x &= _MASK
    return ((x << n) | (x >> (32 - n))) & _MASK


def _ripemd160(data: bytes) -> bytes:
    """RIPEMD-160 in plain Python (fallback for OpenSSL 3 without the legacy provider)."""
    state = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0]
    padded = data + b"\x80" + bytes((55 - len(data)) % 64) + (8 * len(data)).to_bytes(8, "little")
    for block_start in range(0, len(padded), 64):
        words = [
            int.from_bytes(padded[block_start + 4 * i : block_start + 4 * i + 4], "little")
            for i in range(16)
        ]
        al, bl, cl, dl, el = state
        ar, br, cr, dr, er = state
        for j in range(80):
            rnd = j >> 4
            t = _rotl(al + _rmd_f(j, bl, cl, dl) + words[_R_LEFT[j]] + _K_LEFT[rnd], _S_LEFT[j])
            al, bl, cl, dl, el = el, (t + el) & _MASK, bl, _rotl(cl, 10), dl
            t = _rotl(
                ar + _rmd_f(79 - j, br, cr, dr) + words[_R_RIGHT[j]] + _K_RIGHT[rnd], _S_RIGHT[j]
            )
            ar, br, cr, dr, er = er, (t + er) & _MASK, br, _rotl(cr, 10), dr
        t = (state[1] + cl + dr) & _MASK
        state[1] = (state[2] + dl + er) & _MASK
        state[2] = (state[3] + el + ar) & _MASK
        state[3] = (state[4] + al + br) & _MASK
        state[4] = (state[0] + bl + cr) & _MASK
        state[0] = t
    return b"".join(w.to_bytes(4, "little") for w in state)
