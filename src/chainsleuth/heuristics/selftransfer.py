"""Self-transfers: a wallet sweeping several of its coins into one new address of its own.

A consolidation (≥ 2 inputs, exactly 1 output) has no change to detect; its single output is
either the sender's own new address (a sweep) or a payment of everything (a "send all"). The
rule links the output to the inputs only when every sign points to a sweep:

- the output's address is one-time: first seen in this output and never paid again (a payee's
  deposit address is typically reused or known already);
- it has a script type the inputs have (a wallet keeps its address type);
- it is later spent *alone*, in a transaction with at most two outputs (the wallet moving its
  swept coin on), and not co-spent with another wallet's coins;
- unspent outputs are not linked: at the tip nothing yet tells a sweep from a send-all.

Source: Meiklejohn et al. (IMC 2013) note that services aggregate received coins into fresh
addresses; Kappos et al. (USENIX Security 2022) treat such aggregation as a self-transfer.

>>> from chainsleuth.heuristics.view import ChainView
>>> from chainsleuth.heuristics.change import ChangeContext, fresh_address, script_type
>>> v = ChainView.from_columns(
...     tx_id=[0, 1], height=[1, 2], version=[2, 2], locktime=[0, 0], is_coinbase=[False, False],
...     n_in=[2, 1], n_out=[1, 2], in_addr=[0, 1, 2], in_value=[5, 5, 9], in_type=[2, 2, 2],
...     in_sequence=[0, 0, 0], in_prev_out=[-1, -1, 0], out_value=[9, 4, 4],
...     out_addr=[2, 3, 4], out_type=[2, 2, 2], out_spent_by=[1, -1, -1])
>>> links = self_transfers(ChangeContext.of(v, np.zeros(2, dtype=bool)))
>>> links.tx.tolist(), links.out.tolist(), links.rules
([0], [0], ['self-transfer'])
"""

from __future__ import annotations

import numpy as np

from chainsleuth.heuristics.change import ChangeContext, fresh_address, script_type
from chainsleuth.heuristics.consensus import ChangeLinks
from chainsleuth.heuristics.txfacts import IN_ONE, OUT_LE_TWO

__all__ = ["SELF_TRANSFER", "self_transfers"]

SELF_TRANSFER = "self-transfer"
"""Rule name of self-transfer links in evidence rows."""


def self_transfers(ctx: ChangeContext) -> ChangeLinks:
    """Single outputs of consolidations that are the sender's own (see the module docstring).

    The one-time and script-type tests are those of the ``fresh_address`` and ``script_type``
    change heuristics. See the module docstring for an example.
    """
    view = ctx.view
    n_in, n_out = view.tx_n_in, view.tx_n_out
    # a single-output transaction is never a CoinJoin: no equal-output groups to hide in
    tx_ok = ~view.is_coinbase & (n_in >= 2) & (n_out == 1)
    out = view.out_start[:-1][tx_ok]
    tx = np.flatnonzero(tx_ok)
    one_time = fresh_address(ctx)[out]  # also requires an address
    same_type = script_type(ctx)[out]
    # spent alone (so never co-spent with another wallet's coins), into at most two outputs
    spender = ctx.spender
    moved_on = (spender.has(IN_ONE) & spender.has(OUT_LE_TWO))[out]
    keep = one_time & same_type & moved_on
    return ChangeLinks(tx[keep], out[keep], [SELF_TRANSFER] * int(keep.sum()))
