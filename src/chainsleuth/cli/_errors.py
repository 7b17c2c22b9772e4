"""One line for an :class:`OSError` the CLI did not foresee: the path and the reason.

>>> import errno
>>> describe_os_error(PermissionError(errno.EACCES, "Permission denied", "/x/y"))
'/x/y: permission denied'
>>> describe_os_error(OSError(errno.ENOSPC, "No space left on device"), "case.ds")
'case.ds: no space left on device (disk full)'
>>> describe_os_error(OSError("Failed to open local file '/q/r.parquet'. Detail: [errno 13] "
...                           "Permission denied"))
'/q/r.parquet: permission denied'
"""

from __future__ import annotations

import errno
import re
from pathlib import Path

__all__ = ["PATH_OPTIONS", "describe_os_error", "path_from_argv"]

REASONS = {
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "not a folder (a file is where a folder is needed)",
    errno.EISDIR: "is a folder, a file is needed",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOSPC: "no space left on device (disk full)",
    errno.EDQUOT: "disk quota exceeded (disk full)",
    errno.EROFS: "read-only file system",
    errno.EEXIST: "already exists",
    errno.ENOTEMPTY: "folder not empty",
    errno.ENAMETOOLONG: "file name too long",
    errno.EMFILE: "too many open files",
    errno.EIO: "input/output error",
    errno.EXDEV: "cannot move across file systems",
}

PATH_OPTIONS = ("--out", "--data", "--workdir", "--case", "--truth")
"""Options whose value names the likely path of an error that carries none (a full disk)."""

_ARROW_PATH = re.compile(r"'([^']+)'")
_ARROW_ERRNO = re.compile(r"\[errno (\d+)\]")


def _missing(path: Path) -> str | None:
    """Why ``path`` cannot be reached: the file in the way or the highest missing folder."""
    if path.parent.is_dir():
        return None
    child = path
    ancestor = path.parent
    while not ancestor.exists() and ancestor.parent != ancestor:
        child, ancestor = ancestor, ancestor.parent
    if not ancestor.is_dir():
        return f"{ancestor} is a file, not a folder"
    return f"folder {child} does not exist"


def describe_os_error(exc: OSError, fallback: str | None = None) -> str:
    """``PATH: reason`` for ``exc`` (``fallback`` names the path when the error has none)."""
    code = exc.errno
    filename = exc.filename
    text = str(exc)
    if filename is None and code is None:  # pyarrow's IOError: errno and path in the message
        found = _ARROW_ERRNO.search(text)
        code = int(found.group(1)) if found else None
        path = _ARROW_PATH.search(text)
        filename = path.group(1) if path else None
    reason = REASONS.get(code) if code is not None else None
    if reason is None:
        reason = exc.strerror or " ".join(text.split()) or type(exc).__name__
        reason = reason[0].lower() + reason[1:] if reason else reason
    if filename is None:
        return f"{fallback}: {reason}" if fallback else reason
    name = str(filename if not isinstance(filename, bytes) else filename.decode(errors="replace"))
    if code in (errno.ENOENT, errno.ENOTDIR):
        why = _missing(Path(name))
        if why is not None:
            reason = why
    if exc.filename2 is not None:
        name = f"{name} -> {exc.filename2}"
    return f"{name}: {reason}"


def path_from_argv(argv: list[str]) -> str | None:
    """The value of the first path option in ``argv`` (``--out X`` or ``--out=X``)."""
    for option in PATH_OPTIONS:
        for i, arg in enumerate(argv):
            if arg == option and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(option + "="):
                return arg.split("=", 1)[1]
    return None
