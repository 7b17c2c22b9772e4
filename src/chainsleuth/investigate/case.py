"""Write an investigation to a case directory: ``leads.csv``, ``requests.csv``, ``case.json``.

- ``leads.csv``: one row per customer payment — who paid, when, how much, to which service
  address, and the funding source (entity, category, the transaction through which the value
  left it, hops, value and time), ``customer_entry_txid`` (the transaction that paid the
  customer the coins it spent — the withdrawal itself when the customer paid straight from an
  exchange withdrawal) with ``confidence`` = share of the customer's inputs in the
  payment traced to that entity, and ``evidence_txids``: a chain of transactions from the
  funding transaction to the payment, each paying the cluster the next one spends from;
- ``requests.csv``: per entity (exchange), the customers and funding transactions to ask it
  about, plus the service's own cash-outs received there;
- ``case.json``: seeds, parameters, dataset tip and manifest sha256, clustering run, tag packs,
  the service wallet with the joins behind it, and every finding with its evidence txids.

>>> # write_case(ds, investigate_service(ds, ["bcrt1q..."]), Path("case"))
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import chainsleuth
from chainsleuth.investigate.service import Investigation, Payment
from chainsleuth.trace.export import iso_time, txid_map

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

__all__ = ["LEAD_COLUMNS", "REQUEST_COLUMNS", "write_case"]

LEAD_COLUMNS = (
    "customer_cluster",
    "payment_txid",
    "payment_time",
    "amount_sats",
    "service_address",
    "funding_entity",
    "funding_category",
    "funding_txid",
    "customer_entry_txid",
    "funding_hops",
    "confidence",
    "funding_amount_sats",
    "funding_time",
    "funding_cluster",
    "evidence_txids",
)
REQUEST_COLUMNS = (
    "entity",
    "category",
    "subject",
    "cluster",
    "txid",
    "time",
    "amount_sats",
    "n_payments",
)


def _addresses(ds: Dataset, addr_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted({int(a) for a in addr_ids if a >= 0})
    if not ids:
        return {}
    rows = ds.sql(
        "SELECT addr_id, address FROM addresses WHERE addr_id IN (SELECT unnest(?))", [ids]
    ).fetchall()
    return {int(a): str(s) for a, s in rows}


def _evidence(p: Payment) -> list[int]:
    """Funding transaction first, payment last."""
    path = list(p.path_txs) if p.funding is not None else []
    if not path or path[-1] != p.tx:
        path.append(p.tx)
    return path


def _entry(p: Payment) -> int:
    """The transaction that paid the customer the coins spent in the payment: the last
    evidence step before the payment (the exchange's withdrawal when paid straight from it)."""
    path = _evidence(p)
    return path[-2] if len(path) >= 2 else path[0]


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _csv(columns: Iterable[str], rows: Iterable[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _lead_rows(
    inv: Investigation, txid: dict[int, str], addr: dict[int, str]
) -> list[dict[str, Any]]:
    g = inv.graph
    rows = []
    for p in inv.payments:
        f = p.funding
        rows.append(
            {
                "customer_cluster": p.customer,
                "payment_txid": txid[p.tx],
                "payment_time": iso_time(g.tx_time[p.tx]),
                "amount_sats": p.amount,
                "service_address": addr.get(p.service_addr, ""),
                "funding_entity": f.entity if f else "",
                "funding_category": (f.category or "") if f else "",
                "funding_txid": txid[f.tx] if f else "",
                "customer_entry_txid": txid[_entry(p)] if f else "",
                "funding_hops": f.hops if f else "",
                "confidence": f"{min(f.share, 1.0):.4f}" if f else "0",
                "funding_amount_sats": round(f.value) if f else "",
                "funding_time": iso_time(g.tx_time[f.tx]) if f else "",
                "funding_cluster": f.node if f else "",
                "evidence_txids": ";".join(txid[t] for t in _evidence(p)),
            }
        )
    return rows


def _request_rows(inv: Investigation, txid: dict[int, str]) -> list[dict[str, Any]]:
    g = inv.graph
    grouped: dict[tuple[str, int, int], list[Payment]] = {}
    category: dict[str, str] = {}
    for p in inv.payments:
        if p.funding is None:
            continue
        grouped.setdefault((p.funding.entity, p.customer, p.funding.tx), []).append(p)
        category[p.funding.entity] = p.funding.category or ""
    rows = []
    for (entity, customer, tx), pays in sorted(grouped.items()):
        rows.append(
            {
                "entity": entity,
                "category": category[entity],
                "subject": "customer",
                "cluster": customer,
                "txid": txid[tx],
                "time": iso_time(g.tx_time[tx]),
                "amount_sats": round(sum(p.funding.value for p in pays if p.funding)),
                "n_payments": len(pays),
            }
        )
    service = min(inv.wallet.nodes)
    for c in inv.cashouts:
        for tx in c.txs:
            rows.append(
                {
                    "entity": c.entity,
                    "category": c.category or "",
                    "subject": "service-cashout",
                    "cluster": service,
                    "txid": txid[tx],
                    "time": iso_time(g.tx_time[tx]),
                    "amount_sats": "",
                    "n_payments": "",
                }
            )
    return rows


def _case_json(
    ds: Dataset, inv: Investigation, txid: dict[int, str], addr: dict[int, str]
) -> dict[str, Any]:
    from chainsleuth.cluster.runs import run_params
    from chainsleuth.tags.store import load_packs

    g = inv.graph
    prof = inv.profile
    findings: list[dict[str, Any]] = []
    for j in inv.wallet.joins:
        findings.append(
            {"kind": "service-cluster", "cluster": j.node, "rule": j.rule,
             "evidence_txids": [txid[j.tx]]}
        )  # fmt: skip
    for j in inv.grown:
        lab = inv.labels.get(j.node)
        findings.append(
            {"kind": "attribution", "cluster": j.node, "entity": lab.entity if lab else None,
             "rule": j.rule, "evidence_txids": [txid[j.tx]]}
        )  # fmt: skip
    for p in inv.payments:
        f = p.funding
        findings.append(
            {
                "kind": "customer-payment",
                "customer_cluster": p.customer,
                "amount_sats": p.amount,
                "service_address": addr.get(p.service_addr, ""),
                "funding": None
                if f is None
                else {
                    "entity": f.entity,
                    "category": f.category,
                    "cluster": f.node,
                    "txid": txid[f.tx],
                    "hops": f.hops,
                    "amount_sats": round(f.value),
                    "confidence": round(min(f.share, 1.0), 3),
                },
                "evidence_txids": [txid[t] for t in _evidence(p)],
            }
        )
    for c in inv.cashouts:
        findings.append(
            {"kind": "cash-out", "entity": c.entity, "category": c.category, "cluster": c.node,
             "amount_sats": round(c.value), "hops": c.hops,
             "evidence_txids": [txid[t] for t in c.txs]}
        )  # fmt: skip
    return {
        "chainsleuth_version": chainsleuth.__version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seeds": inv.seeds,
        "parameters": inv.params,
        "dataset": {
            "path": str(Path(ds.path).resolve()),
            "network": ds.network.name,
            "tip_height": ds.tip_height,
            "tip_hash": ds.tip_hash,
            "manifest_sha256": ds.manifest_sha256,
        },
        "clustering_run": {"name": g.run, "params": run_params(ds, g.run) if g.run else None},
        "tag_packs": sorted(load_packs(ds)),
        "service": {
            "cluster": min(inv.wallet.nodes),
            "clusters": sorted(inv.wallet.nodes),
            "cashout_addresses": sorted(addr.get(a, str(a)) for a in inv.wallet.cashout_addresses),
            "profile": {
                "n_clusters": prof.n_clusters,
                "n_addresses": prof.n_addresses,
                "first_height": prof.first_height,
                "last_height": prof.last_height,
                "first_time": iso_time(prof.first_time),
                "last_time": iso_time(prof.last_time),
                "total_received_sats": prof.total_received,
                "n_payments": prof.n_payments,
                "monthly": [
                    {"month": m, "n_payments": n, "amount_sats": v} for m, n, v in prof.monthly
                ],
            },
        },
        "customers": sorted({p.customer for p in inv.payments}),
        "findings": findings,
    }


def write_case(ds: Dataset, inv: Investigation, out: Path | str) -> Path:
    """Write ``leads.csv``, ``requests.csv`` and ``case.json`` into ``out`` (created).

    >>> # write_case(ds, inv, "case").name -> 'case'
    """
    case_dir = Path(out)
    case_dir.mkdir(parents=True, exist_ok=True)
    positions: list[int] = [j.tx for j in inv.wallet.joins] + [j.tx for j in inv.grown]
    for p in inv.payments:
        positions.extend(_evidence(p))
        if p.funding is not None:
            positions.append(p.funding.tx)
    for c in inv.cashouts:
        positions.extend(c.txs)
    txid = txid_map(ds, inv.graph, positions)
    addr = _addresses(
        ds, [p.service_addr for p in inv.payments] + list(inv.wallet.cashout_addresses)
    )
    _write_text(case_dir / "leads.csv", _csv(LEAD_COLUMNS, _lead_rows(inv, txid, addr)))
    _write_text(case_dir / "requests.csv", _csv(REQUEST_COLUMNS, _request_rows(inv, txid)))
    doc = _case_json(ds, inv, txid, addr)
    _write_text(case_dir / "case.json", json.dumps(doc, indent=2) + "\n")
    return case_dir
