"""Turn a run of consecutive main-chain blocks into dataset rows.

One :func:`process_batch` call parses the blocks with the numba walker, hashes txids with
hashlib over memoryviews, makes the block checks of ``chain/checks.py`` (those ``decode``
makes), classifies output scripts, assigns address ids, links inputs to the outputs they spend
and returns Arrow tables. Python work is per block and per transaction (hashing), never per
output, except for the address string of an address seen for the first time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from chainsleuth.chain.checks import Coinbase, block_error, check_block_roots, check_proof_of_work
from chainsleuth.chain.compact import read_compact_size
from chainsleuth.chain.network import Network
from chainsleuth.chain.script import SCRIPT_TYPES, classify_script_code
from chainsleuth.errors import BlockDataError
from chainsleuth.ingest.addresses import encode_addresses
from chainsleuth.ingest.kernels import (
    ERR_BAD_FLAG,
    ERR_NONE,
    ERR_TRAILING,
    SCRIPT_DEFERRED,
    classify_outputs,
    parse_blocks,
    script_keys,
)
from chainsleuth.ingest.resolve import BadOutputError, resolve_batch
from chainsleuth.ingest.sha256lanes import merkle_roots, words_to_bytes
from chainsleuth.ingest.txids import hash_txid_words
from chainsleuth.store.addrdict import AddressDictionary
from chainsleuth.store.hashindex import UtxoIndex
from chainsleuth.store.schema import TABLES

__all__ = [
    "BatchResult",
    "BlockInput",
    "IndexState",
    "PreparedBatch",
    "link_batch",
    "prepare_batch",
    "process_batch",
]

_SCRIPT_TYPE_NAMES = pa.array(SCRIPT_TYPES, pa.string())
_NO_ADDRESS = (SCRIPT_TYPES.index("nulldata"), SCRIPT_TYPES.index("nonstandard"))
_NULL_TXID = bytes(32)
_NULL_VOUT = 0xFFFFFFFF


@dataclass(slots=True)
class IndexState:
    """The growing state of an ingest: id counters and the two hash indexes."""

    utxo: UtxoIndex
    addrs: AddressDictionary
    next_tx_id: int = 0
    next_out_id: int = 0


@dataclass(frozen=True, slots=True)
class BlockInput:
    """A block to ingest: its height, hash (display order), bytes and where it came from."""

    height: int
    hash: bytes
    raw: bytes
    source: str
    offset: int


@dataclass(slots=True)
class PreparedBatch:
    """A walked, hashed, checked and classified batch, not yet linked to the chain state."""

    blocks: list[BlockInput]
    raw: bytes
    sizes: np.ndarray
    starts: np.ndarray
    tx: np.ndarray
    inp: np.ndarray
    out: np.ndarray
    txids: bytes
    t_size: np.ndarray
    t_vsize: np.ndarray
    t_weight: np.ndarray
    first_tx_of_block: np.ndarray
    ntx_of_block: np.ndarray
    coinbase: np.ndarray
    block_stripped: np.ndarray
    codes: np.ndarray
    k0: np.ndarray
    k1: np.ndarray
    wtxids: bytes
    pow_network: str | None
    """The network whose proof-of-work limit the blocks were checked against (None: not yet)."""


@dataclass(frozen=True, slots=True)
class NewAddresses:
    """A batch's first-seen addresses before their strings are made: the string encoding
    (base58check and bech32 in numba, ~0.75 µs per address) runs where :attr:`table` is read,
    the ingest's Parquet thread, not the thread that links the next batch.

    Holds the scripts gathered out of the batch (~25 B per address, the batch's bytes are
    not kept) and 22 B of columns per address.
    """

    scripts: np.ndarray
    """uint8: the scripts back to back"""
    starts: np.ndarray
    """int64: where each script starts in :attr:`scripts`"""
    lens: np.ndarray
    codes: np.ndarray
    addr_id: np.ndarray
    first_height: np.ndarray
    first_out_id: np.ndarray
    network: Network

    @property
    def table(self) -> pa.Table:
        """The ``addresses`` rows, strings encoded now."""
        strings = encode_addresses(self.scripts, self.starts, self.lens, self.codes, self.network)
        return pa.table(
            {
                "addr_id": self.addr_id,
                "address": strings.cast(pa.large_string()),
                "script_type": pc.take(_SCRIPT_TYPE_NAMES, pa.array(self.codes.astype(np.int32))),
                "first_height": self.first_height,
                "first_out_id": self.first_out_id,
            },
            schema=TABLES["addresses"],
        )


@dataclass(slots=True)
class BatchResult:
    """Rows produced from one batch, plus the spends it made (out_id → tx_id, vin, height).

    The ``addresses`` rows are built when first read (:class:`NewAddresses`)."""

    blocks: pa.Table
    txs: pa.Table
    outputs: pa.Table
    inputs: pa.Table
    new_addresses: NewAddresses
    spend_out_id: np.ndarray
    spend_tx_id: np.ndarray
    spend_vin: np.ndarray
    spend_height: np.ndarray

    @property
    def addresses(self) -> pa.Table:
        """The batch's ``addresses`` rows (first-seen addresses, strings encoded now)."""
        return self.new_addresses.table


