"""The learned change classifier: features, model files, precision on real Core wallets, CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chainsleuth.errors import InputError
from chainsleuth.heuristics.change import ChangeContext
from chainsleuth.heuristics.changefeatures import FEATURES, change_features
from chainsleuth.heuristics.changemodel import (
    ChangeModel,
    load_change_model,
    model_change,
)
from chainsleuth.heuristics.changetrain import (
    default_features,
    self_revealed_labels,
    train_change_model,
)
from chainsleuth.heuristics.view import ChainView


def _view() -> ChainView:
    # tx0 coinbase → addr0; tx1 spends it into a payment (addr1, round) and change (addr2);
    # tx2 co-spends the change with addr0 (the sender's), so the change is self-revealed.
    return ChainView.from_columns(
        tx_id=[0, 1, 2], height=[1, 2, 3], version=[2, 2, 1], locktime=[0, 1, 0],
        is_coinbase=[True, False, False], n_in=[1, 1, 2], n_out=[1, 2, 1],
        in_addr=[-1, 0, 2, 0], in_value=[0, 50_000, 19_123, 7], in_type=[-1, 2, 2, 0],
        in_sequence=[0, 0xFFFFFFFD, 0xFFFFFFFF, 0xFFFFFFFF], in_prev_out=[-1, 0, 2, -1],
        out_value=[50_000, 30_000, 19_123, 19_000], out_addr=[0, 1, 2, 4],
        out_type=[2, 4, 2, 2], out_spent_by=[1, -1, 2, -1],
    )  # fmt: skip


def test_features_on_a_hand_built_chain() -> None:
    f = change_features(ChangeContext.of(_view()))
    assert f.names == FEATURES and f.matrix.dtype == np.float32
    assert f.out.tolist() == [1, 2] and f.tx.tolist() == [1, 1]
    col = {name: f.column(name).tolist() for name in FEATURES}
    assert col["type_in_inputs"] == [0.0, 1.0]
    assert col["cand:script_type"] == [0.0, 1.0]
    assert col["spent"] == [0.0, 1.0]
    # the change's spender (version 1, locktime 0, no RBF) differs on every fingerprint part
    assert col["spend_same_version"] == [-1.0, 0.0]
    assert col["spend_same_rbf"] == [-1.0, 0.0]
    assert col["spender_n_in"] == [-1.0, 2.0]
    assert col["trailing_zeros"] == [4.0, 0.0]
    assert col["significant_digits"] == [1.0, 5.0]
    assert col["is_largest"] == [1.0, 0.0]
    assert col["same_cospend"] == [0.0, 1.0]
    assert col["n_in"] == [1.0, 1.0] and col["n_out"] == [2.0, 2.0]
    labels = self_revealed_labels(ChangeContext.of(_view()), f)
    assert labels.tolist() == [0, 1]


def test_model_file_round_trip(tmp_path: Path) -> None:
    model = load_change_model()
    path = tmp_path / "m.json"
    model.save(path)
    again = load_change_model(path)
    assert again.to_dict() == model.to_dict()
    assert set(model.features) <= set(default_features())
    x = change_features(ChangeContext.of(_view())).select(list(model.features))
    assert np.array_equal(again.probability(x), model.probability(x))


@pytest.mark.parametrize(
    "content",
    ["not json", '{"format": "other"}', '{"format": "chainsleuth-change-model/1"}', "[1, 2]"],
)
def test_bad_model_file_is_an_input_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InputError, match=r"bad\.json"):
        load_change_model(path)
    with pytest.raises(InputError, match="not found"):
        load_change_model(tmp_path / "missing.json")


def test_training_recovers_a_planted_rule() -> None:
    f = change_features(ChangeContext.of(_view()))
    rng = np.random.default_rng(1)
    n = 400
    matrix = rng.random((n, len(FEATURES))).astype(np.float32)
    fresh = FEATURES.index("cand:fresh_address")
    matrix[:, fresh] = rng.random(n) < 0.5
    planted = dataclasses.replace(
        f, matrix=matrix, out=np.arange(n, dtype=np.int64), tx=np.arange(n, dtype=np.int64)
    )
    labels = matrix[:, fresh].astype(np.int8)
    model, report = train_change_model(planted, labels, n_trees=10, max_fpr=0.01)
    assert report.heldout_fpr <= 0.01 and report.heldout_recall > 0.9
    assert model.trained["labels"] == "self-revealed" and "sklearn" in model.trained
    p = model.probability(planted.select(list(model.features)))
    assert np.all((p >= model.threshold) == (labels == 1))
    with pytest.raises(InputError, match="too few"):
        train_change_model(planted, np.full(n, -1, dtype=np.int8))


@pytest.fixture(scope="module")
def regtest_change(regtest_dataset: Path, regtest_truth: Path) -> dict[str, Any]:
    from chainsleuth.cluster.evaluate import true_change, truth_wallets
    from chainsleuth.heuristics.coinjoin import detect_coinjoins
    from chainsleuth.store.chainview import load_chain_view
    from chainsleuth.store.dataset import Dataset

    with Dataset.open(regtest_dataset) as ds:
        view = load_chain_view(ds)
        wallet, _ = truth_wallets(ds, regtest_truth)
    ctx = ChangeContext.of(view, detect_coinjoins(view).mask)
    return {"ctx": ctx, "truth": true_change(view, wallet)}


def test_shipped_model_precision_on_real_core_wallets(regtest_change: dict[str, Any]) -> None:
    links = model_change(regtest_change["ctx"], load_change_model())
    truth = regtest_change["truth"]
    # measured: 1,697 outputs named, precision 0.9994, recall 0.53 of the eligible change
    assert len(links.out) > 1500
    assert truth[links.out].mean() >= 0.999
    assert links.probability is not None and np.all(links.probability >= 0.999)
    assert all(r.startswith("change-model:") for r in links.rules)
    # at most one change output per transaction
    assert len(np.unique(links.tx)) == len(links.tx)


def test_cluster_train_cli_writes_a_usable_model(
    regtest_dataset: Path, tmp_path: Path, cli_run: Any
) -> None:
    out = tmp_path / "model.json"
    code, stdout, _ = cli_run(
        "cluster", "train", "--data", str(regtest_dataset), "--out", str(out), "--json"
    )
    assert code == 0, stdout
    report = json.loads(stdout)
    assert report["labels"] == "self-revealed" and report["positives"] >= 20
    model = load_change_model(out)
    assert isinstance(model, ChangeModel) and model.trained["labels"] == "self-revealed"
    code, stdout, err = cli_run(
        "cluster", "--data", str(regtest_dataset), "--heuristics", "multi-input",
        "--change-model", str(out), "--name", "t-trained", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(stdout)["name"] == "t-trained"


def test_bad_model_file_exits_2_with_one_line(
    regtest_dataset: Path, tmp_path: Path, cli_run: Any
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "pickle"}')
    code, _, err = cli_run(
        "cluster", "--data", str(regtest_dataset), "--change-model", str(bad), "--name", "t-bad"
    )
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "not a change model" in err
