"""Benchmark: ``show``-style point lookups with the lookup indexes, against the SQL scans they
replace (the named baseline) on the same dataset in the same run.

Builds the dataset's index files when they are missing (``DATASET/index/``, timed: the cost
the ingest adds per partition) and opens the dataset twice: once with a manifest that lists
the indexes, once with the manifest as stored (no indexes: ``Dataset`` falls back to the SQL
scans over the DuckDB views, as before). The on-disk manifest is not changed. Each lookup runs
on ``--n`` random txids / addresses (seeded) plus the busiest addresses; both paths must give
identical answers (``--baseline-n`` runs the slow baseline on the first few only). Figures are
milliseconds per call: the first call, then the median of the others (page cache warm; the
first indexed call also maps the index files).

    .venv/bin/python bench/lookup.py --data DATASET [--n 50] [--baseline-n 5] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from copy import deepcopy
from pathlib import Path
from typing import Any

from chainsleuth.cli.show import profile_for
from chainsleuth.store.dataset import Dataset
from chainsleuth.store.lookup import INDEX_KINDS, build_partition_indexes, index_file_name
from chainsleuth.store.manifest import Manifest
from chainsleuth.store.parts import part_name


def build_indexes(path: Path, manifest: Manifest) -> tuple[dict[str, str], float]:
    """Index files of every partition (built when missing); seconds spent building."""
    files: dict[str, str] = {}
    started = time.perf_counter()
    built = 0
    for p in manifest.partitions:
        name = part_name(p.lo, manifest.partition_span)
        rels = [index_file_name(k, name) for k in INDEX_KINDS]
        if all(rel in manifest.files for rel in rels):
            files.update({rel: manifest.files[rel] for rel in rels})
            continue
        files.update(build_partition_indexes(path, name))
        built += 1
    seconds = time.perf_counter() - started if built else 0.0
    return files, seconds


def timed(fn: Callable[[Any], Any], args: list[Any]) -> tuple[float, float, list[Any]]:
    """(first call ms, median ms of the others, results)."""
    out: list[Any] = []
    times: list[float] = []
    for a in args:
        t = time.perf_counter()
        out.append(fn(a))
        times.append((time.perf_counter() - t) * 1e3)
    return times[0], statistics.median(times[1:] or times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--baseline-n", type=int, default=None, help="SQL calls per lookup (default: --n)"
    )
    args = ap.parse_args()

    stored = Manifest.load(args.data)
    files, build_s = build_indexes(args.data, stored)
    with_index = deepcopy(stored)
    with_index.files.update(files)
    without = deepcopy(stored)
    without.files = {k: v for k, v in stored.files.items() if not k.startswith("index/")}
    idx = Dataset(args.data, with_index)
    sql = Dataset(args.data, without)
    assert idx.lookup.indexed and not sql.lookup.indexed

    counts = stored.counts
    sizes: dict[str, int] = dict.fromkeys(INDEX_KINDS, 0)
    for rel in files:
        sizes[rel.split("/")[1]] += (args.data / rel).stat().st_size
    print(
        f"dataset {args.data}: {len(stored.partitions)} partitions, {counts['txs']:,} txs, "
        f"{counts['outputs']:,} outputs, {counts['inputs']:,} inputs, "
        f"{counts['addresses']:,} addresses"
    )
    print(
        "index files: "
        + ", ".join(f"{k} {sizes[k] / 2**20:.1f} MiB" for k in INDEX_KINDS)
        + f"; total {sum(sizes.values()) / 2**20:.1f} MiB"
        + (f"; built in {build_s:.1f} s" if build_s else " (already built)")
    )

    rng = random.Random(args.seed)
    tx_ids = rng.sample(range(counts["txs"]), min(args.n, counts["txs"]))
    addr_ids = rng.sample(range(counts["addresses"]), min(args.n, counts["addresses"]))
    busiest = [
        int(r[0])
        for r in sql.sql(
            "SELECT addr_id FROM outputs WHERE addr_id IS NOT NULL GROUP BY addr_id"
            " ORDER BY count(*) DESC LIMIT 5"
        ).fetchall()
    ]
    txids = [t for t in idx.lookup.txids_of(tx_ids) if t is not None]
    addresses = [a for a in idx.lookup.addresses_of(addr_ids + busiest) if a is not None]
    idx.lookup.known.clear()

    cases: list[tuple[str, Callable[[Dataset], Callable[[Any], Any]], list[Any]]] = [
        ("Dataset.tx_id(txid)", lambda d: d.tx_id, txids),
        ("Dataset.addr_id(address)", lambda d: d.addr_id, addresses),
        (
            "Dataset.txid_of(tx_id)",
            lambda d: d.txid_of if d is idx else _sql_txid_of(d),
            tx_ids,
        ),
        (
            "Dataset.address_of(addr_id)",
            lambda d: d.address_of if d is idx else _sql_address_of(d),
            addr_ids,
        ),
        ("show TXID (profile + annotations)", lambda d: lambda w: profile_for(d, w), txids),
        ("show ADDRESS (profile + annotations)", lambda d: lambda w: profile_for(d, w), addresses),
    ]
    print()
    print(
        "| lookup | calls (SQL / indexed) | SQL scans (baseline) first / median ms "
        "| indexed first / median ms | speed-up (median) |"
    )
    print("|---|---:|---:|---:|---:|")
    for label, make, inputs in cases:
        some = inputs[: args.baseline_n or len(inputs)]
        b_first, b_med, b_out = timed(make(sql), some)
        i_first, i_med, i_out = timed(make(idx), inputs)
        idx.lookup.known.clear()
        assert b_out == i_out[: len(some)], f"{label}: answers differ"
        print(
            f"| {label} | {len(some)} / {len(inputs)} | {b_first:.1f} / {b_med:.1f} | "
            f"{i_first:.1f} / {i_med:.2f} | {b_med / i_med:.0f}× |",
            flush=True,
        )


def _sql_txid_of(ds: Dataset) -> Callable[[int], str]:
    """The scan ``Dataset.txid_of`` ran before the indexes."""

    def run(tx_id: int) -> str:
        row = ds.sql("SELECT txid FROM txs WHERE tx_id = ?", [tx_id]).fetchone()
        assert row is not None
        return bytes(row[0]).hex()

    return run


def _sql_address_of(ds: Dataset) -> Callable[[int], str | None]:
    """The scan ``Dataset.address_of`` ran before the indexes."""

    def run(addr_id: int) -> str | None:
        row = ds.sql("SELECT address FROM addresses WHERE addr_id = ?", [addr_id]).fetchone()
        return None if row is None else str(row[0])

    return run


if __name__ == "__main__":
    main()
