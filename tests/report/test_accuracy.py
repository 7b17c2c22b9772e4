"""The error rates the report prints are measured, not typed in: a fresh measurement on
regtest-core-a reproduces the shipped file (scripts/measure_accuracy.py writes it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chainsleuth.report.accuracy import load_accuracy


def test_shipped_accuracy_is_reproduced(measured: tuple[dict[str, Any], Path, Path]) -> None:
    doc, _, _ = measured
    assert doc == load_accuracy()


def test_measurement_scores_what_the_case_files_claim(
    measured: tuple[dict[str, Any], Path, Path],
) -> None:
    doc, _, _ = measured
    assert doc["investigation"]["payment_recall"] == 1.0
    assert doc["investigation"]["false_group_merges"] == 0
    assert doc["clustering"]["multi-input"]["heuristics"] == ["multi-input"]
    assert doc["clustering"]["default"]["precision"] > 0.99
    assert {"fresh_address", "script_type", "consensus"} <= set(doc["change"])
