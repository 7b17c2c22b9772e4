"""Executor work of the Spark ingest: block ranges parsed with the embedded engine's walker.

Each task is a :class:`RangeTask` — consecutive best-chain blocks, where they lie in the block
files and the dense ids their first transaction and output take (prefix sums the driver made
from :func:`count_range`'s per-block counts). A task reads its blocks, runs the embedded
ingest's state-free half (:func:`chainsleuth.ingest.batch.prepare_batch`: the numba walker,
txid hashing, every block check ``decode`` makes, script classification and keys) and writes
four staging files under the run's scratch folder: rows of ``blocks`` and ``txs`` complete but
for the input sums, ``outputs`` without address ids and ``inputs`` not yet linked. Nothing is
shared between tasks; the driver's joins finish the rows (:mod:`chainsleuth.spark.ingest`).

Staging columns use the types Spark reads (``binary`` for hashes, ``int64`` for ``uint32`` and
for times in microseconds, the script type as its code); :mod:`chainsleuth.spark.parts` casts
them back to the contract's schemas when it writes the parts.

>>> from chainsleuth.chain.network import get_network
>>> from chainsleuth.ingest.sources import FileSource
>>> src = FileSource(Path("tests/data/regtest-core-a/blocks"), get_network("regtest"))
>>> task = range_tasks(src, 0, 9, span=100, target_bytes=1 << 20)[0]
>>> counts = count_range(task)
>>> counts.error, counts.heights.tolist()[:3], int(counts.n_tx.sum()), len(counts.heights)
(None, [0, 1, 2], 10, 10)
>>> src.close()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from chainsleuth.chain.network import get_network
from chainsleuth.chain.script import SCRIPT_TYPES
from chainsleuth.errors import BlockDataError
from chainsleuth.ingest.batch import BlockInput, PreparedBatch, prepare_batch
from chainsleuth.ingest.blkfiles import BlockFiles, BlockRecord
from chainsleuth.ingest.kernels import ERR_NONE, parse_blocks
from chainsleuth.ingest.sources import FileSource
from chainsleuth.store.hashindex import ERR_VALUE, ERR_VOUT, VALUE_LIMIT, VOUT_LIMIT, insert_error

__all__ = [
    "NO_ADDRESS_CODES",
    "NULLDATA",
    "STAGING",
    "BlockCounts",
    "RangeTask",
    "count_range",
    "parse_range",
    "range_tasks",
]

NULLDATA = SCRIPT_TYPES.index("nulldata")
NO_ADDRESS_CODES = (NULLDATA, SCRIPT_TYPES.index("nonstandard"))
"""Script types that get no address id (the embedded ingest's rule)."""

_BIN = pa.binary()
STAGING: dict[str, pa.Schema] = {
    "blocks": pa.schema(
        [
            ("height", pa.int32()),
            ("hash", _BIN),
            ("prev_hash", _BIN),
            ("merkle_root", _BIN),
            ("time", pa.int64()),
            ("version", pa.int32()),
            ("bits", pa.int64()),
            ("nonce", pa.int64()),
            ("n_tx", pa.int32()),
            ("size", pa.int32()),
            ("stripped_size", pa.int32()),
            ("weight", pa.int32()),
            ("first_tx_id", pa.int64()),
        ]
    ),
    "txs": pa.schema(
        [
            ("tx_id", pa.int64()),
            ("txid", _BIN),
            ("wtxid", _BIN),
            ("height", pa.int32()),
            ("block_pos", pa.int32()),
            ("time", pa.int64()),
            ("version", pa.int64()),
            ("locktime", pa.int64()),
            ("n_in", pa.int32()),
            ("n_out", pa.int32()),
            ("size", pa.int32()),
            ("vsize", pa.int32()),
            ("weight", pa.int32()),
            ("is_coinbase", pa.bool_()),
            ("has_witness", pa.bool_()),
            ("out_value", pa.int64()),
            ("first_out_id", pa.int64()),
        ]
    ),
    "outputs": pa.schema(
        [
            ("out_id", pa.int64()),
            ("tx_id", pa.int64()),
            ("vout", pa.int32()),
            ("value", pa.int64()),
            ("code", pa.int32()),
            ("script", _BIN),
            ("height", pa.int32()),
            ("script_key", _BIN),
            ("txid", _BIN),
            ("range_lo", pa.int32()),
        ]
    ),
    "inputs": pa.schema(
        [
            ("tx_id", pa.int64()),
            ("vin", pa.int32()),
            ("prev_txid", _BIN),
            ("prev_vout", pa.int64()),
            ("sequence", pa.int64()),
            ("script_sig_size", pa.int32()),
            ("witness_count", pa.int32()),
            ("witness_size", pa.int32()),
            ("height", pa.int32()),
            ("is_coinbase", pa.bool_()),
        ]
    ),
}
"""Schemas of the staging files a :func:`parse_range` task writes (one file per table)."""


@dataclass(frozen=True, slots=True)
class RangeTask:
    """Blocks ``lo..hi`` of the best chain: where each lies and the ids the range starts at."""

    lo: int
    hi: int
    directory: str
    paths: tuple[str, ...]
    key: bytes
    network: str
    hashes: tuple[bytes, ...]
    records: tuple[tuple[int, int, int], ...]
    """(file index, offset, size) of each block, ``lo`` first."""
    first_tx_id: int = 0
    first_out_id: int = 0


@dataclass(slots=True)
class BlockCounts:
    """Per-block row counts of one range (the driver's prefix sums), or the error that
    stopped it (one line naming the block)."""

    heights: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    n_tx: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    n_out: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    n_in: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    error: str | None = None


def range_tasks(src: FileSource, lo: int, hi: int, span: int, target_bytes: int) -> list[RangeTask]:
    """Blocks ``lo..hi`` of ``src`` cut into tasks of about ``target_bytes`` that never cross
    a partition boundary (every ``span`` heights)."""
    files = src.files
    common = {
        "directory": str(files.directory),
        "paths": tuple(str(p) for p in files.paths),
        "key": bytes(files.key),
        "network": files.network.name,
    }
    tasks: list[RangeTask] = []
    start = lo
    size = 0
    for h in range(lo, hi + 1):
        size += src.records[h].size
        if size >= target_bytes or h == hi or (h + 1) % span == 0:
            recs = src.records[start : h + 1]
            tasks.append(
                RangeTask(
                    lo=start,
                    hi=h,
                    hashes=tuple(src.hashes[start : h + 1]),
                    records=tuple((r.file_index, r.offset, r.size) for r in recs),
                    **common,  # type: ignore[arg-type]
                )
            )
            start = h + 1
            size = 0
    return tasks


def _read_blocks(task: RangeTask) -> list[BlockInput]:
    files = BlockFiles(
        Path(task.directory), get_network(task.network), task.key, [Path(p) for p in task.paths]
    )
    try:
        out = []
        for i, (fi, offset, size) in enumerate(task.records):
            raw = files.read_block(BlockRecord(fi, offset, size, b""))
            label = Path(task.paths[fi]).name
            out.append(BlockInput(task.lo + i, task.hashes[i], raw, label, offset))
        return out
    finally:
        files.close()


def count_range(task: RangeTask) -> BlockCounts:
    """Transactions, outputs and inputs of each block of the range (the walker alone, no
    hashing). A block the walker cannot parse gives the embedded ingest's error."""
    try:
        blocks = _read_blocks(task)
    except BlockDataError as err:
        return BlockCounts(error=str(err))
    except OSError as err:
        return BlockCounts(error=f"cannot read block files of {task.directory}: {err}")
    raws = [b.raw for b in blocks]
    buf = np.frombuffer(b"".join(raws), dtype=np.uint8)
    sizes = np.array([len(r) for r in raws], dtype=np.int64)
    ends = np.cumsum(sizes)
    status, _, _, tx, _, _ = parse_blocks(buf, ends - sizes, ends)
    if status != ERR_NONE:
        try:
            prepare_batch(blocks, get_network(task.network))
        except BlockDataError as err:
            return BlockCounts(error=str(err))
        return BlockCounts(error=f"blocks {task.lo}..{task.hi}: walker status {status}")
    n = len(blocks)
    block_of = tx[:, 0]
    return BlockCounts(
        heights=np.arange(task.lo, task.hi + 1, dtype=np.int64),
        n_tx=np.bincount(block_of, minlength=n).astype(np.int64),
        n_out=np.bincount(block_of, weights=tx[:, 9], minlength=n).astype(np.int64),
        n_in=np.bincount(block_of, weights=tx[:, 8], minlength=n).astype(np.int64),
    )


def parse_range(task: RangeTask, staging: str) -> str | None:
    """Parse and check the range, write its staging rows to ``staging/<table>/<lo>.parquet``;
    returns None, or the one-line error of the first bad block."""
    net = get_network(task.network)
    try:
        prep = prepare_batch(_read_blocks(task), net)
        tables = _rows(prep, task.first_tx_id, task.first_out_id)
    except BlockDataError as err:
        return str(err)
    name = f"r{task.lo:09d}.parquet"
    for table, rows in tables.items():
        folder = Path(staging) / table
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / (name + ".tmp")
        pq.write_table(rows, tmp, compression="lz4")
        tmp.replace(folder / name)
    return None


def _hashes(flat: bytes, n: int, reverse: bool) -> pa.Array:
    """``n`` 32-byte hashes as a binary column (byte order reversed: display order)."""
    arr = np.frombuffer(flat, dtype=np.uint8).reshape(n, 32)
    if reverse:
        arr = arr[:, ::-1]
    data = np.ascontiguousarray(arr).tobytes()
    offsets = np.arange(0, 32 * n + 1, 32, dtype=np.int32)
    return pa.Array.from_buffers(_BIN, n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _slices(buf: np.ndarray, offs: np.ndarray, lens: np.ndarray) -> pa.Array:
    """The byte strings ``buf[offs[i]:offs[i]+lens[i]]`` as a binary column."""
    n = int(offs.shape[0])
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    idx = np.repeat(offs - offsets[:-1], lens) + np.arange(int(offsets[-1]), dtype=np.int64)
    data = buf[idx]
    return pa.Array.from_buffers(
        pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data.tobytes())]
    ).cast(_BIN)