@njit(cache=True, nogil=True)
def _gather(buf, offs, lens):  # type: ignore[no-untyped-def]
    total = 0
    for i in range(lens.shape[0]):
        total += lens[i]
    data = np.empty(total, dtype=np.uint8)
    offsets = np.empty(lens.shape[0] + 1, dtype=np.int64)
    pos = 0
    for i in range(lens.shape[0]):
        offsets[i] = pos
        data[pos : pos + lens[i]] = buf[offs[i] : offs[i] + lens[i]]
        pos += lens[i]
    offsets[lens.shape[0]] = pos
    return data, offsets


@njit(cache=True, nogil=True)
def _gather_hashes_reversed(buf, offs):  # type: ignore[no-untyped-def]
    out = np.empty(offs.shape[0] * 32, dtype=np.uint8)
    for i in range(offs.shape[0]):
        for b in range(32):
            out[i * 32 + b] = buf[offs[i] + 31 - b]
    return out


def _binary_array(buf: np.ndarray, offs: np.ndarray, lens: np.ndarray) -> pa.Array:
    data, offsets = _gather(buf, offs, lens)
    return pa.Array.from_buffers(
        pa.large_binary(), int(lens.shape[0]), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _hash_array(flat: bytes | np.ndarray, n: int) -> pa.Array:
    return pa.Array.from_buffers(pa.binary(32), n, [None, pa.py_buffer(flat)])


def _nullable(values: np.ndarray, null_mask: np.ndarray) -> pa.Array:
    return pa.array(values, mask=null_mask)


def _where(blk: BlockInput, pos_in_block: int = 0) -> str:
    return f"{blk.source} offset {blk.offset + pos_in_block}"


def _fail(blk: BlockInput, pos_in_block: int, what: str) -> BlockDataError:
    return block_error(blk.hash, what, blk.height, _where(blk, pos_in_block))


def prepare_batch(blocks: list[BlockInput], network: Network | None = None) -> PreparedBatch:
    """The state-free half of a batch: walk, hash, check and classify (runs in any process).

    The block checks are :func:`chainsleuth.chain.checks.check_block`'s, the ones ``decode``
    makes. Without ``network`` the proof-of-work limit is checked later, by :func:`link_batch`.
    Raises :class:`BlockDataError` naming the block (hash, height, file and offset) when it is
    truncated, malformed, or fails proof of work, its merkle root, coinbase or witness
    commitment.
    """
    raw = b"".join(b.raw for b in blocks)
    buf = np.frombuffer(raw, dtype=np.uint8)
    sizes = np.array([len(b.raw) for b in blocks], dtype=np.int64)
    ends = np.cumsum(sizes)
    starts = ends - sizes
    status, err_block, err_pos, tx, inp, out = parse_blocks(buf, starts, ends)
    if status != ERR_NONE:
        blk = blocks[err_block]
        what = {
            ERR_TRAILING: "bytes left after the last transaction",
            ERR_BAD_FLAG: "bad segwit flag byte",
        }.get(status, "truncated transaction data")
        return_err = _fail(blk, int(err_pos - starts[err_block]), what)
        raise return_err

    n_tx = tx.shape[0]
    tx_block = tx[:, 0]
    txid_words, wtxid_words = hash_txid_words(buf, tx)
    txids = words_to_bytes(txid_words).tobytes()
    wtxids = txids if wtxid_words is txid_words else words_to_bytes(wtxid_words).tobytes()

    # --- per-transaction sizes ---
    t_size = tx[:, 2] - tx[:, 1]
    t_stripped = np.where(tx[:, 5] == 1, tx[:, 4] - tx[:, 3] + 8, t_size)
    t_weight = t_stripped * 3 + t_size
    t_vsize = (t_weight + 3) // 4

    # --- block checks: PoW, merkle root, coinbase, witness commitment ---
    first_tx_of_block = np.searchsorted(tx_block, np.arange(len(blocks)))
    ntx_of_block = np.diff(np.append(first_tx_of_block, n_tx))
    coinbase = np.zeros(n_tx, dtype=np.bool_)
    coinbase[first_tx_of_block[ntx_of_block > 0]] = True
    # every block's merkle root (and mutation flag) in one batched call; the witness roots of
    # the blocks with witness data from their wtxids, the coinbase's counted as zero
    roots, mutated = merkle_roots(txid_words, first_tx_of_block, ntx_of_block)
    witness_block = _segment_sums(tx[:, 5], first_tx_of_block, ntx_of_block) > 0
    wleaves = wtxid_words.copy()
    wleaves[first_tx_of_block[ntx_of_block > 0]] = 0
    wroots, _ = merkle_roots(wleaves, first_tx_of_block[witness_block], ntx_of_block[witness_block])
    root_bytes = words_to_bytes(roots).tobytes()
    wroot_bytes = words_to_bytes(wroots).tobytes()
    witness_list = witness_block.tolist()
    mutated_list = mutated.tolist()
    stripped_sums = _segment_sums(t_stripped, first_tx_of_block, ntx_of_block).tolist()
    block_stripped: list[int] = []
    w = 0
    for b, blk in enumerate(blocks):
        f = int(first_tx_of_block[b])
        k = int(ntx_of_block[b])
        witness = witness_list[b]
        try:
            first = _coinbase(raw, tx, inp, out, f, witness) if k else None
        except BlockDataError as err:  # e.g. a non-canonical CompactSize in its witness
            raise _fail(blk, int(tx[f, 1] - starts[b]), f"coinbase: {err}") from None
        check_block_roots(
            blk.raw[:80],
            k,
            root_bytes[32 * b : 32 * b + 32],
            mutated_list[b],
            first,
            wroot_bytes[32 * w : 32 * w + 32] if witness else None,
            network,
            height=blk.height,
            where=_where(blk),
            expected_hash=blk.hash,
        )
        w += witness
        block_stripped.append(80 + _varint_len(k) + stripped_sums[b])

    # --- scripts: classify, key, address ids ---
    codes = classify_outputs(buf, out[:, 1], out[:, 2])
    deferred = np.nonzero(codes == SCRIPT_DEFERRED)[0]
    for o in deferred.tolist():
        codes[o] = classify_script_code(raw[out[o, 1] : out[o, 1] + out[o, 2]])
    k0, k1 = script_keys(buf, out[:, 1], out[:, 2])
    return PreparedBatch(
        blocks=[BlockInput(b.height, b.hash, b.raw[:80], b.source, b.offset) for b in blocks],
        raw=raw,
        sizes=sizes,
        starts=starts,
        tx=tx,
        inp=inp,
        out=out,
        txids=txids,
        t_size=t_size,
        t_vsize=t_vsize,
        t_weight=t_weight,
        first_tx_of_block=first_tx_of_block,
        ntx_of_block=ntx_of_block,
        coinbase=coinbase,
        block_stripped=np.array(block_stripped, dtype=np.int64),
        codes=codes,
        k0=k0,
        k1=k1,
        wtxids=wtxids,
        pow_network=None if network is None else network.name,
    )


def link_batch(prep: PreparedBatch, state: IndexState, network: Network) -> BatchResult:
    """The stateful half: assign address ids, link inputs through the UTXO index, build rows.

    Checks the blocks' proof of work against ``network``'s limit first unless
    :func:`prepare_batch` did. Raises :class:`BlockDataError` when that fails or an input spends
    an output that does not exist.
    """
    blocks, raw, sizes, starts = prep.blocks, prep.raw, prep.sizes, prep.starts
    if prep.pow_network != network.name:
        for blk in blocks:
            check_proof_of_work(
                blk.raw[:80], network, height=blk.height, where=_where(blk), expected_hash=blk.hash
            )
        prep.pow_network = network.name
    tx, inp, out, txids, wtxids = prep.tx, prep.inp, prep.out, prep.txids, prep.wtxids
    t_size, t_vsize, t_weight = prep.t_size, prep.t_vsize, prep.t_weight
    first_tx_of_block, ntx_of_block = prep.first_tx_of_block, prep.ntx_of_block
    coinbase, codes, k0, k1 = prep.coinbase, prep.codes, prep.k0, prep.k1
    block_stripped = prep.block_stripped
    buf = np.frombuffer(raw, dtype=np.uint8)
    n_tx = tx.shape[0]
    n_out = out.shape[0]
    tx_block = tx[:, 0]

    want = (codes != _NO_ADDRESS[0]) & (codes != _NO_ADDRESS[1])
    addr_ids, is_new = state.addrs.assign(k0, k1, want)

    # --- output ids and txids as dictionary keys ---
    base_tx = state.next_tx_id
    base_out = state.next_out_id
    txid_words = (
        np.frombuffer(bytes(txids), dtype="<u8").reshape(n_tx, 4)
        if n_tx
        else np.zeros((0, 4), dtype=np.uint64)
    )
    try:
        failed, in_out_id, in_value, in_addr, in_type, tx_in_value = resolve_batch(
            state.utxo,
            buf,
            tx,
            inp,
            coinbase,
            np.ascontiguousarray(txid_words[:, 0]),
            np.ascontiguousarray(txid_words[:, 1]),
            out[:, 0],
            codes,
            addr_ids,
            base_out,
        )
    except BadOutputError as bad:
        t = int(np.searchsorted(tx[:, 11], bad.output, side="right") - 1)
        blk = blocks[int(tx_block[t])]
        txid_hex = bytes(txids[32 * t : 32 * t + 32])[::-1].hex()
        raise _fail(
            blk,
            int(tx[t, 1] - starts[tx_block[t]]),
            f"tx {txid_hex} output {bad.output - int(tx[t, 11])}: {bad.reason}",
        ) from None
    if failed >= 0:
        t = int(np.searchsorted(tx[:, 10], failed, side="right") - 1)
        blk = blocks[int(tx_block[t])]
        prev = raw[inp[failed, 0] : inp[failed, 0] + 32][::-1].hex()
        txid_hex = bytes(txids[32 * t : 32 * t + 32])[::-1].hex()
        raise _fail(
            blk,
            int(tx[t, 1] - starts[tx_block[t]]),
            f"tx {txid_hex} input {failed - int(tx[t, 10])} spends unknown output "
            f"{prev}:{int(inp[failed, 1])}",
        )
    state.next_tx_id += n_tx
    state.next_out_id += n_out

    # --- assemble tables ---
    heights = np.array([b.height for b in blocks], dtype=np.int32)
    times_s = np.array([int.from_bytes(b.raw[68:72], "little") for b in blocks], dtype=np.int64)
    tx_ids = np.arange(base_tx, base_tx + n_tx, dtype=np.int64)
    tx_height = heights[tx_block]
    block_pos = (np.arange(n_tx) - first_tx_of_block[tx_block]).astype(np.int32)
    out_value_per_tx = np.add.reduceat(out[:, 0], tx[:, 11]) if n_out else np.zeros(0, np.int64)
    # reduceat on empty ranges returns the next element: transactions always have ≥ 1 output
    # in valid blocks, but guard anyway.
    out_value_per_tx = np.where(tx[:, 9] > 0, out_value_per_tx, 0)
    fee = np.where(coinbase, 0, tx_in_value - out_value_per_tx)
    time_us = times_s * 1_000_000

    blocks_tbl = pa.table(
        {
            "height": heights,
            "hash": _hash_array(b"".join(b.hash for b in blocks), len(blocks)),
            "prev_hash": _hash_array(b"".join(b.raw[4:36][::-1] for b in blocks), len(blocks)),
            "merkle_root": _hash_array(b"".join(b.raw[36:68][::-1] for b in blocks), len(blocks)),
            "time": pa.array(time_us, pa.timestamp("us", tz="UTC")),
            "version": np.array(
                [int.from_bytes(b.raw[0:4], "little", signed=True) for b in blocks], np.int32
            ),
            "bits": np.array([int.from_bytes(b.raw[72:76], "little") for b in blocks], np.uint32),
            "nonce": np.array([int.from_bytes(b.raw[76:80], "little") for b in blocks], np.uint32),
            "n_tx": ntx_of_block.astype(np.int32),
            "size": sizes.astype(np.int32),
            "stripped_size": block_stripped.astype(np.int32),
            "weight": (block_stripped * 3 + sizes).astype(np.int32),
            "first_tx_id": (first_tx_of_block + base_tx).astype(np.int64),
        },
        schema=TABLES["blocks"],
    )
    rev = np.frombuffer(bytes(txids), dtype=np.uint8).reshape(n_tx, 32)[:, ::-1]
    wrev = np.frombuffer(bytes(wtxids), dtype=np.uint8).reshape(n_tx, 32)[:, ::-1]
    txs_tbl = pa.table(
        {
            "tx_id": tx_ids,
            "txid": _hash_array(np.ascontiguousarray(rev).tobytes(), n_tx),
            "wtxid": _hash_array(np.ascontiguousarray(wrev).tobytes(), n_tx),
            "height": tx_height,
            "block_pos": block_pos,
            "time": pa.array(time_us[tx_block], pa.timestamp("us", tz="UTC")),
            "version": tx[:, 6].astype(np.uint32),
            "locktime": tx[:, 7].astype(np.uint32),
            "n_in": tx[:, 8].astype(np.int32),
            "n_out": tx[:, 9].astype(np.int32),
            "size": t_size.astype(np.int32),
            "vsize": t_vsize.astype(np.int32),
            "weight": t_weight.astype(np.int32),
            "is_coinbase": coinbase,
            "has_witness": tx[:, 5].astype(np.bool_),
            "in_value": tx_in_value,
            "out_value": out_value_per_tx,
            "fee": _nullable(fee, coinbase),
            "first_out_id": tx[:, 11] + base_out,
        },
        schema=TABLES["txs"],
    )
    out_tx = np.repeat(tx_ids, tx[:, 9])
    vout = (np.arange(n_out) - np.repeat(tx[:, 11], tx[:, 9])).astype(np.int32)
    out_ids = np.arange(base_out, base_out + n_out, dtype=np.int64)
    out_height = tx_height[np.repeat(np.arange(n_tx), tx[:, 9])]
    keys = np.empty((n_out, 2), dtype="<u8")
    keys[:, 0] = k0
    keys[:, 1] = k1
    outputs_tbl = pa.table(
        {
            "out_id": out_ids,
            "tx_id": out_tx,
            "vout": vout,
            "value": out[:, 0],
            "script_type": pc.take(_SCRIPT_TYPE_NAMES, pa.array(codes.astype(np.int32))),
            "addr_id": _nullable(addr_ids, addr_ids < 0),
            "script": _binary_array(buf, out[:, 1], out[:, 2]),
            "height": out_height,
            "script_key": pa.Array.from_buffers(
                pa.binary(16), n_out, [None, pa.py_buffer(keys.tobytes())]
            ),
        },
        schema=TABLES["outputs"],
    )
    n_in = inp.shape[0]
    in_tx_local = np.repeat(np.arange(n_tx), tx[:, 8])
    in_tx = tx_ids[in_tx_local]
    vin = (np.arange(n_in) - np.repeat(tx[:, 10], tx[:, 8])).astype(np.int32)
    in_cb = coinbase[in_tx_local]
    inputs_tbl = pa.table(
        {
            "tx_id": in_tx,
            "vin": vin,
            "out_id": _nullable(in_out_id, in_cb),
            "prev_txid": _hash_array(_gather_hashes_reversed(buf, inp[:, 0]), n_in),
            "prev_vout": inp[:, 1].astype(np.uint32),
            "sequence": inp[:, 2].astype(np.uint32),
            "value": _nullable(in_value, in_cb),
            "addr_id": _nullable(in_addr, in_cb | (in_addr < 0)),
            "script_type": pc.if_else(
                pa.array(in_cb),
                pa.scalar(None, pa.string()),
                pc.take(_SCRIPT_TYPE_NAMES, pa.array(in_type.astype(np.int32))),
            ),
            "script_sig_size": inp[:, 4].astype(np.int32),
            "witness_count": inp[:, 5].astype(np.int32),
            "witness_size": inp[:, 6].astype(np.int32),
            "height": tx_height[in_tx_local],
        },
        schema=TABLES["inputs"],
    )
    new_idx = np.nonzero(is_new)[0]
    new_lens = out[new_idx, 2]
    scripts, script_at = _gather(buf, out[new_idx, 1], new_lens)
    new_addresses = NewAddresses(
        scripts,
        script_at[:-1],
        new_lens,
        codes[new_idx],
        addr_ids[new_idx],
        out_height[new_idx],
        out_ids[new_idx],
        network,
    )
    spent = ~in_cb
    return BatchResult(
        blocks_tbl,
        txs_tbl,
        outputs_tbl,
        inputs_tbl,
        new_addresses,
        in_out_id[spent],
        in_tx[spent],
        vin[spent],
        tx_height[in_tx_local][spent],
    )


def process_batch(blocks: list[BlockInput], state: IndexState, network: Network) -> BatchResult:
    """Parse, check and link a batch of consecutive blocks, updating ``state``.

    Raises :class:`BlockDataError` naming the block file and offset when a block is truncated,
    malformed, fails proof of work, its merkle root or its witness commitment, or spends an
    output that does not exist.
    """
    return link_batch(prepare_batch(blocks, network), state, network)


def _segment_sums(values: np.ndarray, first: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Sums of ``values[first[i]:first[i]+count[i]]`` (empty segments give 0)."""
    cs = np.zeros(values.shape[0] + 1, dtype=np.int64)
    np.cumsum(values, out=cs[1:])
    return cs[first + count] - cs[first]


def _varint_len(n: int) -> int:
    return 1 if n < 0xFD else 3 if n <= 0xFFFF else 5 if n <= 0xFFFFFFFF else 9


def _coinbase(
    raw: bytes, tx: np.ndarray, inp: np.ndarray, out: np.ndarray, t: int, witness: bool
) -> Coinbase:
    """The check's view of transaction row ``t``; scripts and witness only when ``witness``."""
    row = tx[t].tolist()  # Python ints: cheaper than numpy scalars for a handful of reads
    n_in, fi = row[8], row[10]
    prev_at, prev_vout = inp[fi, :2].tolist() if n_in else (0, 0)
    null_prevout = prev_vout == _NULL_VOUT and raw[prev_at : prev_at + 32] == _NULL_TXID
    is_coinbase = n_in == 1 and null_prevout
    if not witness:
        return Coinbase(is_coinbase, (), ())
    scripts = [raw[at : at + size] for _, at, size in out[row[11] : row[11] + row[9]].tolist()]
    stack: list[bytes] = []
    if n_in and row[5]:  # the first input's witness stack opens the witness section
        count, pos = read_compact_size(raw, row[4])
        for _ in range(count):
            size, pos = read_compact_size(raw, pos)
            stack.append(raw[pos : pos + size])
            pos += size
    return Coinbase(is_coinbase, scripts, stack)
