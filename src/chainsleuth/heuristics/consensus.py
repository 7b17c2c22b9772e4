"""Consensus change rule: link a change output only when independent heuristics agree.

An output is accepted as change when at least ``min_agree`` heuristics name it as their single
candidate, and no heuristic with an opinion on the transaction rules it out. Each accepted
output carries the names of the agreeing heuristics as evidence.

>>> from chainsleuth.heuristics.view import ChainView
>>> from chainsleuth.heuristics.change import change_signals
>>> v = ChainView.from_columns(
...     tx_id=[0, 1], height=[1, 2], version=[2, 2], locktime=[0, 1], is_coinbase=[True, False],
...     n_in=[1, 1], n_out=[1, 2], in_addr=[-1, 0], in_value=[0, 50_000], in_type=[-1, 2],
...     in_sequence=[0, 0xFFFFFFFD], in_prev_out=[-1, 0], out_value=[50_000, 30_000, 19_123],
...     out_addr=[0, 1, 2], out_type=[2, 4, 2], out_spent_by=[1, -1, -1])
>>> links = consensus_change(change_signals(v, ["script_type", "round_number"]))
>>> links.tx.tolist(), links.out.tolist(), links.rules
([1], [2], ['change:round_number+script_type'])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from chainsleuth.heuristics.change import ChangeSignal

__all__ = ["DEFAULT_CONSENSUS", "ChangeLinks", "consensus_change"]

I64 = NDArray[np.int64]

DEFAULT_CONSENSUS: tuple[str, ...] = (
    "address_reuse",
    "fresh_address",
    "script_type",
    "optimal_change",
    "round_number",
    "peel_chain",
)
"""Heuristics the default consensus uses; the others are reported, and usable by name.
``fingerprint`` and ``output_order`` are noise on wallets that randomise RBF signalling and
output order. ``cospent_elsewhere`` (a wallet split over several co-spend clusters looks like
two wallets) joined an exchange with 190 of its customers (50,986 addresses) on the
5 M-transaction simulated chain, where wallets reuse change addresses."""


@dataclass(frozen=True, slots=True)
class ChangeLinks:
    """Accepted change outputs: transaction position, output position and the evidence rule."""

    tx: I64
    out: I64
    rules: list[str]
    probability: NDArray[np.float32] | None = None
    """per accepted output: the learned model's probability (None for rule-based links)"""


def consensus_change(
    signals: Mapping[str, ChangeSignal],
    *,
    min_agree: int = 2,
) -> ChangeLinks:
    """Outputs at least ``min_agree`` heuristics single out and none rules out.

    See the module docstring for an example.
    """
    if not signals:
        empty = np.zeros(0, dtype=np.int64)
        return ChangeLinks(empty, empty.copy(), [])
    names = sorted(signals)
    first = signals[names[0]]
    n_out = len(first.possible)
    votes = np.zeros(n_out, dtype=np.int64)
    vetoed = np.zeros(n_out, dtype=np.bool_)
    voters = np.zeros(n_out, dtype=np.int64)
    out_tx_of = first.out_tx
    for bit, name in enumerate(names):
        sig = signals[name]
        cand = sig.candidate[sig.candidate >= 0]
        votes[cand] += 1
        voters[cand] |= 1 << bit
        vetoed |= sig.opinion[out_tx_of] & ~sig.possible
    accepted = np.flatnonzero((votes >= min_agree) & ~vetoed)
    # one rule string per distinct set of agreeing heuristics, not per output
    masks, which = np.unique(voters[accepted], return_inverse=True)
    texts = [
        "change:" + "+".join(n for bit, n in enumerate(names) if int(m) >> bit & 1) for m in masks
    ]
    rules = [texts[i] for i in which.tolist()]
    return ChangeLinks(out_tx_of[accepted], accepted.astype(np.int64), rules)
