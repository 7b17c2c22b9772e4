"""UTXO index throughput and memory: the sharded 32-byte-slot ``UtxoIndex`` against the
41-byte-slot doubling table it replaced (the named baseline, kept here only, as of commit
f929584).

Each contestant runs in a fresh process, the rounds interleaved: ``--n`` entries inserted
from empty in batches of ``--batch`` (an ingest batch: reserve, then one kernel call), then
``--ops`` lookups of random present keys (hits: out_id, value, addr_id and type read and
checked), ``--ops`` lookups of absent keys (misses), ``--ops`` deletions of random present
keys (find + backward-shift delete), then ``--ops`` spends of other present keys each followed by
an insert of a new key (churn: the ingest's mix of a hit, a delete and an insert, at a steady
size, in batches of 100 k). Key ``i`` is ``splitmix64(2i), splitmix64(2i+1)`` and
vout ``i % 3``, generated per batch (no key array is kept), out_id ``i``; only the index calls
are timed. Reported per contestant: million operations per second, table bytes per entry
after the inserts, the table's peak bytes (the doubling baseline holds its old and new
tables at once, a shard of the new one), and the process's peak RSS (``VmHWM``) over its RSS
after imports, JIT load and a warm-up. The new index also reports its load and probe
lengths. Medians of ``--repeat`` rounds::

    .venv/bin/python bench/utxo.py --n 10000000,50000000 --repeat 3

``--state`` instead times a checkpoint of an index of ``--n`` entries: writing the saved form
(format 2: 32-byte slots shard by shard; the baseline's format 1: seven columns sorted by
out_id, 41 bytes per entry) with fsync, the RSS it adds, and loading it back::

    .venv/bin/python bench/utxo.py --state --n 50000000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

from chainsleuth.store.hashindex import UtxoIndex, utxo_delete, utxo_entry, utxo_find, utxo_insert

# -- the baseline: UtxoIndex as of f929584 (41 B per slot, load <= 0.8, doubling) ----------------

_EMPTY = -1
_OLD_MAX_LOAD = 0.8


def _capacity_for(n: int, load: float) -> int:
    cap = 1024
    while cap * load < n:
        cap *= 2
    return cap


@njit(cache=True)
def _old_slot(k0, vout, mask):  # type: ignore[no-untyped-def]
    return np.int64((k0 ^ (np.uint64(vout) * np.uint64(0x9E3779B97F4A7C15))) & np.uint64(mask))


@njit(cache=True)
def _old_insert(
    keys0, keys1, vouts, out_ids, values, addr_ids, types, k0, k1, vout, oid, value, aid, typ
):  # type: ignore[no-untyped-def]
    mask = keys0.shape[0] - 1
    k1 = np.uint32(np.uint64(k1) & np.uint64(0xFFFFFFFF))
    slot = _old_slot(k0, vout, mask)
    while out_ids[slot] != -1:
        if keys0[slot] == k0 and keys1[slot] == k1 and vouts[slot] == vout:
            break
        slot = (slot + 1) & mask
    added = out_ids[slot] == -1
    keys0[slot] = k0
    keys1[slot] = k1
    vouts[slot] = vout
    out_ids[slot] = oid
    values[slot] = value
    addr_ids[slot] = aid
    types[slot] = typ
    return added


@njit(cache=True)
def _old_delete(keys0, keys1, vouts, out_ids, values, addr_ids, types, slot):  # type: ignore[no-untyped-def]
    mask = keys0.shape[0] - 1
    hole = slot
    nxt = (hole + 1) & mask
    while out_ids[nxt] != -1:
        home = _old_slot(keys0[nxt], vouts[nxt], mask)
        if (nxt > hole and (home <= hole or home > nxt)) or (
            nxt < hole and home <= hole and home > nxt
        ):
            keys0[hole] = keys0[nxt]
            keys1[hole] = keys1[nxt]
            vouts[hole] = vouts[nxt]
            out_ids[hole] = out_ids[nxt]
            values[hole] = values[nxt]
            addr_ids[hole] = addr_ids[nxt]
            types[hole] = types[nxt]
            hole = nxt
        nxt = (nxt + 1) & mask
    out_ids[hole] = -1


@njit(cache=True)
def _old_find(keys0, keys1, vouts, out_ids, k0, k1, vout):  # type: ignore[no-untyped-def]
    mask = keys0.shape[0] - 1
    k1 = np.uint32(np.uint64(k1) & np.uint64(0xFFFFFFFF))
    slot = _old_slot(k0, vout, mask)
    while out_ids[slot] != -1:
        if keys0[slot] == k0 and keys1[slot] == k1 and vouts[slot] == vout:
            return slot
        slot = (slot + 1) & mask
    return -1


@njit(cache=True)
def _old_rehash(src, dst):  # type: ignore[no-untyped-def]
    keys0, keys1, vouts, out_ids, values, addr_ids, types = src
    d0, d1, dv, doid, dval, daid, dtyp = dst
    for s in range(keys0.shape[0]):
        if out_ids[s] == -1:
            continue
        _old_insert(d0, d1, dv, doid, dval, daid, dtyp, keys0[s], keys1[s], vouts[s],
                    out_ids[s], values[s], addr_ids[s], types[s])  # fmt: skip


class OldUtxoIndex:
    """The baseline: seven arrays, 41 bytes per slot, load <= 0.8, grown by doubling."""

    def __init__(self, expected: int = 0) -> None:
        self._alloc(_capacity_for(expected, _OLD_MAX_LOAD))
        self.count = 0
        self.peak_nbytes = self.nbytes

    def _alloc(self, cap: int) -> None:
        self.keys0 = np.zeros(cap, dtype=np.uint64)
        self.keys1 = np.zeros(cap, dtype=np.uint32)
        self.vouts = np.zeros(cap, dtype=np.uint32)
        self.out_ids = np.full(cap, _EMPTY, dtype=np.int64)
        self.values = np.zeros(cap, dtype=np.int64)
        self.addr_ids = np.zeros(cap, dtype=np.int64)
        self.types = np.zeros(cap, dtype=np.uint8)

    @property
    def arrays(self) -> tuple[np.ndarray, ...]:
        return (self.keys0, self.keys1, self.vouts, self.out_ids, self.values, self.addr_ids,
                self.types)  # fmt: skip

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self.arrays))

    def reserve(self, extra: int) -> None:
        need = self.count + extra
        if need <= self.out_ids.shape[0] * _OLD_MAX_LOAD:
            return
        old = self.arrays
        before = self.nbytes
        self._alloc(_capacity_for(need, _OLD_MAX_LOAD))
        self.peak_nbytes = max(self.peak_nbytes, before + self.nbytes)
        _old_rehash(old, self.arrays)


@njit(cache=True)
def _old_load(arrs, k0, k1, vout, oid, value, aid, typ):  # type: ignore[no-untyped-def]
    keys0, keys1, vouts, out_ids, values, addr_ids, types = arrs
    added = 0
    for i in range(k0.shape[0]):
        if _old_insert(keys0, keys1, vouts, out_ids, values, addr_ids, types, k0[i], k1[i],
                       vout[i], oid[i], value[i], aid[i], typ[i]):  # fmt: skip
            added += 1
    return added


@njit(cache=True)
def _old_lookup(arrs, k0, k1, vout, oid):  # type: ignore[no-untyped-def]
    keys0, keys1, vouts, out_ids, values, addr_ids, types = arrs
    hits = 0
    acc = 0
    for i in range(k0.shape[0]):
        slot = _old_find(keys0, keys1, vouts, out_ids, k0[i], k1[i], vout[i])
        if slot >= 0:
            hits += out_ids[slot] == oid[i]
            acc += values[slot] + addr_ids[slot] + types[slot]
    return hits, acc


@njit(cache=True)
def _old_remove(arrs, k0, k1, vout):  # type: ignore[no-untyped-def]
    keys0, keys1, vouts, out_ids, values, addr_ids, types = arrs
    removed = 0
    for i in range(k0.shape[0]):
        slot = _old_find(keys0, keys1, vouts, out_ids, k0[i], k1[i], vout[i])
        if slot >= 0:
            _old_delete(keys0, keys1, vouts, out_ids, values, addr_ids, types, slot)
            removed += 1
    return removed


# -- the new index through the kernels the ingest uses -------------------------------------------


@njit(cache=True)
def _new_load(h, k0, k1, vout, oid, value, aid, typ):  # type: ignore[no-untyped-def]
    added = 0
    for i in range(k0.shape[0]):
        added += utxo_insert(h, k0[i], k1[i], vout[i], oid[i], value[i], aid[i], typ[i])
    return added


@njit(cache=True)
def _new_lookup(h, k0, k1, vout, oid):  # type: ignore[no-untyped-def]
    hits = 0
    acc = 0
    for i in range(k0.shape[0]):
        pos = utxo_find(h, k0[i], k1[i], vout[i])
        if pos >= 0:
            o, value, aid, typ = utxo_entry(h, pos)
            hits += o == oid[i]
            acc += value + aid + typ
    return hits, acc


@njit(cache=True)
def _new_remove(h, k0, k1, vout):  # type: ignore[no-untyped-def]
    removed = 0
    for i in range(k0.shape[0]):
        pos = utxo_find(h, k0[i], k1[i], vout[i])
        if pos >= 0:
            utxo_delete(h, pos)
            removed += 1
    return removed


@njit(cache=True)
def _old_churn(arrs, d0, d1, dv, k0, k1, vout, oid, value, aid, typ):  # type: ignore[no-untyped-def]
    keys0, keys1, vouts, out_ids, values, addr_ids, types = arrs
    acc = 0
    for i in range(d0.shape[0]):
        slot = _old_find(keys0, keys1, vouts, out_ids, d0[i], d1[i], dv[i])
        acc += values[slot] + addr_ids[slot] + types[slot] + out_ids[slot]
        _old_delete(keys0, keys1, vouts, out_ids, values, addr_ids, types, slot)
        _old_insert(keys0, keys1, vouts, out_ids, values, addr_ids, types, k0[i], k1[i],
                    vout[i], oid[i], value[i], aid[i], typ[i])  # fmt: skip
    return acc


@njit(cache=True)
def _new_churn(h, d0, d1, dv, k0, k1, vout, oid, value, aid, typ):  # type: ignore[no-untyped-def]
    acc = 0
    for i in range(d0.shape[0]):
        pos = utxo_find(h, d0[i], d1[i], dv[i])
        o, val, a, t = utxo_entry(h, pos)
        acc += val + a + t + o
        utxo_delete(h, pos)
        utxo_insert(h, k0[i], k1[i], vout[i], oid[i], value[i], aid[i], typ[i])
    return acc


# -- the workload --------------------------------------------------------------------------------


def _splitmix(x: np.ndarray) -> np.ndarray:
    z = x * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def keys(i: np.ndarray) -> tuple[np.ndarray, ...]:
    """Key columns and entry of output ``i``: (k0, k1, vout, out_id, value, addr_id, type)."""
    u = i.astype(np.uint64)
    k0 = _splitmix(2 * u)
    k1 = _splitmix(2 * u + np.uint64(1))
    vout = (u % np.uint64(3)).astype(np.uint32)
    oid = i.astype(np.int64)
    value = (k1 % np.uint64(10**12)).astype(np.int64)
    aid = np.where(i % 17 == 0, -1, i // 2).astype(np.int64)
    typ = (i % 11).astype(np.uint8)
    return k0, k1, vout, oid, value, aid, typ


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class _Contestant:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.index: Any = UtxoIndex() if kind == "new" else OldUtxoIndex()

    def insert(self, cols: tuple[np.ndarray, ...]) -> int:
        if self.kind == "new":
            self.index.reserve_keys(cols[0], cols[2])
            return int(_new_load(self.index.handle, *cols))
        self.index.reserve(len(cols[0]))
        added = int(_old_load(self.index.arrays, *cols))
        self.index.count += added
        return added

    def lookup(self, cols: tuple[np.ndarray, ...]) -> int:
        h = self.index.handle if self.kind == "new" else self.index.arrays
        fn = _new_lookup if self.kind == "new" else _old_lookup
        return int(fn(h, cols[0], cols[1], cols[2], cols[3])[0])

    def churn(self, gone: tuple[np.ndarray, ...], cols: tuple[np.ndarray, ...]) -> None:
        """Spend each of ``gone`` (hit, read, delete) and add an output of ``cols`` for each:
        the ingest's mix, at a steady size."""
        if self.kind == "new":
            self.index.reserve_keys(cols[0], cols[2])
            _new_churn(self.index.handle, gone[0], gone[1], gone[2], *cols)
        else:
            self.index.reserve(len(cols[0]))
            _old_churn(self.index.arrays, gone[0], gone[1], gone[2], *cols)

    def remove(self, cols: tuple[np.ndarray, ...]) -> int:
        if self.kind == "new":
            return int(_new_remove(self.index.handle, cols[0], cols[1], cols[2]))
        removed = int(_old_remove(self.index.arrays, cols[0], cols[1], cols[2]))
        self.index.count -= removed
        return removed


