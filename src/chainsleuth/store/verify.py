"""Check a dataset against its manifest: checksums, sizes, stray files and id ranges.

:func:`verify_dataset` recomputes the sha256 of every file the manifest lists (streamed in 1 MiB
chunks: memory stays flat whatever the part size), compares sizes where the manifest records
them, names files under ``tables/``, ``index/`` and ``state/`` that the manifest does not list,
and checks that the manifest is consistent with itself: partitions contiguous in height and in
``tx_id`` / ``out_id`` / ``addr_id``, row counts summing to the totals, the tip on the last
partition and in its blocks part, the saved ingest state on a partition boundary. With
``deep=True`` it also re-derives each part's row count and id range from the Parquet data
(footer metadata and column statistics; a column without statistics is streamed one batch at a
time) and compares them with the manifest.

Every problem is one :class:`Problem` naming the file it is about; an empty
:attr:`VerifyReport.problems` means the dataset is exactly what its manifest says.

>>> ds = _example_dataset()
>>> verify_dataset(ds).ok
True
>>> _ = (ds / "tables" / "stray.parquet").write_bytes(b"x")
>>> [str(p) for p in verify_dataset(ds).problems]
['tables/stray.parquet: not listed in the manifest']
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chainsleuth.store.lookup import partition_index_files
from chainsleuth.store.manifest import MANIFEST_NAME, Manifest, Partition
from chainsleuth.store.parts import part_name
from chainsleuth.store.schema import STORED_TABLES, TABLES

__all__ = ["CHECKED_DIRS", "Problem", "ProgressCallback", "VerifyReport", "verify_dataset"]

CHECKED_DIRS = ("tables", "index", "state")
"""Folders whose every file must be listed in the manifest (``derived/`` and ``_tmp/`` are not
part of the ingested data)."""

_CHUNK = 1 << 20

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``(file being hashed, bytes hashed so far, bytes to hash in all)``."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the dataset, about one file (a path relative to the dataset).

    >>> str(Problem("tables/txs/h000000000-000000999.parquet", "sha256 mismatch"))
    'tables/txs/h000000000-000000999.parquet: sha256 mismatch'
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(slots=True)
class VerifyReport:
    """What :func:`verify_dataset` checked and found."""

    files: int = 0
    """Files listed in the manifest."""
    bytes: int = 0
    """Bytes of the listed files that exist."""
    deep: bool = False
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether nothing is wrong."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (what ``verify --json`` prints).

        >>> VerifyReport(files=2, bytes=10).to_dict()["ok"]
        True
        """
        return {
            "ok": self.ok,
            "files": self.files,
            "bytes": self.bytes,
            "deep": self.deep,
            "problems": [{"path": p.path, "problem": p.message} for p in self.problems],
        }


def verify_dataset(
    data: str | Path, *, deep: bool = False, progress: ProgressCallback | None = None
) -> VerifyReport:
    """Check the dataset at ``data`` against its manifest; see the module docstring.

    A missing or unreadable manifest raises :class:`~chainsleuth.errors.DatasetError`; every
    other finding is a :class:`Problem` in the report.

    >>> verify_dataset(_example_dataset(), deep=True).ok
    True
    """
    root = Path(data)
    manifest = Manifest.load(root)
    report = VerifyReport(files=len(manifest.files), deep=deep)
    report.problems.extend(_manifest_problems(manifest))
    sizes = {k: (root / k).stat().st_size for k in manifest.files if (root / k).is_file()}
    report.bytes = sum(sizes.values())
    good: set[str] = set()  # files whose sha256 matched: safe to read as Parquet
    done = 0
    for rel in sorted(manifest.files):
        if rel not in sizes:
            report.problems.append(Problem(rel, "missing"))
            continue
        recorded = manifest.sizes.get(rel)
        if recorded is not None and recorded != sizes[rel]:
            report.problems.append(
                Problem(rel, f"size {sizes[rel]} bytes, the manifest says {recorded}")
            )
            done += sizes[rel]  # not hashed: the size already says it differs
            if progress is not None:
                progress(rel, done, report.bytes)
            continue
        for n in _sha256_chunks(root / rel, hashlib.sha256()):
            if isinstance(n, int):
                done += n
                if progress is not None:
                    progress(rel, done, report.bytes)
            elif n != manifest.files[rel]:
                report.problems.append(Problem(rel, "sha256 mismatch"))
            else:
                good.add(rel)
    report.problems.extend(_stray_files(root, manifest))
    report.problems.extend(_tip_problems(root, manifest, good))
    if deep:
        report.problems.extend(_deep_problems(root, manifest, good))
    return report


def _sha256_chunks(path: Path, digest: Any) -> Iterator[int | str]:
    """Yield the size of each chunk read, then the hex digest (one reused 1 MiB buffer)."""
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            digest.update(view[:n])
            yield n
    yield digest.hexdigest()


# -- the manifest alone -------------------------------------------------------------------------


