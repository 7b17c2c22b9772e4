"""Spark against the embedded engine, stage by stage, and the cluster stage on 1 and 2 workers.

On a generated chain (``generate_scale_chain``, cached under ``--work``), each contestant runs
the CLI in a fresh process (``--json``), its peak RSS summed over the process and its children
(the Spark driver's JVM and, with ``local[N]``, the executors) sampled from ``/proc`` every
0.2 s:

* ``ingest`` — the named baseline ``embedded`` (``--engine local``) against ``spark local[2]``;
* ``cluster`` (``default`` heuristics) — ``embedded`` against ``spark local[2]``, then on a
  standalone cluster on loopback (:mod:`chainsleuth.spark.standalone`) with 1 and with 2
  workers of one core each (the 2-worker run's speed-up over the 1-worker run is the scaling).

Prints per stage the wall time, the ratio to the baseline and the peak RSS; every Spark run
must write the same dataset/clustering (checked by row counts here, by content in
``tests/spark``).

    python bench/spark.py --txs 1000000 --work /tmp/sparkbench [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from chainsleuth.simulate.scalechain import generate_scale_chain
from chainsleuth.spark.standalone import standalone_cluster


def _tree_rss(pid: int) -> int:
    """RSS of ``pid`` and its descendants, bytes."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            for t in Path(f"/proc/{p}/task").iterdir():
                kids = (t / "children").read_text().split()
                todo.extend(int(k) for k in kids)
        except OSError:
            continue
    return total


def run(args: list[str], env: dict[str, str] | None = None) -> tuple[float, int, dict[str, Any]]:
    """``chainsleuth ARGS --json`` in a fresh process: wall seconds, peak tree RSS, report."""
    cmd = [sys.executable, "-m", "chainsleuth.cli", *args, "--json"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(0.2)
    out, err = proc.communicate()
    seconds = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{' '.join(args[:2])} failed: {err.decode()[-2000:]}")
    return seconds, peak, json.loads(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--txs", type=int, default=1_000_000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/sparkbench"))
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--memory-limit", default="2G")
    args = ap.parse_args()
    chain = args.work / f"chain-{args.txs}"
    if not (chain / "blocks").is_dir():
        generate_scale_chain(chain, args.txs, seed=1)
    blocks = str((chain / "blocks").resolve())
    conf = ["--conf", "spark.driver.memory=2g", "--conf", "spark.ui.enabled=false"]
    rows: dict[str, list[tuple[float, int]]] = {}

    def record(name: str, got: tuple[float, int, dict[str, Any]]) -> dict[str, Any]:
        rows.setdefault(name, []).append(got[:2])
        print(f"  {name}: {got[0]:.1f} s, peak {got[1] / 2**20:,.0f} MiB", flush=True)
        return got[2]

    for _ in range(args.repeat):
        datasets = {}
        for engine in ("embedded", "spark local[2]"):
            ds = args.work / ("ds-" + engine.split()[0])
            shutil.rmtree(ds, ignore_errors=True)
            spark_args = ["--engine", "spark", "--master", "local[2]", *conf]
            extra = spark_args if "spark" in engine else []
            ingest = ["ingest", blocks, "--data", str(ds), "--network", "regtest"]
            rep = record(
                f"ingest {engine}", run([*ingest, "--memory-limit", args.memory_limit, *extra])
            )
            datasets[engine] = (ds, rep.get("txs_added"))
        assert len({n for _p, n in datasets.values()}) == 1, datasets
        ds = datasets["embedded"][0]
        base = ["cluster", "--data", str(ds), "--memory-limit", args.memory_limit, "--force"]
        counts = set()
        rep = record("cluster embedded", run([*base, "--name", "emb"]))
        counts.add(rep["clusters"])
        spark = ["--engine", "spark", *conf]
        rep = record(
            "cluster spark local[2]", run([*base, "--name", "sl2", *spark, "--master", "local[2]"])
        )
        counts.add(rep["clusters"])
        for workers in (1, 2):
            root = args.work / f"standalone-{workers}"
            shutil.rmtree(root, ignore_errors=True)
            with standalone_cluster(root, workers=workers, cores=1, worker_memory="2g") as c:
                env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
                on = [*spark, "--master", c.master_url, *c.conf_args()]
                rep = record(
                    f"cluster spark standalone {workers} worker(s)",
                    run([*base, "--name", f"sa{workers}", *on], env),
                )
                counts.add(rep["clusters"])
        assert len(counts) == 1, counts
    print(f"\nchain {args.txs:,} tx, medians of {args.repeat}:")
    med = {k: (statistics.median(s for s, _ in v), max(r for _, r in v)) for k, v in rows.items()}
    for name, (sec, rss) in med.items():
        stage = name.split()[0]
        ratio = sec / med[f"{stage} embedded"][0]
        print(f"{name:38s} {sec:8.1f} s  {ratio:5.2f}x the embedded  peak {rss / 2**20:7,.0f} MiB")
    one = med["cluster spark standalone 1 worker(s)"][0]
    two = med["cluster spark standalone 2 worker(s)"][0]
    print(f"cluster scaling, 1 -> 2 workers: {one / two:.2f}x")


if __name__ == "__main__":
    main()