def worker(kind: str, n: int, batch: int, ops: int, seed: int) -> dict[str, Any]:
    """One measurement in this process."""
    if kind.startswith("new@"):  # new@LOAD,GROWTH: the new index with other tuning constants
        import chainsleuth.store.hashindex as hashindex

        load, growth = (float(x) for x in kind[4:].split(","))
        hashindex.UTXO_MAX_LOAD, hashindex.UTXO_GROWTH = load, growth
        kind = "new"
    warm = _Contestant(kind)
    cols = keys(np.arange(20_000))
    warm.insert(cols)
    warm.lookup(cols)
    warm.churn(cols, keys(np.arange(20_000, 40_000)))
    warm.remove(keys(np.arange(20_000, 40_000)))
    del warm
    rss0 = _status_kb("VmRSS")
    c = _Contestant(kind)
    t_insert = 0.0
    for lo in range(0, n, batch):
        cols = keys(np.arange(lo, min(lo + batch, n)))
        t = time.perf_counter()
        c.insert(cols)
        t_insert += time.perf_counter() - t
    assert c.index.count == n
    out: dict[str, Any] = {
        "kind": kind,
        "n": n,
        "insert_mps": n / t_insert / 1e6,
        "table_bytes": c.index.nbytes,
        "bytes_per_entry": c.index.nbytes / n,
        "peak_table_bytes": c.index.peak_nbytes,
        "peak_rss_over_base_mb": (_status_kb("VmHWM") - rss0) / 1024,
        "peak_rss_mb": _status_kb("VmHWM") / 1024,
    }
    if kind == "new":
        out.update(c.index.probe_stats())
        out["shard_grows"] = c.index.grows
    rng = np.random.default_rng(seed)
    sample = rng.choice(n, size=2 * ops, replace=False)
    present = keys(sample[:ops])
    absent = keys(np.arange(n, n + ops))
    t = time.perf_counter()
    hits = c.lookup(present)
    out["lookup_mps"] = ops / (time.perf_counter() - t) / 1e6
    assert hits == ops, hits
    t = time.perf_counter()
    misses = c.lookup(absent)
    out["miss_mps"] = ops / (time.perf_counter() - t) / 1e6
    assert misses == 0
    t = time.perf_counter()
    removed = c.remove(present)
    out["delete_mps"] = ops / (time.perf_counter() - t) / 1e6
    assert removed == ops and c.index.count == n - ops
    t_churn = 0.0
    for lo in range(0, ops, 100_000):  # ingest-sized batches: ~100 k outputs
        gone = keys(sample[ops + lo : ops + lo + 100_000])
        cols = keys(np.arange(n + ops + lo, n + ops + lo + len(gone[0])))
        t = time.perf_counter()
        c.churn(gone, cols)
        t_churn += time.perf_counter() - t
    out["churn_mps"] = ops / t_churn / 1e6
    assert c.index.count == n - ops
    return out


