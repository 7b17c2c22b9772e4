"""``chainsleuth cluster --engine spark``: the embedded engine's clustering, built on Spark.

The run writes what :func:`~chainsleuth.cluster.run.cluster_dataset` writes —
``derived/clusters/<name>/`` with ``address_cluster``, ``clusters``, ``members``,
``evidence``, ``held``, ``tags`` and ``params.json``, the same rows — through the same
temporary folder and rename, so ``show``, ``explain``, ``trace`` and ``investigate`` read it
as they read an embedded run. The stages (``docs/spark.md`` has the sizing):

1. **plan** (driver): the chain cut into *buckets*, ``tx_id`` ranges of one partition of at
   most ``bucket_rows`` transactions + inputs + outputs (``store/windows.py``).
2. **scan** (executors, no shuffle; only when a heuristic judges outputs): each bucket's
   facts for the others (:func:`~chainsleuth.spark.clustertasks.scan_bucket`): outputs per
   address, transaction codes, its local co-spend forest, the addresses and spenders it needs.
3. **cospend** (driver; only for ``cospent_elsewhere`` and the change model): the buckets'
   co-spend forests merged in one union-find, 4 B per address
   (:func:`~chainsleuth.spark.components.merge_cospend`).
4. **facts** (joins): outputs per address summed by addr_id; each bucket's addresses joined
   with those sums and the co-spend clusters, its spenders with their transaction codes; all
   range-partitioned by bucket and sorted inside each partition.
5. **links** (executors): each bucket's links by the embedded heuristic functions on its view
   and the facts it was handed (:func:`~chainsleuth.spark.clustertasks.link_bucket`), reduced
   by a bucket-local union-find (links whose ends earlier links of the bucket already join are
   flagged redundant).
6. **merge** (driver): the global union-find in chain order with the collapse and actor
   guards, exactly as the embedded engine applies them; redundant links are skipped only in
   components of the unguarded link graph where no guard can act
   (:mod:`chainsleuth.spark.components`). Writes ``evidence``, ``held`` and
   ``address_cluster``.
7. **summaries** (driver, DuckDB out of core within ``--memory-limit``): ``clusters`` and
   ``members`` (:func:`~chainsleuth.store.clusterstats.write_cluster_stats`), then ``tags``
   and ``params.json``; the run folder is renamed into place.

Staging files live under ``DATASET/_tmp/sparkcluster-<pid>-*`` (removed at the end, a killed
run's by the next). The dataset must be at the same path on the driver and every executor.

>>> cluster_spark(ds, "multi-input", "bad name")  # refused before Spark starts
Traceback (most recent call last):
  ...
chainsleuth.errors.InputError: bad run name: 'bad name' (letters, digits, - _ . + only)
"""

from __future__ import annotations

import os
import re
import shutil
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chainsleuth.budget import MemoryBudget
from chainsleuth.cluster import DEFAULT_MAX_MERGE_SIZE
from chainsleuth.cluster.actors import ActorTable
from chainsleuth.cluster.run import (
    ClusterRun,
    _publish,
    _temp_run_dir,
    _write_params,
    _write_parquet,
    run_target,
)
from chainsleuth.cluster.spec import HeuristicSpec
from chainsleuth.cluster.stream import (
    StreamedCounts,
    _write_address_cluster,
    _write_held,
    outputs_dtype,
)
from chainsleuth.errors import DatasetError, InputError
from chainsleuth.graph.unionfind import NO_GUARD, new_parent, parent_dtype
from chainsleuth.scratch import make_scratch_folder
from chainsleuth.spark.clustertasks import (
    FACT_ADDR,
    FACT_MARK,
    FACT_TX,
    SUMMARY_DDL,
    ClusterJob,
    bucket_file,
    bucket_windows,
    link_bucket,
    link_partition,
    scan_bucket,
)
from chainsleuth.spark.components import guard_components, guarded_unions, merge_cospend
from chainsleuth.spark.session import check_master, spark_available, spark_session

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from chainsleuth.store.dataset import Dataset

__all__ = ["DEFAULT_BUCKET_ROWS", "SCRATCH_KIND", "SparkClusterReport", "cluster_spark"]

Progress = Callable[[str], None]

DEFAULT_BUCKET_ROWS = 1 << 20
"""Transactions + inputs + outputs per bucket: a task's view and scratch stay near 180 MiB
(``store/windows.py``: 45 B per row, four times over for the heuristics' temporaries)."""

