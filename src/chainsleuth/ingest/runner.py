"""The resumable ingest: block files → height-partitioned Parquet dataset.

Blocks of the most-work chain are processed in height order, in batches, and each fixed height
range (``partition_span`` blocks) becomes one Parquet part per table. Parts are written to a
temporary name and renamed into place; the manifest is written last, at checkpoints. A run
always restarts at the beginning of the first partition the manifest does not hold completely,
so a killed and re-run ingest writes byte-identical files.

Outputs spent by a later partition get their ``spent_by_tx``/``spent_by_vin`` at the next
checkpoint, when the touched output parts are rewritten.

>>> from pathlib import Path
>>> import tempfile
>>> report = ingest_blocks(Path("tests/data/regtest-core-a/blocks"),
...                        Path(tempfile.mkdtemp()) / "ds", "regtest", to_height=5)
>>> report.tip_height
5
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chainsleuth.chain.network import Network, get_network
from chainsleuth.errors import BlockDataError, DatasetError, InputError
from chainsleuth.ingest.batch import (
    BlockInput,
    IndexState,
    PreparedBatch,
    link_batch,
    prepare_batch,
)
from chainsleuth.ingest.rebuild import rebuild_state
from chainsleuth.ingest.sources import BlockSource, open_source
from chainsleuth.store.catalog import write_catalog
from chainsleuth.store.hashindex import AddressIndex, UtxoIndex
from chainsleuth.store.manifest import Manifest, Partition
from chainsleuth.store.parts import TMP_SUFFIX, part_name, sha256_file, write_table_atomic
from chainsleuth.store.schema import TABLE_NAMES

__all__ = ["DEFAULT_PARTITION_SPAN", "IngestReport", "ingest_blocks"]

DEFAULT_PARTITION_SPAN = 1000
BATCH_BYTES = 16 << 20
CHECKPOINT_SECONDS = 300.0

ProgressHook = Callable[[int, int, int], None]
"""Called as hook(blocks_done, txs_done, blocks_total) after each batch."""


@dataclass(slots=True)
class IngestReport:
    """What an ingest run did."""

    tip_height: int
    tip_hash: str
    blocks_added: int = 0
    txs_added: int = 0
    stale_blocks: int = 0
    unconnected_blocks: int = 0
    truncated: list[str] = field(default_factory=list)
    seconds: float = 0.0
    up_to_date: bool = False


@dataclass(slots=True)
class _LateSpends:
    """Spends of outputs whose part is already written; applied at the next checkpoint."""

    out_id: list[np.ndarray] = field(default_factory=list)
    tx_id: list[np.ndarray] = field(default_factory=list)
    vin: list[np.ndarray] = field(default_factory=list)

    def add(self, out_id: np.ndarray, tx_id: np.ndarray, vin: np.ndarray) -> None:
        if out_id.shape[0]:
            self.out_id.append(out_id)
            self.tx_id.append(tx_id)
            self.vin.append(vin)

    def take(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.out_id:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty.astype(np.int32)
        o = np.concatenate(self.out_id)
        t = np.concatenate(self.tx_id)
        v = np.concatenate(self.vin).astype(np.int32)
        self.out_id.clear()
        self.tx_id.clear()
        self.vin.clear()
        order = np.argsort(o, kind="stable")
        return o[order], t[order], v[order]


def ingest_blocks(
    source: Path | str,
    data: Path | str,
    network: str = "main",
    *,
    to_height: int | None = None,
    partition_span: int | None = None,
    progress: bool | ProgressHook = False,
    checkpoint_seconds: float = CHECKPOINT_SECONDS,
    workers: int = 1,
) -> IngestReport:
    """Ingest (or continue ingesting) the blocks of ``source`` into the dataset ``data``.

    ``source`` is a Bitcoin Core ``blocks/`` directory or a datadir. The manifest is
    rewritten (a resumable checkpoint) every ``checkpoint_seconds`` and at the end. With
    ``workers`` > 1, walking, hashing and checking run in that many processes while this one
    links and writes; the output is identical. Raises
    :class:`~chainsleuth.errors.UserError` subclasses for bad input, naming the bad value.
    """
    started = time.monotonic()
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    net = get_network(network)
    data = Path(data)
    src = open_source(source, net)
    try:
        manifest = _open_or_create(data, net.name, partition_span)
        span = manifest.partition_span
        n_blocks = len(src.hashes)
        target = n_blocks - 1 if to_height is None else min(to_height, n_blocks - 1)
        _roll_back_reorg(data, manifest, src.hashes)
        kept = [p for p in manifest.partitions if p.complete]
        start = kept[-1].hi + 1 if kept else 0
        report = IngestReport(
            tip_height=manifest.tip_height,
            tip_hash=manifest.tip_hash,
            stale_blocks=src.n_stale,
            unconnected_blocks=src.n_unconnected,
            truncated=list(src.truncated),
        )
        if start > target or (
            manifest.tip_height >= target and not _partial_needs_redo(manifest, target)
        ):
            report.up_to_date = True
            report.seconds = time.monotonic() - started
            if not (data / "chainsleuth.duckdb").exists():
                write_catalog(data, manifest)
            return report
        manifest.partitions = list(kept)
        state = IndexState(UtxoIndex(), AddressIndex())
        _clean_leftovers(data, manifest)
        rebuild_state(data, manifest, state)
        hook = progress if callable(progress) else None
        total_blocks = target - start + 1
        done_blocks = 0
        done_txs = 0
        late = _LateSpends()
        last_checkpoint = time.monotonic()
        pool = (
            ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
            if workers > 1
            else None
        )
        try:
            for lo in range(start, target + 1, span):
                hi = min(lo + span - 1, target)
                try:
                    part = _ingest_partition(
                        src,
                        lo,
                        hi,
                        span,
                        state,
                        net,
                        late,
                        data,
                        manifest,
                        pool,
                    )
                except BlockDataError:
                    # Keep what was completed before the bad block, then report it.
                    if len(manifest.partitions) > len(kept):
                        _checkpoint(data, manifest, late, src.hashes)
                        write_catalog(data, manifest)
                    raise
                done_blocks += hi - lo + 1
                done_txs += part.n_txs
                if hook:
                    hook(done_blocks, done_txs, total_blocks)
                report.txs_added += part.n_txs
                if time.monotonic() - last_checkpoint >= checkpoint_seconds or hi == target:
                    _checkpoint(data, manifest, late, src.hashes)
                    last_checkpoint = time.monotonic()
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        report.blocks_added = total_blocks
        report.tip_height = manifest.tip_height
        report.tip_hash = manifest.tip_hash
        write_catalog(data, manifest)
        report.seconds = time.monotonic() - started
        return report
    finally:
        src.close()


def _partial_needs_redo(manifest: Manifest, target: int) -> bool:
    last = manifest.partitions[-1] if manifest.partitions else None
    return last is not None and not last.complete and last.last_height < target


def _open_or_create(data: Path, network: str, span: int | None) -> Manifest:
    if (data / "manifest.json").exists():
        manifest = Manifest.load(data)
        if manifest.network != network:
            raise DatasetError(
                f"dataset {data} is {manifest.network}, not {network} "
                f"(use --network {manifest.network})"
            )
        return manifest
    if data.exists() and any(data.iterdir()) and not (data / "tables").exists():
        raise DatasetError(f"{data} is not empty and not a chainsleuth dataset")
    if span is not None and span < 1:
        raise DatasetError(f"partition span must be positive, got {span}")
    data.mkdir(parents=True, exist_ok=True)
    manifest = Manifest.new(network, span or DEFAULT_PARTITION_SPAN)
    manifest.save(data)  # records network and span at once, so a killed first run resumes alike
    return manifest


def _roll_back_reorg(data: Path, manifest: Manifest, hashes: list[bytes]) -> None:
    """Drop partitions at and above a fork between the dataset and the block files."""
    if manifest.tip_height < 0:
        return
    tip = manifest.tip_height
    if tip < len(hashes) and hashes[tip].hex() == manifest.tip_hash:
        return
    # Find the highest stored height whose hash still matches.
    files = [data / f for f in manifest.files if f.startswith("tables/blocks/")]
    stored = pq.read_table(files, columns=["height", "hash"]) if files else None
    fork = -1
    if stored is not None:
        heights = stored.column("height").to_pylist()
        stored_hashes = stored.column("hash").to_pylist()
        for h, bh in sorted(zip(heights, stored_hashes, strict=True)):
            if h < len(hashes) and hashes[h] == bh:
                fork = h
            else:
                break
    keep = [p for p in manifest.partitions if p.hi <= fork]
    manifest.partitions = keep
    manifest.tip_height = keep[-1].last_height if keep else -1


def _clean_leftovers(data: Path, manifest: Manifest) -> None:
    """Remove temp files and undo spends recorded by a run the manifest does not cover."""
    tables = data / "tables"
    if tables.exists():
        for tmp in tables.rglob(f"*{TMP_SUFFIX}"):
            tmp.unlink()
    next_tx = (
        manifest.partitions[-1].first_tx_id + manifest.partitions[-1].n_txs
        if manifest.partitions
        else 0
    )
    for p in manifest.partitions:
        path = data / "tables" / "outputs" / part_name(p.lo, manifest.partition_span)
        meta = pq.ParquetFile(path).metadata
        idx = meta.schema.to_arrow_schema().get_field_index("spent_by_tx")
        needs = False
        for rg in range(meta.num_row_groups):
            stats = meta.row_group(rg).column(idx).statistics
            if stats is None or (stats.has_min_max and stats.max >= next_tx):
                needs = True
        if not needs:
            continue
        tbl = pq.read_table(path)
        spent, vin, mask = _spends_of(tbl)
        mask |= spent >= next_tx
        write_table_atomic(_with_spends(tbl, spent, vin, mask), path)
        manifest.files[f"tables/outputs/{path.name}"] = sha256_file(path)


def _spends_of(tbl: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(spent_by_tx, spent_by_vin, is_unspent) of an outputs part as writable numpy arrays."""
    col_tx = tbl.column("spent_by_tx")
    col_vin = tbl.column("spent_by_vin")
    spent = pc.fill_null(col_tx, 0).to_numpy().astype(np.int64, copy=True)
    vin = pc.fill_null(col_vin, 0).to_numpy().astype(np.int32, copy=True)
    mask = col_tx.is_null().to_numpy(zero_copy_only=False).copy()
    return spent, vin, mask