def state_worker(kind: str, n: int, batch: int) -> dict[str, Any]:
    """Save an index of ``n`` entries the way a checkpoint does and load it back (timed)."""
    import tempfile

    from chainsleuth.ingest.state import _read_records, _write_arrays

    c = _Contestant(kind)
    for lo in range(0, n, batch):
        c.insert(keys(np.arange(lo, min(lo + batch, n))))
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as tmp:
        path = Path(tmp) / "utxo.bin"
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux >= 4.0)
        rss0 = _status_kb("VmRSS")
        t = time.perf_counter()
        if kind == "new":
            _write_arrays(path, c.index.records())
        else:  # format 1: the occupied entries sorted by out_id, seven columns
            old = c.index
            live = np.flatnonzero(old.out_ids != _EMPTY)
            live = live[np.argsort(old.out_ids[live], kind="stable")]
            _write_arrays(path, [a[live] for a in old.arrays])
            del live
        save = time.perf_counter() - t
        save_rss = (_status_kb("VmHWM") - rss0) / 1024
        size = path.stat().st_size
        del c
        t = time.perf_counter()
        if kind == "new":
            loaded: Any = UtxoIndex.from_records(_read_records(path, n), n)
        else:
            loaded = OldUtxoIndex(n)
            with open(path, "rb") as fh:
                cols = [np.fromfile(fh, dtype=a.dtype, count=n) for a in loaded.arrays]
            _old_rehash(tuple(cols), loaded.arrays)
            loaded.count = n
        load = time.perf_counter() - t
    assert loaded.count == n
    return {"kind": kind, "n": n, "save_s": save, "load_s": load, "file_mb": size / 2**20,
            "save_extra_rss_mb": save_rss}  # fmt: skip


