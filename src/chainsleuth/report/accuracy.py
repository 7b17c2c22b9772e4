"""The method's measured error rates: what the report prints next to the findings.

The figures are not typed in. :func:`measure_accuracy` runs the project's own evaluations
(``eval clustering`` and ``eval investigation``) on the real-Bitcoin-Core-wallet test chain
``regtest-core-a`` (``tests/data/regtest-core-a``: blocks, ground truth, exchange tag packs):
it imports the exchange tag packs, clusters the chain with ``multi-input`` and with ``default``
(tags guarding), investigates the service from one test-purchase deposit address, and scores
both against the truth. ``scripts/measure_accuracy.py`` writes the result to the package data
file ``report/data/accuracy.json`` that :func:`load_accuracy` reads, and
``tests/report/test_accuracy.py`` checks that a fresh measurement reproduces the shipped file.

>>> acc = load_accuracy()
>>> acc["chain"], sorted(acc["clustering"])
('regtest-core-a', ['default', 'multi-input'])
>>> 0 < acc["clustering"]["default"]["precision"] <= 1
True
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

__all__ = [
    "ACCURACY_FILE",
    "MEASURE_SEED",
    "TAG_PACKS",
    "load_accuracy",
    "measure_accuracy",
]

ACCURACY_FILE = "accuracy.json"
# one deposit address of the regtest-core-a service, as a test purchase would reveal
MEASURE_SEED = "bcrt1qmly6wxw3mvegvr0z7c3c8h0rp3lgvvmy2kyeh8"
TAG_PACKS = ("exchange-1-deposits.yaml", "exchange-2-deposits.yaml")
_DIGITS = 6
_INVESTIGATION_KEYS = (
    "payment_recall",
    "payment_precision",
    "customer_recall",
    "customer_precision",
    "false_merges",
    "false_group_merges",
    "funding_exchange_correct",
    "funding_correct_per_payment",
    "income_error",
    "n_true_payments",
    "n_true_customers",
    "groups_per_customer_mean",
)


def load_accuracy(path: Path | None = None) -> dict[str, Any]:
    """The recorded measurement (default: the shipped ``report/data/accuracy.json``).

    >>> load_accuracy()["investigation"]["false_group_merges"]
    0
    """
    if path is None:
        path = Path(str(resources.files("chainsleuth") / "report" / "data" / ACCURACY_FILE))
    doc: dict[str, Any] = json.loads(Path(path).read_text())
    return doc


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), _DIGITS)


def measure_accuracy(ds: Dataset, truth: Path, packs: Path, workdir: Path) -> dict[str, Any]:
    """Measure the heuristics and the investigation on a freshly ingested chain.

    ``ds`` is an open dataset without tags or clustering runs (the regtest-core-a chain),
    ``truth`` its ground-truth folder, ``packs`` the folder holding :data:`TAG_PACKS`;
    the case is written to ``workdir/case``. Floats are rounded to 6 digits.

    >>> doc = load_accuracy()  # what measure_accuracy wrote (scripts/measure_accuracy.py)
    >>> sorted(doc)
    ['chain', 'change', 'clustering', 'command', 'dataset', 'investigation']
    """
    from chainsleuth.cluster.evaluate import evaluate_clustering
    from chainsleuth.cluster.run import cluster_dataset
    from chainsleuth.investigate.evaluate import evaluate_investigation
    from chainsleuth.investigate.service import investigate_service
    from chainsleuth.tags.guard import DEFAULT_MIN_CONFIDENCE, actor_table
    from chainsleuth.tags.store import import_tag_files

    import_tag_files(ds, [packs / p for p in TAG_PACKS])
    actors = actor_table(ds, DEFAULT_MIN_CONFIDENCE)
    clustering: dict[str, Any] = {}
    change: dict[str, Any] = {}
    for heuristics in ("multi-input", "default"):
        cluster_dataset(ds, heuristics, heuristics, actors=actors, force=True)
        rep = evaluate_clustering(ds, truth, heuristics, with_change=heuristics == "default")
        pw = rep["pairwise"]
        clustering[heuristics] = {
            "heuristics": list(rep["heuristics"]),
            "precision": _r(pw["precision"]),
            "recall": _r(pw["recall"]),
            "false_merges": int(rep["false_merges"]["count"]),
            "addresses_scored": int(rep["addresses_scored"]),
            "wallets": int(rep["wallets"]),
        }
        for name, score in rep.get("change", {}).items():
            change[name] = {
                "candidates": int(score["candidates"]),
                "correct": int(score["correct"]),
                "precision": _r(score["precision"]),
                "recall": _r(score["recall"]),
            }
    case = workdir / "case"
    investigate_service(ds, [MEASURE_SEED], case, run="default")
    score = evaluate_investigation(case, truth, ds.path).as_dict()
    investigation = {
        k: _r(score[k]) if isinstance(score[k], float) else score[k] for k in _INVESTIGATION_KEYS
    }
    calibration = score.get("funding_calibration") or {}
    investigation["funding_by_hops"] = {
        str(h): {"leads": int(n), "correct": _r(share)} for h, (n, share) in calibration.items()
    }
    return {
        "chain": "regtest-core-a",
        "dataset": {
            "network": ds.network.name,
            "tip_height": ds.tip_height,
            "tip_hash": ds.tip_hash,
        },
        "command": "python scripts/measure_accuracy.py",
        "clustering": clustering,
        "change": change,
        "investigation": investigation,
    }
