"""Shared fixtures: the real Bitcoin Core regtest chain ingested once per session, and the
demo's workdir built once per session for the tests that need it (investigate, API, explorer)."""

from __future__ import annotations

import gzip
import json
import os
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
# regtest_blocks_dir, regtest_truth, regtest_dataset: in the root conftest.py (shared with the
# doctests in src/)


@pytest.fixture(scope="session")
def regtest_raw(regtest_blocks_dir: Path) -> list[bytes]:
    """The raw regtest blocks in file order (heights 0..473), read from the blk file."""
    from chainsleuth.chain.network import get_network
    from chainsleuth.ingest.blkfiles import BlockFiles

    files = BlockFiles.open(regtest_blocks_dir, get_network("regtest"))
    try:
        return [files.read_block(rec) for rec in files.scan()]
    finally:
        files.close()


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


@pytest.fixture(scope="session")
def demo_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``chainsleuth demo``'s workdir (``simulated/``, ``dataset/``, ``case/`` with its
    report.html), built once per session: about 40-70 s, so only slow tests use it. Shared:
    a test that changes anything in it works on a copy. ``CHAINSLEUTH_DEMO_DIR`` names an
    existing workdir to reuse instead."""
    from rich.console import Console

    from chainsleuth.demo import default_scenario, run_demo

    given = os.environ.get("CHAINSLEUTH_DEMO_DIR")
    if given:
        return Path(given)
    work = tmp_path_factory.mktemp("demo")
    with open(work / "log.txt", "w") as log:
        run_demo(work, default_scenario(), Console(file=log))
    return work
