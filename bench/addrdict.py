"""Address dictionary throughput and peak RSS: the disk-spilling AddressDictionary under fixed
budgets against the in-RAM AddressIndex (the named baseline) on the same key stream.

Stream: ``--n`` assignments in batches of ``--batch`` (an ingest batch), a fraction ``--reuse``
of them reusing an earlier key (half drawn from the ``--window`` most recent keys, half
uniformly from all keys so far), the rest new. Key ``j`` (``j``-th distinct key) is
``splitmix64(2j), splitmix64(2j+1)`` -- uniform bits like the murmur script keys -- so its id
must be ``j``: every run checks every id and ``is_new`` flag. Only the ``assign`` calls are
timed (the stream is generated between them). Each measurement runs in a fresh process; peak
RSS is the process's high-water mark (``VmHWM``), "+RSS" the growth above the RSS after
imports and JIT load. Medians of ``--repeat`` runs.

    .venv/bin/python bench/addrdict.py --n 50000000 --budgets 64M,1G --repeat 3

``--reads ROWS`` instead measures how a run is best read: one sorted run of ROWS keys
(24 B each) is written, then 200,000 fenced lookups of present keys are made through an
``mmap`` (pages left mapped), through an ``mmap`` released with ``madvise(MADV_DONTNEED)``
every 256 lookups, and by ``pread`` (the dictionary's kernel), each in a fresh process:
microseconds per lookup and RSS growth.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _splitmix(x: np.ndarray) -> np.ndarray:
    z = x * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def make_batch(
    rng: np.random.Generator, distinct: int, size: int, reuse: float, window: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(k0, k1, expected id, expected is_new) of one batch after ``distinct`` keys so far."""
    new = rng.random(size) >= reuse
    if distinct == 0:
        new[0] = True
    before = np.cumsum(new) - new  # new keys earlier in this batch
    known = distinct + before  # keys that exist when position i is assigned
    r = rng.random(size)
    recent = rng.random(size) < 0.5
    old = np.where(
        recent,
        known - 1 - (r * np.minimum(known, window)).astype(np.int64),
        (r * known).astype(np.int64),
    )
    j = np.where(new, distinct + before, old).astype(np.uint64)
    return _splitmix(2 * j), _splitmix(2 * j + np.uint64(1)), j.astype(np.int64), new


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _mmap_finder():  # type: ignore[no-untyped-def]
    from numba import njit

    @njit(cache=True)
    def find(rows, fences, every, q0, q1, out, start, stop):  # type: ignore[no-untyped-def]
        for i in range(start, stop):
            lo = np.searchsorted(fences, q0[i], side="left")
            a = (lo - 1) * every if lo > 0 else 0
            b = min(np.searchsorted(fences, q0[i], side="right") * every, rows.shape[0])
            while a < b:
                mid = (a + b) >> 1
                if rows[mid, 0] < q0[i] or (rows[mid, 0] == q0[i] and rows[mid, 1] < q1[i]):
                    a = mid + 1
                else:
                    b = mid
            out[i] = np.int64(rows[a, 2])

    return find


def read_worker(mode: str, path: Path) -> dict[str, float]:
    import mmap

    from chainsleuth.store import addrdict

    queries = np.load(path.with_suffix(".queries.npy"))
    q0, q1, expect = queries[:, 0].copy(), queries[:, 1].copy(), queries[:, 2].astype(np.int64)
    fences = np.load(path.with_suffix(".fences.npy"))
    n = int(path.stat().st_size - 128) // 24
    found = np.full(q0.shape[0], -1, np.int64)
    find = _mmap_finder()
    find(np.zeros((1, 3), np.uint64), np.zeros(1, np.uint64), 128, q0, q1, found, 0, 0)
    buf = np.empty((128, 3), np.uint64)
    addrdict.runs_lookup(-1, 0, 0, fences[:0], 128, fences[:0], 0, q0[:0], q1[:0], found, buf)
    start = _status_kb("VmRSS")
    t = time.perf_counter()
    if mode == "pread":
        fd, header = addrdict._npy_open(path, (n, 3))
        addrdict.runs_lookup(fd, header, n, fences, 128, fences[:0], 0, q0, q1, found, buf)
    else:
        with open(path, "rb") as fh:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        mm.madvise(mmap.MADV_RANDOM)
        rows = np.frombuffer(mm, np.uint64, offset=128).reshape(-1, 3)
        step = 256 if mode == "mmap+dontneed" else q0.shape[0]
        for a in range(0, q0.shape[0], step):
            find(rows, fences, 128, q0, q1, found, a, min(a + step, q0.shape[0]))
            if mode == "mmap+dontneed":
                mm.madvise(mmap.MADV_DONTNEED)
    secs = time.perf_counter() - t
    if not np.array_equal(found, expect):
        raise SystemExit("wrong ids")
    return {
        "us_per_lookup": secs / q0.shape[0] * 1e6,
        "rss_growth_mb": (_status_kb("VmHWM") - start) / 1024,
    }