def _with_spends(
    tbl: pa.Table, spent_tx: np.ndarray, spent_vin: np.ndarray, null_mask: np.ndarray
) -> pa.Table:
    i_tx = tbl.schema.get_field_index("spent_by_tx")
    i_vin = tbl.schema.get_field_index("spent_by_vin")
    tbl = tbl.set_column(i_tx, "spent_by_tx", pa.array(spent_tx, pa.int64(), mask=null_mask))
    return tbl.set_column(i_vin, "spent_by_vin", pa.array(spent_vin, pa.int32(), mask=null_mask))


def _batches(src: BlockSource, lo: int, hi: int) -> Iterator[list[BlockInput]]:
    """Consecutive blocks lo..hi grouped into batches of about BATCH_BYTES."""
    batch: list[BlockInput] = []
    size = 0
    for h in range(lo, hi + 1):
        raw, label, offset = src.read(h)
        batch.append(BlockInput(h, src.hashes[h], raw, label, offset))
        size += len(raw)
        if size >= BATCH_BYTES or h == hi:
            yield batch
            batch = []
            size = 0


def _prepared(src: BlockSource, lo: int, hi: int, pool: Executor | None) -> Iterator[PreparedBatch]:
    """Prepared batches in chain order; with a pool, several are prepared ahead in parallel."""
    if pool is None:
        for batch in _batches(src, lo, hi):
            yield prepare_batch(batch)
        return
    ahead: deque[Future[PreparedBatch]] = deque()
    limit = 2 * getattr(pool, "_max_workers", 2)
    for batch in _batches(src, lo, hi):
        ahead.append(pool.submit(prepare_batch, batch))
        if len(ahead) >= limit:
            yield ahead.popleft().result()
    while ahead:
        yield ahead.popleft().result()


