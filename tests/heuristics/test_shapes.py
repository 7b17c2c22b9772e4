"""Shape rules on the regtest chain, checked against the driver's recorded transaction kinds."""

from __future__ import annotations

import csv

import numpy as np
from getblock_chain import DATA, core_chain

from chainsleuth.heuristics.shapes import classify_shapes


def test_shapes_match_recorded_kinds() -> None:
    chain = core_chain()
    with open(DATA / "truth" / "transactions.csv") as fh:
        rows = {row["txid"]: row for row in csv.DictReader(fh)}
    kinds = np.array([rows[t]["kind"] for t in chain.txids])
    notes = np.array([rows[t]["note"] for t in chain.txids])
    shapes = classify_shapes(chain.view)
    sweeps = np.char.find(notes.astype(str), "sweep") >= 0
    # every service / exchange sweep with ≥ 3 inputs is a consolidation
    n_in = chain.view.tx_n_in
    assert np.all(shapes["consolidation"][sweeps & (n_in >= 3)])
    # batched exchange withdrawals with ≥ 4 outputs are batch payments, CoinJoins are not
    assert shapes["batch_payment"][(kinds == "withdrawal") & (chain.view.tx_n_out >= 4)].all()
    assert not shapes["batch_payment"][kinds == "coinjoin"].any()
    # every peel hop followed by another hop is a peel step (the last hop feeds a cash-out)
    view = chain.view
    spender = view.out_spent_by
    feeds_hop = np.zeros(view.n_tx, dtype=bool)
    hop_out = (spender >= 0) & (kinds[np.maximum(spender, 0)] == "peel")
    feeds_hop[view.out_tx[hop_out]] = True
    hops = (kinds == "peel") & feeds_hop
    assert hops.sum() > 20
    assert shapes["peel_step"][hops].all()
    # Core never pays change back to an input address here
    assert not shapes["self_transfer"].any()
