"""Id columns of the flow graph: int32 where the counts allow, int64 when forced (a lowered
``NARROW_LIMIT``, as on a chain past 2**31 ids) or mixed; the same arrays, traces and case
either way; a folder of the previous format (int64 everywhere, per-entry ``*_off`` and
``*_cum``, no checkpoints) is rebuilt on use."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from chainsleuth.store.chainview import load_chain_view
from chainsleuth.store.dataset import Dataset
from chainsleuth.trace import diskgraph, flowgraph
from chainsleuth.trace.checkpoints import entry_cum_array
from chainsleuth.trace.diskgraph import (
    ARRAYS,
    FORMAT_VERSION,
    DiskFlowGraph,
    build_graph_folder,
    disk_flow_graph,
    graph_folder,
    iter_graph_arrays,
    open_graph_folder,
)
from chainsleuth.trace.engine import Seed, trace
from chainsleuth.trace.flowgraph import FlowGraph
from chainsleuth.trace.policies import POLICIES

DATA = Path(__file__).resolve().parents[1] / "data"
PACKS = [
    DATA / "tagpacks" / "exchange-1-deposits.yaml",
    DATA / "tagpacks" / "exchange-2-deposits.yaml",
]
SEED = "bcrt1qmly6wxw3mvegvr0z7c3c8h0rp3lgvvmy2kyeh8"
ID_ARRAYS = [n for n, (dt, _) in ARRAYS.items() if dt == "id"]


@pytest.fixture(scope="module")
def dataset(regtest_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the regtest dataset, clustered ``default``, with the exchange tags."""
    from chainsleuth.cluster.run import cluster_dataset
    from chainsleuth.tags.store import import_tag_files

    path = tmp_path_factory.mktemp("dtypes") / "dataset"
    shutil.copytree(regtest_dataset, path, ignore=shutil.ignore_patterns("derived"))
    with Dataset.open(path) as ds:
        cluster_dataset(ds, "default")
        import_tag_files(ds, PACKS)
    return path


def _build(dataset: Path, folder: Path, level: str = "cluster") -> DiskFlowGraph:
    with Dataset.open(dataset) as ds:
        run = "default" if level == "cluster" else None
        build_graph_folder(ds, folder, level=level, run=run, max_rows=1500)
    return open_graph_folder(folder)