def reads(rows: int, repeat: int, tmp: Path | None) -> None:
    with tempfile.TemporaryDirectory(dir=tmp) as d:
        path = Path(d) / "run.npy"
        rng = np.random.default_rng(5)
        k0 = np.sort(_splitmix(np.arange(rows, dtype=np.uint64)))
        data = np.empty((rows, 3), np.uint64)
        data[:, 0] = k0
        data[:, 1] = 1
        data[:, 2] = np.arange(rows, dtype=np.uint64)
        np.save(path, data)
        np.save(path.with_suffix(".fences.npy"), data[::128, 0].copy())
        np.save(path.with_suffix(".queries.npy"), data[rng.integers(0, rows, 200_000)])
        del data, k0
        print(f"one run of {rows:,} keys ({rows * 24 / 2**20:,.0f} MiB), 200,000 lookups")
        for mode in ("mmap", "mmap+dontneed", "pread"):
            res = []
            for _ in range(repeat):
                proc = subprocess.run(
                    [sys.executable, __file__, "--read-worker", mode, str(path)],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                res.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            us = statistics.median(r["us_per_lookup"] for r in res)
            mb = statistics.median(r["rss_growth_mb"] for r in res)
            print(f"  {mode:14} {us:6.2f} µs/lookup   RSS growth {mb:7,.1f} MiB")


def worker(kind: str, budget: int, args: argparse.Namespace, directory: Path) -> dict[str, float]:
    from chainsleuth.store import addrdict
    from chainsleuth.store.addrdict import AddressDictionary
    from chainsleuth.store.hashindex import AddressIndex

    if args.no_release:
        addrdict._Mapped.release = lambda self: None  # type: ignore[method-assign]
    warm = AddressDictionary.create(directory / "warm", memory_bytes=1 << 20)  # load the JIT
    warm.assign(
        *make_batch(np.random.default_rng(0), 0, 50_000, 0.3, 100)[:2], np.ones(50_000, bool)
    )
    AddressIndex().assign(np.ones(2, np.uint64), np.ones(2, np.uint64), np.ones(2, bool))
    warm.close()
    shutil.rmtree(directory / "warm")
    start_rss = _status_kb("VmRSS")

    d: AddressDictionary | AddressIndex | None = None
    if kind == "index":
        d = AddressIndex()
    elif kind == "dict":
        d = AddressDictionary.create(directory / "d", memory_bytes=budget)
    rng = np.random.default_rng(args.seed)
    want = np.ones(args.batch, dtype=np.bool_)
    distinct = 0
    seconds = 0.0
    done = 0
    while done < args.n:
        size = min(args.batch, args.n - done)
        k0, k1, j, new = make_batch(rng, distinct, size, args.reuse, args.window)
        t = time.perf_counter()
        ids, is_new = (j, new) if d is None else d.assign(k0, k1, want[:size])
        seconds += time.perf_counter() - t
        if not (np.array_equal(ids, j) and np.array_equal(is_new, new)):
            raise SystemExit(f"wrong ids in the batch starting at assignment {done}")
        distinct += int(new.sum())
        done += size
    out: dict[str, float] = {
        "keys": done,
        "distinct": distinct,
        "seconds": seconds,
        "peak_mb": _status_kb("VmHWM") / 1024,
        "start_mb": start_rss / 1024,
    }
    if isinstance(d, AddressDictionary):
        out["runs"] = len(d.run_sizes)
        t = time.perf_counter()
        d.checkpoint(0)
        out["checkpoint_s"] = time.perf_counter() - t
        out["disk_mb"] = sum(p.stat().st_size for p in (directory / "d").iterdir()) / 2**20
        live = sum(d.run_sizes)
        out["live_disk_mb"] = (live * 24 + d.hot_count * 24) / 2**20
        out["ram_struct_mb"] = d.nbytes / 2**20
    elif d is not None:
        out["ram_struct_mb"] = d.nbytes / 2**20
    return out


def _size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].isalpha() else int(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000_000)
    ap.add_argument("--batch", type=int, default=1_000_000)
    ap.add_argument("--reuse", type=float, default=0.3)
    ap.add_argument("--window", type=int, default=1_000_000)
    ap.add_argument("--budgets", default="64M,1G")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tmp", type=Path, default=None, help="where the runs are written")
    ap.add_argument("--no-release", action="store_true", help="never madvise(DONTNEED) runs")
    ap.add_argument("--reads", type=int, default=0, metavar="ROWS", help="compare run reads")
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "BUDGET"), help=argparse.SUPPRESS)
    ap.add_argument("--read-worker", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.read_worker:
        print(json.dumps(read_worker(args.read_worker[0], Path(args.read_worker[1]))))
        return
    if args.reads:
        reads(args.reads, args.repeat, args.tmp)
        return
    if args.worker:
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            res = worker(args.worker[0], int(args.worker[1]), args, Path(tmp))
        print(json.dumps(res))
        return

    contestants = [("index", 0, "AddressIndex (in RAM, baseline)")]
    contestants.append(("none", 0, "stream only (RSS floor)"))
    for b in args.budgets.split(","):
        contestants.append(("dict", _size(b), f"AddressDictionary {b}"))
    passthrough = [
        f"--n={args.n}",
        f"--batch={args.batch}",
        f"--reuse={args.reuse}",
        f"--window={args.window}",
        f"--seed={args.seed}",
    ]
    if args.tmp:
        passthrough.append(f"--tmp={args.tmp}")
    if args.no_release:
        passthrough.append("--no-release")
    results: dict[str, list[dict[str, float]]] = {name: [] for *_, name in contestants}
    for _ in range(args.repeat):
        for kind, budget, name in contestants:
            proc = subprocess.run(
                [sys.executable, __file__, "--worker", kind, str(budget), *passthrough],
                check=True,
                capture_output=True,
                text=True,
            )
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            results[name].append(res)
            print(f"  {name}: {json.dumps(res)}", file=sys.stderr)

    def med(name: str, field: str) -> float:
        return statistics.median(r[field] for r in results[name] if field in r)

    base = contestants[0][2]
    base_rate = med(base, "keys") / med(base, "seconds")
    first = results[base][0]
    print(
        f"{args.n:,} assignments ({first['distinct']:,.0f} distinct, reuse {args.reuse:.0%}), "
        f"batches of {args.batch:,}; median of {args.repeat} fresh processes"
    )
    print(f"{'contestant':34} {'keys/s':>12} {'peak RSS':>10} {'+RSS':>9} {'ratio':>7}")
    for kind, _, name in contestants:
        if kind == "none":
            print(f"{name:34} {'':>12} {med(name, 'peak_mb'):>7,.0f} MiB "
                  f"{med(name, 'peak_mb') - med(name, 'start_mb'):>5,.0f} MiB")  # fmt: skip
            continue
        rate = statistics.median(r["keys"] / r["seconds"] for r in results[name])
        extra = ""
        if "runs" in results[name][0]:
            extra = (
                f"  runs {med(name, 'runs'):.0f}, disk {med(name, 'disk_mb'):,.0f} MiB "
                f"(live {med(name, 'live_disk_mb'):,.0f}), "
                f"checkpoint {med(name, 'checkpoint_s'):.2f} s"
            )
        print(
            f"{name:34} {rate:>12,.0f} {med(name, 'peak_mb'):>7,.0f} MiB "
            f"{med(name, 'peak_mb') - med(name, 'start_mb'):>5,.0f} MiB {rate / base_rate:>7.2f}"
            f"{extra}"
        )


if __name__ == "__main__":
    main()
