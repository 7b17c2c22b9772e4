"""Numba kernels that walk raw blocks into column arrays without per-object Python work.

The kernels read a flat ``uint8`` buffer holding several blocks back to back and return
offsets and fixed-width fields for every transaction, input and output. Hashing (txids) stays
in :mod:`hashlib` over memoryviews; script classification and the 128-bit script keys used by
the address dictionary are computed here too. :mod:`chainsleuth.ingest.kernels_ref` is the
plain-Python twin of :func:`parse_blocks`; tests feed both the same real blocks.

>>> import numpy as np
>>> raw = np.frombuffer(bytes.fromhex("76a914" + "00" * 20 + "88ac"), dtype=np.uint8)
>>> int(classify_one(raw, 0, 25))
2
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

__all__ = [
    "ERR_BAD_FLAG",
    "ERR_NONE",
    "ERR_TRAILING",
    "ERR_TRUNCATED",
    "SCRIPT_DEFERRED",
    "classify_one",
    "classify_outputs",
    "parse_blocks",
    "script_keys",
]

ERR_NONE = 0
ERR_TRUNCATED = 1
ERR_TRAILING = 2
ERR_BAD_FLAG = 3

# Script type codes: index into chainsleuth.chain.script.SCRIPT_TYPES.
T_NONSTANDARD = 0
T_PUBKEY = 1
T_PUBKEYHASH = 2
T_SCRIPTHASH = 3
T_MULTISIG = 4
T_NULLDATA = 5
T_WV0_KEYHASH = 6
T_WV0_SCRIPTHASH = 7
T_WV1_TAPROOT = 8
T_WITNESS_UNKNOWN = 9
T_ANCHOR = 10
SCRIPT_DEFERRED = 255
"""Returned for scripts ending in OP_CHECKMULTISIG: resolved by the Python reference classifier."""


@njit(cache=True, inline="always")
def _read_u32(buf: np.ndarray, pos: int) -> np.uint32:
    return np.uint32(
        np.uint32(buf[pos])
        | (np.uint32(buf[pos + 1]) << np.uint32(8))
        | (np.uint32(buf[pos + 2]) << np.uint32(16))
        | (np.uint32(buf[pos + 3]) << np.uint32(24))
    )


@njit(cache=True, inline="always")
def _read_u64(buf: np.ndarray, pos: int) -> np.uint64:
    v = np.uint64(0)
    for k in range(8):
        v |= np.uint64(buf[pos + k]) << np.uint64(8 * k)
    return v


@njit(cache=True)
def _read_varint(buf: np.ndarray, pos: int, end: int) -> tuple[Any, Any]:
    """Return (value, new_pos); new_pos = -1 when truncated (all int64, never uint64)."""
    if pos >= end:
        return np.int64(0), np.int64(-1)
    first = np.int64(buf[pos])
    if first < 0xFD:
        return first, np.int64(pos + 1)
    if first == 0xFD:
        if pos + 3 > end:
            return np.int64(0), np.int64(-1)
        return np.int64(buf[pos + 1]) | (np.int64(buf[pos + 2]) << 8), np.int64(pos + 3)
    if first == 0xFE:
        if pos + 5 > end:
            return np.int64(0), np.int64(-1)
        return np.int64(_read_u32(buf, pos + 1)), np.int64(pos + 5)
    if pos + 9 > end:
        return np.int64(0), np.int64(-1)
    value = _read_u64(buf, pos + 1)
    if value >> np.uint64(63):  # no count or length this large fits a buffer (and as int64 it
        return np.int64(0), np.int64(-1)  # would wrap): truncated, like the Python walkers say
    return np.int64(value), np.int64(pos + 9)


@njit(cache=True, nogil=True)
def parse_blocks(buf, block_starts, block_ends):  # type: ignore[no-untyped-def]
    """Walk every transaction of the blocks ``buf[block_starts[b]:block_ends[b]]``.

    Returns ``(status, err_block, err_offset, tx, inp, out)`` where ``tx`` is an int64 matrix
    with one row per transaction: block index, start, end, io_start (first byte after
    marker/flag), io_end (end of the outputs), has_witness, version, locktime, n_in, n_out,
    first_in, first_out; ``inp`` rows: prev_txid offset, prev_vout, sequence, script_sig offset,
    script_sig length, witness item count, witness bytes; ``out`` rows: value, script offset,
    script length. ``status`` is one of the ``ERR_*`` codes.
    """
    total = 0
    for b in range(block_starts.shape[0]):
        total += block_ends[b] - block_starts[b]
    # Row bounds by the fewest bytes the walk accepts per row: 12 per transaction (no inputs and
    # no outputs, in witness form or with a non-canonical CompactSize), 41 per input, 9 per
    # output. (Not 60 per transaction as valid blocks have: rows are written unchecked.)
    max_tx = total // 12 + block_starts.shape[0] + 1
    max_in = total // 41 + 1
    max_out = total // 9 + 1
    tx = np.empty((max_tx, 12), dtype=np.int64)
    inp = np.empty((max_in, 7), dtype=np.int64)
    out = np.empty((max_out, 3), dtype=np.int64)
    nt = 0
    ni = 0
    no = 0
    for b in range(block_starts.shape[0]):
        pos = block_starts[b] + 80
        end = block_ends[b]
        if pos > end:
            return ERR_TRUNCATED, b, end, tx[:nt], inp[:ni], out[:no]
        n_tx, pos = _read_varint(buf, pos, end)
        if pos < 0:
            return ERR_TRUNCATED, b, end, tx[:nt], inp[:ni], out[:no]
        for _t in range(n_tx):
            start = pos
            if pos + 4 > end:
                return ERR_TRUNCATED, b, pos, tx[:nt], inp[:ni], out[:no]
            version = np.int64(_read_u32(buf, pos))
            pos += 4
            has_witness = 0
            if pos + 2 <= end and buf[pos] == 0:
                if buf[pos + 1] != 1:
                    return ERR_BAD_FLAG, b, pos, tx[:nt], inp[:ni], out[:no]
                has_witness = 1
                pos += 2
            io_start = pos
            n_in, pos = _read_varint(buf, pos, end)
            if pos < 0:
                return ERR_TRUNCATED, b, start, tx[:nt], inp[:ni], out[:no]
            first_in = ni
            for _i in range(n_in):
                if pos + 36 > end:
                    return ERR_TRUNCATED, b, pos, tx[:nt], inp[:ni], out[:no]
                inp[ni, 0] = pos
                inp[ni, 1] = np.int64(_read_u32(buf, pos + 32))
                pos += 36
                ss_len, pos = _read_varint(buf, pos, end)
                # lengths go up to 2**63 - 1: compare with what is left, never pos + length
                if pos < 0 or ss_len > end - pos - 4:
                    return ERR_TRUNCATED, b, start, tx[:nt], inp[:ni], out[:no]
                inp[ni, 3] = pos
                inp[ni, 4] = ss_len
                pos += ss_len
                inp[ni, 2] = np.int64(_read_u32(buf, pos))
                pos += 4
                inp[ni, 5] = 0
                inp[ni, 6] = 0
                ni += 1
            n_out, pos = _read_varint(buf, pos, end)
            if pos < 0:
                return ERR_TRUNCATED, b, start, tx[:nt], inp[:ni], out[:no]
            first_out = no
            for _o in range(n_out):
                if pos + 8 > end:
                    return ERR_TRUNCATED, b, pos, tx[:nt], inp[:ni], out[:no]
                out[no, 0] = np.int64(_read_u64(buf, pos))
                pos += 8
                sc_len, pos = _read_varint(buf, pos, end)
                if pos < 0 or sc_len > end - pos:
                    return ERR_TRUNCATED, b, start, tx[:nt], inp[:ni], out[:no]
                out[no, 1] = pos
                out[no, 2] = sc_len
                pos += sc_len
                no += 1
            io_end = pos
            if has_witness == 1:
                for i in range(first_in, ni):
                    n_items, pos = _read_varint(buf, pos, end)
                    if pos < 0:
                        return ERR_TRUNCATED, b, start, tx[:nt], inp[:ni], out[:no]
                    wstart = pos
                    for _w in range(n_items):
                        ln, pos = _read_varint(buf, pos, end)
                        if pos < 0 or ln > end - pos:
                            return ERR_TRUNCATED, b, start, tx[:nt], inp[:ni], out[:no]
                        pos += ln
                    inp[i, 5] = n_items
                    inp[i, 6] = pos - wstart
            if pos + 4 > end:
                return ERR_TRUNCATED, b, pos, tx[:nt], inp[:ni], out[:no]
            locktime = np.int64(_read_u32(buf, pos))
            pos += 4
            tx[nt, 0] = b
            tx[nt, 1] = start
            tx[nt, 2] = pos
            tx[nt, 3] = io_start
            tx[nt, 4] = io_end
            tx[nt, 5] = has_witness
            tx[nt, 6] = version
            tx[nt, 7] = locktime
            tx[nt, 8] = n_in
            tx[nt, 9] = n_out
            tx[nt, 10] = first_in
            tx[nt, 11] = first_out
            nt += 1
        if pos != end:
            return ERR_TRAILING, b, pos, tx[:nt], inp[:ni], out[:no]
    return ERR_NONE, -1, -1, tx[:nt], inp[:ni], out[:no]


@njit(cache=True, inline="always")
def _pubkey_len_ok(first: int, ln: int) -> bool:
    if first == 2 or first == 3:
        return ln == 33
    if first == 4 or first == 6 or first == 7:
        return ln == 65
    return False


@njit(cache=True)
def _push_only(buf: np.ndarray, pos: int, end: int) -> bool:
    """Core's ``CScript::IsPushOnly`` over ``buf[pos:end]``."""
    while pos < end:
        op = buf[pos]
        pos += 1
        if op > 0x60:
            return False
        if op < 0x4C:
            pos += op
        elif op == 0x4C:
            if pos + 1 > end:
                return False
            pos += 1 + buf[pos]
        elif op == 0x4D:
            if pos + 2 > end:
                return False
            pos += 2 + (int(buf[pos]) | (int(buf[pos + 1]) << 8))
        elif op == 0x4E:
            if pos + 4 > end:
                return False
            pos += 4 + int(_read_u32(buf, pos))
        if pos > end:
            return False
    return True


