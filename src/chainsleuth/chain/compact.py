"""Bitcoin's CompactSize integers (the variable-length counts in blocks and transactions).

A value below 0xfd is one byte; larger values are a marker byte (0xfd, 0xfe, 0xff) followed by
a 2-, 4- or 8-byte little-endian integer. Bitcoin Core rejects encodings that use a longer form
than needed ("non-canonical"), and so does :func:`read_compact_size`.

>>> encode_compact_size(515).hex()
'fd0302'
>>> read_compact_size(bytes.fromhex("fd0302"), 0)
(515, 3)
"""

from __future__ import annotations

from chainsleuth.errors import BlockDataError, InputError

__all__ = ["MAX_COMPACT_SIZE", "compact_size_length", "encode_compact_size", "read_compact_size"]

MAX_COMPACT_SIZE = 0xFFFF_FFFF_FFFF_FFFF
"""The largest value a CompactSize can hold (an unsigned 64-bit integer)."""

# marker byte -> (payload width in bytes, smallest value that form may carry)
_WIDE_FORMS: dict[int, tuple[int, int]] = {
    0xFD: (2, 0xFD),
    0xFE: (4, 0x1_0000),
    0xFF: (8, 0x1_0000_0000),
}


def read_compact_size(buf: bytes | memoryview, offset: int) -> tuple[int, int]:
    """Read one CompactSize at ``offset``; return ``(value, offset just past it)``.

    Raises :class:`BlockDataError` naming the offset when the buffer ends inside the number or
    when the number is not in its shortest form.

    >>> read_compact_size(b"\\x05rest", 0)
    (5, 1)
    >>> read_compact_size(bytes.fromhex("00fe00000100"), 1)
    (65536, 6)
    >>> read_compact_size(bytes.fromhex("fd0500"), 0)
    Traceback (most recent call last):
    ...
    chainsleuth.errors.BlockDataError: non-canonical CompactSize at offset 0: 5 encoded in 3 bytes
    """
    if offset < 0 or offset >= len(buf):
        raise BlockDataError(f"truncated CompactSize at offset {offset}: no bytes left")
    marker = buf[offset]
    if marker < 0xFD:
        return marker, offset + 1
    width, smallest = _WIDE_FORMS[marker]
    end = offset + 1 + width
    if end > len(buf):
        raise BlockDataError(
            f"truncated CompactSize at offset {offset}: needs {1 + width} bytes, "
            f"{len(buf) - offset} left"
        )
    value = int.from_bytes(buf[offset + 1 : end], "little")
    if value < smallest:
        raise BlockDataError(
            f"non-canonical CompactSize at offset {offset}: {value} encoded in {1 + width} bytes"
        )
    return value, end


def compact_size_length(n: int) -> int:
    """Number of bytes :func:`encode_compact_size` uses for ``n``.

    >>> [compact_size_length(n) for n in (0, 252, 253, 65535, 65536, 2**32)]
    [1, 1, 3, 3, 5, 9]
    """
    if n < 0xFD:
        return 1
    if n <= 0xFFFF:
        return 3
    if n <= 0xFFFF_FFFF:
        return 5
    return 9


def encode_compact_size(n: int) -> bytes:
    """Encode ``n`` (0 ≤ n < 2**64) as a canonical CompactSize.

    >>> encode_compact_size(252).hex(), encode_compact_size(253).hex()
    ('fc', 'fdfd00')
    >>> encode_compact_size(2**32).hex()
    'ff0000000001000000'
    """
    if n < 0 or n > MAX_COMPACT_SIZE:
        raise InputError(f"CompactSize out of range: {n}")
    if n < 0xFD:
        return bytes((n,))
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFF_FFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")
