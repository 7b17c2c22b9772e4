"""GraphSense TagPack YAML: read (with line numbers for every error) and write.

A TagPack is a YAML mapping: header fields (``title`` and ``creator`` required, ``description``,
``is_public``, ``owner``) plus any tag field, which every tag inherits unless it sets its own,
and a ``tags:`` list. Each tag needs ``label``, ``source``, ``currency`` and ``confidence``
(directly or inherited) and names an ``address`` or a ``tx_hash``; ``is_cluster_definer: true``
makes an address tag stand for the address's whole cluster. ``currency: BTC`` applies to a
dataset of any Bitcoin network; every address must be valid on the dataset's network. A file may
hold several packs as separate YAML documents (that is how an export of several packs looks).

>>> from chainsleuth.chain.network import get_network
>>> text = '''
... title: Shop seen by a test purchase
... creator: Case team
... currency: BTC
... confidence: manual_transaction
... source: order 17
... tags:
...   - address: bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080
...     label: The Shop
...     category: market
... '''
>>> packs = read_tagpacks(text, "shop.yaml", get_network("regtest"))
>>> packs[0][0].title, packs[0][1][0].category
('Shop seen by a test purchase', 'market')
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import yaml

from chainsleuth.chain.network import Network
from chainsleuth.tags.model import Pack, Tag
from chainsleuth.tags.validate import RawTag, build_tag, fail
from chainsleuth.yamlnodes import CONSTRUCT_ERRORS, expands_beyond

__all__ = ["HEADER_FIELDS", "TAG_FIELDS", "read_tagpacks", "write_tagpacks"]

HEADER_FIELDS: tuple[str, ...] = ("title", "creator", "description", "is_public", "owner", "tags")
"""Fields only a pack header may carry."""
TAG_FIELDS: tuple[str, ...] = (
    "address",
    "tx_hash",
    "label",
    "source",
    "currency",
    "network",
    "confidence",
    "category",
    "abuse",
    "actor",
    "context",
    "created",
    "lastmod",
    "is_cluster_definer",
    "concepts",
    "tag_type",
)
"""Fields of a tag; all but address/tx_hash may also sit in the header and be inherited."""
_TARGET_FIELDS = ("address", "tx_hash")


_MAX_VALUE_NODES = 10_000
"""Most YAML nodes one field value may expand to (aliases expanded): bounds the work that
``str`` or JSON of a value can cost, whatever anchors and aliases the file holds."""
_CONSTRUCT_ERRORS = (yaml.YAMLError, *CONSTRUCT_ERRORS)


def _loader() -> yaml.SafeLoader:
    return yaml.SafeLoader("")


def _check_expansion(node: yaml.Node, file: str, line: int, key: str) -> None:
    """Refuse a value of more than ``_MAX_VALUE_NODES`` nodes once aliases are expanded (an
    alias bomb, or a value that refers to itself)."""
    if expands_beyond(node, _MAX_VALUE_NODES):
        raise fail(
            file, line, key, f"value too large (over {_MAX_VALUE_NODES} YAML nodes with aliases)"
        )


def _mapping(
    node: yaml.Node, file: str, what: str, loader: yaml.SafeLoader
) -> tuple[dict[str, Any], dict[str, int]]:
    """A YAML mapping node as (values, line of each key); duplicate keys are errors."""
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.MappingNode):
        raise fail(file, line, None, f"{what} must be a mapping of field: value")
    values: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        key_line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            raise fail(file, key_line, None, f"{what} has a non-text field name")
        key = str(key_node.value)
        if key in values:
            raise fail(file, key_line, key, f"duplicate field in {what}")
        lines[key] = key_line
        if key == "tags":
            values[key] = value_node
        else:
            _check_expansion(value_node, file, key_line, key)
            try:
                values[key] = loader.construct_object(value_node, deep=True)
            except _CONSTRUCT_ERRORS as err:
                reason = str(err).replace("\n", " ")
                raise fail(file, key_line, key, f"bad value: {reason}") from None
    return values, lines


def _compose(text: str, file: str) -> list[yaml.Node]:
    try:
        return [n for n in yaml.compose_all(text, Loader=yaml.SafeLoader) if n is not None]
    except yaml.MarkedYAMLError as err:
        mark = err.context_mark or err.problem_mark
        line = mark.line + 1 if mark is not None else 0
        reason = " ".join(s for s in (err.context, err.problem) if s)
        raise fail(file, line, None, f"invalid YAML: {reason}") from None
    except yaml.YAMLError as err:
        raise fail(file, 0, None, f"invalid YAML: {err}") from None
    except RecursionError:
        raise fail(file, 0, None, "invalid YAML: nested too deeply") from None


def _read_pack(
    doc: yaml.Node, file: str, network: Network, now: datetime
) -> tuple[Pack, list[Tag]]:
    loader = _loader()
    header, header_lines = _mapping(doc, file, "pack header", loader)
    allowed = set(HEADER_FIELDS) | set(TAG_FIELDS) - set(_TARGET_FIELDS)
    for key in header:
        if key not in allowed:
            valid = ", ".join(sorted(allowed))
            raise fail(file, header_lines[key], key, f"unknown header field (valid: {valid})")
    doc_line = doc.start_mark.line + 1
    for required in ("title", "creator", "tags"):
        if header.get(required) in (None, ""):
            raise fail(file, doc_line, required, "missing required field")
    title = str(header["title"]).strip()
    tags_node = header["tags"]
    if not isinstance(tags_node, yaml.SequenceNode):
        raise fail(file, header_lines["tags"], "tags", "must be a list of tags")
    inherited = {k: v for k, v in header.items() if k in TAG_FIELDS}
    tags: list[Tag] = []
    for item in tags_node.value:
        values, lines = _mapping(item, file, "tag", loader)
        for key in values:
            if key not in TAG_FIELDS:
                valid = ", ".join(TAG_FIELDS)
                raise fail(file, lines[key], key, f"unknown tag field (valid: {valid})")
        field_lines = {key: header_lines[key] for key in inherited}
        field_lines.update(lines)
        raw = RawTag({**inherited, **values}, field_lines, item.start_mark.line + 1)
        tags.append(build_tag(raw, file, network, pack=title, require_currency=True, now=now))
    if not tags:
        raise fail(file, header_lines["tags"], "tags", "the pack has no tags")
    is_public = header.get("is_public")
    pack = Pack(
        title=title,
        creator=str(header["creator"]).strip(),
        description=None if header.get("description") is None else str(header["description"]),
        is_public=is_public if isinstance(is_public, bool) else None,
    )
    return pack, tags


def read_tagpacks(
    text: str, file: str, network: Network, *, now: datetime | None = None
) -> list[tuple[Pack, list[Tag]]]:
    """Parse every pack (YAML document) of a TagPack file; InputError names file, line, field.

    ``network`` is the dataset's: addresses must be valid on it. ``now`` stamps tags that carry
    no ``created``/``lastmod``.

    >>> from chainsleuth.chain.network import get_network
    >>> try:
    ...     read_tagpacks("title: t\\ncreator: c\\ntags: []\\n", "x.yaml", get_network("main"))
    ... except Exception as e:
    ...     print(e)
    x.yaml:3: field 'tags': the pack has no tags
    """
    moment = now or datetime.now(UTC)
    docs = _compose(text, file)
    if not docs:
        raise fail(file, 1, None, "no TagPack in file")
    packs = []
    for doc in docs:
        packs.append(_read_pack(doc, file, network, moment))
    return packs


def _tag_entry(tag: Tag) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if tag.target_kind == "tx":
        entry["tx_hash"] = tag.target
    else:
        entry["address"] = tag.target
        if tag.target_kind == "cluster":
            entry["is_cluster_definer"] = True
    entry["label"] = tag.label
    for name in ("category", "abuse", "actor"):
        value = getattr(tag, name)
        if value is not None:
            entry[name] = value
    entry["source"] = tag.source
    entry["confidence"] = tag.confidence
    if tag.context is not None:
        entry["context"] = tag.context
    entry["created"] = tag.created
    entry["lastmod"] = tag.lastmod
    return entry


def write_tagpacks(packs: Iterable[tuple[Pack, list[Tag]]]) -> str:
    """Serialise packs as a TagPack YAML stream (one document per pack).

    >>> from datetime import datetime, UTC
    >>> now = datetime(2025, 1, 2, tzinfo=UTC)
    >>> t = Tag("tx", "ab" * 32, "Payout", None, None, "s", "forensic", None, now, now, "p")
    >>> print(write_tagpacks([(Pack("p", "me"), [t])]).splitlines()[:4])
    ['---', 'title: p', 'creator: me', 'currency: BTC']
    """
    docs = []
    for pack, tags in packs:
        header: dict[str, Any] = {"title": pack.title, "creator": pack.creator}
        if pack.description is not None:
            header["description"] = pack.description
        if pack.is_public is not None:
            header["is_public"] = pack.is_public
        header["currency"] = "BTC"
        header["network"] = "BTC"
        header["tags"] = [_tag_entry(t) for t in tags]
        docs.append(header)
    return yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True, explicit_start=True)
