"""The resumable ingest: block files → height-partitioned Parquet dataset.

Blocks of the most-work chain are processed in height order, in batches, and each fixed height
range (``partition_span`` blocks) becomes one Parquet part per table. Parts are written to a
temporary name and renamed into place; the manifest is written last, at checkpoints. A run
always restarts at the beginning of the first partition the manifest does not hold completely,
so a killed and re-run ingest writes byte-identical files.

Ctrl-C and SIGTERM (:class:`~chainsleuth.interrupt.Interrupted`, or a plain
:class:`KeyboardInterrupt`) stop a run cleanly: the partition being written is discarded (its
temporary parts deleted), every partition finished since the last checkpoint is kept with a
checkpoint (the indexes are saved too when the stop came between partitions; otherwise a resume
rolls the last saved indexes forward over those partitions), and :class:`Interrupted` says
which height the dataset holds. Re-running the same command resumes from there.

A written part is never rewritten (dataset contract v2): each partition's spends go to its own
``spends`` part, and the catalog derives ``outputs.spent_by_*`` from them. A partition's parts
are streamed to disk one batch at a time, so memory holds one batch, the partition's spends
(24 bytes per input) and the two indexes. At each checkpoint the indexes are saved under
``state/`` (:mod:`chainsleuth.ingest.state`) with the manifest, so a resume loads them rather
than rebuilding them from the whole chain.

>>> from pathlib import Path
>>> import tempfile
>>> report = ingest_blocks(Path("tests/data/regtest-core-a/blocks"),
...                        Path(tempfile.mkdtemp()) / "ds", "regtest", to_height=5)
>>> report.tip_height
5
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import sys
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import cast

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from chainsleuth.budget import MemoryBudget, anon_peak_bytes, peak_rss_bytes
from chainsleuth.chain.network import Network, get_network
from chainsleuth.errors import BlockDataError, ChainsleuthWarning, DatasetError, InputError
from chainsleuth.ingest.batch import (
    BatchResult,
    BlockInput,
    IndexState,
    PreparedBatch,
    link_batch,
    prepare_batch,
)
from chainsleuth.ingest.rebuild import _rebuild_partition, rebuild_state
from chainsleuth.ingest.sources import BlockSource, open_source
from chainsleuth.ingest.state import (
    STATE_DIR,
    load_state,
    new_address_index,
    new_utxo_index,
    remove_unreferenced,
    save_state,
    utxo_state_current,
)
from chainsleuth.interrupt import Interrupted, deferred
from chainsleuth.store.catalog import write_catalog
from chainsleuth.store.lookup import (
    BUILD_BUDGET,
    INDEX_DIR,
    build_partition_indexes,
    partition_index_files,
)
from chainsleuth.store.manifest import Manifest, Partition
from chainsleuth.store.parts import TMP_SUFFIX, PartWriter, part_name, sha256_file
from chainsleuth.store.schema import STORED_TABLES, TABLES

__all__ = ["DEFAULT_PARTITION_SPAN", "IngestReport", "MemoryPlan", "ingest_blocks", "plan_memory"]

DEFAULT_PARTITION_SPAN = 1000
BATCH_BYTES = 16 << 20
"""The most raw block bytes per batch (the batch is smaller under a small budget: see
:func:`plan_memory`). The parts do not depend on it (:class:`PartWriter` cuts fixed row
groups)."""
MIN_BATCH_BYTES = 1 << 20
POOL_MIN_BYTES = 4 * BATCH_BYTES
"""Below this much block data ``workers`` > 1 runs in one process: starting a worker (a fresh
interpreter importing numpy, numba and its kernels) costs seconds, more than a few batches'
walking and hashing. The output is the same either way."""
CHECKPOINT_SECONDS = 300.0
FIXED_BYTES = 448 << 20
"""RAM an ingest holds whatever its budget: the interpreter with numpy, numba and its compiled
kernels, pyarrow and DuckDB (338 MiB RSS before the first batch, Linux x86-64) and the
Parquet writers' buffers (a row group of 262,144 rows per table waits in RAM until full: about
100 MiB). Taken off the budget before it is shared out."""
ADDRESS_SHARE = 0.3
"""The address dictionary's share of the budget after :data:`FIXED_BYTES` (see
:mod:`chainsleuth.store.addrdict` for its bytes per address; its hot table takes half of it
from the start)."""
UTXO_SHARE = 0.3
"""The UTXO index's share of the budget after :data:`FIXED_BYTES`: 33 bytes per slot,
36.7–41.3 per unspent output (:class:`~chainsleuth.store.hashindex.UtxoIndex`), so a 2 GiB
budget holds ~13 M unspent outputs in RAM and maps the shards beyond on file."""
WORK_SHARE = 0.4
"""Of the budget after :data:`FIXED_BYTES`: the batches in flight (sized from it, see
:data:`PREPARED_PER_BYTE` and :data:`RESULT_PER_BYTE`), the partition's spends (24 B per
input) and, at a partition's end, their sort (+ ≤ 24 B per input, see :func:`_write_spends`)."""
PREPARED_PER_BYTE = 3.2
"""RAM of a prepared batch per raw byte: the raw bytes and the walked matrices, txids,
wtxids and script keys (33 MiB of arrays for 16 MiB of raw blocks, generated chain)."""
RESULT_PER_BYTE = 6.6
"""RAM of a linked batch per raw byte: its Arrow tables (73 MiB for 16 MiB of raw blocks),
its spends and the address dictionary's scratch of the call (≈ 100 B per new key)."""
MIN_WORK_BYTES = 64 << 20


