"""Scale chains are owner-coherent: the co-spend heuristic merges only one wallet's addresses."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from chainsleuth.simulate.scalechain import ScaleChainReport, generate_scale_chain
from chainsleuth.simulate.scalechain_kernels import write_script

N_TXS = 30_000
PER_BLOCK = 500


@dataclass
class Clustered:
    report: ScaleChainReport
    owner: np.ndarray  # owner wallet of each dataset addr_id (-1: none)
    script_type: np.ndarray  # script type code of each dataset addr_id
    clusters: dict[str, np.ndarray]  # run name -> cluster id of each dataset addr_id


def _generator_ids(report: ScaleChainReport) -> dict[bytes, int]:
    """scriptPubKey -> generator address id, for every id the report has an owner for."""
    assert report.owners is not None
    buf = np.zeros(64, np.uint8)
    ids = {}
    for addr in np.flatnonzero(report.owners):
        end = write_script(buf, 0, int(addr))
        ids[bytes(buf[1:end])] = int(addr)
    return ids


@pytest.fixture(scope="module")
def clustered(tmp_path_factory: pytest.TempPathFactory) -> Clustered:
    from chainsleuth.cluster.run import cluster_dataset
    from chainsleuth.cluster.runs import load_address_cluster
    from chainsleuth.ingest import ingest_blocks
    from chainsleuth.store.dataset import Dataset

    out = tmp_path_factory.mktemp("owners")
    report = generate_scale_chain(out, N_TXS, seed=7, txs_per_block=PER_BLOCK, track_owners=True)
    ingest_blocks(report.blocks_dir, out / "ds", "regtest")
    ds = Dataset.open(out / "ds")
    rows = ds.sql(
        "select addr_id, any_value(script) from outputs where addr_id is not null group by 1"
    ).fetchall()
    type_names = sorted(
        {t for (t,) in ds.sql("select distinct script_type from outputs").fetchall()}
    )
    script_type = np.full(max(a for a, _ in rows) + 1, -1, np.int64)
    for addr_id, name in ds.sql(
        "select addr_id, any_value(script_type) from outputs where addr_id is not null group by 1"
    ).fetchall():
        script_type[addr_id] = type_names.index(name)
    by_script = _generator_ids(report)
    assert report.owners is not None
    owner = np.full(max(a for a, _ in rows) + 1, -1, np.int64)
    unknown = []
    for addr_id, script in rows:
        if bytes(script) in by_script:
            owner[addr_id] = report.owners[by_script[bytes(script)]]
        else:
            unknown.append(bytes(script))
    assert [len(s) for s in unknown] == [67]  # only the genesis output's key is not the generator's
    clusters = {}
    for heuristics in ("multi-input", "default"):
        cluster_dataset(ds, heuristics)
        clusters[heuristics] = np.asarray(load_address_cluster(ds, heuristics))
    return Clustered(report, owner, script_type, clusters)


def _owners_per_cluster(c: Clustered, run: str) -> tuple[int, int, float, float]:
    """(clusters, clusters with addresses of more than one owner, purity: the share of addresses
    whose owner is their cluster's most common one, the largest cluster's share of addresses)."""
    used = np.flatnonzero(c.owner >= 0)
    cl, own = c.clusters[run][used], c.owner[used]
    pairs, counts = np.unique(np.stack([cl, own]), axis=1, return_counts=True)
    per_cluster = Counter(pairs[0].tolist())
    mixed = sum(n > 1 for n in per_cluster.values())
    majority = np.zeros(cl.max() + 1, np.int64)
    np.maximum.at(majority, pairs[0], counts)
    return len(per_cluster), mixed, majority.sum() / used.size, np.bincount(cl).max() / used.size


def test_every_dataset_address_maps_to_a_generator_owner(clustered: Clustered) -> None:
    report = clustered.report
    assert report.owners is not None
    used = clustered.owner >= 0
    assert used.sum() == report.n_addresses - 1  # every address but the genesis block's
    assert (clustered.owner[used] > 0).all()
    assert report.n_wallets > 1000  # many owners, not a handful


def test_a_wallet_uses_one_script_type(clustered: Clustered) -> None:
    types = clustered.script_type
    used = clustered.owner >= 0
    pairs = np.unique(np.stack([clustered.owner[used], types[used]]), axis=1)
    assert pairs.shape[1] == np.unique(clustered.owner[used]).size
    assert np.unique(pairs[1]).size == 6  # all six types occur


def test_co_spend_clusters_hold_one_owner_each(clustered: Clustered) -> None:
    n_clusters, mixed, purity, largest = _owners_per_cluster(clustered, "multi-input")
    assert mixed == 0 and purity == 1.0  # all inputs of a transaction belong to one wallet
    assert n_clusters > 0.05 * clustered.report.n_addresses  # it merges a lot, not everything
    assert largest < 0.05  # no giant cluster: the largest is one exchange


def test_default_heuristics_stay_nearly_pure(clustered: Clustered) -> None:
    # change heuristics guess wrong now and then (the change of a wallet has its script type,
    # so the script-type rule mostly holds); the clusters stay small and mostly pure
    _, _, purity, largest = _owners_per_cluster(clustered, "default")
    assert purity > 0.9 and largest < 0.05


def test_owners_are_deterministic_and_off_by_default(tmp_path: Path) -> None:
    a = generate_scale_chain(tmp_path / "a", 2000, seed=2, txs_per_block=100, track_owners=True)
    b = generate_scale_chain(tmp_path / "b", 2000, seed=2, txs_per_block=100)
    assert b.owners is None and a.owners is not None
    assert (a.owners[1:81] == np.arange(1, 81)).all()  # exchanges and mining pools
    fresh = a.owners[81:]
    assert (fresh > 80).any() and (fresh > 0).mean() > 0.75  # fresh ids are dense
    assert (a.blocks_dir / "blk00000.dat").read_bytes() == (
        b.blocks_dir / "blk00000.dat"
    ).read_bytes()  # tracking owners does not change the chain