SHUFFLE_ROWS = 4 << 20
"""Chain rows (transactions + inputs + outputs) per shuffle partition of the joins when
``spark.sql.shuffle.partitions`` is not given (their rows are ~50 B each, about one per
output and one per address of a bucket: ~100-200 MiB per partition)."""

SCRATCH_KIND = "sparkcluster"
"""Staging folders: ``DATASET/_tmp/sparkcluster-<pid>-*``."""


@dataclass(frozen=True, slots=True)
class SparkClusterReport:
    """A finished Spark run: the run's summary, the master, the buckets and each stage's
    seconds."""

    run: ClusterRun
    master: str
    buckets: int
    stages: dict[str, float] = field(default_factory=dict)


def cluster_spark(
    ds: Dataset,
    heuristics: str = "default",
    name: str | None = None,
    *,
    actors: ActorTable | None = None,
    max_merge_size: int = DEFAULT_MAX_MERGE_SIZE,
    progress: Progress | None = None,
    force: bool = False,
    budget: MemoryBudget | None = None,
    master: str | None = None,
    conf: dict[str, str] | None = None,
    bucket_rows: int | None = None,
) -> SparkClusterReport:
    """Cluster ``ds`` on Spark into ``derived/clusters/<name>/``, the rows
    :func:`~chainsleuth.cluster.run.cluster_dataset` writes (module docstring).

    ``heuristics``, ``name``, ``actors``, ``max_merge_size``, ``force`` and ``budget`` mean
    what they mean there (the budget bounds the driver's summaries). Uses the active
    SparkSession if there is one, else starts one on ``master`` (default: ``spark-submit``'s,
    else ``local[2]``) with ``conf`` and stops it at the end. ``bucket_rows`` sizes the tasks
    (default :data:`DEFAULT_BUCKET_ROWS`). A bad name, an existing run without ``force``, a
    bad master or a missing pyspark / Java raise :class:`~chainsleuth.errors.InputError`
    before Spark starts. See the module docstring for an example.
    """
    started = time.perf_counter()
    say = progress or (lambda _msg: None)
    spec, run_name, final_dir = run_target(ds, heuristics, name, force=force)
    if master is not None:
        check_master(master)
    problem = spark_available()
    if problem is not None:
        raise InputError(problem)
    if bucket_rows is not None and bucket_rows < 1:
        raise InputError(f"bad bucket size: {bucket_rows} (at least 1 row)")
    table = actors if actors is not None else ActorTable.from_rows([], None)
    n_addr = int(ds.manifest.counts.get("addresses", 0))
    # the guard's actor per root: int32 (4 B per address), updated in place by the unions
    codes = table.codes(n_addr, np.int32) if spec.collapse_guard else None
    guard = max_merge_size if spec.collapse_guard else NO_GUARD
    run_dir = _temp_run_dir(final_dir)
    try:
        with _quiet(), spark_session(master, conf) as spark, _task_errors():
            counts, stages, used = _run(
                spark, ds, spec, run_dir, codes, guard,
                budget or MemoryBudget.from_option(None), say,
                bucket_rows or DEFAULT_BUCKET_ROWS,
            )  # fmt: skip
        _write_parquet(table.to_arrow(), run_dir / "tags.parquet")
        _write_params(ds, spec, run_name, run_dir, table, guard, codes is not None, counts)
        say("publishing run")
        _publish(run_dir, final_dir)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    run = ClusterRun(
        name=run_name,
        path=final_dir,
        n_addresses=counts.n_addresses,
        n_clusters=counts.n_clusters,
        n_links=counts.n_links,
        n_unions=counts.n_unions,
        n_held=counts.n_held,
        n_coinjoins=counts.n_coinjoins,
        seconds=time.perf_counter() - started,
    )
    return SparkClusterReport(run, used, counts.n_windows, stages)


def _scan_many(job: ClusterJob, buckets: Iterable[int]) -> Iterator[tuple[int, int]]:
    """A scan task: its buckets one after the other (one Python worker's imports and
    compiled kernels serve them all)."""
    for k in buckets:
        yield scan_bucket(job, k)


def _links_many(job: ClusterJob, buckets: Iterable[int]) -> Iterator[tuple[int, int, int]]:
    """A link task that needs no facts (multi-input links alone), bucket after bucket."""
    for k in buckets:
        yield link_bucket(job, k, 0, None)


def _n_tasks(spark: SparkSession, nb: int) -> int:
    """Tasks per pass: four per core of the default parallelism, at most one per bucket."""
    return max(min(nb, 4 * int(spark.sparkContext.defaultParallelism)), 1)


_TASK_ERROR = re.compile(r"chainsleuth\.errors\.(\w+): ([^\n]*)")