def _bad_outputs(prep: PreparedBatch, vout: np.ndarray) -> None:
    """The consensus bounds the embedded UTXO index enforces on every output it holds."""
    out, codes = prep.out, prep.codes
    held = codes != NULLDATA
    bad_value = held & ((out[:, 0] < 0) | (out[:, 0] > VALUE_LIMIT))
    bad_vout = held & (vout >= VOUT_LIMIT)
    bad = np.flatnonzero(bad_value | bad_vout)
    if bad.shape[0] == 0:
        return
    o = int(bad[0])
    t = int(np.searchsorted(prep.tx[:, 11], o, side="right") - 1)
    blk = prep.blocks[int(prep.tx[t, 0])]
    txid_hex = prep.txids[32 * t : 32 * t + 32][::-1].hex()
    reason = insert_error(ERR_VALUE if bad_value[o] else ERR_VOUT)
    raise BlockDataError(
        f"block {blk.hash.hex()} at height {blk.height} ({blk.source} offset "
        f"{blk.offset + int(prep.tx[t, 1] - prep.starts[prep.tx[t, 0]])}): tx {txid_hex} "
        f"output {int(vout[o])}: {reason}"
    )


def _rows(prep: PreparedBatch, base_tx: int, base_out: int) -> dict[str, pa.Table]:
    """The staging rows of a prepared range whose first transaction and output get the ids
    ``base_tx`` and ``base_out`` (the same assembly as the embedded ``link_batch``)."""
    blocks, tx, inp, out = prep.blocks, prep.tx, prep.inp, prep.out
    buf = np.frombuffer(prep.raw, dtype=np.uint8)
    n_tx, n_out, n_in = tx.shape[0], out.shape[0], inp.shape[0]
    tx_block = tx[:, 0]
    first_of_block = prep.first_tx_of_block
    heights = np.array([b.height for b in blocks], dtype=np.int32)
    headers = [b.raw[:80] for b in blocks]
    times_us = np.array([int.from_bytes(h[68:72], "little") for h in headers], np.int64) * 1_000_000
    n_blocks = len(blocks)

    tx_ids = np.arange(base_tx, base_tx + n_tx, dtype=np.int64)
    tx_height = heights[tx_block]
    out_value = np.add.reduceat(out[:, 0], tx[:, 11]) if n_out else np.zeros(n_tx, np.int64)
    out_value = np.where(tx[:, 9] > 0, out_value, 0)
    out_local_tx = np.repeat(np.arange(n_tx), tx[:, 9])
    vout = np.arange(n_out, dtype=np.int64) - tx[out_local_tx, 11]
    _bad_outputs(prep, vout)

    blocks_tbl = pa.table(
        {
            "height": heights,
            "hash": _hashes(b"".join(b.hash for b in blocks), n_blocks, reverse=False),
            "prev_hash": _hashes(b"".join(h[4:36] for h in headers), n_blocks, reverse=True),
            "merkle_root": _hashes(b"".join(h[36:68] for h in headers), n_blocks, reverse=True),
            "time": times_us,
            "version": np.array(
                [int.from_bytes(h[0:4], "little", signed=True) for h in headers], np.int32
            ),
            "bits": np.array([int.from_bytes(h[72:76], "little") for h in headers], np.int64),
            "nonce": np.array([int.from_bytes(h[76:80], "little") for h in headers], np.int64),
            "n_tx": prep.ntx_of_block.astype(np.int32),
            "size": prep.sizes.astype(np.int32),
            "stripped_size": prep.block_stripped.astype(np.int32),
            "weight": (prep.block_stripped * 3 + prep.sizes).astype(np.int32),
            "first_tx_id": (first_of_block + base_tx).astype(np.int64),
        },
        schema=STAGING["blocks"],
    )
    txids = _hashes(prep.txids, n_tx, reverse=True)
    txs_tbl = pa.table(
        {
            "tx_id": tx_ids,
            "txid": txids,
            "wtxid": _hashes(prep.wtxids, n_tx, reverse=True),
            "height": tx_height,
            "block_pos": (np.arange(n_tx) - first_of_block[tx_block]).astype(np.int32),
            "time": times_us[tx_block],
            "version": tx[:, 6].astype(np.uint32).astype(np.int64),
            "locktime": tx[:, 7].astype(np.uint32).astype(np.int64),
            "n_in": tx[:, 8].astype(np.int32),
            "n_out": tx[:, 9].astype(np.int32),
            "size": prep.t_size.astype(np.int32),
            "vsize": prep.t_vsize.astype(np.int32),
            "weight": prep.t_weight.astype(np.int32),
            "is_coinbase": prep.coinbase,
            "has_witness": tx[:, 5].astype(np.bool_),
            "out_value": out_value.astype(np.int64),
            "first_out_id": (tx[:, 11] + base_out).astype(np.int64),
        },
        schema=STAGING["txs"],
    )
    keys = np.empty((n_out, 2), dtype="<u8")
    keys[:, 0] = prep.k0
    keys[:, 1] = prep.k1
    key_offsets = np.arange(0, 16 * n_out + 1, 16, dtype=np.int32)
    outputs_tbl = pa.table(
        {
            "out_id": np.arange(base_out, base_out + n_out, dtype=np.int64),
            "tx_id": tx_ids[out_local_tx],
            "vout": vout.astype(np.int32),
            "value": out[:, 0].astype(np.int64),
            "code": prep.codes.astype(np.int32),
            "script": _slices(buf, out[:, 1], out[:, 2]),
            "height": tx_height[out_local_tx],
            "script_key": pa.Array.from_buffers(
                _BIN, n_out, [None, pa.py_buffer(key_offsets), pa.py_buffer(keys.tobytes())]
            ),
            "txid": txids.take(pa.array(out_local_tx)),
            "range_lo": np.full(n_out, heights[0] if n_blocks else 0, dtype=np.int32),
        },
        schema=STAGING["outputs"],
    )
    in_local_tx = np.repeat(np.arange(n_tx), tx[:, 8])
    prev = buf[(inp[:, 0][:, None] + np.arange(32)).reshape(-1)] if n_in else np.zeros(0, np.uint8)
    inputs_tbl = pa.table(
        {
            "tx_id": tx_ids[in_local_tx],
            "vin": (np.arange(n_in) - np.repeat(tx[:, 10], tx[:, 8])).astype(np.int32),
            "prev_txid": _hashes(prev.tobytes(), n_in, reverse=True),
            "prev_vout": inp[:, 1].astype(np.uint32).astype(np.int64),
            "sequence": inp[:, 2].astype(np.uint32).astype(np.int64),
            "script_sig_size": inp[:, 4].astype(np.int32),
            "witness_count": inp[:, 5].astype(np.int32),
            "witness_size": inp[:, 6].astype(np.int32),
            "height": tx_height[in_local_tx],
            "is_coinbase": prep.coinbase[in_local_tx],
        },
        schema=STAGING["inputs"],
    )
    return {"blocks": blocks_tbl, "txs": txs_tbl, "outputs": outputs_tbl, "inputs": inputs_tbl}
