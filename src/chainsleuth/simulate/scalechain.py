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

Ownership: every output belongs to a wallet, and all inputs of a transaction belong to one
wallet, so the multi-input heuristic merges only addresses of one owner (as it nearly always
does on mainnet). Wallets 1..64 are exchanges: exchange ``h`` owns hot-wallet address ``h`` and
half of the fresh payee addresses are deposit addresses of a random exchange; mining pool ``m``
(65..80) owns the address its coinbases pay; of the other fresh payee addresses 10 % start a new
user wallet and 40 % go to the owner of an unspent coin (wallets holding more coins get more);
a reused address keeps its owner; change goes to a fresh address of the spender's wallet
(12 % of payments: back to the first input's address; an exchange's batch payout: its hot
address). A payment's first input is drawn by age among users' coins (exchange coins wait for
their own consolidations and batch payouts); a multi-input one draws until the coin's wallet
holds the inputs it wants; the others are that wallet's oldest unspent coins, fewer if it has
fewer (a wallet-wide shortfall is made up by later wallets that hold more, so the means stay on
target). Exchanges consolidate their oldest deposits. A wallet's addresses share one script type
(drawn per wallet in the mainnet-like shares of ``TYPE_PER_MILLE`` in
:mod:`~chainsleuth.simulate.scalechain_kernels`; exchanges and mining pools use P2PKH, P2SH or
P2WPKH), so change has the inputs' type. ``track_owners`` reports every address's owner; the largest
wallet (an exchange) holds ~1 % of the addresses.

