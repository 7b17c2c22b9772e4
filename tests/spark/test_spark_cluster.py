"""Parity of ``cluster --engine spark`` with the embedded engine, on Spark ``local[2]``.

For the same dataset, heuristics and tags the Spark engine must write the same rows as the
embedded engine: every file of the run (``address_cluster``, ``clusters``, ``members``,
``evidence``, ``held``, ``tags``) compared as sorted Parquet content (column names, Arrow
types, rows; rule names decoded from their dictionaries), and ``params.json`` equal but for
the run's name and creation time. Buckets are small (a few thousand rows), so a chain is cut
into many of them and the joins, the bucket-local reductions and the global merge all have
work. One SparkSession serves the module.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from tests.spark.parity import assert_same_run

from chainsleuth.cluster.run import cluster_dataset
from chainsleuth.cluster.spec import parse_heuristics
from chainsleuth.errors import InputError
from chainsleuth.spark import session, spark_available, spark_session
from chainsleuth.spark.cluster import cluster_spark
from chainsleuth.store.dataset import Dataset
from chainsleuth.tags.guard import actor_table
from chainsleuth.tags.store import import_tag_files

needs_spark = pytest.mark.skipif(
    spark_available() is not None,
    reason=f"Spark parity tests need pyspark and Java: {spark_available()}",
)

DATA = Path(__file__).resolve().parents[1] / "data"
PACKS = [DATA / "tagpacks" / "exchange-1-deposits.yaml",
         DATA / "tagpacks" / "exchange-2-deposits.yaml"]  # fmt: skip
BUCKET_ROWS = 2500


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One local[2] session for the module (small shuffles: the chains here are small)."""
    conf = {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"}
    with spark_session("local[2]", conf) as s:
        yield s


@pytest.fixture(scope="module")
def tagged(regtest_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dataset]:
    """The regtest chain with the two exchanges' tag packs and a misattributed tag, so the
    actor guard holds links back."""
    path = tmp_path_factory.mktemp("sparkcluster") / "dataset"
    shutil.copytree(regtest_dataset, path, ignore=shutil.ignore_patterns("derived"))
    ds = Dataset.open(path)
    import_tag_files(ds, [*PACKS, DATA / "tagpacks" / "misattributed.yaml"])
    yield ds
    ds.close()


def _both(
    ds: Dataset, heuristics: str, tag: str, *, tags_min: int | None = 50, **kw: Any
) -> tuple[Path, Path]:
    actors = actor_table(ds, tags_min) if parse_heuristics(heuristics).collapse_guard else None
    emb = cluster_dataset(ds, heuristics, f"emb-{tag}", actors=actors, **kw)
    got = cluster_spark(ds, heuristics, f"spark-{tag}", actors=actors, bucket_rows=BUCKET_ROWS,
                        **kw)  # fmt: skip
    assert got.buckets > 5
    run = got.run
    assert (run.n_clusters, run.n_unions, run.n_held, run.n_links, run.n_coinjoins) == (
        emb.n_clusters, emb.n_unions, emb.n_held, emb.n_links, emb.n_coinjoins,
    )  # fmt: skip
    assert not list((ds.path / "_tmp").glob("sparkcluster-*"))
    return emb.path, run.path


@needs_spark
def test_regtest_default_same_rows(spark: Any, tagged: Dataset) -> None:
    """The default heuristics (multi-input, consensus change, collapse and actor guards)."""
    emb, got = _both(tagged, "default", "default", tags_min=0)
    assert_same_run(emb, got)
    held = pq.read_table(got / "held.parquet").column("reason").to_pylist()
    assert "actor-guard" in held


@needs_spark
def test_regtest_guards_and_change_model(spark: Any, tagged: Dataset) -> None:
    """Co-spend clusters and spender detail (the change model, cospent_elsewhere) joined in,
    and a collapse guard small enough to hold links: the guarded union-find runs over the
    components where a guard can act and gives the embedded engine's held links."""
    heuristics = "multi-input,cospent_elsewhere,change-model,collapse-guard"
    emb, got = _both(tagged, heuristics, "model", tags_min=0, max_merge_size=25)
    assert_same_run(emb, got)
    reasons = set(pq.read_table(got / "held.parquet").column("reason").to_pylist())
    assert reasons == {"collapse-guard", "actor-guard"}


@needs_spark
def test_cli_engine_spark(spark: Any, tagged: Dataset, cli_run: Any) -> None:
    """``cluster --engine spark --json``: the embedded run's rows; ``explain`` reads it."""
    data = str(tagged.path)
    code, out, err = cli_run("cluster", "--data", data, "--heuristics", "multi-input",
                             "--name", "cli-emb")  # fmt: skip
    assert code == 0, err
    code, out, err = cli_run(
        "cluster", "--data", data, "--heuristics", "multi-input", "--name", "cli-spark",
        "--engine", "spark", "--master", "local[2]", "--conf", "spark.sql.shuffle.partitions=2",
        "--json",
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert summary["engine"] == "spark" and summary["master"].startswith("local")
    assert set(summary["stages"]) >= {"links", "merge", "summaries"}
    runs = tagged.path / "derived" / "clusters"
    assert_same_run(runs / "cli-emb", runs / "cli-spark")
    pair = pq.read_table(runs / "cli-spark" / "evidence.parquet").slice(0, 1).to_pylist()[0]
    addrs = pq.read_table(tagged.path / "tables" / "addresses", columns=["addr_id", "address"])
    name = dict(zip(addrs["addr_id"].to_pylist(), addrs["address"].to_pylist(), strict=True))
    code, out, err = cli_run("explain", "--data", data, "--run", "cli-spark", "--json",
                             name[pair["addr_a"]], name[pair["addr_b"]])  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["linked"] is True


@needs_spark
def test_simulated_case(spark: Any, tmp_path: Path) -> None:
    """The simulator's tiny economy (CoinJoins, exchanges, peel chains) with its exchange tags,
    in several partitions."""
    from chainsleuth.ingest import ingest_blocks
    from chainsleuth.simulate import load_scenario, simulate

    scenario = Path(__file__).resolve().parents[2] / "scenarios" / "tiny.yaml"
    simulate(load_scenario(scenario), tmp_path / "sim", seed=11)
    ingest_blocks(tmp_path / "sim" / "blocks", tmp_path / "ds", "regtest", partition_span=40)
    with Dataset.open(tmp_path / "ds") as ds:
        import_tag_files(ds, [tmp_path / "sim" / "truth" / "tagpacks" / "exchanges.yaml"])
        emb, got = _both(ds, "default,self-transfer,cospent_elsewhere", "sim")
        assert_same_run(emb, got)


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--engine", "spark", "--master", "spark://nohost"], "'spark://nohost'"),
        (["--engine", "spark", "--conf", "executor.memory=4g"], "'executor.memory=4g'"),
        (["--engine", "sparkle"], "'sparkle'"),
        (["--master", "local[2]"], "--master and --conf apply to --engine spark"),
        (["--conf", "spark.a=1"], "--master and --conf apply to --engine spark"),
    ],
)
def test_cli_refuses_bad_values(
    args: list[str], named: str, cli_run: Any, regtest_dataset: Path
) -> None:
    runs = regtest_dataset / "derived" / "clusters"
    before = sorted(runs.iterdir()) if runs.exists() else []
    code, _, err = cli_run("cluster", "--data", str(regtest_dataset), "--name", "never", *args)
    assert code == 2
    assert named in _one_line(err)
    assert (sorted(runs.iterdir()) if runs.exists() else []) == before


