"""Train a change model on a dataset: self-revealed change, or a simulated chain's truth.

The dataset's chain view, CoinJoins and change heuristics feed
:func:`~chainsleuth.heuristics.changefeatures.change_features`; labels come from
:func:`~chainsleuth.heuristics.changetrain.self_revealed_labels` or, for a simulated chain,
from its truth (:func:`~chainsleuth.cluster.evaluate.true_change`: an output paying the wallet
that owns all inputs is change, every other eligible output a payment).

``chainsleuth.heuristics.changetrain.train_change_model`` has a runnable example (the same
training on a dataset's self-revealed change, with fewer trees).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from chainsleuth.heuristics.change import ChangeContext
from chainsleuth.heuristics.changefeatures import change_features
from chainsleuth.heuristics.changemodel import ChangeModel
from chainsleuth.heuristics.changetrain import (
    DEFAULT_MAX_FPR,
    TrainingReport,
    self_revealed_labels,
    train_change_model,
)
from chainsleuth.heuristics.coinjoin import detect_coinjoins
from chainsleuth.store.chainview import load_chain_view

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

__all__ = ["train_on_dataset"]


def train_on_dataset(
    ds: Dataset,
    *,
    truth: Path | None = None,
    max_fpr: float = DEFAULT_MAX_FPR,
    seed: int = 0,
) -> tuple[ChangeModel, TrainingReport]:
    """A change model trained on ``ds`` (self-revealed labels unless ``truth`` is given).

    InputError when the chain has too few labelled outputs. See the module docstring.
    """
    view = load_chain_view(ds)
    ctx = ChangeContext.of(view, detect_coinjoins(view).mask)
    feats = change_features(ctx)
    if truth is None:
        labels = self_revealed_labels(ctx, feats)
        kind = "self-revealed"
    else:
        from chainsleuth.cluster.evaluate import true_change, truth_wallets

        wallet, _ = truth_wallets(ds, Path(truth))
        labels = true_change(view, wallet)[feats.out].astype(np.int8)
        kind = "truth"
    source = f"{ds.path.name} (tip {ds.tip_height})"
    return train_change_model(
        feats, labels, max_fpr=max_fpr, seed=seed, source=source, label_kind=kind
    )
