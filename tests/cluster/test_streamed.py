"""The streamed clustering engine writes the same rows as the in-RAM engine (issue 10, item 5):
on the real-Core regtest chain and a simulated economy, for every heuristic family, with
windows of a few hundred rows and with one window. (The mainnet fixture blocks are 22 unlinked
blocks, not a chain a dataset can be ingested from.)"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chainsleuth.budget import MemoryBudget
from chainsleuth.cluster.run import cluster_dataset
from chainsleuth.cluster.spec import parse_heuristics
from chainsleuth.cluster.stream import StreamPass, localise
from chainsleuth.errors import InputError
from chainsleuth.heuristics.change import ChangeContext
from chainsleuth.heuristics.txfacts import SpenderFacts
from chainsleuth.store.chainview import load_chain_view
from chainsleuth.store.dataset import Dataset
from chainsleuth.tags.guard import actor_table
from chainsleuth.tags.store import import_tag_files

DATA = Path(__file__).resolve().parents[1] / "data"
PACKS = [DATA / "tagpacks" / "exchange-1-deposits.yaml",
         DATA / "tagpacks" / "exchange-2-deposits.yaml"]  # fmt: skip
RUN_FILES = ("address_cluster", "clusters", "members", "evidence", "held", "tags")
SPECS = (
    "multi-input",
    "default",
    "multi-input,collapse-guard",
    "default,self-transfer,changeless-veto",
    "multi-input,fingerprint,peel_chain,cospent_elsewhere,output_order",
    "multi-input,change-model",
)


def _table(path: Path) -> pa.Table:
    """A run file with dictionary columns decoded (dictionaries may differ per row group)."""
    table = pq.read_table(path)
    cols = [c.cast(pa.string()) if pa.types.is_dictionary(c.type) else c for c in table.columns]
    return pa.Table.from_arrays(cols, names=table.column_names)


def assert_same_run(a: Path, b: Path) -> None:
    """Every row of every file of two runs is the same, in the same order."""
    for name in RUN_FILES:
        ta, tb = _table(a / f"{name}.parquet"), _table(b / f"{name}.parquet")
        assert ta.schema.equals(tb.schema), name
        assert ta.num_rows == tb.num_rows, name
        for col in ta.column_names:
            ca, cb = ta.column(col).combine_chunks(), tb.column(col).combine_chunks()
            if pa.types.is_floating(ca.type):  # NaN (no probability) equals NaN here
                same = np.array_equal(ca.to_numpy(), cb.to_numpy(), equal_nan=True)
            else:
                same = ca.equals(cb)
            assert same, f"{name}.{col} differs"


@pytest.fixture(scope="module")
def tagged(regtest_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dataset]:
    """The regtest chain with the two exchanges' tag packs (the actor guard has work)."""
    path = tmp_path_factory.mktemp("streamed") / "dataset"
    shutil.copytree(regtest_dataset, path, ignore=shutil.ignore_patterns("derived"))
    ds = Dataset.open(path)
    import_tag_files(ds, PACKS)
    yield ds
    ds.close()


def _both(ds: Dataset, heuristics: str, rows: int | None, tag: str) -> tuple[Path, Path]:
    spec = parse_heuristics(heuristics)
    actors = actor_table(ds) if spec.collapse_guard else None
    mem = cluster_dataset(ds, heuristics, f"mem-{tag}", actors=actors, engine="memory")
    streamed = cluster_dataset(
        ds, heuristics, f"str-{tag}", actors=actors, window_rows=rows,
        budget=MemoryBudget(64 << 20, "option"),
    )  # fmt: skip
    assert (mem.n_clusters, mem.n_unions, mem.n_held, mem.n_links, mem.n_coinjoins) == (
        streamed.n_clusters, streamed.n_unions, streamed.n_held, streamed.n_links,
        streamed.n_coinjoins,
    )  # fmt: skip
    return mem.path, streamed.path


@pytest.mark.parametrize("heuristics", SPECS)
def test_regtest_small_windows(tagged: Dataset, heuristics: str) -> None:
    i = SPECS.index(heuristics)
    mem, streamed = _both(tagged, heuristics, 700, f"w{i}")
    assert_same_run(mem, streamed)


def test_regtest_one_window(tagged: Dataset) -> None:
    mem, streamed = _both(tagged, "default", None, "one")
    assert_same_run(mem, streamed)


