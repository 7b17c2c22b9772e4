"""``show`` profiles, annotated with the newest clustering run and imported tags."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

PACKS = Path(__file__).parents[1] / "data" / "tagpacks"


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory, regtest_dataset: Path) -> Path:
    from chainsleuth.cluster.run import cluster_dataset
    from chainsleuth.store.dataset import Dataset
    from chainsleuth.tags.store import import_tag_files

    path = tmp_path_factory.mktemp("show") / "ds"
    shutil.copytree(regtest_dataset, path, ignore=shutil.ignore_patterns("derived"))
    with Dataset.open(path) as ds:
        cluster_dataset(ds, "multi-input", "mi")
        import_tag_files(ds, [PACKS / "exchange-1-deposits.yaml", PACKS / "miners.csv"])
    return path


def _json(cli_run: Any, *args: str) -> dict[str, Any]:
    code, out, err = cli_run("show", *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_block_profile_matches_core(
    cli_run: Any, regtest_dataset: Path, core_blocks: list[Any]
) -> None:
    prof = _json(cli_run, "--data", str(regtest_dataset), "300")
    core = core_blocks[300]
    assert (prof["kind"], prof["hash"], prof["n_tx"], prof["weight"]) == (
        "block",
        core["hash"],
        core["nTx"],
        core["weight"],
    )
    assert prof["n_outputs"] == sum(len(tx["vout"]) for tx in core["tx"])


def test_tagged_address_shows_label_and_cluster(
    cli_run: Any, labelled: Path, regtest_truth: Path
) -> None:
    with open(regtest_truth / "addresses.csv") as fh:
        miner = next(r["address"] for r in csv.DictReader(fh) if r["wallet"] == "miner")
    prof = _json(cli_run, "--data", str(labelled), miner)
    assert prof["kind"] == "address" and prof["address"] == miner
    assert any(t["category"] == "miner" for t in prof["labels"])
    assert prof["cluster"]["run"] == "mi"
    code, out, _ = cli_run("show", "--data", str(labelled), miner)
    assert code == 0 and "label:" in out and "cluster" in out


def test_cluster_profile_carries_the_exchange_label(cli_run: Any, labelled: Path) -> None:
    from chainsleuth.store.dataset import Dataset
    from chainsleuth.tags.store import load_tags

    with Dataset.open(labelled) as ds:
        tagged = next(t.target for t in load_tags(ds) if t.actor == "exchange-1")
    addr = _json(cli_run, "--data", str(labelled), tagged)
    cid = addr["cluster"]["cluster_id"]
    prof = _json(cli_run, "--data", str(labelled), f"cluster:{cid}")
    assert prof["kind"] == "cluster" and prof["cluster_id"] == cid
    assert prof["size"] == addr["cluster"]["size"] >= 1
    assert "exchange" in prof["label"].lower() or "Exchange" in prof["label"]
    assert prof["conflict"] is False


def test_transaction_outputs_carry_clusters(
    cli_run: Any, labelled: Path, core_blocks: list[Any]
) -> None:
    tx = core_blocks[300]["tx"][1]
    prof = _json(cli_run, "--data", str(labelled), tx["txid"])
    assert [o["value"] for o in prof["outputs"]] == [
        round(v["value"] * 100_000_000) for v in tx["vout"]
    ]
    assert all("cluster_id" in o for o in prof["outputs"] if o["address"])


def test_cluster_without_a_run_is_a_user_error(
    cli_run: Any, regtest_dataset: Path, tmp_path: Path
) -> None:
    path = tmp_path / "ds"
    shutil.copytree(regtest_dataset, path, ignore=shutil.ignore_patterns("derived"))
    code, _, err = cli_run("show", "--data", str(path), "cluster:5")
    assert code == 2 and "no clustering run" in err
    code, _, err = cli_run("show", "--data", str(path), "cluster:abc")
    assert code == 2
