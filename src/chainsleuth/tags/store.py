"""The tag store: ``DATASET/derived/tags/tags.parquet``, queryable as the DuckDB view ``tags``.

One Parquet file holds every tag (columns :data:`TAGS_SCHEMA`); the header metadata of each
pack rides along in the file's schema metadata so an export reproduces it. Writes go to a
temporary file renamed into place. An import reads and checks every file first and stores
nothing if any of them is malformed; importing a pack again replaces that pack's tags instead of
adding them twice (a tag keeps its earliest ``created`` time).

>>> import pyarrow as pa
>>> empty_tags_table().num_rows, TAGS_SCHEMA.field("confidence_level").type == pa.int32()
(0, True)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from chainsleuth.errors import InputError
from chainsleuth.store.catalog import create_parquet_view, register_derived_view
from chainsleuth.store.tagtables import address_actor_rows, address_tag_rows, query_arrow
from chainsleuth.tags.csvio import read_tags_csv
from chainsleuth.tags.model import Pack, Tag
from chainsleuth.tags.tagpack import read_tagpacks

if TYPE_CHECKING:
    from chainsleuth.chain.network import Network
    from chainsleuth.store.dataset import Dataset

__all__ = [
    "TAGS_SCHEMA",
    "ImportReport",
    "address_actor_table",
    "empty_tags_table",
    "import_tag_files",
    "labels_for_addresses",
    "labels_for_txids",
    "load_packs",
    "load_tags",
    "query_arrow",
    "read_tag_file",
    "register_tags_view",
    "search_tags",
    "tags_path",
    "tags_table",
    "write_tags",
]

_TS = pa.timestamp("us", tz="UTC")
TAGS_SCHEMA = pa.schema(
    [
        ("target_kind", pa.string()),
        ("target", pa.string()),
        ("label", pa.string()),
        ("category", pa.string()),
        ("abuse", pa.string()),
        ("actor", pa.string()),
        ("source", pa.string()),
        ("confidence", pa.string()),
        ("confidence_level", pa.int32()),
        ("context", pa.string()),
        ("created", _TS),
        ("lastmod", _TS),
        ("pack", pa.string()),
    ]
)
"""Columns of ``derived/tags/tags.parquet`` (and of the ``tags`` view)."""
_PACKS_KEY = b"chainsleuth.packs"
_CSV_CREATOR = "unknown"
_ACTOR_SCHEMA = pa.schema(
    [("addr_id", pa.int64()), ("actor", pa.string()), ("category", pa.string())]
)


@dataclass(slots=True)
class ImportReport:
    """What an import stored: tags per pack, and how many tags the store holds now."""

    files: list[str] = field(default_factory=list)
    packs: dict[str, int] = field(default_factory=dict)
    replaced: int = 0
    total: int = 0


TAGS_FILE = "derived/tags/tags.parquet"
"""Where a dataset keeps its tags (relative to the dataset)."""
register_derived_view("tags", TAGS_FILE)  # every dataset opened from now on has the view


def tags_path(ds: Dataset) -> Path:
    """Where the dataset's tags live (the file may not exist yet).

    >>> from types import SimpleNamespace
    >>> tags_path(SimpleNamespace(path=Path("/d"))).as_posix()
    '/d/derived/tags/tags.parquet'
    """
    return Path(ds.path) / TAGS_FILE


def empty_tags_table() -> pa.Table:
    """A table with the tag columns and no rows.

    >>> empty_tags_table().column_names[:3]
    ['target_kind', 'target', 'label']
    """
    # not ``TAGS_SCHEMA.empty_table()``: it imports pandas, half a second of every ``show``
    return pa.Table.from_arrays([pa.nulls(0, f.type) for f in TAGS_SCHEMA], schema=TAGS_SCHEMA)


def _to_table(tags: Sequence[Tag], packs: dict[str, Pack]) -> pa.Table:
    ordered = sorted(tags, key=lambda t: t.key)
    columns: dict[str, list[Any]] = {name: [] for name in TAGS_SCHEMA.names}
    for t in ordered:
        for name in TAGS_SCHEMA.names:
            value = t.confidence_level if name == "confidence_level" else getattr(t, name)
            columns[name].append(value)
    used = sorted({t.pack for t in ordered})
    meta = [
        {
            "title": packs[p].title,
            "creator": packs[p].creator,
            "description": packs[p].description,
            "is_public": packs[p].is_public,
        }
        for p in used
        if p in packs
    ]
    schema = TAGS_SCHEMA.with_metadata({_PACKS_KEY: json.dumps(meta).encode()})
    return pa.table(columns, schema=schema)


def tags_table(ds: Dataset) -> pa.Table:
    """Every stored tag as an Arrow table (empty when nothing was imported).

    >>> from types import SimpleNamespace
    >>> tags_table(SimpleNamespace(path=Path("/nonexistent"))).num_rows
    0
    """
    path = tags_path(ds)
    if not path.exists():
        return empty_tags_table()
    return pq.ParquetFile(path).read()  # one file: no pyarrow.dataset (and no pandas import)


def load_packs(ds: Dataset) -> dict[str, Pack]:
    """Header metadata of every stored pack, by title.

    >>> from types import SimpleNamespace
    >>> load_packs(SimpleNamespace(path=Path("/nonexistent")))
    {}
    """
    path = tags_path(ds)
    if not path.exists():
        return {}
    meta = pq.read_schema(path).metadata or {}
    packs = [Pack(**p) for p in json.loads(meta.get(_PACKS_KEY, b"[]"))]
    return {p.title: p for p in packs}


def _rows_to_tags(table: pa.Table) -> list[Tag]:
    names = [n for n in TAGS_SCHEMA.names if n != "confidence_level"]
    return [Tag(**{n: row[n] for n in names}) for row in table.select(names).to_pylist()]


def load_tags(ds: Dataset) -> list[Tag]:
    """Every stored tag, ordered by (pack, target kind, target, label).

    >>> from types import SimpleNamespace
    >>> load_tags(SimpleNamespace(path=Path("/nonexistent")))
    []
    """
    return _rows_to_tags(tags_table(ds))


def read_tag_file(
    path: Path | str, network: Network, *, now: datetime | None = None
) -> list[tuple[Pack, list[Tag]]]:
    """Read one TagPack (``.yaml``/``.yml``) or CSV (``.csv``) file into checked packs.

    A CSV row's pack is its ``pack`` column (default: the file name without extension).

    >>> from chainsleuth.chain.network import get_network
    >>> try:
    ...     read_tag_file("tags.txt", get_network("main"))
    ... except InputError as e:
    ...     print(e)
    tags.txt: unknown tag file type '.txt' (valid: .yaml, .yml, .csv)
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".yaml", ".yml", ".csv"):
        raise InputError(f"{p}: unknown tag file type {suffix!r} (valid: .yaml, .yml, .csv)")
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{p}: cannot read: {err}") from None
    if suffix == ".csv":
        by_pack: dict[str, list[Tag]] = {}
        for tag in read_tags_csv(text, str(p), network, now=now):
            by_pack.setdefault(tag.pack, []).append(tag)
        return [(Pack(title, _CSV_CREATOR), tags) for title, tags in by_pack.items()]
    return read_tagpacks(text, str(p), network, now=now)


