"""Training a change model: labels from the chain itself (or a simulation's truth), fitting,
calibration and the choice of thresholds.

Self-revealed labels need no ground truth. An output is **self-revealed change** when its
address ends up in the multi-input (co-spend) cluster of the transaction's own inputs: the
sender later spent it together with its other coins. It is **self-revealed payment** when

- it is another output of a transaction that has exactly one self-revealed change output
  (a wallet pays itself one change output), or
- its address ends up in a different co-spend cluster of at least ``min_service_size``
  addresses: a service's wallet (an exchange sweeping deposits), not a fragment of the
  sender's.

Those labels are defined by co-spending, so the features that restate them
(:data:`~chainsleuth.heuristics.changefeatures.LEAKY`) are left out. A simulated chain's truth
(:func:`chainsleuth.cluster.evaluate.true_change`) may be given instead.

Fitting uses scikit-learn (imported only here): a gradient-boosted tree ensemble on 70 % of the
transactions, an isotonic calibration on the other 30 % (held out, whole transactions), and the
decision threshold is the lowest probability whose false-positive rate on the held-out
payments stays within ``max_fpr``; the low threshold (confident "not change") keeps the
held-out change it misses within ``max_fpr`` too.

>>> from chainsleuth.heuristics.view import ChainView
>>> from chainsleuth.heuristics.change import ChangeContext
>>> from chainsleuth.heuristics.changefeatures import change_features
>>> v = ChainView.from_columns(
...     tx_id=[0, 1, 2], height=[1, 2, 3], version=[2, 2, 2], locktime=[0, 0, 0],
...     is_coinbase=[False, False, False], n_in=[1, 1, 2], n_out=[2, 1, 1],
...     in_addr=[0, 5, 2, 0], in_value=[9, 9, 4, 4], in_type=[2, 2, 2, 2],
...     in_sequence=[0, 0, 0, 0], in_prev_out=[-1, -1, 1, -1], out_value=[4, 4, 9, 8],
...     out_addr=[1, 2, 6, 7], out_type=[2, 2, 2, 2], out_spent_by=[-1, 2, -1, -1])
>>> ctx = ChangeContext.of(v)
>>> self_revealed_labels(ctx, change_features(ctx)).tolist()
[0, 1]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

import chainsleuth
from chainsleuth.errors import InputError
from chainsleuth.heuristics.change import ChangeContext
from chainsleuth.heuristics.changefeatures import LEAKY, ChangeFeatures
from chainsleuth.heuristics.changemodel import ChangeModel, Tree

__all__ = [
    "AMOUNT_DISTRIBUTION",
    "DEFAULT_MAX_FPR",
    "TrainingReport",
    "default_features",
    "self_revealed_labels",
    "train_change_model",
]

I64 = NDArray[np.int64]
I8 = NDArray[np.int8]

DEFAULT_MAX_FPR = 0.0005
"""Held-out false-positive rate the decision threshold allows by default (0.05 %)."""

AMOUNT_DISTRIBUTION: frozenset[str] = frozenset(
    {
        "value_share",
        "log_value",
        "is_largest",
        "is_smallest",
        "significant_digits",
        "trailing_zeros",
    }
)
"""Amount features that describe one economy's prices rather than wallet behaviour: a model
trained on a simulated economy with them learned its price list (on real Core wallets its
change precision fell from 0.9995 to 0.97). Round amounts still enter through the
``round_number`` votes."""


def default_features() -> tuple[str, ...]:
    """Features a model uses by default: all but the leaky and the price-list ones.

    >>> "cand:fresh_address" in default_features(), "same_cospend" in default_features()
    (True, False)
    """
    from chainsleuth.heuristics.changefeatures import FEATURES

    return tuple(f for f in FEATURES if f not in LEAKY and f not in AMOUNT_DISTRIBUTION)


def self_revealed_labels(
    ctx: ChangeContext, feats: ChangeFeatures, *, min_service_size: int = 100
) -> I8:
    """Per feature row: 1 self-revealed change, 0 self-revealed payment, -1 unlabelled
    (1 B per row). See the module docstring for the definitions and an example."""
    same = feats.column("same_cospend") > 0
    n_same = np.bincount(feats.tx[same], minlength=ctx.view.n_tx)
    sibling = (n_same[feats.tx] == 1) & ~same
    out_size = np.expm1(feats.column("log_out_cluster").astype(np.float64))
    service = (feats.column("other_cospend") > 0) & (out_size >= min_service_size - 0.5)
    labels = np.full(len(feats.out), -1, dtype=np.int8)
    labels[sibling | service] = 0
    labels[same] = 1
    return labels


@dataclass(frozen=True, slots=True)
class TrainingReport:
    """What a training run saw and how the model did on its held-out transactions."""

    rows: int
    positives: int
    heldout_rows: int
    heldout_fpr: float
    heldout_recall: float
    threshold: float
    low_threshold: float

    def to_dict(self) -> dict[str, Any]:
        """As a plain dict (recorded in the model's ``trained`` field)."""
        return {
            "rows": self.rows,
            "positives": self.positives,
            "heldout_rows": self.heldout_rows,
            "heldout_fpr": self.heldout_fpr,
            "heldout_recall": self.heldout_recall,
            "threshold": self.threshold,
            "low_threshold": self.low_threshold,
        }


def _thresholds(
    p: NDArray[np.float64], y: NDArray[np.bool_], max_fpr: float
) -> tuple[float, float]:
    levels = np.unique(p)
    neg, pos = p[~y], p[y]
    threshold = 1.0 + 1e-9  # nothing passes unless some level keeps the FPR in bounds
    for t in levels:
        if len(neg) == 0 or float((neg >= t).mean()) <= max_fpr:
            threshold = float(t)
            break
    low = 0.0
    for t in levels[::-1]:
        if len(pos) == 0 or float((pos < t).mean()) <= max_fpr:
            low = float(t)
            break
    return threshold, min(low, threshold)


def train_change_model(
    feats: ChangeFeatures,
    labels: I8,
    *,
    features: tuple[str, ...] | None = None,
    max_fpr: float = DEFAULT_MAX_FPR,
    n_trees: int = 200,
    max_depth: int = 3,
    seed: int = 0,
    source: str = "",
    label_kind: str = "self-revealed",
) -> tuple[ChangeModel, TrainingReport]:
    """Fit, calibrate and threshold a model on the labelled rows (``labels`` 0/1; -1 skipped).

    InputError when there are too few labelled rows of either class (fewer than 20).

    >>> from chainsleuth.heuristics.changefeatures import change_features
    >>> from chainsleuth.store.chainview import load_chain_view
    >>> ctx = ChangeContext.of(load_chain_view(ds))  # ds: the regtest chain
    >>> feats = change_features(ctx)
    >>> model, report = train_change_model(feats, self_revealed_labels(ctx, feats), n_trees=20)
    >>> report.positives, report.rows, report.heldout_fpr
    (187, 1660, 0.0)
    """
    try:
        from sklearn import __version__ as sklearn_version
        from sklearn.ensemble import GradientBoostingClassifier
        from sklearn.isotonic import IsotonicRegression
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise InputError(f"training a change model needs scikit-learn ({exc})") from None
    names = features if features is not None else default_features()
    labelled = labels >= 0
    y_all = labels[labelled] == 1
    n_pos, n_neg = int(y_all.sum()), int((~y_all).sum())
    if n_pos < 20 or n_neg < 20:
        raise InputError(
            f"too few labelled outputs to train a change model: {n_pos} change, "
            f"{n_neg} payments (need 20 of each)"
        )
    x_all = feats.select(list(names))[labelled]
    tx_all = feats.tx[labelled]
    # split by transaction: the outputs of one transaction are all fitted or all held out
    rng = np.random.default_rng(seed)
    txs = np.unique(tx_all)
    held_tx = np.zeros(int(txs.max()) + 1, dtype=np.bool_)
    held_tx[rng.permutation(txs)[: round(0.3 * len(txs))]] = True
    held = held_tx[tx_all]
    fit_x, fit_y = x_all[~held], y_all[~held]
    if fit_y.all() or not fit_y.any() or y_all[held].all() or not y_all[held].any():
        raise InputError("labelled outputs too few to hold out both change and payments")
    gb = GradientBoostingClassifier(
        n_estimators=n_trees,
        max_depth=max_depth,
        learning_rate=0.1,
        subsample=0.8,
        random_state=seed,
    )
    gb.fit(fit_x, fit_y)
    trees = tuple(
        Tree(
            np.where(est.tree_.children_left >= 0, est.tree_.feature, -1).astype(np.int64),
            est.tree_.threshold.astype(np.float64),
            est.tree_.children_left.astype(np.int64),
            est.tree_.children_right.astype(np.int64),
            est.tree_.value[:, 0, 0].astype(np.float64),
        )
        for est in gb.estimators_[:, 0]
    )
    lr = float(gb.learning_rate)
    probe = x_all[:1]
    init = float(gb.decision_function(probe)[0]) - lr * float(
        sum(t.predict(probe)[0] for t in trees)
    )
    draft = ChangeModel(names, init, lr, trees, np.zeros(1), np.zeros(1), 1.0, 0.0)
    raw_held = draft.raw_score(x_all[held])
    if not np.allclose(raw_held, gb.decision_function(x_all[held]), atol=1e-6):
        raise RuntimeError("exported trees disagree with scikit-learn's scores")
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    iso.fit(raw_held, y_all[held].astype(np.float64))
    calib_x = np.asarray(iso.X_thresholds_, dtype=np.float64)
    calib_y = np.asarray(iso.y_thresholds_, dtype=np.float64)
    p_held = np.interp(raw_held, calib_x, calib_y)
    threshold, low = _thresholds(p_held, y_all[held], max_fpr)
    yh = y_all[held]
    report = TrainingReport(
        rows=int(labelled.sum()),
        positives=n_pos,
        heldout_rows=int(held.sum()),
        heldout_fpr=float((p_held[~yh] >= threshold).mean()),
        heldout_recall=float((p_held[yh] >= threshold).mean()),
        threshold=threshold,
        low_threshold=low,
    )
    trained = {
        "source": source,
        "labels": label_kind,
        "max_fpr": max_fpr,
        **report.to_dict(),
        "sklearn": sklearn_version,
        "chainsleuth": chainsleuth.__version__,
        "n_trees": n_trees,
        "max_depth": max_depth,
        "seed": seed,
    }
    model = ChangeModel(names, init, lr, trees, calib_x, calib_y, threshold, low, trained)
    return model, report
