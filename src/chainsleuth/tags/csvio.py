"""Tags as CSV: one tag per row, with a header row naming the columns.

Columns (see docs/tags.md): ``target_kind`` (address, tx or cluster; default address),
``target`` (address or txid), ``label``, ``category``, ``abuse``, ``actor``, ``source``,
``confidence``, ``context``, ``created``, ``lastmod`` (ISO 8601), ``pack`` (default: the file's
name without extension). ``target``, ``label``, ``source`` and ``confidence`` are required;
empty cells mean "not given". Unknown columns are rejected.

>>> from chainsleuth.chain.network import get_network
>>> text = "target,label,source,confidence,category\\n"
>>> text += "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080,Shop,order 17,forensic,market\\n"
>>> [t.label for t in read_tags_csv(text, "case.csv", get_network("regtest"))]
['Shop']
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import PurePath

from chainsleuth.chain.network import Network
from chainsleuth.tags.model import Tag
from chainsleuth.tags.validate import RawTag, build_tag, fail

__all__ = ["CSV_COLUMNS", "REQUIRED_COLUMNS", "read_tags_csv", "write_tags_csv"]

CSV_COLUMNS: tuple[str, ...] = (
    "target_kind",
    "target",
    "label",
    "category",
    "abuse",
    "actor",
    "source",
    "confidence",
    "context",
    "created",
    "lastmod",
    "pack",
)
"""Every column a tag CSV may have, in the order :func:`write_tags_csv` writes them."""
REQUIRED_COLUMNS: tuple[str, ...] = ("target", "label", "source", "confidence")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def read_tags_csv(
    text: str, file: str, network: Network, *, now: datetime | None = None
) -> list[Tag]:
    """Parse a tag CSV; InputError names file, line and column of the first problem.

    >>> from chainsleuth.chain.network import get_network
    >>> try:
    ...     read_tags_csv("target,label,source\\n", "x.csv", get_network("main"))
    ... except Exception as e:
    ...     print(e)
    x.csv:1: field 'confidence': missing required column
    """
    moment = now or datetime.now(UTC)
    default_pack = PurePath(file).stem
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise fail(file, 1, None, "empty CSV file (expected a header row)") from None
    except csv.Error as err:
        raise fail(file, 1, None, f"invalid CSV: {err}") from None
    for name in header:
        if name not in CSV_COLUMNS:
            valid = ", ".join(CSV_COLUMNS)
            raise fail(file, 1, name, f"unknown column (valid: {valid})")
    if len(set(header)) != len(header):
        raise fail(file, 1, None, "duplicate column in header")
    for name in REQUIRED_COLUMNS:
        if name not in header:
            raise fail(file, 1, name, "missing required column")
    tags: list[Tag] = []
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                reason = f"expected {len(header)} columns, found {len(row)}"
                raise fail(file, line, None, reason)
            fields = {
                name: (cell if cell.strip() else None)
                for name, cell in zip(header, row, strict=True)
            }
            pack = (fields.pop("pack", None) or default_pack).strip()
            tags.append(build_tag(RawTag(fields, {}, line), file, network, pack=pack, now=moment))
    except csv.Error as err:
        raise fail(file, reader.line_num, None, f"invalid CSV: {err}") from None
    if not tags:
        raise fail(file, 1, None, "no tags in file")
    return tags


def write_tags_csv(tags: Iterable[Tag]) -> str:
    """Serialise tags as CSV with all of :data:`CSV_COLUMNS`.

    >>> from datetime import datetime, UTC
    >>> now = datetime(2025, 1, 2, tzinfo=UTC)
    >>> t = Tag("tx", "ab" * 32, "Payout", None, None, "s", "forensic", None, now, now, "p")
    >>> write_tags_csv([t]).splitlines()[1][:11]
    'tx,abababab'
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for t in tags:
        writer.writerow(
            [
                t.target_kind,
                t.target,
                t.label,
                t.category or "",
                t.abuse or "",
                t.actor or "",
                t.source,
                t.confidence,
                t.context or "",
                _iso(t.created),
                _iso(t.lastmod),
                t.pack,
            ]
        )
    return out.getvalue()
