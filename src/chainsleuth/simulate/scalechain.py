"""Scale chains: tens of millions of mainnet-shaped transactions as valid regtest blk files, fast.

:func:`generate_scale_chain` writes ``OUT/blocks/blk*.dat`` (128 MiB files, no XOR key): the
regtest genesis block, 100 coinbase-only blocks (coinbases mature after 100), a few fan-out
blocks that split the first coinbases, then blocks of ``txs_per_block`` (±30 %) legacy
transactions until the chain holds exactly ``n_txs`` transactions. Blocks chain up, meet
regtest proof of work (nBits 0x207fffff), carry BIP34 heights and correct merkle roots; the
coinbase pays the regtest subsidy + fees; every input spends an output of an earlier block that
nothing else spends; no transaction pays a negative fee. Signatures and scripts do not verify
(scriptSigs are empty or dummies).

Mainnet-shaped statistics (see :mod:`~chainsleuth.simulate.scalechain_block` for the kinds):
``mean_inputs`` / ``mean_outputs`` per non-coinbase transaction (2.5 / 2.6 by default, heavy
tailed), ~72 % of payees fresh addresses, 8 % one of 64 hot wallets (Zipf), 20 % an address
seen before; spends are of recent outputs (45 %, ~3 blocks old) or of any age (log-uniform), so
a persistent UTXO set accumulates; ~5 % of transactions are peel-chain steps.

Memory: the pool of spendable outputs takes 64 bytes per entry, up to ~3 entries per unspent
output (spent ones await compaction); see ``docs/benchmarks.md`` for measured peaks.

>>> import tempfile
>>> r = generate_scale_chain(Path(tempfile.mkdtemp()), 400, seed=1, txs_per_block=100)
>>> r.n_txs, r.n_blocks > 101, r.n_inputs > r.n_txs
(400, True, True)
"""

from __future__ import annotations

import hashlib
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chainsleuth.chain.compact import encode_compact_size
from chainsleuth.chain.network import get_network
from chainsleuth.simulate.blockwriter import BlockFileWriter
from chainsleuth.simulate.economy import bip34_script_sig, regtest_genesis
from chainsleuth.simulate.scalechain_block import (
    C_HOT_USED,
    C_INPUTS,
    C_NEXT_ADDR,
    C_OPRET,
    C_OUTPUTS,
    C_PEELS,
    CB_RESERVE,
    FIRST_FRESH,
    N_COUNTERS,
    N_HOT,
    build_block,
)
from chainsleuth.simulate.scalechain_mix import MAX_IO, mix_for, steer
from chainsleuth.simulate.scalechain_pool import C_LIVE, C_NPOOL, commit_block, compact_pool
from chainsleuth.simulate.scalechain_sha256 import merkle_root_words, sha256d_many

__all__ = ["ScaleChainReport", "generate_scale_chain", "mix_for"]

_BITS = 0x207FFFFF
_TARGET = 0x7FFFFF << (8 * (0x20 - 3))
_VERSION = 0x20000000


@dataclass(frozen=True)
class ScaleChainReport:
    """What :func:`generate_scale_chain` wrote; counts include the genesis block.

    ``seconds`` is wall-clock time, ``cpu_seconds`` this process's CPU time (they differ when
    the machine is shared).

    ``n_inputs`` and ``n_outputs`` count every input and output (coinbases and OP_RETURN
    included), as the dataset's ``inputs`` and ``outputs`` tables do.
    """

    blocks_dir: Path
    n_blocks: int
    n_txs: int
    n_inputs: int
    n_outputs: int
    n_addresses: int
    n_op_return: int
    n_peel_txs: int
    first_regular_height: int
    utxo_pool: int
    bytes_written: int
    seconds: float
    cpu_seconds: float
    target_inputs: float
    target_outputs: float

    @property
    def inputs_per_tx(self) -> float:
        """Mean inputs of a non-coinbase transaction."""
        return (self.n_inputs - self.n_blocks) / max(1, self.n_txs - self.n_blocks)

    @property
    def outputs_per_tx(self) -> float:
        """Mean outputs of a non-coinbase transaction."""
        return (self.n_outputs - self.n_blocks) / max(1, self.n_txs - self.n_blocks)


