"""Address strings for many simulated keys at once.

Addresses are encoded with numpy, a whole batch per call: for SegWit (P2WPKH bech32, P2TR
bech32m) the BIP173 checksum runs column by column over all rows; for Base58Check (P2PKH,
P2SH-P2WPKH) the long division by 58 runs limb by limb over all rows.
:func:`chainsleuth.chain.address.script_to_address` is the plain-Python twin the tests compare
this against (and the fallback for any other script).

>>> from chainsleuth.chain.network import get_network
>>> from chainsleuth.simulate.keys import P2WPKH
>>> encode_addresses([bytes.fromhex("0014751e76e8199196d454941c45d1b3a323f1433bd6")], [P2WPKH],
...                  get_network("main"))
['bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4']
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from chainsleuth.chain.address import script_to_address
from chainsleuth.chain.hashes import sha256d
from chainsleuth.chain.network import Network
from chainsleuth.simulate.keys import P2PKH, P2SH_P2WPKH, P2TR, P2WPKH

__all__ = ["encode_addresses", "encode_base58check_batch", "encode_segwit_batch"]

_B58_ALPHABET = np.frombuffer(
    b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", dtype=np.uint8
)
_CHARSET = np.frombuffer(b"qpzry9x8gf2tvdw0s3jn54khce6mua7l", dtype=np.uint8)
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_BECH32_CONST = 1
_BECH32M_CONST = 0x2BC830A3


def _polymod_scalar(values: list[int], chk: int = 1) -> int:
    for v in values:
        top = chk >> 25
        chk = ((chk & 0x1FFFFFF) << 5) ^ v
        for i in range(5):
            if (top >> i) & 1:
                chk ^= _GEN[i]
    return chk


def encode_segwit_batch(hrp: str, witver: int, programs: npt.NDArray[np.uint8]) -> list[str]:
    """Bech32 (v0) / bech32m (v1+) addresses of equal-length ``programs`` (one per row).

    >>> progs = np.frombuffer(bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6"), np.uint8)
    >>> encode_segwit_batch("bc", 0, progs.reshape(1, 20))
    ['bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4']
    """
    n, length = programs.shape
    if n == 0:
        return []
    bits = np.unpackbits(programs, axis=1)
    n_groups = -(-length * 8 // 5)
    padded = np.zeros((n, n_groups * 5), dtype=np.uint8)
    padded[:, : length * 8] = bits
    groups = padded.reshape(n, n_groups, 5) @ np.array([16, 8, 4, 2, 1], dtype=np.uint8)
    data = np.empty((n, n_groups + 1), dtype=np.uint32)
    data[:, 0] = witver
    data[:, 1:] = groups
    hrp_values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    chk: npt.NDArray[np.uint32] = np.full(n, _polymod_scalar(hrp_values), dtype=np.uint32)
    gens = np.array(_GEN, dtype=np.uint32)
    columns = [data[:, j] for j in range(n_groups + 1)] + [np.zeros(n, np.uint32)] * 6
    for col in columns:
        top = chk >> 25
        chk = (((chk & 0x1FFFFFF) << 5) ^ col).astype(np.uint32)
        for i in range(5):
            chk ^= gens[i] * ((top >> i) & 1)
    chk ^= _BECH32_CONST if witver == 0 else _BECH32M_CONST
    checksum = np.stack([(chk >> (5 * (5 - i))) & 31 for i in range(6)], axis=1)
    symbols = np.concatenate([data, checksum], axis=1).astype(np.intp)
    chars = np.ascontiguousarray(_CHARSET[symbols])
    width = chars.shape[1]
    prefix = hrp + "1"
    return [prefix + s.decode() for s in chars.view(f"S{width}").ravel().tolist()]


def encode_base58check_batch(payloads: npt.NDArray[np.uint8]) -> list[str]:
    """Base58Check strings of equal-length ``payloads`` (version byte + data, one per row).

    >>> p = bytes.fromhex("00751e76e8199196d454941c45d1b3a323f1433bd6")
    >>> encode_base58check_batch(np.frombuffer(p, np.uint8).reshape(1, 21))
    ['1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH']
    """
    n, length = payloads.shape
    if n == 0:
        return []
    rows = payloads.tobytes()
    checks = b"".join(sha256d(rows[i * length : (i + 1) * length])[:4] for i in range(n))
    full = np.concatenate([payloads, np.frombuffer(checks, dtype=np.uint8).reshape(n, 4)], axis=1)
    total = length + 4
    n_limbs = -(-total // 3)  # base-2**24 limbs, most significant first
    padded = np.zeros((n, n_limbs * 3), dtype=np.int64)
    padded[:, n_limbs * 3 - total :] = full
    limbs = (padded[:, 0::3] << 16) | (padded[:, 1::3] << 8) | padded[:, 2::3]
    n_digits = int(total * 8 / 5.857) + 2  # log2(58) = 5.858
    digits = np.zeros((n, n_digits), dtype=np.int64)
    for d in range(n_digits - 1, -1, -1):
        rem = np.zeros(n, dtype=np.int64)
        for j in range(n_limbs):
            cur = (rem << 24) | limbs[:, j]
            limbs[:, j] = cur // 58
            rem = cur % 58
        digits[:, d] = rem
    leading_zero_bytes = np.argmax(full != 0, axis=1)
    leading_zero_bytes[~full.any(axis=1)] = total
    first_digit = np.argmax(digits != 0, axis=1)
    chars = np.ascontiguousarray(_B58_ALPHABET[digits]).view(f"S{n_digits}").ravel().tolist()
    return [
        "1" * z + c[f:].decode()
        for c, f, z in zip(chars, first_digit.tolist(), leading_zero_bytes.tolist(), strict=True)
    ]


def encode_addresses(scripts: list[bytes], kinds: list[int], network: Network) -> list[str]:
    """Address strings of ``scripts`` (whose key types are ``kinds``) on ``network``."""
    out: list[str | None] = [None] * len(scripts)
    for kind, version, start in (
        (P2PKH, network.p2pkh_prefix, 3),
        (P2SH_P2WPKH, network.p2sh_prefix, 2),
    ):
        rows = [i for i, k in enumerate(kinds) if k == kind]
        if not rows:
            continue
        prefix = bytes((version,))
        buf = b"".join(prefix + scripts[i][start : start + 20] for i in rows)
        payloads = np.frombuffer(buf, dtype=np.uint8).reshape(len(rows), 21)
        for i, address in zip(rows, encode_base58check_batch(payloads), strict=True):
            out[i] = address
    for kind, witver, start, length in ((P2WPKH, 0, 2, 20), (P2TR, 1, 2, 32)):
        rows = [i for i, k in enumerate(kinds) if k == kind]
        if not rows:
            continue
        buf = b"".join(scripts[i][start : start + length] for i in rows)
        programs = np.frombuffer(buf, dtype=np.uint8).reshape(len(rows), length)
        for i, address in zip(
            rows, encode_segwit_batch(network.hrp, witver, programs), strict=True
        ):
            out[i] = address
    result: list[str] = []
    for i, encoded in enumerate(out):
        if encoded is None:
            encoded = script_to_address(scripts[i], network)
            assert encoded is not None
        result.append(encoded)
    return result
