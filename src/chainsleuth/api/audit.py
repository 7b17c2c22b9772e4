"""The append-only, hash-chained audit log ``DATASET/audit.log``.

One JSON line per request to ``/api/v1``, allowed or refused: ``time, user, role, method,
path, params, status, result_bytes, prev_hash, hash``. ``hash`` is the sha256 (hex) of the
line's other fields as canonical JSON (sorted keys, no spaces); ``prev_hash`` is the previous
line's ``hash`` (64 zeros on the first line). Editing a line breaks its own hash; deleting one
breaks the next line's ``prev_hash``; deleting the last lines is caught by the head file
``DATASET/audit.head.json`` (entry count and last hash, rewritten after each sync).

The chain has no secret: whoever can write the files can rewrite the log from the edited line
on. Keep the head hash :func:`verify` reports somewhere else (a ticket, a notebook) to pin the
log as of that moment.

Appends take a lock (one writer at a time in the process, chaining in order) and are
fsynced; concurrent appends share one fsync (group commit).

Signatures other modules use::

    AuditLog(path: Path)  .append(entry: dict) -> dict   (the written line, with hashes)
    audit_path(data: Path) -> Path
    verify(path: Path) -> AuditReport(ok, entries, bad_line, reason, head_hash)

>>> import tempfile
>>> log = AuditLog(Path(tempfile.mkdtemp()) / "audit.log")
>>> _ = log.append({"user": "alice", "method": "GET", "path": "/api/v1/me", "status": 200})
>>> _ = log.append({"user": None, "method": "GET", "path": "/api/v1/me", "status": 401})
>>> report = verify(log.path)
>>> report.ok, report.entries, report.bad_line
(True, 2, None)
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["GENESIS", "AuditLog", "AuditReport", "audit_path", "entry_hash", "verify"]

AUDIT_NAME = "audit.log"
HEAD_SUFFIX = ".head.json"
GENESIS = "0" * 64


def audit_path(data: Path) -> Path:
    """``DATASET/audit.log``.

    >>> audit_path(Path("ds")).as_posix()
    'ds/audit.log'
    """
    return Path(data) / AUDIT_NAME


def _head_path(log: Path) -> Path:
    return log.with_name(log.stem + HEAD_SUFFIX)


def _canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: dict[str, Any]) -> str:
    """sha256 (hex) of an entry's fields other than ``hash``, as canonical JSON.

    >>> entry_hash({"a": 1, "hash": "x"}) == entry_hash({"a": 1})
    True
    """
    return hashlib.sha256(_canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def _last_entry(path: Path) -> tuple[int, str]:
    """(number of lines, hash of the last line) of an existing log (reads from the end)."""
    if not path.exists() or path.stat().st_size == 0:
        return 0, GENESIS
    with path.open("rb") as fh:
        count = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
        end = fh.seek(0, os.SEEK_END)
        back = min(end, 1 << 16)
        fh.seek(end - back)
        tail = fh.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    try:
        last = json.loads(tail)
        return count, str(last["hash"])
    except (ValueError, KeyError, TypeError):
        # a damaged last line: chain on from its bytes so verify still names the damage
        return count, hashlib.sha256(tail).hexdigest()


class AuditLog:
    """Appends chained entries to one log file: thread-safe within a process, and safe across
    processes (two servers on one dataset, a server and a test) by an exclusive ``flock``
    around each append, which first catches up with lines another writer added."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.head = _head_path(self.path)
        self._write_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._count, self._last = _last_entry(self.path)
        self._synced = self._count
        self._known: tuple[int, int] = (-1, -1)  # (inode, size) after our last write

    def _catch_up(self, fd: int) -> None:
        """Bring the count and last hash up to the file as it is (under the flock)."""
        st = os.fstat(fd)
        ino, size = self._known
        if (st.st_ino, st.st_size) == self._known:
            return
        if st.st_ino == ino and st.st_size > size:
            added = os.pread(fd, st.st_size - size, size)
            lines = added.rstrip(b"\n").split(b"\n")
            self._count += added.count(b"\n")
            try:
                self._last = str(json.loads(lines[-1])["hash"])
            except (ValueError, KeyError, TypeError):
                self._last = hashlib.sha256(lines[-1]).hexdigest()
        else:  # first append of this object, or the file was replaced (rotated)
            self._count, self._last = _last_entry(self.path)

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Write ``entry`` (``time`` added when missing) chained to the previous line, fsync it,
        and return it with ``prev_hash`` and ``hash``."""
        with self._write_lock:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._catch_up(fd)
                line = {k: v for k, v in entry.items() if k not in ("hash", "prev_hash")}
                line.setdefault("time", datetime.now(UTC).isoformat(timespec="microseconds"))
                line["prev_hash"] = self._last
                line["hash"] = entry_hash(line)
                os.write(fd, _canonical(line) + b"\n")
                st = os.fstat(fd)
                self._known = (st.st_ino, st.st_size)
            finally:
                os.close(fd)  # releases the flock
            self._count += 1
            self._last = line["hash"]
            seq = self._count
        self._sync(seq)
        return line

    def _sync(self, seq: int) -> None:
        """fsync the log up to entry ``seq`` (one fsync covers every append before it) and
        record the head."""
        with self._sync_lock:
            if self._synced >= seq:
                return
            with self._write_lock:
                count, last = self._count, self._last
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            tmp = self.head.with_name(f".{self.head.name}.{os.getpid()}.tmp")
            tmp.write_bytes(_canonical({"entries": count, "hash": last}))
            os.replace(tmp, self.head)
            self._synced = count


class AuditReport(NamedTuple):
    """The outcome of :func:`verify`: ``bad_line`` is 1-based (None when intact)."""

    ok: bool
    entries: int
    bad_line: int | None
    reason: str
    head_hash: str = ""


def verify(path: Path) -> AuditReport:
    """Check every line's hash and chain, and the head file; the first bad line is named.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "audit.log"
    >>> log = AuditLog(p)
    >>> for i in range(3):
    ...     _ = log.append({"n": i})
    >>> lines = p.read_text().splitlines()
    >>> _ = p.write_text("\\n".join([lines[0], lines[2]]) + "\\n")  # delete line 2
    >>> verify(p)[:4]
    (False, 2, 2, 'prev_hash does not match line 1')
    """
    path = Path(path)
    if not path.exists():
        return AuditReport(True, 0, None, "")
    prev = GENESIS
    n = 0
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            try:
                entry = json.loads(raw)
                if not isinstance(entry, dict) or "hash" not in entry:
                    raise ValueError
            except ValueError:
                return AuditReport(False, n, n, "not a JSON audit entry")
            if entry.get("prev_hash") != prev:
                return AuditReport(False, n, n, f"prev_hash does not match line {n - 1}")
            if entry_hash(entry) != entry["hash"]:
                return AuditReport(False, n, n, "hash does not match the line's contents")
            prev = entry["hash"]
    head = _head_path(path)
    if head.exists():
        recorded = json.loads(head.read_text())
        want_n, want_hash = int(recorded.get("entries", 0)), str(recorded.get("hash", ""))
        if want_n > n:
            return AuditReport(
                False, n, n + 1, f"missing: the head records {want_n} entries, the log has {n}"
            )
        if want_n and _hash_at(path, want_n) != want_hash:
            return AuditReport(False, n, want_n, "hash differs from the one the head recorded")
    return AuditReport(True, n, None, "", prev if n else "")


def _hash_at(path: Path, line_no: int) -> str | None:
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            if n == line_no:
                return str(json.loads(raw).get("hash"))
    return None