def _manifest_problems(m: Manifest) -> list[Problem]:
    """Partitions contiguous in heights and ids, totals, tip, listed files, saved state."""
    out: list[Problem] = []

    def bad(message: str) -> None:
        out.append(Problem(MANIFEST_NAME, message))

    span = m.partition_span
    prev: Partition | None = None
    for i, p in enumerate(m.partitions):
        where = f"partition {p.lo}-{p.hi}"
        want_lo = 0 if prev is None else prev.hi + 1
        if p.lo != want_lo:
            bad(f"{where}: starts at height {p.lo}, expected {want_lo} (heights not contiguous)")
        if span <= 0 or p.lo % span or p.hi != p.lo + span - 1:
            bad(f"{where}: not a {span}-height partition")
        if not p.lo <= p.last_height <= p.hi:
            bad(f"{where}: last_height {p.last_height} outside the partition")
        elif not p.complete and i != len(m.partitions) - 1:
            bad(f"{where}: incomplete (last_height {p.last_height}) but not the last partition")
        for key, count in (("tx", "txs"), ("out", "outputs"), ("addr", "addresses")):
            first = getattr(p, f"first_{key}_id")
            want = (
                0
                if prev is None
                else getattr(prev, f"first_{key}_id") + getattr(prev, f"n_{count}")
            )
            if first != want:
                bad(f"{where}: first_{key}_id {first}, expected {want} (ids not contiguous)")
        for count in ("n_txs", "n_outputs", "n_inputs", "n_addresses"):
            if getattr(p, count) < 0:
                bad(f"{where}: negative {count}")
        prev = p
    totals = {
        "blocks": sum(p.last_height - p.lo + 1 for p in m.partitions),
        "txs": sum(p.n_txs for p in m.partitions),
        "outputs": sum(p.n_outputs for p in m.partitions),
        "inputs": sum(p.n_inputs for p in m.partitions),
        "addresses": sum(p.n_addresses for p in m.partitions),
    }
    for table, total in totals.items():
        if m.counts.get(table, total) != total:
            bad(f"counts.{table} {m.counts[table]}, the partitions sum to {total}")
    tip = m.partitions[-1].last_height if m.partitions else -1
    if m.tip_height != tip:
        bad(f"tip height {m.tip_height}, the last partition ends at {tip}")
    for p in m.partitions:
        name = part_name(p.lo, span) if span > 0 else ""
        for rel in [f"tables/{t}/{name}" for t in STORED_TABLES] + partition_index_files(name):
            if rel not in m.files:
                bad(f"{rel} of partition {p.lo}-{p.hi} is not listed")
    expected = {
        f"tables/{t}/{part_name(p.lo, span)}" for p in m.partitions for t in STORED_TABLES
    } | {f for p in m.partitions for f in partition_index_files(part_name(p.lo, span))}
    for rel in sorted(m.files):
        if rel.startswith(("tables/", "index/")) and rel not in expected:
            bad(f"{rel} is listed but belongs to no partition")
    out.extend(_state_problems(m))
    return out


def _state_problems(m: Manifest) -> list[Problem]:
    """The saved ingest state: on a partition boundary, its ids where the next partition's
    start, and each of its files listed."""
    s = m.state
    if not s:
        return []
    out: list[Problem] = []
    height = int(s.get("height", -1))
    before = [p for p in m.partitions if p.hi <= height]
    if height >= 0 and not any(p.hi == height and p.complete for p in m.partitions):
        out.append(Problem(MANIFEST_NAME, f"state height {height} is not a partition boundary"))
    for key, count in (("next_tx_id", "n_txs"), ("next_out_id", "n_outputs")):
        want = sum(getattr(p, count) for p in before)
        if key in s and int(s[key]) != want:
            out.append(Problem(MANIFEST_NAME, f"state {key} {s[key]}, expected {want}"))
    addrs = s.get("addresses") or {}
    want = sum(p.n_addresses for p in before)
    if "count" in addrs and int(addrs["count"]) != want:
        out.append(
            Problem(MANIFEST_NAME, f"state addresses count {addrs['count']}, expected {want}")
        )
    names = []
    if (s.get("utxo") or {}).get("file"):
        names.append(str(s["utxo"]["file"]))
    inner = addrs.get("state") or {}
    folder = str(addrs.get("folder", ""))
    hot = inner.get("hot") or {}
    files = [hot.get("file")] + [
        f for r in inner.get("runs") or [] for f in (r.get("file"), r.get("index"))
    ]
    names += [f"{folder}/{f}" for f in files if f and folder]
    out.extend(
        Problem(MANIFEST_NAME, f"{n} of the saved state is not listed")
        for n in names
        if n not in m.files
    )
    return out


def _stray_files(root: Path, m: Manifest) -> list[Problem]:
    """Files under the data folders that the manifest does not list."""
    stray = []
    for top in CHECKED_DIRS:
        folder = root / top
        if folder.is_dir():
            for f in folder.rglob("*"):
                rel = f.relative_to(root).as_posix()
                if f.is_file() and rel not in m.files:
                    stray.append(rel)
    return [Problem(rel, "not listed in the manifest") for rel in sorted(stray)]


