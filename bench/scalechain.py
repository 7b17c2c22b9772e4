"""Scale chain generator throughput, against hashing (or just writing) the same bytes.

``generate_scale_chain`` writes a regtest chain of ``--txs`` mainnet-shaped transactions to
``--out/blocks``; each run is a fresh subprocess (peak RSS is its own) that first makes a tiny
chain so the numba kernels are loaded from their cache before the clock starts. Baselines in the
same run, one core each, over the files just written:

* ``hashlib-txids`` (the named baseline): only the double SHA-256 of every transaction with
  hashlib over memoryviews, offsets found beforehand — the txids alone, the way Python code
  that builds transactions would have to compute them (on the first ``--baseline-txs``);
* ``write-bytes``: writing the same bytes to a file again (page cache, no fsync).

Each baseline runs right after each generator run (the machine is shared: they see the same
load). ``--compare-ref REF`` also runs the generator as it was at git commit ``REF`` (its
``scalechain*.py`` modules exported into a temporary package), alternating with this one, and
prints the ratio. Prints medians of ``--repeat`` runs of tx/s (wall clock and CPU time) and
MB/s, the ratios, peak RSS and the chain's statistics. Usage::

    python bench/scalechain.py --txs 20000000 --out DIR [--seed N] [--repeat 3] \\
        [--compare-ref HEAD]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from chainsleuth.chain.network import get_network
from chainsleuth.ingest.blkfiles import BlockFiles
from chainsleuth.ingest.kernels import parse_blocks

REGTEST = get_network("regtest")

# Peak RSS is VmHWM: ru_maxrss would include the parent's memory at fork (Linux keeps it at exec).
_GENERATE = """
import dataclasses, json, sys, tempfile
from pathlib import Path
sys.path.insert(0, sys.argv[4]) if len(sys.argv) > 4 else None
from MODULE import generate_scale_chain
with tempfile.TemporaryDirectory() as tmp:
    generate_scale_chain(Path(tmp), 2000, seed=1, txs_per_block=100)
r = generate_scale_chain(Path(sys.argv[1]), int(sys.argv[2]), seed=int(sys.argv[3]))
d = {k: v for k, v in dataclasses.asdict(r).items() if k not in ("blocks_dir", "owners")}
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
d.update(inputs_per_tx=r.inputs_per_tx, outputs_per_tx=r.outputs_per_tx,
         rss_mb=int(hwm.split()[1]) / 1024)
