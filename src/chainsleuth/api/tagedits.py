"""Single tags added and removed by analysts through the API, kept in the dataset's tag store.

A tag an analyst adds goes into the pack ``analyst:<name>`` (pack creator: the analyst), with
``context`` recording ``{"analyst": name, "via": "api"}`` and the analyst's note, so who said
it survives ``chainsleuth tags export`` (both formats) and a re-import. The tag is checked like
an imported one (:func:`chainsleuth.tags.validate.build_tag`: address of the dataset's network,
known category and confidence) and must name an address of the dataset; a cluster is named by
one member address (the GraphSense cluster definer), or by ``cluster:N`` resolved to a member of
the clustering run. A confidence may be given as a level 0-100 (mapped to the named level at or
below it, :func:`confidence_name`) or as a name.

Every tag has a stable ``id``: a hash of its identity (pack, kind, target, label) — what
``DELETE /tags/{id}`` and ``PUT /tags/{id}`` (an edit: the tag replaced in one write, so it
is never lost half-way) name. Writes replace ``derived/tags/tags.parquet`` atomically (the
store's own writer), one at a time per dataset (a lock in this process and an ``flock`` on
``derived/tags/.lock`` between processes).

>>> confidence_name(95), confidence_name(70), confidence_name(0)
('manual_transaction', 'forensic_investigation', 'unknown')
>>> tag_id_of(("analyst:alice", "address", "bcrt1qexample", "Shop"))
'0c68b33866afad30'
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chainsleuth.errors import InputError, NotFoundError, UserError
from chainsleuth.tags.model import Pack, Tag
from chainsleuth.tags.store import load_packs, load_tags, tags_path, write_tags
from chainsleuth.tags.taxonomy import CONFIDENCE, check_confidence
from chainsleuth.tags.validate import RawTag, build_tag

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset
    from chainsleuth.tags.store import ImportReport

__all__ = [
    "ANALYST_PACK_PREFIX",
    "ForbiddenTagEdit",
    "add_tag",
    "analyst_pack",
    "confidence_name",
    "find_tags",
    "import_text",
    "remove_tag",
    "replace_tag",
    "tag_id",
    "tag_id_of",
    "tag_json",
]

ANALYST_PACK_PREFIX = "analyst:"
"""Packs of tags added through the API are named ``analyst:<user name>``."""

# Named levels an analyst's number maps to (highest first); ``override`` and
# ``ledger_immanent`` mean something else than "this sure" and are only given by name.
_LEVELS: tuple[tuple[int, str], ...] = tuple(
    (CONFIDENCE[n].level, n)
    for n in (
        "ownership",
        "manual_transaction",
        "forensic_investigation",
        "authority_data",
        "forensic",
        "untrusted_transaction",
        "web_crawl",
        "heuristic",
        "unknown",
    )
)
_PROCESS_LOCK = threading.Lock()
_REQUEST = "tag"
_FIELD_PREFIX = re.compile(rf"^{_REQUEST}:1: field '([^']+)': ")


class ForbiddenTagEdit(UserError):
    """An analyst removing or editing a tag that another user added or that came from an
    import (403)."""

    http_status = 403


def confidence_name(value: int | str) -> str:
    """The confidence name stored for ``value``: a name is checked, a level 0-100 maps to the
    highest named level not above it (``unknown`` below 10).

    >>> confidence_name("forensic"), confidence_name(100), confidence_name(49)
    ('forensic', 'ownership', 'untrusted_transaction')
    >>> try:
    ...     confidence_name(101)
    ... except InputError as e:
    ...     print(e)
    confidence must be 0-100 or a confidence name: 101
    """
    if isinstance(value, str):
        return check_confidence(value)
    if isinstance(value, bool) or not 0 <= value <= 100:
        raise InputError(f"confidence must be 0-100 or a confidence name: {value}")
    for level, name in _LEVELS:
        if value >= level:
            return name
    return "unknown"


def analyst_pack(name: str) -> str:
    """The pack holding the tags user ``name`` added.

    >>> analyst_pack("alice")
    'analyst:alice'
    """
    return f"{ANALYST_PACK_PREFIX}{name}"


def tag_id_of(key: Sequence[str]) -> str:
    """The API id of a tag identity (pack, target kind, target, label): 16 hex digits."""
    return hashlib.sha256("\x1f".join(key).encode("utf-8", "surrogateescape")).hexdigest()[:16]


def tag_id(tag: Tag) -> str:
    """The API id of a stored tag (see :func:`tag_id_of`)."""
    return tag_id_of(tag.key)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def tag_json(tag: Tag) -> dict[str, Any]:
    """A tag as the API shows it: its id, every stored field (times ISO 8601 UTC), the numeric
    confidence level, and the analyst who added it (None for imported tags).

    >>> t = Tag("address", "bcrt1qx", "Shop", "shop", None, "order 7", "forensic", None,
    ...         datetime(2025, 1, 2, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC),
    ...         "analyst:bob")
    >>> d = tag_json(t)
    >>> d["analyst"], d["confidence_level"], d["created"]
    ('bob', 50, '2025-01-02T00:00:00Z')
    """
    doc = tag.to_dict()
    doc["created"] = _iso(tag.created)
    doc["lastmod"] = _iso(tag.lastmod)
    doc["confidence_level"] = tag.confidence_level
    doc["analyst"] = (
        tag.pack[len(ANALYST_PACK_PREFIX) :] if tag.pack.startswith(ANALYST_PACK_PREFIX) else None
    )
    return {"id": tag_id(tag), **doc}


def find_tags(
    ds: Dataset, query: str | None = None, target: str | None = None, run: str | None = None
) -> list[Tag]:
    """Stored tags whose target, label, actor, category, abuse, source, pack or context
    contains ``query`` (case-insensitive) and whose target is ``target`` (exactly; a txid in any
    case; ``cluster:N``: the address and cluster tags of every member of cluster N in the
    clustering run ``run``); every tag when both are None. Ordered by pack, target kind,
    target, label.

    >>> find_tags(ds, "exchange one", "bcrt1q57jxq2ww5f3alrhu3ydxkf8py58s9wgcayuecx")[0].label
    'Exchange One'
    >>> {t.label for t in find_tags(ds, None, "cluster:34", "default")}
    {'Exchange One'}
    """
    needle = query.lower() if query else None
    fields = ("target", "label", "actor", "category", "abuse", "source", "pack", "context")
    wanted = target.strip() if target else None
    pool = load_tags(ds)
    if wanted is not None and wanted.lower().startswith("cluster:"):
        pool = _member_tags(ds, wanted, run)
        wanted = None
    found = []
    for t in pool:
        if wanted is not None and t.target != wanted and t.target != wanted.lower():
            continue
        if needle is not None and not any(needle in (getattr(t, f) or "").lower() for f in fields):
            continue
        found.append(t)
    return found


@contextlib.contextmanager
def _store_lock(ds: Dataset) -> Iterator[None]:
    """Serialise writers of one dataset's tag store (threads here, processes via flock)."""
    folder = tags_path(ds).parent
    folder.mkdir(parents=True, exist_ok=True)
    with _PROCESS_LOCK, open(folder / ".lock", "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _cluster_member(ds: Dataset, target: str, run: str | None) -> str:
    """A member address of ``cluster:N`` (its lowest addr_id) in the clustering run, read from
    the run's ``members.parquet`` (only the row groups holding the cluster)."""
    from chainsleuth.api.clusterdata import cluster_members
    from chainsleuth.cluster.runs import run_dir

    ident = target.split(":", 1)[1]
    if not ident.isdigit():
        raise InputError(f"cluster id must be a number: {target!r}")
    members = cluster_members(run_dir(ds, run), int(ident))
    if not members.num_rows:
        raise NotFoundError(f"cluster not in clustering run: {target}")
    address = ds.address_of(int(np.min(members.column("addr_id").to_numpy())))
    if address is None:
        raise NotFoundError(f"cluster has no named address: {target}")
    return address


def _member_tags(ds: Dataset, target: str, run: str | None) -> list[Tag]:
    """The address and cluster tags of every member of ``cluster:N`` in the clustering run,
    ordered as the store orders tags."""
    from chainsleuth.cluster.runs import run_dir
    from chainsleuth.store.runtables import member_ids
    from chainsleuth.tags.store import labels_for_addresses

    ident = target.split(":", 1)[1]
    if not ident.isdigit():
        raise InputError(f"cluster id must be a number: {target!r}")
    members = member_ids(run_dir(ds, run) / "members.parquet", int(ident))
    if not members.size:
        raise NotFoundError(f"cluster not in clustering run: {target}")
    tags = [t for ts in labels_for_addresses(ds, members.tolist()).values() for t in ts]
    return sorted(tags, key=lambda t: (t.pack, t.target_kind, t.target, t.label))


def _write(ds: Dataset, tags: list[Tag], packs: dict[str, Pack]) -> None:
    write_tags(ds, tags, packs)


def _build(
    ds: Dataset,
    pack: str,
    context: dict[str, str],
    fields: dict[str, Any],
    run: str | None,
    now: datetime | None,
) -> Tag:
    """A tag of ``pack`` from an API body, checked like an imported one (see :func:`add_tag`),
    its target spelled as the dataset spells it."""
    kind = str(fields.get("target_kind") or "address")
    if kind not in ("address", "cluster"):
        raise InputError(f"target_kind must be address or cluster: {kind!r}")
    target = str(fields.get("target") or "").strip()
    if not target:
        raise InputError("target: missing")
    if kind == "cluster" and target.lower().startswith("cluster:"):
        target = _cluster_member(ds, target, run)
    note = fields.get("context")
    context = dict(context)
    if note not in (None, ""):
        context["note"] = str(note)
    raw = {
        "target_kind": kind,
        "target": target,
        "label": fields.get("label"),
        "category": fields.get("category"),
        "abuse": fields.get("abuse"),
        "actor": fields.get("actor"),
        "source": fields.get("source"),
        "confidence": confidence_name(fields.get("confidence", "unknown")),
        "context": json.dumps(context, sort_keys=True),
    }
    moment = now or datetime.now(UTC).replace(microsecond=0)
    try:
        tag = build_tag(RawTag(raw, {}, 1), _REQUEST, ds.network, pack=pack, now=moment)
    except UserError as err:  # "tag:1: field 'category': ..." → "category: ..."
        raise type(err)(_FIELD_PREFIX.sub(r"\1: ", str(err))) from None
    # NotFoundError naming an address the dataset does not have; any spelling that decodes to
    # the same script (upper-case bech32) is stored as the dataset spells it, so it joins
    canonical = ds.address_of(ds.addr_id(tag.target))
    if canonical is not None and canonical != tag.target:
        tag = replace(tag, target=canonical)
    return tag


def add_tag(
    ds: Dataset,
    analyst: str,
    fields: dict[str, Any],
    *,
    run: str | None = None,
    now: datetime | None = None,
) -> Tag:
    """Store one tag added by ``analyst``; returns it as stored.

    ``fields``: ``target_kind`` (address or cluster), ``target`` (an address of the dataset, or
    ``cluster:N`` for kind cluster), ``label``, ``source``, ``confidence`` (0-100 or a name),
    optional ``category``, ``abuse``, ``actor``, ``context`` (a note). The same target and label
    added again by the same analyst replaces the earlier tag (keeping its ``created``).
    InputError naming the field for a bad value; NotFoundError for an address not in the
    dataset.

    >>> import shutil
    >>> from chainsleuth.store.dataset import Dataset
    >>> _ = shutil.copytree(ds.path, tmp / "d")
    >>> copy = Dataset.open(tmp / "d")
    >>> t = add_tag(copy, "alice", {"target_kind": "address", "label": "Shop", "source": "buy",
    ...     "target": "bcrt1qr8hsgftgcuf3wkrpcy4gpm79hstpc8mrgr4lsr", "confidence": 90})
    >>> t.pack, t.confidence, json.loads(t.context)["analyst"]
    ('analyst:alice', 'manual_transaction', 'alice')
    >>> [x.label for x in find_tags(copy, target=t.target)]
    ['Shop']
    """
    pack = analyst_pack(analyst)
    tag = _build(ds, pack, {"analyst": analyst, "via": "api"}, fields, run, now)
    with _store_lock(ds):
        tags = load_tags(ds)
        packs = load_packs(ds)
        kept = []
        for old in tags:
            if old.key == tag.key:
                tag = replace(tag, created=min(old.created, tag.created))
            else:
                kept.append(old)
        packs.setdefault(
            pack,
            Pack(pack, analyst, f"tags added by {analyst} through the chainsleuth API", False),
        )
        _write(ds, [*kept, tag], packs)
    return tag


def remove_tag(ds: Dataset, ident: str, user: str, *, may_remove_any: bool) -> Tag:
    """Remove the tag with API id ``ident``; returns it. A user may remove the tags they added
    (their analyst pack); ``may_remove_any`` (admins) any tag. NotFoundError for an unknown id,
    ForbiddenTagEdit for someone else's tag.

    >>> import shutil
    >>> from chainsleuth.store.dataset import Dataset
    >>> _ = shutil.copytree(ds.path, tmp / "d")
    >>> copy = Dataset.open(tmp / "d")
    >>> t = add_tag(copy, "bob", {"target": "bcrt1qr8hsgftgcuf3wkrpcy4gpm79hstpc8mrgr4lsr",
    ...     "label": "Miner", "source": "pool site", "confidence": "web_crawl"})
    >>> remove_tag(copy, tag_id(t), "bob", may_remove_any=False).label
    'Miner'
    >>> find_tags(copy, "Miner")
    []
    """
    with _store_lock(ds):
        tags = load_tags(ds)
        hit = [t for t in tags if tag_id(t) == ident]
        if not hit:
            raise NotFoundError(f"tag not found: {ident}")
        tag = hit[0]
        if not may_remove_any and tag.pack != analyst_pack(user):
            raise ForbiddenTagEdit(
                f"tag {ident} belongs to pack {tag.pack!r}: only its analyst or an admin may "
                "remove it"
            )
        rest = [t for t in tags if t.key != tag.key]
        packs = load_packs(ds)
        if not any(t.pack == tag.pack for t in rest):
            packs.pop(tag.pack, None)
        _write(ds, rest, packs)
    return tag


def replace_tag(
    ds: Dataset,
    ident: str,
    user: str,
    fields: dict[str, Any],
    *,
    may_edit_any: bool,
    run: str | None = None,
    now: datetime | None = None,
) -> Tag:
    """Edit the tag with API id ``ident``: it is replaced by one built from ``fields`` (the
    fields :func:`add_tag` takes) in one write of the store. The new tag stays in the old one's
    pack and keeps its ``created``; its context names the pack's analyst and, when someone else
    edited it, ``edited_by``. Who may: as :func:`remove_tag` (their own tags; admins any).
    NotFoundError for an unknown id, ForbiddenTagEdit for someone else's tag, InputError for a
    bad field (nothing changed).

    >>> import shutil
    >>> from chainsleuth.store.dataset import Dataset
    >>> _ = shutil.copytree(ds.path, tmp / "d")
    >>> copy = Dataset.open(tmp / "d")
    >>> a = "bcrt1qr8hsgftgcuf3wkrpcy4gpm79hstpc8mrgr4lsr"
    >>> t = add_tag(copy, "bob", {"target": a, "label": "Miner", "source": "pool site",
    ...     "confidence": "web_crawl"})
    >>> u = replace_tag(copy, tag_id(t), "bob", {"target": a, "label": "Mining pool",
    ...     "source": "pool site", "confidence": 90}, may_edit_any=False)
    >>> [(x.label, x.confidence) for x in find_tags(copy, target=a)]
    [('Mining pool', 'manual_transaction')]
    >>> u.created == t.created
    True
    """
    prefix = ANALYST_PACK_PREFIX
    with _store_lock(ds):
        tags = load_tags(ds)
        old = next((t for t in tags if tag_id(t) == ident), None)
        if old is None:
            raise NotFoundError(f"tag not found: {ident}")
        if not may_edit_any and old.pack != analyst_pack(user):
            raise ForbiddenTagEdit(
                f"tag {ident} belongs to pack {old.pack!r}: only its analyst or an admin may "
                "edit it"
            )
        owner = old.pack[len(prefix) :] if old.pack.startswith(prefix) else user
        context = {"analyst": owner, "via": "api"}
        if owner != user:
            context["edited_by"] = user
        tag = _build(ds, old.pack, context, fields, run, now)
        tag = replace(tag, created=old.created)
        kept = [t for t in tags if t.key not in (old.key, tag.key)]
        _write(ds, [*kept, tag], load_packs(ds))
    return tag


def import_text(ds: Dataset, text: str, suffix: str) -> ImportReport:
    """Import TagPack YAML (``suffix`` ``.yaml``) or CSV (``.csv``) text into the store, all or
    nothing (:func:`chainsleuth.tags.store.import_tag_files` on a temporary file); errors name
    the upload as ``upload.yaml:LINE: field ...``. Returns the ImportReport.

    >>> try:
    ...     import_text(ds, "target,label\\n", ".csv")
    ... except InputError as e:
    ...     print(e)
    upload.csv:1: field 'source': missing required column
    """
    import tempfile

    from chainsleuth.tags.store import import_tag_files

    if suffix not in (".yaml", ".csv"):
        raise InputError(f"unknown tag file type {suffix!r} (valid: .yaml, .csv)")
    with _store_lock(ds), tempfile.TemporaryDirectory(prefix="tags-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            report: ImportReport = import_tag_files(ds, [path])
        except UserError as err:
            raise type(err)(str(err).replace(str(path), path.name)) from None
        report.files = [path.name]
        return report
