"""A real distributed run: a Spark standalone master and two workers on 127.0.0.1, started from
the pyspark package's launch classes (:mod:`chainsleuth.spark.standalone`), driven by the
``chainsleuth`` command line in its own process, as a user runs it.

- ``ingest --engine spark --master spark://127.0.0.1:PORT`` writes the embedded engine's dataset,
  with tasks run by the executors of both workers;
- ``cluster --engine spark`` on that cluster writes the embedded engine's run;
- a worker killed (with its executor) in the middle of the ingest: Spark runs the lost work on
  the other worker and the dataset is still the embedded engine's;
- at the end no process of the cluster is left.

One cluster serves the module (starting one takes 10-20 s on two cores).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from tests.spark.parity import assert_same_dataset, assert_same_run

from chainsleuth.ingest import ingest_blocks
from chainsleuth.spark import spark_available
from chainsleuth.spark.standalone import StandaloneCluster, free_port, standalone_cluster

pytestmark = [
    pytest.mark.skipif(
        spark_available() is not None,
        reason=f"the standalone cluster needs pyspark and Java: {spark_available()}",
    ),
    pytest.mark.timeout(900),  # a hung cluster fails the test; the fixture still stops it
]

DATA = Path(__file__).resolve().parents[1] / "data"
PACKS = [DATA / "tagpacks" / "exchange-1-deposits.yaml",
         DATA / "tagpacks" / "exchange-2-deposits.yaml"]  # fmt: skip
SPAN = 100
# small jobs: no waiting for a data-local executor slot, one shuffle partition per core
TEST_CONF = ["--conf", "spark.locality.wait=0s", "--conf", "spark.sql.shuffle.partitions=2"]


def leftovers(root: Path) -> list[int]:
    """Live processes that name the cluster's folder on their command line (the daemons' and
    executors' ``SPARK_CONF_DIR`` classpath entry, the workers' ``--work-dir``) or work inside
    it (the executors' Python workers): a check that does not trust the module's own marker."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (str(root).encode() in cmdline or cwd.startswith(str(root))):
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneCluster]:
    """A master and two workers of one core and 1 GiB each, on 127.0.0.1."""
    with standalone_cluster(tmp_path_factory.mktemp("standalone"), workers=2) as running:
        assert len(leftovers(running.root)) >= 3  # the check sees the master and workers
        yield running
    assert running.processes() == []
    assert leftovers(running.root) == []


@dataclass
class Driver:
    """A ``chainsleuth`` process and the files its output goes to (a pipe left unread while
    the test polls could stall it)."""

    process: subprocess.Popen[bytes]
    out: IO[bytes]
    err: IO[bytes]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.out.close()
        self.err.close()


