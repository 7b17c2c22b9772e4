"""Parquet part files: fixed height-range names, atomic writes (temp + rename), checksums.

>>> part_name(1000, 1000)
'h000001000-000001999.parquet'
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["TMP_SUFFIX", "part_name", "sha256_file", "write_table_atomic"]

TMP_SUFFIX = ".tmp"
_ROW_GROUP = 256 * 1024


def part_name(lo: int, span: int) -> str:
    """File name of the partition that starts at height ``lo`` and covers ``span`` heights."""
    return f"h{lo:09d}-{lo + span - 1:09d}.parquet"


def write_table_atomic(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` through a temporary file renamed into place.

    The bytes depend only on the table's content, so re-writing the same rows (a resumed
    ingest) produces an identical file and checksum.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + TMP_SUFFIX)
    pq.write_table(
        table,
        tmp,
        compression="zstd",
        row_group_size=_ROW_GROUP,
        write_statistics=True,
        store_schema=True,
    )
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"; _ = p.write_bytes(b"abc")
    >>> sha256_file(p)[:16]
    'ba7816bf8f01cfea'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
