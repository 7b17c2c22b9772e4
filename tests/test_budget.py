"""``--memory-limit``: any size from 64M up is accepted, a bad one named; results do not change."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.golden.digest import GOLDEN, clustering_digest

from chainsleuth.budget import MIN_BUDGET, MemoryBudget, parse_size
from chainsleuth.errors import InputError
from chainsleuth.store.dataset import Dataset

CliRun = Callable[..., tuple[int, str, str]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("64M", 64 << 20), ("2G", 2 << 30), ("1.5GiB", 3 << 29), ("512mb", 512 << 20), ("4096", 4096)],
)
def test_sizes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "2X", "-1G", "G2", "two gigabytes"])
def test_bad_sizes_are_named(text: str) -> None:
    with pytest.raises(InputError, match="not a size") as err:
        parse_size(text)
    assert repr(text) in str(err.value)


def test_small_budgets_are_raised_to_the_minimum_not_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert MemoryBudget.from_option("1M").bytes == MIN_BUDGET
    monkeypatch.setenv("CHAINSLEUTH_MEMORY_LIMIT", "3G")
    assert MemoryBudget.from_option(None) == MemoryBudget(3 << 30, "env")
    assert MemoryBudget.from_option("1G").source == "option"


def test_cluster_under_64m_gives_the_recorded_clustering(
    regtest_dataset: Path, tmp_path: Path, cli_run: CliRun
) -> None:
    ds = tmp_path / "ds"
    shutil.copytree(regtest_dataset, ds, ignore=shutil.ignore_patterns("derived"))
    code, _, err = cli_run("cluster", "--data", str(ds), "--memory-limit", "64M")
    assert code == 0
    assert "peak memory" in err and "budget 64 MiB" in err
    assert "MiB anonymous" in err  # the process's own memory beside the RSS
    golden = json.loads((GOLDEN / "regtest-core-a.json").read_text())
    assert clustering_digest(ds, "default") == golden["clustering_default"]
    assert (ds / "_tmp" / "duckdb").is_dir()


def test_ingest_reports_its_peak_and_the_utxo_index(
    regtest_blocks_dir: Path, tmp_path: Path, cli_run: CliRun
) -> None:
    ds = tmp_path / "ds"
    args = ["ingest", str(regtest_blocks_dir), "--data", str(ds), "--network", "regtest"]
    code, out, _ = cli_run(*args, "--memory-limit", "256M", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["memory_limit_bytes"] == 256 << 20
    assert report["peak_rss_bytes"] > 0
    assert 0 < report["peak_anon_bytes"] <= report["peak_rss_bytes"]
    # the unspent outputs at the tip, 32-byte slots at a load of at most 0.9
    n_unspent = (
        Dataset.open(ds)
        .sql("SELECT count(*) FROM outputs WHERE spent_by_tx IS NULL AND script_type <> 'nulldata'")
        .fetchone()[0]
    )
    assert report["utxo_entries"] == n_unspent
    assert 32 * n_unspent / 0.9 <= report["utxo_bytes"] <= report["utxo_peak_bytes"]
    # a few thousand outputs fit 30 % of 256 MiB: nothing spilled
    assert report["utxo_spilled_bytes"] == 0
    assert 0 < report["utxo_peak_ram_bytes"] <= report["utxo_peak_bytes"]


@pytest.mark.parametrize("verb", [["cluster"], ["show", "0"], ["investigate", "service",
                                   "--seed", "x", "--out", "o"], ["trace", "x"]])  # fmt: skip
def test_bad_memory_limit_exits_2_naming_it(
    regtest_dataset: Path, cli_run: CliRun, verb: list[str]
) -> None:
    code, _, err = cli_run(*verb, "--data", str(regtest_dataset), "--memory-limit", "lots")
    assert code == 2
    assert err.strip().count("\n") == 0 and "'lots'" in err


def test_peak_of_a_child_is_its_own_not_its_parents() -> None:
    """``ru_maxrss`` keeps the parent's high-water mark across fork and exec; the peak a
    child reports must be its own (here a parent holding 400 MiB starts a small child)."""
    import subprocess
    import sys

    held = bytearray(400 << 20)
    held[::4096] = b"\x01" * len(held[::4096])  # touch every page
    code = "from chainsleuth.budget import peak_rss_bytes; print(peak_rss_bytes())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) < 300 << 20
    assert held[0] == 1


def test_anonymous_peak_outlives_the_allocation() -> None:
    """The sampler keeps the largest anonymous size though the kernel keeps none: 300 MiB
    allocated, touched and freed in a fresh process still show in its anonymous peak."""
    import subprocess
    import sys

    code = (
        "import time, numpy as np\n"
        "from chainsleuth.budget import sample_anon_peak, anon_peak_bytes, _rss_anon\n"
        "sample_anon_peak(0.01)\n"
        "a = np.ones(300 << 20, np.uint8); time.sleep(0.2); del a; time.sleep(0.05)\n"
        "print(anon_peak_bytes(), _rss_anon())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    peak, now = map(int, out.stdout.split())
    assert peak >= 300 << 20
    assert now < peak - (250 << 20)
