"""Turn one raw tag record (from a TagPack or a CSV row) into a checked :class:`Tag`.

Both readers hand over the record's fields with the line each came from; every problem is raised
as an :class:`~chainsleuth.errors.InputError` naming file, line and field, e.g.
``packs/x.yaml:12: field 'category': unknown category 'bank' (valid: ...)``.

>>> from chainsleuth.chain.network import get_network
>>> rec = RawTag({"address": "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", "label": "Shop",
...               "source": "test purchase", "confidence": "manual_transaction"}, {}, 3)
>>> build_tag(rec, "p.yaml", get_network("regtest"), pack="shop").target_kind
'address'
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, cast

from chainsleuth.chain.address import address_to_script
from chainsleuth.chain.network import NETWORKS, Network
from chainsleuth.errors import InputError, NetworkMismatchError
from chainsleuth.tags.model import TARGET_KINDS, Tag, TargetKind
from chainsleuth.tags.taxonomy import check_category, check_confidence

__all__ = ["RawTag", "build_tag", "check_address", "fail", "parse_time"]

_TXID = re.compile(r"^[0-9a-fA-F]{64}$")
_BITCOIN_NAMES = {"btc", "bitcoin"}


@dataclass(slots=True)
class RawTag:
    """Fields of one tag record as read, the line of each field, and the record's own line."""

    fields: dict[str, Any]
    lines: dict[str, int] = field(default_factory=dict)
    line: int = 0

    def line_of(self, name: str) -> int:
        """The line a field came from (the record's line when it was inherited or absent).

        >>> RawTag({"label": "x"}, {"label": 7}, 5).line_of("source")
        5
        """
        return self.lines.get(name, self.line)


def fail(file: str, line: int, name: str | None, reason: str) -> InputError:
    """Build the one-line error naming file, line and field (return it; the caller raises).

    >>> str(fail("a.csv", 4, "label", "empty"))
    "a.csv:4: field 'label': empty"
    """
    what = f"field {name!r}: " if name else ""
    return InputError(f"{file}:{line}: {what}{reason}")


def check_address(address: str, network: Network) -> str:
    """Return ``address`` if it is valid on ``network``; raise the reason otherwise.

    An address of another network raises :class:`NetworkMismatchError` naming that network,
    any other invalid address :class:`InputError` (both from ``chain.address``).

    >>> from chainsleuth.chain.network import get_network
    >>> check_address("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", get_network("regtest"))
    'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080'
    """
    address_to_script(address, network)
    return address


