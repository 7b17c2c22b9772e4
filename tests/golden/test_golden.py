"""The engine gives the same rows as the recorded v1 engine on the real-Core regtest chain.

``tests/data/golden/regtest-core-a.json`` was recorded with the contract-v1 engine (in-RAM
address dictionary, rewritten output parts) before the whole-chain rework; every table value,
the default clustering, its evidence and the investigation case must stay identical.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.golden.digest import GOLDEN, record


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return record(tmp_path_factory.mktemp("golden"))


@pytest.fixture(scope="module")
def golden() -> dict[str, object]:
    return json.loads((GOLDEN / "regtest-core-a.json").read_text())


@pytest.mark.parametrize("part", ["dataset_span100", "dataset_span7", "clustering_default", "case"])
def test_identical_to_v1_engine(
    recorded: dict[str, object], golden: dict[str, object], part: str
) -> None:
    assert recorded[part] == golden[part]


def test_golden_file_is_not_empty(golden: dict[str, dict[str, object]]) -> None:
    assert golden["dataset_span100"]["txs"]["rows"] == "3981"  # type: ignore[index]
    assert Path(GOLDEN / "regtest-core-a.json").stat().st_size > 1000
