"""Bech32 (BIP173) and Bech32m (BIP350) strings, and segwit addresses built on them.

Witness version 0 addresses use the Bech32 checksum; versions 1 to 16 use Bech32m.

>>> encode_segwit_address("bc", 0, bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6"))
'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4'
>>> decode_segwit_address("bc", "bc1pfeessrawgf")
(1, b'Ns')
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence

from chainsleuth.errors import InputError

__all__ = [
    "BECH32_CHARSET",
    "MAX_BECH32_LENGTH",
    "Encoding",
    "bech32_decode",
    "bech32_encode",
    "convert_bits",
    "decode_segwit_address",
    "encode_segwit_address",
]

BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
"""The 32 data characters, in value order."""

MAX_BECH32_LENGTH = 90
"""Longest string BIP173 allows (HRP, separator, data and checksum)."""

_VALUE_OF = {ch: i for i, ch in enumerate(BECH32_CHARSET)}
_CHECKSUM_LENGTH = 6
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_MIN_PROGRAM, _MAX_PROGRAM = 2, 40
_V0_PROGRAM_SIZES = (20, 32)


class Encoding(enum.Enum):
    """Checksum variant: the constant the BCH polymod must equal."""

    BECH32 = 1
    BECH32M = 0x2BC830A3

    @property
    def label(self) -> str:
        """Lowercase name as used in BIPs and Core's messages.

        >>> Encoding.BECH32M.label
        'bech32m'
        """
        return self.name.lower()


def _polymod(values: Iterable[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i, gen in enumerate(_GENERATOR):
            if (top >> i) & 1:
                chk ^= gen
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _check_hrp(hrp: str) -> None:
    if not 1 <= len(hrp) <= MAX_BECH32_LENGTH - 1 - _CHECKSUM_LENGTH:
        raise InputError(f"bech32 HRP {hrp!r} must be 1 to 83 characters long")
    for ch in hrp:
        if not 33 <= ord(ch) <= 126:
            raise InputError(f"HRP character {ch!r} out of range in {hrp!r}")
    if hrp != hrp.lower():
        raise InputError(f"bech32 HRP {hrp!r} must be lowercase")


def bech32_encode(hrp: str, data: Sequence[int], encoding: Encoding) -> str:
    """Encode a lowercase HRP and 5-bit values as a Bech32 or Bech32m string.

    >>> bech32_encode("a", [], Encoding.BECH32)
    'a12uel5l'
    >>> bech32_encode("a", [], Encoding.BECH32M)
    'a1lqfn3a'
    """
    _check_hrp(hrp)
    if any(not 0 <= d < 32 for d in data):
        raise InputError(f"bech32 data values must be 5-bit integers, got {list(data)!r}")
    polymod = _polymod([*_hrp_expand(hrp), *data, 0, 0, 0, 0, 0, 0]) ^ encoding.value
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(_CHECKSUM_LENGTH)]
    text = hrp + "1" + "".join(BECH32_CHARSET[d] for d in (*data, *checksum))
    if len(text) > MAX_BECH32_LENGTH:
        raise InputError(f"bech32 string would be {len(text)} characters, over the limit of 90")
    return text


def bech32_decode(s: str) -> tuple[str, list[int], Encoding]:
    """Decode a Bech32/Bech32m string into (lowercase HRP, 5-bit data without checksum, variant).

    Raises :class:`InputError` with the reason: character out of range, mixed case, no
    separator, empty HRP, too long, invalid data character, too short checksum, bad checksum.

    >>> bech32_decode("A12UEL5L")
    ('a', [], <Encoding.BECH32: 1>)
    >>> bech32_decode("a12uel5m")
    Traceback (most recent call last):
    ...
    chainsleuth.errors.InputError: bad checksum in bech32 string 'a12uel5m'
    """
    for ch in s:
        if not 33 <= ord(ch) <= 126:
            raise InputError(f"character {ch!r} out of range in bech32 string {s!r}")
    if s != s.lower() and s != s.upper():
        raise InputError(f"mixed case in bech32 string {s!r}")
    if len(s) > MAX_BECH32_LENGTH:
        raise InputError(f"bech32 string {s!r} is {len(s)} characters, over the limit of 90")
    lowered = s.lower()
    sep = lowered.rfind("1")
    if sep < 0:
        raise InputError(f"no separator '1' in bech32 string {s!r}")
    if sep == 0:
        raise InputError(f"empty HRP in bech32 string {s!r}")
    hrp, data_part = lowered[:sep], lowered[sep + 1 :]
    for ch in data_part:
        if ch not in _VALUE_OF:
            raise InputError(f"invalid data character {ch!r} in bech32 string {s!r}")
    if len(data_part) < _CHECKSUM_LENGTH:
        raise InputError(f"checksum too short in bech32 string {s!r}")
    values = [_VALUE_OF[ch] for ch in data_part]
    residue = _polymod([*_hrp_expand(hrp), *values])
    for encoding in Encoding:
        if residue == encoding.value:
            return hrp, values[:-_CHECKSUM_LENGTH], encoding
    raise InputError(f"bad checksum in bech32 string {s!r}")


def convert_bits(data: Iterable[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    """Regroup a stream of ``from_bits``-bit values into ``to_bits``-bit values.

    With ``pad`` the last group is zero-filled; without it, leftover bits must be fewer than
    ``from_bits`` and all zero, else :class:`InputError` is raised (as BIP173 requires).

    >>> convert_bits(b"\\xff", 8, 5, True)
    [31, 28]
    >>> convert_bits([31, 28], 5, 8, False)
    [255]
    """
    acc = 0
    n_bits = 0
    out: list[int] = []
    max_out = (1 << to_bits) - 1
    for value in data:
        if value < 0 or value >> from_bits:
            raise InputError(f"value {value} does not fit in {from_bits} bits")
        acc = (acc << from_bits) | value
        n_bits += from_bits
        while n_bits >= to_bits:
            n_bits -= to_bits
            out.append((acc >> n_bits) & max_out)
    if pad:
        if n_bits:
            out.append((acc << (to_bits - n_bits)) & max_out)
    elif n_bits >= from_bits:
        raise InputError(f"more than {from_bits - 1} padding bits")
    elif (acc << (to_bits - n_bits)) & max_out:
        raise InputError("non-zero padding bits")
    return out


def _check_witness_program(witver: int, program_len: int) -> str | None:
    """The reason a (version, program length) pair is not a valid segwit output, or None."""
    size = f"{program_len} byte{'' if program_len == 1 else 's'}"
    if not 0 <= witver <= 16:
        return f"invalid witness version {witver}"
    if not _MIN_PROGRAM <= program_len <= _MAX_PROGRAM:
        return f"invalid witness program length ({size})"
    if witver == 0 and program_len not in _V0_PROGRAM_SIZES:
        return f"invalid witness v0 program length ({size}), per BIP141"
    return None


def encode_segwit_address(hrp: str, witver: int, program: bytes) -> str:
    """Encode a segwit output as an address: Bech32 for v0, Bech32m for v1..v16.

    >>> program = bytes.fromhex("000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433")
    >>> encode_segwit_address("tb", 1, program)  # a BIP350 test vector
    'tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c'
    """
    reason = _check_witness_program(witver, len(program))
    if reason is not None:
        raise InputError(f"cannot encode segwit address: {reason}")
    encoding = Encoding.BECH32 if witver == 0 else Encoding.BECH32M
    return bech32_encode(hrp, [witver, *convert_bits(program, 8, 5, True)], encoding)


def decode_segwit_address(hrp: str, addr: str) -> tuple[int, bytes]:
    """Decode a segwit address of the network with prefix ``hrp`` into (version, program).

    Raises :class:`InputError` naming the address and the reason (wrong HRP, bad checksum,
    wrong checksum variant for the version, bad program length, bad padding, ...).

    >>> version, program = decode_segwit_address("bc", "bc1pfeessrawgf")
    >>> version, program.hex()
    (1, '4e73')
    >>> decode_segwit_address("bc", "bc1pw5dgrnzv")
    Traceback (most recent call last):
    ...
    chainsleuth.errors.InputError: address bc1pw5dgrnzv: invalid witness program length (1 byte)
    """
    try:
        got_hrp, data, encoding = bech32_decode(addr)
    except InputError as err:
        raise InputError(f"address {addr}: {err}") from None
    if got_hrp != hrp:
        raise InputError(f"address {addr}: prefix {got_hrp!r} is not {hrp!r}")
    if not data:
        raise InputError(f"address {addr}: empty data section")
    witver = data[0]
    expected = Encoding.BECH32 if witver == 0 else Encoding.BECH32M
    if witver <= 16 and encoding is not expected:
        version_text = "v0" if witver == 0 else "v1+"
        raise InputError(
            f"address {addr}: witness {version_text} must use the {expected.label} checksum, "
            f"not {encoding.label}"
        )
    try:
        program = bytes(convert_bits(data[1:], 5, 8, False))
    except InputError as err:
        raise InputError(f"address {addr}: {err}") from None
    reason = _check_witness_program(witver, len(program))
    if reason is not None:
        raise InputError(f"address {addr}: {reason}")
    return witver, program
