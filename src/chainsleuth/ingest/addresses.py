"""Address strings for many outputs at once: bech32/bech32m and base58check in numba.

The ingest needs the address string of every address seen for the first time; encoding them
one by one in Python costs more than everything else together. :func:`encode_addresses` turns
(script, type) rows into an Arrow string array; it agrees with
:func:`chainsleuth.chain.address.address_for_output` (the reference, checked against Bitcoin
Core) on every output — tests compare both on real blocks.

>>> import numpy as np
>>> from chainsleuth.chain.network import get_network
>>> script = bytes.fromhex("0014751e76e8199196d454941c45d1b3a323f1433bd6")
>>> buf = np.frombuffer(script, np.uint8)
>>> encode_addresses(buf, np.array([0]), np.array([22]), np.array([6], np.uint8),
...                  get_network("main")).to_pylist()
['bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4']
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
from numba import njit

from chainsleuth.chain.address import address_for_output
from chainsleuth.chain.network import Network

__all__ = ["encode_addresses"]

_CHARSET = np.frombuffer(b"qpzry9x8gf2tvdw0s3jn54khce6mua7l", dtype=np.uint8)
_B58 = np.frombuffer(b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", dtype=np.uint8)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_GEN = np.array([0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3], dtype=np.uint32)

# Script type codes (chainsleuth.chain.script.SCRIPT_TYPES)
_PUBKEY, _PKH, _SH = 1, 2, 3
_SEGWIT = (6, 7, 8, 9, 10)
_MAX = 140  # longest string written here: "pk:" + 130 hex digits


@njit(cache=True)
def _polymod_step(chk: np.uint32, value: int, gen: np.ndarray) -> np.uint32:
    top = chk >> np.uint32(25)
    chk = ((chk & np.uint32(0x1FFFFFF)) << np.uint32(5)) ^ np.uint32(value)
    for i in range(5):
        if (top >> np.uint32(i)) & np.uint32(1):
            chk ^= gen[i]
    return chk


@njit(cache=True)
def _encode(buf, offs, lens, kinds, payloads, hrp, charset, b58, hexd, gen):  # type: ignore[no-untyped-def]
    """kinds: 1 segwit, 2 base58 (payload row holds the 25 bytes), 3 pubkey hex, 0 skip."""
    n = offs.shape[0]
    out = np.zeros((n, _MAX), dtype=np.uint8)
    out_len = np.zeros(n, dtype=np.int32)
    data = np.zeros(70, dtype=np.uint8)
    num = np.zeros(40, dtype=np.uint8)
    for r in range(n):
        kind = kinds[r]
        p = offs[r]
        ln = lens[r]
        if kind == 1:
            op = buf[p]
            ver = 0 if op == 0 else op - 0x50
            prog = p + 2
            plen = ln - 2
            # 8-bit program -> 5-bit groups, with the version first
            data[0] = ver
            nd = 1
            acc = 0
            bits = 0
            for k in range(plen):
                acc = ((acc << 8) | buf[prog + k]) & 0xFFFFF
                bits += 8
                while bits >= 5:
                    bits -= 5
                    data[nd] = (acc >> bits) & 31
                    nd += 1
            if bits > 0:
                data[nd] = (acc << (5 - bits)) & 31
                nd += 1
            chk = np.uint32(1)
            for k in range(hrp.shape[0]):
                chk = _polymod_step(chk, hrp[k] >> 5, gen)
            chk = _polymod_step(chk, 0, gen)
            for k in range(hrp.shape[0]):
                chk = _polymod_step(chk, hrp[k] & 31, gen)
            for k in range(nd):
                chk = _polymod_step(chk, data[k], gen)
            for _ in range(6):
                chk = _polymod_step(chk, 0, gen)
            const = np.uint32(1) if ver == 0 else np.uint32(0x2BC830A3)
            chk ^= const
            w = 0
            for k in range(hrp.shape[0]):
                out[r, w] = hrp[k]
                w += 1
            out[r, w] = 49  # '1'
            w += 1
            for k in range(nd):
                out[r, w] = charset[data[k]]
                w += 1
            for k in range(6):
                out[r, w] = charset[(chk >> np.uint32(5 * (5 - k))) & np.uint32(31)]
                w += 1
            out_len[r] = w
        elif kind == 2:
            for k in range(25):
                num[k] = payloads[r, k]
            zeros = 0
            while zeros < 25 and num[zeros] == 0:
                zeros += 1
            digits = np.zeros(40, dtype=np.uint8)
            nd = 0
            start = zeros
            while start < 25:
                rem = 0
                for k in range(start, 25):
                    cur = rem * 256 + num[k]
                    num[k] = cur // 58
                    rem = cur % 58
                digits[nd] = rem
                nd += 1
                while start < 25 and num[start] == 0:
                    start += 1
            w = 0
            for _ in range(zeros):
                out[r, w] = b58[0]
                w += 1
            for k in range(nd - 1, -1, -1):
                out[r, w] = b58[digits[k]]
                w += 1
            out_len[r] = w
        elif kind == 3:
            out[r, 0] = 112  # 'p'
            out[r, 1] = 107  # 'k'
            out[r, 2] = 58  # ':'
            w = 3
            for k in range(p + 1, p + ln - 1):
                out[r, w] = hexd[buf[k] >> 4]
                out[r, w + 1] = hexd[buf[k] & 15]
                w += 2
            out_len[r] = w
    return out, out_len


def encode_addresses(
    buf: np.ndarray, offs: np.ndarray, lens: np.ndarray, codes: np.ndarray, network: Network
) -> pa.Array:
    """Address (or pseudo-address) strings of the scripts ``buf[offs[i]:offs[i]+lens[i]]``.

    ``codes`` are script type codes. Bare multisig (rare) goes through the reference encoder;
    nulldata and nonstandard give null.
    """
    n = int(offs.shape[0])
    kinds = np.zeros(n, dtype=np.uint8)
    kinds[np.isin(codes, _SEGWIT)] = 1
    kinds[(codes == _PKH) | (codes == _SH)] = 2
    kinds[codes == _PUBKEY] = 3
    payloads = np.zeros((n, 25), dtype=np.uint8)
    raw = buf.tobytes() if (kinds == 2).any() or (codes == 4).any() else b""
    sha = hashlib.sha256
    for r in np.flatnonzero(kinds == 2).tolist():
        p = int(offs[r])
        if codes[r] == _PKH:
            body = bytes([network.p2pkh_prefix]) + raw[p + 3 : p + 23]
        else:
            body = bytes([network.p2sh_prefix]) + raw[p + 2 : p + 22]
        payloads[r] = np.frombuffer(body + sha(sha(body).digest()).digest()[:4], dtype=np.uint8)
    hrp = np.frombuffer(network.hrp.encode(), dtype=np.uint8)
    chars, length = _encode(buf, offs, lens, kinds, payloads, hrp, _CHARSET, _B58, _HEX, _GEN)
    strings: list[str | None] | None = None
    multisig = np.flatnonzero(codes == 4)
    if multisig.shape[0]:
        strings = [None] * n
        for r in multisig.tolist():
            p = int(offs[r])
            strings[r] = address_for_output(raw[p : p + int(lens[r])], network)
    # Assemble an Arrow string array straight from the character matrix.
    keep = length > 0
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(length, out=offsets[1:])
    mask = np.arange(_MAX)[None, :] < length[:, None]
    data = chars[mask]
    arr = pa.Array.from_buffers(
        pa.string(),
        n,
        [pa.array(keep).buffers()[1], pa.py_buffer(offsets), pa.py_buffer(data)],
        null_count=int(n - keep.sum()),
    )
    if strings is None:
        return arr
    merged = arr.to_pylist()
    for r in multisig.tolist():
        merged[r] = strings[r]
    return pa.array(merged, pa.string())
