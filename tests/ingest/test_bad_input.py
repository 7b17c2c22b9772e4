"""Bad input: exit code 2, one line naming the problem, and nothing written half."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from chainsleuth.chain.network import get_network
from chainsleuth.ingest import ingest_blocks
from chainsleuth.ingest.blkfiles import BlockFiles
from chainsleuth.store.dataset import Dataset
from chainsleuth.store.manifest import Manifest

REGTEST = get_network("regtest")


def _copy_blocks(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for f in src.iterdir():
        shutil.copy(f, dst / f.name)
    return dst


def _one_line_error(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_missing_source_directory(cli_run: Any, tmp_path: Path) -> None:
    code, _, err = cli_run("ingest", str(tmp_path / "nope"), "--data", str(tmp_path / "ds"))
    assert code == 2
    assert "nope" in _one_line_error(err) and "does not exist" in err


def test_empty_source_directory(cli_run: Any, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = cli_run("ingest", str(tmp_path / "empty"), "--data", str(tmp_path / "ds"))
    assert code == 2
    assert "no blk*.dat files" in _one_line_error(err)


def test_wrong_network_magic(cli_run: Any, tmp_path: Path, regtest_blocks_dir: Path) -> None:
    code, _, err = cli_run("ingest", str(regtest_blocks_dir), "--data", str(tmp_path / "ds"))
    assert code == 2
    line = _one_line_error(err)
    assert "fabfb5da" in line and "regtest" in line and "--network regtest" in line
    assert not (tmp_path / "ds" / "tables").exists()


def test_unknown_network_name(cli_run: Any, tmp_path: Path, regtest_blocks_dir: Path) -> None:
    code, _, err = cli_run(
        "ingest", str(regtest_blocks_dir), "--data", str(tmp_path / "ds"), "--network", "mainnet"
    )
    assert code == 2
    assert "'mainnet'" in _one_line_error(err)


def test_truncated_last_block_is_skipped_with_warning(
    cli_run: Any, tmp_path: Path, regtest_blocks_dir: Path
) -> None:
    blocks = _copy_blocks(regtest_blocks_dir, tmp_path / "blocks")
    blk = blocks / "blk00000.dat"
    data = blk.read_bytes()
    blk.write_bytes(data[:-100])  # Core was still writing the last block
    code, _, err = cli_run(
        "ingest", str(blocks), "--data", str(tmp_path / "ds"), "--network", "regtest"
    )
    assert code == 0, err
    assert "truncated block record skipped" in err
    assert Manifest.load(tmp_path / "ds").tip_height == 472


@pytest.mark.parametrize("pad", [5, 4096 + 3])
def test_preallocated_padding_of_an_obfuscated_file_ends_the_scan(
    tmp_path: Path, regtest_blocks_dir: Path, pad: int
) -> None:
    """Core pre-allocates blk files with zeros written past the XOR layer (as in the shared
    16 MiB regtest file): after de-obfuscation they read as the key, and end the file cleanly."""
    blocks = _copy_blocks(regtest_blocks_dir, tmp_path / "blocks")
    blk = blocks / "blk00000.dat"
    with open(blk, "ab") as fh:
        fh.write(bytes(pad))
    files = BlockFiles.open(blocks, REGTEST)
    assert files.key != bytes(8)
    assert len(files.scan()) == 474
    assert files.truncated == []


def test_garbage_after_the_last_record_is_an_error_naming_the_offset(
    cli_run: Any, tmp_path: Path, regtest_blocks_dir: Path
) -> None:
    blocks = _copy_blocks(regtest_blocks_dir, tmp_path / "blocks")
    blk = blocks / "blk00000.dat"
    size = blk.stat().st_size
    with open(blk, "ab") as fh:
        fh.write(b"\x01\x02\x03\x04\x05\x06\x07\x08" + bytes(64))
    code, _, err = cli_run(
        "ingest", str(blocks), "--data", str(tmp_path / "ds"), "--network", "regtest"
    )
    assert code == 2
    assert f"offset {size}: unexpected bytes" in _one_line_error(err)


def test_flipped_byte_is_a_merkle_mismatch_naming_file_and_offset(
    cli_run: Any, tmp_path: Path, regtest_blocks_dir: Path
) -> None:
    blocks = _copy_blocks(regtest_blocks_dir, tmp_path / "blocks")
    records = BlockFiles.open(blocks, REGTEST).scan()
    target = records[300]
    blk = blocks / "blk00000.dat"
    data = bytearray(blk.read_bytes())
    pos = target.offset + 82  # the coinbase version of block 300: still parses, txid changes
    data[pos] ^= 0x01
    blk.write_bytes(bytes(data))
    ds = tmp_path / "ds"
    code, _, err = cli_run(
        "ingest", str(blocks), "--data", str(ds), "--network", "regtest", "--partition-span", "100"
    )
    assert code == 2
    line = _one_line_error(err)
    assert "blk00000.dat offset" in line and "merkle root mismatch" in line
    assert "at height 300" in line
    # The complete partitions before the bad block are kept and consistent; nothing half-written.
    manifest = Manifest.load(ds)
    assert manifest.tip_height == 299
    with Dataset.open(ds) as opened:
        assert opened.sql("SELECT max(height) FROM blocks").fetchone() == (299,)
        assert opened.sql(
            f"SELECT count(*) FROM outputs WHERE spent_by_tx >= {manifest.counts['txs']}"
        ).fetchone() == (0,)


def test_unreadable_block_file(cli_run: Any, tmp_path: Path) -> None:
    blocks = tmp_path / "blocks"
    (blocks / "blk00000.dat").mkdir(parents=True)  # a directory where a file should be
    code, _, err = cli_run("ingest", str(blocks), "--data", str(tmp_path / "ds"))
    assert code == 2
    assert "cannot read" in _one_line_error(err) and "blk00000.dat" in err


def test_dataset_of_another_network(cli_run: Any, tmp_path: Path, regtest_blocks_dir: Path) -> None:
    ds = tmp_path / "ds"
    ds.mkdir()
    Manifest.new("main", 1000).save(ds)
    code, _, err = cli_run(
        "ingest", str(regtest_blocks_dir), "--data", str(ds), "--network", "regtest"
    )
    assert code == 2
    assert "is main, not regtest" in _one_line_error(err)


def test_dataset_of_another_schema_version(
    cli_run: Any, tmp_path: Path, regtest_blocks_dir: Path
) -> None:
    ds = tmp_path / "ds"
    ds.mkdir()
    Manifest.new("regtest", 1000).save(ds)
    manifest = json.loads((ds / "manifest.json").read_text())
    manifest["schema_version"] = 99
    (ds / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = cli_run(
        "ingest", str(regtest_blocks_dir), "--data", str(ds), "--network", "regtest"
    )
    assert code == 2
    assert "schema_version 99" in _one_line_error(err)


@pytest.mark.parametrize("verb", ["ingest", "show"])
def test_contract_v1_dataset_asks_for_a_reingest(
    cli_run: Any, tmp_path: Path, regtest_blocks_dir: Path, verb: str
) -> None:
    """A dataset of the v1 contract (rewritten output parts) is refused with what to do."""
    ds = tmp_path / "ds"
    ds.mkdir()
    Manifest.new("regtest", 1000).save(ds)
    manifest = json.loads((ds / "manifest.json").read_text())
    manifest["schema_version"] = 1
    (ds / "manifest.json").write_text(json.dumps(manifest))
    args = [str(regtest_blocks_dir), "--network", "regtest"] if verb == "ingest" else ["0"]
    code, _, err = cli_run(verb, *args, "--data", str(ds))
    assert code == 2
    line = _one_line_error(err)
    assert "schema_version 1" in line and "re-ingest" in line


def test_show_unknown_address_and_txid(cli_run: Any, regtest_dataset: Path) -> None:
    code, _, err = cli_run("show", "--data", str(regtest_dataset), "bcrt1qnotthere")
    assert code == 2 and "bcrt1qnotthere" in _one_line_error(err)
    code, _, err = cli_run("show", "--data", str(regtest_dataset), "ab" * 32)
    assert code == 2 and "ab" * 32 in _one_line_error(err)


def test_show_on_a_directory_that_is_no_dataset(cli_run: Any, tmp_path: Path) -> None:
    code, _, err = cli_run("show", "--data", str(tmp_path), "100")
    assert code == 2 and "not a chainsleuth dataset" in _one_line_error(err)


@pytest.mark.parametrize("shuffle_seed", [7])
def test_out_of_order_and_stale_blocks(
    tmp_path: Path, regtest_blocks_dir: Path, regtest_dataset: Path, shuffle_seed: int
) -> None:
    """Blocks stored out of height order plus a stale fork block give the same dataset."""
    import random

    from chainsleuth.chain.block import Block
    from chainsleuth.chain.tx import Tx

    files = BlockFiles.open(regtest_blocks_dir, REGTEST)
    raws = [files.read_block(r) for r in files.scan()]
    files.close()
    # A competing block at height 101 (same parent as the real one): equal work, seen later: stale.
    parent = Block.parse(raws[100])
    real = Block.parse(raws[101])
    coinbase = real.txs[0]
    stale_cb = Tx(coinbase.version, coinbase.inputs, coinbase.outputs[:1], coinbase.locktime + 1)
    stale = Block.build(
        parent.hash, [stale_cb], real.header.time + 1, real.header.bits, real.header.version
    )
    order = list(range(len(raws)))
    random.Random(shuffle_seed).shuffle(order)
    order.remove(0)
    order.insert(0, 0)
    out = tmp_path / "blocks"
    out.mkdir()
    with open(out / "blk00000.dat", "wb") as fh:
        for i in order[:200]:
            fh.write(REGTEST.magic + len(raws[i]).to_bytes(4, "little") + raws[i])
    with open(out / "blk00001.dat", "wb") as fh:
        for i in order[200:]:
            fh.write(REGTEST.magic + len(raws[i]).to_bytes(4, "little") + raws[i])
        raw = stale.serialize()
        fh.write(REGTEST.magic + len(raw).to_bytes(4, "little") + raw)
        fh.write(bytes(64))  # Core's zero padding
    report = ingest_blocks(out, tmp_path / "ds", "regtest", partition_span=100)
    assert report.stale_blocks == 1
    assert Manifest.load(tmp_path / "ds").files == Manifest.load(regtest_dataset).files
