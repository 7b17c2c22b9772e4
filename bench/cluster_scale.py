"""Whole-chain behaviour of ``cluster``: the streamed engine against the in-RAM one, same dataset.

Each engine runs in a fresh subprocess (so peak RSS is its own) on an ingested dataset (e.g.
one ``bench/scale.py`` made). The named baseline is the in-RAM engine (``engine="memory"``)
in the same invocation; ``--skip-memory`` leaves it out when the chain is too large for it.
From the progress hook the streamed run reports its phases and the throughput of the link
pass over the first 10 % of transactions against the last 10 % (linear cost means ≈ 1).

Usage::

    python bench/cluster_scale.py --data /tmp/scale2m/dataset --memory-limit 1G
    python bench/cluster_scale.py --data /work/scale/dataset --memory-limit 2G --skip-memory
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

_RUN = """
import json, sys, time
from chainsleuth.budget import MemoryBudget, peak_rss_bytes
from chainsleuth.cluster.run import cluster_dataset
from chainsleuth.store.dataset import Dataset
data, limit, engine, heuristics = sys.argv[1:5]
marks, phases = [], []
t0 = time.perf_counter()
def say(msg):
    now = time.perf_counter() - t0
    head = msg.split(":")[0]
    if not phases or phases[-1][0] != head:
        phases.append([head, now, peak_rss_bytes()])
        print(f"  [{engine}] {now:8.1f} s  {peak_rss_bytes() / 2**20:7,.0f} MiB  {head}",
              file=sys.stderr, flush=True)
    if msg.startswith("finding links:"):
        marks.append((now, float(msg.split(":")[1].split("%")[0])))
budget = MemoryBudget.from_option(limit)
with Dataset.open(data) as ds:
    budget.apply(ds.con, ds.path)
    r = cluster_dataset(ds, heuristics, f"bench-{engine}", force=True, budget=budget,
                        engine=engine, progress=say)
print(json.dumps({"seconds": time.perf_counter() - t0, "peak_rss": peak_rss_bytes(),
                  "limit": budget.bytes, "clusters": r.n_clusters, "unions": r.n_unions,
                  "phases": phases, "marks": marks}))
"""


def _run(data: Path, limit: str, engine: str, heuristics: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", _RUN, str(data), limit, engine, heuristics],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )  # the child's progress and errors go straight to our stderr
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode} (see above)"}
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _rate(marks: list[list[float]], lo: float, hi: float, n_tx: int) -> float:
    """tx/s of the link pass between the progress marks nearest lo and hi percent."""
    a = min(marks, key=lambda m: abs(m[1] - lo))
    b = min(marks, key=lambda m: abs(m[1] - hi))
    return (b[1] - a[1]) / 100 * n_tx / max(b[0] - a[0], 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--memory-limit", default="2G")
    ap.add_argument("--heuristics", default="default")
    ap.add_argument("--skip-memory", action="store_true", help="leave out the in-RAM baseline")
    args = ap.parse_args()
    manifest = json.loads((args.data / "manifest.json").read_text())
    n_tx = int(manifest["counts"]["txs"])
    print(f"{args.data}: {n_tx:,} transactions, {manifest['counts']['addresses']:,} addresses")
    results = {}
    for engine in ("stream",) if args.skip_memory else ("memory", "stream"):
        results[engine] = res = _run(args.data, args.memory_limit, engine, args.heuristics)
        if "error" in res:
            print(f"{engine:>7}: failed: {res['error']}")
            continue
        print(
            f"{engine:>7}: {res['seconds']:8.1f} s  {n_tx / float(res['seconds']):9,.0f} tx/s  "
            f"peak RSS {int(res['peak_rss']) / 2**20:7,.0f} MiB "
            f"({int(res['peak_rss']) / int(res['limit']):.2f} of the limit)  "
            f"{res['clusters']:,} clusters"
        )
        for name, start, peak in res["phases"]:  # type: ignore[union-attr]
            print(f"         {start:8.1f} s  {peak / 2**20:7,.0f} MiB peak so far  {name}")
    stream, memory = results.get("stream", {}), results.get("memory", {})
    marks = stream.get("marks") or []
    if len(marks) >= 4:  # type: ignore[arg-type]
        first = _rate(marks, 0, 10, n_tx)  # type: ignore[arg-type]
        last = _rate(marks, 90, 100, n_tx)  # type: ignore[arg-type]
        print(f"link pass: first 10 % {first:,.0f} tx/s → last 10 % {last:,.0f} tx/s "
              f"(ratio {last / first:.2f})")  # fmt: skip
    if "seconds" in stream and "seconds" in memory:
        print(
            f"stream / memory: time {float(stream['seconds']) / float(memory['seconds']):.2f}×, "
            f"peak RSS {int(stream['peak_rss']) / int(memory['peak_rss']):.2f}×, same clusters: "
            f"{stream['clusters'] == memory['clusters'] and stream['unions'] == memory['unions']}"
        )


if __name__ == "__main__":
    main()
