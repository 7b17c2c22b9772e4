"""Make the getblock helper importable from these tests."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from getblock_chain import DATA, core_chain

from chainsleuth.heuristics.view import ChainView


@pytest.fixture(scope="session")
def core_truth_wallets() -> tuple[ChainView, np.ndarray]:
    """The regtest chain (from Core's getblock) and each address's owner wallet index."""
    chain = core_chain()
    with open(DATA / "truth" / "addresses.csv") as fh:
        owner = {row["address"]: row["wallet"] for row in csv.DictReader(fh)}
    index = {w: i for i, w in enumerate(sorted(set(owner.values())))}
    wallet = np.array([index[owner[a]] for a in chain.addresses], dtype=np.int64)
    return chain.view, wallet
