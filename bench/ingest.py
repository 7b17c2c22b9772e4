"""End-to-end ingest throughput and peak memory, against the bare block reader in the same run.

Ingest = scan + parse + txids + checks + script types + address dictionary (with address
strings) + input linking through the UTXO index + Parquet writes + manifest. The named baseline
is the block reader alone (scan + parse + txids + script types) over the same files: the ratio
says what linking, the address dictionary and writing cost on top of reading.

Each measurement runs in a fresh subprocess (so peak RSS is its own); figures are medians.

Usage::

    python bench/ingest.py --scenario scenarios/case.yaml      # simulate once (cached), then ingest
    python bench/ingest.py --blocks DIR --network regtest       # any blocks directory
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).parent / "out"

_INGEST = """
import json, resource, sys, time
from chainsleuth.ingest import ingest_blocks
t = time.perf_counter()
r = ingest_blocks(sys.argv[1], sys.argv[2], sys.argv[3])
secs = time.perf_counter() - t
print(json.dumps({"txs": r.txs_added, "blocks": r.blocks_added, "seconds": secs,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_READER = """
import json, resource, sys, time
import numpy as np
from pathlib import Path
from chainsleuth.chain.network import get_network
from chainsleuth.ingest.blkfiles import BlockFiles
from chainsleuth.ingest.kernels import classify_outputs, parse_blocks
from chainsleuth.ingest.txids import hash_txids
files = BlockFiles.open(Path(sys.argv[1]), get_network(sys.argv[3]))
t = time.perf_counter()
n = 0
recs = files.scan()
for k in range(0, len(recs), 256):
    raws = [files.read_block(r) for r in recs[k:k + 256]]
    raw = b"".join(raws)
    ends = np.cumsum([len(x) for x in raws]); starts = ends - np.array([len(x) for x in raws])
    buf = np.frombuffer(raw, np.uint8)
    _, _, _, tx, _, out = parse_blocks(buf, starts, ends)
    hash_txids(raw, tx); classify_outputs(buf, out[:, 1], out[:, 2]); n += tx.shape[0]
secs = time.perf_counter() - t
print(json.dumps({"txs": n, "seconds": secs,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _run(script: str, blocks: Path, dest: Path, network: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", script, str(blocks), str(dest), network],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=Path)
    ap.add_argument("--network", default="regtest")
    ap.add_argument("--scenario", type=Path, default=Path("scenarios/case.yaml"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    blocks = args.blocks
    if blocks is None:
        sim = OUT / args.scenario.stem
        if not (sim / "blocks").exists():
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "chainsleuth.cli",
                    "simulate",
                    str(args.scenario),
                    "--out",
                    str(sim),
                    "--quiet",
                ],
                check=True,
            )
        blocks = sim / "blocks"
    size = sum(p.stat().st_size for p in blocks.glob("blk*.dat"))
    ingest_runs, reader_runs = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            ingest_runs.append(_run(_INGEST, blocks, Path(tmp) / "ds", args.network))
            ds_size = sum(p.stat().st_size for p in (Path(tmp) / "ds").rglob("*.parquet"))
        reader_runs.append(_run(_READER, blocks, Path("/dev/null"), args.network))
        shutil.rmtree(OUT / "none", ignore_errors=True)
    n_tx = ingest_runs[0]["txs"]
    ingest_rate = statistics.median(r["txs"] / r["seconds"] for r in ingest_runs)
    reader_rate = statistics.median(r["txs"] / r["seconds"] for r in reader_runs)
    print(
        f"input: {blocks} ({size / 1e6:,.1f} MB of blk files, {n_tx:,} txs); "
        f"median of {args.repeat} runs, one core"
    )
    print(
        f"  ingest (end to end)   {ingest_rate:>10,.0f} tx/s  peak RSS "
        f"{statistics.median(r['rss_mb'] for r in ingest_runs):,.0f} MB  "
        f"dataset {ds_size / 1e6:,.1f} MB"
    )
    print(
        f"  block reader (base)   {reader_rate:>10,.0f} tx/s  peak RSS "
        f"{statistics.median(r['rss_mb'] for r in reader_runs):,.0f} MB"
    )
    print(f"  ingest / reader = {ingest_rate / reader_rate:.2f}")


if __name__ == "__main__":
    main()
