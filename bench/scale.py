"""Whole-chain behaviour of ingest on a generated mainnet-shaped chain: linear cost, bounded RAM.

Generates (once, cached) a scale chain with :mod:`chainsleuth.simulate.scalechain`, then ingests
it in a fresh subprocess under ``--memory-limit`` and prints, from the progress hook, the
throughput of the first 10 % of the transactions (the named baseline) against the last 10 %
(ratio; linear cost means ≈ 1), the peak RSS against the limit, the address dictionary's size
on disk, and the disk used per table.

Usage::

    python bench/scale.py --txs 20000000 --out /tmp/scale --memory-limit 2G
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

_INGEST = """
import json, os, sys, time
from chainsleuth.ingest import ingest_blocks
marks = []
t0 = time.perf_counter()
def hook(blocks, txs, total):
    marks.append((time.perf_counter() - t0, txs, os.getloadavg()[0]))
r = ingest_blocks(sys.argv[1], sys.argv[2], "regtest", memory_limit=sys.argv[3], progress=hook,
                  partition_span=int(sys.argv[4]))
print(json.dumps({"txs": r.txs_added, "seconds": r.seconds, "peak_rss": r.peak_rss,
                  "limit": r.memory_limit, "marks": marks}))
"""


def _window_rate(marks: list[list[float]], lo: float, hi: float) -> float:
    """tx/s between the marks nearest to the fractions lo and hi of the transactions."""
    total = marks[-1][1]
    a = min(marks, key=lambda m: abs(m[1] - lo * total))
    b = min(marks, key=lambda m: abs(m[1] - hi * total))
    if lo == 0:
        a = [0.0, 0]
    return (b[1] - a[1]) / max(b[0] - a[0], 1e-9)


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--txs", type=int, default=2_000_000)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "scale")
    ap.add_argument("--memory-limit", default="2G")
    ap.add_argument("--partition-span", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    chain = args.out / f"chain-{args.txs}-{args.seed}"
    if not (chain / "report.json").exists():
        from chainsleuth.simulate.scalechain import generate_scale_chain

        rep = generate_scale_chain(chain, args.txs, seed=args.seed)
        (chain / "report.json").write_text(
            json.dumps(
                {
                    "n_txs": rep.n_txs,
                    "n_addresses": rep.n_addresses,
                    "n_outputs": rep.n_outputs,
                    "n_inputs": rep.n_inputs,
                    "seconds": rep.seconds,
                    "bytes": rep.bytes_written,
                }
            )
        )
    gen = json.loads((chain / "report.json").read_text())
    gen.setdefault("bytes", gen.get("bytes_written", 0))  # a report.json of the generator's
    data = args.out / "dataset"
    shutil.rmtree(data, ignore_errors=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _INGEST,
            str(chain / "blocks"),
            str(data),
            args.memory_limit,
            str(args.partition_span),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        sys.exit(f"ingest failed (exit code {proc.returncode}):\n{proc.stderr[-4000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    first = _window_rate(res["marks"], 0.0, 0.1)
    last = _window_rate(res["marks"], 0.9, 1.0)
    tables = {t.name: _du(t) for t in sorted((data / "tables").iterdir())}
    print(f"chain: {gen['n_txs']:,} txs, {gen['n_outputs']:,} outputs, {gen['n_inputs']:,} "
          f"inputs, {gen['n_addresses']:,} addresses, {gen['bytes'] / 2**30:.2f} GiB of blk "
          f"files (generated in {gen['seconds']:.0f} s)")  # fmt: skip
    print(f"ingest: {res['txs'] / res['seconds']:,.0f} tx/s over {res['seconds']:.0f} s")
    print(f"first 10% (baseline): {first:,.0f} tx/s; last 10%: {last:,.0f} tx/s; "
          f"ratio {last / first:.2f}")  # fmt: skip
    print(f"peak RSS {res['peak_rss'] / 2**20:,.0f} MiB against a limit of "
          f"{res['limit'] / 2**20:,.0f} MiB ({res['peak_rss'] / res['limit']:.2f})")  # fmt: skip
    print(
        f"state on disk {_du(data / 'state') / 2**20:,.0f} MiB; lookup indexes "
        f"{_du(data / 'index') / 2**20:,.0f} MiB; tables (MiB): "
        + ", ".join(f"{k} {v / 2**20:,.0f}" for k, v in tables.items())
    )
    deciles = []
    for d in range(10):
        rate = _window_rate(res["marks"], d / 10, (d + 1) / 10)
        load = [m[2] for m in res["marks"] if d / 10 <= m[1] / res["marks"][-1][1] < (d + 1) / 10]
        deciles.append(f"{rate / 1000:,.0f}k (load {max(load, default=0):.1f})")
    print("per tenth of the transactions, tx/s (1-minute load average, max): " + ", ".join(deciles))


if __name__ == "__main__":
    main()