@dataclass(frozen=True, slots=True)
class MemoryPlan:
    """How an ingest shares its budget (bytes). ``batch_bytes`` raw bytes per batch;
    ``batches_ahead`` prepared batches wait while one is linked and one written.
    :attr:`planned` is what the budgeted structures and the fixed part may hold at once."""

    budget: int
    fixed: int
    address: int
    utxo: int
    work: int
    batch_bytes: int
    batches_ahead: int

    @property
    def in_flight(self) -> int:
        """Planned RAM of the batches in flight: ``batches_ahead`` prepared ones, the one being
        linked (prepared and its result) and the result being written."""
        prepared = (self.batches_ahead + 1) * PREPARED_PER_BYTE
        return int(self.batch_bytes * (prepared + 2 * RESULT_PER_BYTE))

    @property
    def planned(self) -> int:
        """Fixed part + address dictionary + UTXO index RAM + the work share."""
        return self.fixed + self.address + self.utxo + self.work

    @property
    def floor(self) -> bool:
        """True when the budget is below :data:`MIN_INGEST_BYTES` (the plan then exceeds it)."""
        return self.budget < MIN_INGEST_BYTES


MIN_INGEST_BYTES = FIXED_BYTES + 2 * MIN_WORK_BYTES
"""The smallest budget an ingest keeps to (576 MiB): the fixed part and a minimal share for
the indexes and batches. Below it the ingest runs with that minimum and warns."""