def parse_time(value: Any) -> datetime:
    """A YAML/CSV time value (datetime, date or ISO 8601 text) as an aware UTC datetime.

    >>> parse_time("2025-01-02")
    datetime.datetime(2025, 1, 2, 0, 0, tzinfo=datetime.timezone.utc)
    >>> parse_time("2025-01-02T10:00:00+01:00").hour
    9
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise InputError(f"not an ISO 8601 date or time: {value!r}") from None
    else:
        raise InputError(f"not a date or time: {value!r}")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise InputError(f"date or time out of range in UTC: {value!r}") from None


def _text(value: Any, *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InputError("missing required field")
        return None
    if isinstance(value, bool | int | float | str):
        return str(value).strip()
    raise InputError(f"expected text, got {type(value).__name__}")


def _required_text(value: Any) -> str:
    text = _text(value, required=True)
    assert text is not None
    return text


def _optional_text(value: Any) -> str | None:
    return _text(value, required=False)


def _confidence(value: Any) -> str:
    return check_confidence(_required_text(value))


def _category(value: Any) -> str | None:
    text = _text(value, required=False)
    return None if text is None else check_category(text)


def _optional_time(value: Any) -> datetime | None:
    return None if value is None or value == "" else parse_time(value)


def _context(value: Any) -> str | None:
    if isinstance(value, dict | list):
        try:
            return json.dumps(value, sort_keys=True, default=str)
        except (TypeError, ValueError, RecursionError) as err:  # mixed or non-text keys, cycles
            raise InputError(f"context cannot be written as JSON: {err}") from None
    return _text(value, required=False)


def _check_network_fields(raw: RawTag, file: str, network: Network, require_currency: bool) -> None:
    if "currency" in raw.fields or require_currency:
        currency = raw.fields.get("currency")
        if currency is None or str(currency).strip().lower() not in _BITCOIN_NAMES:
            reason = (
                "missing required field"
                if currency is None
                else f"unsupported currency {currency!r} (valid: BTC)"
            )
            raise fail(file, raw.line_of("currency"), "currency", reason)
    net = raw.fields.get("network")
    if net is None:
        return
    name = str(net).strip().lower()
    if name in _BITCOIN_NAMES or name == network.name:
        return
    if name in NETWORKS:
        raise NetworkMismatchError(
            f"{file}:{raw.line_of('network')}: field 'network': pack is for network {name!r}, "
            f"the dataset is {network.name}"
        )
    valid = ", ".join(["BTC", *NETWORKS])
    raise fail(file, raw.line_of("network"), "network", f"unknown network {net!r} (valid: {valid})")


def _target(raw: RawTag, file: str, network: Network) -> tuple[TargetKind, str]:
    f = raw.fields
    if "target" in f or "target_kind" in f:
        kind_text = _text(f.get("target_kind"), required=False) or "address"
        if kind_text not in TARGET_KINDS:
            valid = ", ".join(TARGET_KINDS)
            reason = f"unknown target kind {kind_text!r} (valid: {valid})"
            raise fail(file, raw.line_of("target_kind"), "target_kind", reason)
        name, value, kind = "target", f.get("target"), cast(TargetKind, kind_text)
    elif "address" in f and "tx_hash" in f:
        raise fail(file, raw.line, "address", "a tag names either an address or a tx_hash")
    elif "tx_hash" in f:
        name, value, kind = "tx_hash", f.get("tx_hash"), "tx"
    elif "address" in f:
        name, value = "address", f.get("address")
        kind = "cluster" if f.get("is_cluster_definer") is True else "address"
    else:
        raise fail(file, raw.line, "address", "missing required field (address or tx_hash)")
    try:
        text = _text(value, required=True)
    except InputError as err:
        raise fail(file, raw.line_of(name), name, str(err)) from None
    assert text is not None
    if kind == "tx":
        if not _TXID.match(text):
            raise fail(file, raw.line_of(name), name, f"not a 64-hex-digit txid: {text!r}")
        return kind, text.lower()
    try:
        return kind, check_address(text, network)
    except InputError as err:
        raise type(err)(f"{file}:{raw.line_of(name)}: field {name!r}: {err}") from None


def build_tag(
    raw: RawTag,
    file: str,
    network: Network,
    *,
    pack: str,
    require_currency: bool = False,
    now: datetime | None = None,
) -> Tag:
    """Check one record and build its Tag.

    ``created`` defaults to ``lastmod``, and both to ``now`` (UTC); ``require_currency`` makes
    the TagPack ``currency`` field mandatory.

    >>> from chainsleuth.chain.network import get_network
    >>> rec = RawTag({"address": "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", "label": "Shop",
    ...               "source": "s", "confidence": "nope"}, {"confidence": 9}, 3)
    >>> try:
    ...     build_tag(rec, "p.yaml", get_network("regtest"), pack="shop")
    ... except InputError as e:
    ...     str(e)[:48]
    "p.yaml:9: field 'confidence': unknown confidence"
    """
    moment = now or datetime.now(UTC)
    _check_network_fields(raw, file, network, require_currency)
    kind, target = _target(raw, file, network)
    values: dict[str, Any] = {}
    checks: dict[str, Callable[[Any], Any]] = {
        "label": _required_text,
        "source": _required_text,
        "confidence": _confidence,
        "category": _category,
        "abuse": _category,
        "actor": _optional_text,
        "context": _context,
        "created": _optional_time,
        "lastmod": _optional_time,
    }
    for name, check in checks.items():
        try:
            values[name] = check(raw.fields.get(name))
        except InputError as err:
            raise fail(file, raw.line_of(name), name, str(err)) from None
    created = values["created"] or values["lastmod"] or moment
    lastmod = values["lastmod"] or created
    return Tag(
        target_kind=kind,
        target=target,
        label=values["label"],
        category=values["category"],
        actor=values["actor"],
        source=values["source"],
        confidence=values["confidence"],
        context=values["context"],
        created=created,
        lastmod=lastmod,
        pack=pack,
        abuse=values["abuse"],
    )