def test_without_pyspark_the_cli_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, cli_run: Any, regtest_dataset: Path
) -> None:
    message = "--engine spark needs pyspark: pip install 'chainsleuth[spark]'"
    monkeypatch.setattr(session, "spark_available", lambda: message)
    code, _, err = cli_run(
        "cluster", "--data", str(regtest_dataset), "--name", "never", "--engine", "spark"
    )
    assert code == 2
    assert _one_line(err) == message or _one_line(err).endswith(message)


def test_refusals_before_spark_starts(
    monkeypatch: pytest.MonkeyPatch, regtest_dataset: Path
) -> None:
    import chainsleuth.spark.cluster as spark_cluster

    with Dataset.open(regtest_dataset) as ds:
        with pytest.raises(InputError, match="bad --master 'mesos://x:1'"):
            cluster_spark(ds, "multi-input", "never", master="mesos://x:1")
        monkeypatch.setattr(spark_cluster, "spark_available", lambda: "no Java here")
        with pytest.raises(InputError, match=r"^no Java here$"):
            cluster_spark(ds, "multi-input", "never")
    assert not (regtest_dataset / "derived" / "clusters" / "never").exists()


@needs_spark
def test_a_damaged_part_stops_the_run_with_one_line(
    spark: Any, regtest_dataset: Path, tmp_path: Path
) -> None:
    """A txs part missing a row: the executor's error comes back as the embedded engine's
    one-line DatasetError, and no run or staging folder is left."""
    from chainsleuth.errors import DatasetError

    path = tmp_path / "dataset"
    shutil.copytree(regtest_dataset, path, ignore=shutil.ignore_patterns("derived"))
    part = next(iter(sorted((path / "tables" / "txs").glob("*.parquet"))[1:2]))
    rows = pq.read_table(part)
    pq.write_table(rows.slice(1), part)
    with Dataset.open(path) as ds:
        with pytest.raises(DatasetError) as embedded:
            cluster_dataset(ds, "multi-input", "emb")
        with pytest.raises(DatasetError) as got:
            cluster_spark(ds, "multi-input", "spark", bucket_rows=10**9)
    assert str(got.value) == str(embedded.value)
    assert "are not all there" in str(got.value)
    assert not (path / "derived" / "clusters" / "spark").exists()
    assert not list((path / "_tmp").glob("sparkcluster-*"))


