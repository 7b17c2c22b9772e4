"""Learned change detection: a calibrated tree ensemble over the change features.

A :class:`ChangeModel` scores every eligible output (see
:mod:`chainsleuth.heuristics.changefeatures`) with a gradient-boosted ensemble of regression
trees, maps the raw score to a probability with an isotonic calibration curve, and names an
output as change when its probability reaches the model's ``threshold`` and it is the single
best-scored output of its transaction (a wallet pays itself at most one change output). Each
accepted output keeps its probability and, as evidence, the heuristics that singled it out.

The model is a plain JSON file (no pickle): the trees as arrays (feature, threshold, left,
right, value), the calibration curve, the thresholds and how it was trained; inference needs
numpy only. A model is trained by :mod:`chainsleuth.heuristics.changetrain` (scikit-learn);
the one shipped in ``heuristics/data/change_model.json`` was trained on the ground truth of
simulated Bitcoin Core wallets (``scenarios/change-train.yaml``), never on a real chain's truth.

>>> m = ChangeModel.from_dict(_TOY)
>>> m.probability(np.array([[0.0], [1.0]], dtype=np.float32)).tolist()
[0.0, 1.0]
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chainsleuth.errors import InputError
from chainsleuth.heuristics.change import ChangeContext, ChangeSignal, signals_of
from chainsleuth.heuristics.changefeatures import FEATURES, change_features
from chainsleuth.heuristics.consensus import ChangeLinks

__all__ = [
    "CHANGE_MODEL",
    "FORMAT",
    "ChangeModel",
    "Tree",
    "default_model_path",
    "load_change_model",
    "model_change",
]

I64 = NDArray[np.int64]
F32 = NDArray[np.float32]
F64 = NDArray[np.float64]

CHANGE_MODEL = "change-model"
"""Heuristic name (``--heuristics``) and rule prefix of model change links in evidence rows."""

FORMAT = "chainsleuth-change-model/1"
"""The ``format`` field every model file carries."""

_TOY: dict[str, Any] = {
    "format": FORMAT,
    "features": ["n_in"],
    "init": -3.0,
    "learning_rate": 1.0,
    "trees": [{"feature": [0, -1, -1], "threshold": [0.5, 0, 0], "left": [1, -1, -1],
               "right": [2, -1, -1], "value": [0.0, 0.0, 6.0]}],
    "calibration": {"x": [-3.0, 3.0], "y": [0.0, 1.0]},
    "threshold": 0.9,
    "low_threshold": 0.1,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Tree:
    """One regression tree as parallel node arrays (a leaf has ``left == -1``)."""

    feature: I64
    threshold: F64
    left: I64
    right: I64
    value: F64

    def predict(self, x: F32) -> F64:
        """Leaf value of every row of ``x`` (rows go left when ``x[feature] <= threshold``).

        Vectorised over rows: one numpy step per tree level.

        >>> t = Tree(np.array([0, -1, -1]), np.array([0.5, 0, 0]), np.array([1, -1, -1]),
        ...          np.array([2, -1, -1]), np.array([0.0, -1.0, 1.0]))
        >>> t.predict(np.array([[0.0], [2.0]], dtype=np.float32)).tolist()
        [-1.0, 1.0]
        """
        node = np.zeros(len(x), dtype=np.int64)
        rows = np.arange(len(x))
        for _ in range(len(self.feature)):
            inner = self.left[node] >= 0
            if not inner.any():
                break
            go_left = x[rows, np.maximum(self.feature[node], 0)] <= self.threshold[node]
            node = np.where(inner, np.where(go_left, self.left[node], self.right[node]), node)
        out: F64 = self.value[node]
        return out


@dataclass(frozen=True, slots=True)
class ChangeModel:
    """A calibrated tree ensemble and its decision thresholds (see the module docstring)."""

    features: tuple[str, ...]
    init: float
    learning_rate: float
    trees: tuple[Tree, ...]
    calib_x: F64
    calib_y: F64
    threshold: float
    """probability at or above which an output is change"""
    low_threshold: float
    """probability below which the model is confident an output is *not* change"""
    trained: dict[str, Any] = field(default_factory=dict)
    """how the model was trained (source, labels, rows, held-out rates, library versions)"""

    def raw_score(self, x: F32) -> F64:
        """Ensemble score (log-odds before calibration) of every row of ``x``."""
        score = np.full(len(x), self.init, dtype=np.float64)
        for tree in self.trees:
            score += self.learning_rate * tree.predict(x)
        return score

    def probability(self, x: F32) -> F64:
        """Calibrated probability that each row is change (8 B per row).

        See the module docstring for an example.
        """
        p: F64 = np.interp(self.raw_score(x), self.calib_x, self.calib_y)
        return p

    def largest_threshold(self, feature: str) -> float:
        """The largest split threshold on ``feature`` over all trees (-inf when no tree
        splits on it): values above it all take the same branches.

        >>> load_change_model().largest_threshold("addr_n_outputs") < 6.0
        True
        """
        if feature not in self.features:
            return -math.inf
        k = self.features.index(feature)
        found = [
            float(t.threshold[t.feature == k].max()) for t in self.trees if (t.feature == k).any()
        ]
        return max(found, default=-math.inf)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form written by :meth:`save`.

        >>> ChangeModel.from_dict(_TOY).to_dict()["threshold"]
        0.9
        """
        return {
            "format": FORMAT,
            "features": list(self.features),
            "init": self.init,
            "learning_rate": self.learning_rate,
            "trees": [
                {
                    "feature": t.feature.tolist(),
                    "threshold": t.threshold.tolist(),
                    "left": t.left.tolist(),
                    "right": t.right.tolist(),
                    "value": t.value.tolist(),
                }
                for t in self.trees
            ],
            "calibration": {"x": self.calib_x.tolist(), "y": self.calib_y.tolist()},
            "threshold": self.threshold,
            "low_threshold": self.low_threshold,
            "trained": self.trained,
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "model") -> ChangeModel:
        """Build a model from its JSON form; InputError naming ``source`` when it is not one.

        >>> ChangeModel.from_dict({"format": "x"}, "m.json")
        Traceback (most recent call last):
        chainsleuth.errors.InputError: m.json: not a change model (format 'x', want 'chainsleuth-change-model/1')
        """  # noqa: E501
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise InputError(f"{source}: not a change model (format {got!r}, want {FORMAT!r})")
        try:
            features = tuple(str(f) for f in data["features"])
            unknown = [f for f in features if f not in FEATURES]
            if unknown:
                raise InputError(f"{source}: unknown features {unknown}")
            trees = tuple(
                Tree(
                    np.asarray(t["feature"], dtype=np.int64),
                    np.asarray(t["threshold"], dtype=np.float64),
                    np.asarray(t["left"], dtype=np.int64),
                    np.asarray(t["right"], dtype=np.int64),
                    np.asarray(t["value"], dtype=np.float64),
                )
                for t in data["trees"]
            )
            for t in trees:
                n = len(t.feature)
                if not (len(t.threshold) == len(t.left) == len(t.right) == len(t.value) == n):
                    raise ValueError("tree arrays differ in length")
                if n == 0 or t.feature.max(initial=-1) >= len(features):
                    raise ValueError("tree refers to a missing feature")
                if t.left.max(initial=-1) >= n or t.right.max(initial=-1) >= n:
                    raise ValueError("tree refers to a missing node")
            model = cls(
                features=features,
                init=float(data["init"]),
                learning_rate=float(data["learning_rate"]),
                trees=trees,
                calib_x=np.asarray(data["calibration"]["x"], dtype=np.float64),
                calib_y=np.asarray(data["calibration"]["y"], dtype=np.float64),
                threshold=float(data["threshold"]),
                low_threshold=float(data["low_threshold"]),
                trained=dict(data.get("trained") or {}),
            )
        except InputError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{source}: malformed change model: {exc}") from None
        if len(model.calib_x) == 0 or len(model.calib_x) != len(model.calib_y):
            raise InputError(f"{source}: malformed change model: bad calibration curve")
        return model

    def save(self, path: Path) -> None:
        """Write the model as JSON (via a temporary file and a rename)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), separators=(",", ":")) + "\n")
        tmp.replace(path)


def default_model_path() -> Path:
    """The model shipped with chainsleuth (``heuristics/data/change_model.json``)."""
    return Path(str(resources.files("chainsleuth.heuristics") / "data" / "change_model.json"))


def load_change_model(path: Path | str | None = None) -> ChangeModel:
    """Read a model file (the shipped one by default); InputError when it is unusable.

    >>> load_change_model().threshold > 0.5
    True
    """
    p = default_model_path() if path is None else Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise InputError(f"change model not found: {p}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{p}: not a change model ({type(exc).__name__})") from None
    return ChangeModel.from_dict(data, str(p))


def model_change(
    ctx: ChangeContext,
    model: ChangeModel,
    signals: dict[str, ChangeSignal] | None = None,
) -> ChangeLinks:
    """Outputs the model names as change, with probabilities and the heuristics that voted.

    An output is accepted when its probability reaches ``model.threshold`` and no other output
    of its transaction scores as high. Its rule is ``change-model:<voters>`` — the heuristics
    naming it as their single candidate (``change-model:-`` when none did).

    >>> from chainsleuth.heuristics.view import ChainView
    >>> v = ChainView.from_columns(
    ...     tx_id=[0, 1], height=[1, 2], version=[2, 2], locktime=[0, 1],
    ...     is_coinbase=[True, False], n_in=[1, 3], n_out=[1, 2], in_addr=[-1, 0, 0, 0],
    ...     in_value=[0, 5, 5, 5], in_type=[-1, 2, 2, 2], in_sequence=[0, 0, 0, 0],
    ...     in_prev_out=[-1, 0, 0, 0], out_value=[50_000, 30_000, 19_123], out_addr=[0, 1, 2],
    ...     out_type=[2, 4, 2], out_spent_by=[1, -1, -1])
    >>> links = model_change(ChangeContext.of(v), ChangeModel.from_dict(_TOY))
    >>> links.out.tolist(), links.rules, links.probability.tolist()
    ([], [], [])
    """
    sig = signals if signals is not None else signals_of(ctx)
    feats = change_features(ctx, sig)
    p = model.probability(feats.select(list(model.features)))
    view = ctx.view
    best = np.full(view.n_tx, -1.0)
    np.maximum.at(best, feats.tx, p)
    top = (p >= model.threshold) & (p == best[feats.tx])
    n_top = np.bincount(feats.tx[top], minlength=view.n_tx)
    keep = top & (n_top[feats.tx] == 1)
    out = feats.out[keep]
    tx = feats.tx[keep]
    names = sorted(sig)
    voters = np.zeros(len(out), dtype=np.int64)
    for bit, name in enumerate(names):
        voters |= (sig[name].candidate[tx] == out).astype(np.int64) << bit
    masks, which = np.unique(voters, return_inverse=True)
    texts = [
        f"{CHANGE_MODEL}:" + ("+".join(n for b, n in enumerate(names) if int(m) >> b & 1) or "-")
        for m in masks
    ]
    rules = [texts[i] for i in which.tolist()]
    return ChangeLinks(tx, out, rules, p[keep].astype(np.float32))
