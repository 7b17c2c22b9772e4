"""Fuzz the TagPack YAML reader (tags/tagpack.py and the shared tags/validate.py): mutated real
packs, packs with random field values, random YAML documents and alias bombs."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from chainsleuth.chain.network import get_network
from chainsleuth.errors import ChainsleuthError
from chainsleuth.tags.tagpack import HEADER_FIELDS, TAG_FIELDS, read_tagpacks, write_tagpacks

from ._harness import (
    STRUCTURES,
    TIMEOUT,
    YAML_TOKENS,
    alias_bomb,
    fuzz_settings,
    mutated_text,
    tagpack_seeds,
)

NOW = datetime(2025, 1, 2, tzinfo=UTC)
NETWORKS = (get_network("regtest"), get_network("main"))
FIELDS = (*HEADER_FIELDS, *TAG_FIELDS)


def _dump(value: Any) -> str:
    try:
        return yaml.safe_dump(value, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, ValueError, TypeError, RecursionError):
        return "{}"


@functools.cache
def _seed_docs() -> tuple[dict[str, Any], ...]:
    docs: list[dict[str, Any]] = []
    for text in tagpack_seeds():
        try:
            docs += [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
        except yaml.YAMLError:
            continue
    return tuple(docs)


@st.composite
def perturbed_pack(draw: st.DrawFn) -> str:
    """A real pack with random values put in (or removed from) its header and tags."""
    doc: dict[str, Any] = dict(draw(st.sampled_from(_seed_docs())))
    tags = [dict(t) if isinstance(t, dict) else t for t in doc.get("tags") or []]
    for _ in range(draw(st.integers(1, 4))):
        value = draw(STRUCTURES)
        name = draw(st.sampled_from(FIELDS))
        if tags and draw(st.booleans()):
            tag = tags[draw(st.integers(0, len(tags) - 1))]
            if isinstance(tag, dict):
                if draw(st.integers(0, 3)) == 0:
                    tag.pop(name, None)
                else:
                    tag[name] = value
        elif draw(st.integers(0, 3)) == 0:
            doc.pop(name, None)
        else:
            doc[name] = value
    doc["tags"] = tags
    return _dump(doc)


@st.composite
def bombed_pack(draw: st.DrawFn) -> str:
    """A real pack with one header or tag value replaced by an alias bomb."""
    lines = draw(st.sampled_from(tagpack_seeds())).split("\n")
    candidates = [i for i, line in enumerate(lines) if ": " in line and not line.endswith(":")]
    if not candidates:
        return "\n".join(lines)
    i = draw(st.sampled_from(candidates))
    key = lines[i].split(": ", 1)[0]
    lines[i] = f"{key}: {draw(alias_bomb())}"
    return "\n".join(lines)


STRATEGY = st.one_of(
    mutated_text(tagpack_seeds(), YAML_TOKENS),
    perturbed_pack(),
    bombed_pack(),
    STRUCTURES.map(_dump),
)


def check(text: str) -> None:
    """Read ``text`` as a TagPack on regtest and mainnet: only project errors may escape, and
    what reads must survive a write / read round trip unchanged."""
    for net in NETWORKS:
        try:
            packs = read_tagpacks(text, "fuzz.yaml", net, now=NOW)
        except ChainsleuthError:
            continue
        again = read_tagpacks(write_tagpacks(packs), "fuzz.yaml", net, now=NOW)
        assert [(p, [t.to_dict() for t in ts]) for p, ts in again] == [
            (p, [t.to_dict() for t in ts]) for p, ts in packs
        ]


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(ci_examples=300)
@given(STRATEGY)
def test_fuzz_tagpack(text: str) -> None:
    check(text)
