"""Transaction shapes worth flagging besides CoinJoins, each a named, vectorised rule.

- ``consolidation`` — many-in/1-out: ≥ 3 inputs and a single output (a wallet sweeping coins).
- ``batch_payment`` — one payer, many payees: ≥ 4 outputs, fewer inputs than outputs, and not
  a CoinJoin (exchanges batch withdrawals this way).
- ``peel_step`` — 1 input, 2 outputs, and one output is spent alone into another 1-in/2-out
  transaction (a link of a peel chain).
- ``self_transfer`` — every output pays an address that is also one of the inputs'.

>>> from chainsleuth.heuristics.view import ChainView
>>> v = ChainView.from_columns(
...     tx_id=[0], height=[1], version=[2], locktime=[0], is_coinbase=[False], n_in=[3],
...     n_out=[1], in_addr=[1, 2, 3], in_value=[5, 5, 5], in_type=[2, 2, 2],
...     in_sequence=[0, 0, 0], in_prev_out=[-1, -1, -1], out_value=[14], out_addr=[4],
...     out_type=[2], out_spent_by=[-1])
>>> classify_shapes(v)["consolidation"].tolist()
[True]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from chainsleuth.heuristics.coinjoin import detect_coinjoins
from chainsleuth.heuristics.outputs import output_in_inputs
from chainsleuth.heuristics.view import ChainView

__all__ = [
    "SHAPE_RULES",
    "batch_payment",
    "classify_shapes",
    "consolidation",
    "peel_step",
    "self_transfer",
]

BoolArray = NDArray[np.bool_]


def consolidation(view: ChainView) -> BoolArray:
    """Many-in/1-out: at least 3 inputs and exactly one output (see module docstring)."""
    return ~view.is_coinbase & (view.tx_n_in >= 3) & (view.tx_n_out == 1)


def batch_payment(view: ChainView) -> BoolArray:
    """≥ 4 outputs, fewer inputs than outputs, not a CoinJoin (see module docstring)."""
    n_in, n_out = view.tx_n_in, view.tx_n_out
    return ~view.is_coinbase & (n_out >= 4) & (n_in < n_out) & ~detect_coinjoins(view).mask


def peel_step(view: ChainView) -> BoolArray:
    """1-in/2-out with an output spent alone into another 1-in/2-out tx (see module docstring)."""
    step = ~view.is_coinbase & (view.tx_n_in == 1) & (view.tx_n_out == 2)
    spender = view.out_spent_by
    continues = (spender >= 0) & step[np.maximum(spender, 0)] & step[view.out_tx]
    out = np.zeros(view.n_tx, dtype=np.bool_)
    out[view.out_tx[continues]] = True
    return out


def self_transfer(view: ChainView) -> BoolArray:
    """Every output pays one of the transaction's own input addresses (see module docstring)."""
    back = output_in_inputs(view)
    n_back = np.bincount(view.out_tx[back], minlength=view.n_tx)
    return ~view.is_coinbase & (view.tx_n_out >= 1) & (n_back == view.tx_n_out)


SHAPE_RULES: dict[str, Callable[[ChainView], BoolArray]] = {
    "consolidation": consolidation,
    "batch_payment": batch_payment,
    "peel_step": peel_step,
    "self_transfer": self_transfer,
}
"""Every shape rule by name."""


def classify_shapes(view: ChainView) -> dict[str, BoolArray]:
    """Run every shape rule; one boolean mask over transaction positions per rule.

    See the module docstring for an example.
    """
    return {name: rule(view) for name, rule in SHAPE_RULES.items()}
