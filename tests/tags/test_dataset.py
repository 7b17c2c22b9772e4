"""The tag store on the real ingested regtest dataset, through the library and the CLI."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chainsleuth.cluster.run import cluster_dataset
from chainsleuth.cluster.runs import load_address_cluster
from chainsleuth.store.dataset import Dataset
from chainsleuth.tags.attribution import cluster_labels, cluster_tags
from chainsleuth.tags.store import (
    address_actor_table,
    import_tag_files,
    labels_for_addresses,
    register_tags_view,
)

from .conftest import INVALID, PACKS, truth_rows

CliRun = Callable[..., tuple[int, str, str]]
ALL_PACKS = [
    PACKS / "exchange-1-deposits.yaml",
    PACKS / "exchange-2-deposits.yaml",
    PACKS / "service-purchases.yaml",
    PACKS / "miners.csv",
]


@pytest.fixture
def dataset_copy(regtest_dataset: Path, tmp_path: Path) -> Path:
    """A private copy of the session dataset, so tags written here stay out of other tests."""
    path = tmp_path / "dataset"
    shutil.copytree(regtest_dataset, path, ignore=shutil.ignore_patterns("derived"))
    return path


@pytest.fixture
def ds(dataset_copy: Path) -> Iterator[Dataset]:
    with Dataset.open(dataset_copy) as dataset:
        yield dataset


def test_actor_table_matches_truth(ds: Dataset) -> None:
    import_tag_files(ds, ALL_PACKS)
    owner = {r["address"]: r["wallet"] for r in truth_rows()}
    table = address_actor_table(ds).to_pylist()
    assert len(table) == 10 + 13 + 3 + 5
    expected = {
        "exchange-1": "exchange-1",
        "exchange-2": "exchange-2",
        "example-market": "service",
        "miner": "miner",
    }
    for row in table:
        assert owner[ds.address_of(row["addr_id"])] == expected[row["actor"]]
    addr = ds.addr_id("bcrt1q5308qu3ejczty83g4ghe2n23kzulh66wz4wnm2")
    assert [t.label for t in labels_for_addresses(ds, [addr])[addr]] == ["Solo Miner"]


def test_tags_view_joins_with_addresses(ds: Dataset) -> None:
    assert register_tags_view(ds) is False
    import_tag_files(ds, ALL_PACKS)
    assert register_tags_view(ds) is True
    rows = ds.sql(
        "SELECT t.actor, count(*) FROM tags t JOIN addresses a ON a.address = t.target "
        "GROUP BY t.actor ORDER BY t.actor"
    ).fetchall()
    assert rows == [("example-market", 3), ("exchange-1", 10), ("exchange-2", 13), ("miner", 5)]


def test_cli_import_export_round_trip(cli_run: CliRun, dataset_copy: Path, tmp_path: Path) -> None:
    data = str(dataset_copy)
    code, out, err = cli_run("tags", "import", *map(str, ALL_PACKS), "--data", data, "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["total"] == 32
    code, listed, _ = cli_run("tags", "list", "--data", data, "--json")
    original = json.loads(listed)
    assert code == 0 and len(original) == 32
    for fmt in ("tagpack", "csv"):
        out_file = tmp_path / f"export.{'yaml' if fmt == 'tagpack' else 'csv'}"
        code, _, _ = cli_run(
            "tags", "export", "--data", data, "--format", fmt, "--out", str(out_file)
        )
        assert code == 0
        code, stdout_text, _ = cli_run("tags", "export", "--data", data, "--format", fmt)
        assert stdout_text == out_file.read_text()
        code, out, _ = cli_run("tags", "import", str(out_file), "--data", data, "--json")
        assert code == 0 and json.loads(out)["total"] == 32
        assert json.loads(cli_run("tags", "list", "--data", data, "--json")[1]) == original


def test_cli_rejects_malformed_file(cli_run: CliRun, dataset_copy: Path) -> None:
    data = str(dataset_copy)
    bad = INVALID / "unknown-category.yaml"
    code, out, err = cli_run("tags", "import", str(PACKS / "miners.csv"), str(bad), "--data", data)
    assert code == 2 and out == ""
    assert err.startswith(f"error: {bad}:9: field 'category': unknown category 'bank' (valid: ")
    assert "Traceback" not in err
    assert not (dataset_copy / "derived" / "tags").exists()


def test_cli_search_and_list_filters(cli_run: CliRun, dataset_copy: Path) -> None:
    data = str(dataset_copy)
    assert cli_run("tags", "import", *map(str, ALL_PACKS), "--data", data)[0] == 0
    code, out, _ = cli_run("tags", "search", "test purchase", "--data", data, "--json")
    assert code == 0 and {t["actor"] for t in json.loads(out)} == {"example-market"}
    code, out, _ = cli_run("tags", "list", "--data", data, "--category", "miner", "--json")
    assert len(json.loads(out)) == 5
    code, out, _ = cli_run("tags", "list", "--data", data)
    assert code == 0 and "32 tags" in out


def _members_by_wallet(ds: Dataset, mapping: object) -> dict[str, Counter[int]]:
    """Per truth wallet: how many of its addresses each cluster holds."""
    addr_ids = dict(ds.sql("SELECT address, addr_id FROM addresses").fetchall())
    out: dict[str, Counter[int]] = {}
    for row in truth_rows():
        cluster = int(mapping[addr_ids[row["address"]]])  # type: ignore[index]
        out.setdefault(row["wallet"], Counter())[cluster] += 1
    return out


def test_cluster_labels_after_clustering(ds: Dataset, cli_run: CliRun) -> None:
    cluster_dataset(ds, "multi-input")
    import_tag_files(ds, ALL_PACKS)
    mapping = load_address_cluster(ds, "multi-input")
    by_wallet = _members_by_wallet(ds, mapping)
    labels = {r["cluster_id"]: r for r in cluster_labels(ds).to_pylist()}
    assert not any(r["conflict"] for r in labels.values())
    for wallet, label, n_tagged in (
        ("exchange-1", "Exchange One", 10),
        ("exchange-2", "Exchange Two", 13),
    ):
        main_cluster, size = by_wallet[wallet].most_common(1)[0]
        row = labels[main_cluster]
        assert (row["label"], row["actor"], row["category"]) == (label, wallet, "exchange")
        # the label reaches addresses nobody tagged: the whole cluster carries it
        assert size > 60 > row["n_tagged_addresses"]
        labelled = sum(n for c, n in by_wallet[wallet].items() if c in labels)
        assert labelled > 5 * n_tagged
    # precision: every address of a cluster labelled with an actor belongs to that actor
    owner_of_actor = {
        "exchange-1": "exchange-1",
        "exchange-2": "exchange-2",
        "example-market": "service",
        "miner": "miner",
    }
    for wallet, clusters in by_wallet.items():
        for cluster_id in clusters:
            if cluster_id in labels:
                assert owner_of_actor[labels[cluster_id]["actor"]] == wallet

    # a wrong tag (exchange-2's deposit address called exchange-1's) makes a conflict
    import_tag_files(ds, [PACKS / "misattributed.yaml"])
    ex2_cluster = by_wallet["exchange-2"].most_common(1)[0][0]
    conflicts = [r for r in cluster_labels(ds, "multi-input").to_pylist() if r["conflict"]]
    assert [(r["cluster_id"], r["actors"], r["label"]) for r in conflicts] == [
        (ex2_cluster, ["exchange-1", "exchange-2"], "Exchange Two")
    ]
    code, out, err = cli_run(
        "tags", "conflicts", "--data", str(ds.path), "--clustering", "multi-input", "--json"
    )
    assert (code, err) == (0, "")
    [reported] = json.loads(out)
    assert reported["cluster_id"] == ex2_cluster
    wrong = [t for t in reported["tags"] if t["actor"] == "exchange-1"]
    assert [t["address"] for t in wrong] == ["2Mvb7xDcGtwgRCZKn99EbX3QoRGw8pPE4Up"]
    code, out, _ = cli_run("tags", "conflicts", "--data", str(ds.path))
    assert (
        code == 0
        and "1 conflicting clusters" in out
        and "2Mvb7xDcGtwgRCZKn99EbX3QoRGw8pPE4Up" in out
    )
    code, out, _ = cli_run("tags", "clusters", "--data", str(ds.path), "--json")
    assert code == 0 and {r["cluster_id"] for r in json.loads(out)} == set(labels)
    members = cluster_tags(ds, ex2_cluster)
    assert {t.actor for t in members} == {"exchange-1", "exchange-2"}


def test_conflicts_without_clustering_run(cli_run: CliRun, dataset_copy: Path) -> None:
    code, _, err = cli_run("tags", "conflicts", "--data", str(dataset_copy))
    assert code == 2 and err.startswith("error: no clustering run in ")
