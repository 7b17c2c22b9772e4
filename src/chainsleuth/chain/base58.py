"""Base58 and Base58Check, the encoding of legacy (P2PKH, P2SH) Bitcoin addresses.

Leading zero bytes become leading ``1`` characters and back; Base58Check appends the first four
bytes of SHA-256d of the payload as a checksum.

>>> b58encode(bytes.fromhex("00000102"))
'115T'
>>> b58check_decode("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa").hex()  # genesis output key hash
'0062e907b15cbf27d5425399ebf6f0fb50ebb88f18'
"""

from __future__ import annotations

from chainsleuth.chain.hashes import sha256d
from chainsleuth.errors import InputError

__all__ = ["B58_ALPHABET", "b58check_decode", "b58check_encode", "b58decode", "b58encode"]

B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
"""The 58 characters in digit order (no 0, O, I or l)."""

_DIGIT_OF = {ch: i for i, ch in enumerate(B58_ALPHABET)}
_CHECKSUM_SIZE = 4


def b58encode(data: bytes) -> str:
    """Encode bytes as Base58 (no checksum).

    >>> b58encode(b"hello world")
    'StV1DL6CwTryKyV'
    >>> b58encode(b"")
    ''
    """
    n_zeros = len(data) - len(data.lstrip(b"\x00"))
    value = int.from_bytes(data, "big")
    digits: list[str] = []
    while value:
        value, rem = divmod(value, 58)
        digits.append(B58_ALPHABET[rem])
    return "1" * n_zeros + "".join(reversed(digits))


def b58decode(s: str) -> bytes:
    """Decode a Base58 string; raise :class:`InputError` on a character outside the alphabet.

    >>> b58decode("StV1DL6CwTryKyV")
    b'hello world'
    >>> b58decode("11").hex()
    '0000'
    """
    value = 0
    for pos, ch in enumerate(s):
        digit = _DIGIT_OF.get(ch)
        if digit is None:
            raise InputError(f"bad character {ch!r} at position {pos} in base58 string {s!r}")
        value = value * 58 + digit
    n_zeros = len(s) - len(s.lstrip("1"))
    body = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return b"\x00" * n_zeros + body


def b58check_encode(payload: bytes) -> str:
    """Encode ``payload`` with its 4-byte SHA-256d checksum appended.

    >>> b58check_encode(bytes.fromhex("0062e907b15cbf27d5425399ebf6f0fb50ebb88f18"))
    '1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa'
    """
    return b58encode(payload + sha256d(payload)[:_CHECKSUM_SIZE])


def b58check_decode(s: str) -> bytes:
    """Decode Base58Check and return the payload without its checksum.

    Raises :class:`InputError` naming the string and the reason (bad character, too short,
    bad checksum).

    >>> b58check_decode("1111111111111111111114oLvT2").hex()
    '000000000000000000000000000000000000000000'
    >>> b58check_decode("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainsleuth.errors.InputError: bad checksum in base58check string '1A1zP1eP5QGefi2DMPTfTL5S...'
    """
    raw = b58decode(s)
    if len(raw) < _CHECKSUM_SIZE:
        raise InputError(f"base58check string {s!r} is too short to hold a checksum")
    payload, checksum = raw[:-_CHECKSUM_SIZE], raw[-_CHECKSUM_SIZE:]
    if sha256d(payload)[:_CHECKSUM_SIZE] != checksum:
        raise InputError(f"bad checksum in base58check string {s!r}")
    return payload
