"""The consensus checks of one block, as Bitcoin Core makes them; decode and ingest both use them.

What is checked, in Core's order (``CheckBlockHeader`` / ``CheckBlock`` /
``CheckWitnessMalleation``):

1. proof of work (``CheckProofOfWork``): ``nBits`` decoded by Core's ``SetCompact`` rules must
   give a target that is not negative, not zero, does not overflow 256 bits and is at most the
   network's ``powLimit``; the header hash, as a number, must be at most that target;
2. at least one transaction, and a merkle root over the txids equal to the header's and not
   mutated (CVE-2012-2459: two identical hashes paired at some level, ``bad-txns-duplicate``);
3. the first transaction is a coinbase;
4. BIP141, when any transaction carries witness data: the coinbase's last
   ``6a24aa21a9ed…`` output commits to SHA256d(witness merkle root ‖ the coinbase's single
   32-byte witness item). Without witness data a commitment is not checked (height, hence
   segwit activation, is not always known here).

:func:`check_block` works on the block's raw parts (header bytes, txids, the coinbase), which
both :meth:`chainsleuth.chain.block.Block.check` and the ingest's ``prepare_batch`` have at hand.
A failure raises :class:`~chainsleuth.errors.BlockDataError` with one line naming the block
and the reason::

    block 00000000d1145790…dee at height 170 (blk00000.dat offset 1234): merkle root mismatch (…)

>>> decode_compact(0x1D00FFFF).target == 0xFFFF << 208
True
>>> encode_compact(0xFFFF << 208)
486604799
>>> hex(encode_compact(decode_compact(0x04923456).target, negative=True))
'0x4923456'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from chainsleuth.chain.hashes import merkle_root, merkle_root_mutated, sha256d
from chainsleuth.chain.network import NETWORKS, Network
from chainsleuth.chain.tx import Tx
from chainsleuth.errors import BlockDataError

__all__ = [
    "ANY_NETWORK_POW_LIMIT",
    "WITNESS_COMMITMENT_PREFIX",
    "Coinbase",
    "CompactTarget",
    "block_error",
    "block_work",
    "check_block",
    "check_block_roots",
    "check_proof_of_work",
    "decode_compact",
    "encode_compact",
    "find_witness_commitment",
    "pow_problem",
    "target_from_bits",
    "witness_commitment",
]

WITNESS_COMMITMENT_PREFIX = bytes.fromhex("6a24aa21a9ed")
"""OP_RETURN, push 36, and the BIP141 commitment header ``aa21a9ed``."""
ANY_NETWORK_POW_LIMIT = max(net.pow_limit for net in NETWORKS.values())
"""The easiest ``powLimit`` of all networks (regtest's): the limit when no network is given."""

_SIGN_BIT = 0x00800000
_MANTISSA = 0x007FFFFF
_UINT256 = (1 << 256) - 1


class CompactTarget(NamedTuple):
    """A compact ``nBits`` decoded as Core's ``arith_uint256::SetCompact`` decodes it.

    ``target`` is the 256-bit value (bits shifted past 256 are lost, as in Core); ``negative``
    and ``overflow`` are Core's ``pfNegative`` and ``pfOverflow``.
    """

    target: int
    negative: bool
    overflow: bool


def decode_compact(bits: int) -> CompactTarget:
    """Decode a 32-bit compact number: 8-bit base-256 exponent, sign bit, 23-bit mantissa.

    The sign and overflow flags only count for a non-zero mantissa (after the right shift of a
    1-3 byte exponent), exactly as in Core.

    >>> decode_compact(0x1D00FFFF)[1:], decode_compact(0x01803456)  # sign bit shifted out
    ((False, False), CompactTarget(target=0, negative=False, overflow=False))
    >>> decode_compact(0x04923456).negative, decode_compact(0x23000001).overflow
    (True, True)
    """
    exponent = bits >> 24
    mantissa = bits & _MANTISSA
    if exponent <= 3:
        mantissa >>= 8 * (3 - exponent)
        value = mantissa
    else:
        value = mantissa << (8 * (exponent - 3))
    return CompactTarget(
        value & _UINT256,
        mantissa != 0 and bits & _SIGN_BIT != 0,
        value.bit_length() > 256,  # Core spells it out: size > 34, or > 33 with a 2-byte word…
    )


def encode_compact(target: int, negative: bool = False) -> int:
    """The compact ``nBits`` of a 256-bit number (Core's ``GetCompact``): rounds down.

    >>> hex(encode_compact((1 << 224) - 1)), hex(encode_compact(0x80))
    ('0x1d00ffff', '0x2008000')
    """
    if not 0 <= target <= _UINT256:
        raise ValueError(f"not a 256-bit unsigned number: {target:#x}")
    size = (target.bit_length() + 7) // 8
    mantissa = target << (8 * (3 - size)) if size <= 3 else target >> (8 * (size - 3))
    if mantissa & _SIGN_BIT:  # would read as the sign: move one byte into the exponent
        mantissa >>= 8
        size += 1
    sign = _SIGN_BIT if negative and mantissa else 0
    return size << 24 | sign | mantissa


def target_from_bits(bits: int) -> int | None:
    """The target of ``nBits``; None when Core would call it negative, zero or overflowing.

    >>> hex(target_from_bits(0x1D00FFFF)), target_from_bits(0x04923456)
    ('0xffff0000000000000000000000000000000000000000000000000000', None)
    """
    target, negative, overflow = decode_compact(bits)
    if negative or overflow or target == 0:
        return None
    return target


def block_work(bits: int) -> int:
    """Expected hashes to find a block at ``bits`` (Core's ``GetBlockProof``); 0 if invalid.

    >>> block_work(0x1D00FFFF), block_work(0x207FFFFF), block_work(0x23000001)
    (4295032833, 2, 0)
    """
    target = target_from_bits(bits)
    return 0 if target is None else (1 << 256) // (target + 1)


def pow_problem(block_hash: bytes, bits: int, network: Network | None = None) -> str | None:
    """Why ``block_hash`` (display order) fails Core's ``CheckProofOfWork``, or None if it passes.

    The limit is ``network``'s ``powLimit``; with no network, the easiest of all (regtest's).

    >>> from chainsleuth.chain.network import get_network
    >>> pow_problem(bytes(32), 0x23000001, get_network("main"))
    'nBits 0x23000001 target overflows 256 bits'
    >>> pow_problem(bytes(32), 0x207FFFFF, get_network("main"))
    "nBits 0x207fffff target above main's proof-of-work limit 0x1d00ffff"
    >>> pow_problem(b"\\xff" * 32, 0x1D00FFFF, get_network("main"))
    'hash above the target of nBits 0x1d00ffff'
    """
    pow_limit = ANY_NETWORK_POW_LIMIT if network is None else network.pow_limit
    target, negative, overflow = decode_compact(bits)
    if negative:
        return f"nBits {bits:#010x} target is negative (sign bit 0x00800000 set)"
    if overflow:
        return f"nBits {bits:#010x} target overflows 256 bits"
    if target == 0:
        return f"nBits {bits:#010x} target is zero"
    if target > pow_limit:
        return (
            f"nBits {bits:#010x} target above "
            f"{'every network' if network is None else network.name}'s proof-of-work limit "
            f"{encode_compact(pow_limit):#010x}"
        )
    if int.from_bytes(block_hash, "big") > target:
        return f"hash above the target of nBits {bits:#010x}"
    return None


def block_error(
    block_hash: bytes, reason: str, height: int | None = None, where: str | None = None
) -> BlockDataError:
    """The one-line error naming a block (hash, height if known, where it was read) and why.

    >>> str(block_error(bytes(32), "merkle root mismatch", 5, "blk00000.dat offset 8"))[-60:]
    '00 at height 5 (blk00000.dat offset 8): merkle root mismatch'
    """
    at = f" at height {height}" if height is not None else ""
    src = f" ({where})" if where else ""
    return BlockDataError(f"block {block_hash.hex()}{at}{src}: {reason}")


def check_proof_of_work(
    header: bytes,
    network: Network | None = None,
    *,
    height: int | None = None,
    where: str | None = None,
    expected_hash: bytes | None = None,
) -> bytes:
    """Check an 80-byte header's proof of work on ``network``; return its hash (display order).

    With no network the limit is the easiest of all (:data:`ANY_NETWORK_POW_LIMIT`).
    ``expected_hash`` (display order) is the hash the block was fetched by, when there is one.

    >>> check_proof_of_work(bytes(72) + bytes.fromhex("01008000") + bytes(4), height=7)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainsleuth.errors.BlockDataError: block ... at height 7: nBits 0x00800001 target is zero
    """
    block_hash = sha256d(header)[::-1]
    if expected_hash is not None and block_hash != expected_hash:
        raise block_error(
            expected_hash, f"its header hashes to {block_hash.hex()} instead", height, where
        )
    reason = pow_problem(block_hash, int.from_bytes(header[72:76], "little"), network)
    if reason is not None:
        raise block_error(block_hash, reason, height, where)
    return block_hash


class Coinbase(NamedTuple):
    """What the checks read of a block's first transaction (the ingest has no :class:`Tx`).

    ``output_scripts`` and ``witness`` (its first input's witness stack) are only read when the
    block carries witness data.
    """

    is_coinbase: bool
    output_scripts: Sequence[bytes]
    witness: Sequence[bytes]

    @classmethod
    def of(cls, tx: Tx) -> Coinbase:
        """The parts of a parsed transaction.

        >>> from chainsleuth.chain.tx import TxIn, TxOut
        >>> Coinbase.of(Tx(1, (TxIn(bytes(32), 0xFFFFFFFF, b"", 0),), (TxOut(0, b"\\x51"),), 0))
        Coinbase(is_coinbase=True, output_scripts=[b'Q'], witness=())
        """
        witness = tx.inputs[0].witness if tx.inputs else ()
        return cls(tx.is_coinbase, [out.script_pubkey for out in tx.outputs], witness)


def find_witness_commitment(output_scripts: Sequence[bytes]) -> bytes | None:
    """The 32 bytes after the last ``6a24aa21a9ed`` output script prefix (≥ 38 bytes), or None.

    >>> find_witness_commitment([b"\\x51", WITNESS_COMMITMENT_PREFIX + bytes(range(32))])[:4]
    b'\\x00\\x01\\x02\\x03'
    """
    for script in reversed(output_scripts):
        if len(script) >= 38 and script.startswith(WITNESS_COMMITMENT_PREFIX):
            return bytes(script[6:38])
    return None


def witness_commitment(wtxids: Sequence[bytes], reserved_value: bytes) -> bytes:
    """SHA256d(witness merkle root ‖ reserved value), the coinbase's wtxid counted as zero.

    ``wtxids`` are wire-order (byte-reversed display) wtxids of the NON-coinbase transactions.

    >>> witness_commitment([], bytes(32)) == sha256d(bytes(64))
    True
    """
    return sha256d(merkle_root([bytes(32), *wtxids]) + reserved_value)


def _witness_problem(coinbase: Coinbase, witness_root: bytes) -> str | None:
    found = find_witness_commitment(coinbase.output_scripts)
    if found is None:
        return "witness data but no witness commitment in the coinbase"
    witness = coinbase.witness
    if len(witness) != 1 or len(witness[0]) != 32:
        return "witness commitment unverifiable: the coinbase witness is not one 32-byte item"
    expected = sha256d(witness_root + witness[0])
    if found != expected:
        return f"witness commitment mismatch (coinbase {found.hex()}, computed {expected.hex()})"
    return None


def check_block(
    header: bytes,
    txids: Sequence[bytes],
    coinbase: Coinbase | None,
    wtxids: Sequence[bytes] | None,
    network: Network | None = None,
    *,
    height: int | None = None,
    where: str | None = None,
    expected_hash: bytes | None = None,
) -> None:
    """Check a block from its parts; raise :class:`BlockDataError` naming it on the first failure.

    ``header`` is the 80 raw header bytes; ``txids`` every transaction's txid in block order,
    wire byte order; ``coinbase`` the first transaction's parts (None if there is none);
    ``wtxids`` the wire-order wtxids of the transactions after the first when any transaction
    carries witness data, else None. ``network`` gives the proof-of-work limit (none: the
    easiest one); ``height``, ``where`` and ``expected_hash`` are as in
    :func:`check_proof_of_work`.

    >>> from chainsleuth.chain.block import Block
    >>> from chainsleuth.chain.tx import TxIn
    >>> cb = Tx(1, (TxIn(bytes(32), 0xFFFFFFFF, b"\\x51\\x00", 0xFFFFFFFF),), (), 0)
    >>> header = Block.build(bytes(32), [cb], time=0, bits=0x207FFFFF).header.serialize()
    >>> check_block(header, [cb.txid[::-1]], Coinbase.of(cb), None)  # passes: returns None
    >>> check_block(header, [bytes(32)], Coinbase.of(cb), None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainsleuth.errors.BlockDataError: block ...: merkle root mismatch (header ..., computed 00...)
    """
    if not txids:
        block_hash = check_proof_of_work(
            header, network, height=height, where=where, expected_hash=expected_hash
        )
        raise block_error(block_hash, "no transactions", height, where)
    root, mutated = merkle_root_mutated(txids)
    check_block_roots(
        header,
        len(txids),
        root,
        mutated,
        coinbase,
        None if wtxids is None else merkle_root([bytes(32), *wtxids]),
        network,
        height=height,
        where=where,
        expected_hash=expected_hash,
    )


def check_block_roots(
    header: bytes,
    n_tx: int,
    root: bytes,
    mutated: bool,
    coinbase: Coinbase | None,
    witness_root: bytes | None,
    network: Network | None = None,
    *,
    height: int | None = None,
    where: str | None = None,
    expected_hash: bytes | None = None,
) -> None:
    """:func:`check_block` from merkle roots computed elsewhere (the ingest's batched kernels).

    ``root`` and ``mutated`` are :func:`~chainsleuth.chain.hashes.merkle_root_mutated` of the
    txids; ``witness_root`` is the merkle root of the wtxids with the coinbase's counted as zero,
    None when no transaction carries witness data. Same checks, same errors, same order.

    >>> from chainsleuth.chain.block import Block
    >>> from chainsleuth.chain.tx import TxIn
    >>> cb = Tx(1, (TxIn(bytes(32), 0xFFFFFFFF, b"\\x51\\x00", 0xFFFFFFFF),), (), 0)
    >>> header = Block.build(bytes(32), [cb], time=0, bits=0x207FFFFF).header.serialize()
    >>> check_block_roots(header, 1, cb.txid[::-1], False, Coinbase.of(cb), None)  # passes
    """
    block_hash = check_proof_of_work(
        header, network, height=height, where=where, expected_hash=expected_hash
    )
    if n_tx == 0:
        raise block_error(block_hash, "no transactions", height, where)
    if root != header[36:68]:
        raise block_error(
            block_hash,
            f"merkle root mismatch (header {header[36:68][::-1].hex()}, computed "
            f"{root[::-1].hex()})",
            height,
            where,
        )
    if mutated:
        raise block_error(
            block_hash,
            "mutated merkle tree: identical hashes paired, duplicate transactions "
            "(bad-txns-duplicate, CVE-2012-2459)",
            height,
            where,
        )
    if coinbase is None or not coinbase.is_coinbase:
        raise block_error(block_hash, "first transaction is not a coinbase", height, where)
    if witness_root is not None:
        reason = _witness_problem(coinbase, witness_root)
        if reason is not None:
            raise block_error(block_hash, reason, height, where)
