"""Tag CSV: documented columns, exact errors, round trip."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsleuth.chain.network import get_network
from chainsleuth.errors import InputError, NetworkMismatchError
from chainsleuth.tags.csvio import CSV_COLUMNS, read_tags_csv, write_tags_csv
from chainsleuth.tags.model import Tag

from .conftest import INVALID, PACKS
from .test_tagpack import _tags

REGTEST = get_network("regtest")
NOW = datetime(2025, 2, 1, tzinfo=UTC)


def test_miner_csv() -> None:
    path = PACKS / "miners.csv"
    tags = read_tags_csv(path.read_text(), str(path), REGTEST, now=NOW)
    assert len(tags) == 5
    assert {(t.target_kind, t.label, t.category, t.actor, t.confidence, t.pack) for t in tags} == {
        ("address", "Solo Miner", "miner", "miner", "heuristic", "coinbase payouts")
    }
    assert tags[0].target == "bcrt1q5308qu3ejczty83g4ghe2n23kzulh66wz4wnm2"
    assert all(t.created == t.lastmod == NOW for t in tags)


def test_pack_defaults_to_file_name() -> None:
    text = "target,label,source,confidence\nmgKK8smbw9mh6sjUqKNhVGrR1eohJJrxCj,M,s,unknown\n"
    [tag] = read_tags_csv(text, "cases/notes-2025.csv", REGTEST)
    assert tag.pack == "notes-2025"


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        (
            "target,label,source,confidence,colour\n",
            InputError,
            r"^x.csv:1: field 'colour': unknown column \(valid: target_kind, target,",
        ),
        ("target,label,source\n", InputError, r"^x.csv:1: field 'confidence': missing required"),
        (
            "target,label,source,confidence\n\nmgKK8smbw9mh6sjUqKNhVGrR1eohJJrxCj,M,s\n",
            InputError,
            r"^x.csv:3: expected 4 columns, found 3$",
        ),
        (
            "target,label,source,confidence\nmgKK8smbw9mh6sjUqKNhVGrR1eohJJrxCj,,s,unknown\n",
            InputError,
            r"^x.csv:2: field 'label': missing required field$",
        ),
        (
            "target_kind,target,label,source,confidence\nentity,x,M,s,unknown\n",
            InputError,
            r"^x.csv:2: field 'target_kind': unknown target kind 'entity' \(valid: address, tx, "
            r"cluster\)$",
        ),
        (
            "target,label,source,confidence\n1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa,M,s,unknown\n",
            NetworkMismatchError,
            r"^x.csv:2: field 'target': address 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa is not valid",
        ),
        (
            "target,label,source,confidence,lastmod\n"
            "mgKK8smbw9mh6sjUqKNhVGrR1eohJJrxCj,M,s,unknown,yesterday\n",
            InputError,
            r"^x.csv:2: field 'lastmod': not an ISO 8601 date or time: 'yesterday'$",
        ),
        ("", InputError, r"^x.csv:1: empty CSV file"),
    ],
)
def test_csv_errors(text: str, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        read_tags_csv(text, "x.csv", REGTEST)


def test_invalid_confidence_file() -> None:
    path = INVALID / "bad-confidence.csv"
    with pytest.raises(InputError, match=r"bad-confidence.csv:3: field 'confidence': unknown"):
        read_tags_csv(path.read_text(), "bad-confidence.csv", REGTEST)


@settings(max_examples=60, deadline=None)
@given(st.lists(_tags(), min_size=1, max_size=8))
def test_csv_round_trip(tags: list[Tag]) -> None:
    text = write_tags_csv(tags)
    assert text.splitlines()[0] == ",".join(CSV_COLUMNS)
    assert read_tags_csv(text, "rt.csv", REGTEST, now=NOW) == tags
