"""Case folders under ``DATASET/cases/<name>/`` as the API serves them.

A case folder holds what ``investigate service`` writes (``case.json``, ``leads.csv``,
``requests.csv``; ``report.html``/``report.pdf`` from ``chainsleuth report``) and what the team
adds through the API: ``annotations.jsonl`` (notes on nodes and edges, one JSON object a line:
``id``, ``time``, ``analyst``, ``target``, ``text``; only ever appended) and ``explorer.json``
(the web explorer's saved graph, a JSON object with ``"version": 1``). Both are size-capped and
replaced atomically (temporary file, fsync, rename), one writer at a time.

Case names match :data:`CASE_NAME` (letters, digits, ``_ . -``; no leading dot, at most 64
characters); anything else — ``..``, a slash, an absolute path, a NUL — is an InputError (400)
before any path is built. Only the files in :data:`SERVED_FILES` are ever read back.

>>> check_case_name("march-2025.case_1")
'march-2025.case_1'
>>> for bad in ("../etc", "/abs", "a/b", ".hidden", "x\\x00y", ""):
...     try:
...         check_case_name(bad)
...     except InputError:
...         pass
...     else:
...         print("accepted", bad)
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chainsleuth.errors import InputError, NotFoundError, UserError

__all__ = [
    "ANNOTATIONS_FILE",
    "CASE_NAME",
    "EXPLORER_FILE",
    "EXPORT_FORMATS",
    "MAX_ANNOTATIONS_BYTES",
    "MAX_EXPLORER_BYTES",
    "SERVED_FILES",
    "CaseBusyError",
    "TooLargeError",
    "add_annotation",
    "case_dir",
    "case_summary",
    "cases_root",
    "check_case_name",
    "export_case_bytes",
    "list_annotations",
    "list_cases",
    "read_case_json",
    "read_explorer",
    "read_leads",
    "served_file",
    "write_explorer",
]

CASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
"""What a case name may be (``\\Z``-anchored in use: no trailing newline slips through)."""
SERVED_FILES: dict[str, str] = {
    "leads.csv": "text/csv; charset=utf-8",
    "requests.csv": "text/csv; charset=utf-8",
    "case.json": "application/json",
    "report.html": "text/html; charset=utf-8",
    "report.pdf": "application/pdf",
}
"""The files of a case folder the API serves, with their media types."""
ANNOTATIONS_FILE = "annotations.jsonl"
EXPLORER_FILE = "explorer.json"
MAX_ANNOTATIONS_BYTES = 5_000_000
"""A case's annotations file may grow to this size; a note past it is refused (413)."""
MAX_EXPLORER_BYTES = 16_000_000
"""Largest explorer file (its JSON text, as stored) unless the server sets another
(``ApiLimits.max_explorer_bytes``)."""
MAX_TARGET_CHARS = 300
MAX_TEXT_CHARS = 10_000
EXPORT_FORMATS: dict[str, tuple[str, str]] = {
    "graphml": ("application/graphml+xml", "graphml"),
    "gexf": ("application/gexf+xml", "gexf"),
    "json": ("application/json", "json"),
}
"""Formats ``GET /cases/{name}/export`` writes (``chainsleuth export``'s files), with media
type and file suffix."""

_LOCK = threading.Lock()


class TooLargeError(UserError):
    """A stored case file would grow past its cap (HTTP 413)."""

    http_status = 413


class CaseBusyError(UserError):
    """A case that exists already, or that a running job is writing (HTTP 409)."""

    http_status = 409


def check_case_name(name: str) -> str:
    """``name`` if it is a valid case name, else InputError naming it (see the module
    docstring).

    >>> try:
    ...     check_case_name("../../etc/passwd")
    ... except InputError as e:
    ...     print(e)
    bad case name '../../etc/passwd' (letters, digits, _ . -; not starting with . or -; at most 64)
    """
    if not isinstance(name, str) or not CASE_NAME.fullmatch(name):
        raise InputError(
            f"bad case name {name!r} (letters, digits, _ . -; not starting with . or -; at most 64)"
        )
    return name


def cases_root(data: Path) -> Path:
    """``DATASET/cases``.

    >>> cases_root(Path("ds")).as_posix()
    'ds/cases'
    """
    return Path(data) / "cases"


