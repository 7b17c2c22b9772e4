"""Measure the method's error rates on regtest-core-a and write the report's accuracy file.

.venv/bin/python scripts/measure_accuracy.py          # rewrite report/data/accuracy.json
.venv/bin/python scripts/measure_accuracy.py --check  # exit 1 when the shipped file differs

Ingests tests/data/regtest-core-a into a temporary folder, then runs
``chainsleuth.report.accuracy.measure_accuracy`` (tags, two clustering runs, the
investigation, ``eval clustering`` and ``eval investigation``). Takes about half a minute.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
TARGET = ROOT / "src" / "chainsleuth" / "report" / "data" / "accuracy.json"


def measure(workdir: Path) -> dict[str, object]:
    from chainsleuth.ingest import ingest_blocks
    from chainsleuth.report.accuracy import measure_accuracy
    from chainsleuth.store.dataset import Dataset

    path = workdir / "dataset"
    ingest_blocks(DATA / "regtest-core-a" / "blocks", path, "regtest", partition_span=100)
    with Dataset.open(path) as ds:
        return measure_accuracy(ds, DATA / "regtest-core-a" / "truth", DATA / "tagpacks", workdir)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        text = json.dumps(measure(Path(tmp)), indent=2, sort_keys=True) + "\n"
    if args.check:
        same = TARGET.is_file() and TARGET.read_text() == text
        print("accuracy.json is current" if same else "accuracy.json is stale: re-run the script")
        return 0 if same else 1
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
