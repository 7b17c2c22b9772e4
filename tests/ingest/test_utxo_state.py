"""The ingest's UTXO index (store/hashindex.py) in the runner: its saved form (format 2), an
older saved form refused and rebuilt from the parts, the report's figures, and the consensus
bound on output values its 51-bit value field relies on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from chainsleuth.chain.block import Block
from chainsleuth.chain.network import get_network
from chainsleuth.chain.tx import Tx, TxIn, TxOut
from chainsleuth.errors import BlockDataError, DatasetError
from chainsleuth.ingest import ingest_blocks
from chainsleuth.ingest.state import load_state, utxo_state_current
from chainsleuth.store.dataset import Dataset
from chainsleuth.store.hashindex import SLOT_BYTES, UTXO_FORMAT, VALUE_LIMIT
from chainsleuth.store.manifest import Manifest
from chainsleuth.store.parts import sha256_file

REGTEST = get_network("regtest")


def _tables(path: Path) -> dict[str, str]:
    return {k: v for k, v in Manifest.load(path).files.items() if not k.startswith("state/")}


def _downgrade_to_format_1(ds: Path) -> None:
    """Rewrite the saved UTXO index the way format 1 stored it: seven columns sorted by out_id
    (41 bytes per entry), no format in the manifest."""
    raw = json.loads((ds / "manifest.json").read_text())
    u = raw["state"]["utxo"]
    state = load_state(ds, raw["state"], 8 << 20)
    cols = state.utxo.entries()
    with open(ds / u["file"], "wb") as fh:
        for c in cols:
            fh.write(np.ascontiguousarray(c).tobytes())
    f = ds / u["file"]
    raw["files"][u["file"]] = {"sha256": sha256_file(f), "bytes": f.stat().st_size}
    raw["state"]["utxo"] = {"file": u["file"], "count": u["count"]}
    (ds / "manifest.json").write_text(json.dumps(raw))


def test_state_of_format_1_is_refused_and_rebuilt_from_the_parts(
    tmp_path: Path, regtest_blocks_dir: Path, regtest_dataset: Path
) -> None:
    ds = tmp_path / "ds"
    ingest_blocks(regtest_blocks_dir, ds, "regtest", to_height=250, partition_span=100)
    meta = Manifest.load(ds).state
    assert meta["height"] == 199 and meta["utxo"]["format"] == UTXO_FORMAT
    assert (ds / meta["utxo"]["file"]).stat().st_size == SLOT_BYTES * meta["utxo"]["count"]
    _downgrade_to_format_1(ds)
    old = Manifest.load(ds).state
    assert not utxo_state_current(old)
    with pytest.raises(DatasetError, match="older format"):
        load_state(ds, old, 8 << 20)
    report = ingest_blocks(regtest_blocks_dir, ds, "regtest")
    assert report.tip_height == 473
    assert _tables(ds) == _tables(regtest_dataset)
    new = Manifest.load(ds).state
    assert utxo_state_current(new) and new["height"] == 399
    assert new["utxo"] == Manifest.load(regtest_dataset).state["utxo"]


def test_report_gives_the_utxo_index_figures(
    regtest_dataset: Path, regtest_blocks_dir: Path, tmp_path: Path
) -> None:
    fresh = ingest_blocks(regtest_blocks_dir, tmp_path / "fresh", "regtest", partition_span=100)
    with Dataset.open(regtest_dataset) as d:
        unspent = d.sql(
            "SELECT count(*) FROM outputs WHERE spent_by_tx IS NULL AND script_type <> 'nulldata'"
        ).fetchone()[0]
    assert fresh.utxo_entries == unspent == 1250
    assert fresh.utxo_bytes >= SLOT_BYTES * unspent / 0.9
    assert fresh.utxo_peak_bytes >= fresh.utxo_bytes


def _fork_with_coinbase_value(regtest_blocks_dir: Path, tmp_path: Path, value: int) -> Path:
    from chainsleuth.ingest.blkfiles import BlockFiles

    files = BlockFiles.open(regtest_blocks_dir, REGTEST)
    raws = [files.read_block(r) for r in files.scan()]
    files.close()
    prev = Block.parse(raws[469])
    fork: list[bytes] = []
    for height in range(470, 476):  # more work than the four blocks they replace
        outs = (TxOut(value if height == 471 else 50_000, bytes.fromhex("0014") + bytes(20)),)
        script_sig = bytes([3]) + height.to_bytes(3, "little")
        coinbase = Tx(2, (TxIn(bytes(32), 0xFFFFFFFF, script_sig, 0xFFFFFFFF),), outs, 0)
        block = Block.build(prev.hash, [coinbase], prev.header.time + 600, prev.header.bits)
        fork.append(block.serialize())
        prev = block
    blocks = tmp_path / "blocks"
    blocks.mkdir()
    with open(blocks / "blk00000.dat", "wb") as fh:
        for raw in raws[:470] + fork:
            fh.write(REGTEST.magic + len(raw).to_bytes(4, "little") + raw)
    return blocks


def test_output_value_past_max_money_stops_the_ingest_naming_the_block(
    tmp_path: Path, regtest_blocks_dir: Path
) -> None:
    blocks = _fork_with_coinbase_value(regtest_blocks_dir, tmp_path, VALUE_LIMIT + 1)
    ds = tmp_path / "ds"
    with pytest.raises(BlockDataError, match=r"height 471.*output 0: output value outside"):
        ingest_blocks(blocks, ds, "regtest", partition_span=100)
    assert Manifest.load(ds).tip_height == 399  # the partitions before the bad block are kept


def test_output_value_of_max_money_is_held(tmp_path: Path, regtest_blocks_dir: Path) -> None:
    blocks = _fork_with_coinbase_value(regtest_blocks_dir, tmp_path, VALUE_LIMIT)
    report = ingest_blocks(blocks, tmp_path / "ds", "regtest", partition_span=100)
    assert report.tip_height == 475
