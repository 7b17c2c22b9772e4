"""Resume: an appended or killed-and-rerun ingest writes the identical dataset."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chainsleuth.ingest import ingest_blocks
from chainsleuth.store.manifest import Manifest


def _files(path: Path) -> dict[str, str]:
    return Manifest.load(path).files


def test_append_in_steps_equals_one_run(
    tmp_path: Path, regtest_blocks_dir: Path, regtest_dataset: Path
) -> None:
    ds = tmp_path / "ds"
    first = ingest_blocks(regtest_blocks_dir, ds, "regtest", to_height=150, partition_span=100)
    assert first.tip_height == 150
    assert Manifest.load(ds).partitions[-1].complete is False
    again = ingest_blocks(regtest_blocks_dir, ds, "regtest", to_height=150)
    assert again.up_to_date
    rest = ingest_blocks(regtest_blocks_dir, ds, "regtest")
    assert rest.tip_height == 473
    assert _files(ds) == _files(regtest_dataset)


def test_spilling_address_dictionary_writes_the_same_parts(
    tmp_path: Path, regtest_blocks_dir: Path, regtest_dataset: Path
) -> None:
    """A 32 KiB address dictionary spills every few hundred addresses: same bytes, in steps too."""
    ds = tmp_path / "ds"
    ingest_blocks(regtest_blocks_dir, ds, "regtest", to_height=150, partition_span=100,
                  address_memory=TINY)  # fmt: skip
    ingest_blocks(regtest_blocks_dir, ds, "regtest", address_memory=TINY)
    files = _files(ds)
    runs = [f for f in files if f.startswith("state/addresses/run-")]
    assert len(runs) >= 2  # it did spill (9,175 addresses, a few hundred per spill, merged)
    tables = {k: v for k, v in files.items() if k.startswith("tables/")}
    assert tables == {k: v for k, v in _files(regtest_dataset).items() if k.startswith("tables/")}
    one_run = tmp_path / "one"
    ingest_blocks(regtest_blocks_dir, one_run, "regtest", partition_span=100, address_memory=TINY)
    assert _files(one_run) == files


TINY = 32 << 10

_KILL_SCRIPT = """
import sys
from chainsleuth.ingest import ingest_blocks
ingest_blocks(sys.argv[1], sys.argv[2], "regtest", partition_span=10, checkpoint_seconds=0,
              address_memory=32 << 10, utxo_memory=64 << 10)
"""


@pytest.mark.slow
def test_kill_9_at_any_moment_then_rerun_gives_identical_dataset(
    tmp_path: Path, regtest_blocks_dir: Path
) -> None:
    """The killed runs' UTXO index spills (64 KiB in RAM), the reference's does not."""
    reference = tmp_path / "reference"
    ingest_blocks(regtest_blocks_dir, reference, "regtest", partition_span=10, address_memory=TINY)
    expected = _files(reference)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    for i, delay in enumerate((1.0, 2.0, 3.5)):
        ds = tmp_path / f"killed{i}"
        proc = subprocess.Popen(
            [sys.executable, "-c", _KILL_SCRIPT, str(regtest_blocks_dir), str(ds)], env=env
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if (ds / "manifest.json").exists():
            partial = json.loads((ds / "manifest.json").read_text())
            assert partial["tip"]["height"] <= 473
        report = ingest_blocks(  # the same command
            regtest_blocks_dir, ds, "regtest", partition_span=10, address_memory=TINY,
            utxo_memory=64 << 10,
        )  # fmt: skip
        assert report.tip_height == 473 or report.up_to_date
        assert _files(ds) == expected


def test_two_worker_processes_write_the_identical_dataset(
    tmp_path: Path,
    regtest_blocks_dir: Path,
    regtest_dataset: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chainsleuth.ingest import runner

    monkeypatch.setattr(runner, "POOL_MIN_BYTES", 0)  # this small chain would run in one process
    ds = tmp_path / "ds"
    ingest_blocks(regtest_blocks_dir, ds, "regtest", partition_span=100, workers=2)
    assert _files(ds) == _files(regtest_dataset)


def test_reorg_rolls_back_partitions_above_the_fork(
    tmp_path: Path, regtest_blocks_dir: Path, regtest_dataset: Path
) -> None:
    """A longer fork from height 470 replaces the old tip; result equals a fresh ingest."""
    import shutil

    from chainsleuth.chain.block import Block
    from chainsleuth.chain.network import get_network
    from chainsleuth.chain.tx import Tx, TxIn, TxOut
    from chainsleuth.ingest.blkfiles import BlockFiles

    regtest = get_network("regtest")
    files = BlockFiles.open(regtest_blocks_dir, regtest)
    raws = [files.read_block(r) for r in files.scan()]
    files.close()
    prev = Block.parse(raws[469])
    fork: list[bytes] = []
    for height in range(470, 476):  # six blocks: more work than the four they replace
        coinbase = Tx(
            2,
            (TxIn(bytes(32), 0xFFFFFFFF, bytes([3]) + height.to_bytes(3, "little"), 0xFFFFFFFF),),
            (TxOut(50_000, bytes.fromhex("0014") + bytes(20)),),
            0,
        )
        block = Block.build(prev.hash, [coinbase], prev.header.time + 600, prev.header.bits)
        fork.append(block.serialize())
        prev = block
    blocks = tmp_path / "blocks"
    blocks.mkdir()
    with open(blocks / "blk00000.dat", "wb") as fh:
        for raw in raws + fork:
            fh.write(regtest.magic + len(raw).to_bytes(4, "little") + raw)
    ds = tmp_path / "ds"
    shutil.copytree(regtest_dataset, ds, ignore=shutil.ignore_patterns("derived"))
    report = ingest_blocks(blocks, ds, "regtest")
    assert report.tip_height == 475 and report.stale_blocks == 4
    fresh = tmp_path / "fresh"
    ingest_blocks(blocks, fresh, "regtest", partition_span=100)
    assert _files(ds) == _files(fresh)
    assert Manifest.load(ds).tip_hash == prev.hash.hex()