@njit(cache=True)
def classify_one(buf: np.ndarray, pos: int, ln: int) -> int:
    """Bitcoin Core's script type code for ``buf[pos:pos+ln]`` (multisig candidates deferred)."""
    end = pos + ln
    # P2SH: OP_HASH160 <20> OP_EQUAL
    if ln == 23 and buf[pos] == 0xA9 and buf[pos + 1] == 0x14 and buf[pos + 22] == 0x87:
        return T_SCRIPTHASH
    # Witness program: version opcode + one direct push of 2..40 bytes.
    if 4 <= ln <= 42:
        op0 = buf[pos]
        if (op0 == 0 or 0x51 <= op0 <= 0x60) and buf[pos + 1] + 2 == ln:
            ver = 0 if op0 == 0 else op0 - 0x50
            plen = ln - 2
            if ver == 0 and plen == 20:
                return T_WV0_KEYHASH
            if ver == 0 and plen == 32:
                return T_WV0_SCRIPTHASH
            if ver == 1 and plen == 32:
                return T_WV1_TAPROOT
            if ver == 1 and plen == 2 and buf[pos + 2] == 0x4E and buf[pos + 3] == 0x73:
                return T_ANCHOR
            if ver != 0:
                return T_WITNESS_UNKNOWN
            return T_NONSTANDARD
    if ln >= 1 and buf[pos] == 0x6A and _push_only(buf, pos + 1, end):
        return T_NULLDATA
    if ln == 35 and buf[pos] == 33 and buf[end - 1] == 0xAC and _pubkey_len_ok(buf[pos + 1], 33):
        return T_PUBKEY
    if ln == 67 and buf[pos] == 65 and buf[end - 1] == 0xAC and _pubkey_len_ok(buf[pos + 1], 65):
        return T_PUBKEY
    if (
        ln == 25
        and buf[pos] == 0x76
        and buf[pos + 1] == 0xA9
        and buf[pos + 2] == 0x14
        and buf[pos + 23] == 0x88
        and buf[pos + 24] == 0xAC
    ):
        return T_PUBKEYHASH
    if ln >= 1 and buf[end - 1] == 0xAE:
        return SCRIPT_DEFERRED
    return T_NONSTANDARD