@pytest.mark.parametrize("seed", range(6))
def test_reduced_guarded_merge_equals_the_plain_one(seed: int, tmp_path: Path) -> None:
    """Random links cut into buckets, each reduced by its local union-find: the driver's merge
    (guarded components first, redundant links dropped elsewhere) makes exactly the unions and
    holds exactly the links that the embedded union-find makes over every link in order."""
    from chainsleuth.cluster.links import Links
    from chainsleuth.graph.unionfind import NO_GUARD, new_parent, union_links
    from chainsleuth.spark.clustertasks import links_table
    from chainsleuth.spark.components import guard_components, guarded_unions

    rng = np.random.default_rng(seed)
    n_addr, n_links = 400, 900
    # groups of 10 addresses, a few links between groups: components of several sizes, some
    # where a guard may act and many where none can; repeated pairs make redundant links
    group = rng.integers(0, 40, n_links)
    a = group * 10 + rng.integers(0, 10, n_links)
    other = np.where(rng.random(n_links) < 0.012, rng.integers(0, 40, n_links), group)
    b = other * 10 + rng.integers(0, 10, n_links)
    b[b == a] = (b[b == a] + 1) % n_addr
    tx = np.arange(n_links, dtype=np.int64)
    codes = np.zeros(n_addr, dtype=np.int32)
    codes[rng.choice(n_addr, 12, replace=False)] = rng.integers(1, 4, 12)
    n_held = 0
    for guard, actors in ((NO_GUARD, None), (5, None), (NO_GUARD, codes), (12, codes)):
        want_parent = new_parent(n_addr)
        want_actor = actors.copy() if actors is not None else None
        merged, held = union_links(want_parent, a, b, actor=want_actor, max_merge_size=guard)
        cuts = np.sort(rng.choice(np.arange(1, n_links), 7, replace=False))
        files = []
        for k, (lo, hi) in enumerate(zip([0, *cuts], [*cuts, n_links], strict=True)):
            ids = np.unique(np.concatenate([a[lo:hi], b[lo:hi]]))
            la, lb = np.searchsorted(ids, a[lo:hi]), np.searchsorted(ids, b[lo:hi])
            local, _ = union_links(new_parent(len(ids)), la, lb)
            redundant = np.ones(hi - lo, dtype=bool)
            redundant[local] = False
            rule = np.zeros(hi - lo, dtype=np.int64)
            part = Links(a[lo:hi], b[lo:hi], tx[lo:hi], rule, ["r"])
            files.append(tmp_path / f"{guard}-{k}.parquet")
            pq.write_table(links_table(part, redundant), files[-1])
        got_actor = actors.copy() if actors is not None else None
        bits = guard_components(n_addr, files, guard, got_actor)
        parent = new_parent(n_addr)
        ev, hd = tmp_path / f"e{guard}.parquet", tmp_path / f"h{guard}.parquet"
        counts = guarded_unions(parent, files, guard=guard, actor_codes=got_actor,
                                guarded=bits, evidence=ev, held=hd)  # fmt: skip
        assert counts.n_links == n_links
        assert pq.read_table(ev).column("tx_id").to_pylist() == merged.tolist()
        assert pq.read_table(hd).column("tx_id").to_pylist() == held.tolist()
        assert np.array_equal(parent < 0, want_parent < 0)
        if actors is not None:
            assert got_actor is not None and np.array_equal(got_actor, want_actor)
        if bits is not None:  # the guard may act somewhere, and links were dropped elsewhere
            assert 0 < int(np.unpackbits(bits).sum()) < n_addr
        n_held += len(held)
    assert n_held > 0
