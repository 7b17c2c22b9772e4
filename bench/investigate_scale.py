"""Investigation at scale, scored against the generator's ground truth.

On an owner-coherent scale chain (``generate_scale_chain(..., track_owners=True)``, its owners
saved as ``owners.npy``: generator address id → owner wallet), hot wallets 1..N are tagged as
exchanges and a wallet W is the service (default: the user wallet with the most addresses).
``tags`` writes and imports that TagPack (run it before ``chainsleuth cluster`` so the collapse
guard sees it); ``run`` writes the truth of W's payments, own transactions and counterparties in the
simulator's truth layout, runs ``chainsleuth investigate service`` in a subprocess under
``--memory-limit`` with its RSS and anonymous memory sampled from ``/proc`` every 0.2 s, and
scores the case with :func:`chainsleuth.investigate.evaluate.evaluate_investigation`.

A generator address's scriptPubKey carries splitmix64(4·id) in its first eight payload bytes
(``simulate/scalechain_kernels.py``), a bijection, so a dataset script maps back to its
generator id without a table.

    python bench/investigate_scale.py tags --data DATASET --out DIR
    python bench/investigate_scale.py run --data DATASET --owners owners.npy --out DIR \\
        --memory-limit 2G
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from chainsleuth.chain.address import address_for_output
from chainsleuth.chain.network import get_network
from chainsleuth.simulate.scalechain_kernels import write_script

M64 = (1 << 64) - 1
_C1, _C2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_INV1, _INV2 = pow(_C1, -1, 1 << 64), pow(_C2, -1, 1 << 64)


def _unshift(y: np.ndarray, s: int) -> np.ndarray:
    x = y.copy()
    for _ in range(64 // s + 1):
        x = y ^ (x >> np.uint64(s))
    return x


def generator_ids(scripts: list[bytes]) -> np.ndarray:
    """Generator address id of each scriptPubKey (-1 where it is not the generator's)."""
    words = np.array(
        [int.from_bytes(s[3:11] if s[:1] == b"\x76" else s[2:10], "little") for s in scripts],
        dtype=np.uint64,
    )
    with np.errstate(over="ignore"):
        z = _unshift(words, 31) * np.uint64(_INV2)
        z = _unshift(z, 27) * np.uint64(_INV1)
        z = _unshift(z, 30)
    ids = (z >> np.uint64(2)).astype(np.int64)
    ok = (z & np.uint64(3)) == 0
    back = [_script(int(g)) if k else b"" for g, k in zip(ids.tolist(), ok.tolist(), strict=True)]
    good = np.array([b == s for b, s in zip(back, scripts, strict=True)], dtype=bool)
    return np.where(good, ids, -1)


def _script(gen_id: int) -> bytes:
    buf = np.zeros(64, np.uint8)
    end = write_script(buf, 0, gen_id)
    return bytes(buf[1:end])


def _address(gen_id: int) -> str:
    address = address_for_output(_script(gen_id), get_network("regtest"))
    assert address is not None
    return address


def write_tags(data: Path, out: Path, n_exchanges: int) -> Path:
    """The TagPack of hot wallets 1..n as exchanges, imported into ``data``."""
    out.mkdir(parents=True, exist_ok=True)
    pack = out / "scale-exchanges.yaml"
    lines = [
        "title: scale chain exchanges",
        "creator: bench/investigate_scale.py",
        "is_public: false",
        "currency: BTC",
        "network: BTC",
        "category: exchange",
        "source: generator ground truth",
        "confidence: manual_transaction",
        "lastmod: 2026-12-05",
        "tags:",
    ]
    for h in range(1, n_exchanges + 1):
        lines += [f"  - address: {_address(h)}", f"    label: Exchange {h}",
                  f"    actor: exchange-{h}"]  # fmt: skip
    pack.write_text("\n".join(lines) + "\n")
    subprocess.run(_cli("tags", "import", str(pack), "--data", str(data)), check=True)
    return pack


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from chainsleuth.cli import run; run()", *args]


class Names:
    """Truth names of owner wallets: exchange-h, service-W, w<id>."""

    def __init__(self, service: int, n_exchanges: int) -> None:
        self.service, self.n_exchanges = service, n_exchanges

    def __call__(self, owner: int) -> str:
        if owner == self.service:
            return f"service-{owner}"
        if 1 <= owner <= self.n_exchanges:
            return f"exchange-{owner}"
        return f"w{owner}"

    def role(self, owner: int) -> str:
        if owner == self.service:
            return "service"
        return "exchange" if 1 <= owner <= self.n_exchanges else "user"


def write_truth(data: Path, owners: np.ndarray, names: Names, out: Path) -> dict[str, int]:
    """Truth CSVs (service_payments, txs, entities, addresses) of the service wallet."""
    from chainsleuth.errors import NotFoundError
    from chainsleuth.store.dataset import Dataset

    out.mkdir(parents=True, exist_ok=True)
    tables = {t: f"read_parquet('{data / 'tables' / t / '*.parquet'}')" for t in _TABLES}
    with Dataset.open(data) as ds:
        ids, seeds = [], []
        for g in np.flatnonzero(owners == names.service).tolist():
            try:
                ids.append(ds.addr_id(_address(g)))
            except NotFoundError:  # made by the generator, never paid
                continue
            seeds.append(_address(g))

        def q(query: str, **params: Any) -> list[tuple[Any, ...]]:
            return list(ds.con.execute(query.format(**tables), params).fetchall())

        w = sorted(ids)
        paid = q(_PAID, w=w)
        own_txs = sorted(int(r[0]) for r in q(_SPENDING, w=w))
        own = set(own_txs)
        pay = [r for r in paid if int(r[0]) not in own]
        pay_tx = sorted({int(r[0]) for r in pay})
        first = q(_FIRST_INPUT, t=pay_tx)
        payer = dict(
            zip([int(r[0]) for r in first], _owner(owners, [r[1] for r in first]), strict=True)
        )
        prev = q(_PREV_SENDER, t=pay_tx)
        prev_sender = _owner(owners, [r[2] for r in prev])
        outs = q(_OUTPUT_ADDRESSES, t=own_txs)
        out_owner = _owner(owners, [r[1] for r in outs])
        known = pay_tx + own_txs + [int(r[1]) for r in prev]
        txid = dict(zip(known, ds.lookup.txids_of(np.array(known, dtype=np.int64)), strict=True))
        texts = ds.lookup.addresses_of(np.array([int(r[0]) for r in outs] + w, dtype=np.int64))
    svc = names(names.service)
    _write(
        out / "service_payments.csv",
        ["service", "customer", "txid", "vout", "amount"],
        [[svc, names(payer[int(t)]), txid[int(t)], v, value] for t, v, value in pay],
    )
    withdrawals = {
        (int(r[1]), o)
        for r, o in zip(prev, prev_sender, strict=True)
        if names.role(o) == "exchange"
    }
    _write(
        out / "txs.csv",
        ["txid", "kind", "senders"],
        [[txid[t], "payment", names(payer[t])] for t in pay_tx]
        + [[txid[t], "service", svc] for t in own_txs]
        + [[txid[t], "withdrawal", names(o)] for t, o in sorted(withdrawals)],
    )
    seen = set(payer.values()) | set(out_owner) | {names.service}
    _write(
        out / "entities.csv",
        ["name", "role", "home_exchange"],
        [[names(o), names.role(o), ""] for o in sorted(seen) if o >= 0],
    )
    _write(
        out / "addresses.csv",
        ["address", "entity", "role"],
        [
            [text, names(o), names.role(o)]
            for o, text in zip(out_owner, texts, strict=False)
            if o >= 0 and text
        ]
        + [[text, svc, "service"] for text in texts[len(outs) :] if text],
    )
    (out / "seed.txt").write_text(seeds[0] + "\n")
    return {
        "service_addresses": len(ids),
        "payments": len(pay),
        "payment_txs": len(pay_tx),
        "own_txs": len(own_txs),
        "customers": len(set(payer.values())),
        "direct_withdrawals": len(withdrawals),
    }


_TABLES = ("outputs", "inputs", "txs")
_PAID = """SELECT tx_id, vout, value FROM {outputs}
           WHERE addr_id IN (SELECT unnest($w)) ORDER BY tx_id, vout"""
_SPENDING = "SELECT DISTINCT tx_id FROM {inputs} WHERE addr_id IN (SELECT unnest($w))"
_FIRST_INPUT = """SELECT i.tx_id, o.script FROM {inputs} i JOIN {outputs} o ON o.out_id = i.out_id
                  WHERE i.tx_id IN (SELECT unnest($t)) AND i.vin = 0"""
# per payment: the transaction that made its first input's coin, and that one's payer's script
_PREV_SENDER = """
WITH made AS (SELECT i.tx_id, o.tx_id AS prev_id FROM {inputs} i
              JOIN {outputs} o ON o.out_id = i.out_id
              WHERE i.tx_id IN (SELECT unnest($t)) AND i.vin = 0)
SELECT made.tx_id, made.prev_id, o.script FROM made
JOIN {inputs} i ON i.tx_id = made.prev_id AND i.vin = 0
JOIN {outputs} o ON o.out_id = i.out_id"""
_OUTPUT_ADDRESSES = """SELECT addr_id, any_value(script) FROM {outputs}
                       WHERE tx_id IN (SELECT unnest($t)) AND addr_id IS NOT NULL GROUP BY 1"""


def _top_user(owners: np.ndarray, n_exchanges: int) -> int:
    """The user wallet (not an exchange or mining pool) owning the most addresses."""
    counts = np.bincount(np.asarray(owners))
    counts[: max(n_exchanges, 80) + 1] = 0
    return int(np.argmax(counts))


def _owner(owners: np.ndarray, scripts: list[Any]) -> list[int]:
    gen = generator_ids([bytes(s) for s in scripts])
    return [int(owners[g]) if 0 <= g < len(owners) else -1 for g in gen.tolist()]


def _write(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with open(path, "w", newline="") as fh:
        wr = csv.writer(fh)
        wr.writerow(header)
        wr.writerows(rows)


def run_sampled(cmd: list[str]) -> dict[str, float]:
    """Run ``cmd``; its wall time and peaks of RSS / RssAnon / RssFile (MiB), sampled."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)
    peak = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as fh:
                for line in fh:
                    key, _, value = line.partition(":")
                    if key in peak:
                        peak[key] = max(peak[key], int(value.split()[0]) * 1024)
        except OSError:
            pass
        time.sleep(0.2)
    if proc.returncode:
        raise SystemExit(f"{cmd[3:5]} failed with exit code {proc.returncode}")
    return {"seconds": time.perf_counter() - t0} | {k: v / 2**20 for k, v in peak.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=["tags", "run"])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--owners", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--service",
        type=int,
        default=0,
        help="owner wallet (0: the user wallet with the most addresses)",
    )
    ap.add_argument("--exchanges", type=int, default=63)
    ap.add_argument("--run", default="default")
    ap.add_argument("--memory-limit", default="2G")
    ap.add_argument("--max-service-share", default="0.25")
    args = ap.parse_args()
    if args.step == "tags":
        print(f"imported {write_tags(args.data, args.out, args.exchanges)}")
        return
    owners = np.load(args.owners, mmap_mode="r")
    service = args.service or _top_user(owners, args.exchanges)
    names = Names(service, args.exchanges)
    t0 = time.perf_counter()
    truth = write_truth(args.data, owners, names, args.out / "truth")
    print(f"truth ({time.perf_counter() - t0:.0f} s): {json.dumps(truth)}")
    case = args.out / "case"
    seed = (args.out / "truth" / "seed.txt").read_text().strip()
    print(f"service: wallet {service}, seed {seed}")
    cmd = _cli("investigate", "service", "--data", str(args.data), "--seed", seed, "--out",
               str(case), "--clustering", args.run, "--memory-limit", args.memory_limit,
               "--force", "--max-service-share", args.max_service_share)  # fmt: skip
    figures = run_sampled(cmd)
    print("investigate: " + ", ".join(f"{k} {v:,.1f}" for k, v in figures.items()))
    from chainsleuth.investigate.evaluate import evaluate_investigation

    score = evaluate_investigation(case, args.out / "truth", args.data)
    print(json.dumps(dataclasses.asdict(score), indent=1))


if __name__ == "__main__":
    main()
