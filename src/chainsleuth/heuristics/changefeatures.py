"""Features of (transaction, candidate output) pairs for the learned change classifier.

One row per *eligible* output (see :class:`~chainsleuth.heuristics.change.ChangeContext`: an
ordinary spend with ≥ 2 outputs, all paying addresses); every feature is a float32 column
computed over the whole view with numpy (no per-transaction Python loop). The matrix costs
4 bytes per feature per eligible output (``len(FEATURES)`` × 4 ≈ 190 B per output), plus a
scratch table of script-type counts, 16 × 8 = 128 B per transaction, while it is built: whole-chain
in RAM like the chain view itself (an opt-in heuristic until clustering streams; issue 10).

Features, by family:

- ``vote:<h>`` / ``cand:<h>`` — each change heuristic of
  :data:`~chainsleuth.heuristics.change.CHANGE_HEURISTICS`: the output is still possible under
  it, and it is the heuristic's single candidate;
- ``n_in``, ``n_out`` — transaction shape;
- ``type_in_inputs``, ``n_in_types``, ``n_same_type_outs``, ``out_type`` — script types of the
  inputs against the output;
- ``spent``, ``spend_same_version``, ``spend_same_lockstyle``, ``spend_same_rbf``,
  ``spender_n_in``, ``spender_n_out``, ``spend_delay`` — the output's spending transaction
  against this one (-1 when unspent): change is spent by the same wallet software;
- ``log_value``, ``trailing_zeros``, ``significant_digits``, ``value_share``, ``is_largest``,
  ``is_smallest``, ``below_min_input`` — amounts;
- ``addr_n_outputs``, ``addr_seen_before``, ``n_fresh_outs`` — the output's address history;
- ``same_cospend``, ``other_cospend``, ``log_out_cluster``, ``log_sender_cluster`` — the
  multi-input (co-spend) clusters of the output and of the inputs.

Self-revealed labels (:mod:`chainsleuth.heuristics.changetrain`) are defined by co-spending, so
a model trained on them must not see the features that restate the label: :data:`LEAKY`.

>>> from chainsleuth.heuristics.view import ChainView
>>> from chainsleuth.heuristics.change import ChangeContext
>>> v = ChainView.from_columns(
...     tx_id=[0, 1], height=[1, 2], version=[2, 2], locktime=[0, 1], is_coinbase=[True, False],
...     n_in=[1, 1], n_out=[1, 2], in_addr=[-1, 0], in_value=[0, 50_000], in_type=[-1, 2],
...     in_sequence=[0, 0xFFFFFFFD], in_prev_out=[-1, 0], out_value=[50_000, 30_000, 19_123],
...     out_addr=[0, 1, 2], out_type=[2, 4, 2], out_spent_by=[1, -1, -1])
>>> f = change_features(ChangeContext.of(v))
>>> f.out.tolist(), f.column("type_in_inputs").tolist(), f.column("trailing_zeros").tolist()
([1, 2], [0.0, 1.0], [4.0, 0.0])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from chainsleuth.heuristics.change import (
    CHANGE_HEURISTICS,
    ChangeContext,
    ChangeSignal,
    signals_of,
)
from chainsleuth.heuristics.cospend import first_input_addr
from chainsleuth.heuristics.outputs import min_input_value, output_in_inputs
from chainsleuth.heuristics.txfacts import SpenderFacts, lock_style, rbf_signalling

__all__ = ["FEATURES", "LEAKY", "ChangeFeatures", "change_features"]

I64 = NDArray[np.int64]
F32 = NDArray[np.float32]

_SHAPE = ["n_in", "n_out"]
_TYPES = ["type_in_inputs", "n_in_types", "n_same_type_outs", "out_type"]
_SPEND = [
    "spent",
    "spend_same_version",
    "spend_same_lockstyle",
    "spend_same_rbf",
    "spender_n_in",
    "spender_n_out",
    "spend_delay",
]
_AMOUNT = [
    "log_value",
    "trailing_zeros",
    "significant_digits",
    "value_share",
    "is_largest",
    "is_smallest",
    "below_min_input",
]
_ADDRESS = ["addr_n_outputs", "addr_seen_before", "n_fresh_outs"]
_COSPEND = ["same_cospend", "other_cospend", "log_out_cluster", "log_sender_cluster"]

FEATURES: tuple[str, ...] = (
    *[f"vote:{h}" for h in CHANGE_HEURISTICS],
    *[f"cand:{h}" for h in CHANGE_HEURISTICS],
    *_SHAPE,
    *_TYPES,
    *_SPEND,
    *_AMOUNT,
    *_ADDRESS,
    *_COSPEND,
)
"""Every feature name, in column order."""

LEAKY: frozenset[str] = frozenset(
    {
        "vote:cospent_elsewhere",
        "cand:cospent_elsewhere",
        "vote:peel_chain",
        "cand:peel_chain",
        "spender_n_in",
        *_COSPEND,
    }
)
"""Features that restate self-revealed labels (a co-spend with the sender's cluster): a model
trained on those labels leaves them out."""


@dataclass(frozen=True, slots=True)
class ChangeFeatures:
    """A feature matrix: row ``i`` describes output position ``out[i]`` of transaction ``tx[i]``."""

    names: tuple[str, ...]
    matrix: F32
    """float32, one row per eligible output (4 B per feature per row)"""
    out: I64
    """output position of each row (8 B per row)"""
    tx: I64
    """transaction position of each row (8 B per row)"""

    def column(self, name: str) -> F32:
        """One feature's column (KeyError for an unknown name)."""
        col: F32 = self.matrix[:, self.names.index(name)]
        return col

    def select(self, names: tuple[str, ...] | list[str]) -> F32:
        """The columns ``names`` in that order (a new C-contiguous float32 matrix)."""
        idx = [self.names.index(n) for n in names]
        return np.ascontiguousarray(self.matrix[:, idx])


def _digits(values: I64) -> tuple[I64, I64]:
    """Trailing decimal zeros and significant digits of positive values (0, 0 for ≤ 0)."""
    v = np.maximum(values, 0).astype(np.int64)
    trailing = np.zeros(len(v), dtype=np.int64)
    rest = v.copy()
    for _ in range(19):  # at most 19 decimal digits in an int64: a fixed, vectorised loop
        step = (rest > 0) & (rest % 10 == 0)
        if not step.any():
            break
        trailing += step
        rest = np.where(step, rest // 10, rest)
    significant = np.where(rest > 0, np.floor(np.log10(np.maximum(rest, 1))) + 1, 0)
    return trailing, significant.astype(np.int64)


def _per_tx_reduce(ufunc: np.ufunc, values: NDArray[np.generic], start: I64, init: float) -> F32:
    """``ufunc.reduceat`` per transaction segment, ``init`` for empty segments."""
    n = len(start) - 1
    out = np.full(n, init, dtype=np.float64)
    counts = np.diff(start)
    has = counts > 0
    if len(values):
        out[has] = ufunc.reduceat(values.astype(np.float64), start[:-1][has])
    return out.astype(np.float32)


def change_features(
    ctx: ChangeContext, signals: dict[str, ChangeSignal] | None = None
) -> ChangeFeatures:
    """The feature matrix of every eligible output (see the module docstring for an example).

    ``signals`` are the heuristics' verdicts when already computed (all of
    :data:`~chainsleuth.heuristics.change.CHANGE_HEURISTICS`).
    """
    view = ctx.view
    sig = signals if signals is not None else signals_of(ctx)
    rows = np.flatnonzero(ctx.eligible_out).astype(np.int64)
    tx = view.out_tx[rows]
    cols: dict[str, NDArray[np.generic]] = {}
    for h in CHANGE_HEURISTICS:
        signal = sig[h]
        cols[f"vote:{h}"] = signal.possible[rows]
        cols[f"cand:{h}"] = signal.candidate[tx] == rows

    n_in, n_out = view.tx_n_in, view.tx_n_out
    cols["n_in"], cols["n_out"] = n_in[tx], n_out[tx]

    # script types: a bitmask of the input types per transaction
    in_ok = view.in_type >= 0
    in_mask = np.zeros(view.n_tx, dtype=np.int64)
    np.bitwise_or.at(in_mask, view.in_tx[in_ok], np.left_shift(1, view.in_type[in_ok].astype(int)))
    out_type = view.out_type.astype(np.int64)
    out_bit = np.where(out_type >= 0, np.left_shift(1, np.maximum(out_type, 0)), 0)
    cols["type_in_inputs"] = (in_mask[view.out_tx] & out_bit)[rows] != 0
    bits = np.arange(16, dtype=np.int64)
    cols["n_in_types"] = ((in_mask[tx, None] >> bits) & 1).sum(axis=1)
    same_type = np.zeros(view.n_tx * 16, dtype=np.int64)
    key = view.out_tx * 16 + np.maximum(out_type, 0)
    np.add.at(same_type, key, 1)
    cols["n_same_type_outs"] = same_type[key[rows]]
    cols["out_type"] = out_type[rows]

    # the spending transaction against this one
    facts = ctx.spender
    if facts.detail is None:
        if ctx.given_spender is not None:
            raise ValueError("change features need the spenders' detail (TxDetail)")
        facts = SpenderFacts.of_view(view, detailed=True)
    assert facts.detail is not None
    detail = facts.detail
    spent = facts.spent[rows]
    code = facts.code[rows].astype(np.int64)
    rbf = rbf_signalling(view)
    style = lock_style(view)

    def agree(theirs: NDArray[np.generic], ours: NDArray[np.generic]) -> NDArray[np.int64]:
        return np.where(spent, (theirs == ours).astype(np.int64), -1)

    cols["spent"] = spent
    cols["spend_same_version"] = agree(detail.version[rows].astype(np.int64), view.version[tx])
    cols["spend_same_lockstyle"] = agree((code >> 1) & 3, style[tx])
    cols["spend_same_rbf"] = agree((code & 1).astype(np.bool_), rbf[tx])
    cols["spender_n_in"] = np.where(spent, detail.n_in[rows].astype(np.int64), -1)
    cols["spender_n_out"] = np.where(spent, detail.n_out[rows].astype(np.int64), -1)
    delay = detail.height[rows].astype(np.int64) - view.height[tx].astype(np.int64)
    cols["spend_delay"] = np.where(spent, np.log1p(np.maximum(delay, 0)), -1.0)

    # amounts
    value = view.out_value[rows]
    trailing, significant = _digits(value)
    out_total = _per_tx_reduce(np.add, view.out_value, view.out_start, 0.0)
    largest = _per_tx_reduce(np.maximum, view.out_value, view.out_start, 0.0)
    smallest = _per_tx_reduce(np.minimum, view.out_value, view.out_start, 0.0)
    cols["log_value"] = np.log10(np.maximum(value, 1))
    cols["trailing_zeros"] = trailing
    cols["significant_digits"] = significant
    cols["value_share"] = value / np.maximum(out_total[tx], 1.0)
    cols["is_largest"] = value == largest[tx]
    cols["is_smallest"] = value == smallest[tx]
    cols["below_min_input"] = value < min_input_value(view)[tx]

    # address history
    addr = np.maximum(view.out_addr[rows], 0)
    cols["addr_n_outputs"] = np.log1p(ctx.addr_n_outputs[addr])
    cols["addr_seen_before"] = (ctx.addr_first_out[addr] < rows) | output_in_inputs(view)[rows]
    fresh = sig["fresh_address"].possible if "fresh_address" in sig else None
    if fresh is None:  # pragma: no cover - signals_of always gives every heuristic
        fresh = np.zeros(view.n_out, dtype=np.bool_)
    cols["n_fresh_outs"] = np.bincount(view.out_tx[fresh], minlength=view.n_tx)[tx]

    # co-spend clusters
    out_cluster = ctx.cospend_cluster[addr]
    out_size = ctx.cospend_size[addr]
    sender = ctx.sender_cluster[tx]
    anchor = first_input_addr(view)[tx]
    sender_size = ctx.cospend_size[np.maximum(anchor, 0)]
    cols["same_cospend"] = (sender >= 0) & (out_cluster == sender)
    cols["other_cospend"] = (out_cluster != sender) & (out_size >= 2)
    cols["log_out_cluster"] = np.log1p(out_size)
    cols["log_sender_cluster"] = np.where(anchor >= 0, np.log1p(sender_size), 0)

    matrix = np.empty((len(rows), len(FEATURES)), dtype=np.float32)
    for j, name in enumerate(FEATURES):
        matrix[:, j] = cols[name]
    return ChangeFeatures(FEATURES, matrix, rows, tx)