def _ingest_partition(
    src: BlockSource,
    lo: int,
    hi: int,
    span: int,
    state: IndexState,
    net: Network,
    late: _LateSpends,
    data: Path,
    manifest: Manifest,
    pool: Executor | None = None,
) -> Partition:
    first_tx = state.next_tx_id
    first_out = state.next_out_id
    first_addr = state.addrs.count
    results = [link_batch(prep, state, net) for prep in _prepared(src, lo, hi, pool)]
    tables = {name: pa.concat_tables([getattr(r, name) for r in results]) for name in TABLE_NAMES}
    # Spends of this partition's own outputs go straight into its outputs part.
    s_out = np.concatenate([r.spend_out_id for r in results])
    s_tx = np.concatenate([r.spend_tx_id for r in results])
    s_vin = np.concatenate([r.spend_vin for r in results])
    own = s_out >= first_out
    n_out = state.next_out_id - first_out
    spent_tx = np.zeros(n_out, dtype=np.int64)
    spent_vin = np.zeros(n_out, dtype=np.int32)
    unspent = np.ones(n_out, dtype=np.bool_)
    idx = s_out[own] - first_out
    spent_tx[idx] = s_tx[own]
    spent_vin[idx] = s_vin[own]
    unspent[idx] = False
    tables["outputs"] = _with_spends(tables["outputs"], spent_tx, spent_vin, unspent)
    late.add(s_out[~own], s_tx[~own], s_vin[~own])
    name = part_name(lo, span)
    for table_name, tbl in tables.items():
        path = data / "tables" / table_name / name
        write_table_atomic(tbl, path)
        manifest.files[f"tables/{table_name}/{name}"] = sha256_file(path)
    part = Partition(
        lo=lo,
        hi=lo + span - 1,
        last_height=hi,
        first_tx_id=first_tx,
        n_txs=state.next_tx_id - first_tx,
        first_out_id=first_out,
        n_outputs=n_out,
        n_inputs=tables["inputs"].num_rows,
        first_addr_id=first_addr,
        n_addresses=state.addrs.count - first_addr,
    )
    manifest.partitions.append(part)
    return part


