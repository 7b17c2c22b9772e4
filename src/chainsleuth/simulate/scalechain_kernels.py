"""Numba primitives of the scale chain generator: random numbers, bytes, scripts, inputs.

**Random numbers** come from a splitmix64 counter (one uint64 of state, advanced by a constant
and mixed), so a seed gives the same chain on any machine and numba version.

**Addresses** are int64 ids. An id fixes the script type (a wallet uses one type, drawn by a
hash of the wallet id in mainnet-like shares, :data:`TYPE_PER_MILLE`; :func:`fresh_id` gives
its fresh addresses ids of that type) and the hash or key bytes (splitmix64 of ``4 * id + j``;
the first word is a bijection of the id, so two ids never share a script and reusing an id
writes a byte-identical script).

>>> import numpy as np
>>> from chainsleuth.chain.script import classify_script
>>> buf = np.zeros(40, np.uint8)
>>> end = write_script(buf, 0, 1)  # length byte, then the scriptPubKey of address 1
>>> classify_script(bytes(buf[1:end])), int(buf[0]) == end - 1
('witness_v0_keyhash', True)
>>> rng = np.array([42], np.uint64)
>>> 0.0 <= uniform(rng) < 1.0
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

__all__ = [
    "DUST",
    "FRESH_BASE",
    "KERNEL",
    "P2PK",
    "P2PKH",
    "P2SH",
    "P2TR",
    "P2WPKH",
    "P2WSH",
    "TYPE_PER_MILLE",
    "below",
    "copy_row",
    "fresh_id",
    "mix64",
    "put_u32",
    "put_u64",
    "put_varint",
    "script_len",
    "script_type",
    "uniform",
    "wallet_type",
    "write_input",
    "write_script",
]

P2PKH, P2SH, P2WPKH, P2WSH, P2TR, P2PK = 0, 1, 2, 3, 4, 5
TYPE_PER_MILLE = np.array([250, 150, 430, 50, 115, 5], dtype=np.int64)
"""Shares of new addresses by type (P2PKH, P2SH, P2WPKH, P2WSH, P2TR, P2PK), per mille."""
_TYPE_CUT = np.cumsum(TYPE_PER_MILLE)
_TYPE_LO = _TYPE_CUT - TYPE_PER_MILLE
_SLOT_TYPE = np.repeat(np.arange(6, dtype=np.int64), TYPE_PER_MILLE)
FRESH_BASE = 81
"""Address and wallet ids below this are reserved (hot wallets and mining pools)."""
_SCRIPT_LEN = np.array([25, 23, 22, 34, 34, 35], dtype=np.int64)
_VOUT = np.uint64(0xFFFFFFFF)
DUST = 546
"""Smallest value of a spendable output, in satoshis."""
KERNEL: Any = {"cache": True, "_nrt": False}
"""njit options of every generator kernel that allocates nothing. Without the runtime, numba
skips the atomic incref/decref it otherwise does on each array argument of each call (a quarter
of the generator's time); a kernel that tried to allocate would fail to compile."""
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_TYPE_SALT = np.uint64(0x5DEECE66D2545F49)


@njit(**KERNEL, inline="always")
def mix64(z):  # type: ignore[no-untyped-def]
    """splitmix64's finaliser: a bijection of uint64 that looks random."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(**KERNEL, inline="always")
def uniform(rng):  # type: ignore[no-untyped-def]
    """Next float in [0, 1) from the one-word state ``rng``."""
    rng[0] += _GOLDEN
    return float(mix64(rng[0]) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(**KERNEL, inline="always")
def below(rng, n):  # type: ignore[no-untyped-def]
    """Uniform int in [0, n) (n >= 1)."""
    return min(int(uniform(rng) * n), n - 1)


@njit(**KERNEL, inline="always")
def put_u32(buf, pos, v):  # type: ignore[no-untyped-def]
    """Little-endian uint32 at ``pos``; returns the position after it."""
    for k in range(4):
        buf[pos + k] = (v >> (8 * k)) & 0xFF
    return pos + 4


@njit(**KERNEL, inline="always")
def put_u64(buf, pos, v):  # type: ignore[no-untyped-def]
    """Little-endian int64 (non-negative) at ``pos``."""
    for k in range(8):
        buf[pos + k] = (v >> (8 * k)) & 0xFF
    return pos + 8


@njit(**KERNEL, inline="always")
def put_varint(buf, pos, n):  # type: ignore[no-untyped-def]
    """Bitcoin CompactSize (n < 2**32)."""
    if n < 0xFD:
        buf[pos] = n
        return pos + 1
    if n <= 0xFFFF:
        buf[pos] = 0xFD
        buf[pos + 1] = n & 0xFF
        buf[pos + 2] = n >> 8
        return pos + 3
    buf[pos] = 0xFE
    return put_u32(buf, pos + 1, n)


@njit(**KERNEL, inline="always")
def _put_word_be(buf, pos, w):  # type: ignore[no-untyped-def]
    for k in range(8):
        buf[pos + k] = np.uint8((w >> np.uint64(56 - 8 * k)) & np.uint64(0xFF))
    return pos + 8


@njit(**KERNEL, inline="always")
def wallet_type(w):  # type: ignore[no-untyped-def]
    """The script type of wallet ``w``'s addresses: by a hash of ``w``, in the shares of
    :data:`TYPE_PER_MILLE`; a reserved wallet (below :data:`FRESH_BASE`: exchanges, mining
    pools) uses P2PKH, P2SH or P2WPKH."""
    r = np.int64(mix64(np.uint64(w) ^ _TYPE_SALT) % np.uint64(1000))
    if w < FRESH_BASE:
        r %= _TYPE_CUT[P2WPKH]
    t = 0
    while r >= _TYPE_CUT[t]:
        t += 1
    return t


@njit(**KERNEL, inline="always")
def script_type(addr):  # type: ignore[no-untyped-def]
    """The script type code (P2PKH ... P2PK) of address id ``addr``: a reserved id's wallet
    type, else the type of its slot (see :func:`fresh_id`)."""
    if addr < FRESH_BASE:
        return wallet_type(addr)
    return _SLOT_TYPE[(addr - FRESH_BASE) % 1000]


@njit(**KERNEL, inline="always")
def fresh_id(t, j):  # type: ignore[no-untyped-def]
    """Id of the ``j``-th fresh address of type ``t``: of every 1000 ids from
    :data:`FRESH_BASE` on, ``TYPE_PER_MILLE[t]`` are of type ``t``, so ids stay dense while
    types are used in those shares."""
    s = TYPE_PER_MILLE[t]
    return FRESH_BASE + 1000 * (j // s) + _TYPE_LO[t] + j % s


@njit(**KERNEL, inline="always")
def copy_row(dst, i, src, j, n):  # type: ignore[no-untyped-def]
    """``dst[i, :n] = src[j, :n]`` (slice copies need numba's runtime, which kernels lack)."""
    for c in range(n):
        dst[i, c] = src[j, c]


@njit(**KERNEL, inline="always")
def script_len(addr):  # type: ignore[no-untyped-def]
    """Bytes of the scriptPubKey of address ``addr`` (without the length prefix)."""
    return _SCRIPT_LEN[script_type(addr)]


@njit(**KERNEL, inline="always")
def _put2(buf, pos, b0, b1):  # type: ignore[no-untyped-def]
    buf[pos] = b0
    buf[pos + 1] = b1
    return pos + 2


@njit(**KERNEL, inline="always")
def _put_id_bytes(buf, pos, base, n):  # type: ignore[no-untyped-def]
    """``n`` bytes derived from ``base``: little-endian splitmix64 of base, base + 1, ..."""
    for k in range(n):
        if k % 8 == 0:
            w = mix64(base + np.uint64(k // 8))
        buf[pos + k] = np.uint8(w & np.uint64(0xFF))
        w >>= np.uint64(8)
    return pos + n


@njit(**KERNEL)
def write_script(buf, pos, addr):  # type: ignore[no-untyped-def]
    """Length-prefixed scriptPubKey of address ``addr`` at ``pos``; returns the end."""
    t = script_type(addr)
    buf[pos] = _SCRIPT_LEN[t]
    base = np.uint64(addr) * np.uint64(4)
    if t == P2PKH:
        buf[pos + 1] = 0x76
        pos = _put_id_bytes(buf, _put2(buf, pos + 2, 0xA9, 0x14), base, 20)
        return _put2(buf, pos, 0x88, 0xAC)
    if t == P2SH:
        pos = _put_id_bytes(buf, _put2(buf, pos + 1, 0xA9, 0x14), base, 20)
        buf[pos] = 0x87
        return pos + 1
    if t == P2WPKH:
        return _put_id_bytes(buf, _put2(buf, pos + 1, 0x00, 0x14), base, 20)
    if t == P2WSH:
        return _put_id_bytes(buf, _put2(buf, pos + 1, 0x00, 0x20), base, 32)
    if t == P2TR:
        return _put_id_bytes(buf, _put2(buf, pos + 1, 0x51, 0x20), base, 32)
    parity = np.uint8(mix64(base + np.uint64(3)) & np.uint64(1))  # P2PK, compressed key
    pos = _put_id_bytes(buf, _put2(buf, pos + 1, 0x21, 0x02 | parity), base, 32)
    buf[pos] = 0xAC
    return pos + 1


@njit(**KERNEL)
def write_input(buf, pos, pool, i, sequence):  # type: ignore[no-untyped-def]
    """Serialize an input spending pool entry ``i``: outpoint, scriptSig, sequence.

    The scriptSig is empty (native segwit; no dummy signatures for legacy types either) except
    for P2SH, which gets a nested-P2WPKH redeem-script push (23 bytes) derived from the address.
    """
    for c in range(4):
        pos = _put_word_be(buf, pos, pool[i, c])
    pos = put_u32(buf, pos, np.int64(pool[i, 6] & _VOUT))
    addr = np.int64(pool[i, 5])
    if script_type(addr) == P2SH:
        pos = _put2(buf, _put2(buf, pos, 23, 22), 0x00, 0x14)
        pos = _put_id_bytes(buf, pos, np.uint64(addr) * np.uint64(4) + np.uint64(2), 20)
    else:
        buf[pos] = 0
        pos += 1
    return put_u32(buf, pos, sequence)
