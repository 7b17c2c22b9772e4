"""Self-transfer rule: hand-built sweeps and send-alls, and precision on Core's wallets."""

from __future__ import annotations

import numpy as np

from chainsleuth.cluster.evaluate import true_change
from chainsleuth.heuristics.change import ChangeContext
from chainsleuth.heuristics.selftransfer import self_transfers
from chainsleuth.heuristics.view import ChainView


def _sweep(*, out_type: int, next_n_out: int, spent: bool, reused: bool) -> ChainView:
    """Tx 1 sweeps addresses 0 and 1 (P2WPKH) into address 2; tx 2 spends it alone."""
    return ChainView.from_columns(
        tx_id=[0, 1, 2],
        height=[1, 2, 3],
        version=[2, 2, 2],
        locktime=[0, 0, 0],
        is_coinbase=[True, False, False],
        n_in=[1, 2, 1],
        n_out=[1 + reused, 1, next_n_out],
        in_addr=[-1, 0, 1, 2],
        in_value=[0, 5, 5, 9],
        in_type=[-1, 2, 2, out_type],
        in_sequence=[0, 0, 0, 0],
        in_prev_out=[-1, -1, -1, 1 + reused],
        out_value=[5] * (1 + reused) + [9] + [1] * next_n_out,
        out_addr=[7] + ([2] if reused else []) + [2] + list(range(3, 3 + next_n_out)),
        out_type=[2] * (1 + reused) + [out_type] + [2] * next_n_out,
        out_spent_by=[-1] * (1 + reused) + [2 if spent else -1] + [-1] * next_n_out,
    )


def _linked(view: ChainView) -> list[int]:
    return self_transfers(ChangeContext.of(view, np.zeros(view.n_tx, dtype=bool))).tx.tolist()


def test_sweep_into_a_fresh_address_moved_on_alone_is_linked() -> None:
    assert _linked(_sweep(out_type=2, next_n_out=2, spent=True, reused=False)) == [1]


def test_send_all_lookalikes_are_not_linked() -> None:
    # another script type than the inputs (the payee's wallet)
    assert _linked(_sweep(out_type=4, next_n_out=2, spent=True, reused=False)) == []
    # spent into a batch of five outputs (an exchange paying out)
    assert _linked(_sweep(out_type=2, next_n_out=5, spent=True, reused=False)) == []
    # not spent yet: nothing tells a sweep from a send-all
    assert _linked(_sweep(out_type=2, next_n_out=2, spent=False, reused=False)) == []
    # the address was paid before (a reused deposit address)
    assert _linked(_sweep(out_type=2, next_n_out=2, spent=True, reused=True)) == []


def test_every_self_transfer_on_core_wallets_is_right(core_truth_wallets: object) -> None:
    view, wallet = core_truth_wallets  # type: ignore[misc]
    links = self_transfers(ChangeContext.of(view))
    assert len(links.out) >= 50  # exchange, service and user sweeps
    assert bool(true_change(view, wallet)[links.out].all())
