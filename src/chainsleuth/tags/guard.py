"""Tags as the clustering's collapse guard sees them, and tags a run did not see.

Only tags at or above a confidence level (:data:`DEFAULT_MIN_CONFIDENCE`, 50: ``service_data``,
``trusted_provider``, ``forensic`` and everything above) may hold back a link: a web-crawled
(20) or heuristic (10) tag is a hint, not evidence strong enough to veto links that are
certain (multi-input). Weaker tags still label clusters and show up as conflicts.

>>> parse_min_confidence("web_crawl"), parse_min_confidence("60")
(20, 60)
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq

from chainsleuth.cluster.actors import ACTOR_ROWS_SCHEMA, ActorTable
from chainsleuth.errors import InputError
from chainsleuth.store.tagtables import address_actor_levels
from chainsleuth.tags.store import tags_path
from chainsleuth.tags.taxonomy import CONFIDENCE

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

__all__ = [
    "DEFAULT_MIN_CONFIDENCE",
    "actor_table",
    "parse_min_confidence",
    "store_sha256",
    "unseen_tags_message",
]

DEFAULT_MIN_CONFIDENCE = 50
"""Tags below this confidence level do not hold links apart (see the module docstring)."""

RUN_TAGS_FILE = "tags.parquet"
"""The actor rows a clustering run used, in its run directory."""


def parse_min_confidence(text: str | int) -> int:
    """A confidence level (5-100) from a number or a confidence name.

    >>> parse_min_confidence("service_data")
    50
    >>> try:
    ...     parse_min_confidence("high")
    ... except InputError as e:
    ...     print(str(e)[:60])
    --tag-min-confidence must be a level 0-100 or a confidence n
    """
    value = str(text).strip()
    if value in CONFIDENCE:
        return CONFIDENCE[value].level
    try:
        level = int(value)
    except ValueError:
        level = -1
    if not 0 <= level <= 100:
        names = ", ".join(f"{c.id} ({c.level})" for c in CONFIDENCE.values())
        raise InputError(
            f"--tag-min-confidence must be a level 0-100 or a confidence name: {value!r} "
            f"(names: {names})"
        )
    return level


def store_sha256(ds: Dataset) -> str | None:
    """sha256 of the tag store file (None without tags): a cheap "nothing changed" test.

    >>> from types import SimpleNamespace
    >>> store_sha256(SimpleNamespace(path=Path("/nonexistent"))) is None
    True
    """
    path = tags_path(ds)
    if not path.exists():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def actor_table(ds: Dataset, min_confidence: int | None = DEFAULT_MIN_CONFIDENCE) -> ActorTable:
    """Address and cluster tags of addresses in the dataset with a confidence level of at least
    ``min_confidence`` (all tags when None): (addr_id, actor — the tag's actor, else its label —,
    confidence level, pack).

    >>> table = actor_table(ds)  # ds: regtest with the exchange tag packs
    >>> codes = table.codes(9174)  # per addr_id an actor code for cluster_dataset
    >>> len(table), int(codes[9]), int((codes > 0).sum())
    (23, 1, 23)
    """
    path = tags_path(ds)
    if not path.exists():
        return ActorTable.from_rows([], min_confidence)
    sha = store_sha256(ds)
    floor = -1 if min_confidence is None else int(min_confidence)
    table = address_actor_levels(ds, path, floor).cast(ACTOR_ROWS_SCHEMA)
    return ActorTable.from_arrow(table, min_confidence, sha)


def _names(values: set[str], limit: int = 5) -> str:
    shown = sorted(values)
    text = ", ".join(repr(v) for v in shown[:limit])
    return text + (f" and {len(shown) - limit} more" if len(shown) > limit else "")


def unseen_tags_message(ds: Dataset, run_path: Path, params: dict[str, Any]) -> str | None:
    """A one-line warning naming the tags a clustering run did not see (None: it saw them all,
    it has no actor guard they could have changed, or it predates tag snapshots).

    Compares the tags the run used (its ``tags.parquet``) with the store's tags at the run's
    confidence threshold.

    >>> from chainsleuth.cluster.runs import run_dir, run_params
    >>> print(unseen_tags_message(ds, run_dir(ds, "default"), run_params(ds, "default")))
    None
    """
    snap = params.get("tags")
    if not isinstance(snap, dict) or "collapse-guard" not in params.get("heuristics", []):
        return None
    current_sha = store_sha256(ds)
    if current_sha == snap.get("store_sha256"):
        return None
    key = (str(run_path), str(params.get("created")), current_sha)
    if key not in _UNSEEN_CACHE:
        _UNSEEN_CACHE[key] = _unseen(ds, run_path, snap)
    return _UNSEEN_CACHE[key]


_UNSEEN_CACHE: dict[tuple[str, str, str | None], str | None] = {}
"""Messages by (run directory, run creation time, tag store hash): one command checks a run
several times."""


def _unseen(ds: Dataset, run_path: Path, snap: dict[str, Any]) -> str | None:
    floor = snap.get("min_confidence")
    current = actor_table(ds, DEFAULT_MIN_CONFIDENCE if floor is None else int(floor))
    if snapshot_of(current) == snap.get("snapshot_sha256"):
        return None
    used_file = run_path / RUN_TAGS_FILE
    used = (
        ActorTable.from_arrow(pq.ParquetFile(used_file).read(), floor).triples()
        if used_file.is_file()
        else set()
    )
    new = [r for r in current.rows if (r[0], r[1], r[2]) not in used]
    gone = len(used - current.triples())
    name = run_path.name
    parts = []
    if new:
        packs = {r[3] for r in new}
        actors = {r[1] for r in new}
        parts.append(
            f"clustering run {name!r} did not see {len(new)} tags imported after it "
            f"(packs {_names(packs)}; actors {_names(actors)})"
        )
    if gone:
        parts.append(
            f"{'and it' if parts else f'clustering run {name!r}'} used {gone} tags no longer "
            "in the store"
        )
    if not parts:
        return None
    return " ".join(parts) + ": re-run cluster to let them hold links apart"


def snapshot_of(table: ActorTable) -> str:
    """The snapshot hash of an actor table (as recorded in ``params.json``)."""
    return str(table.params()["snapshot_sha256"])
