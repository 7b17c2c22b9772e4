"""Bitcoin blocks: header and block parse / serialize, proof of work, merkle and witness checks.

Hashes in the public API (``prev_hash``, ``merkle_root``, ``hash``, ``compute_merkle_root()``,
``compute_witness_root()``) are in display byte order: ``block.hash.hex()`` is what Core prints.

>>> from chainsleuth.chain.tx import TxIn
>>> genesis = Block.build(bytes(32), [Tx(1, (TxIn(bytes(32), 0xFFFFFFFF, b"\\x51\\x00",
...     0xFFFFFFFF),), (TxOut(50, b"\\x51"),), 0)], time=1296688602, bits=0x207FFFFF)
>>> genesis.check_pow() and genesis.compute_merkle_root() == genesis.header.merkle_root
True
>>> Block.parse(genesis.serialize()) == genesis
True
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace

from chainsleuth.chain.checks import (
    WITNESS_COMMITMENT_PREFIX,
    Coinbase,
    check_block,
    find_witness_commitment,
    pow_problem,
    target_from_bits,
    witness_commitment,
)
from chainsleuth.chain.compact import encode_compact_size, read_compact_size
from chainsleuth.chain.hashes import merkle_root, sha256d
from chainsleuth.chain.network import Network
from chainsleuth.chain.tx import BytesLike, Tx, TxOut, lazy_property
from chainsleuth.errors import BlockDataError, InputError

__all__ = [
    "HEADER_SIZE",
    "WITNESS_COMMITMENT_PREFIX",
    "Block",
    "BlockHeader",
    "make_witness_commitment_output",
    "with_witness_commitment",
]

HEADER_SIZE = 80
"""Bytes in a serialized block header."""

_HEADER = struct.Struct("<i32s32sIII")
_NONCE = struct.Struct("<I")
_MAX_NONCE = 0xFFFFFFFF


@dataclass(frozen=True)
class BlockHeader:
    """The 80-byte block header; ``prev_hash`` and ``merkle_root`` in display order.

    >>> h = BlockHeader(1, bytes(32), bytes(32), 0, 0x207FFFFF, 0)
    >>> len(h.serialize()), BlockHeader.parse(h.serialize()) == h
    (80, True)
    """

    version: int
    prev_hash: bytes
    merkle_root: bytes
    time: int
    bits: int
    nonce: int

    @classmethod
    def parse(cls, raw: BytesLike, offset: int = 0) -> BlockHeader:
        """Parse the 80 header bytes at ``offset``.

        >>> BlockHeader.parse(bytes(79))
        Traceback (most recent call last):
        ...
        chainsleuth.errors.BlockDataError: truncated block header at offset 0: 79 of 80 bytes
        """
        if offset + HEADER_SIZE > len(raw):
            raise BlockDataError(
                f"truncated block header at offset {offset}: "
                f"{max(0, len(raw) - offset)} of {HEADER_SIZE} bytes"
            )
        version, prev, root, time, bits, nonce = _HEADER.unpack_from(raw, offset)
        header = cls(version, prev[::-1], root[::-1], time, bits, nonce)
        header.__dict__["_bytes"] = bytes(raw[offset : offset + HEADER_SIZE])
        return header

    def serialize(self) -> bytes:
        """The 80-byte consensus serialisation."""
        return self._bytes

    @lazy_property
    def _bytes(self) -> bytes:
        return _HEADER.pack(
            self.version,
            self.prev_hash[::-1],
            self.merkle_root[::-1],
            self.time,
            self.bits,
            self.nonce,
        )

    @lazy_property
    def hash(self) -> bytes:
        """Block hash (double SHA-256 of the header), display order."""
        return sha256d(self._bytes)[::-1]

    @property
    def target(self) -> int | None:
        """The target encoded in ``bits`` (None when Core would reject ``bits``)."""
        return target_from_bits(self.bits)

    def check_pow(self, network: Network | None = None) -> bool:
        """Whether the header passes Core's ``CheckProofOfWork`` on ``network``.

        The target in ``bits`` must be valid and within the network's limit (with no network,
        the easiest limit of all), and the hash, as a number, at or below it.

        >>> BlockHeader(1, bytes(32), bytes(32), 0, 0x03000000, 0).check_pow()
        False
        """
        return pow_problem(self.hash, self.bits, network) is None


@dataclass(frozen=True)
class Block:
    """A block: header and transactions (the first one the coinbase).

    >>> from chainsleuth.chain.tx import TxIn
    >>> blk = Block.build(bytes(32), [Tx(1, (TxIn(bytes(32), 0xFFFFFFFF, b"\\x51\\x00",
    ...     0xFFFFFFFF),), (TxOut(50, b"\\x51"),), 0)], time=0, bits=0x207FFFFF)
    >>> blk.size, blk.weight, blk.bip34_height()
    (144, 576, 1)
    """

    header: BlockHeader
    txs: tuple[Tx, ...]

    # -- parsing / serialisation -------------------------------------------------------------

    @classmethod
    def parse(cls, raw: BytesLike) -> Block:
        """Parse one whole block (header, tx count, transactions); trailing bytes are an error."""
        block, end = cls.read_from(raw, 0)
        if end != len(raw):
            raise BlockDataError(
                f"trailing bytes after block: {len(raw) - end} bytes at offset {end}"
            )
        return block

    @classmethod
    def read_from(cls, buf: BytesLike, offset: int = 0) -> tuple[Block, int]:
        """Parse the block starting at ``offset``; return it and the offset just past it."""
        header = BlockHeader.parse(buf, offset)
        n_tx, pos = read_compact_size(buf, offset + HEADER_SIZE)
        if n_tx * 60 > len(buf) - pos:  # a transaction is at least 60 bytes
            raise BlockDataError(
                f"truncated block at offset {offset}: {n_tx} transactions cannot fit in "
                f"{len(buf) - pos} bytes"
            )
        txs: list[Tx] = []
        read_tx = Tx.read_from
        for _ in range(n_tx):
            tx, pos = read_tx(buf, pos)
            txs.append(tx)
        return cls(header, tuple(txs)), pos

    def serialize(self) -> bytes:
        """Consensus serialisation with witness data (the form of ``getblock <hash> 0``)."""
        return b"".join(
            (
                self.header.serialize(),
                encode_compact_size(len(self.txs)),
                *(tx.serialize() for tx in self.txs),
            )
        )

    # -- derived properties ------------------------------------------------------------------

    @property
    def hash(self) -> bytes:
        """Block hash, display order."""
        return self.header.hash

    def check_pow(self, network: Network | None = None) -> bool:
        """Whether the header passes ``CheckProofOfWork`` (:meth:`BlockHeader.check_pow`)."""
        return self.header.check_pow(network)

    @lazy_property
    def size(self) -> int:
        """Serialized size in bytes, witness data included."""
        return HEADER_SIZE + len(encode_compact_size(len(self.txs))) + sum(t.size for t in self.txs)

    @lazy_property
    def stripped_size(self) -> int:
        """Serialized size in bytes without witness data."""
        return (
            HEADER_SIZE
            + len(encode_compact_size(len(self.txs)))
            + sum(t.stripped_size for t in self.txs)
        )

    @property
    def weight(self) -> int:
        """BIP141 weight: 3 x stripped size + full size."""
        return 3 * self.stripped_size + self.size

    @property
    def has_witness(self) -> bool:
        """Whether any transaction carries witness data."""
        return any(tx.has_witness for tx in self.txs)

    def compute_merkle_root(self) -> bytes:
        """Merkle root of the txids, display order (compare with ``header.merkle_root``)."""
        return merkle_root([tx.txid[::-1] for tx in self.txs])[::-1]

    def compute_witness_root(self) -> bytes:
        """BIP141 witness merkle root (coinbase wtxid taken as zero), display order."""
        return _witness_root_wire([tx.wtxid for tx in self.txs[1:]])[::-1]

    def witness_commitment(self) -> bytes | None:
        """The 32-byte commitment of the coinbase's last ``6a24aa21a9ed…`` output, or None.

        Returned as the bytes stand in the script (not reversed).
        """
        if not self.txs:
            return None
        return find_witness_commitment([out.script_pubkey for out in self.txs[0].outputs])

    def compute_witness_commitment(self) -> bytes | None:
        """SHA256d(witness root ‖ reserved value) as it should appear in the coinbase.

        None when the coinbase has no single 32-byte witness item (the reserved value).
        """
        if not self.txs:
            return None
        witness = self.txs[0].inputs[0].witness if self.txs[0].inputs else ()
        if len(witness) != 1 or len(witness[0]) != 32:
            return None
        return witness_commitment([tx.wtxid[::-1] for tx in self.txs[1:]], witness[0])

    def bip34_height(self) -> int | None:
        """Height pushed first in the coinbase scriptSig (BIP34), or None before version 2.

        >>> Block(BlockHeader(1, bytes(32), bytes(32), 0, 0, 0), ()).bip34_height() is None
        True
        """
        if self.header.version < 2 or not self.txs or not self.txs[0].inputs:
            return None
        return _script_first_number(self.txs[0].inputs[0].script_sig)

    # -- verification ------------------------------------------------------------------------

    def check(
        self,
        source: str | None = None,
        offset: int = 0,
        *,
        network: Network | None = None,
        height: int | None = None,
    ) -> None:
        """Check proof of work, the merkle root and (with witness data) the witness commitment.

        The checks of :func:`chainsleuth.chain.checks.check_block`, which the ingest also uses.
        Raises :class:`BlockDataError` with one line naming the block (hash, ``height`` when
        given, ``source`` and ``offset`` when given) and the reason, e.g.
        ``block 0000…d1 (blk00000.dat offset 1234): merkle root mismatch (...)``.
        """
        txs = self.txs
        witness = any(tx.has_witness for tx in txs)
        check_block(
            self.header.serialize(),
            [tx.txid[::-1] for tx in txs],
            Coinbase.of(txs[0]) if txs else None,
            [tx.wtxid[::-1] for tx in txs[1:]] if witness else None,
            network,
            height=height,
            where=None if source is None else f"{source} offset {offset}",
        )

    # -- building ----------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        prev_hash: bytes,
        txs: Sequence[Tx],
        time: int,
        bits: int,
        version: int = 0x20000000,
    ) -> Block:
        """Assemble a block over ``txs`` (coinbase first) and grind the nonce until PoW holds.

        Cheap on regtest bits (0x207fffff: about two tries); ``prev_hash`` in display order.
        Add a witness commitment to the coinbase first with :func:`with_witness_commitment`.

        >>> from chainsleuth.chain.tx import TxIn
        >>> cb = Tx(1, (TxIn(bytes(32), 0xFFFFFFFF, b"\\x51\\x00", 0xFFFFFFFF),), (), 0)
        >>> Block.build(bytes(32), [cb], time=0, bits=0x207FFFFF).check()
        """
        if not txs:
            raise InputError("cannot build a block without transactions")
        target = target_from_bits(bits)
        if target is None:
            raise InputError(f"invalid bits {bits:08x}")
        txids_wire = [tx.txid[::-1] for tx in txs]
        if len(set(txids_wire)) != len(txids_wire):
            raise InputError("cannot build a block that holds the same transaction twice")
        root = merkle_root(txids_wire)
        prefix = _HEADER.pack(version, prev_hash[::-1], root, time, bits, 0)[:76]
        pack_nonce = _NONCE.pack
        for nonce in range(_MAX_NONCE + 1):
            raw = prefix + pack_nonce(nonce)
            if int.from_bytes(sha256d(raw), "little") <= target:
                header = BlockHeader.parse(raw)
                return cls(header, tuple(txs))
        raise InputError(f"no nonce satisfies bits {bits:08x} at time {time}")

    def with_nonce(self, nonce: int) -> Block:
        """The same block with another header nonce (for tests of proof-of-work failures)."""
        return Block(replace(self.header, nonce=nonce), self.txs)


def _witness_root_wire(other_wtxids_display: Sequence[bytes]) -> bytes:
    return merkle_root([bytes(32), *(w[::-1] for w in other_wtxids_display)])


def make_witness_commitment_output(
    wtxids: Sequence[bytes], reserved_value: bytes = bytes(32)
) -> TxOut:
    """The BIP141 commitment output for a coinbase.

    ``wtxids`` are the display-order wtxids of the block's NON-coinbase transactions, in block
    order (the coinbase counts as zero). ``reserved_value`` must be the coinbase input's single
    witness item.

    >>> make_witness_commitment_output([]).script_pubkey.hex()[:12]
    '6a24aa21a9ed'
    """
    if len(reserved_value) != 32:
        raise InputError(f"witness reserved value must be 32 bytes, got {len(reserved_value)}")
    commitment = witness_commitment([w[::-1] for w in wtxids], reserved_value)
    return TxOut(0, WITNESS_COMMITMENT_PREFIX + commitment)


def with_witness_commitment(
    coinbase: Tx, other_txs: Sequence[Tx], reserved_value: bytes = bytes(32)
) -> Tx:
    """``coinbase`` with the commitment output appended and the reserved value as its witness.

    >>> from chainsleuth.chain.tx import TxIn
    >>> cb = Tx(2, (TxIn(bytes(32), 0xFFFFFFFF, b"\\x51\\x00", 0xFFFFFFFF),), (), 0)
    >>> len(with_witness_commitment(cb, []).outputs), with_witness_commitment(cb, []).has_witness
    (1, True)
    """
    out = make_witness_commitment_output([tx.wtxid for tx in other_txs], reserved_value)
    first = replace(coinbase.inputs[0], witness=(reserved_value,))
    return Tx(
        coinbase.version,
        (first, *coinbase.inputs[1:]),
        (*coinbase.outputs, out),
        coinbase.locktime,
    )


def _script_first_number(script: bytes) -> int | None:
    """The number pushed by the script's first opcode (OP_0, OP_1..OP_16 or a ≤ 8-byte push)."""
    if not script:
        return None
    op = script[0]
    if op == 0x00:
        return 0
    if 0x51 <= op <= 0x60:
        return op - 0x50
    if 1 <= op <= 8 and len(script) > op:
        data = script[1 : 1 + op]
        value = int.from_bytes(data, "little")
        if data[-1] & 0x80:  # sign bit: a negative number is no height
            return None
        return value
    return None
