"""Score a clustering run against ground truth (``truth/addresses.csv``: address → wallet).

Reports pairwise precision/recall (from contingency counts, see
:mod:`chainsleuth.cluster.metrics`), false merges with the largest one, purity, for every
change heuristic (and the consensus and self-transfer rules) its precision and recall at naming
the change output, and the recall a flawless change detector would reach on the same chain.
A transaction's true change is an output paying the wallet that owns all its inputs.

>>> report = evaluate_clustering(ds, truth, run="default")  # regtest-core-a
>>> round(report["pairwise"]["precision"], 4), round(report["pairwise"]["recall"], 4)
(0.9986, 0.3207)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from chainsleuth.cluster.metrics import false_merges, pairwise_scores, purity
from chainsleuth.cluster.runs import load_address_cluster, run_dir, run_params
from chainsleuth.errors import InputError
from chainsleuth.graph.unionfind import new_parent, roots_to_min_ids, union_links
from chainsleuth.heuristics.change import ChangeContext, ChangeSignal, signals_of
from chainsleuth.heuristics.coinjoin import detect_coinjoins
from chainsleuth.heuristics.consensus import DEFAULT_CONSENSUS, consensus_change
from chainsleuth.heuristics.cospend import first_input_addr, multi_input_pairs
from chainsleuth.heuristics.selftransfer import SELF_TRANSFER, self_transfers
from chainsleuth.heuristics.view import ChainView
from chainsleuth.store.chainview import load_chain_view
from chainsleuth.store.truth import match_truth_addresses, read_truth_addresses

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

__all__ = [
    "change_scores",
    "evaluate_clustering",
    "recall_ceilings",
    "true_change",
    "truth_wallets",
]

I64 = NDArray[np.int64]


def truth_wallets(ds: Dataset, truth_dir: Path) -> tuple[I64, list[str]]:
    """Owner wallet index of every addr_id (-1 unknown) and the wallet names.

    InputError when ``truth_dir/addresses.csv`` is missing.
    """
    csv = Path(truth_dir) / "addresses.csv"
    if not csv.is_file():
        raise InputError(f"truth file not found: {csv}")
    joined, n_addr = match_truth_addresses(ds, read_truth_addresses(csv))
    names = sorted(set(joined.column("wallet").to_pylist()))
    index = {w: i for i, w in enumerate(names)}
    wallet = np.full(n_addr, -1, dtype=np.int64)
    ids = np.asarray(joined.column("addr_id").to_numpy(), dtype=np.int64)
    wallet[ids] = [index[w] for w in joined.column("wallet").to_pylist()]
    return wallet, names


def true_change(view: ChainView, wallet: I64) -> NDArray[np.bool_]:
    """Per output: does it pay the wallet that owns every input of its transaction?

    >>> from chainsleuth.heuristics.view import ChainView
    >>> v = ChainView.from_columns(
    ...     tx_id=[0], height=[1], version=[2], locktime=[0], is_coinbase=[False], n_in=[1],
    ...     n_out=[2], in_addr=[0], in_value=[9], in_type=[2], in_sequence=[0],
    ...     in_prev_out=[-1], out_value=[2, 6], out_addr=[1, 2], out_type=[2, 2],
    ...     out_spent_by=[-1, -1])
    >>> true_change(v, np.array([0, 1, 0])).tolist()
    [False, True]
    """
    w_in = np.where(view.in_addr >= 0, wallet[np.maximum(view.in_addr, 0)], -1)
    lo = np.full(view.n_tx, np.iinfo(np.int64).max, dtype=np.int64)
    hi = np.full(view.n_tx, -2, dtype=np.int64)
    np.minimum.at(lo, view.in_tx, w_in)
    np.maximum.at(hi, view.in_tx, w_in)
    sender = np.where((lo == hi) & (lo >= 0), lo, -2)
    w_out = np.where(view.out_addr >= 0, wallet[np.maximum(view.out_addr, 0)], -3)
    return w_out == sender[view.out_tx]


def _score(picked: I64, truth: NDArray[np.bool_], n_true: int) -> dict[str, Any]:
    correct = int(truth[picked].sum()) if len(picked) else 0
    return {
        "candidates": len(picked),
        "correct": correct,
        "precision": correct / len(picked) if len(picked) else None,
        "recall": correct / n_true if n_true else None,
    }


def change_scores(
    view: ChainView, wallet: I64, coinjoin: NDArray[np.bool_] | None = None
) -> dict[str, dict[str, Any]]:
    """Precision/recall of each change heuristic's candidates, the consensus rule and the
    self-transfer rule.

    Recall counts true change outputs of the transactions the heuristics judge; for the
    self-transfer rule, consolidations (≥ 2 inputs, 1 output) that pay their sender.
    """
    ctx = ChangeContext.of(view, coinjoin)
    self_paid = true_change(view, wallet)
    truth = self_paid & ctx.eligible_out
    n_true = int(truth.sum())
    signals: dict[str, ChangeSignal] = signals_of(ctx)
    out: dict[str, dict[str, Any]] = {}
    for name, sig in signals.items():
        out[name] = _score(sig.candidate[sig.candidate >= 0], truth, n_true)
    chosen = {n: signals[n] for n in DEFAULT_CONSENSUS}
    out["consensus"] = _score(consensus_change(chosen).out, truth, n_true)
    sweeps = (view.tx_n_in >= 2) & (view.tx_n_out == 1) & ~view.is_coinbase
    sweep_truth = self_paid & sweeps[view.out_tx]
    out[SELF_TRANSFER] = _score(self_transfers(ctx).out, sweep_truth, int(sweep_truth.sum()))
    return out


def recall_ceilings(
    view: ChainView, wallet: I64, coinjoin: NDArray[np.bool_] | None = None
) -> dict[str, float]:
    """Pairwise recall an input→output rule could reach at best on this chain.

    Both ceilings cluster with multi-input links (CoinJoins skipped) plus, from the truth,
    every output that pays the wallet owning all inputs of its transaction: ``perfect_change``
    links those of ≥ 2-output transactions (a flawless change detector), ``perfect_self``
    links all of them (also consolidations into the sender's own address). A run's recall can
    only exceed them through wrong links.

    >>> from chainsleuth.heuristics.view import ChainView
    >>> v = ChainView.from_columns(
    ...     tx_id=[0], height=[1], version=[2], locktime=[0], is_coinbase=[False], n_in=[1],
    ...     n_out=[2], in_addr=[0], in_value=[9], in_type=[2], in_sequence=[0],
    ...     in_prev_out=[-1], out_value=[2, 6], out_addr=[1, 2], out_type=[2, 2],
    ...     out_spent_by=[-1, -1])
    >>> recall_ceilings(v, np.array([0, 1, 0]))
    {'perfect_change': 1.0, 'perfect_self': 1.0}
    """
    if coinjoin is None:
        coinjoin = detect_coinjoins(view).mask
    a, b, _ = multi_input_pairs(view, skip=coinjoin)
    anchor = first_input_addr(view)
    own = true_change(view, wallet) & ~coinjoin[view.out_tx] & (anchor[view.out_tx] >= 0)
    multi_out = view.tx_n_out[view.out_tx] >= 2
    out: dict[str, float] = {}
    for label, chosen in (("perfect_change", own & multi_out), ("perfect_self", own)):
        pos = np.flatnonzero(chosen)
        parent = new_parent(view.n_addr)
        union_links(
            parent,
            np.concatenate([a, anchor[view.out_tx[pos]]]),
            np.concatenate([b, view.out_addr[pos]]),
        )
        cluster = roots_to_min_ids(parent)
        n = min(len(cluster), len(wallet))
        out[label] = pairwise_scores(cluster[:n], wallet[:n]).recall
    return out


def evaluate_clustering(
    ds: Dataset, truth_dir: Path, run: str | None = None, *, with_change: bool = True
) -> dict[str, Any]:
    """Full report of a run against truth (see the module docstring for its parts).

    The module docstring has a runnable example.
    """
    name = run_dir(ds, run).name
    params = run_params(ds, name)
    wallet, names = truth_wallets(ds, truth_dir)
    cluster = load_address_cluster(ds, name)
    n = min(len(cluster), len(wallet))
    cluster, wallet_c = cluster[:n], wallet[:n]
    scores = pairwise_scores(cluster, wallet_c)
    merges = false_merges(cluster, wallet_c)
    known = wallet_c >= 0
    report: dict[str, Any] = {
        "run": name,
        "heuristics": params.get("heuristics", []),
        "addresses_scored": int(known.sum()),
        "clusters": len(np.unique(cluster[known])),
        "wallets": len(names),
        "pairwise": {
            "precision": scores.precision,
            "recall": scores.recall,
            "true_pairs": scores.true_pairs,
            "predicted_pairs": scores.predicted_pairs,
            "truth_pairs": scores.truth_pairs,
        },
        "false_merges": {
            "count": merges.n_false_merges,
            "largest_cluster": merges.largest_cluster if merges.n_false_merges else None,
            "largest_size": merges.largest_size,
            "largest_wallets": [names[i] for i in merges.largest_wallets],
        },
        "purity": purity(cluster, wallet_c),
    }
    if with_change:
        view = load_chain_view(ds)
        coinjoin = detect_coinjoins(view).mask
        report["change"] = change_scores(view, wallet, coinjoin)
        report["recall_ceiling"] = recall_ceilings(view, wallet, coinjoin)
    return report
