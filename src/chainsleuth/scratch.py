"""Private scratch folders under ``DATASET/_tmp/`` that a killed process does not leave behind.

Every stage that spills (side arrays, the case graph of an investigation, a flow-graph build)
works in a folder of its own named ``<kind>-<pid>-<random>``. A normal end or an exception
removes it; a ``kill -9`` cannot, so :func:`scratch_folder` first removes the folders of its
kind whose process is gone. Folders of live processes (a concurrent run on the same dataset)
are left alone. Nothing is held per item: the folder's contents are the caller's.

>>> from pathlib import Path
>>> (tmp / "arrays-999999999-dead").mkdir(parents=True)
>>> with scratch_folder(tmp, "arrays") as folder:
...     mine = folder.name.startswith(f"arrays-{os.getpid()}-")
...     mine, [p.name for p in tmp.iterdir()] == [folder.name]
(True, True)
>>> list(tmp.iterdir())
[]
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["make_scratch_folder", "pid_alive", "remove_orphans", "scratch_folder"]


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (one of another user counts as alive).

    >>> pid_alive(os.getpid())
    True
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphans(root: Path, kind: str) -> list[Path]:
    """Delete ``root/<kind>-<pid>-*`` folders whose process is gone; returns what it removed.

    >>> (tmp / "casegraph-999999999-x").mkdir(parents=True)
    >>> [p.name for p in remove_orphans(tmp, "casegraph")]
    ['casegraph-999999999-x']
    """
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for path in sorted(root.glob(f"{kind}-*")):
        pid = path.name[len(kind) + 1 :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def make_scratch_folder(root: Path, kind: str) -> Path:
    """A new empty folder ``root/<kind>-<pid>-<random>`` (orphans of ``kind`` removed first);
    the caller deletes it.

    >>> folder = make_scratch_folder(tmp / "t", "arrays")
    >>> folder.parent == tmp / "t" and folder.is_dir()
    True
    """
    root.mkdir(parents=True, exist_ok=True)
    remove_orphans(root, kind)
    return Path(tempfile.mkdtemp(prefix=f"{kind}-{os.getpid()}-", dir=root))


@contextlib.contextmanager
def scratch_folder(root: Path, kind: str) -> Iterator[Path]:
    """:func:`make_scratch_folder`, removed with its contents when the block ends."""
    folder = make_scratch_folder(root, kind)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