def _tip_problems(root: Path, m: Manifest, good: set[str]) -> list[Problem]:
    """The tip's height and hash are the last row of the last blocks part (if it hashed ok)."""
    if not m.partitions:
        return []
    rel = f"tables/blocks/{part_name(m.partitions[-1].lo, m.partition_span)}"
    if rel not in good:
        return []
    try:
        table = pq.read_table(root / rel, columns=["height", "hash"])
    except (OSError, pa.ArrowException) as exc:
        return [Problem(rel, f"unreadable Parquet ({exc})")]
    if table.num_rows == 0:
        return [Problem(rel, f"no blocks, the manifest's tip is {m.tip_height}")]
    height = table.column("height")[-1].as_py()
    block_hash = table.column("hash")[-1].as_py().hex()
    if height != m.tip_height or block_hash != m.tip_hash:
        return [
            Problem(
                rel,
                f"ends at block {height} {block_hash}, the manifest's tip is "
                f"{m.tip_height} {m.tip_hash}",
            )
        ]
    return []


# -- deep: the Parquet data against the manifest ------------------------------------------------


def _expected(p: Partition) -> dict[str, tuple[int, str | None, int, int]]:
    """Per table: (rows, id column, first id, last id) the manifest implies for partition p."""
    blocks = p.last_height - p.lo + 1
    last_tx = p.first_tx_id + p.n_txs - 1
    return {
        "blocks": (blocks, "height", p.lo, p.last_height),
        "txs": (p.n_txs, "tx_id", p.first_tx_id, last_tx),
        "outputs": (p.n_outputs, "out_id", p.first_out_id, p.first_out_id + p.n_outputs - 1),
        # every transaction has at least one input, the coinbase's first
        "inputs": (p.n_inputs, "tx_id", p.first_tx_id, last_tx),
        "addresses": (
            p.n_addresses,
            "addr_id",
            p.first_addr_id,
            p.first_addr_id + p.n_addresses - 1,
        ),
        # one spend per input but the coinbase's (one per block)
        "spends": (p.n_inputs - blocks, None, p.first_tx_id, last_tx),
    }


def _deep_problems(root: Path, m: Manifest, good: set[str]) -> list[Problem]:
    out: list[Problem] = []
    for p in m.partitions:
        for table, (rows, column, lo, hi) in _expected(p).items():
            rel = f"tables/{table}/{part_name(p.lo, m.partition_span)}"
            if rel in good:
                out.extend(
                    Problem(rel, msg)
                    for msg in _part_problems(root / rel, table, rows, column, lo, hi)
                )
    return out


def _part_problems(
    path: Path, table: str, rows: int, column: str | None, lo: int, hi: int
) -> list[str]:
    """What differs between one part's Parquet data and the manifest's figures."""
    try:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
        if schema.names != TABLES[table].names:
            return [f"columns {schema.names} differ from the {table} schema"]
        got = pf.metadata.num_rows
        if got != rows:
            return [f"{got} rows, the manifest says {rows}"]
        if rows == 0:
            return []
        # spends: the spenders' tx_ids lie in the partition's range (not dense)
        name = column or "tx_id"
        lo_got, hi_got = _min_max(pf, name)
    except (OSError, pa.ArrowException) as exc:
        return [f"unreadable Parquet ({exc})"]
    if column is None:
        if lo_got < lo or hi_got > hi:
            return [f"{name} {lo_got}..{hi_got} outside the partition's {lo}..{hi}"]
    elif (lo_got, hi_got) != (lo, hi):
        return [f"{name} {lo_got}..{hi_got}, the manifest says {lo}..{hi}"]
    return []


def _min_max(pf: pq.ParquetFile, column: str) -> tuple[int, int]:
    """Min and max of an integer column from the row groups' statistics; a row group without
    them is streamed one batch at a time (never the whole column in memory)."""
    index = pf.schema_arrow.get_field_index(column)
    lows: list[int] = []
    highs: list[int] = []
    for g in range(pf.metadata.num_row_groups):
        rg = pf.metadata.row_group(g)
        if rg.num_rows == 0:
            continue
        stats = rg.column(index).statistics
        if stats is not None and stats.has_min_max and stats.null_count == 0:
            lows.append(int(stats.min))
            highs.append(int(stats.max))
            continue
        for batch in pf.iter_batches(batch_size=65536, row_groups=[g], columns=[column]):
            mm = pc.min_max(batch.column(0))
            if mm["min"].is_valid:
                lows.append(int(mm["min"].as_py()))
                highs.append(int(mm["max"].as_py()))
    if not lows:
        raise pa.ArrowInvalid(f"column {column} holds only nulls")
    return min(lows), max(highs)


def _example_dataset() -> Path:
    """An empty dataset (a manifest and an empty ``tables/``), for the doctests."""
    import tempfile

    root = Path(tempfile.mkdtemp()) / "ds"
    (root / "tables").mkdir(parents=True)
    Manifest.new("regtest", 10).save(root)
    return root
