"""Cluster attribution on the regtest truth: labels spread to whole clusters from a fraction of
tagged addresses, and wrong tags or false merges show up as conflicts.

The clustering here is the ground truth itself (cluster = owning wallet, id = its smallest
addr_id, as the clustering contract defines); ``test_dataset.py`` repeats the checks on a real
clustering run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from chainsleuth.tags.attribution import conflicting_tags, label_clusters, tag_clusters
from chainsleuth.tags.store import import_tag_files

from .conftest import PACKS, MiniDataset, truth_rows

T0 = datetime(2025, 2, 1, tzinfo=UTC)
EXCHANGE_PACKS = [PACKS / "exchange-1-deposits.yaml", PACKS / "exchange-2-deposits.yaml"]


def truth_mapping(merge: tuple[str, ...] = ()) -> tuple[np.ndarray, dict[str, int]]:
    """cluster id by addr_id when every wallet is one cluster (``merge``: wallets fused)."""
    wallets = [r["wallet"] for r in truth_rows()]
    owner = ["+".join(merge) if w in merge else w for w in wallets]
    first: dict[str, int] = {}
    for addr_id, w in enumerate(owner):
        first.setdefault(w, addr_id)
    mapping = np.array([first[w] for w in owner], dtype=np.int64)
    return mapping, {w: first["+".join(merge) if w in merge else w] for w in wallets}


def _by_cluster(table: object) -> dict[int, dict[str, object]]:
    return {row["cluster_id"]: row for row in table.to_pylist()}  # type: ignore[attr-defined]


def test_exchange_clusters_carry_their_label(mini_ds: MiniDataset) -> None:
    import_tag_files(mini_ds, [*EXCHANGE_PACKS, PACKS / "service-purchases.yaml"], now=T0)
    mapping, cluster_of = truth_mapping()
    labels = _by_cluster(label_clusters(mini_ds, mapping))
    assert set(labels) == {
        cluster_of["exchange-1"],
        cluster_of["exchange-2"],
        cluster_of["service"],
    }
    ex1 = labels[cluster_of["exchange-1"]]
    assert (ex1["label"], ex1["actor"], ex1["category"], ex1["confidence"]) == (
        "Exchange One",
        "exchange-1",
        "exchange",
        90,
    )
    assert ex1["n_tagged_addresses"] == 10 and ex1["conflict"] is False
    ex2 = labels[cluster_of["exchange-2"]]
    assert (ex2["label"], ex2["actor"], ex2["confidence"], ex2["confidence_name"]) == (
        "Exchange Two",
        "exchange-2",
        100,
        "ownership",
    )
    assert ex2["n_tags"] == 13 and ex2["conflict"] is False
    service = labels[cluster_of["service"]]
    assert (service["label"], service["category"], service["n_sources"]) == (
        "Example Market",
        "market",
        3,
    )
    # every exchange address inherits its exchange's label through its cluster
    truth = truth_rows()
    for wallet, label in (("exchange-1", "Exchange One"), ("exchange-2", "Exchange Two")):
        members = [i for i, r in enumerate(truth) if r["wallet"] == wallet]
        assert len(members) > 200
        assert {labels[int(mapping[i])]["label"] for i in members} == {label}


def test_wrong_tag_is_a_conflict(mini_ds: MiniDataset) -> None:
    import_tag_files(mini_ds, [*EXCHANGE_PACKS, PACKS / "misattributed.yaml"], now=T0)
    mapping, cluster_of = truth_mapping()
    labels = _by_cluster(label_clusters(mini_ds, mapping))
    ex2 = labels[cluster_of["exchange-2"]]
    assert ex2["conflict"] is True
    assert ex2["actors"] == ["exchange-1", "exchange-2"]
    assert ex2["label"] == "Exchange Two"  # ownership (100) beats web_crawl (20)
    assert labels[cluster_of["exchange-1"]]["conflict"] is False
    details = conflicting_tags(mini_ds, mapping).to_pylist()
    assert {d["cluster_id"] for d in details} == {cluster_of["exchange-2"]}
    assert [d["pack"] for d in details if d["actor"] == "exchange-1"] == ["misattributed deposit"]
    assert len(details) == 14


def test_false_merge_of_two_exchanges_is_a_conflict(mini_ds: MiniDataset) -> None:
    import_tag_files(mini_ds, EXCHANGE_PACKS, now=T0)
    mapping, cluster_of = truth_mapping(merge=("exchange-1", "exchange-2"))
    labels = _by_cluster(label_clusters(mini_ds, mapping))
    [merged] = labels.values()
    assert merged["cluster_id"] == cluster_of["exchange-1"] == cluster_of["exchange-2"]
    assert merged["conflict"] is True
    assert merged["actors"] == ["exchange-1", "exchange-2"]
    assert merged["categories"] == ["exchange"]
    assert merged["n_tags"] == 23


def test_best_label_by_confidence_then_sources(mini_ds: MiniDataset, tmp_path: Path) -> None:
    rows = truth_rows()
    user = [r["address"] for r in rows if r["wallet"] == "user-001"][:3]
    csv_file = tmp_path / "notes.csv"
    csv_file.write_text(
        "target,label,actor,source,confidence\n"
        f"{user[0]},Alice,alice,chat log,forensic\n"
        f"{user[1]},Bob,bob,invoice,forensic\n"
        f"{user[2]},Bob,bob,receipt,forensic\n"
        f"{user[0]},Carol,carol,rumour,web_crawl\n"
    )
    import_tag_files(mini_ds, [csv_file], now=T0)
    mapping, _ = truth_mapping()
    [row] = label_clusters(mini_ds, mapping).to_pylist()
    assert (row["label"], row["n_sources"], row["confidence"], row["conflict"]) == (
        "Bob",
        2,
        50,
        True,
    )
    assert row["actors"] == ["alice", "bob", "carol"] and row["categories"] == []
    # a higher confidence wins over more sources
    csv_file.write_text(
        f"target,label,actor,source,confidence\n{user[0]},Alice,alice,seized server,ownership\n"
    )
    import_tag_files(mini_ds, [tmp_path / "notes.csv"], now=T0)
    [row] = label_clusters(mini_ds, mapping).to_pylist()
    assert (row["label"], row["confidence"], row["conflict"]) == ("Alice", 100, False)


def test_no_tags_and_uncovered_addresses(mini_ds: MiniDataset) -> None:
    mapping, _ = truth_mapping()
    assert label_clusters(mini_ds, mapping).num_rows == 0
    import_tag_files(mini_ds, EXCHANGE_PACKS, now=T0)
    # a clustering that covers only the first 100 addresses (an older tip) sees only their tags
    every = tag_clusters(mini_ds, mapping).column("addr_id").to_pylist()
    early = tag_clusters(mini_ds, mapping[:100]).column("addr_id").to_pylist()
    assert len(every) == 23 and 0 < len(early) < 23
    assert sorted(early) == sorted(a for a in every if a < 100)
    singletons = label_clusters(mini_ds, np.arange(mapping.shape[0]))
    assert singletons.num_rows == 23 and not any(singletons.column("conflict").to_pylist())
