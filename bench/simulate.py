"""Benchmark the simulator: generation throughput (tx/s) and peak RSS for a scenario.

Baseline in the same run: building, serialising and hashing the same number of plain
2-input/2-output P2WPKH transactions with the shared chain code and nothing else — the floor
cost of the block bytes, against which the economy's own overhead shows.

    .venv/bin/python bench/simulate.py                      # scenarios/bench.yaml, whole chain
    .venv/bin/python bench/simulate.py --blocks 200 --json  # a prefix of it (active blocks)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from chainsleuth.simulate import load_scenario, simulate
from chainsleuth.simulate.keys import P2WPKH, KeyFactory
from chainsleuth.simulate.wallet import Output, TxAssembler, Utxo

REPO = Path(__file__).resolve().parents[1]


def baseline_tx_per_s(n: int) -> float:
    """Transactions per second of assemble + serialize + txid alone."""
    keys = KeyFactory(1)
    assembler = TxAssembler(keys)
    pool = [keys.new_key(P2WPKH, "b", "user", is_change=False) for _ in range(64)]
    started = time.perf_counter()
    for i in range(n):
        a, b = pool[i % 64], pool[(i * 7 + 3) % 64]
        coins = [Utxo(i.to_bytes(32, "little"), 0, 100_000, a), Utxo(bytes(32), i, 50_000, b)]
        tx = assembler.assemble(coins, [Output(a, 90_000, None), Output(b, 59_000, None)], i, 0)
        tx.serialize()
        _ = tx.txid, tx.wtxid
    return n / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=str(REPO / "scenarios" / "bench.yaml"))
    parser.add_argument("--blocks", type=int, default=None, help="active blocks (default: all)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", default=None, help="output dir (default: a temp dir)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    scenario = load_scenario(args.scenario)
    if args.blocks is not None:
        scenario = dataclasses.replace(scenario, blocks=args.blocks)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "sim"
        report = simulate(scenario, out, args.seed)
        blk_bytes = sum(p.stat().st_size for p in (out / "blocks").glob("blk*.dat"))
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sim_rate = report.txs / report.seconds
    base_rate = baseline_tx_per_s(min(report.txs, 50_000))
    result = {
        "scenario": scenario.name,
        "blocks": report.blocks,
        "txs": report.txs,
        "addresses": report.addresses,
        "seconds": round(report.seconds, 2),
        "tx_per_s": round(sim_rate),
        "baseline_serialize_only_tx_per_s": round(base_rate),
        "ratio_to_baseline": round(sim_rate / base_rate, 3),
        "peak_rss_mib": round(peak_rss_mib),
        "blk_mib": round(blk_bytes / 2**20, 1),
        "target_tx_per_s": 50_000,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:>34}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
