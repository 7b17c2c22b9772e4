"""Where the streamed link pass spends its time, window by window, early chain against late.

Runs the streamed engine's two passes (:class:`chainsleuth.cluster.stream.StreamPass`) over a
dataset and times each window's parts separately: reading the window from Parquet, building its
links, reading its outputs' spenders, applying the links to the union-find, writing the
evidence rows (to a scratch file). The named baseline is the first 10 % of the chain's
transactions in the same run (after one untimed warm-up window that compiles the kernels);
linear cost means the last 10 % runs at ≥ 0.8× its rate. Per-part figures are µs per
transaction, so a part whose cost grows with the chain's length shows up by name, and a
slowdown that appears in every part at once points at the machine.

Usage::

    python bench/cluster_windows.py --data /work/scale/dataset --memory-limit 2G
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

_RUN = """
import json, sys, tempfile, time
from pathlib import Path
import pyarrow.parquet as pq
from chainsleuth.budget import MemoryBudget, peak_rss_bytes
from chainsleuth.cluster import DEFAULT_MAX_MERGE_SIZE
from chainsleuth.cluster.spec import parse_heuristics
from chainsleuth.cluster.stream import EVIDENCE_SCHEMA, ROW_GROUP, StreamPass, evidence_table
from chainsleuth.graph.unionfind import new_parent, union_links
from chainsleuth.store.dataset import Dataset
from chainsleuth.store.windows import chain_windows, load_window, window_rows
now = time.perf_counter
data, limit, heuristics = sys.argv[1:4]
budget = MemoryBudget.from_option(limit)
ds = Dataset.open(data)
budget.apply(ds.con, ds.path)
spec = parse_heuristics(heuristics)
max_rows = window_rows(max(budget.share(0.25), 32 << 20))
stream = StreamPass(ds.path, ds.manifest, spec, max_rows, con=ds.con)
t = now()
facts = stream.scan()
facts_s = now() - t
parent = new_parent(stream.n_addr)
spent = [0.0]
lookup = stream.spenders.spenders
def timed(lo, hi):
    t = now(); got = lookup(lo, hi); spent[0] += now() - t; return got
stream.spenders.spenders = timed
windows = chain_windows(ds.manifest, max_rows)
stream._window_links(load_window(ds.path, ds.manifest, windows[0]), facts, 0)  # warm-up (JIT)
rows, next_new = [], 0
with tempfile.TemporaryDirectory() as tmp, pq.ParquetWriter(
        Path(tmp) / "evidence.parquet", EVIDENCE_SCHEMA) as out:
    for w in windows:
        t0 = now(); lw = load_window(ds.path, ds.manifest, w); t1 = now()
        spent[0] = 0.0
        got, next_new = stream._window_links(lw, facts, next_new); t2 = now()
        links = got.links
        merged, held = union_links(parent, links.a, links.b, actor=None,
                                   max_merge_size=DEFAULT_MAX_MERGE_SIZE); t3 = now()
        if len(merged):
            out.write_table(evidence_table(links, merged), row_group_size=ROW_GROUP)
        t4 = now()
        rows.append({"tx": w.tx_hi - w.tx_lo, "read": t1 - t0, "links": t2 - t1 - spent[0],
                     "spenders": spent[0], "union": t3 - t2, "write": t4 - t3})
print(json.dumps({"facts": facts_s, "indexed": stream.spenders.indexed,
                  "peak_rss": peak_rss_bytes(), "limit": budget.bytes, "windows": rows}))
"""

PARTS = ("read", "links", "spenders", "union", "write")


def _slice(rows: list[dict[str, float]], lo: float, hi: float) -> list[dict[str, float]]:
    """The windows overlapping [lo, hi) of the chain's transactions (at least one)."""
    total = sum(r["tx"] for r in rows)
    picked, done = [], 0.0
    for r in rows:
        if done < hi * total and done + r["tx"] > lo * total:
            picked.append(r)
        done += r["tx"]
    return picked


def _summary(rows: list[dict[str, float]]) -> tuple[float, dict[str, float]]:
    """tx/s over ``rows`` and each part's µs per transaction."""
    n = sum(r["tx"] for r in rows)
    per = {p: 1e6 * sum(r[p] for r in rows) / n for p in PARTS}
    return n / (sum(per.values()) * n / 1e6), per


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--memory-limit", default="2G")
    ap.add_argument("--heuristics", default="default")
    args = ap.parse_args()
    proc = subprocess.run(
        [sys.executable, "-c", _RUN, str(args.data), args.memory_limit, args.heuristics],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = res["windows"]
    print(
        f"{args.data}: {len(rows)} windows, spenders from "
        f"{'index files' if res['indexed'] else 'DuckDB (no index files)'}; facts pass "
        f"{res['facts']:.1f} s; peak RSS {res['peak_rss'] / 2**20:,.0f} MiB "
        f"({res['peak_rss'] / res['limit']:.2f} of the limit)"
    )
    print(f"{'slice':>14} {'tx/s':>9}  " + "  ".join(f"{p:>8}" for p in PARTS) + "  (µs/tx)")
    rates = {}
    for name, lo, hi in (("first 10 %", 0.0, 0.1), ("all", 0.0, 1.0), ("last 10 %", 0.9, 1.0)):
        rate, per = _summary(_slice(rows, lo, hi))
        rates[name] = rate
        print(f"{name:>14} {rate:9,.0f}  " + "  ".join(f"{per[p]:8.2f}" for p in PARTS))
    print(f"last 10 % / first 10 % (baseline): {rates['last 10 %'] / rates['first 10 %']:.2f}")


if __name__ == "__main__":
    main()
