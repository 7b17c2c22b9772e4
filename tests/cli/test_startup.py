"""A fast CLI start: ``import chainsleuth.cli`` (and ``--help``) must not load the heavy
machinery. Verb modules import numba kernels, pandas, the ingest runner etc. inside their
command functions; a top-level import of any of them makes every invocation ~1 s slower."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = (
    "numba",
    "pandas",
    "chainsleuth.cluster.run",
    "chainsleuth.ingest.runner",
    "chainsleuth.simulate",
    "chainsleuth.trace.engine",
    "chainsleuth.investigate.service",
)


def _imported_modules(code: str) -> set[str]:
    """Names of the modules a fresh interpreter imports while running ``code``."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the header line
                names.add(name)
    assert "chainsleuth.cli" in names, proc.stderr[-2000:]
    return names


def test_import_cli_loads_no_heavy_module() -> None:
    loaded = _imported_modules("import chainsleuth.cli")
    assert sorted(set(HEAVY) & loaded) == []


def test_show_loads_no_heavy_module(regtest_dataset: Path) -> None:
    code = (
        "import io, contextlib\n"
        "from chainsleuth.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['show', '100', '--data', {str(regtest_dataset)!r}, '--json']) == 0\n"
    )
    loaded = _imported_modules(code)
    assert "chainsleuth.store.profiles" in loaded
    # pandas may come in through pyarrow's to_numpy when the dataset has a clustering run
    # (the shared fixture gets runs from other tests); our own heavy machinery must not
    ours = set(HEAVY) - {"pandas"}
    assert sorted(ours & loaded) == []