def _checkpoint(data: Path, manifest: Manifest, late: _LateSpends, hashes: list[bytes]) -> None:
    """Apply pending spends to earlier output parts, then write the manifest."""
    out_id, tx_id, vin = late.take()
    if out_id.shape[0]:
        firsts = np.array([p.first_out_id for p in manifest.partitions], dtype=np.int64)
        which = np.searchsorted(firsts, out_id, side="right") - 1
        bounds = np.flatnonzero(np.diff(which)) + 1
        for chunk in np.split(np.arange(out_id.shape[0]), bounds):
            p = manifest.partitions[int(which[chunk[0]])]
            path = data / "tables" / "outputs" / part_name(p.lo, manifest.partition_span)
            tbl = pq.read_table(path)
            spent_i, vin_i, mask = _spends_of(tbl)
            local = out_id[chunk] - p.first_out_id
            spent_i[local] = tx_id[chunk]
            vin_i[local] = vin[chunk]
            mask[local] = False
            write_table_atomic(_with_spends(tbl, spent_i, vin_i, mask), path)
            manifest.files[f"tables/outputs/{path.name}"] = sha256_file(path)
    valid = {
        f"tables/{t}/{part_name(p.lo, manifest.partition_span)}"
        for p in manifest.partitions
        for t in TABLE_NAMES
    }
    manifest.files = {k: v for k, v in manifest.files.items() if k in valid}
    last = manifest.partitions[-1]
    manifest.tip_height = last.last_height
    manifest.tip_hash = hashes[last.last_height].hex()
    manifest.counts = {
        "blocks": sum(p.last_height - p.lo + 1 for p in manifest.partitions),
        "txs": sum(p.n_txs for p in manifest.partitions),
        "outputs": sum(p.n_outputs for p in manifest.partitions),
        "inputs": sum(p.n_inputs for p in manifest.partitions),
        "addresses": sum(p.n_addresses for p in manifest.partitions),
    }
    manifest.save(data)