@njit(cache=True, nogil=True)
def classify_outputs(buf: np.ndarray, script_off: np.ndarray, script_len: np.ndarray) -> np.ndarray:
    """Script type codes (``uint8``) for every output; 255 marks multisig candidates."""
    n = script_off.shape[0]
    codes = np.empty(n, dtype=np.uint8)
    for i in range(n):
        codes[i] = classify_one(buf, script_off[i], script_len[i])
    return codes


@njit(cache=True, inline="always")
def _rotl(x: np.uint64, r: int) -> np.uint64:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


@njit(cache=True, inline="always")
def _fmix(k: np.uint64) -> np.uint64:
    k ^= k >> np.uint64(33)
    k *= np.uint64(0xFF51AFD7ED558CCD)
    k ^= k >> np.uint64(33)
    k *= np.uint64(0xC4CEB9FE1A85EC53)
    k ^= k >> np.uint64(33)
    return k


@njit(cache=True)
def _murmur128(buf: np.ndarray, pos: int, ln: int, seed: np.uint64) -> tuple[np.uint64, np.uint64]:
    """MurmurHash3 x64 128-bit of ``buf[pos:pos+ln]`` (a non-cryptographic dictionary key)."""
    c1 = np.uint64(0x87C37B91114253D5)
    c2 = np.uint64(0x4CF5AD432745937F)
    h1 = seed
    h2 = seed
    nblocks = ln // 16
    for i in range(nblocks):
        k1 = _read_u64(buf, pos + 16 * i)
        k2 = _read_u64(buf, pos + 16 * i + 8)
        k1 *= c1
        k1 = _rotl(k1, 31)
        k1 *= c2
        h1 ^= k1
        h1 = _rotl(h1, 27)
        h1 += h2
        h1 = h1 * np.uint64(5) + np.uint64(0x52DCE729)
        k2 *= c2
        k2 = _rotl(k2, 33)
        k2 *= c1
        h2 ^= k2
        h2 = _rotl(h2, 31)
        h2 += h1
        h2 = h2 * np.uint64(5) + np.uint64(0x38495AB5)
    tail = pos + nblocks * 16
    rem = ln & 15
    k1 = np.uint64(0)
    k2 = np.uint64(0)
    for j in range(rem - 1, 7, -1):
        k2 ^= np.uint64(buf[tail + j]) << np.uint64(8 * (j - 8))
    if rem > 8:
        k2 *= c2
        k2 = _rotl(k2, 33)
        k2 *= c1
        h2 ^= k2
    for j in range(min(rem, 8) - 1, -1, -1):
        k1 ^= np.uint64(buf[tail + j]) << np.uint64(8 * j)
    if rem > 0:
        k1 *= c1
        k1 = _rotl(k1, 31)
        k1 *= c2
        h1 ^= k1
    h1 ^= np.uint64(ln)
    h2 ^= np.uint64(ln)
    h1 += h2
    h2 += h1
    h1 = _fmix(h1)
    h2 = _fmix(h2)
    h1 += h2
    h2 += h1
    return h1, h2


@njit(cache=True, nogil=True)
def script_keys(
    buf: np.ndarray, script_off: np.ndarray, script_len: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """128-bit keys (two ``uint64`` columns) identifying each output script."""
    n = script_off.shape[0]
    k0 = np.empty(n, dtype=np.uint64)
    k1 = np.empty(n, dtype=np.uint64)
    for i in range(n):
        a, b = _murmur128(buf, script_off[i], script_len[i], np.uint64(0x5C1E07))
        k0[i] = a
        k1[i] = b
    return k0, k1
