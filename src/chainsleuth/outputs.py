"""Checks on where a command writes, made before it does any work.

An output that already exists is refused unless the caller forces it (``--force``), a file
where a folder is needed (or the reverse) and a missing or read-only parent folder are named at
once, as :class:`~chainsleuth.errors.InputError` (exit 2, one line).

>>> import tempfile
>>> d = Path(tempfile.mkdtemp())
>>> (d / "x.csv").write_text("a")
1
>>> try:
...     check_output_file(d / "x.csv", force=False)
... except InputError as e:
...     str(e).endswith("already exists (--force overwrites)")
True
>>> check_output_file(d / "x.csv", force=True)
>>> check_output_dir(d / "new" / "case", force=False)
"""

from __future__ import annotations

import os
from pathlib import Path

from chainsleuth.errors import InputError

__all__ = ["check_output_dir", "check_output_file", "check_parent"]


def check_parent(path: Path, option: str = "--out") -> None:
    """The nearest existing ancestor of ``path`` must be a folder we may write into."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{option} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: permission denied (cannot write into {parent})")


def check_output_dir(path: Path, *, force: bool, option: str = "--out") -> None:
    """Refuse a file, a non-empty folder (unless ``force``) or an unwritable parent."""
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path} is a file, not a folder")
    if path.is_dir():
        if any(path.iterdir()) and not force:
            raise InputError(
                f"{option} {path} already exists and is not empty (--force overwrites)"
            )
        if not os.access(path, os.W_OK | os.X_OK):
            raise InputError(f"{option} {path}: permission denied")
        return
    check_parent(path, option)


def check_output_file(path: Path, *, force: bool, option: str = "--out") -> None:
    """Refuse a folder, an existing file (unless ``force``) or a missing/unwritable folder."""
    if path.is_dir():
        raise InputError(f"{option} {path} is a folder, not a file")
    if path.exists() and not force:
        raise InputError(f"{option} {path} already exists (--force overwrites)")
    if not path.parent.exists():
        raise InputError(f"{option} {path}: folder {path.parent} does not exist")
    check_parent(path, option)
