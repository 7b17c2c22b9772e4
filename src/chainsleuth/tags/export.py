"""Export stored tags as TagPack YAML (one document per pack) or CSV.

Both formats carry every stored field, so exporting and importing again reproduces the store.

>>> EXPORT_FORMATS
('tagpack', 'csv')
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from chainsleuth.errors import InputError, NotFoundError
from chainsleuth.tags.csvio import write_tags_csv
from chainsleuth.tags.model import EXPORT_FORMATS, Pack, Tag
from chainsleuth.tags.store import load_packs, load_tags
from chainsleuth.tags.tagpack import write_tagpacks

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

__all__ = ["EXPORT_FORMATS", "export_tags"]

_UNKNOWN_CREATOR = "unknown"


def export_tags(ds: Dataset, fmt: str, packs: Collection[str] | None = None) -> str:
    """The dataset's tags (optionally only the named packs) as TagPack YAML or CSV text.

    InputError for an unknown format, NotFoundError for a pack that is not stored or when there
    are no tags at all.

    >>> lines = export_tags(ds, "csv").splitlines()  # ds: regtest with the exchange tag packs
    >>> lines[0]
    'target_kind,target,label,category,abuse,actor,source,confidence,context,created,lastmod,pack'
    >>> len(lines)
    25
    """
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"unknown export format {fmt!r} (valid: {', '.join(EXPORT_FORMATS)})")
    tags = load_tags(ds)
    if not tags:
        raise NotFoundError(f"no tags stored in {ds.path} (import a TagPack or CSV first)")
    if packs:
        stored = {t.pack for t in tags}
        for name in packs:
            if name not in stored:
                raise NotFoundError(
                    f"pack {name!r} not stored (stored: {', '.join(sorted(stored))})"
                )
        tags = [t for t in tags if t.pack in packs]
    if fmt == "csv":
        return write_tags_csv(tags)
    meta = load_packs(ds)
    by_pack: dict[str, list[Tag]] = {}
    for t in tags:
        by_pack.setdefault(t.pack, []).append(t)
    return write_tagpacks(
        (meta.get(name, Pack(name, _UNKNOWN_CREATOR)), pack_tags)
        for name, pack_tags in by_pack.items()
    )