def _subsidy(height: int) -> int:
    halvings = height // 150  # regtest
    return 0 if halvings >= 64 else (50 * 100_000_000) >> halvings


def _zipf_cdf(n: int) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1)
    return np.cumsum(w / w.sum())


def generate_scale_chain(
    out_dir: Path,
    n_txs: int,
    *,
    seed: int = 0,
    txs_per_block: int = 2500,
    mean_inputs: float = 2.5,
    mean_outputs: float = 2.6,
    start_time: int = 1_704_067_200,
    progress: Callable[[int, int], None] | None = None,
) -> ScaleChainReport:
    """Write a chain of exactly ``n_txs`` transactions to ``out_dir/blocks`` (see module doc).

    The same arguments give byte-identical files. ``progress(txs_done, n_txs)`` is called
    after every 100 blocks. Block times start at ``start_time`` (2024-01-01), ~600 s apart.

    Working memory besides the coin pool: one block buffer (1 KB per transaction of the
    largest block), new outputs (32 bytes each, room for a full buffer's worth), transaction
    offsets (16 bytes each), peel chains (64 bytes each) and the 100 pending coinbases (64 bytes
    each).
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    if n_txs < 1 or txs_per_block < 1:
        raise ValueError("n_txs and txs_per_block must be positive")
    blocks_dir = Path(out_dir) / "blocks"
    blocks_dir.mkdir(parents=True, exist_ok=True)
    for old in blocks_dir.glob("blk*.dat"):
        old.unlink()
    mix, tables = mix_for(mean_inputs, mean_outputs, txs_per_block)
    py_rng = np.random.default_rng(seed)
    rng = np.array([(seed * 0x2545F4914F6CDD1D + 1) % (1 << 64)], dtype=np.uint64)
    model = (mix, tables, _zipf_cdf(N_HOT), np.zeros(FIRST_FRESH, np.uint8))
    ctr = np.zeros(N_COUNTERS, np.int64)
    ctr[C_NEXT_ADDR] = FIRST_FRESH
    pool = np.zeros((1 << 16, 8), np.uint64)
    start = np.zeros(1024, np.int64)
    chains = np.zeros((mix.n_chains + 1, 8), np.uint64)
    chain_tx = np.full(mix.n_chains + 1, -1, np.int64)
    pending = np.zeros((100, 8), np.uint64)
    most = int(txs_per_block * 1.3) + 1
    buf = np.zeros(CB_RESERVE + most * 1000 + 100_000, np.uint8)
    outs = np.zeros((buf.shape[0] // 30, 4), np.int64)
    txpos = np.zeros((most + 2, 2), np.int64)
    work = (np.zeros(MAX_IO, np.int64), np.zeros(MAX_IO + 1), np.zeros(MAX_IO + 1, np.int64))
    genesis = regtest_genesis()
    prev = genesis.hash[::-1]
    n_done, height, first_regular, t, base = 1, 1, 0, start_time, (0, 0, 0)
    with BlockFileWriter(blocks_dir, get_network("regtest").magic, None) as writer:
        writer.write(genesis.serialize())
        while n_done < n_txs:
            jitter = int(txs_per_block * (0.7 + 0.6 * py_rng.random()))
            n_target = 0 if height < 101 else min(max(1, jitter), most, n_txs - n_done - 1)
            pool, start = _make_room(pool, start, ctr, height, outs.shape[0] + 1)
            st = (rng, ctr, pool, start, chains, chain_tx, outs, txpos)
            cb_sig = np.frombuffer(bip34_script_sig(height), np.uint8)
            n_tx, first, end = build_block(
                buf, height, cb_sig, _subsidy(height), n_target, model, st, work
            )
            if not first_regular and ctr[C_LIVE] >= mix.ramp_live:
                first_regular = height + 1
                base = (n_done + n_tx - height - 1, int(ctr[C_INPUTS]), int(ctr[C_OUTPUTS]))
            elif first_regular:  # steer the running means back to the targets
                n_reg = n_done + n_tx - height - 1 - base[0]
                gaps = (mean_inputs * n_reg - ctr[C_INPUTS] + base[1],
                        mean_outputs * n_reg - ctr[C_OUTPUTS] + base[2])  # fmt: skip
                model = (steer(mix, gaps, tables, txs_per_block), *model[1:])
            txids = np.empty((n_tx, 8), np.uint32)
            sha256d_many(buf, txpos[:n_tx, 0], txpos[:n_tx, 1], txids)
            commit_block(height, txids, pending, st)
            t += max(1, int(py_rng.exponential(600.0)))
            header = _mine(prev, merkle_root_words(txids).astype(">u4").tobytes(), t)
            count = encode_compact_size(n_tx)
            at = first - len(count) - 80
            buf[at : at + 80] = np.frombuffer(header, np.uint8)
            buf[first - len(count) : first] = np.frombuffer(count, np.uint8)
            writer.write(buf[at:end].tobytes())
            prev = hashlib.sha256(hashlib.sha256(header).digest()).digest()
            n_done += n_tx
            height += 1
            if progress is not None and height % 100 == 0:
                progress(n_done, n_txs)
        bytes_written = writer.bytes_written
    return ScaleChainReport(
        blocks_dir=blocks_dir,
        n_blocks=height,
        n_txs=n_done,
        n_inputs=int(ctr[C_INPUTS]) + height,
        n_outputs=int(ctr[C_OUTPUTS]) + height,
        n_addresses=int(ctr[C_NEXT_ADDR]) - FIRST_FRESH + int(ctr[C_HOT_USED]) + 1,
        n_op_return=int(ctr[C_OPRET]),
        n_peel_txs=int(ctr[C_PEELS]),
        first_regular_height=first_regular,
        utxo_pool=int(ctr[C_LIVE]),
        bytes_written=bytes_written,
        seconds=time.perf_counter() - started,
        cpu_seconds=time.process_time() - cpu_started,
        target_inputs=mean_inputs,
        target_outputs=mean_outputs,
    )


def _mine(prev: bytes, root: bytes, t: int) -> bytes:
    """An 80-byte header meeting the regtest target (about two tries)."""
    head = struct.pack("<i32s32sII", _VERSION, prev, root, t, _BITS)
    sha = hashlib.sha256
    for nonce in range(1 << 32):
        header = head + struct.pack("<I", nonce)
        if int.from_bytes(sha(sha(header).digest()).digest(), "little") <= _TARGET:
            return header
    raise RuntimeError("no nonce meets the regtest target")  # pragma: no cover


def _make_room(
    pool: np.ndarray, start: np.ndarray, ctr: np.ndarray, height: int, need: int
) -> tuple[np.ndarray, np.ndarray]:
    """Compact the pool when two thirds of it are spent (or it is full), grow it when short.

    Compaction moves every unspent entry, so it waits for 2 spent entries per unspent one; the
    pool then holds at most ~3x the unspent coins (64 bytes each).
    """
    n_pool, live = int(ctr[C_NPOOL]), int(ctr[C_LIVE])
    garbage, full = n_pool - live, n_pool + need > pool.shape[0]
    if garbage > 2 * live or (full and garbage > live // 4):
        ctr[C_NPOOL] = n_pool = compact_pool(pool, start, n_pool, height - 1)
    if n_pool + need > pool.shape[0]:
        bigger = np.zeros((max(pool.shape[0] * 3 // 2, 3 * live + 2 * need), 8), np.uint64)
        bigger[:n_pool] = pool[:n_pool]
        pool = bigger
    if height + 2 > start.shape[0]:
        start = np.concatenate([start, np.zeros(start.shape[0], np.int64)])
    return pool, start
