"""Shared fixtures: the real Bitcoin Core regtest chain ingested once per session."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# No per-example time limit: the shared 2-core machine stalls examples for seconds at random
# (a deadline there only makes property tests flaky; speed is measured in bench/).
settings.register_profile("chainsleuth", deadline=None)
settings.load_profile("chainsleuth")

DATA = Path(__file__).parent / "data"
REGTEST = DATA / "regtest-core-a"


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
def core_blocks() -> list[dict[str, Any]]:
    """Bitcoin Core's own ``getblock <hash> 2`` for every regtest block, in height order."""
    with gzip.open(REGTEST / "getblock" / "blocks.jsonl.gz", "rt") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture()
def cli_run(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """Run the CLI in-process: returns (exit_code, stdout, stderr)."""
    from chainsleuth.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    yield run