def plan_memory(budget: int, workers: int = 1) -> MemoryPlan:
    """Share ``budget`` bytes out: :data:`FIXED_BYTES` off the top, of the rest (at least
    ``2 · MIN_WORK_BYTES``) :data:`WORK_SHARE` (at least :data:`MIN_WORK_BYTES`) and the
    remainder split :data:`ADDRESS_SHARE` : :data:`UTXO_SHARE`; the batch is sized so that the
    batches in flight fit three quarters of the work share (up to :data:`BATCH_BYTES`, at least
    :data:`MIN_BATCH_BYTES`). ``workers`` > 1 keeps two batches per worker ahead.

    >>> p = plan_memory(2 << 30)
    >>> p.planned <= 2 << 30, p.batch_bytes == BATCH_BYTES, p.in_flight <= p.work
    (True, True, True)
    >>> plan_memory(1 << 30).batch_bytes < BATCH_BYTES
    True
    """
    rest = max(budget - FIXED_BYTES, 2 * MIN_WORK_BYTES)
    work = max(int(rest * WORK_SHARE), MIN_WORK_BYTES)
    ahead = 2 * workers if workers > 1 else 2
    per_byte = (ahead + 1) * PREPARED_PER_BYTE + 2 * RESULT_PER_BYTE
    # the batches in flight take at most 3/4 of the work share: the spends take the rest
    batch = int(min(BATCH_BYTES, max(MIN_BATCH_BYTES, work * 3 // 4 / per_byte)))
    address = int((rest - work) * ADDRESS_SHARE / (ADDRESS_SHARE + UTXO_SHARE))
    return MemoryPlan(
        budget=budget,
        fixed=FIXED_BYTES,
        address=address,
        utxo=rest - work - address,
        work=work,
        batch_bytes=batch,
        batches_ahead=ahead,
    )


ProgressHook = Callable[[int, int, int], None]
"""Called as hook(blocks_done, txs_done, blocks_total) after each batch."""


@dataclass(slots=True)
class _Marks:
    """Where a run stands, for the interrupt path: ``dirty`` while the indexes in memory hold
    part of an unfinished partition; ``saved`` partitions are in the manifest on disk."""

    dirty: bool = False
    saved: int = 0


@dataclass(slots=True)
class IngestReport:
    """What an ingest run did. ``utxo_bytes`` is the UTXO index's size at the end (33 bytes per
    slot, 36.7–41.3 per unspent output), ``utxo_peak_bytes`` the most it held, a growing
    shard's two arrays included; of these, ``utxo_spilled_bytes`` were on file at the end
    (shards beyond its RAM share, :data:`UTXO_SHARE`) and ``utxo_peak_ram_bytes`` is the most
    it held in RAM."""

    tip_height: int
    tip_hash: str
    blocks_added: int = 0
    txs_added: int = 0
    stale_blocks: int = 0
    unconnected_blocks: int = 0
    truncated: list[str] = field(default_factory=list)
    seconds: float = 0.0
    up_to_date: bool = False
    peak_rss: int = 0
    peak_anon: int | None = None
    """the largest anonymous size sampled (None where not sampled): RSS less mapped files"""
    memory_limit: int = 0
    utxo_entries: int = 0
    utxo_bytes: int = 0
    utxo_peak_bytes: int = 0
    utxo_spilled_bytes: int = 0
    utxo_peak_ram_bytes: int = 0


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
    memory_limit: str | None = None,
    address_memory: int | None = None,
    utxo_memory: int | None = None,
) -> IngestReport:
    """Ingest (or continue ingesting) the blocks of ``source`` into the dataset ``data``.

    ``source`` is a Bitcoin Core ``blocks/`` directory or a datadir. The manifest is
    rewritten (a resumable checkpoint) every ``checkpoint_seconds`` and at the end. With
    ``workers`` > 1, walking, hashing and checking run in that many processes while this one
    links (when there are at least :data:`POOL_MIN_BYTES` of blocks to ingest), else in one
    thread beside it; in every case a thread encodes and writes each batch's Parquet rows while
    the next batch is linked. The output is identical. ``memory_limit`` (a size such as ``"2G"``;
    default: ``CHAINSLEUTH_MEMORY_LIMIT`` or a share of the machine's RAM) is shared out by
    :func:`plan_memory`: :data:`FIXED_BYTES` off the top, then the address dictionary's RAM
    (``address_memory`` bytes if given, else :data:`ADDRESS_SHARE` of the rest), the UTXO
    index's (``utxo_memory`` bytes if given, else :data:`UTXO_SHARE`; shards beyond it are
    file-backed mappings under ``DATASET/_tmp/utxo``) and the batches in flight (the batch
    size follows from :data:`WORK_SHARE`); a budget below :data:`MIN_INGEST_BYTES` is used as
    that minimum with a :class:`~chainsleuth.errors.ChainsleuthWarning`. ``address_memory`` and
    ``utxo_memory`` are tuning and test knobs; a tiny value makes the structure spill
    constantly, with identical results. The
    report records the UTXO index's bytes, RAM and spilled, and the peak RSS. Raises
    :class:`~chainsleuth.errors.UserError` subclasses for bad input, naming the bad value.
    """
    started = time.monotonic()
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    budget = MemoryBudget.from_option(memory_limit)
    plan = plan_memory(budget.bytes, workers)
    if plan.floor:
        warnings.warn(
            ChainsleuthWarning(
                f"--memory-limit {budget.bytes / (1 << 20):,.0f} MiB is below the ingest's "
                f"floor of {MIN_INGEST_BYTES / (1 << 20):,.0f} MiB (interpreter, libraries and "
                f"Parquet writers take {FIXED_BYTES / (1 << 20):,.0f} MiB): the peak memory "
                "will exceed it"
            ),
            stacklevel=2,
        )
    addr_bytes = plan.address if address_memory is None else address_memory
    utxo_bytes = plan.utxo if utxo_memory is None else utxo_memory
    net = get_network(network)
    data = Path(data)
    src = open_source(source, net)
    marks = _Marks()
    try:
        manifest = _open_or_create(data, net.name, partition_span)
        marks.saved = len(manifest.partitions)
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
        _clean_leftovers(data, manifest)
        expected = _expected_addresses(src, start, target)
        state = _resume_state(data, manifest, start, addr_bytes, utxo_bytes, expected)
        hook = progress if callable(progress) else None
        total_blocks = target - start + 1
        done_blocks = 0
        done_txs = 0
        last_checkpoint = time.monotonic()
        marks.saved = len(kept)
        pool: Executor = (
            ProcessPoolExecutor(
                max_workers=workers, mp_context=get_context("spawn"), initializer=_ignore_signals
            )
            if workers > 1 and _input_bytes(src, start, target) >= POOL_MIN_BYTES
            else ThreadPoolExecutor(max_workers=1, thread_name_prefix="chainsleuth-prepare")
        )
        try:
            for lo in range(start, target + 1, span):
                hi = min(lo + span - 1, target)
                if hi < lo + span - 1 and lo > 0 and manifest.state.get("height") != lo - 1:
                    # A partial partition is redone by the next run: save the state it starts from.
                    with deferred():
                        _checkpoint(data, manifest, src.hashes, state)
                        marks.saved = len(manifest.partitions)
                    last_checkpoint = time.monotonic()
                try:
                    part = _ingest_partition(
                        src, lo, hi, span, state, net, data, manifest, pool, marks,
                        plan.batch_bytes, plan.work,
                    )  # fmt: skip
                except BlockDataError:
                    # Keep what was completed before the bad block, then report it. The indexes
                    # in memory are mid-partition: the saved state stays the last good one.
                    if len(manifest.partitions) > len(kept):
                        _checkpoint(data, manifest, src.hashes, None)
                        write_catalog(data, manifest)
                    raise
                done_blocks += hi - lo + 1
                done_txs += part.n_txs
                if hook:
                    hook(done_blocks, done_txs, total_blocks)
                report.txs_added += part.n_txs
                if time.monotonic() - last_checkpoint >= checkpoint_seconds or hi == target:
                    with deferred():
                        _checkpoint(data, manifest, src.hashes, state if part.complete else None)
                        marks.saved = len(manifest.partitions)
                    last_checkpoint = time.monotonic()
        except (KeyboardInterrupt, Interrupted) as stop:
            raise _stop(stop, data, manifest, src.hashes, state, marks) from None
        finally:
            pool.shutdown(cancel_futures=True)
        report.blocks_added = total_blocks
        report.tip_height = manifest.tip_height
        report.tip_hash = manifest.tip_hash
        write_catalog(data, manifest)
        report.seconds = time.monotonic() - started
        report.peak_rss = peak_rss_bytes()
        report.peak_anon = anon_peak_bytes()
        report.memory_limit = budget.bytes
        report.utxo_entries = state.utxo.count
        report.utxo_bytes = state.utxo.nbytes
        report.utxo_peak_bytes = state.utxo.peak_nbytes
        report.utxo_spilled_bytes = state.utxo.spilled_nbytes
        report.utxo_peak_ram_bytes = state.utxo.peak_anon_nbytes
        return report
    except (KeyboardInterrupt, Interrupted) as stop:  # before the first partition: nothing new
        if isinstance(stop, Interrupted) and stop.kept is not None:
            raise
        raise _stop(stop, data, None, src.hashes, None, marks) from None
    finally:
        src.close()


def _input_bytes(src: BlockSource, lo: int, hi: int) -> int:
    """Bytes of the blocks lo..hi when the source knows them without reading (block files),
    else a size that counts as large."""
    records = getattr(src, "records", None)
    if records is None:
        return POOL_MIN_BYTES
    return sum(int(r.size) for r in records[lo : hi + 1])


def _ignore_signals() -> None:
    """Worker processes leave Ctrl-C to the main one (which stops them and keeps a checkpoint);
    a terminal sends SIGINT to the whole process group."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop(
    stop: BaseException,
    data: Path,
    manifest: Manifest | None,
    hashes: list[bytes],
    state: IndexState | None,
    marks: _Marks,
) -> Interrupted:
    """Keep the partitions finished since the last checkpoint, then say what the dataset holds.

    The partition being written was already discarded (its writers aborted). The indexes are
    saved only when they are those of the last finished partition (``marks.dirty`` false).
    """
    name = stop.signal_name if isinstance(stop, Interrupted) else "SIGINT"
    try:
        with deferred():  # a second Ctrl-C does not cut the checkpoint in half
            if manifest is not None and len(manifest.partitions) > marks.saved:
                _checkpoint(data, manifest, hashes, None if marks.dirty else state)
                write_catalog(data, manifest)
    except Interrupted:
        pass  # the second signal came while saving: the first one stops the run already
    tip = Manifest.load(data).tip_height if (data / "manifest.json").exists() else -1
    held = f"kept up to height {tip}" if tip >= 0 else "holds no block yet"
    return Interrupted(name, f"ingest stopped; dataset {data} {held} (re-run to resume)")


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
    """Remove temp files and state files of a run the manifest does not cover.

    Parts a killed run wrote past the manifest are not listed and are overwritten when their
    partition is redone; nothing already listed is touched (no part is ever rewritten).
    """
    for folder in (data / "tables", data / INDEX_DIR):
        if folder.exists():
            for tmp in folder.rglob(f"*{TMP_SUFFIX}"):
                tmp.unlink()
    remove_unreferenced(data, manifest.files)


def _resume_state(
    data: Path,
    manifest: Manifest,
    start: int,
    addr_bytes: int,
    utxo_bytes: int,
    expected_addresses: int | None = None,
) -> IndexState:
    """The indexes as of height ``start - 1``: the saved state if it is that, the saved state
    rolled forward over the partitions after it (a run interrupted mid-partition), else
    rebuilt from the first partition. ``addr_bytes`` / ``utxo_bytes``: their RAM shares;
    ``expected_addresses``: an upper estimate of the addresses the blocks to come hold (sizes
    the address dictionary's hot table; not used where partitions are replayed first)."""
    if start == 0:
        return IndexState(
            new_utxo_index(data, utxo_bytes),
            new_address_index(data, addr_bytes, expected_keys=expected_addresses),
        )
    # a saved UTXO index of an older format is not loaded: rebuilt from the parts below
    saved = manifest.state.get("height") if utxo_state_current(manifest.state) else None
    if saved == start - 1:
        return load_state(data, manifest.state, addr_bytes, utxo_bytes, expected_addresses)
    if isinstance(saved, int) and any(p.hi == saved and p.complete for p in manifest.partitions):
        state = load_state(data, manifest.state, addr_bytes, utxo_bytes)
        for p in manifest.partitions:
            if p.lo > saved:
                _rebuild_partition(data / "tables", part_name(p.lo, manifest.partition_span), state)
        last = manifest.partitions[-1]
        state.next_tx_id = last.first_tx_id + last.n_txs
        state.next_out_id = last.first_out_id + last.n_outputs
        return state
    # rebuilt into a folder of its own: the files the manifest names stay untouched
    folder = f"addresses-h{start - 1:09d}"
    state = IndexState(
        new_utxo_index(data, utxo_bytes), new_address_index(data, addr_bytes, folder)
    )
    rebuild_state(data, manifest, state)
    return state


BYTES_PER_NEW_ADDRESS = 32
"""A block holds at most one new address per ~31 bytes (an output paying a P2WPKH script is 31
bytes: value, length, 22-byte script), so the blocks' bytes / 32 bounds the addresses to come
on any chain paying standard scripts."""


def _expected_addresses(src: BlockSource, lo: int, hi: int) -> int | None:
    """An upper estimate of the new addresses in blocks ``lo..hi`` from their sizes (None for
    a source that does not know them before reading, such as RPC).

    >>> from types import SimpleNamespace as R
    >>> _expected_addresses(R(records=[R(size=3200)] * 10), 0, 4)
    1524
    """
    records = getattr(src, "records", None)
    if not records:
        return None
    size = sum(int(r.size) for r in records[lo : hi + 1])
    return size // BYTES_PER_NEW_ADDRESS + 1024


def _batches(
    src: BlockSource, lo: int, hi: int, batch_bytes: int = BATCH_BYTES
) -> Iterator[list[BlockInput]]:
    """Consecutive blocks lo..hi grouped into batches of about ``batch_bytes``."""
    batch: list[BlockInput] = []
    size = 0
    for h in range(lo, hi + 1):
        raw, label, offset = src.read(h)
        batch.append(BlockInput(h, src.hashes[h], raw, label, offset))
        size += len(raw)
        if size >= batch_bytes or h == hi:
            yield batch
            batch = []
            size = 0


def _prepared(
    src: BlockSource,
    lo: int,
    hi: int,
    pool: Executor | None,
    net: Network,
    batch_bytes: int = BATCH_BYTES,
) -> Iterator[PreparedBatch]:
    """Prepared batches in chain order (blocks checked against ``net``'s proof-of-work limit).

    With a pool, up to two batches per worker are prepared ahead while this thread links: in
    worker processes (``--workers`` > 1), or in one thread (the walking, hashing and checking
    kernels release the GIL, so they run beside the linking on a second core).
    """
    if pool is None:
        for batch in _batches(src, lo, hi, batch_bytes):
            yield prepare_batch(batch, net)
        return
    remote = isinstance(pool, ProcessPoolExecutor)
    ahead: deque[tuple[bytes, Future[PreparedBatch]]] = deque()
    limit = 2 * getattr(pool, "_max_workers", 2)
    for batch in _batches(src, lo, hi, batch_bytes):
        if remote:
            raw = b"".join(b.raw for b in batch)
            ahead.append((raw, pool.submit(_prepare_remote, batch, net)))
        else:
            ahead.append((b"", pool.submit(prepare_batch, batch, net)))
        if len(ahead) >= limit:
            yield _with_raw(*ahead.popleft())
    while ahead:
        yield _with_raw(*ahead.popleft())


def _prepare_remote(blocks: list[BlockInput], network: Network) -> PreparedBatch:
    """:func:`prepare_batch` in a worker process, returned without the batch's bytes: the main
    process has them (pickling them back cost as much as preparing the batch)."""
    return dataclasses.replace(prepare_batch(blocks, network), raw=b"")


def _with_raw(raw: bytes, prepared: Future[PreparedBatch]) -> PreparedBatch:
    """A worker's batch with its bytes (the blocks' records joined, as prepare_batch does;
    empty: the batch kept its own, prepared in a thread)."""
    prep = prepared.result()
    return dataclasses.replace(prep, raw=raw) if raw else prep


def _ingest_partition(
    src: BlockSource,
    lo: int,
    hi: int,
    span: int,
    state: IndexState,
    net: Network,
    data: Path,
    manifest: Manifest,
    pool: Executor | None = None,
    marks: _Marks | None = None,
    batch_bytes: int = BATCH_BYTES,
    index_bytes: int = BUILD_BUDGET,
) -> Partition:
    """Stream one partition's batches into its parts; its spends into its ``spends`` part;
    then its lookup indexes within ``index_bytes`` (the work share, idle by then).

    ``marks.dirty`` is set from the first batch linked until the partition is recorded: the
    indexes in memory are then no checkpoint's."""
    first_tx = state.next_tx_id
    first_out = state.next_out_id
    first_addr = state.addrs.count
    name = part_name(lo, span)
    tables = data / "tables"
    writers = {t: PartWriter(tables / t / name, TABLES[t]) for t in STORED_TABLES if t != "spends"}
    spends: list[list[np.ndarray]] = []
    # Parquet encoding, zstd and the disk writes of batch k run in a thread (pyarrow and fsync
    # release the GIL) while batch k + 1 is linked: at most one batch waits to be written.
    io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chainsleuth-parts")
    pending: Future[None] | None = None
    try:
        for prep in _prepared(src, lo, hi, pool, net, batch_bytes):
            if marks is not None:
                marks.dirty = True
            r = link_batch(prep, state, net)
            if pending is not None:
                pending.result()
            pending = io.submit(_write_batch, writers, r)
            spends.append([r.spend_out_id, r.spend_tx_id, r.spend_vin, r.spend_height])
            del prep, r  # not held through the next batch's preparation
        if pending is not None:
            pending.result()
            pending = None
    except BaseException:
        io.shutdown(wait=True)  # the writers are not closed under a running write
        for w in writers.values():
            w.abort()
        raise
    io.shutdown(wait=True)
    counts = {t: w.close() for t, w in writers.items()}
    del writers
    # the parts' checksums in a thread (hashlib releases the GIL): the closed parts' while this
    # one sorts and writes the spends, the spends' while it builds the partition's sorted
    # point-lookup indexes (store/lookup.py), immutable like its parts
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="chainsleuth-sha256") as hasher:
        digests = {t: hasher.submit(sha256_file, tables / t / name) for t in counts}
        counts["spends"] = _write_spends(tables / "spends" / name, spends)  # empties ``spends``
        digests["spends"] = hasher.submit(sha256_file, tables / "spends" / name)
        _release_memory()  # the batches' and the sort's freed memory, before the lookup indexes
        index_files = build_partition_indexes(data, name, index_bytes)
        for t in STORED_TABLES:
            manifest.files[f"tables/{t}/{name}"] = digests[t].result()
    manifest.files.update(index_files)
    _release_memory()  # what the index build freed, before the next partition's batches
    part = Partition(
        lo=lo,
        hi=lo + span - 1,
        last_height=hi,
        first_tx_id=first_tx,
        n_txs=state.next_tx_id - first_tx,
        first_out_id=first_out,
        n_outputs=state.next_out_id - first_out,
        n_inputs=counts["inputs"],
        first_addr_id=first_addr,
        n_addresses=state.addrs.count - first_addr,
    )
    manifest.partitions.append(part)
    if marks is not None:
        marks.dirty = False
    return part


def _write_batch(writers: dict[str, PartWriter], r: BatchResult) -> None:
    """Append a batch's rows to the partition's parts, then start writing them to disk.

    The writeback is started without waiting for it (``sync_file_range``, Linux), so the disk
    writes the partition while the next batches are linked and the fsync when a part is closed
    has little left to do. Elsewhere, nothing is started early.
    """
    for t, w in writers.items():
        w.write(getattr(r, t))
    if _sync_file_range is None:
        return
    for w in writers.values():
        fd = os.open(w.tmp, os.O_RDONLY)
        try:
            _sync_file_range(fd, 0, 0, _SYNC_FILE_RANGE_WRITE)
        finally:
            os.close(fd)


def _libc_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """libc's ``sync_file_range`` (Linux), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return cast("Callable[[int, int, int, int], int]", fn)


_SYNC_FILE_RANGE_WRITE = 2
_sync_file_range = _libc_sync_file_range()


def _take_column(chunks: list[list[np.ndarray]], k: int, dtype: type) -> np.ndarray:
    """Column ``k`` of the chunks as one ``dtype`` array, each chunk's part freed once copied."""
    n = sum(c[k].shape[0] for c in chunks)
    out = np.empty(n, dtype=dtype)
    at = 0
    for c in chunks:
        m = c[k].shape[0]
        out[at : at + m] = c[k]
        at += m
        c[k] = out[:0]
    return out


def _write_spends(path: Path, chunks: list[list[np.ndarray]]) -> int:
    """The partition's spends sorted by ``out_id``; ``chunks`` (per batch: out_id, tx_id, vin,
    height) is emptied. Held through the partition: 24 B per input; the sort adds 8 B per
    input (the order) and, one column at a time, that column twice (≤ 16 B per input)."""
    out_id = _take_column(chunks, 0, np.int64)
    order = np.argsort(out_id)  # out_ids are unique (an output is spent once): any sort agrees
    cols: dict[str, np.ndarray] = {"out_id": out_id[order]}
    del out_id
    for k, col, dtype in ((1, "tx_id", np.int64), (2, "vin", np.int32), (3, "height", np.int32)):
        cols[col] = _take_column(chunks, k, dtype)[order]
    chunks.clear()
    del order
    tbl = pa.table(cols, schema=TABLES["spends"])
    del cols
    w = PartWriter(path, TABLES["spends"])
    w.write(tbl)
    del tbl
    return w.close()


def _release_memory() -> None:
    """Hand freed memory back to the system: pyarrow's pool and glibc's arenas (the prepare,
    write and hash threads' arenas keep what their batches freed otherwise)."""
    pa.default_memory_pool().release_unused()
    if _malloc_trim is not None:
        _malloc_trim(0)


def _libc_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return cast("Callable[[int], int]", fn)


_malloc_trim = _libc_malloc_trim()


def _checkpoint(
    data: Path, manifest: Manifest, hashes: list[bytes], state: IndexState | None
) -> None:
    """Write the manifest; with ``state``, first save it as of the last complete partition.

    Old state files are deleted only after the manifest naming the new ones is in place.
    """
    if state is not None and manifest.partitions and manifest.partitions[-1].complete:
        meta, files = save_state(data, state, manifest.partitions[-1].hi)
        manifest.state = meta
        manifest.files = {k: v for k, v in manifest.files.items() if not k.startswith(STATE_DIR)}
        manifest.files.update(files)
    valid = {
        f"tables/{t}/{part_name(p.lo, manifest.partition_span)}"
        for p in manifest.partitions
        for t in STORED_TABLES
    }
    valid.update(
        f
        for p in manifest.partitions
        for f in partition_index_files(part_name(p.lo, manifest.partition_span))
    )
    manifest.files = {
        k: v for k, v in manifest.files.items() if k in valid or k.startswith(STATE_DIR)
    }
    if manifest.partitions:
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
    remove_unreferenced(data, manifest.files)
