"""Fixtures for the investigation tests: the regtest dataset clustered (default heuristics)
with the exchange tag packs imported, and its ground truth."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
PACKS = [
    DATA / "tagpacks" / "exchange-1-deposits.yaml",
    DATA / "tagpacks" / "exchange-2-deposits.yaml",
]


@pytest.fixture(scope="session")
def case_dataset(regtest_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the regtest dataset, clustered, with the exchange tag packs."""
    from chainsleuth.cluster.run import cluster_dataset
    from chainsleuth.store.dataset import Dataset
    from chainsleuth.tags.store import import_tag_files

    path = tmp_path_factory.mktemp("investigate") / "dataset"
    shutil.copytree(regtest_dataset, path, ignore=shutil.ignore_patterns("derived"))
    with Dataset.open(path) as ds:
        cluster_dataset(ds, "default")
        import_tag_files(ds, PACKS)
    return path