def _run(kind: str, n: int, batch: int, ops: int, seed: int) -> dict[str, Any]:
    argv = ["--worker", kind, "--n", str(n), "--batch", str(batch), "--ops", str(ops)]
    done = subprocess.run(
        [sys.executable, __file__, *argv, "--seed", str(seed)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


FIELDS = [
    ("insert_mps", "insert M/s", "{:.2f}"),
    ("lookup_mps", "hit M/s", "{:.2f}"),
    ("miss_mps", "miss M/s", "{:.2f}"),
    ("delete_mps", "delete M/s", "{:.2f}"),
    ("churn_mps", "churn M/s", "{:.2f}"),
    ("bytes_per_entry", "B/entry", "{:.1f}"),
    ("peak_table_bytes", "peak table MiB", "{:.0f}"),
    ("peak_rss_over_base_mb", "+RSS MiB", "{:.0f}"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", default="10000000,50000000", help="entries, comma-separated")
    ap.add_argument("--batch", type=int, default=1_000_000)
    ap.add_argument("--ops", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--worker", help="(internal) old, new or new@LOAD,GROWTH")
    ap.add_argument(
        "--tunings",
        default="",
        help="extra contestants LOAD,GROWTH;... (new index, other constants)",
    )
    ap.add_argument("--state", action="store_true", help="time a checkpoint's save and load")
    args = ap.parse_args()
    if args.worker and args.state:
        print(json.dumps(state_worker(args.worker, int(args.n), args.batch)))
        return
    if args.state:
        for n in (int(x) for x in args.n.split(",")):
            res: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
            for _ in range(args.repeat):
                for kind in ("old", "new"):
                    argv = ["--worker", kind, "--n", str(n), "--batch", str(args.batch)]
                    done = subprocess.run(
                        [sys.executable, __file__, *argv, "--state"],
                        check=True,
                        capture_output=True,
                        text=True,
                    )
                    res[kind].append(json.loads(done.stdout.strip().splitlines()[-1]))
                    print(json.dumps(res[kind][-1]), file=sys.stderr)
            print(f"\n{n:,} entries, checkpoint save and load, medians of {args.repeat}:")
            print("| layout | file MiB | save s | +RSS while saving MiB | load s |")
            for kind in ("old", "new"):
                m = {
                    k: statistics.median(x[k] for x in res[kind])
                    for k in res[kind][0]
                    if k != "kind"
                }
                print(f"| {kind} | {m['file_mb']:.0f} | {m['save_s']:.2f} | "
                      f"{m['save_extra_rss_mb']:.0f} | {m['load_s']:.2f} |")  # fmt: skip
        return
    if args.worker:
        print(json.dumps(worker(args.worker, int(args.n), args.batch, args.ops, args.seed)))
        return
    for n in (int(x) for x in args.n.split(",")):
        kinds = ["old", "new"] + [f"new@{t}" for t in args.tunings.split(";") if t]
        rounds: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
        for r in range(args.repeat):
            for kind in kinds:
                res = _run(kind, n, args.batch, args.ops, args.seed + r)
                rounds[kind].append(res)
                print(json.dumps(res), file=sys.stderr)
        print(f"\n{n:,} entries, medians of {args.repeat}:")
        print("| contestant | " + " | ".join(label for _, label, _ in FIELDS) + " |")
        names = {"old": "41 B slots, doubling (baseline)", "new": "UtxoIndex"}
        for kind in kinds:
            name = names.get(kind, f"UtxoIndex, load {kind[4:].replace(',', ', growth ')}")
            cells = []
            for key, _, fmt in FIELDS:
                v = statistics.median(x[key] for x in rounds[kind])
                cells.append(fmt.format(v / 2**20 if key == "peak_table_bytes" else v))
            print(f"| {name} | " + " | ".join(cells) + " |")
        for key in ("insert_mps", "lookup_mps", "miss_mps", "delete_mps", "churn_mps"):
            ratios = [b[key] / a[key] for a, b in zip(rounds["old"], rounds["new"], strict=True)]
            print(f"{key} ratio new/old per round: " + ", ".join(f"{x:.2f}" for x in ratios))
        for kind in kinds[1:]:
            new = rounds[kind][0]
            print(
                f"{kind}: load {new['load']:.3f}, hit probes mean {new['hit_probes_mean']:.2f} "
                f"max {new['hit_probes_max']}, miss probes mean {new['miss_probes_mean']:.1f}, "
                f"shard grows {new['shard_grows']}"
            )


if __name__ == "__main__":
    main()
