"""Out-of-core cluster and member summaries: equal to ``cluster_stats`` / ``member_stats``.

On the real-Core regtest chain (``default`` and ``multi-input`` runs, with a roomy and with the
smallest budget) and on hand-made chains small enough to check by hand.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chainsleuth.budget import MemoryBudget
from chainsleuth.cluster.run import cluster_dataset
from chainsleuth.cluster.stats import cluster_stats, member_stats
from chainsleuth.errors import InputError
from chainsleuth.heuristics.view import ChainView
from chainsleuth.store.chainview import load_chain_view
from chainsleuth.store.clusterstats import CLUSTERS_SCHEMA, MEMBERS_SCHEMA, write_cluster_stats
from chainsleuth.store.dataset import Dataset

RUNS = ("default", "multi-input")
TINY = MemoryBudget(64 << 20, "option")


@pytest.fixture(scope="module")
def clustered(
    regtest_dataset: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Dataset, ChainView]]:
    """A copy of the regtest dataset with ``default`` and ``multi-input`` runs, and its view."""
    path = tmp_path_factory.mktemp("clusterstats") / "dataset"
    shutil.copytree(regtest_dataset, path, ignore=shutil.ignore_patterns("derived"))
    ds = Dataset.open(path)
    for run in RUNS:
        cluster_dataset(ds, run)
    yield ds, load_chain_view(ds)
    ds.close()


def labels_of(ds: Dataset, run: str) -> tuple[Path, np.ndarray]:
    source = ds.path / "derived" / "clusters" / run / "address_cluster.parquet"
    table = pq.read_table(source)
    assert table.column("addr_id").to_pylist() == list(range(table.num_rows))
    return source, table.column("cluster_id").to_numpy()


def written(ds: Any, source: Path, out: Path, **kwargs: Any) -> tuple[int, pa.Table, pa.Table]:
    out.mkdir(parents=True, exist_ok=True)
    n = write_cluster_stats(ds, source, out / "clusters.parquet", out / "members.parquet", **kwargs)
    assert sorted(p.name for p in out.iterdir()) == ["clusters.parquet", "members.parquet"]
    return n, pq.read_table(out / "clusters.parquet"), pq.read_table(out / "members.parquet")


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("budget", [None, MemoryBudget(4 << 30, "option"), TINY])
def test_regtest_equals_in_memory_stats(
    clustered: tuple[Dataset, ChainView], run: str, budget: MemoryBudget | None, tmp_path: Path
) -> None:
    ds, view = clustered
    source, cluster = labels_of(ds, run)
    want_clusters = pa.table(cluster_stats(view, cluster))
    want_members = member_stats(view, cluster)
    n, clusters, members = written(ds, source, tmp_path, budget=budget)
    assert n == clusters.num_rows == len(np.unique(cluster))
    assert clusters.schema.equals(CLUSTERS_SCHEMA) and members.schema.equals(MEMBERS_SCHEMA)
    assert clusters.equals(want_clusters)
    assert members.equals(want_members)
    # and byte-for-byte the values the run itself wrote
    run_dir = source.parent
    assert clusters.equals(pq.read_table(run_dir / "clusters.parquet"))
    assert members.equals(pq.read_table(run_dir / "members.parquet"))
    # the regtest chain is far from the 2**53 satoshi where float sums start to round
    assert int(clusters.column("total_received").to_numpy().max()) < 2**53


def test_budget_is_applied_then_restored(
    clustered: tuple[Dataset, ChainView], tmp_path: Path
) -> None:
    ds, view = clustered
    source, _cluster = labels_of(ds, "default")
    setting = "SELECT current_setting('memory_limit')"
    before = ds.sql(setting).fetchall()
    seen: list[tuple[str, Any]] = []

    def progress(msg: str) -> None:
        seen.append((msg, ds.sql(setting).fetchall()[0][0]))

    written(ds, source, tmp_path, budget=TINY, progress=progress)
    # 64 MiB budget, half of it for DuckDB
    assert len(seen) == 4 and {limit for _msg, limit in seen} == {"32.0 MiB"}
    assert ds.sql(setting).fetchall() == before
    assert (ds.path / "_tmp" / "duckdb").is_dir()
    # the shared connection is left with no pending result
    assert ds.sql("SELECT count(*) FROM txs").fetchall() == [(view.n_tx,)]


def test_row_groups_match_the_runs_files(
    clustered: tuple[Dataset, ChainView], tmp_path: Path
) -> None:
    ds, _view = clustered
    source, _cluster = labels_of(ds, "multi-input")
    written(ds, source, tmp_path)
    for name in ("clusters.parquet", "members.parquet"):
        ours = pq.ParquetFile(tmp_path / name).metadata
        theirs = pq.ParquetFile(source.parent / name).metadata
        assert ours.num_rows == theirs.num_rows
        assert all(ours.row_group(i).num_rows <= 1 << 17 for i in range(ours.num_row_groups))


# -- hand-made chains -------------------------------------------------------------------------


@dataclass
class MiniDataset:
    """What write_cluster_stats touches of a Dataset: ``path``, ``con`` with the ``outputs``
    and ``inputs`` tables, and a manifest listing no parts (so those tables are read)."""

    path: Path
    con: duckdb.DuckDBPyConnection
    manifest: Any = field(default_factory=lambda: SimpleNamespace(files={}))


def small_view(out_value: list[int] | None = None) -> ChainView:
    """Five addresses over four transactions at heights 10..13 (as in tests/cluster/test_stats).

    tx0 coinbase pays 50 to a0; tx1 spends it: 30 to a1, 19 to a0; tx2 spends a1 (30): 10 to
    a2, 20 to a3; tx3 spends a0 (19) and a2 (10): 29 to a4 plus an output without an address.
    """
    return ChainView.from_columns(
        tx_id=[0, 1, 2, 3],
        height=[10, 11, 12, 13],
        version=[1, 2, 2, 2],
        locktime=[0, 0, 0, 0],
        is_coinbase=[True, False, False, False],
        n_in=[1, 1, 1, 2],
        n_out=[1, 2, 2, 2],
        in_addr=[-1, 0, 1, 0, 2],
        in_value=[0, 50, 30, 19, 10],
        in_type=[-1, 2, 2, 2, 2],
        in_sequence=[0, 0, 0, 0, 0],
        in_prev_out=[-1, 0, 1, 2, 3],
        out_value=out_value or [50, 30, 19, 10, 20, 29, 0],
        out_addr=[0, 1, 0, 2, 3, 4, -1],
        out_type=[2, 2, 2, 2, 2, 2, 7],
        out_spent_by=[1, 2, 3, 3, -1, -1, -1],
    )


def mini_dataset(view: ChainView, path: Path) -> MiniDataset:
    """The view's outputs and inputs as DuckDB tables (NULL addr_id where the view has -1).

    Rows are stored in reverse order: the result must not depend on storage order.
    """
    con = duckdb.connect()
    for name, tx, addr, value in (
        ("outputs", view.out_tx, view.out_addr, view.out_value),
        ("inputs", view.in_tx, view.in_addr, view.in_value),
    ):
        table = pa.table(
            {
                "tx_id": pa.array(view.tx_id[tx][::-1], pa.int64()),
                "value": pa.array(value[::-1], pa.int64()),
                "addr_id": pa.array(addr[::-1], pa.int64(), mask=addr[::-1] < 0),
                "height": pa.array(view.height[tx][::-1], pa.int32()),
            }
        )
        con.register("_src", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM _src").fetchall()
        con.unregister("_src")
    path.mkdir(parents=True, exist_ok=True)
    return MiniDataset(path, con)


def labels_file(labels: list[int], path: Path) -> Path:
    pq.write_table(
        pa.table(
            {
                "addr_id": pa.array(range(len(labels)), pa.int64()),
                "cluster_id": pa.array(labels, pa.int64()),
            }
        ),
        path,
    )
    return path


def test_small_chain_by_hand(tmp_path: Path) -> None:
    ds = mini_dataset(small_view(), tmp_path / "ds")
    # clusters: {a0, a2} -> 0, {a1} -> 1, {a3, a4} -> 3
    source = labels_file([0, 1, 0, 3, 3], tmp_path / "ac.parquet")
    n, clusters, members = written(ds, source, tmp_path / "out")
    assert n == 3
    assert clusters.to_pydict() == {
        "cluster_id": [0, 1, 3],
        "size": [2, 1, 2],
        "first_height": [10, 11, 12],
        "last_height": [13, 12, 13],
        # cluster 0: tx0, tx1, tx2 (pays a2), tx3 (spends a0 and a2: once); 1: tx1, tx2
        "n_txs": [4, 2, 2],
        "total_received": [79, 30, 49],
        "total_sent": [79, 30, 0],
        "balance": [0, 0, 49],
    }
    assert members.to_pydict() == {
        "cluster_id": [0, 0, 1, 3, 3],
        "addr_id": [0, 2, 1, 4, 3],
        "received": [69, 10, 30, 29, 20],
        "sent": [69, 10, 30, 0, 0],
        "n_outputs": [2, 1, 1, 1, 1],
    }


@pytest.mark.parametrize(
    "labels",
    [
        [0, 1, 2, 3, 4],
        [0, 0, 0, 0, 0],
        [4, 4, 4, 4, 4],
        [7, -2, 7, 40, 40],  # any int64 labels, not only min addr_ids
        [0, 1, 2, 3, 4, 5],  # a5 never appears: heights -1, no transactions
        [3, 3, 6, 6, 3, 6, 3],  # a5, a6 never appear, in clusters that do
    ],
)
def test_small_chain_equals_in_memory_stats(labels: list[int], tmp_path: Path) -> None:
    view = small_view()
    ds = mini_dataset(view, tmp_path / "ds")
    source = labels_file(labels, tmp_path / "ac.parquet")
    _n, clusters, members = written(ds, source, tmp_path / "out", budget=TINY)
    cluster = np.array(labels, dtype=np.int64)
    assert clusters.equals(pa.table(cluster_stats(view, cluster)))
    assert members.equals(member_stats(view, cluster))


def test_never_seen_cluster(tmp_path: Path) -> None:
    ds = mini_dataset(small_view(), tmp_path / "ds")
    source = labels_file([0, 1, 2, 3, 4, 5], tmp_path / "ac.parquet")
    _n, clusters, members = written(ds, source, tmp_path / "out")
    last = {k: v[-1] for k, v in clusters.to_pydict().items()}
    assert last == {
        "cluster_id": 5,
        "size": 1,
        "first_height": -1,
        "last_height": -1,
        "n_txs": 0,
        "total_received": 0,
        "total_sent": 0,
        "balance": 0,
    }
    assert members.slice(5).to_pylist() == [
        {"cluster_id": 5, "addr_id": 5, "received": 0, "sent": 0, "n_outputs": 0}
    ]


def test_empty_chain(tmp_path: Path) -> None:
    view = small_view()
    ds = mini_dataset(view, tmp_path / "ds")
    ds.con.execute("DELETE FROM outputs").fetchall()
    ds.con.execute("DELETE FROM inputs").fetchall()
    source = labels_file([], tmp_path / "ac.parquet")
    n, clusters, members = written(ds, source, tmp_path / "out")
    assert n == 0 and clusters.num_rows == 0 and members.num_rows == 0
    assert clusters.schema.equals(CLUSTERS_SCHEMA) and members.schema.equals(MEMBERS_SCHEMA)


def test_sums_beyond_2_53_are_exact(tmp_path: Path) -> None:
    # a0 receives 2**53 then 1 then 1 (tx0, tx1): float64 sums round each 2**53 + 1 down
    big = 2**53
    view = small_view([big, 30, 1, 10, 20, 29, 0])
    ds = mini_dataset(view, tmp_path / "ds")
    source = labels_file([0, 0, 0, 0, 0], tmp_path / "ac.parquet")
    _n, clusters, members = written(ds, source, tmp_path / "out")
    exact = big + 30 + 1 + 10 + 20 + 29
    assert clusters.column("total_received").to_pylist() == [exact]
    assert members.column("received").to_pylist()[0] == big + 1
    # cluster_stats adds the cluster's amounts as float64: off by the rounding
    assert cluster_stats(view, np.zeros(5, dtype=np.int64))["total_received"][0] != exact


def test_address_beyond_the_labels_is_an_error(tmp_path: Path) -> None:
    ds = mini_dataset(small_view(), tmp_path / "ds")
    source = labels_file([0, 1, 2], tmp_path / "ac.parquet")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(IndexError, match="addr_id 4 out of range for 3 addresses"):
        write_cluster_stats(ds, source, out / "c.parquet", out / "m.parquet")
    assert list(out.iterdir()) == []
    assert list((ds.path / "_tmp").iterdir()) == []  # no scratch files left


def test_labels_must_be_dense(tmp_path: Path) -> None:
    ds = mini_dataset(small_view(), tmp_path / "ds")
    source = tmp_path / "ac.parquet"
    pq.write_table(pa.table({"addr_id": [0, 1, 3], "cluster_id": [0, 0, 0]}), source)
    with pytest.raises(InputError, match="one labelled row per addr_id"):
        write_cluster_stats(ds, source, tmp_path / "c.parquet", tmp_path / "m.parquet")
    pq.write_table(
        pa.table({"addr_id": [0, 1], "cluster_id": pa.array([0, None], pa.int64())}), source
    )
    with pytest.raises(InputError, match="1 without a cluster"):
        write_cluster_stats(ds, source, tmp_path / "c.parquet", tmp_path / "m.parquet")
    # ids 0, 0, 2 (three rows, 0..2) pass the first check: caught after the sums
    pq.write_table(pa.table({"addr_id": [0, 0, 2], "cluster_id": [0, 0, 0]}), source)
    with pytest.raises(InputError, match="1 addr_ids appear more than once"):
        write_cluster_stats(ds, source, tmp_path / "c.parquet", tmp_path / "m.parquet")
    assert not (tmp_path / "c.parquet").exists() and not (tmp_path / "m.parquet").exists()


def test_sums_too_big_for_ram_and_page_cache_take_duckdb(
    clustered: tuple[Dataset, ChainView], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Arrays beyond the budget share whose mapped rest the page cache cannot hold (here: no
    room at all) go to DuckDB's spilling statements, with the same rows; with room, the
    streamed pass maps them."""
    import chainsleuth.store.clusterstats as cs

    ds, _view = clustered
    source, _labels = labels_of(ds, "default")
    calls: list[int] = []
    real = cs.address_sums

    def spy(*args: Any, **kwargs: Any) -> bool:
        calls.append(kwargs["ram_bytes"])
        return real(*args, **kwargs)

    monkeypatch.setattr(cs, "address_sums", spy)
    tiny = MemoryBudget(1 << 12, "option")  # share below the 48 B/address arrays
    monkeypatch.setattr(cs, "mappable_bytes", lambda: 0)
    _n, clusters_duck, members_duck = written(ds, source, tmp_path / "duck", budget=tiny)
    assert calls == []
    monkeypatch.setattr(cs, "mappable_bytes", lambda: 1 << 40)
    _n, clusters_map, members_map = written(ds, source, tmp_path / "mapped", budget=tiny)
    assert len(calls) == 1
    assert clusters_duck.equals(clusters_map) and members_duck.equals(members_map)
