"""Time ``chainsleuth report`` (HTML and PDF) and ``export`` on the demo case and on a
generated 10,000-customer case.

The generated case is written in the case-file layout (docs/case-files.md) with seeded random
txids and addresses: 10,000 customer groups of 1-4 payments each (~25,000 leads), three
exchanges funding them and receiving the service's cash-outs, every customer group with a
grouping link. The demo case is ``make demo``'s (built without a report when missing).

    python bench/report.py [--demo demo-case] [--customers 10000] [--pdf-large] [--out FILE]

Prints a Markdown table (and writes it to ``--out``): seconds per step and the output sizes.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chainsleuth.investigate.case import LEAD_COLUMNS, REQUEST_COLUMNS

EXCHANGES = ("exchange-alpha", "exchange-beta", "exchange-gamma")


def _hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def _addr(rng: random.Random) -> str:
    return "bcrt1q" + "".join(rng.choice("023456789acdefghjklmnpqrstuvwxyz") for _ in range(38))


def _time(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def generate_case(out: Path, customers: int, seed: int = 7) -> Path:
    """A synthetic case folder with ``customers`` customer groups."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    t0 = 1_700_000_000
    leads: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    withdrawals: dict[tuple[str, str, int], dict[str, Any]] = {}
    cluster = 1000
    for g in range(1, customers + 1):
        n = rng.randint(1, 4)
        clusters = [cluster + i for i in range(rng.randint(1, 2))]
        cluster += len(clusters)
        entity = rng.choice(EXCHANGES)
        mine = []
        for _ in range(n):
            amount = rng.randint(50_000, 5_000_000)
            t = t0 + rng.randint(0, 365 * 86400)
            wd, vout, hops = _hex(rng), rng.randint(0, 3), rng.randint(1, 4)
            chain = [wd, *(_hex(rng) for _ in range(hops - 1))]
            pay = _hex(rng)
            faddr = _addr(rng)
            row = {
                "customer_group": g, "customer_cluster": rng.choice(clusters),
                "payment_txid": pay, "payment_vouts": "0", "payment_time": _time(t),
                "amount_sats": amount, "service_address": _addr(rng),
                "payer_addresses": _addr(rng), "funding_entity": entity,
                "funding_category": "exchange", "funding_txid": wd, "funding_vout": vout,
                "funding_address": faddr, "funding_output_sats": amount * 2,
                "customer_entry_txid": chain[-1], "funding_hops": hops, "confidence": "0.91",
                "traced_share": "1.0000", "funding_amount_sats": amount,
                "funding_time": _time(t - 3600), "funding_cluster": EXCHANGES.index(entity) + 1,
                "group_confidence": "0.900", "evidence_txids": ";".join([*chain, pay]),
            }  # fmt: skip
            leads.append(row)
            mine.append(row)
            withdrawals[(entity, wd, vout)] = {
                "address": faddr, "time": _time(t - 3600), "amount": amount * 2, "group": g,
                "pay": pay,
            }  # fmt: skip
        evidence = [
            {"rule": "change", "cluster_a": clusters[0], "cluster_b": c, "txid": _hex(rng),
             "confidence": 0.9}
            for c in clusters[1:]
        ]  # fmt: skip
        groups.append({
            "group": g, "account_lead": False, "clusters": clusters, "n_payments": n,
            "amount_sats": sum(r["amount_sats"] for r in mine),
            "first_time": min(r["payment_time"] for r in mine),
            "last_time": max(r["payment_time"] for r in mine),
            "main_funding_entity": entity, "confidence": 0.9 if evidence else 1.0,
            "evidence": evidence,
        })  # fmt: skip
    leads.sort(key=lambda r: r["payment_time"])
    cashouts = [
        {"entity": e, "category": "exchange", "cluster": EXCHANGES.index(e) + 1,
         "address": _addr(rng), "txid": _hex(rng), "vout": 0,
         "time": _time(t0 + rng.randint(0, 365 * 86400)),
         "amount_sats": rng.randint(10**7, 10**9)}
        for e in (rng.choice(EXCHANGES) for _ in range(600))
    ]  # fmt: skip
    requests = [
        {"entity": e, "category": "exchange", "subject": "customer-withdrawal",
         "address": w["address"],
         "txid": wd, "vout": v, "time": w["time"], "amount_sats": w["amount"],
         "customer_groups": str(w["group"]), "payment_txids": w["pay"]}
        for (e, wd, v), w in sorted(withdrawals.items())
    ] + [
        {"entity": c["entity"], "category": "exchange", "subject": "service-cashout",
         "address": c["address"], "txid": c["txid"], "vout": 0, "time": c["time"],
         "amount_sats": c["amount_sats"], "customer_groups": "", "payment_txids": ""}
        for c in sorted(cashouts, key=lambda c: (c["entity"], c["txid"]))
    ]  # fmt: skip
    income = sum(r["amount_sats"] for r in leads)
    by_entity: dict[str, int] = {}
    for c in cashouts:
        by_entity[c["entity"]] = by_entity.get(c["entity"], 0) + c["amount_sats"]
    case = {
        "chainsleuth_version": "bench", "created": _time(t0),
        "seeds": [leads[0]["service_address"]],
        "parameters": {"run": "default", "hops": 6, "policy": "haircut"},
        "dataset": {"path": "DATASET", "network": "regtest", "tip_height": 60000,
                    "tip_hash": _hex(rng), "manifest_sha256": _hex(rng)},
        "clustering_run": {"name": "default", "params": {
            "name": "default", "heuristics": ["multi-input", "change:fresh_address",
                                              "change:script_type", "collapse-guard"],
            "thresholds": {"max_merge_size": 10000, "actor_guard": True, "min_agree": 2},
            "tags": {"snapshot_sha256": _hex(rng), "n_tags": 30, "n_actors": 3,
                     "min_confidence": 50}}},
        "tag_packs": ["bench exchanges"],
        "summary": {
            "income_sats": income, "payments": len(leads), "customers": customers,
            "customer_clusters": len({r["customer_cluster"] for r in leads}), "account_leads": 0,
            "funded_payments": len(leads), "self_transfers_sats": income // 3,
            "other_received_sats": 0, "total_received_sats": income + income // 3,
            "cashout_sats": sum(by_entity.values()), "cashout_sats_by_entity": by_entity,
            "other_outflow_sats": 0,
        },
        "service": {"cluster": 1, "clusters": [1], "cashout_addresses": [], "refused_joins": [],
                    "profile": {"n_clusters": 40, "n_addresses": len(leads), "first_height": 1,
                                "last_height": 60000, "first_time": leads[0]["payment_time"],
                                "last_time": leads[-1]["payment_time"]}},
        "customers": sorted({r["customer_cluster"] for r in leads}),
        "customer_groups": groups, "cashouts": cashouts, "outflows": [], "exposure": [],
        "findings": [{"kind": "service-cluster", "cluster": 1, "rule": "seed",
                      "evidence_txids": [_hex(rng)]}] + [
            {"kind": "customer-payment", "customer_group": r["customer_group"],
             "customer_cluster": r["customer_cluster"], "amount_sats": r["amount_sats"],
             "funding": {"entity": r["funding_entity"], "hops": r["funding_hops"]},
             "evidence_txids": r["evidence_txids"].split(";")}
            for r in leads
        ],
    }  # fmt: skip
    (out / "case.json").write_text(json.dumps(case))
    for name, cols, rows in (("leads.csv", LEAD_COLUMNS, leads),
                             ("requests.csv", REQUEST_COLUMNS, requests)):  # fmt: skip
        with open(out / name, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(cols), lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
    return out


def _timed(label: str, fn: Any, rows: list[list[str]]) -> Any:
    t = time.perf_counter()
    result = fn()
    rows.append([label, f"{time.perf_counter() - t:.1f}"])
    print(f"{label}: {rows[-1][1]} s", flush=True)
    return result


def _bench_case(name: str, case: Path, pdf: bool, rows: list[list[str]]) -> None:
    from chainsleuth.report.graphfiles import export_case
    from chainsleuth.report.render import write_report

    with open(case / "leads.csv") as fh:
        leads = sum(1 for _ in fh) - 1
    html = _timed(f"{name} ({leads:,} payments): report html", lambda: write_report(
        case, ["html"], case / "bench-report.html"), rows)  # fmt: skip
    rows[-1].append(f"{html.paths[0].stat().st_size / 1e6:.1f} MB")
    if pdf:
        out = _timed(f"{name}: report pdf", lambda: write_report(
            case, ["pdf"], case / "bench-report.pdf"), rows)  # fmt: skip
        rows[-1].append(f"{out.paths[0].stat().st_size / 1e6:.1f} MB")
    for fmt in ("graphml", "json"):
        path = _timed(
            f"{name}: export {fmt} (cluster)",
            lambda f=fmt: export_case(case, f, "cluster", case / f"bench.{f}"),
            rows,
        )
        rows[-1].append(f"{path.stat().st_size / 1e6:.1f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=Path("demo-case"))
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--pdf-large", action="store_true", help="also the large case's PDF")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows: list[list[str]] = []
    case = args.demo / "case"
    if not (case / "case.json").is_file():
        from rich.console import Console

        from chainsleuth.demo import run_demo

        _timed("build the demo case (not timed below)",
               lambda: run_demo(args.demo, console=Console(quiet=True), report_formats=()),
               rows)  # fmt: skip
    _bench_case("demo case", case, True, rows)
    with tempfile.TemporaryDirectory() as tmp:
        big = _timed(f"generate a {args.customers:,}-customer case",
                     lambda: generate_case(Path(tmp) / "case", args.customers), rows)  # fmt: skip
        _bench_case(f"{args.customers:,} customers", big, args.pdf_large, rows)
    table = ["| step | seconds | output |", "| --- | ---: | ---: |"]
    table += [f"| {r[0]} | {r[1]} | {r[2] if len(r) > 2 else ''} |" for r in rows]
    text = "\n".join(table) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
