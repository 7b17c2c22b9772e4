"""Index files added to a dataset that lacks them (``chainsleuth index``): the same files the
ingest writes, recorded in the manifest, and lookups work again."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from chainsleuth.store.manifest import Manifest
from chainsleuth.store.reindex import missing_index_partitions

CliRun = Callable[..., tuple[int, str, str]]
ADDRESS = "bcrt1q5308qu3ejczty83g4ghe2n23kzulh66wz4wnm2"


def _strip_indexes(src: Path, dst: Path) -> dict[str, str]:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("derived"))
    m = Manifest.load(dst)
    kept = {k: v for k, v in m.files.items() if k.startswith("index/")}
    m.files = {k: v for k, v in m.files.items() if not k.startswith("index/")}
    m.save(dst)
    shutil.rmtree(dst / "index")
    return kept


def test_index_rebuilds_the_ingests_files(
    regtest_dataset: Path, tmp_path: Path, cli_run: CliRun
) -> None:
    data = tmp_path / "old"
    original = _strip_indexes(regtest_dataset, data)
    assert len(missing_index_partitions(Manifest.load(data))) == 5
    code, out, _ = cli_run("index", "--data", str(data))
    assert code == 0 and "built the index files of 5 partitions" in out
    rebuilt = {k: v for k, v in Manifest.load(data).files.items() if k.startswith("index/")}
    assert rebuilt == original  # byte-identical to what the ingest wrote (same sha256)
    code, out, _ = cli_run("index", "--data", str(data))
    assert code == 0 and "every partition has its index files" in out
    assert cli_run("verify", "--data", str(data))[0] == 0
    code, out, _ = cli_run("show", ADDRESS, "--data", str(data), "--json")
    assert code == 0 and ADDRESS in out


def test_index_names_a_missing_dataset(tmp_path: Path, cli_run: CliRun) -> None:
    code, _, err = cli_run("index", "--data", str(tmp_path / "nope"))
    assert code == 2
    assert err.strip().endswith(f"(no manifest.json): {tmp_path / 'nope'}")
