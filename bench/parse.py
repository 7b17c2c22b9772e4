"""Block-reader throughput on ≥ 1 GB of blk files built from the real mainnet test blocks.

Three contestants read the same files in the same run, one core each:

* ``chainsleuth``: record scan (numba) → block walker (numba) → txids (hashlib over memoryviews)
  → script types (numba), batch by batch (``chainsleuth+wtxid`` also hashes every witness
  transaction's wtxid, as the ingest does for witness-commitment checks);
* ``plain-python``: the same work written in plain Python (``struct`` + ``hashlib``; the
  walker's Python twin and the reference script classifier) — the named baseline;
* ``hashlib-ceiling``: only the double-SHA256 of every transaction's bytes (offsets known in
  advance) — the practical ceiling of any parser that computes txids in Python.

Prints tx/s and MB/s (median of ``--repeat`` runs; the baseline runs once on a slice) and the
ratios, plus peak RSS. Usage: ``python bench/parse.py [--gb 1.0] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from chainsleuth.chain.network import get_network
from chainsleuth.chain.script import classify_script
from chainsleuth.ingest.blkfiles import BlockFiles
from chainsleuth.ingest.kernels import classify_outputs, parse_blocks
from chainsleuth.ingest.kernels_ref import parse_blocks_py
from chainsleuth.ingest.txids import hash_txids

DATA = Path(__file__).parents[1] / "tests" / "data" / "mainnet-blocks"
MAIN = get_network("main")
BATCH = 16 << 20


def build_blk_files(directory: Path, target_bytes: int) -> int:
    """Write blk*.dat files (128 MiB each) repeating the real blocks; returns bytes written."""
    raws = [p.read_bytes() for p in sorted(DATA.glob("*.bin"), key=lambda p: int(p.stem))]
    record = b"".join(MAIN.magic + len(r).to_bytes(4, "little") + r for r in raws)
    written = 0
    index = 0
    while written < target_bytes:
        with open(directory / f"blk{index:05d}.dat", "wb") as fh:
            size = 0
            while size < (128 << 20) and written < target_bytes:
                fh.write(record)
                size += len(record)
                written += len(record)
        index += 1
    return written


def batches(files: BlockFiles, limit_bytes: int | None = None):  # type: ignore[no-untyped-def]
    """Yield (raw bytes, starts, ends) batches of ~16 MB of consecutive records."""
    done = 0
    for i in range(len(files.paths)):
        data = files.read_file(i)
        offs, sizes, _, _ = _scan(data)
        k = 0
        while k < len(offs):
            j = k
            total = 0
            while j < len(offs) and total < BATCH:
                total += int(sizes[j])
                j += 1
            lo = int(offs[k]) - 8
            hi = int(offs[j - 1] + sizes[j - 1])
            raw = data[lo:hi].tobytes()
            starts = offs[k:j] - lo
            yield raw, starts, starts + sizes[k:j]
            done += hi - lo
            if limit_bytes is not None and done >= limit_bytes:
                return
            k = j


def _scan(data: np.ndarray):  # type: ignore[no-untyped-def]
    from chainsleuth.ingest.blkfiles import _scan_records

    return _scan_records(data, np.frombuffer(MAIN.magic, np.uint8), 0)


def run_chainsleuth(files: BlockFiles, wtxids: bool = False) -> tuple[int, int, float]:
    n_tx = n_bytes = 0
    t0 = time.perf_counter()
    for raw, starts, ends in batches(files):
        buf = np.frombuffer(raw, dtype=np.uint8)
        status, _, _, tx, _inp, out = parse_blocks(buf, starts, ends)
        assert status == 0
        hash_txids(raw, tx, wtxids)
        classify_outputs(buf, out[:, 1], out[:, 2])
        n_tx += tx.shape[0]
        n_bytes += len(raw)
    return n_tx, n_bytes, time.perf_counter() - t0


def run_plain_python(files: BlockFiles, limit: int) -> tuple[int, int, float]:
    n_tx = n_bytes = 0
    t0 = time.perf_counter()
    sha = hashlib.sha256
    for raw, starts, ends in batches(files, limit):
        buf = np.frombuffer(raw, dtype=np.uint8)
        _, _, _, tx, _inp, out = parse_blocks_py(buf, starts, ends)
        for row in tx.tolist():
            s, e, io0, io1, wit = row[1], row[2], row[3], row[4], row[5]
            body = raw[s : s + 4] + raw[io0:io1] + raw[e - 4 : e] if wit else raw[s:e]
            sha(sha(body).digest()).digest()
        for o in out.tolist():
            classify_script(raw[o[1] : o[1] + o[2]])
        n_tx += tx.shape[0]
        n_bytes += len(raw)
    return n_tx, n_bytes, time.perf_counter() - t0


def run_hash_ceiling(files: BlockFiles) -> tuple[int, int, float]:
    prepared = []
    for raw, starts, ends in batches(files):
        tx = parse_blocks(np.frombuffer(raw, dtype=np.uint8), starts, ends)[3]
        prepared.append((raw, tx[:, 1].tolist(), tx[:, 2].tolist()))
    sha = hashlib.sha256
    n_tx = n_bytes = 0
    t0 = time.perf_counter()
    for raw, s_list, e_list in prepared:
        mv = memoryview(raw)
        for s, e in zip(s_list, e_list, strict=True):
            sha(sha(mv[s:e]).digest()).digest()
        n_tx += len(s_list)
        n_bytes += len(raw)
    return n_tx, n_bytes, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline-mb", type=float, default=100.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        size = build_blk_files(Path(tmp), int(args.gb * (1 << 30)))
        files = BlockFiles.open(Path(tmp), MAIN)
        names = ("chainsleuth", "chainsleuth+wtxid", "hashlib-ceiling")
        results: dict[str, list[float]] = {n: [] for n in names}
        mbs: dict[str, list[float]] = {n: [] for n in names}
        contestants = (
            ("chainsleuth", run_chainsleuth),
            ("chainsleuth+wtxid", lambda f: run_chainsleuth(f, wtxids=True)),
            ("hashlib-ceiling", run_hash_ceiling),
        )
        for _ in range(args.repeat):
            for name, fn in contestants:
                n_tx, n_bytes, secs = fn(files)
                results[name].append(n_tx / secs)
                mbs[name].append(n_bytes / secs / 1e6)
        n_tx, n_bytes, secs = run_plain_python(files, int(args.baseline_mb * 1e6))
        results["plain-python"] = [n_tx / secs]
        mbs["plain-python"] = [n_bytes / secs / 1e6]
    med = {k: statistics.median(v) for k, v in results.items()}
    print(
        f"input: {size / 1e9:.2f} GB of blk files from {len(list(DATA.glob('*.bin')))} real "
        f"mainnet blocks; median of {args.repeat} (baseline: one run on {args.baseline_mb:.0f} MB)"
    )
    for name in ("chainsleuth", "chainsleuth+wtxid", "plain-python", "hashlib-ceiling"):
        print(f"  {name:18s} {med[name]:>10,.0f} tx/s {statistics.median(mbs[name]):>8,.1f} MB/s")
    print(f"  chainsleuth / plain-python    = {med['chainsleuth'] / med['plain-python']:.2f}x")
    print(f"  chainsleuth / hashlib-ceiling = {med['chainsleuth'] / med['hashlib-ceiling']:.2f}")
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


if __name__ == "__main__":
    main()
