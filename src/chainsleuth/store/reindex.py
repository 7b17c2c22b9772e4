"""Add the lookup index files a dataset lacks (datasets ingested before they existed).

The ingest writes each partition's index files (``store/lookup.py``) when it closes the
partition. A dataset made by an older version has none: lookups then scan tables and the
streamed clustering reads spenders through DuckDB. :func:`add_missing_indexes` builds the
files of every partition the manifest does not list them for, one partition at a time
(memory: that partition's key columns, about 50 B per output), and records each file with
its sha256 in the manifest (saved after every partition, so an interrupted run keeps what it
built and the next one goes on from there). Parts are read, never written.

>>> import shutil
>>> from chainsleuth.store.manifest import Manifest
>>> _ = shutil.copytree(ds.path, tmp / "d", ignore=shutil.ignore_patterns("derived", "index"))
>>> m = Manifest.load(tmp / "d")
>>> m.files = {k: v for k, v in m.files.items() if not k.startswith("index/")}
>>> m.save(tmp / "d")
>>> add_missing_indexes(tmp / "d")  # the regtest chain: five partitions
5
>>> add_missing_indexes(tmp / "d")
0
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from chainsleuth.store.lookup import build_partition_indexes, partition_index_files
from chainsleuth.store.manifest import Manifest
from chainsleuth.store.parts import part_name

__all__ = ["add_missing_indexes", "missing_index_partitions"]


def missing_index_partitions(manifest: Manifest) -> list[str]:
    """Part names of the partitions whose index files the manifest does not list.

    >>> from chainsleuth.store.manifest import Manifest
    >>> missing_index_partitions(Manifest.load(ds.path))
    []
    """
    names = [part_name(p.lo, manifest.partition_span) for p in manifest.partitions]
    return [n for n in names if not all(f in manifest.files for f in partition_index_files(n))]


def add_missing_indexes(
    data: Path | str, progress: Callable[[int, int], None] | None = None
) -> int:
    """Build the index files of every partition that lacks them; returns how many partitions
    got files. ``progress(done, total)`` is called after each one.

    See the module docstring for an example.
    """
    root = Path(data)
    manifest = Manifest.load(root)
    todo = missing_index_partitions(manifest)
    for i, name in enumerate(todo):
        manifest.files.update(build_partition_indexes(root, name))
        manifest.save(root)
        if progress is not None:
            progress(i + 1, len(todo))
    return len(todo)
