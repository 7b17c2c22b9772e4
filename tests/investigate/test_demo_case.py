"""`make demo` end to end on the simulated case: what the README promises must hold.

The case's service cashes out through peel chains and sweeps its deposits in batches, so the
investigation depends on the default clustering linking peel steps (a change to the default
rule set once dropped payment recall here to 0.7% while the tiny economy still passed).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from rich.console import Console

from chainsleuth.cluster.evaluate import evaluate_clustering
from chainsleuth.demo import default_scenario, run_demo
from chainsleuth.investigate.evaluate import evaluate_investigation
from chainsleuth.store.dataset import Dataset

# the whole demo (simulate 100k transactions, ingest, cluster, investigate): ~60 s, run in CI
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_dir(demo_workdir: Path) -> Path:
    """The session's demo workdir (tests/conftest.py), read only here."""
    return demo_workdir


def test_demo_investigation_finds_the_service_and_its_customers(demo_dir: Path) -> None:
    score = evaluate_investigation(demo_dir / "case", demo_dir / "simulated" / "truth")
    assert score.payment_recall >= 0.97  # measured 0.9897
    assert score.payment_precision >= 0.99
    assert score.customer_recall >= 0.99
    assert score.false_merges == 0
    assert score.funding_exchange_correct >= 0.9  # measured 0.97


def test_demo_case_money_and_wallets(demo_dir: Path) -> None:
    """Income, cash-outs and customers as wallets against the simulator's truth."""
    score = evaluate_investigation(demo_dir / "case", demo_dir / "simulated" / "truth")
    # income is exact over the payments the service has swept (the rest: unswept deposits at
    # the tip, which nothing on chain ties to the service)
    assert score.income_error_swept == 0.0
    assert -0.02 < score.income_error <= 0.0  # measured -0.0107
    assert score.cashout_error_by_entity is not None
    assert set(score.cashout_error_by_entity) == {
        "exchange-alpha", "exchange-beta", "exchange-gamma"
    }  # fmt: skip
    assert all(abs(e) <= 0.005 for e in score.cashout_error_by_entity.values())  # measured 0
    assert score.false_group_merges == 0
    assert score.groups_per_customer_mean <= 2.1  # measured 1.963; clusters 4.21
    assert score.clusters_per_customer_mean > 4
    assert score.leads_with_withdrawal_address > 0.95  # measured 0.987


def test_demo_clustering_has_no_supercluster(demo_dir: Path) -> None:
    with Dataset.open(demo_dir / "dataset") as ds:
        report = evaluate_clustering(ds, demo_dir / "simulated" / "truth", "default")
    assert report["pairwise"]["precision"] >= 0.9999  # measured 0.999988
    assert report["false_merges"]["largest_size"] <= 100  # measured 35


def test_demo_runs_again_in_its_workdir(demo_dir: Path, tmp_path: Path) -> None:
    """``make demo`` twice: the demo replaces its own clustering run and case (no --force
    refusal), and the second case is as good as the first."""
    again = tmp_path / "demo"
    shutil.copytree(demo_dir, again, symlinks=True)
    with open(again / "log2.txt", "w") as log:
        run_demo(again, default_scenario(), Console(file=log))
    assert "reusing" in (again / "log2.txt").read_text()
    score = evaluate_investigation(again / "case", again / "simulated" / "truth")
    assert score.payment_recall >= 0.97