@pytest.fixture(scope="module")
def graphs(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, DiskFlowGraph]:
    """The cluster graph built narrow (the default), wide (limit 0) and mixed (a limit between
    the counts: some id columns int32, the others int64)."""
    root = tmp_path_factory.mktemp("dtype-graphs")
    out = {"narrow": _build(dataset, root / "narrow")}
    g = out["narrow"]
    counts = sorted({g.n_node, g.n_tx, len(g.in_node), len(g.out_node), len(g.node_of_addr)})
    mp = pytest.MonkeyPatch()
    try:
        for name, limit in (("wide", 0), ("mixed", counts[len(counts) // 2])):
            mp.setattr(flowgraph, "NARROW_LIMIT", limit)
            out[name] = _build(dataset, root / name)
    finally:
        mp.undo()
    return out


def test_narrow_dtypes_on_the_fixture(graphs: dict[str, DiskFlowGraph]) -> None:
    g = graphs["narrow"]
    assert g.meta["version"] == FORMAT_VERSION == 2
    assert g.meta["dtypes"] == dict.fromkeys(ID_ARRAYS, "<i4")
    assert set(ID_ARRAYS) == set(flowgraph.ID_COLUMNS)
    for name in ID_ARRAYS:
        arr = g.in_tx_pos if name == "in_tx" else g.out_tx_pos if name == "out_tx" else None
        arr = getattr(g, name) if arr is None else arr
        assert arr.dtype == np.int32, name
    # satoshi columns stay int64; per-entry offsets and running totals are no longer stored
    for name in ("in_value", "out_value", "recv_ckpt", "spend_ckpt", "tx_in_total"):
        assert getattr(g, name).dtype == np.int64, name
    for name in ("in_off", "out_off", "in_cum", "out_cum"):
        assert not (g.folder / f"{name}.npy").exists()


def test_wide_and_mixed_dtypes_when_forced(graphs: dict[str, DiskFlowGraph]) -> None:
    assert graphs["wide"].meta["dtypes"] == dict.fromkeys(ID_ARRAYS, "<i8")
    assert graphs["wide"].in_tx_pos.dtype == np.int64
    mixed = set(graphs["mixed"].meta["dtypes"].values())
    assert mixed == {"<i4", "<i8"}


@pytest.mark.parametrize("kind", ["wide", "mixed"])
def test_same_arrays_whatever_the_dtypes(graphs: dict[str, DiskFlowGraph], kind: str) -> None:
    a, b = graphs["narrow"], graphs[kind]
    assert a.n_node == b.n_node
    for name, arr in iter_graph_arrays(a):
        assert np.array_equal(arr, getattr(b, name)), name
    assert np.array_equal(a.in_tx(), b.in_tx()) and np.array_equal(a.out_tx(), b.out_tx())


def test_in_ram_graph_takes_the_same_dtypes(
    dataset: Path, graphs: dict[str, DiskFlowGraph], monkeypatch: pytest.MonkeyPatch
) -> None:
    with Dataset.open(dataset) as ds:
        view = load_chain_view(ds)
        narrow = flowgraph.build_flow_graph(ds, view=view)
        monkeypatch.setattr(flowgraph, "NARROW_LIMIT", 0)
        wide = flowgraph.build_flow_graph(ds, view=view)
    for ref, disk in ((narrow, graphs["narrow"]), (wide, graphs["wide"])):
        for name, arr in iter_graph_arrays(ref):
            got = getattr(disk, name)
            assert got.dtype == arr.dtype and np.array_equal(got, arr), name


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("direction", ["back", "forward"])
def test_traces_identical_whatever_the_dtypes(
    graphs: dict[str, DiskFlowGraph], direction: str, policy: str
) -> None:
    ref = graphs["narrow"]
    nodes = np.flatnonzero(np.asarray(ref.node_total_in) > 0)
    seeds: list[Seed] = [Seed(int(n)) for n in nodes[:: max(len(nodes) // 15, 1)]]
    e = int(ref.node_spend[len(ref.node_spend) // 2])
    t = int(np.searchsorted(ref.tx_in_start, e, side="right")) - 1
    seeds.append(Seed(int(ref.in_node[e]), tx=t))
    results = {
        kind: trace(g, seeds, direction=direction, policy=policy, hops=5, min_value=0)
        for kind, g in graphs.items()
    }
    a = results["narrow"]
    assert a.edges()
    for kind in ("wide", "mixed"):
        b = results[kind]
        assert a.edges() == b.edges(), kind
        assert a.endpoints(per_seed=True) == b.endpoints(per_seed=True), kind
        assert a.dropped() == b.dropped(), kind


def _case_rows(case: Path) -> dict[str, str]:
    doc = json.loads((case / "case.json").read_text())
    doc.pop("created")
    doc.pop("dataset")
    return {
        "leads": (case / "leads.csv").read_text(),
        "requests": (case / "requests.csv").read_text(),
        "case": json.dumps(doc, sort_keys=True),
    }


def _drop_graphs(dataset: Path) -> None:
    for folder in (dataset / "derived").rglob("flowgraph"):
        if folder.is_dir():
            shutil.rmtree(folder)


@pytest.mark.parametrize("policy", ["haircut", "fifo"])
def test_investigation_identical_with_wide_ids(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: str
) -> None:
    from chainsleuth.investigate.case import write_case
    from chainsleuth.investigate.service import investigate_service

    cases = {}
    for kind, limit in (("narrow", flowgraph.NARROW_LIMIT), ("wide", 0)):
        monkeypatch.setattr(flowgraph, "NARROW_LIMIT", limit)
        _drop_graphs(dataset)  # the graphs are rebuilt with this limit
        with Dataset.open(dataset) as ds:
            inv = investigate_service(ds, [SEED], policy=policy)
            assert inv.graph.in_node.dtype == (np.int32 if kind == "narrow" else np.int64)
            cases[kind] = _case_rows(write_case(ds, inv, tmp_path / kind))
    monkeypatch.undo()
    _drop_graphs(dataset)
    assert cases["narrow"] == cases["wide"]


def _as_old_format(folder: Path) -> None:
    """Rewrite a built folder the way format 1 kept it: every id column int64, the per-entry
    offsets and running totals stored, no checkpoints, no ``dtypes`` in meta.json."""
    meta = json.loads((folder / "meta.json").read_text())
    for name in meta.pop("dtypes"):
        arr = np.load(folder / f"{name}.npy")
        np.save(folder / f"{name}.npy", arr.astype(np.int64))
    for side, kind in (("in", "spend"), ("out", "recv")):
        start = np.load(folder / f"tx_{side}_start.npy")
        value = np.load(folder / f"{side}_value.npy")
        np.save(folder / f"{side}_off.npy", flowgraph.entry_offsets(start, value))
        cum = entry_cum_array(
            np.load(folder / f"node_{kind}_start.npy"), np.load(folder / f"node_{kind}.npy"), value
        )
        np.save(folder / f"{side}_cum.npy", cum)
        (folder / f"{kind}_ckpt.npy").unlink()
        meta["lengths"].pop(f"{kind}_ckpt")
        meta["lengths"][f"{side}_off"] = meta["lengths"][f"{side}_cum"] = len(value)
    meta.pop("cum_step")
    meta["build"]["running_totals"] = "accumulated"
    meta["version"] = 1
    (folder / "meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("level", ["cluster", "address"])
def test_old_format_folder_is_rebuilt(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: str
) -> None:
    copy = tmp_path / "dataset"
    shutil.copytree(dataset, copy)
    with Dataset.open(copy) as ds:
        run = "default" if level == "cluster" else None
        folder = graph_folder(ds, level, run)
        first = disk_flow_graph(ds, run, level=level)
        ref = {name: np.array(arr) for name, arr in iter_graph_arrays(first)}
        del first
        _as_old_format(folder)
        with pytest.raises(Exception, match="version 1"):
            open_graph_folder(folder)
        calls: list[int] = []
        real = diskgraph.build_graph_folder
        monkeypatch.setattr(
            diskgraph, "build_graph_folder", lambda *a, **k: calls.append(1) or real(*a, **k)
        )
        graph = disk_flow_graph(ds, run, level=level)
        again = disk_flow_graph(ds, run, level=level)
    assert calls == [1]  # rebuilt once, then reused
    assert graph.meta["version"] == again.meta["version"] == FORMAT_VERSION
    assert not (folder / "in_off.npy").exists() and not (folder / "in_cum.npy").exists()
    assert graph.in_node.dtype == np.int32
    for name, arr in iter_graph_arrays(graph):
        assert np.array_equal(arr, ref[name]), name


def test_meta_dtype_mismatch_is_refused(graphs: dict[str, DiskFlowGraph], tmp_path: Path) -> None:
    folder = tmp_path / "g"
    shutil.copytree(graphs["narrow"].folder, folder)
    meta = json.loads((folder / "meta.json").read_text())
    meta["dtypes"]["in_node"] = "<i8"
    (folder / "meta.json").write_text(json.dumps(meta))
    from chainsleuth.errors import DatasetError

    with pytest.raises(DatasetError, match="in_node"):
        open_graph_folder(folder)


def test_narrow_writer_refuses_values_past_int32(tmp_path: Path) -> None:
    from chainsleuth.errors import ChainsleuthError
    from chainsleuth.trace.extsort import NpyWriter

    w = NpyWriter(tmp_path / "a.npy", np.int32, 2)
    w.append(np.array([2**31 - 1], dtype=np.int64))
    with pytest.raises(ChainsleuthError, match="do not fit int32"):
        w.append(np.array([-(2**31) - 1], dtype=np.int64))
    w.abort()


@pytest.mark.parametrize("kind", ["recv", "spend"])
def test_checkpoint_lookups_equal_the_running_totals(
    graphs: dict[str, DiskFlowGraph], kind: str
) -> None:
    """Running totals from the checkpoints (per entry, and FIFO's first overlapping entry) equal
    those summed over the whole CSR, on nodes with many entries (several checkpoints)."""
    from chainsleuth.trace.kernels import CUM_STEP, _first_overlap

    for g in (graphs["narrow"], graphs["wide"]):
        start = np.asarray(getattr(g, f"node_{kind}_start"))
        entries = np.asarray(getattr(g, f"node_{kind}"))
        ckpt = np.asarray(getattr(g, f"{kind}_ckpt"))
        value = np.asarray(g.out_value if kind == "recv" else g.in_value)
        cum = entry_cum_array(start, entries, value)
        lookup = g.recv_cums if kind == "recv" else g.spend_cums
        deg = np.diff(start)
        big = np.flatnonzero(deg > 3 * CUM_STEP)
        assert len(big) >= 3
        rng = np.random.default_rng(3)
        for node in [*big.tolist(), *np.flatnonzero(deg == 1)[:5].tolist()]:
            s, e = int(start[node]), int(start[node + 1])
            mine = entries[s:e]
            assert lookup(node, mine).tolist() == cum[mine].tolist()
            ends = cum[mine] + value[mine]
            total = int(ends[-1])
            for lo in [0.0, float(total), total + 5.0, *rng.uniform(0, total, 20).tolist()]:
                lo = float(int(lo)) if rng.random() < 0.5 else lo  # on a boundary, or not
                r, c = _first_overlap(entries, ckpt, value, s, e, lo)
                expect = s + int(np.searchsorted(ends, lo, side="right"))
                # the first entry whose [cum, cum + value) ends after lo (ends are sorted)
                assert r == expect, (node, lo)
                if r < e:
                    assert c == cum[entries[r]]


def test_merged_checkpoints_equal_the_merged_mapping(
    dataset: Path, graphs: dict[str, DiskFlowGraph], tmp_path: Path
) -> None:
    """merge_nodes moves every other node's checkpoints and makes the pool's: the arrays
    FlowGraph.from_view builds from the merged mapping."""
    from chainsleuth.investigate.merge import merge_nodes

    g = graphs["narrow"]
    deg = np.diff(np.asarray(g.node_recv_start))
    members = sorted({*np.flatnonzero(deg > 20)[:3].tolist(), 5, 17})
    service = members[1]
    mapping = np.asarray(g.node_of_addr).copy()
    mapping[np.isin(mapping, members)] = service
    with Dataset.open(dataset) as ds:
        view = load_chain_view(ds)
    ref = FlowGraph.from_view(view, mapping)
    got = merge_nodes(g, members, service, tmp_path / "merge")
    for name in ("recv_ckpt", "spend_ckpt", "node_recv_start", "node_spend"):
        assert np.array_equal(np.asarray(getattr(got, name)), getattr(ref, name)), name
