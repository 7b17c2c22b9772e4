"""Cluster summaries: the streamed address sums against the four DuckDB statements.

Times :func:`chainsleuth.store.clusterstats.write_cluster_stats` on a clustered dataset twice
per repeat, alternating: with the streamed per-address sums and activity
(:mod:`chainsleuth.store.addresssums`) and, the named baseline, with DuckDB doing all four
steps. Prints each stage's time, the medians, the ratio and whether both wrote the same rows.

    python bench/cluster_summaries.py --data DATASET [--run default] [--memory-limit 2G]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

import chainsleuth.store.clusterstats as clusterstats
from chainsleuth.budget import MemoryBudget, parse_size
from chainsleuth.store.dataset import Dataset

MODES = ("streamed", "duckdb")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--run", default="default")
    ap.add_argument("--memory-limit", default="2G")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    ds = Dataset.open(args.data)
    source = ds.path / "derived" / "clusters" / args.run / "address_cluster.parquet"
    budget = MemoryBudget(parse_size(args.memory_limit), "option")
    streamed = clusterstats.address_sums
    times: dict[str, list[float]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for _ in range(args.repeat):
            for mode in MODES:
                clusterstats.address_sums = (  # type: ignore[assignment]
                    streamed if mode == "streamed" else (lambda *_a, **_k: False)
                )
                marks: list[tuple[str, float]] = []
                t0 = time.perf_counter()
                clusterstats.write_cluster_stats(
                    ds,
                    source,
                    out / f"clusters-{mode}.parquet",
                    out / f"members-{mode}.parquet",
                    budget=budget,
                    progress=lambda m, t0=t0, at=marks: at.append((m, time.perf_counter() - t0)),
                )
                times[mode].append(time.perf_counter() - t0)
                stages = ", ".join(f"{m.split(' of ')[0]} @{t:.1f}s" for m, t in marks)
                print(f"{mode:9} {times[mode][-1]:6.1f} s  ({stages})", flush=True)
        clusterstats.address_sums = streamed
        for mode in MODES:
            print(f"{mode:9} median {statistics.median(times[mode]):.1f} s")
        ratio = statistics.median(times["duckdb"]) / statistics.median(times["streamed"])
        print(f"streamed speed-up over the DuckDB baseline: {ratio:.2f}x")
        for kind in ("clusters", "members"):
            a = pq.read_table(out / f"{kind}-streamed.parquet")
            b = pq.read_table(out / f"{kind}-duckdb.parquet")
            print(f"{kind}: same rows: {a.equals(b)}")


if __name__ == "__main__":
    main()
