"""The attribution tag: one claim that an address, transaction or cluster belongs to an actor.

A tag with ``target_kind == "cluster"`` names its cluster through one member address (the
GraphSense ``is_cluster_definer`` flag): that survives re-clustering, whereas cluster ids do not.

>>> from datetime import datetime, UTC
>>> t = Tag("address", "bcrt1qexample", "Exchange One", "exchange", "exchange-1", "test deposit",
...         "manual_transaction", None, datetime(2025, 1, 2, tzinfo=UTC),
...         datetime(2025, 1, 2, tzinfo=UTC), "exchanges")
>>> t.confidence_level, t.key
(90, ('exchanges', 'address', 'bcrt1qexample', 'Exchange One'))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from chainsleuth.tags.taxonomy import confidence_level

__all__ = ["EXPORT_FORMATS", "TARGET_KINDS", "Pack", "Tag", "TargetKind"]

EXPORT_FORMATS: tuple[str, ...] = ("tagpack", "csv")
"""File formats tags are exported to (``chainsleuth tags export --format``)."""

TargetKind = Literal["address", "tx", "cluster"]
TARGET_KINDS: tuple[str, ...] = get_args(TargetKind)


@dataclass(frozen=True, slots=True)
class Tag:
    """One attribution tag as stored in ``derived/tags/``.

    ``target`` is an address string (kinds ``address`` and ``cluster``) or a txid in lowercase
    display hex (kind ``tx``). ``category`` and ``abuse`` are taxonomy ids, ``confidence`` a
    confidence name; ``actor`` is a stable id of the real-world entity (e.g. ``exchange-1``).
    Times are timezone-aware UTC.
    """

    target_kind: TargetKind
    target: str
    label: str
    category: str | None
    actor: str | None
    source: str
    confidence: str
    context: str | None
    created: datetime
    lastmod: datetime
    pack: str
    abuse: str | None = None

    @property
    def confidence_level(self) -> int:
        """The numeric level (5-100) of :attr:`confidence`.

        >>> from datetime import datetime, UTC
        >>> now = datetime(2025, 1, 1, tzinfo=UTC)
        >>> Tag("tx", "ab", "x", None, None, "s", "unknown", None, now, now, "p").confidence_level
        5
        """
        return confidence_level(self.confidence)

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity of a tag: (pack, target_kind, target, label); re-imports replace by it.

        >>> from datetime import datetime, UTC
        >>> now = datetime(2025, 1, 1, tzinfo=UTC)
        >>> Tag("tx", "ab", "x", None, None, "s", "unknown", None, now, now, "p").key
        ('p', 'tx', 'ab', 'x')
        """
        return (self.pack, self.target_kind, self.target, self.label)

    @property
    def actor_key(self) -> str:
        """Who the tag says the target belongs to: the actor, or the label if none is given.

        >>> from datetime import datetime, UTC
        >>> now = datetime(2025, 1, 1, tzinfo=UTC)
        >>> Tag("tx", "ab", "Shop", None, None, "s", "unknown", None, now, now, "p").actor_key
        'Shop'
        """
        return self.actor if self.actor else self.label

    def to_dict(self) -> dict[str, Any]:
        """The tag as a plain dict (times stay ``datetime``), e.g. for JSON output.

        >>> from datetime import datetime, UTC
        >>> now = datetime(2025, 1, 1, tzinfo=UTC)
        >>> Tag("tx", "ab", "x", None, None, "s", "unknown", None, now, now, "p").to_dict()["label"]
        'x'
        """
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Pack:
    """A TagPack's header metadata, kept so an export reproduces it.

    >>> Pack("Exchange deposits", "Case team").title
    'Exchange deposits'
    """

    title: str
    creator: str
    description: str | None = None
    is_public: bool | None = None
