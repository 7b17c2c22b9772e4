"""The on-disk flow graph: every array equal to the in-RAM reference (``FlowGraph.from_view``
over the whole chain view) at both levels, with tiny windows and budgets (many node ranges,
split ranges, checkpoints across chunk boundaries) and with the defaults; traces identical on
both graphs; reuse, rebuild and interrupted builds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from chainsleuth.budget import MemoryBudget
from chainsleuth.cluster.runs import run_dir
from chainsleuth.errors import StaleRunError
from chainsleuth.interrupt import Interrupted
from chainsleuth.store.chainview import load_chain_view
from chainsleuth.store.dataset import Dataset
from chainsleuth.trace import diskgraph
from chainsleuth.trace.checkpoints import checkpoints, n_checkpoints
from chainsleuth.trace.diskgraph import (
    DiskFlowGraph,
    build_graph_folder,
    disk_flow_graph,
    graph_folder,
    iter_graph_arrays,
    open_graph_folder,
)
from chainsleuth.trace.engine import Seed, trace
from chainsleuth.trace.extsort import NodeBuckets, NodeCsr, NpyWriter
from chainsleuth.trace.flowgraph import FlowGraph, build_flow_graph
from chainsleuth.trace.kernels import hop_back, hop_forward
from chainsleuth.trace.policies import FIFO, HAIRCUT, POISON, POLICIES


@pytest.fixture(scope="module")
def dataset(regtest_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the regtest dataset, clustered ``default``."""
    from chainsleuth.cluster.run import cluster_dataset

    path = tmp_path_factory.mktemp("diskgraph") / "dataset"
    shutil.copytree(regtest_dataset, path, ignore=shutil.ignore_patterns("derived"))
    with Dataset.open(path) as ds:
        cluster_dataset(ds, "default")
    return path


@pytest.fixture(scope="module")
def reference(dataset: Path) -> dict[str, FlowGraph]:
    """The in-RAM graphs at both levels."""
    with Dataset.open(dataset) as ds:
        view = load_chain_view(ds)
        return {
            level: build_flow_graph(ds, level=level, view=view) for level in ("cluster", "address")
        }


def assert_same_graph(disk: FlowGraph, ref: FlowGraph) -> None:
    assert (disk.level, disk.run, disk.n_node) == (ref.level, ref.run, ref.n_node)
    for name, arr in iter_graph_arrays(ref):
        got = getattr(disk, name)
        assert got.dtype == arr.dtype, name
        assert np.array_equal(got, arr), name
    assert np.array_equal(disk.in_tx(), ref.in_tx())
    assert np.array_equal(disk.out_tx(), ref.out_tx())


# budget bytes, window rows, at least this many node ranges
CONFIGS = {
    "default": (None, None, 1),
    "tiny": (32 << 10, 500, 20),
    "small": (300 << 10, 3000, 3),
}


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("level", ["cluster", "address"])
def test_disk_graph_equals_in_ram(
    dataset: Path, reference: dict[str, FlowGraph], tmp_path: Path, level: str, config: str
) -> None:
    size, rows, min_buckets = CONFIGS[config]
    budget = None if size is None else MemoryBudget(size, "option")
    with Dataset.open(dataset) as ds:
        run = "default" if level == "cluster" else None
        meta = build_graph_folder(
            ds, tmp_path / "g", level=level, run=run, budget=budget, max_rows=rows
        )
        graph = open_graph_folder(tmp_path / "g")
    build = meta["build"]
    assert build["buckets"] >= min_buckets
    if config == "tiny":
        assert build["windows"] > 20 and build["bucket_splits"] > 0
    assert_same_graph(graph, reference[level])
    assert all(not a.flags.writeable for _, a in iter_graph_arrays(graph))
    assert not any((dataset / "_tmp").glob("flowgraph-*"))


