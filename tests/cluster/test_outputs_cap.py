"""Outputs per address are counted in 2 bytes, saturating, only where no decision can differ."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from chainsleuth.cluster.spec import parse_heuristics
from chainsleuth.cluster.stream import OUTPUTS_CAP, add_counts, outputs_dtype, side_array_bytes
from chainsleuth.heuristics.change import ChangeContext
from chainsleuth.heuristics.changefeatures import change_features
from chainsleuth.heuristics.changemodel import default_model_path, load_change_model
from chainsleuth.store.chainview import load_chain_view
from chainsleuth.store.dataset import Dataset


def test_counts_saturate() -> None:
    n = np.zeros(3, np.uint16)
    add_counts(n, np.repeat(np.array([1, 2]), [OUTPUTS_CAP - 1, 7]))
    add_counts(n, np.repeat(np.array([1, 2]), [5, 1]))
    assert n.tolist() == [0, OUTPUTS_CAP, 8]
    wide = np.zeros(1, np.uint32)
    add_counts(wide, np.zeros(OUTPUTS_CAP + 10, np.int64))
    assert wide.tolist() == [OUTPUTS_CAP + 10]


def test_counts_touch_only_the_paid_ids() -> None:
    """A window paying address 0 and the newest address counts into a memory-mapped array
    without scratch over the range between them (the former bincount's 8 B per address)."""
    import tracemalloc

    n = np.zeros(50_000_000, np.uint16)
    tracemalloc.start()
    add_counts(n, np.array([0, 49_999_999, 0], np.int64))
    _now, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1 << 20
    assert n[0] == 2 and n[-1] == 1 and int(n.sum()) == 3


def test_shipped_model_cannot_tell_a_capped_count_apart(regtest_dataset: Path) -> None:
    """On every eligible output of the regtest chain, the shipped model gives the same
    probability with the address's outputs at the cap as at any larger count."""
    ds = Dataset.open(regtest_dataset)
    try:
        ctx = ChangeContext.of(load_chain_view(ds), detailed_spender=True)
    finally:
        ds.close()
    model = load_change_model()
    x = change_features(ctx).select(list(model.features))
    k = model.features.index("addr_n_outputs")
    capped, larger = x.copy(), x.copy()
    capped[:, k] = np.log1p(OUTPUTS_CAP)
    larger[:, k] = np.log1p(10**9)
    assert len(capped) > 100
    assert np.array_equal(model.probability(capped), model.probability(larger))
    # while a count below the largest split does change some decisions
    small = x.copy()
    small[:, k] = np.log1p(1)
    assert not np.array_equal(model.probability(small), model.probability(capped))


def test_a_model_splitting_above_the_cap_gets_exact_counts(tmp_path: Path) -> None:
    data = json.loads(default_model_path().read_text())
    k = data["features"].index("addr_n_outputs")
    tree = data["trees"][0]
    tree["feature"][0] = k
    tree["threshold"][0] = math.log1p(OUTPUTS_CAP) + 0.5
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))
    assert load_change_model(path).largest_threshold("addr_n_outputs") > math.log1p(OUTPUTS_CAP)
    spec = parse_heuristics(f"multi-input,change-model={path}")
    assert outputs_dtype(spec) is np.uint32
    assert outputs_dtype(parse_heuristics("multi-input,change-model")) is np.uint16
    wide = side_array_bytes(spec, 1000, 0, actors=False)
    narrow = side_array_bytes(parse_heuristics("multi-input,change-model"), 1000, 0, actors=False)
    assert wide - narrow == 2 * 1000
