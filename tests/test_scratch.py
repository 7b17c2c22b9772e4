"""Scratch folders of killed processes are removed by the next run; live ones are kept."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from chainsleuth.scratch import scratch_folder
from chainsleuth.store.sidearrays import SideArrays

KILLED = """
import os, sys
from pathlib import Path
from chainsleuth.store.sidearrays import SideArrays
side = SideArrays(Path(sys.argv[1]), planned_bytes=1 << 20, ram_bytes=0)
side.full(1000, 'int64', 7)
print(next(Path(sys.argv[1]).glob('arrays-*')).name, flush=True)
os.kill(os.getpid(), 9)
"""

ALIVE = """
import sys, time
from pathlib import Path
from chainsleuth.scratch import make_scratch_folder
print(make_scratch_folder(Path(sys.argv[1]), 'arrays').name, flush=True)
time.sleep(60)
"""


def test_killed_runs_arrays_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    killed = subprocess.run(
        [sys.executable, "-c", KILLED, str(tmp_path)], capture_output=True, text=True
    )
    assert killed.returncode == -signal.SIGKILL
    orphan = tmp_path / killed.stdout.strip()
    assert orphan.is_dir() and any(orphan.iterdir())

    alive = subprocess.Popen(
        [sys.executable, "-c", ALIVE, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert alive.stdout is not None
        live = tmp_path / alive.stdout.readline().strip()
        with SideArrays(tmp_path, planned_bytes=800, ram_bytes=0) as side:
            assert side.full(100, np.int64, 3).sum() == 300
            names = sorted(p.name for p in tmp_path.iterdir())
        assert not orphan.exists()
        assert live.is_dir()
        assert len(names) == 2  # the live process's folder and this pass's own
        assert sorted(p.name for p in tmp_path.iterdir()) == [live.name]
    finally:
        alive.kill()
        alive.communicate()


def test_scratch_folder_is_removed_on_error(tmp_path: Path) -> None:
    try:
        with scratch_folder(tmp_path, "casegraph") as folder:
            (folder / "part.npy").write_bytes(b"x")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert list(tmp_path.iterdir()) == []