@pytest.mark.parametrize("heuristics", ["default", SPECS[-1]])
def test_side_arrays_memory_mapped(
    tagged: Dataset, heuristics: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no RAM allowed for them, the whole-chain arrays live in mapped files under
    ``_tmp/``: the same rows as the in-RAM engine, and the files are gone afterwards."""
    import chainsleuth.cluster.stream as stream
    from chainsleuth.store.sidearrays import SideArrays

    made: list[bool] = []

    class Spy(SideArrays):
        def __init__(self, *args: object, **kw: int) -> None:
            super().__init__(*args, **kw)  # type: ignore[arg-type]
            made.append(self.on_disk)

    monkeypatch.setattr(stream, "SIDE_ARRAYS_SHARE", 0.0)
    monkeypatch.setattr(stream, "SideArrays", Spy)
    mem, streamed = _both(tagged, heuristics, 900, f"mm{SPECS.index(heuristics)}")
    assert made == [True]
    assert_same_run(mem, streamed)
    assert not list((tagged.path / "_tmp").glob("arrays-*"))


def test_actor_guard_held_links(regtest_dataset: Path, tmp_path: Path) -> None:
    """A wrong tag (exchange-2's address tagged exchange-1) makes the actor guard hold links
    back; both engines hold the same ones, for the same reason."""
    path = tmp_path / "dataset"
    shutil.copytree(regtest_dataset, path, ignore=shutil.ignore_patterns("derived"))
    with Dataset.open(path) as ds:
        import_tag_files(ds, [*PACKS, DATA / "tagpacks" / "misattributed.yaml"])
        actors = actor_table(ds, 0)
        mem = cluster_dataset(ds, "default", "mem", actors=actors, engine="memory")
        streamed = cluster_dataset(ds, "default", "str", actors=actors, window_rows=900)
        assert_same_run(mem.path, streamed.path)
        held = pq.read_table(streamed.path / "held.parquet").column("reason").to_pylist()
        assert "actor-guard" in held


def test_windows_really_split(tagged: Dataset) -> None:
    spec = parse_heuristics("default")
    stream = StreamPass(tagged.path, tagged.manifest, spec, 700)
    assert sum(1 for _ in stream.windows("x")) > 20


def test_window_context_matches_the_whole_view(tagged: Dataset) -> None:
    """Per output, the facts a window gathers equal those the whole view computes."""
    view = load_chain_view(tagged)
    whole = ChangeContext.of(view, detailed_spender=True)
    spec = parse_heuristics("multi-input,change-model")
    stream = StreamPass(tagged.path, tagged.manifest, spec, 500)
    facts = stream.scan()
    assert np.array_equal(facts.n_outputs, whole.addr_n_outputs)
    next_new = 0
    for lw in stream.windows("check"):
        local, ids = localise(lw.view)
        paid = local.out_addr >= 0
        ctx = stream._context(lw, local, ids, facts, next_new, paid)
        next_new = max(next_new, int(ids[local.out_addr[paid]].max()) + 1 if paid.any() else 0)
        o0, o1 = lw.first_out_id, lw.first_out_id + local.n_out
        got: SpenderFacts = ctx["spender"]
        want = whole.spender
        assert np.array_equal(got.spent, want.spent[o0:o1])
        assert np.array_equal(got.code, want.code[o0:o1])
        assert got.detail is not None and want.detail is not None
        assert np.array_equal(got.detail.height, want.detail.height[o0:o1])
        # co-spend clusters: same partition of the window's addresses, same sizes
        assert np.array_equal(ctx["cospend_size"], whole.cospend_size[ids])
        assert np.array_equal(
            _by_first(ctx["cospend_cluster"]), _by_first(whole.cospend_cluster[ids])
        )


def _by_first(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered by first occurrence (two labellings of one partition become equal)."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))
    return rank[inverse]


def test_simulated_economy(tmp_path: Path) -> None:
    """The simulator's tiny economy (CoinJoins, exchanges, peel chains) with its exchange tags,
    in several partitions."""
    from chainsleuth.ingest import ingest_blocks
    from chainsleuth.simulate import load_scenario, simulate

    scenario = Path(__file__).resolve().parents[2] / "scenarios" / "tiny.yaml"
    simulate(load_scenario(scenario), tmp_path / "sim", seed=11)
    ingest_blocks(tmp_path / "sim" / "blocks", tmp_path / "ds", "regtest", partition_span=40)
    with Dataset.open(tmp_path / "ds") as ds:
        import_tag_files(ds, [tmp_path / "sim" / "truth" / "tagpacks" / "exchanges.yaml"])
        for i, heuristics in enumerate(("default", "default,self-transfer,cospent_elsewhere")):
            mem, streamed = _both(ds, heuristics, 1500, f"s{i}")
            assert_same_run(mem, streamed)


def test_unknown_engine(tagged: Dataset) -> None:
    with pytest.raises(InputError, match="unknown clustering engine: 'spark!'"):
        cluster_dataset(tagged, "multi-input", "x", engine="spark!")


_KILL_SCRIPT = """
import sys
from chainsleuth.budget import MemoryBudget
from chainsleuth.cluster.run import cluster_dataset
from chainsleuth.store.dataset import Dataset
with Dataset.open(sys.argv[1]) as ds:
    cluster_dataset(ds, "default", "killed", window_rows=300, force=True,
                    budget=MemoryBudget(64 << 20, "option"))
"""


@pytest.mark.slow
def test_kill_9_mid_run_leaves_nothing_and_a_rerun_is_identical(
    regtest_dataset: Path, tmp_path: Path
) -> None:
    """A streamed run killed at any moment leaves no run (only its temporary folder, which
    the next run clears); the re-run writes the reference rows."""
    import os
    import signal
    import subprocess
    import sys
    import time

    path = tmp_path / "dataset"
    shutil.copytree(regtest_dataset, path, ignore=shutil.ignore_patterns("derived"))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    runs = path / "derived" / "clusters"
    for delay in (1.5, 3.0, 5.0):
        proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(path)], env=env)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.returncode == -signal.SIGKILL:
            assert not (runs / "killed").exists() or (runs / "killed" / "params.json").exists()
    with Dataset.open(path) as ds:
        ref = cluster_dataset(ds, "default", "reference", engine="memory")
        again = cluster_dataset(
            ds, "default", "killed", window_rows=300, force=True,
            budget=MemoryBudget(64 << 20, "option"),
        )  # fmt: skip
    assert_same_run(ref.path, again.path)
    assert [p.name for p in (runs / ".tmp").iterdir()] == []
