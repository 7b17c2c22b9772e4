"""The ingest's memory plan: the fixed part, the two indexes and the batches in flight fit the
budget; batches shrink under small budgets; a budget below the floor is warned about; and a
real ingest under a small limit keeps its peak RSS near it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chainsleuth.errors import ChainsleuthWarning
from chainsleuth.ingest import runner
from chainsleuth.ingest.runner import (
    BATCH_BYTES,
    FIXED_BYTES,
    MIN_BATCH_BYTES,
    MIN_INGEST_BYTES,
    ingest_blocks,
    plan_memory,
)

MiB = 1 << 20


@pytest.mark.parametrize("workers", [1, 2, 4, 8])
@pytest.mark.parametrize("budget_mib", [576, 640, 768, 1024, 1536, 2048, 4096, 16384, 65536])
def test_planned_bytes_never_exceed_the_limit(budget_mib: int, workers: int) -> None:
    plan = plan_memory(budget_mib * MiB, workers)
    assert not plan.floor
    assert plan.planned <= plan.budget
    assert plan.fixed == FIXED_BYTES
    assert MIN_BATCH_BYTES <= plan.batch_bytes <= BATCH_BYTES
    # the batches in flight leave a quarter of the work share to the partition's spends
    assert plan.in_flight <= plan.work * 3 // 4 or plan.batch_bytes == MIN_BATCH_BYTES
    assert plan.batches_ahead == (2 * workers if workers > 1 else 2)


def test_batches_shrink_with_the_budget() -> None:
    sizes = [plan_memory(m * MiB).batch_bytes for m in (576, 768, 1024, 2048)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1] == BATCH_BYTES
    assert plan_memory(2048 * MiB, 4).batch_bytes < BATCH_BYTES  # more batches ahead


def test_below_the_floor_the_plan_says_so() -> None:
    assert plan_memory(MIN_INGEST_BYTES).floor is False
    low = plan_memory(MIN_INGEST_BYTES - 1)
    assert low.floor and low.planned > low.budget  # the minimum shares, not the limit


def test_a_limit_below_the_floor_warns(tmp_path: Path, regtest_blocks_dir: Path) -> None:
    with pytest.warns(ChainsleuthWarning, match="below the ingest's floor"):
        report = ingest_blocks(
            regtest_blocks_dir, tmp_path / "ds", "regtest", to_height=5, memory_limit="256M"
        )
    assert report.tip_height == 5


def test_a_limit_at_the_floor_does_not_warn(tmp_path: Path, regtest_blocks_dir: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", ChainsleuthWarning)
        ingest_blocks(regtest_blocks_dir, tmp_path / "ds", "regtest", to_height=5,
                      memory_limit=f"{MIN_INGEST_BYTES // MiB}M")  # fmt: skip


_INGEST = """
import json, sys
from chainsleuth.ingest.runner import ingest_blocks
r = ingest_blocks(sys.argv[1], sys.argv[2], "regtest", memory_limit=sys.argv[3])
print(json.dumps({"peak": r.peak_rss, "limit": r.memory_limit, "txs": r.txs_added}))
"""
SLACK = 0.10
"""Peak RSS may exceed the limit by this fraction (the project's rule: ≤ 1.1× the limit)."""


@pytest.mark.slow
def test_peak_rss_stays_within_a_small_limit(tmp_path: Path) -> None:
    """300,000 generated transactions under 768 MiB: before the plan (40 % of the whole budget
    to the address dictionary, 30 % to the UTXO index, 16 MiB batches, the fixed part not
    counted) this peaked above 1.1× the limit."""
    from chainsleuth.simulate.scalechain import generate_scale_chain

    generate_scale_chain(tmp_path / "chain", 300_000, seed=1)
    generate_scale_chain(tmp_path / "small", 3_000, seed=2, txs_per_block=100)
    limit = "768M"
    env = {**os.environ, "PYTHONPATH": str(Path(runner.__file__).parents[2])}
    # a first, small ingest compiles the numba kernels into their cache (compiling takes
    # hundreds of MiB that a fresh checkout's first run would otherwise count)
    for chain in ("small", "chain"):
        out = subprocess.run(
            [sys.executable, "-c", _INGEST, str(tmp_path / chain / "blocks"),
             str(tmp_path / f"ds-{chain}"), limit],
            capture_output=True, text=True, check=True, env=env,
        )  # fmt: skip
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["txs"] == 300_000
    assert r["peak"] <= r["limit"] * (1 + SLACK), (r["peak"] / MiB, r["limit"] / MiB)