@pytest.fixture(scope="module")
def disk(dataset: Path) -> DiskFlowGraph:
    with Dataset.open(dataset) as ds:
        graph = build_flow_graph(ds)
    assert isinstance(graph, DiskFlowGraph)
    return graph


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("direction", ["back", "forward"])
def test_traces_equal(
    disk: DiskFlowGraph, reference: dict[str, FlowGraph], direction: str, policy: str
) -> None:
    ref = reference["cluster"]
    nodes = np.flatnonzero(np.asarray(ref.node_total_in) > 0)
    seeds = [Seed(int(n)) for n in nodes[:: max(len(nodes) // 12, 1)]]
    for per_seed in (True, False):
        a = trace(ref, seeds, direction=direction, policy=policy, hops=4, per_seed=per_seed)
        b = trace(disk, seeds, direction=direction, policy=policy, hops=4, per_seed=per_seed)
        assert a.edges() == b.edges() and a.endpoints(per_seed=True) == b.endpoints(per_seed=True)
        assert a.dropped() == b.dropped() and a.edges()
    # one seed tied to a transaction, going back from a spend
    t = int(np.searchsorted(ref.tx_in_start, ref.node_spend[0], side="right")) - 1
    node = int(ref.in_node[ref.node_spend[0]])
    a = trace(ref, [Seed(node, tx=t)], direction=direction, policy=policy, hops=3)
    b = trace(disk, [Seed(node, tx=t)], direction=direction, policy=policy, hops=3)
    assert a.edges() == b.edges() and a.endpoints() == b.endpoints()


@pytest.mark.parametrize("policy", [POISON, HAIRCUT, FIFO])
def test_kernels_read_memmaps(disk: DiskFlowGraph, policy: int) -> None:
    """The compiled kernels and their Python twins agree on read-only memmapped arrays."""
    seeds = np.unique(np.asarray(disk.node_of_addr[::53]))[:200]
    tx = np.full(len(seeds), disk.n_tx, dtype=np.int64)
    value = np.asarray(disk.node_total_in[seeds], dtype=np.float64)
    lo = np.zeros(len(seeds))
    back = (
        policy, seeds, tx, value, lo, 0, disk.n_tx - 1, 1000.0, disk.is_coinbase,
        disk.tx_in_start, disk.tx_in_total, disk.in_node, disk.in_value,
        disk.node_spend_start, disk.node_spend, disk.spend_ckpt, disk.tx_out_start,
        disk.out_value, disk.node_recv_start, disk.node_recv, disk.recv_ckpt,
        disk.out_tx(), 1 << 16,
    )  # fmt: skip
    fast, slow = hop_back(*back), hop_back.py_func(*back)
    assert fast[11] == slow[11] > 0
    assert np.allclose(fast[2][: fast[11]], slow[2][: slow[11]])
    fwd = (
        policy, seeds, tx * 0 - 1, value, lo, 0, disk.n_tx - 1, 1000.0, disk.node_total_out,
        disk.tx_out_start, disk.tx_in_total, disk.tx_out_total, disk.out_node, disk.out_value,
        disk.node_recv_start, disk.node_recv, disk.recv_ckpt, disk.tx_in_start,
        disk.in_value, disk.node_spend_start, disk.node_spend, disk.spend_ckpt,
        disk.in_tx(), 1 << 16,
    )  # fmt: skip
    fast, slow = hop_forward(*fwd), hop_forward.py_func(*fwd)
    assert fast[11] == slow[11] > 0


def test_graph_is_persisted_and_reused(
    dataset: Path, disk: DiskFlowGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Dataset.open(dataset) as ds:
        folder = graph_folder(ds, "cluster", "default")
    assert folder == run_dir_of(dataset) / "flowgraph" == disk.folder
    meta = json.loads((folder / "meta.json").read_text())
    assert (meta["run"], meta["tip_height"], meta["version"]) == ("default", 473, 2)
    assert meta["lengths"]["in_node"] == len(disk.in_node)
    stamp = (folder / "in_node.npy").stat().st_mtime_ns
    calls: list[str] = []
    real = diskgraph.build_graph_folder
    monkeypatch.setattr(
        diskgraph, "build_graph_folder", lambda *a, **k: calls.append("build") or real(*a, **k)
    )
    with Dataset.open(dataset) as ds:
        again = build_flow_graph(ds)
        address = build_flow_graph(ds, level="address")
        address_again = build_flow_graph(ds, level="address")
        # a caller holding a view gets the in-RAM graph
        in_ram = build_flow_graph(ds, view=load_chain_view(ds))
    assert calls == ["build"]  # the address level, once
    assert (folder / "in_node.npy").stat().st_mtime_ns == stamp
    assert np.array_equal(again.spend_ckpt, disk.spend_ckpt)
    assert address.folder == dataset / "derived" / "flowgraph" / "address"
    assert address_again.meta["created"] == address.meta["created"]
    assert type(in_ram) is FlowGraph


def run_dir_of(dataset: Path) -> Path:
    with Dataset.open(dataset) as ds:
        return run_dir(ds, "default")


def test_address_graph_rebuilt_when_tip_moves(
    dataset: Path, reference: dict[str, FlowGraph], monkeypatch: pytest.MonkeyPatch
) -> None:
    with Dataset.open(dataset) as ds:
        folder = disk_flow_graph(ds, level="address").folder
    meta = json.loads((folder / "meta.json").read_text())
    meta["tip_height"] = 400  # as if built before the last blocks came in
    (folder / "meta.json").write_text(json.dumps(meta))
    calls: list[int] = []
    real = diskgraph.build_graph_folder
    monkeypatch.setattr(
        diskgraph, "build_graph_folder", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    with Dataset.open(dataset) as ds:
        graph = disk_flow_graph(ds, level="address")
        assert calls == [1] and graph.meta["tip_height"] == 473
        # a damaged folder (a file missing) is rebuilt too
        (folder / "node_recv.npy").unlink()
        graph = disk_flow_graph(ds, level="address")
    assert calls == [1, 1]
    assert_same_graph(graph, reference["address"])


@pytest.mark.parametrize("error", [RuntimeError("disk full"), Interrupted("SIGINT")])
def test_interrupted_build_leaves_nothing(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    copy = tmp_path / "dataset"
    shutil.copytree(dataset, copy)
    folder = run_dir_of(copy) / "flowgraph"
    shutil.rmtree(folder)
    # the staging folder of a build killed earlier (its process is gone)
    killed = copy / "_tmp" / "flowgraph-999999999-dead"
    killed.mkdir(parents=True)

    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(diskgraph._Build, "_node_csr", fail)
    with Dataset.open(copy) as ds, pytest.raises(type(error)):
        build_flow_graph(ds, budget=MemoryBudget(64 << 10, "option"))
    assert not folder.exists()
    assert not any((copy / "_tmp").glob("flowgraph-*"))
    monkeypatch.undo()
    with Dataset.open(copy) as ds:
        graph = build_flow_graph(ds)
    assert folder.is_dir() and graph.n_tx == 3981


def test_stale_run_refused_before_building(dataset: Path, tmp_path: Path) -> None:
    copy = tmp_path / "dataset"
    shutil.copytree(dataset, copy)
    params_path = run_dir_of(copy) / "params.json"
    params = json.loads(params_path.read_text())
    params["tip_height"] = 400
    params_path.write_text(json.dumps(params))
    shutil.rmtree(params_path.parent / "flowgraph", ignore_errors=True)
    with Dataset.open(copy) as ds:
        with pytest.raises(StaleRunError):
            build_flow_graph(ds)
        assert not (params_path.parent / "flowgraph").exists()
        with pytest.warns(UserWarning, match="stale"):
            graph = build_flow_graph(ds, allow_stale=True)
    assert graph.n_tx == 3981


def test_node_csr_with_skewed_ranges(tmp_path: Path) -> None:
    """Random records, one node holding most of them: the bucketed sort equals a stable
    argsort, whatever the cap (ranges split again, a single node streamed)."""
    rng = np.random.default_rng(5)
    n_node, n = 50, 3000
    node = np.where(rng.random(n) < 0.6, 17, rng.integers(0, n_node, n)).astype(np.int64)
    value = rng.integers(1, 1000, n).astype(np.int64)
    order = np.argsort(node, kind="stable")
    expect_start = np.searchsorted(node[order], np.arange(n_node + 1))
    expect_total = np.bincount(node, value, n_node).astype(np.int64)
    for cap, n_bucket in ((10, 3), (100, 7), (10**6, 1)):
        folder = tmp_path / f"c{cap}"
        buckets = NodeBuckets(
            folder, "r", n_node=n_node, n_bucket=n_bucket, fields=("entry", "value")
        )
        for lo in range(0, n, 256):  # arrival in chain order, in batches
            sl = slice(lo, lo + 256)
            buckets.add(node[sl], entry=np.arange(n)[sl], value=value[sl])
        names = {"s": n_node + 1, "e": n, "t": n_node, "c": n_checkpoints(n)}
        writers = {k: NpyWriter(folder / f"{k}.npy", np.int64, m) for k, m in names.items()}
        csr = NodeCsr(writers["s"], writers["e"], writers["t"], writers["c"])
        for _lo, hi, chunks in buckets.ranges(cap):
            for nd, rec in chunks:
                assert len(nd) <= cap
                csr.add(nd, rec["entry"], rec["value"])
            csr.finish(hi)
        csr.close(n_node)
        for w in writers.values():
            w.close()
        assert np.load(folder / "s.npy").tolist() == expect_start.tolist()
        assert np.load(folder / "e.npy").tolist() == order.tolist()
        assert np.load(folder / "t.npy").tolist() == expect_total.tolist()
        ckpt = np.load(folder / "c.npy")
        assert ckpt.tolist() == checkpoints(expect_start, order, value).tolist()
        # node 17's checkpoints: its running totals at every CUM_STEP-th of its entries
        mine = np.flatnonzero(node == 17)
        s = int(expect_start[17])
        cum = np.cumsum(value[mine]) - value[mine]
        steps = np.arange(16, len(mine), 16)
        assert ckpt[s // 16 + steps // 16 - 1].tolist() == cum[steps].tolist()
        assert (cap > n) or buckets.splits > 0
        assert not list(folder.glob("*.bin"))
