"""Writing parts: the current writer options against zstd and statistics on every column.

Reads one partition of each stored table from a dataset (the middle one by default) and writes
it with :class:`chainsleuth.store.parts.PartWriter`, alternating between the current options
(hashes uncompressed, no min/max on bytes and text) and the named baseline (zstd and statistics
on every column, the options before 2026-12-05). Prints per table the median time, the bytes and
the ratio, and checks both files hold the same rows.

    python bench/part_write.py --data DATASET [--part NAME] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

import chainsleuth.store.parts as parts
from chainsleuth.store.schema import TABLES

TABLE_NAMES = ("txs", "outputs", "inputs", "addresses", "spends")


def _baseline(schema: pa.Schema) -> dict[str, Any]:
    dictionary = [n for n in schema.names if n in parts._DICTIONARY_COLUMNS]
    return {"compression": "zstd", "write_statistics": True, "store_schema": True,
            "use_dictionary": dictionary}  # fmt: skip


def _write(table: pa.Table, path: Path) -> float:
    t0 = time.perf_counter()
    w = parts.PartWriter(path, TABLES[path.parent.name])
    for batch in table.to_batches(max_chunksize=65_536):
        w.write(pa.Table.from_batches([batch]))
    w.close()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--part", default=None, help="part file name (default: the middle one)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    names = sorted(p.name for p in (args.data / "tables" / "txs").glob("*.parquet"))
    name = args.part or names[len(names) // 2]
    current = parts._options
    total = {"current": 0.0, "baseline": 0.0}
    print(f"part {name}, {args.repeat} repeats, medians")
    with tempfile.TemporaryDirectory() as tmp:
        for table_name in TABLE_NAMES:
            src = args.data / "tables" / table_name / name
            if not src.exists():
                continue
            table = pq.read_table(src)
            times: dict[str, list[float]] = {"current": [], "baseline": []}
            size: dict[str, int] = {}
            for _ in range(args.repeat):
                for mode in ("current", "baseline"):
                    parts._options = current if mode == "current" else _baseline  # type: ignore[assignment]
                    out = Path(tmp) / mode / table_name / name
                    times[mode].append(_write(table, out))
                    size[mode] = out.stat().st_size
            parts._options = current
            same = pq.read_table(Path(tmp) / "current" / table_name / name).equals(
                pq.read_table(Path(tmp) / "baseline" / table_name / name)
            )
            med = {m: statistics.median(v) for m, v in times.items()}
            for m in med:
                total[m] += med[m]
            speed = med["baseline"] / med["current"]
            print(
                f"{table_name:10s} {table.num_rows:>10,} rows  current {med['current']:.3f} s "
                f"{size['current'] / 2**20:7.1f} MiB  baseline {med['baseline']:.3f} s "
                f"{size['baseline'] / 2**20:7.1f} MiB  speed {speed:.2f}x  same rows: {same}"
            )
    print(f"all tables: current {total['current']:.3f} s, baseline {total['baseline']:.3f} s, "
          f"speed {total['baseline'] / total['current']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
