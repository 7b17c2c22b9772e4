"""Fuzz the tag CSV reader (tags/csvio.py and tags/validate.py): mutated real CSVs and random
tables over the known columns with hostile cells."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainsleuth.chain.network import get_network
from chainsleuth.errors import ChainsleuthError
from chainsleuth.tags.csvio import CSV_COLUMNS, read_tags_csv, write_tags_csv

from ._harness import CSV_TOKENS, TIMEOUT, csv_seeds, fuzz_settings, mutated_text

NOW = datetime(2025, 1, 2, tzinfo=UTC)
NETWORKS = (get_network("regtest"), get_network("main"))
CELLS = st.one_of(st.sampled_from(CSV_TOKENS), st.text(max_size=20), st.just(""))


@st.composite
def random_table(draw: st.DrawFn) -> str:
    """A header of (mostly) known columns and rows of hostile cells, written by csv.writer or
    joined raw (unbalanced quotes, ragged rows)."""
    columns = draw(
        st.lists(
            st.one_of(st.sampled_from(CSV_COLUMNS), st.text(max_size=8)), min_size=1, max_size=8
        )
    )
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=len(columns) + 1), max_size=5))
    if draw(st.booleans()):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
        writer.writerow(columns)
        writer.writerows(rows)
        return out.getvalue()
    return "\n".join(",".join(r) for r in [columns, *rows])


STRATEGY = st.one_of(mutated_text(csv_seeds(), CSV_TOKENS), random_table())


def check(text: str) -> None:
    """Read ``text`` as a tag CSV on regtest and mainnet: only project errors may escape, and
    what reads must survive a write / read round trip unchanged."""
    for net in NETWORKS:
        try:
            tags = read_tags_csv(text, "fuzz.csv", net, now=NOW)
        except ChainsleuthError:
            continue
        again = read_tags_csv(write_tags_csv(tags), "fuzz.csv", net, now=NOW)
        assert [t.to_dict() for t in again] == [t.to_dict() for t in tags]


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(ci_examples=300)
@given(STRATEGY)
def test_fuzz_tags_csv(text: str) -> None:
    check(text)
