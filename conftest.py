"""Fixtures shared by tests/ and by the doctests in src/: the real Bitcoin Core regtest chain
ingested once per session, and — for docstring examples that name ``ds``, ``truth``, ``seed``
or ``tmp`` — that chain clustered with the exchange tag packs."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from _pytest.doctest import DoctestItem

DATA = Path(__file__).parent / "tests" / "data"
REGTEST = DATA / "regtest-core-a"
DOCTEST_NAMES = ("ds", "truth", "seed", "tmp")


@pytest.fixture(scope="session")
def regtest_blocks_dir() -> Path:
    """Bitcoin Core v31 regtest ``blocks/`` (XOR-obfuscated blk00000.dat + xor.dat)."""
    return REGTEST / "blocks"


@pytest.fixture(scope="session")
def regtest_truth() -> Path:
    """Ground truth of the regtest economy (wallet ownership, service customers)."""
    return REGTEST / "truth"


@pytest.fixture(scope="session")
def regtest_dataset(tmp_path_factory: pytest.TempPathFactory, regtest_blocks_dir: Path) -> Path:
    """A dataset ingested from the regtest blocks (partition span 100: five partitions)."""
    from chainsleuth.ingest import ingest_blocks

    path = tmp_path_factory.mktemp("regtest") / "dataset"
    ingest_blocks(regtest_blocks_dir, path, "regtest", partition_span=100)
    return path


@pytest.fixture(scope="session")
def doctest_dataset(regtest_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The regtest dataset with the exchange tag packs, clustered ``default`` (open)."""
    from chainsleuth.cluster.run import cluster_dataset
    from chainsleuth.store.dataset import Dataset
    from chainsleuth.tags.guard import actor_table
    from chainsleuth.tags.store import import_tag_files

    path = tmp_path_factory.mktemp("doctest") / "dataset"
    shutil.copytree(regtest_dataset, path, ignore=shutil.ignore_patterns("derived"))
    packs = [DATA / "tagpacks" / "exchange-1-deposits.yaml",
             DATA / "tagpacks" / "exchange-2-deposits.yaml"]  # fmt: skip
    ds = Dataset.open(path)
    import_tag_files(ds, packs)
    cluster_dataset(ds, "default", actors=actor_table(ds))
    yield ds
    ds.close()


@pytest.fixture(autouse=True)
def _doctest_names(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Give a docstring example that uses them ``ds``, ``truth``, ``seed`` and ``tmp``."""
    item = request.node
    if not isinstance(item, DoctestItem) or item.dtest is None:
        return
    source = "".join(ex.source for ex in item.dtest.examples)
    used = {n for n in DOCTEST_NAMES if re.search(rf"\b{n}\b", source)}
    if not used:
        return
    namespace = request.getfixturevalue("doctest_namespace")
    namespace["tmp"] = tmp_path
    namespace["truth"] = REGTEST / "truth"
    # one deposit address of the service, as a test purchase would reveal
    namespace["seed"] = "bcrt1qmly6wxw3mvegvr0z7c3c8h0rp3lgvvmy2kyeh8"
    if "ds" in used:
        namespace["ds"] = request.getfixturevalue("doctest_dataset")
