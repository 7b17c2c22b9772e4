"""The scale chain generator: valid regtest blocks, spends and values, ingest, statistics."""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from chainsleuth.chain.block import Block
from chainsleuth.chain.network import get_network
from chainsleuth.chain.script import classify_script
from chainsleuth.chain.tx import Tx
from chainsleuth.ingest.blkfiles import BlockFiles
from chainsleuth.simulate.scalechain import ScaleChainReport, generate_scale_chain, mix_for

SEED = 5
N_TXS = 5000
PER_BLOCK = 200
REGTEST = get_network("regtest")
Reader = Callable[[Path], list[tuple[str, int, Block]]]


@dataclass
class Chain:
    report: ScaleChainReport
    blocks: list[Block]


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory, blk_reader: Reader) -> Chain:
    out = tmp_path_factory.mktemp("scale")
    report = generate_scale_chain(out, N_TXS, seed=SEED, txs_per_block=PER_BLOCK)
    return Chain(report, [block for _, _, block in blk_reader(report.blocks_dir)])


def _subsidy(height: int) -> int:
    return (50 * 100_000_000) >> (height // 150)


def test_blocks_chain_up_and_meet_regtest_rules(chain: Chain) -> None:
    blocks = chain.blocks
    assert blocks[0].hash.hex() == REGTEST.genesis_hash
    assert len(blocks) == chain.report.n_blocks
    assert sum(len(b.txs) for b in blocks) == chain.report.n_txs == N_TXS
    for height, (prev, block) in enumerate(itertools.pairwise(blocks), start=1):
        assert block.header.prev_hash == prev.hash
        assert block.header.bits == 0x207FFFFF and block.check_pow()
        assert block.compute_merkle_root() == block.header.merkle_root
        assert block.bip34_height() == height
        assert block.header.time > prev.header.time
        assert block.txs[0].is_coinbase
        assert not any(tx.is_coinbase or tx.has_witness for tx in block.txs[1:])
    assert blocks[1].header.time >= 1_704_067_200  # 2024, not the genesis date


def test_inputs_spend_unspent_outputs_of_earlier_blocks_and_values_balance(chain: Chain) -> None:
    unspent: dict[tuple[bytes, int], tuple[int, int, bool]] = {}  # value, height, coinbase
    ages = []
    for height, block in enumerate(chain.blocks):
        fees = 0
        created = {}
        for tx in block.txs[1:]:
            v_in = 0
            for txin in tx.inputs:
                value, born, coinbase = unspent.pop((txin.prev_txid, txin.prev_vout))
                assert born < height and (not coinbase or height - born >= 100)
                v_in += value
                ages.append(height - born)
            v_out = sum(o.value for o in tx.outputs)
            assert 0 < v_out <= v_in
            assert all(o.value >= 546 or o.script_pubkey[0] == 0x6A for o in tx.outputs)
            fees += v_in - v_out
            for vout, o in enumerate(tx.outputs):
                if o.script_pubkey[0] != 0x6A:
                    created[(tx.txid, vout)] = (o.value, height, False)
        coinbase = block.txs[0]
        if height:  # the genesis output is not spendable
            assert [o.value for o in coinbase.outputs] == [_subsidy(height) + fees]
            created[(coinbase.txid, 0)] = (coinbase.outputs[0].value, height, True)
        unspent.update(created)
    assert len(ages) == chain.report.n_inputs - chain.report.n_blocks
    recent = sum(a <= 3 for a in ages) / len(ages)
    assert 0.3 < recent < 0.9 and max(ages) >= 10  # mostly young coins, a tail of old ones


def test_block_files_read_back_with_blockfiles(chain: Chain) -> None:
    files = BlockFiles.open(chain.report.blocks_dir, REGTEST)
    try:
        records = files.scan()
        assert len(records) == len(chain.blocks)
        assert [files.read_block(r) for r in records[-3:]] == [
            b.serialize() for b in chain.blocks[-3:]
        ]
    finally:
        files.close()


def test_report_counts_match_the_blocks(chain: Chain) -> None:
    txs = [tx for b in chain.blocks for tx in b.txs]
    report = chain.report
    assert report.n_inputs == sum(len(tx.inputs) for tx in txs)
    assert report.n_outputs == sum(len(tx.outputs) for tx in txs)
    assert report.n_op_return == sum(o.script_pubkey[0] == 0x6A for tx in txs for o in tx.outputs)
    scripts = {o.script_pubkey for tx in txs for o in tx.outputs if o.script_pubkey[0] != 0x6A}
    assert report.n_addresses == len(scripts)


def test_mix_of_shapes_scripts_and_address_reuse(chain: Chain) -> None:
    start = chain.report.first_regular_height
    regular = [tx for b in chain.blocks[start:] for tx in b.txs[1:]]
    mean_in = sum(len(tx.inputs) for tx in regular) / len(regular)
    mean_out = sum(len(tx.outputs) for tx in regular) / len(regular)
    assert abs(mean_in - 2.5) < 0.2 and abs(mean_out - 2.6) < 0.2
    shapes = Counter((min(len(tx.inputs), 3), min(len(tx.outputs), 3)) for tx in regular)
    assert shapes[(1, 2)] == max(shapes.values())  # most: 1 input, payment + change
    assert max(len(tx.inputs) for tx in regular) >= 30  # consolidations
    assert max(len(tx.outputs) for tx in regular) >= 100  # batch payouts
    outputs = [o.script_pubkey for tx in regular for o in tx.outputs]
    types = Counter(classify_script(s) for s in outputs)
    assert set(types) == {
        "pubkeyhash",
        "scripthash",
        "witness_v0_keyhash",
        "witness_v0_scripthash",
        "witness_v1_taproot",
        "pubkey",
        "nulldata",
    }
    assert types["witness_v0_keyhash"] == max(types.values())
    per_script = Counter(outputs)
    fresh = sum(n == 1 for n in per_script.values()) / len(outputs)
    assert 0.5 < fresh < 0.9  # most outputs go to fresh addresses ...
    assert per_script.most_common(1)[0][1] > 0.005 * len(outputs)  # ... a hot wallet to many


def test_peel_chains_run_over_many_blocks(chain: Chain) -> None:
    # a peel: 1 input, 2 outputs, the larger spent by the next peel in a later block
    spender: dict[tuple[bytes, int], Tx] = {}
    height_of: dict[bytes, int] = {}
    for height, block in enumerate(chain.blocks):
        for tx in block.txs[1:]:
            height_of[tx.txid] = height
            for txin in tx.inputs:
                spender[(txin.prev_txid, txin.prev_vout)] = tx
    longest = 0
    for block in chain.blocks:
        for tx in block.txs[1:]:
            hops, cur = 0, tx
            while len(cur.inputs) == 1 and len(cur.outputs) == 2:
                larger = 0 if cur.outputs[0].value > cur.outputs[1].value else 1
                nxt = spender.get((cur.txid, larger))
                if nxt is None or len(nxt.inputs) != 1:
                    break
                assert height_of[nxt.txid] > height_of[cur.txid]
                hops, cur = hops + 1, nxt
            longest = max(longest, hops)
    assert longest >= 8
    n_regular = sum(len(b.txs) - 1 for b in chain.blocks[chain.report.first_regular_height :])
    assert chain.report.n_peel_txs > 0.03 * n_regular


def test_ingest_agrees_with_the_report(chain: Chain, tmp_path: Path) -> None:
    from chainsleuth.ingest import ingest_blocks
    from chainsleuth.store.dataset import Dataset

    data = tmp_path / "ds"
    ingest_blocks(chain.report.blocks_dir, data, "regtest")
    ds = Dataset.open(data)
    report = chain.report
    counts = [ds.sql(f"select count(*) from {t}").fetchone()[0] for t in ("txs", "inputs")]
    counts += [ds.sql(f"select count(*) from {t}").fetchone()[0] for t in ("outputs", "addresses")]
    assert counts == [report.n_txs, report.n_inputs, report.n_outputs, report.n_addresses]
    (min_fee,) = ds.sql("select min(fee) from txs where not is_coinbase").fetchone()
    assert min_fee >= 0


def test_same_seed_same_bytes_other_seed_other_chain(tmp_path: Path) -> None:
    def digest(seed: int, name: str) -> str:
        r = generate_scale_chain(tmp_path / name, 1500, seed=seed, txs_per_block=100)
        return hashlib.sha256((r.blocks_dir / "blk00000.dat").read_bytes()).hexdigest()

    assert digest(3, "a") == digest(3, "b") != digest(4, "c")


def test_tiny_chains_and_impossible_means(tmp_path: Path, blk_reader: Reader) -> None:
    report = generate_scale_chain(tmp_path, 1)
    [(_, _, genesis)] = blk_reader(report.blocks_dir)
    assert genesis.hash.hex() == REGTEST.genesis_hash and report.n_blocks == 1
    with pytest.raises(ValueError, match="out of reach"):
        mix_for(1.0, 2.6, 100)
    with pytest.raises(ValueError, match="positive"):
        generate_scale_chain(tmp_path, 0)
