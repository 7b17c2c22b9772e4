"""``chainsleuth verify``: every file against the manifest, the manifest against itself and,
with ``--deep``, against the Parquet data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chainsleuth.errors import DatasetError
from chainsleuth.store.parts import sha256_file, write_table_atomic
from chainsleuth.store.verify import _min_max, verify_dataset

PART = "h000000300-000000399.parquet"


@pytest.fixture()
def ds(regtest_dataset: Path, tmp_path: Path) -> Path:
    """A private copy of the session's regtest dataset, free to corrupt."""
    return Path(shutil.copytree(regtest_dataset, tmp_path / "ds"))


def _manifest(ds: Path) -> dict[str, Any]:
    return dict(json.loads((ds / "manifest.json").read_text()))


def _save_manifest(ds: Path, body: dict[str, Any]) -> None:
    (ds / "manifest.json").write_text(json.dumps(body, indent=1))


def _errors(err: str) -> list[str]:
    return err.strip().splitlines()


def test_clean_dataset_verifies(ds: Path, cli_run: Any) -> None:
    code, out, err = cli_run("verify", "--data", str(ds))
    files = len(_manifest(ds)["files"])
    assert (code, err) == (0, "")
    assert out.startswith(f"ok: {files} files, ") and out.rstrip().endswith("GB verified")
    code, out, _ = cli_run("verify", "--data", str(ds), "--deep", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["deep"] and report["problems"] == []
    assert report["bytes"] == sum((ds / f).stat().st_size for f in _manifest(ds)["files"])


def test_manifest_records_sizes(ds: Path) -> None:
    files = _manifest(ds)["files"]
    rel = f"tables/txs/{PART}"
    assert files[rel]["bytes"] == (ds / rel).stat().st_size


def test_flipped_bit_names_the_part(ds: Path, cli_run: Any) -> None:
    rel = f"tables/outputs/{PART}"
    raw = bytearray((ds / rel).read_bytes())
    raw[len(raw) // 2] ^= 0x10
    (ds / rel).write_bytes(bytes(raw))
    for extra in ([], ["--deep"]):
        code, _, err = cli_run("verify", "--data", str(ds), *extra)
        assert code == 2
        assert _errors(err) == [f"error: {rel}: sha256 mismatch"]


def test_missing_part_is_named(ds: Path, cli_run: Any) -> None:
    rel = f"tables/inputs/{PART}"
    (ds / rel).unlink()
    code, _, err = cli_run("verify", "--data", str(ds))
    assert code == 2 and _errors(err) == [f"error: {rel}: missing"]


def test_truncated_state_file_is_a_size_mismatch(ds: Path) -> None:
    rel = next(f for f in _manifest(ds)["files"] if f.startswith("state/utxo-"))
    size = (ds / rel).stat().st_size
    with open(ds / rel, "r+b") as fh:
        fh.truncate(size - 8)
    problems = [str(p) for p in verify_dataset(ds).problems]
    assert problems == [f"{rel}: size {size - 8} bytes, the manifest says {size}"]


def test_stray_files_are_named(ds: Path, cli_run: Any) -> None:
    (ds / "tables" / "txs" / "h000000500-000000599.parquet").write_bytes(b"PAR1")
    (ds / "index" / "txid" / "leftover.npy.tmp").write_bytes(b"")
    (ds / "derived").mkdir(exist_ok=True)
    (ds / "derived" / "notes.txt").write_text("derived results are not in the manifest")
    code, _, err = cli_run("verify", "--data", str(ds))
    assert code == 2
    assert _errors(err) == [
        "error: index/txid/leftover.npy.tmp: not listed in the manifest",
        "tables/txs/h000000500-000000599.parquet: not listed in the manifest",
    ]


def test_gap_in_ids_is_named(ds: Path, cli_run: Any) -> None:
    body = _manifest(ds)
    body["partitions"][3]["first_out_id"] += 7
    _save_manifest(ds, body)
    code, _, err = cli_run("verify", "--data", str(ds))
    assert code == 2
    first = _errors(err)[0]
    assert first.startswith("error: manifest.json: partition 300-399: first_out_id ")
    assert "ids not contiguous" in first


def test_manifest_totals_tip_and_listing(ds: Path) -> None:
    body = _manifest(ds)
    body["counts"]["txs"] += 1
    body["tip"]["height"] -= 1
    del body["files"][f"index/txid/{PART.replace('.parquet', '.npy')}"]
    _save_manifest(ds, body)
    problems = [str(p) for p in verify_dataset(ds).problems]
    tip = body["tip"]["height"] + 1
    txs = body["counts"]["txs"]
    npy = PART.replace(".parquet", ".npy")
    assert problems == [
        f"manifest.json: counts.txs {txs}, the partitions sum to {txs - 1}",
        f"manifest.json: tip height {tip - 1}, the last partition ends at {tip}",
        f"manifest.json: index/txid/{npy} of partition 300-399 is not listed",
        f"index/txid/{npy}: not listed in the manifest",
        f"tables/blocks/h000000400-000000499.parquet: ends at block {tip} "
        f"{body['tip']['hash']}, the manifest's tip is {tip - 1} {body['tip']['hash']}",
    ]


def test_deep_finds_a_part_one_row_short(ds: Path, cli_run: Any) -> None:
    rel = f"tables/addresses/{PART}"
    table = pq.read_table(ds / rel)
    write_table_atomic(table.slice(0, table.num_rows - 1), ds / rel)
    body = _manifest(ds)
    body["files"][rel] = {"sha256": sha256_file(ds / rel), "bytes": (ds / rel).stat().st_size}
    _save_manifest(ds, body)
    assert cli_run("verify", "--data", str(ds))[0] == 0  # the checksums alone agree
    code, _, err = cli_run("verify", "--data", str(ds), "--deep")
    rows = table.num_rows
    assert code == 2
    assert _errors(err) == [f"error: {rel}: {rows - 1} rows, the manifest says {rows}"]


def test_deep_finds_shifted_ids(ds: Path) -> None:
    rel = f"tables/txs/{PART}"
    table = pq.read_table(ds / rel)
    ids = pa.compute.add(table.column("tx_id"), 1)
    write_table_atomic(table.set_column(0, "tx_id", ids), ds / rel)
    body = _manifest(ds)
    body["files"][rel] = {"sha256": sha256_file(ds / rel), "bytes": (ds / rel).stat().st_size}
    _save_manifest(ds, body)
    p = body["partitions"][3]
    lo, hi = p["first_tx_id"], p["first_tx_id"] + p["n_txs"] - 1
    problems = [str(x) for x in verify_dataset(ds, deep=True).problems]
    assert problems == [f"{rel}: tx_id {lo + 1}..{hi + 1}, the manifest says {lo}..{hi}"]


def test_min_max_without_statistics(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"x": [5, 3, 9, 4]}), path, write_statistics=False, row_group_size=2)
    pf = pq.ParquetFile(path)
    assert pf.metadata.row_group(0).column(0).statistics is None
    assert _min_max(pf, "x") == (3, 9)


def test_not_a_dataset(tmp_path: Path, cli_run: Any) -> None:
    with pytest.raises(DatasetError):
        verify_dataset(tmp_path)
    code, _, err = cli_run("verify", "--data", str(tmp_path))
    assert code == 2 and _errors(err) == [
        f"error: not a chainsleuth dataset (no manifest.json): {tmp_path}"
    ]


def test_progress_reports_every_byte(ds: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    report = verify_dataset(ds, progress=lambda *a: seen.append(a))
    assert seen[-1][1:] == (report.bytes, report.bytes)