def case_dir(data: Path, name: str, *, must_exist: bool = True) -> Path:
    """The folder of case ``name`` (InputError for a bad name; NotFoundError when
    ``must_exist`` and it is not there). A folder that resolves outside ``DATASET/cases``
    (a symlink) counts as absent.

    >>> case_dir(Path("ds"), "c1", must_exist=False).as_posix()
    'ds/cases/c1'
    """
    root = cases_root(data)
    path = root / check_case_name(name)
    if must_exist:
        inside = path.is_dir() and path.resolve().parent == root.resolve()
        if not inside:
            raise NotFoundError(f"case not found: {name}")
    return path


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def case_summary(folder: Path) -> dict[str, Any]:
    """What the case list shows of one folder: name, the served and API files present, the
    figures of ``case.json``'s ``summary`` (None when there is no case.json), seeds and the last
    change (UTC).

    >>> d = Path(tempfile.mkdtemp()) / "c1"
    >>> d.mkdir()
    >>> _ = (d / "case.json").write_text('{"summary": {"payments": 3}, "seeds": ["a"]}')
    >>> s = case_summary(d)
    >>> s["name"], s["files"], s["summary"], s["seeds"]
    ('c1', ['case.json'], {'payments': 3}, ['a'])
    """
    files = [f for f in (*SERVED_FILES, ANNOTATIONS_FILE, EXPLORER_FILE) if (folder / f).is_file()]
    summary: dict[str, Any] | None = None
    seeds: list[str] = []
    if "case.json" in files:
        try:
            doc = json.loads((folder / "case.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            doc = {}
        if isinstance(doc, dict):
            raw = doc.get("summary")
            summary = raw if isinstance(raw, dict) else None
            seeds = [str(s) for s in doc.get("seeds", []) if isinstance(s, str)]
    stamps = [(folder / f).stat().st_mtime for f in files] or [folder.stat().st_mtime]
    return {
        "name": folder.name,
        "files": files,
        "summary": summary,
        "seeds": seeds,
        "modified": _iso(max(stamps)),
    }


def list_cases(data: Path) -> list[dict[str, Any]]:
    """Every case folder of the dataset (valid names only), by name, as :func:`case_summary`.

    >>> list_cases(Path(tempfile.mkdtemp()))
    []
    """
    root = cases_root(data)
    if not root.is_dir():
        return []
    folders = sorted(
        p
        for p in root.iterdir()
        if CASE_NAME.fullmatch(p.name) and p.is_dir() and not p.is_symlink()
    )
    return [case_summary(p) for p in folders]


def _read_inside(folder: Path, name: str) -> bytes:
    """A file of the case folder, never following a symlink out of it."""
    try:
        fd = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise NotFoundError(f"case {folder.name} has no {name}") from None
    except OSError as err:  # ELOOP: a symlink
        raise NotFoundError(f"case {folder.name} has no readable {name}: {err.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def served_file(data: Path, name: str, file: str) -> tuple[bytes, str]:
    """The bytes and media type of ``file`` of case ``name``; only :data:`SERVED_FILES`
    (InputError naming the others), NotFoundError when absent.

    >>> try:
    ...     served_file(Path("ds"), "c1", "../../manifest.json")
    ... except InputError as e:
    ...     print(str(e)[:60])
    not a case file: '../../manifest.json' (valid: leads.csv, re
    """
    if file not in SERVED_FILES:
        raise InputError(f"not a case file: {file!r} (valid: {', '.join(SERVED_FILES)})")
    folder = case_dir(data, name)
    return _read_inside(folder, file), SERVED_FILES[file]


def read_case_json(data: Path, name: str) -> dict[str, Any]:
    """``case.json`` of case ``name`` as a dict (NotFoundError when the case has none)."""
    doc = json.loads(_read_inside(case_dir(data, name), "case.json"))
    if not isinstance(doc, dict):
        raise NotFoundError(f"case {name}: case.json is not a JSON object")
    return doc


def read_leads(data: Path, name: str, offset: int, limit: int) -> tuple[list[dict[str, str]], int]:
    """Rows ``offset`` … ``offset + limit`` of the case's ``leads.csv`` (column → text, as
    written) and the number of rows.

    >>> d = Path(tempfile.mkdtemp())
    >>> (d / "cases" / "c").mkdir(parents=True)
    >>> _ = (d / "cases" / "c" / "leads.csv").write_text("a,b\\n1,2\\n3,4\\n")
    >>> read_leads(d, "c", 1, 10)
    ([{'a': '3', 'b': '4'}], 2)
    """
    text = _read_inside(case_dir(data, name), "leads.csv").decode("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    return rows[offset : offset + limit], len(rows)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def add_annotation(
    data: Path, name: str, analyst: str, target: str, text: str, *, now: str | None = None
) -> dict[str, Any]:
    """Append a note on ``target`` (a node such as ``cluster:12`` or an address, or an edge
    such as ``cluster:12->cluster:40``) to case ``name``; returns the stored record.
    InputError for an empty or over-long target or text, TooLargeError (413) when the case's
    notes would pass :data:`MAX_ANNOTATIONS_BYTES`.

    >>> d = Path(tempfile.mkdtemp())
    >>> (d / "cases" / "c").mkdir(parents=True)
    >>> rec = add_annotation(d, "c", "alice", "cluster:7", "seen at exchange", now="T")
    >>> rec["analyst"], rec["time"], [a["text"] for a in list_annotations(d, "c")]
    ('alice', 'T', ['seen at exchange'])
    """
    target, text = target.strip(), text.strip()
    if not target or len(target) > MAX_TARGET_CHARS:
        raise InputError(f"target must be 1-{MAX_TARGET_CHARS} characters: {target[:40]!r}")
    if not text or len(text) > MAX_TEXT_CHARS:
        raise InputError(f"text must be 1-{MAX_TEXT_CHARS} characters (got {len(text)})")
    if "\x00" in target or "\x00" in text:
        raise InputError("target and text may not contain NUL characters")
    folder = case_dir(data, name)
    record = {
        "id": uuid.uuid4().hex[:16],
        "time": now or _now(),
        "analyst": analyst,
        "target": target,
        "text": text,
    }
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    path = folder / ANNOTATIONS_FILE
    with _LOCK:
        old = _read_inside(folder, ANNOTATIONS_FILE) if path.is_file() else b""
        if len(old) + len(line) > MAX_ANNOTATIONS_BYTES:
            raise TooLargeError(
                f"case {name}: annotations would pass {MAX_ANNOTATIONS_BYTES} bytes"
            )
        _write_atomic(path, old + line)
    return record


def list_annotations(data: Path, name: str, target: str | None = None) -> list[dict[str, Any]]:
    """The notes of case ``name`` in the order written (only those on ``target`` if given)."""
    folder = case_dir(data, name)
    if not (folder / ANNOTATIONS_FILE).is_file():
        return []
    out = []
    for line in _read_inside(folder, ANNOTATIONS_FILE).decode("utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        if target is None or rec.get("target") == target:
            out.append(rec)
    return out


def read_explorer(data: Path, name: str) -> dict[str, Any]:
    """The saved explorer file of case ``name`` (NotFoundError when none was saved)."""
    doc = json.loads(_read_inside(case_dir(data, name), EXPLORER_FILE))
    if not isinstance(doc, dict):
        raise NotFoundError(f"case {name}: explorer.json is not a JSON object")
    return doc


def write_explorer(
    data: Path, name: str, doc: dict[str, Any], max_bytes: int = MAX_EXPLORER_BYTES
) -> int:
    """Save the explorer's file for case ``name`` (the case folder is created when missing);
    returns the bytes written. InputError unless ``doc`` is an object with ``"version": 1``;
    TooLargeError past ``max_bytes``.

    >>> d = Path(tempfile.mkdtemp())
    >>> write_explorer(d, "graph1", {"version": 1, "nodes": []}) > 0
    True
    >>> read_explorer(d, "graph1")["nodes"]
    []
    """
    if not isinstance(doc, dict) or doc.get("version") != 1 or isinstance(doc["version"], bool):
        raise InputError('explorer file must be a JSON object with "version": 1')
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(body) > max_bytes:
        raise TooLargeError(f"explorer file of {len(body)} bytes is past the cap of {max_bytes}")
    folder = case_dir(data, name, must_exist=False)
    with _LOCK:
        folder.mkdir(parents=True, exist_ok=True)
        case_dir(data, name)  # refuse a symlink planted in its place
        _write_atomic(folder / EXPLORER_FILE, body)
    return len(body)


def export_case_bytes(data: Path, name: str, fmt: str, level: str = "cluster") -> bytes:
    """The case graph of case ``name`` as ``chainsleuth export --format fmt --level level``
    writes it (GraphML, GEXF or the case JSON), built in a temporary folder; the case folder is
    not written to. InputError for an unknown format or level or a folder that is not a case.
    """
    from chainsleuth.report.casedata import CASE_FILES
    from chainsleuth.report.casegraph import LEVELS
    from chainsleuth.report.graphfiles import export_case

    if fmt not in EXPORT_FORMATS:
        raise InputError(f"unknown export format {fmt!r} (valid: {', '.join(EXPORT_FORMATS)})")
    if level not in LEVELS:
        raise InputError(f"unknown level {level!r} (valid: {', '.join(LEVELS)})")
    folder = case_dir(data, name)
    for needed in CASE_FILES:
        if not (folder / needed).is_file():
            raise NotFoundError(f"case {name} has no {needed}: nothing to export")
    with tempfile.TemporaryDirectory(prefix="case-export-") as tmp:
        target = Path(tmp) / f"graph-{level}.{EXPORT_FORMATS[fmt][1]}"
        return export_case(folder, fmt, level, target).read_bytes()
