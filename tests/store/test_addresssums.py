"""The streamed per-address sums and per-cluster activity (store/addresssums.py) against the
in-memory engine's member and cluster statistics, in RAM and with every array memory-mapped."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chainsleuth.cluster.run import cluster_dataset
from chainsleuth.cluster.stats import cluster_stats, member_stats
from chainsleuth.heuristics.view import ChainView
from chainsleuth.store.addresssums import ACTIVITY_SCHEMA, ADDRESSES_SCHEMA, address_sums
from chainsleuth.store.chainview import load_chain_view
from chainsleuth.store.dataset import Dataset


@pytest.fixture(scope="module")
def clustered(
    regtest_dataset: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Dataset, ChainView]]:
    path = tmp_path_factory.mktemp("addresssums") / "dataset"
    shutil.copytree(regtest_dataset, path, ignore=shutil.ignore_patterns("derived"))
    ds = Dataset.open(path)
    cluster_dataset(ds, "default")
    yield ds, load_chain_view(ds)
    ds.close()


@pytest.mark.parametrize("ram_bytes", [1 << 30, 0])
def test_equals_the_in_memory_statistics(
    clustered: tuple[Dataset, ChainView], ram_bytes: int, tmp_path: Path
) -> None:
    ds, view = clustered
    source = ds.path / "derived" / "clusters" / "default" / "address_cluster.parquet"
    cluster = pq.read_table(source).column("cluster_id").to_numpy()
    a, b = tmp_path / "addresses.parquet", tmp_path / "activity.parquet"
    assert address_sums(ds, source, a, b, ram_bytes=ram_bytes)
    addresses, activity = pq.read_table(a), pq.read_table(b)
    assert addresses.schema.equals(ADDRESSES_SCHEMA) and activity.schema.equals(ACTIVITY_SCHEMA)

    want = member_stats(view, cluster).sort_by("addr_id")
    assert addresses.column("addr_id").to_pylist() == list(range(len(cluster)))
    for name in ("cluster_id", "received", "sent", "n_outputs"):
        assert addresses.column(name).to_pylist() == want.column(name).to_pylist(), name

    stats = pa.table(cluster_stats(view, cluster))
    seen = stats.filter(pa.array(np.asarray(stats.column("n_txs").to_numpy()) > 0))
    assert activity.column("cluster_id").to_pylist() == seen.column("cluster_id").to_pylist()
    for name in ("n_txs", "first_height", "last_height"):
        assert activity.column(name).to_pylist() == seen.column(name).to_pylist(), name
    # a transaction paying or spending several members of one cluster counts once
    assert int(activity.column("n_txs").to_numpy().sum()) < len(view.out_addr) + len(view.in_addr)
    assert not list((ds.path / "_tmp").glob("arrays-*"))
    assert not list(tmp_path.glob("*.tmp"))


def test_an_address_beyond_the_labels_is_an_index_error(
    clustered: tuple[Dataset, ChainView], tmp_path: Path
) -> None:
    ds, _view = clustered
    source = ds.path / "derived" / "clusters" / "default" / "address_cluster.parquet"
    short = tmp_path / "short.parquet"
    pq.write_table(pq.read_table(source).slice(0, 10), short)
    with pytest.raises(IndexError, match="out of range for 10 addresses"):
        address_sums(ds, short, tmp_path / "a.parquet", tmp_path / "b.parquet", ram_bytes=1 << 20)
    assert not (tmp_path / "a.parquet").exists()


def test_other_shapes_are_left_to_duckdb(
    clustered: tuple[Dataset, ChainView], tmp_path: Path
) -> None:
    """Labels that are not dense cluster ids, or a dataset without parts, return False and
    write nothing (clusterstats then runs its SQL, which names the fault)."""
    ds, _view = clustered
    source = ds.path / "derived" / "clusters" / "default" / "address_cluster.parquet"
    table = pq.read_table(source)
    n = table.num_rows
    sparse = tmp_path / "sparse.parquet"
    pq.write_table(table.set_column(1, "cluster_id", pa.array([n + 5] * n, pa.int64())), sparse)
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    assert not address_sums(ds, sparse, a, b, ram_bytes=1 << 20)
    no_parts = SimpleNamespace(path=ds.path, manifest=SimpleNamespace(files={}))
    assert not address_sums(no_parts, source, a, b, ram_bytes=1 << 20)  # type: ignore[arg-type]
    assert not a.exists() and not b.exists()
