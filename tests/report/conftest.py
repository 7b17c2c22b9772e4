"""Fixtures for the report tests: the method's accuracy measured afresh on regtest-core-a
(tags, the ``multi-input`` and ``default`` runs, the investigation from a test purchase), which
leaves the dataset and the case behind for the report and export tests."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="session")
def measured(
    regtest_dataset: Path, regtest_truth: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], Path, Path]:
    """(the measurement, the dataset, the case folder)."""
    from chainsleuth.report.accuracy import measure_accuracy
    from chainsleuth.store.dataset import Dataset

    work = tmp_path_factory.mktemp("report")
    path = work / "dataset"
    shutil.copytree(regtest_dataset, path, ignore=shutil.ignore_patterns("derived"))
    with Dataset.open(path) as ds:
        doc = measure_accuracy(ds, regtest_truth, DATA / "tagpacks", work)
    return doc, path, work / "case"


@pytest.fixture(scope="session")
def report_case(measured: tuple[dict[str, Any], Path, Path]) -> Path:
    """The regtest case with its report.html written."""
    from chainsleuth.report.render import write_report

    case = measured[2]
    write_report(case, ["html"])
    return case


@pytest.fixture(scope="session")
def report_dataset(measured: tuple[dict[str, Any], Path, Path]) -> Path:
    return measured[1]