Memory: the pool of spendable outputs takes 64 bytes per entry plus 32 bytes of wallet table
(96 bytes per entry; the owner and the link to the wallet's next coin are packed into the
entry), up to ~3 entries per unspent output (spent ones await compaction); see
:mod:`~chainsleuth.simulate.scalechain_pool` and ``docs/benchmarks.md`` for measured peaks.

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
    C_NEXT_WALLET,
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
from chainsleuth.simulate.scalechain_pool import (
    C_LIVE,
    C_NCHAINS,
    C_NOUTS,
    C_NPOOL,
    commit_block,
    compact_pool,
    link_wallets,
)
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
    included), as the dataset's ``inputs`` and ``outputs`` tables do. ``n_wallets`` counts the
    wallets that were created (hot wallets and mining pools included). ``owners`` (only with
    ``track_owners``) maps an address id to its owner wallet id (int64, 0 for ids no output
    uses: ids of a script type are spaced by its share, ~15 % stay unused; the script of an id
    is :func:`~chainsleuth.simulate.scalechain_kernels.write_script`'s).
    """

    blocks_dir: Path
    n_blocks: int
    n_txs: int
    n_inputs: int
    n_outputs: int
    n_addresses: int
    n_op_return: int
    n_peel_txs: int
    n_wallets: int
    first_regular_height: int
    utxo_pool: int
    bytes_written: int
    seconds: float
    cpu_seconds: float
    target_inputs: float
    target_outputs: float
    owners: np.ndarray | None = None

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
    track_owners: bool = False,
) -> ScaleChainReport:
    """Write a chain of exactly ``n_txs`` transactions to ``out_dir/blocks`` (see module doc).

    The same arguments give byte-identical files. ``progress(txs_done, n_txs)`` is called
    after every 100 blocks. Block times start at ``start_time`` (2024-01-01), ~600 s apart.
    ``track_owners`` records every address's owner wallet in the report (8 bytes per address
    id, grown by doubling).

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
    ctr[C_NEXT_ADDR] = ctr[C_NEXT_WALLET] = FIRST_FRESH
    pool = np.zeros((1 << 16, 8), np.uint64)
    wtab = np.zeros((1 << 17, 2), np.int64)
    owners = np.arange(FIRST_FRESH, dtype=np.int64)  # hot wallets and mining pools
    start = np.zeros(1024, np.int64)
    chains = np.zeros((mix.n_chains + 1, 8), np.uint64)
    chain_tx = np.full(mix.n_chains + 1, -1, np.int64)
    pending = np.zeros((100, 8), np.uint64)
    most = int(txs_per_block * 1.3) + 1
    buf = np.zeros(CB_RESERVE + most * 1000 + 100_000, np.uint8)
    outs = np.zeros((buf.shape[0] // 30, 4), np.int64)
    txpos = np.zeros((most + 2, 2), np.int64)
    work = (np.zeros(MAX_IO, np.int64), np.zeros(MAX_IO + 1), np.zeros(MAX_IO + 1, np.int64),
            np.zeros(MAX_IO + 1, np.int64))  # fmt: skip
    genesis = regtest_genesis()
    prev = genesis.hash[::-1]
    n_done, height, first_regular, t, base = 1, 1, 0, start_time, (0, 0, 0)
    with BlockFileWriter(blocks_dir, get_network("regtest").magic, None) as writer:
        writer.write(genesis.serialize())
        while n_done < n_txs:
            jitter = int(txs_per_block * (0.7 + 0.6 * py_rng.random()))
            n_target = 0 if height < 101 else min(max(1, jitter), most, n_txs - n_done - 1)
            pool, start, wtab = _make_room(pool, start, wtab, ctr, height, outs.shape[0] + 1)
            st = (rng, ctr, pool, start, chains, chain_tx, outs, txpos, wtab)
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
            if track_owners:
                owners = _note_owners(owners, outs[: ctr[C_NOUTS]], chains[: ctr[C_NCHAINS]])
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
        n_wallets=int(ctr[C_NEXT_WALLET]) - 1,
        first_regular_height=first_regular,
        utxo_pool=int(ctr[C_LIVE]),
        bytes_written=bytes_written,
        seconds=time.perf_counter() - started,
        cpu_seconds=time.process_time() - cpu_started,
        target_inputs=mean_inputs,
        target_outputs=mean_outputs,
        owners=owners[: 1 + int(np.flatnonzero(owners).max())] if track_owners else None,
    )


def _note_owners(owners: np.ndarray, outs: np.ndarray, chains: np.ndarray) -> np.ndarray:
    """Record the owner of the block's new outputs' addresses and of the peel chains' heads (a
    chain's change, spent by its next step, never reaches the outputs); returns ``owners``,
    grown (doubled) when an id lies beyond it."""
    addrs = np.concatenate([outs[:, 3], chains[:, 5].astype(np.int64)])
    wallets = np.concatenate([outs[:, 1] >> 32, (chains[:, 6] >> np.uint64(32)).astype(np.int64)])
    wallets &= 0x7FFFFFFF
    if addrs.size and addrs.max() >= owners.shape[0]:
        grown = np.zeros(max(2 * owners.shape[0], int(addrs.max()) + 1), np.int64)
        grown[: owners.shape[0]] = owners
        owners = grown
    owners[addrs] = wallets
    return owners


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
    pool: np.ndarray, start: np.ndarray, wtab: np.ndarray, ctr: np.ndarray, height: int, need: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compact the pool when two thirds of it are spent (or it is full), grow it when short.

    Compaction moves every unspent entry, so it waits for 2 spent entries per unspent one; the
    pool then holds at most ~3x the unspent coins (64 bytes each). The wallet table keeps at
    least two slots (16 bytes each) per pool row: it grows with the pool.
    """
    n_pool, live = int(ctr[C_NPOOL]), int(ctr[C_LIVE])
    garbage, full = n_pool - live, n_pool + need > pool.shape[0]
    if garbage > 2 * live or (full and garbage > live // 4):
        ctr[C_NPOOL] = n_pool = compact_pool(pool, start, n_pool, height - 1, wtab)
    if n_pool + need > pool.shape[0]:
        bigger = np.zeros((max(pool.shape[0] * 3 // 2, 3 * live + 2 * need), 8), np.uint64)
        bigger[:n_pool] = pool[:n_pool]
        pool = bigger
    if wtab.shape[0] < 2 * pool.shape[0]:
        wtab = np.zeros((1 << (2 * pool.shape[0] - 1).bit_length(), 2), np.int64)
        link_wallets(pool, n_pool, wtab)
    if height + 2 > start.shape[0]:
        start = np.concatenate([start, np.zeros(start.shape[0], np.int64)])
    return pool, start, wtab
