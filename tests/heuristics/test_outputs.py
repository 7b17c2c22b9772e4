"""Per-transaction output/input summaries: the kernels against plain sort-based references."""

from __future__ import annotations

import numpy as np
import pytest
from getblock_chain import core_chain

from chainsleuth.heuristics.coinjoin import WASABI2_DENOMINATIONS, is_wasabi2_denomination
from chainsleuth.heuristics.outputs import (
    distinct_input_addresses,
    equal_output_stats,
    min_input_value,
    output_in_inputs,
)
from chainsleuth.heuristics.view import ChainView


def random_view(seed: int, n_tx: int = 400) -> ChainView:
    """Transactions with 0..40 inputs/outputs, few distinct values and addresses (many ties)."""
    rng = np.random.default_rng(seed)
    n_in = rng.integers(0, 41, n_tx) * (rng.random(n_tx) < 0.8)
    n_out = rng.integers(0, 41, n_tx) * (rng.random(n_tx) < 0.9)
    n_addr = 60
    ni, no = int(n_in.sum()), int(n_out.sum())
    return ChainView.from_columns(
        tx_id=np.arange(n_tx),
        height=np.arange(n_tx),
        version=[2] * n_tx,
        locktime=[0] * n_tx,
        is_coinbase=rng.random(n_tx) < 0.1,
        n_in=n_in,
        n_out=n_out,
        in_addr=rng.integers(-1, n_addr, ni),
        in_value=rng.integers(0, 6, ni),
        in_type=[2] * ni,
        in_sequence=[0] * ni,
        in_prev_out=[-1] * ni,
        out_value=rng.choice([0, 5, 7, 5000, 6561, 100_000, 10**9], no),
        out_addr=rng.integers(-1, n_addr, no),
        out_type=rng.integers(0, 5, no),
        out_spent_by=[-1] * no,
        n_addr=n_addr,
    )


def views() -> list[ChainView]:
    return [core_chain().view, *(random_view(seed) for seed in range(3))]


def ref_equal_output_stats(view: ChainView) -> tuple[np.ndarray, ...]:
    n = view.n_tx
    largest, value, groups, distinct = (np.zeros(n, dtype=np.int64) for _ in range(4))
    for t in range(n):
        vals = view.out_value[view.out_start[t] : view.out_start[t + 1]].tolist()
        counts: dict[int, int] = {}
        for v in vals:
            counts[v] = counts.get(v, 0) + 1
        if counts:
            largest[t] = max(counts.values())
            value[t] = max(v for v, c in counts.items() if c == largest[t])
            groups[t] = sum(c >= 2 for c in counts.values())
            distinct[t] = len(counts)
    return largest, value, groups, distinct


@pytest.mark.parametrize("index", range(4))
def test_kernels_match_plain_references(index: int) -> None:
    view = views()[index]
    s = equal_output_stats(view)
    got = (s.largest_group, s.largest_value, s.n_groups, s.n_distinct)
    for g, w in zip(got, ref_equal_output_stats(view), strict=True):
        assert g.dtype == np.int64
        np.testing.assert_array_equal(g, w)
    spans = [slice(view.in_start[t], view.in_start[t + 1]) for t in range(view.n_tx)]
    ins = [view.in_addr[span] for span in spans]
    distinct = [len({int(a) for a in addrs if a >= 0}) for addrs in ins]
    np.testing.assert_array_equal(distinct_input_addresses(view), distinct)
    smallest = [
        0 if view.is_coinbase[t] or len(ins[t]) == 0 else int(view.in_value[span].min())
        for t, span in enumerate(spans)
    ]
    np.testing.assert_array_equal(min_input_value(view), smallest)
    back = [
        bool(a >= 0 and a in set(ins[int(t)].tolist()))
        for a, t in zip(view.out_addr.tolist(), view.out_tx.tolist(), strict=True)
    ]
    got_back = output_in_inputs(view)
    assert got_back.dtype == np.bool_
    np.testing.assert_array_equal(got_back, back)


def test_empty_view() -> None:
    view = ChainView.from_columns(
        tx_id=[], height=[], version=[], locktime=[], is_coinbase=[], n_in=[], n_out=[],
        in_addr=[], in_value=[], in_type=[], in_sequence=[], in_prev_out=[], out_value=[],
        out_addr=[], out_type=[], out_spent_by=[],
    )  # fmt: skip
    assert equal_output_stats(view).largest_group.tolist() == []
    assert distinct_input_addresses(view).tolist() == []
    assert min_input_value(view).tolist() == []
    assert output_in_inputs(view).tolist() == []


def test_wasabi2_denominations_match_isin() -> None:
    rng = np.random.default_rng(3)
    values = np.concatenate(
        [WASABI2_DENOMINATIONS, WASABI2_DENOMINATIONS + 1, rng.integers(-5, 2**43, 5000)]
    )
    np.testing.assert_array_equal(
        is_wasabi2_denomination(values), np.isin(values, WASABI2_DENOMINATIONS)
    )
    grid = values[:20].reshape(4, 5)
    assert is_wasabi2_denomination(grid).shape == (4, 5)
    assert is_wasabi2_denomination(np.array([5000.0, 5000.5])).tolist() == [True, False]
