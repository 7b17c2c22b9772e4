"""Bitcoin transactions: symmetric parse / serialize (BIP144 witness form), txid and weight.

Hashes in this module's public API (``prev_txid``, ``txid``, ``wtxid``) are in display byte
order, i.e. ``tx.txid.hex()`` is what Bitcoin Core prints.

>>> raw = bytes.fromhex(
...     "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff"
...     "0704ffff001d0104ffffffff0100f2052a0100000043410496b538e853519c726a2c91e61ec11600ae"
...     "1390813a627c66fb8be7947be63c52da7589379515d4e0a604f8141781e62294721166bf621e73a82c"
...     "bf2342c858eeac00000000")
>>> tx = Tx.parse(raw)
>>> tx.txid.hex()
'0e3e2357e806b6cdb1f70b54c3a3a17b6714ee1f0e68bebb44a74b1efd512098'
>>> tx.is_coinbase, tx.size, tx.serialize() == raw
(True, 134, True)
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from chainsleuth.chain.compact import encode_compact_size, read_compact_size
from chainsleuth.chain.hashes import sha256d
from chainsleuth.errors import BlockDataError

__all__ = [
    "COINBASE_PREV_TXID",
    "COINBASE_PREV_VOUT",
    "BytesLike",
    "Tx",
    "TxIn",
    "TxOut",
    "lazy_property",
]

_T = TypeVar("_T")


class lazy_property(Generic[_T]):
    """A lock-free ``cached_property``: computed on first access, then stored on the instance.

    (Python 3.11's ``functools.cached_property`` takes a lock on every first access, which
    costs more than hashing a small transaction.) Works on frozen dataclasses without slots.

    >>> class C:
    ...     @lazy_property
    ...     def x(self) -> int:
    ...         return 42
    >>> C().x
    42
    """

    def __init__(self, func: Callable[[Any], _T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> lazy_property[_T]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> _T: ...

    def __get__(self, instance: object | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = self.func(instance)
        instance.__dict__[self.name] = value
        return value


BytesLike = bytes | memoryview
"""Buffers the parsers accept (slices are copied out as ``bytes``)."""

COINBASE_PREV_TXID = bytes(32)
"""The null prevout hash of a coinbase input."""
COINBASE_PREV_VOUT = 0xFFFFFFFF
"""The null prevout index of a coinbase input."""

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_pack_u32 = _U32.pack
_pack_u64 = _U64.pack
_unpack_u32 = _U32.unpack_from
_unpack_u64 = _U64.unpack_from
_SEGWIT_MARKER_FLAG = b"\x00\x01"


@dataclass(frozen=True, slots=True)
class TxIn:
    """One transaction input: the spent outpoint, unlocking script, sequence and witness stack.

    >>> TxIn(bytes(32), 0xFFFFFFFF, b"\\x51", 0xFFFFFFFF).is_coinbase
    True
    """

    prev_txid: bytes
    prev_vout: int
    script_sig: bytes
    sequence: int
    witness: tuple[bytes, ...] = ()

    @property
    def is_coinbase(self) -> bool:
        """Whether this input spends the null outpoint (only a coinbase's input does)."""
        return self.prev_vout == COINBASE_PREV_VOUT and self.prev_txid == COINBASE_PREV_TXID


@dataclass(frozen=True, slots=True)
class TxOut:
    """One transaction output: an amount in satoshis and its locking script.

    >>> TxOut(5000000000, bytes.fromhex("51")).value
    5000000000
    """

    value: int
    script_pubkey: bytes


@dataclass(frozen=True)
class Tx:
    """A transaction. Serialisations and hashes are computed once and cached.

    >>> tx = Tx(2, (TxIn(bytes(32), 0xFFFFFFFF, b"\\x51\\x00", 0xFFFFFFFF),),
    ...         (TxOut(50, b"\\x51"),), 0)
    >>> tx.size, tx.weight, tx.vsize, tx.has_witness
    (63, 252, 63, False)
    >>> Tx.parse(tx.serialize()) == tx
    True
    """

    version: int
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    locktime: int

    # -- parsing -----------------------------------------------------------------------------

    @classmethod
    def parse(cls, raw: BytesLike) -> Tx:
        """Parse one whole transaction; trailing bytes are an error.

        >>> Tx.parse(bytes.fromhex("0100000000"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        chainsleuth.errors.BlockDataError: truncated transaction at offset 5 (started at 0, ...)
        """
        tx, end = cls.read_from(raw, 0)
        if end != len(raw):
            raise BlockDataError(
                f"trailing bytes after transaction: {len(raw) - end} bytes at offset {end}"
            )
        return tx

    @classmethod
    def read_from(cls, buf: BytesLike, offset: int = 0) -> tuple[Tx, int]:
        """Parse the transaction starting at ``offset``; return it and the offset just past it.

        >>> raw = Tx(1, (TxIn(bytes(32), 0xFFFFFFFF, b"", 0),), (), 0).serialize()
        >>> Tx.read_from(b"xx" + raw + b"yy", 2)[1] == 2 + len(raw)
        True
        """
        return _read_tx(buf, offset)

    # -- serialisation -----------------------------------------------------------------------

    def serialize(self, include_witness: bool = True) -> bytes:
        """Consensus serialisation; BIP144 witness form when ``include_witness`` and any witness.

        >>> tx = Tx(1, (TxIn(bytes(32), 0, b"", 0, (b"\\x01",)),), (), 0)
        >>> tx.serialize().hex()
        '0100000000010100000000000000000000000000000000000000000000000000000000000000000000000000000000000001010100000000'
        >>> len(tx.serialize(include_witness=False))
        51
        """
        if include_witness:
            return self._full_bytes
        return self._stripped_bytes

    @lazy_property
    def _stripped_bytes(self) -> bytes:
        return _serialize_stripped(self)

    @lazy_property
    def _full_bytes(self) -> bytes:
        if self.has_witness:
            return _serialize_with_witness(self, self._stripped_bytes)
        return self._stripped_bytes

    # -- derived properties ------------------------------------------------------------------

    @lazy_property
    def has_witness(self) -> bool:
        """Whether any input carries a non-empty witness stack."""
        return any(txin.witness for txin in self.inputs)

    @property
    def is_coinbase(self) -> bool:
        """Whether this is a coinbase: exactly one input, spending the null outpoint."""
        return len(self.inputs) == 1 and self.inputs[0].is_coinbase

    @lazy_property
    def txid(self) -> bytes:
        """Hash of the witness-stripped serialisation, display order."""
        return sha256d(self._stripped_bytes)[::-1]

    @lazy_property
    def wtxid(self) -> bytes:
        """Hash of the full (witness) serialisation, display order; equals txid without witness."""
        if not self.has_witness:
            return self.txid
        return sha256d(self._full_bytes)[::-1]

    @property
    def size(self) -> int:
        """Serialized size in bytes, witness included."""
        return len(self._full_bytes)

    @property
    def stripped_size(self) -> int:
        """Serialized size in bytes without witness data."""
        return len(self._stripped_bytes)

    @property
    def weight(self) -> int:
        """BIP141 weight: 3 x stripped size + full size."""
        return 3 * len(self._stripped_bytes) + len(self._full_bytes)

    @property
    def vsize(self) -> int:
        """Virtual size: weight / 4, rounded up."""
        return (self.weight + 3) // 4

    @property
    def total_output_value(self) -> int:
        """Sum of all output values in satoshis."""
        return sum(out.value for out in self.outputs)


_SMALL_COMPACT = tuple(bytes((n,)) for n in range(0xFD))


def _compact(n: int) -> bytes:
    return _SMALL_COMPACT[n] if n < 0xFD else encode_compact_size(n)


def _serialize_stripped(tx: Tx) -> bytes:
    parts: list[bytes] = [_pack_u32(tx.version), _compact(len(tx.inputs))]
    append = parts.append
    for txin in tx.inputs:
        append(txin.prev_txid[::-1])
        append(_pack_u32(txin.prev_vout))
        append(_compact(len(txin.script_sig)))
        append(txin.script_sig)
        append(_pack_u32(txin.sequence))
    append(_compact(len(tx.outputs)))
    for txout in tx.outputs:
        append(_pack_u64(txout.value))
        append(_compact(len(txout.script_pubkey)))
        append(txout.script_pubkey)
    append(_pack_u32(tx.locktime))
    return b"".join(parts)


def _serialize_with_witness(tx: Tx, stripped: bytes) -> bytes:
    """BIP144 form, reusing the stripped serialisation's body (inputs and outputs)."""
    parts: list[bytes] = [stripped[:4], _SEGWIT_MARKER_FLAG, stripped[4:-4]]
    append = parts.append
    for txin in tx.inputs:
        append(_compact(len(txin.witness)))
        for item in txin.witness:
            append(_compact(len(item)))
            append(item)
    append(stripped[-4:])
    return b"".join(parts)


class _TruncatedError(Exception):
    """Internal signal: the buffer ended inside the transaction."""


def _take(buf: BytesLike, pos: int, length: int, limit: int) -> tuple[bytes, int]:
    end = pos + length
    if end > limit:
        raise _TruncatedError
    return bytes(buf[pos:end]), end


def _read_tx(buf: BytesLike, offset: int) -> tuple[Tx, int]:
    limit = len(buf)
    pos = offset
    try:
        if pos + 4 > limit:
            raise _TruncatedError
        version = _unpack_u32(buf, pos)[0]
        pos += 4
        n_in, pos = read_compact_size(buf, pos)
        segwit = False
        if n_in == 0:
            if pos >= limit:
                raise _TruncatedError
            flag = buf[pos]
            if flag != 1:
                raise BlockDataError(
                    f"unknown transaction flag {flag:#04x} at offset {pos} (started at {offset})"
                )
            segwit = True
            pos += 1
            body_start = pos
            n_in, pos = read_compact_size(buf, pos)
        else:
            body_start = offset + 4
        # Each input needs at least 41 bytes: reject absurd counts before looping.
        if n_in * 41 > limit - pos:
            raise _TruncatedError
        ins: list[tuple[bytes, int, bytes, int]] = []
        for _ in range(n_in):
            if pos + 36 > limit:
                raise _TruncatedError
            prev_txid = bytes(buf[pos : pos + 32])[::-1]
            prev_vout = _unpack_u32(buf, pos + 32)[0]
            script_len, pos = read_compact_size(buf, pos + 36)
            script_sig, pos = _take(buf, pos, script_len, limit)
            if pos + 4 > limit:
                raise _TruncatedError
            sequence = _unpack_u32(buf, pos)[0]
            pos += 4
            ins.append((prev_txid, prev_vout, script_sig, sequence))
        n_out, pos = read_compact_size(buf, pos)
        if n_out * 9 > limit - pos:
            raise _TruncatedError
        outs: list[TxOut] = []
        for _ in range(n_out):
            if pos + 8 > limit:
                raise _TruncatedError
            value = _unpack_u64(buf, pos)[0]
            script_len, pos = read_compact_size(buf, pos + 8)
            script_pubkey, pos = _take(buf, pos, script_len, limit)
            outs.append(TxOut(value, script_pubkey))
        body_end = pos
        witnesses: list[tuple[bytes, ...]] = []
        if segwit:
            for _ in range(n_in):
                n_items, pos = read_compact_size(buf, pos)
                if n_items > limit - pos:
                    raise _TruncatedError
                items: list[bytes] = []
                for _ in range(n_items):
                    item_len, pos = read_compact_size(buf, pos)
                    item, pos = _take(buf, pos, item_len, limit)
                    items.append(item)
                witnesses.append(tuple(items))
            if not any(witnesses):
                raise BlockDataError(
                    f"superfluous witness record in transaction at offset {offset}"
                )
        if pos + 4 > limit:
            raise _TruncatedError
        locktime = _unpack_u32(buf, pos)[0]
        pos += 4
    except _TruncatedError:
        raise BlockDataError(
            f"truncated transaction at offset {pos} (started at {offset}, data ends at {limit})"
        ) from None

    if segwit:
        inputs = tuple(TxIn(p, v, s, q, w) for (p, v, s, q), w in zip(ins, witnesses, strict=True))
    else:
        inputs = tuple(TxIn(p, v, s, q) for p, v, s, q in ins)
    tx = Tx(version, inputs, tuple(outs), locktime)
    # The bytes just read are the canonical serialisation (CompactSizes are canonical and
    # superfluous witness records rejected), so seed the caches instead of re-serialising.
    cache = tx.__dict__
    full = bytes(buf[offset:pos])
    cache["_full_bytes"] = full
    cache["has_witness"] = segwit
    if segwit:
        cache["_stripped_bytes"] = b"".join((full[:4], bytes(buf[body_start:body_end]), full[-4:]))
    else:
        cache["_stripped_bytes"] = full
    return tx, pos
