"""The UTXO index beyond its RAM share: shards on file under ``DATASET/_tmp/utxo``, the same
dataset byte for byte, in one run and resumed after an interruption (the saved index loaded
into a spilling one, or rebuilt from the parts into one)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from chainsleuth.ingest import ingest_blocks, runner
from chainsleuth.ingest.state import load_state, new_utxo_index, utxo_spill_dir
from chainsleuth.interrupt import Interrupted
from chainsleuth.store.hashindex import SLOT_BYTES
from chainsleuth.store.manifest import Manifest

LIMIT = 64 << 10
"""RAM for the UTXO index's slots: 1/8 of the 256 smallest shards (64 slots of 32 bytes)."""


def _files(path: Path) -> dict[str, str]:
    """The manifest's files; a rebuilt address dictionary's folder (``addresses-h<h>``, named
    so the saved one stays untouched while it is rebuilt) counted as ``addresses``."""
    return {
        re.sub(r"^state/addresses-h\d+/", "state/addresses/", k): v
        for k, v in Manifest.load(path).files.items()
    }


def test_spilling_utxo_index_writes_the_identical_dataset(
    tmp_path: Path, regtest_blocks_dir: Path, regtest_dataset: Path
) -> None:
    ds = tmp_path / "ds"
    report = ingest_blocks(regtest_blocks_dir, ds, "regtest", partition_span=100, utxo_memory=LIMIT)
    assert report.utxo_entries == 1250
    assert report.utxo_spilled_bytes > 0
    # RAM-resident at the end: the rest (and 24 bytes per shard of bookkeeping)
    assert report.utxo_bytes - report.utxo_spilled_bytes <= LIMIT + 24 * 256
    # RAM-resident at the peak: the limit, plus the old array of one shard moving out while it
    # grows, plus the bookkeeping
    assert report.utxo_peak_ram_bytes <= LIMIT + 64 * SLOT_BYTES + 24 * 256
    assert report.utxo_peak_ram_bytes < report.utxo_peak_bytes
    assert utxo_spill_dir(ds).is_dir()
    assert not any(utxo_spill_dir(ds).iterdir())  # the spill files are unlinked at once
    assert _files(ds) == _files(regtest_dataset)


def test_budget_share_bounds_the_utxo_index() -> None:
    """Without ``utxo_memory`` the index gets :data:`runner.UTXO_SHARE` of the budget; with the
    address dictionary's share the sum stays inside it."""
    assert runner.ADDRESS_SHARE + runner.UTXO_SHARE <= 0.75


def test_in_ram_run_reports_nothing_spilled(tmp_path: Path, regtest_blocks_dir: Path) -> None:
    report = ingest_blocks(regtest_blocks_dir, tmp_path / "ds", "regtest", to_height=120)
    assert report.utxo_spilled_bytes == 0
    assert report.utxo_peak_ram_bytes == report.utxo_peak_bytes


@pytest.mark.parametrize("checkpoint_seconds", [0.0, 1e9], ids=["saved-state", "rebuilt"])
def test_interrupted_spilling_run_resumes_to_the_identical_dataset(
    tmp_path: Path,
    regtest_blocks_dir: Path,
    regtest_dataset: Path,
    monkeypatch: pytest.MonkeyPatch,
    checkpoint_seconds: float,
) -> None:
    """Stopped while linking the third partition's blocks: with a checkpoint per partition the
    resumed run loads the saved index into a spilling one; with none it rebuilds it from the
    parts into one. Either way the dataset equals the one-run, in-RAM one."""
    calls = 0
    link = runner.link_batch

    def stop_third(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt
        return link(*args, **kwargs)

    ds = tmp_path / "ds"
    opts: dict[str, Any] = {
        "partition_span": 100,
        "utxo_memory": LIMIT,
        "checkpoint_seconds": checkpoint_seconds,
    }
    with monkeypatch.context() as m:
        m.setattr(runner, "link_batch", stop_third)
        with pytest.raises(Interrupted):
            ingest_blocks(regtest_blocks_dir, ds, "regtest", **opts)
    kept = Manifest.load(ds)
    assert [p.hi for p in kept.partitions] == [99, 199]
    assert (kept.state.get("height") == 199) == (checkpoint_seconds == 0.0)
    report = ingest_blocks(regtest_blocks_dir, ds, "regtest", **opts)
    assert report.tip_height == 473
    assert report.utxo_spilled_bytes > 0
    assert _files(ds) == _files(regtest_dataset)


def test_saved_index_loads_into_a_spilling_one(regtest_dataset: Path) -> None:
    meta = Manifest.load(regtest_dataset).state
    in_ram = load_state(regtest_dataset, meta, 8 << 20)
    spilled = load_state(regtest_dataset, meta, 8 << 20, utxo_bytes=LIMIT)
    assert in_ram.utxo.spilled_nbytes == 0 and spilled.utxo.spilled_nbytes > 0
    assert spilled.utxo.peak_anon_nbytes <= LIMIT + 24 * 256
    assert [r.tobytes() for r in spilled.utxo.records()] == [
        r.tobytes() for r in in_ram.utxo.records()
    ]


def test_new_utxo_index_without_a_limit_stays_in_ram(tmp_path: Path) -> None:
    idx = new_utxo_index(tmp_path, None)
    assert idx.spilled_nbytes == 0 and not utxo_spill_dir(tmp_path).exists()
