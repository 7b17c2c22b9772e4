"""The taxonomy follows GraphSense's concept ids and confidence levels."""

from __future__ import annotations

import pytest

from chainsleuth.errors import InputError
from chainsleuth.tags.taxonomy import (
    CATEGORIES,
    CONFIDENCE,
    check_category,
    check_confidence,
    confidence_level,
)


def test_issue_categories_present() -> None:
    for concept in (
        "exchange",
        "market",
        "mixing_service",
        "coinjoin",
        "gambling",
        "mining_service",
        "ransomware",
        "scam",
        "miner",
    ):
        assert check_category(concept) == concept


def test_confidence_levels_match_graphsense() -> None:
    # GraphSense confidence.csv: ownership 100, manual_transaction 90, service_data 50,
    # web_crawl 20, unknown 5.
    assert confidence_level("ownership") == 100
    assert confidence_level("override") == 100
    assert confidence_level("manual_transaction") == 90
    assert confidence_level("service_api") == 70
    assert confidence_level("authority_data") == 60
    assert confidence_level("service_data") == 50
    assert confidence_level("web_crawl") == 20
    assert confidence_level("heuristic") == 10
    assert confidence_level("unknown") == 5
    levels = [c.level for c in CONFIDENCE.values()]
    assert min(levels) == 5 and max(levels) == 100
    assert levels == sorted(levels, reverse=True)


def test_unknown_category_lists_valid_ones() -> None:
    with pytest.raises(InputError) as err:
        check_category("bank")
    message = str(err.value)
    assert message.startswith("unknown category 'bank' (valid: ")
    for concept in CATEGORIES:
        assert concept in message


def test_unknown_confidence_lists_levels() -> None:
    with pytest.raises(InputError, match=r"unknown confidence 'sure' \(valid: override \(100\)"):
        check_confidence("sure")