def chainsleuth(cluster: StandaloneCluster, *args: str, cwd: Path | None = None) -> Driver:
    """``chainsleuth ARGS --engine spark --master <cluster> --json`` in a process of its own
    (the driver, in ``cwd``), bound to 127.0.0.1; its executors run this interpreter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYSPARK_GATEWAY")}
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    spark = ["--engine", "spark", "--master", cluster.master_url, *cluster.conf_args()]
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()  # noqa: SIM115 - Driver.close
    command = [sys.executable, "-m", "chainsleuth.cli", *args, *spark, *TEST_CONF, "--json"]
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd
    )
    return Driver(process, out, err)


def finish(driver: Driver, cluster: StandaloneCluster) -> dict[str, Any]:
    """The JSON report of a finished ``chainsleuth`` process (which must have exited 0)."""
    code = driver.process.wait()
    texts = []
    for stream in (driver.out, driver.err):
        stream.seek(0)
        texts.append(stream.read().decode(errors="replace"))
    driver.close()
    assert code == 0, texts[1][-3000:]
    report: dict[str, Any] = json.loads(texts[0])
    assert report["engine"] == "spark" and report["master"] == cluster.master_url
    return report


def tasks_run(cluster: StandaloneCluster, worker: str) -> int:
    """Tasks the executors of ``worker`` started (their logs under the cluster's folder)."""
    logs = (cluster.root / worker / "work").glob("app-*/*/stderr")
    return sum(log.read_text(errors="replace").count("Running task") for log in logs)


@pytest.fixture(scope="module")
def spark_dataset(
    cluster: StandaloneCluster, regtest_blocks_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The regtest chain ingested through the CLI on the two-worker cluster, the paths given
    relative to the driver's folder (executors run in their workers' folders)."""
    path = tmp_path_factory.mktemp("standalone-ingest") / "dataset"
    blocks = os.path.relpath(regtest_blocks_dir, path.parent)
    ingest = ["ingest", blocks, "--data", "dataset", "--network", "regtest"]
    driver = chainsleuth(cluster, *ingest, "--partition-span", str(SPAN), cwd=path.parent)
    report = finish(driver, cluster)
    assert report["tip_height"] == 473
    return path


def test_ingest_on_two_workers_writes_the_embedded_dataset(
    cluster: StandaloneCluster, spark_dataset: Path, regtest_dataset: Path
) -> None:
    assert_same_dataset(regtest_dataset, spark_dataset)
    status = cluster.status()
    assert status["aliveworkers"] == 2 and not status["activeapps"]
    assert [app["state"] for app in status["completedapps"]] == ["FINISHED"]
    for worker in cluster.workers():  # both executors did part of the work
        assert tasks_run(cluster, worker) > 0, worker


def test_cluster_on_two_workers_writes_the_embedded_run(
    cluster: StandaloneCluster, spark_dataset: Path, tmp_path: Path, cli_run: Any
) -> None:
    """``cluster --engine spark`` against the standalone master: the embedded run's rows."""
    ds = tmp_path / "ds"
    shutil.copytree(spark_dataset, ds, ignore=shutil.ignore_patterns("derived"))
    code, _, err = cli_run("tags", "import", *map(str, PACKS), "--data", str(ds))
    assert code == 0, err
    code, _, err = cli_run("cluster", "--data", str(ds), "--name", "embedded")
    assert code == 0, err
    spark_run = ["cluster", "--data", str(ds), "--name", "standalone"]
    finish(chainsleuth(cluster, *spark_run), cluster)
    runs = ds / "derived" / "clusters"
    assert_same_run(runs / "embedded", runs / "standalone")


def _driver_api(port: int, path: str) -> Any:
    """The driver's monitoring REST API (its web UI on 127.0.0.1:``port``)."""
    url = f"http://127.0.0.1:{port}/api/v1/applications{path}"
    with urllib.request.urlopen(url, timeout=5) as response:  # loopback only
        return json.load(response)


def test_worker_killed_mid_job_gives_the_same_dataset(
    cluster: StandaloneCluster, regtest_blocks_dir: Path, tmp_path: Path
) -> None:
    """Once the first jobs (count, parse) are done, worker 1 dies with its executor while
    that executor runs a task and holds shuffle output: the driver drops the executor, Spark
    reruns its task and the lost map outputs on worker 2, and the dataset equals the embedded
    engine's. Progress is read from the driver's REST API (no listener in the driver)."""
    victim, survivor = cluster.workers()
    embedded = tmp_path / "embedded"
    ingest_blocks(regtest_blocks_dir, embedded, "regtest", partition_span=SPAN, to_height=199)
    ui = free_port()
    driver = chainsleuth(
        cluster, "ingest", str(regtest_blocks_dir), "--data", str(tmp_path / "spark"),
        "--network", "regtest", "--partition-span", str(SPAN), "--to-height", "199",
        "--conf", "spark.ui.enabled=true", "--conf", f"spark.ui.port={ui}",
    )  # fmt: skip
    process = driver.process
    try:
        app, ready = "", False
        deadline = time.monotonic() + 600
        while not ready and process.poll() is None and time.monotonic() < deadline:
            try:
                app = app or _driver_api(ui, "")[0]["id"]
                jobs = _driver_api(ui, f"/{app}/jobs")
                mine = {p.name for p in (cluster.root / victim / "work" / app).glob("*")}
                busy = [
                    e
                    for e in _driver_api(ui, f"/{app}/executors")
                    if e["id"] in mine and e["activeTasks"] > 0 and e["totalShuffleWrite"] > 0
                ]
                ready = sum(job["status"] == "SUCCEEDED" for job in jobs) >= 2 and bool(busy)
            except (OSError, ValueError, IndexError, KeyError):
                pass  # the driver is not up yet
            if not ready:
                time.sleep(0.05)
        assert process.poll() is None, "the job ended before the worker could be killed"
        assert ready, "worker 1 never ran a task with shuffle output to lose"
        before = tasks_run(cluster, survivor)
        cluster.kill_worker(victim)
        removed = False  # the driver drops the lost executor (and reruns its task)
        while not removed and process.poll() is None:
            with contextlib.suppress(OSError, ValueError, KeyError):
                executors = _driver_api(ui, f"/{app}/allexecutors")
                removed = any(e["id"] in mine and not e["isActive"] for e in executors)
            time.sleep(0.2)
        report = finish(driver, cluster)
    finally:
        driver.close()
    assert removed
    assert report["tip_height"] == 199
    assert cluster.alive_workers() == 1
    assert tasks_run(cluster, survivor) > before  # the rest (and the lost work) ran there
    assert_same_dataset(embedded, tmp_path / "spark")


def test_stop_leaves_no_process(cluster: StandaloneCluster) -> None:
    """Stopping the cluster ends the master, the workers, their executors and the executors'
    Python workers (the module fixture checks once more after its own stop)."""
    assert len(cluster.processes()) >= 2  # the master and the remaining worker at least
    cluster.stop()
    assert cluster.processes() == []
    assert leftovers(cluster.root) == []