def _write_atomic(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _merge(old: list[Tag], new: list[Tag]) -> tuple[list[Tag], int]:
    """Replace the packs ``new`` covers; keep each tag's earliest ``created``."""
    new_packs = {t.pack for t in new}
    earliest = {t.key: t.created for t in old if t.pack in new_packs}
    fresh: dict[tuple[str, str, str, str], Tag] = {}
    for t in new:
        first = earliest.get(t.key)
        if first is not None and first < t.created:
            t = replace(t, created=first)
        fresh[t.key] = t
    kept = [t for t in old if t.pack not in new_packs]
    replaced = len(old) - len(kept)
    return kept + list(fresh.values()), replaced


def import_tag_files(
    ds: Dataset, paths: Iterable[Path | str], *, now: datetime | None = None
) -> ImportReport:
    """Import TagPack/CSV files into the dataset's tag store, all or nothing.

    Every file is read and checked against ``ds.network`` before anything is written; the first
    problem raises InputError naming file, line and field. Packs already stored under the same
    title are replaced, so importing a file twice does not duplicate its tags.

    >>> import shutil
    >>> from chainsleuth.store.dataset import Dataset
    >>> _ = shutil.copytree(ds.path, tmp / "d", ignore=shutil.ignore_patterns("tags*"))
    >>> report = import_tag_files(Dataset.open(tmp / "d"), ["tests/data/tagpacks/miners.csv"])
    >>> report.packs, report.total
    ({'coinbase payouts': 5}, 5)
    """
    moment = now or datetime.now(UTC).replace(microsecond=0)
    report = ImportReport()
    new_tags: list[Tag] = []
    packs = load_packs(ds)
    seen: set[tuple[str, str, str, str]] = set()
    for path in paths:
        report.files.append(str(path))
        for pack, tags in read_tag_file(path, ds.network, now=moment):
            if pack.title not in packs or pack.creator != _CSV_CREATOR:
                packs[pack.title] = pack
            for t in tags:
                if t.key not in seen:
                    seen.add(t.key)
                    report.packs[t.pack] = report.packs.get(t.pack, 0) + 1
                new_tags.append(t)
    if not report.files:
        raise InputError("no tag files given")
    merged, report.replaced = _merge(load_tags(ds), new_tags)
    _write_atomic(_to_table(merged, packs), tags_path(ds))
    report.total = len(merged)
    register_tags_view(ds)
    return report


def write_tags(ds: Dataset, tags: Sequence[Tag], packs: dict[str, Pack]) -> None:
    """Replace the dataset's tag store with ``tags`` (pack headers ``packs``), atomically
    (a temporary file renamed into place), and refresh the ``tags`` view: what an import
    does after merging, for callers that edit single tags (the API).

    >>> import shutil
    >>> from chainsleuth.store.dataset import Dataset
    >>> _ = shutil.copytree(ds.path, tmp / "w", ignore=shutil.ignore_patterns("tags*"))
    >>> d = Dataset.open(tmp / "w")
    >>> _ = import_tag_files(d, ["tests/data/tagpacks/miners.csv"])
    >>> write_tags(d, load_tags(d)[:2], load_packs(d))
    >>> len(load_tags(d)), d.sql("SELECT count(*) FROM tags").fetchall()
    (2, [(2,)])
    """
    _write_atomic(_to_table(tags, packs), tags_path(ds))
    register_tags_view(ds)


def register_tags_view(ds: Dataset) -> bool:
    """Create (or refresh) the DuckDB view ``tags`` on ``ds.con``; False if no tags exist.

    >>> register_tags_view(ds), ds.sql("SELECT count(*) FROM tags").fetchall()
    (True, [(24,)])
    """
    return create_parquet_view(ds.con, "tags", tags_path(ds))


def address_actor_table(ds: Dataset) -> pa.Table:
    """Who each tagged address belongs to: (addr_id int64, actor string, category string).

    One row per distinct (addr_id, actor, category) over address and cluster tags of addresses
    present in the dataset; ``actor`` is the tag's actor, or its label when it names none;
    ``category`` may be null. Empty (same columns) when there are no tags.

    >>> address_actor_table(ds).to_pylist()[0]
    {'addr_id': 9, 'actor': 'exchange-1', 'category': 'exchange'}
    """
    path = tags_path(ds)
    if not path.exists():
        return _ACTOR_SCHEMA.empty_table()
    return address_actor_rows(ds, path).cast(_ACTOR_SCHEMA)


def labels_for_addresses(ds: Dataset, addr_ids: Sequence[int]) -> dict[int, list[Tag]]:
    """The address and cluster tags of the given addresses; ids without tags are left out.

    >>> found = labels_for_addresses(ds, [9, 7])  # 7 carries no tag
    >>> list(found), found[9][0].target, found[9][0].label
    ([9], 'bcrt1q57jxq2ww5f3alrhu3ydxkf8py58s9wgcayuecx', 'Exchange One')
    """
    path = tags_path(ds)
    if not path.exists() or not addr_ids:
        return {}
    table = address_tag_rows(ds, path, addr_ids)
    ids = table.column("addr_id").to_pylist()
    result: dict[int, list[Tag]] = {}
    for addr_id, tag in zip(ids, _rows_to_tags(table), strict=True):
        result.setdefault(int(addr_id), []).append(tag)
    return result


def labels_for_txids(ds: Dataset, txids: Sequence[str]) -> dict[str, list[Tag]]:
    """The transaction tags of the given txids (hex, any case); txids without tags left out.

    >>> from types import SimpleNamespace
    >>> labels_for_txids(SimpleNamespace(path=Path("/nonexistent")), ["ab" * 32])
    {}
    """
    wanted = {t.lower() for t in txids}
    result: dict[str, list[Tag]] = {}
    for tag in load_tags(ds):
        if tag.target_kind == "tx" and tag.target in wanted:
            result.setdefault(tag.target, []).append(tag)
    return result


def search_tags(ds: Dataset, query: str) -> list[Tag]:
    """Tags whose target, label, actor, category, abuse, source, pack or context contains
    ``query`` (case-insensitive).

    >>> from types import SimpleNamespace
    >>> search_tags(SimpleNamespace(path=Path("/nonexistent")), "exchange")
    []
    """
    needle = query.lower()
    fields = ("target", "label", "actor", "category", "abuse", "source", "pack", "context")
    return [
        t for t in load_tags(ds) if any(needle in (getattr(t, f) or "").lower() for f in fields)
    ]