print(json.dumps(d))
"""


def run_generator(out: Path, n_txs: int, seed: int, old: Path | None = None) -> dict[str, float]:
    """One generation in a fresh interpreter; the report as a dict. ``old``: a folder holding
    the package ``refgen`` (:func:`export_ref`) to run instead of this checkout's generator."""
    module = "chainsleuth.simulate.scalechain" if old is None else "refgen.scalechain"
    extra = [] if old is None else [str(old)]
    done = subprocess.run(
        [sys.executable, "-c", _GENERATE.replace("MODULE", module), str(out), str(n_txs),
         str(seed), *extra],
        check=True,
        capture_output=True,
        text=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def export_ref(ref: str, into: Path) -> Path:
    """Write the generator's modules as of git commit ``ref`` to ``into/refgen`` (imports of
    ``chainsleuth.simulate.scalechain*`` point into it); returns ``into``."""
    repo = Path(__file__).resolve().parents[1]
    names = subprocess.run(
        ["git", "ls-tree", "--name-only", ref, "src/chainsleuth/simulate/"],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    pkg = into / "refgen"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    for name in names:
        if Path(name).name.startswith("scalechain") and name.endswith(".py"):
            text = subprocess.run(
                ["git", "show", f"{ref}:{name}"], cwd=repo, check=True, capture_output=True,
                text=True,
            ).stdout  # fmt: skip
            text = text.replace("chainsleuth.simulate.scalechain", "refgen.scalechain")
            (pkg / Path(name).name).write_text(text)
    return into


def run_hashlib_txids(blocks: Path, limit: int) -> tuple[int, int, float, float]:
    """Double SHA-256 of the first ``limit`` transactions; (txs, bytes, seconds, CPU seconds)."""
    files = BlockFiles.open(blocks, REGTEST)
    by_file: dict[int, list[tuple[int, int]]] = {}
    for rec in files.scan():
        by_file.setdefault(rec.file_index, []).append((rec.offset, rec.offset + rec.size))
    n_tx = n_bytes = 0
    seconds = cpu = 0.0
    sha = hashlib.sha256
    for index, spans in sorted(by_file.items()):
        data = files.read_file(index)
        starts, ends = (np.array(c, dtype=np.int64) for c in zip(*spans, strict=True))
        tx = parse_blocks(data, starts, ends)[3]
        s_list, e_list = tx[: limit - n_tx, 1].tolist(), tx[: limit - n_tx, 2].tolist()
        mv = memoryview(data.tobytes())
        t, c = time.perf_counter(), time.process_time()
        for s, e in zip(s_list, e_list, strict=True):
            sha(sha(mv[s:e]).digest()).digest()
        seconds += time.perf_counter() - t
        cpu += time.process_time() - c
        n_tx += len(s_list)
        n_bytes += e_list[-1] - s_list[0]
        if n_tx >= limit:
            break
    return n_tx, n_bytes, seconds, cpu


def run_write_bytes(blocks: Path, scratch: Path) -> tuple[int, float]:
    """Write every blk file's bytes (read beforehand) to ``scratch``; (bytes, seconds)."""
    n_bytes, seconds = 0, 0.0
    for path in sorted(blocks.glob("blk*.dat")):
        data = path.read_bytes()
        t = time.perf_counter()
        with open(scratch, "wb") as fh:
            fh.write(data)
        seconds += time.perf_counter() - t
        n_bytes += len(data)
    scratch.unlink()
    return n_bytes, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--txs", type=int, default=20_000_000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline-txs", type=int, default=2_000_000)
    ap.add_argument("--compare-ref", default=None, help="also run the generator of this commit")
    args = ap.parse_args()
    blocks = args.out / "blocks"
    runs, hashed, written, refs = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        old = export_ref(args.compare_ref, Path(tmp)) if args.compare_ref else None
        if old is not None:  # compile (or load) its kernels once before timing anything
            run_generator(args.out, 2000, args.seed, old)
        for _ in range(args.repeat):  # baselines right after each run: the same machine load
            if old is not None:
                refs.append(run_generator(args.out, args.txs, args.seed, old))
            runs.append(run_generator(args.out, args.txs, args.seed))
            hashed.append(run_hashlib_txids(blocks, args.baseline_txs))
            written.append(run_write_bytes(blocks, args.out / "write-baseline.tmp"))
    r = runs[-1]
    med = statistics.median
    gen = med(x["n_txs"] / x["seconds"] for x in runs)
    gen_cpu = med(x["n_txs"] / x["cpu_seconds"] for x in runs)
    hsh = med(h[0] / h[2] for h in hashed)
    hsh_cpu = med(h[0] / h[3] for h in hashed)
    wrt = med(r["n_txs"] / w[1] for w in written)
    print(
        f"chain: {r['n_txs']:,} txs in {r['n_blocks']:,} blocks, {r['bytes_written'] / 1e9:.2f} GB"
        f" of blk files (seed {args.seed}); median of {args.repeat}, generator runs "
        + ", ".join(f"{x['seconds']:.1f} s" for x in runs)
    )
    print("                          wall tx/s    MB/s    CPU-time tx/s")
    gen_mb = med(x["bytes_written"] / x["seconds"] / 1e6 for x in runs)
    print(
        f"  scalechain generator {gen:>12,.0f} {gen_mb:>7,.1f} {gen_cpu:>12,.0f}"
        f"   peak RSS {med(x['rss_mb'] for x in runs):,.0f} MB"
    )
    print(
        f"  hashlib-txids (base) {hsh:>12,.0f} {med(h[1] / h[2] / 1e6 for h in hashed):>7,.1f}"
        f" {hsh_cpu:>12,.0f}   (first {hashed[-1][0]:,} txs)"
    )
    print(f"  write-bytes          {wrt:>12,.0f} {med(w[0] / w[1] / 1e6 for w in written):>7,.1f}")
    if refs:
        ref_wall = med(x["n_txs"] / x["seconds"] for x in refs)
        ref_cpu = med(x["n_txs"] / x["cpu_seconds"] for x in refs)
        ref_mb = med(x["bytes_written"] / x["seconds"] / 1e6 for x in refs)
        label = f"generator@{args.compare_ref}"
        print(
            f"  {label:<20} {ref_wall:>12,.0f} {ref_mb:>7,.1f} {ref_cpu:>12,.0f}"
            f"   peak RSS {med(x['rss_mb'] for x in refs):,.0f} MB  (runs "
            + ", ".join(f"{x['seconds']:.1f} s" for x in refs)
            + ")"
        )
        print(
            f"  generator / generator@{args.compare_ref} = {gen / ref_wall:.2f}x wall, "
            f"{gen_cpu / ref_cpu:.2f}x CPU time"
        )
    print(f"  generator / hashlib-txids = {gen / hsh:.2f}x wall, {gen_cpu / hsh_cpu:.2f}x CPU time")
    print(f"  generator / write-bytes   = {gen / wrt:.2f}")
    print(
        f"  inputs/tx {r['inputs_per_tx']:.3f} (target {r['target_inputs']}), outputs/tx "
        f"{r['outputs_per_tx']:.3f} (target {r['target_outputs']}), addresses "
        f"{r['n_addresses']:,}, peel steps {r['n_peel_txs']:,}, unspent pool {r['utxo_pool']:,}, "
        f"wallets {r.get('n_wallets', 0):,}"
    )


if __name__ == "__main__":
    main()