@contextmanager
def _task_errors() -> Iterator[None]:
    """A task's :class:`~chainsleuth.errors.ChainsleuthError` (a bucket whose parts are not
    what the manifest says) as the one-line DatasetError it was, not Spark's task report."""
    try:
        yield
    except Exception as exc:
        found = _TASK_ERROR.search(str(exc))
        if found is None or type(exc).__module__.split(".")[0] not in ("pyspark", "py4j"):
            raise
        raise DatasetError(found.group(2).strip()) from None


@contextmanager
def _quiet() -> Iterator[None]:
    """Without PySpark's notice that it has not been certified on this pandas (the engine
    hands Spark Arrow batches, never pandas frames)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "PySpark does not yet fully support", FutureWarning)
        yield


def _run(
    spark: SparkSession,
    ds: Dataset,
    spec: HeuristicSpec,
    run_dir: Path,
    codes: Any,
    guard: int,
    budget: MemoryBudget,
    say: Progress,
    bucket_rows: int,
) -> tuple[StreamedCounts, dict[str, float], str]:
    """The stages (module docstring); returns the counts, each stage's seconds, the master."""
    from chainsleuth.store.clusterstats import write_cluster_stats

    stages: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        stages[stage] = round(now - clock[0], 3)
        clock[0] = now

    data = Path(ds.path).resolve()
    manifest = ds.manifest
    n_addr = int(manifest.counts.get("addresses", 0))
    sc = spark.sparkContext
    scratch = make_scratch_folder(data / "_tmp", SCRATCH_KIND)
    failed = False
    try:
        job = ClusterJob(str(data), str(scratch), bucket_rows, spec, manifest.updated)
        windows = bucket_windows(job)
        nb = len(windows)
        tasks = _n_tasks(spark, nb)
        if not sc.getConf().contains("spark.sql.shuffle.partitions"):
            # not set by --conf or spark-submit: one partition per SHUFFLE_ROWS chain rows
            chain_rows = sum(w.n_rows for w in windows)
            wanted = max(sc.defaultParallelism, -(-chain_rows // SHUFFLE_ROWS))
            spark.conf.set("spark.sql.shuffle.partitions", str(wanted))
        lap("plan")
        next_new = [0] * nb
        if nb and spec.needs_change_context:
            say(f"scanning {nb:,} buckets")
            scan = partial(_scan_many, job)
            tops = dict(sc.parallelize(range(nb), tasks).mapPartitions(scan).collect())
            running = 0
            for k in range(nb):
                next_new[k] = running
                running = max(running, int(tops[k]))
            lap("scan")
        if nb and spec.needs_cospend:
            say("merging co-spend clusters")
            (scratch / "cospend").mkdir()
            merge_cospend(
                n_addr,
                [bucket_file(scratch, "pairs", k) for k in range(nb)],
                scratch / "cospend" / "clusters.parquet",
            )
            lap("cospend")
        summary: list[tuple[int, int, int]] = []
        if nb and spec.needs_change_context:
            say(f"finding links in {nb:,} buckets")
            facts = _facts(spark, scratch, spec, nb, tasks)
            done_rows = facts.mapInArrow(link_partition(job, next_new), SUMMARY_DDL).collect()
            summary = [(int(r["bucket"]), int(r["n_links"]), int(r["n_coinjoins"]))
                       for r in done_rows]  # fmt: skip
        elif nb:
            say(f"finding links in {nb:,} buckets")
            links = partial(_links_many, job)
            summary = sc.parallelize(range(nb), tasks).mapPartitions(links).collect()
        if sorted(k for k, _n, _c in summary) != list(range(nb)):
            raise DatasetError(f"{data}: the link tasks did not cover every bucket once")
        lap("links")
        say("merging clusters (guarded union-find)")
        files = [bucket_file(scratch, "links", k) for k in range(nb)]
        guarded = guard_components(n_addr, files, guard, codes)
        parent = new_parent(n_addr)
        held_raw = run_dir / "held.raw.parquet"
        done = guarded_unions(
            parent, files, guard=guard, actor_codes=codes, guarded=guarded,
            evidence=run_dir / "evidence.parquet.tmp", held=held_raw,
        )  # fmt: skip
        del guarded
        os.replace(run_dir / "evidence.parquet.tmp", run_dir / "evidence.parquet")
        say("writing run")
        labels = np.empty(n_addr, dtype=parent_dtype(n_addr))
        _write_address_cluster(run_dir / "address_cluster.parquet", parent, labels)
        del labels
        _write_held(run_dir / "held.parquet", held_raw, parent, codes)
        held_raw.unlink()
        del parent
        lap("merge")
    except BaseException:
        failed = True
        _stop_tasks(sc)
        raise
    finally:
        _remove_scratch(scratch, settle=0.5 if failed else 0.0)
    say("summarising clusters")
    n_clusters = write_cluster_stats(
        ds,
        run_dir / "address_cluster.parquet",
        run_dir / "clusters.parquet",
        run_dir / "members.parquet",
        budget=budget,
    )
    lap("summaries")
    n_links = sum(n for _k, n, _c in summary)
    n_cj = sum(c for _k, _n, c in summary)
    counts = StreamedCounts(n_addr, n_clusters, n_links, done.n_unions, done.n_held, n_cj, nb)
    return counts, stages, str(sc.master)


def _stop_tasks(sc: Any, wait: float = 60.0) -> None:
    """Cancel this session's jobs and wait (at most ``wait`` seconds) until none is active: a
    failed job's other tasks keep running, and writing staging files, until Spark kills them."""
    sc.cancelAllJobs()
    tracker = sc.statusTracker()
    deadline = time.monotonic() + wait
    while (tracker.getActiveJobsIds() or tracker.getActiveStageIds()) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.2)


def _remove_scratch(scratch: Path, settle: float = 0.5, tries: int = 10) -> None:
    """Remove the staging folder, again if a task still finishing after a failure writes into
    it (a Python worker outlives its cancelled task by a moment)."""
    for _ in range(tries):
        shutil.rmtree(scratch, ignore_errors=True)
        if not settle:
            return
        time.sleep(settle)
        if not scratch.exists():
            return


def _facts(
    spark: SparkSession, scratch: Path, spec: HeuristicSpec, nb: int, tasks: int
) -> DataFrame:
    """The joins: each bucket's addresses with their outputs count and co-spend cluster, its
    spenders with their codes, and a marker row per bucket — as :data:`FACTS_DDL` rows
    range-partitioned by bucket (each task a run of consecutive buckets) and sorted by
    (bucket, kind, key)."""
    from pyspark.sql import functions as F

    def staged(kind: str) -> DataFrame:
        return spark.read.parquet(str(scratch / kind))

    zero = F.lit(0).cast("long")
    cap = int(np.iinfo(outputs_dtype(spec)).max)  # the embedded count saturates there
    n_out = (
        staged("counts")
        .groupBy("addr_id")
        .agg(F.least(F.sum("n"), F.lit(cap).cast("long")).alias("n_outputs"))
    )
    addr = staged("need_addr").join(n_out, "addr_id", "left")
    root, size = F.col("addr_id"), F.lit(1).cast("long")
    if spec.needs_cospend:
        addr = addr.join(staged("cospend"), "addr_id", "left")
        root = F.coalesce(F.col("root"), F.col("addr_id"))
        size = F.coalesce(F.col("size"), F.lit(1).cast("long"))
    addr_rows = addr.select(
        F.col("bucket").cast("int").alias("bucket"),
        F.lit(FACT_ADDR).cast("int").alias("kind"),
        F.col("addr_id").cast("long").alias("key"),
        F.coalesce(F.col("n_outputs"), zero).cast("long").alias("v1"),
        root.cast("long").alias("v2"),
        size.cast("long").alias("v3"),
        zero.alias("v4"),
        zero.alias("v5"),
    )
    detail = ["n_in", "n_out", "height", "version"]
    extra = (
        [F.col(c).cast("long").alias(f"v{i}") for i, c in enumerate(detail, 2)]
        if spec.change_model is not None
        else [zero.alias(f"v{i}") for i in range(2, 6)]
    )
    tx_rows = (
        staged("need_tx")
        .join(staged("codes"), "tx_id")
        .select(
            F.col("bucket").cast("int").alias("bucket"),
            F.lit(FACT_TX).cast("int").alias("kind"),
            F.col("tx_id").cast("long").alias("key"),
            F.col("code").cast("long").alias("v1"),
            *extra,
        )
    )
    marks = spark.range(nb).select(
        F.col("id").cast("int").alias("bucket"),
        F.lit(FACT_MARK).cast("int").alias("kind"),
        F.lit(-1).cast("long").alias("key"),
        *[zero.alias(f"v{i}") for i in range(1, 6)],
    )
    return (
        marks.unionByName(addr_rows)
        .unionByName(tx_rows)
        .repartitionByRange(tasks, "bucket")
        .sortWithinPartitions("bucket", "kind", "key")
    )
