"""Write an investigation to a case directory: ``leads.csv``, ``requests.csv``, ``case.json``.

Every column is described in docs/case-files.md. In short:

- ``leads.csv``: one row per customer payment — the customer group (one wallet) and the payer
  cluster, the payment txid, its outputs to the service, the payer's input addresses, and the
  funding source: entity, the withdrawal ``funding_txid:funding_vout``, the address it paid
  and the amount, with the evidence chain from the withdrawal to the payment;
- ``requests.csv``: one row per account an entity (exchange) can identify: the customers'
  withdrawal outputs and the service's own deposits (cash-outs), each with address, txid:vout,
  time and amount;
- ``case.json``: seeds, parameters, dataset tip and manifest sha256, the clustering run with its
  params, tag packs, the service wallet with the joins behind it, ``summary`` (every total
  recomputable from the rows), ``customer_groups`` with their evidence, ``cashouts`` (one per
  output), the other ``outflows``, and the forward trace's ``exposure``.

>>> from chainsleuth.investigate.service import investigate_service
>>> case = write_case(ds, investigate_service(ds, [seed]), tmp / "case")
>>> sorted(p.name for p in case.iterdir())
['case.json', 'leads.csv', 'requests.csv']
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

import numpy as np

import chainsleuth
from chainsleuth.errors import InputError
from chainsleuth.investigate.customers import HUB_RECEIPTS, MAX_GROUP_CLUSTERS, MAX_SEARCH_ENTRIES
from chainsleuth.investigate.service import (
    Exposure,
    Investigation,
    Outflow,
    Payment,
    funding_confidence,
)
from chainsleuth.trace.export import iso_time

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset
    from chainsleuth.trace.flowgraph import FlowGraph

__all__ = ["LEAD_COLUMNS", "REQUEST_COLUMNS", "write_case"]

LEAD_COLUMNS = (
    "customer_group",
    "customer_cluster",
    "payment_txid",
    "payment_vouts",
    "payment_time",
    "amount_sats",
    "service_address",
    "payer_addresses",
    "funding_entity",
    "funding_category",
    "funding_txid",
    "funding_vout",
    "funding_address",
    "funding_output_sats",
    "customer_entry_txid",
    "funding_hops",
    "confidence",
    "traced_share",
    "funding_amount_sats",
    "funding_time",
    "funding_cluster",
    "group_confidence",
    "evidence_txids",
)
REQUEST_COLUMNS = (
    "entity",
    "category",
    "subject",
    "address",
    "txid",
    "vout",
    "time",
    "amount_sats",
    "customer_groups",
    "payment_txids",
)


def _addresses(ds: Dataset, addr_ids: Iterable[int]) -> dict[int, str]:
    """Address strings of the ids, read by id from the parts holding them (no table scan)."""
    ids = sorted({int(a) for a in addr_ids if a >= 0})
    if not ids:
        return {}
    found = ds.lookup.addresses_of(ids)
    return {a: str(s) for a, s in zip(ids, found, strict=True) if s is not None}


def _txids(ds: Dataset, graph: FlowGraph, positions: Iterable[int]) -> dict[int, str]:
    """txid (hex) of transaction positions, read by id from the parts holding them.

    >>> from chainsleuth.trace.flowgraph import build_flow_graph
    >>> _txids(ds, build_flow_graph(ds), [0, -1])
    {0: '4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b'}
    """
    pos = sorted({int(p) for p in positions if p >= 0})
    if not pos:
        return {}
    ids = np.asarray(graph.tx_id[np.array(pos, dtype=np.int64)], dtype=np.int64)
    found = ds.lookup.txids_of(ids)
    return {p: h for p, h in zip(pos, found, strict=True) if h is not None}


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


class _Names:
    """txids and addresses of the positions a case mentions, and output → vout."""

    def __init__(self, ds: Dataset, inv: Investigation) -> None:
        g = inv.graph
        positions: list[int] = [j.tx for j in inv.wallet.joins] + [j.tx for j in inv.grown]
        addrs: list[int] = list(inv.wallet.cashout_addresses)
        for p in inv.payments:
            positions.extend(_evidence(p))
            addrs.append(p.service_addr)
            addrs.extend(p.payer_addrs)
            if p.funding is not None:
                positions.append(p.funding.tx)
                addrs.append(p.funding_addr)
        for o in [*inv.cashouts, *inv.outflows]:
            positions.append(o.tx)
            addrs.append(o.addr)
        if inv.groups is not None:
            positions.extend(k.tx for k in inv.groups.links)
        for e in inv.exposure:
            positions.extend(e.txs)
        self.txid = _txids(ds, g, positions)
        self.graph = g
        self.addr = _addresses(ds, addrs)

    def vout(self, out: int) -> int:
        g = self.graph
        tx = int(np.searchsorted(g.tx_out_start, g.tx_out_start.dtype.type(out), "right") - 1)
        return out - int(g.tx_out_start[tx])


def _lead_rows(inv: Investigation, names: _Names) -> list[dict[str, Any]]:
    g = inv.graph
    txid, addr = names.txid, names.addr
    rows = []
    for p in inv.payments:
        f = p.funding
        fo = p.funding_out if f is not None else -1
        rows.append(
            {
                "customer_group": p.group,
                "customer_cluster": p.customer,
                "payment_txid": txid[p.tx],
                "payment_vouts": ";".join(str(names.vout(o)) for o in p.service_outs),
                "payment_time": iso_time(g.tx_time[p.tx]),
                "amount_sats": p.amount,
                "service_address": addr.get(p.service_addr, ""),
                "payer_addresses": ";".join(addr.get(a, "") for a in p.payer_addrs),
                "funding_entity": f.entity if f else "",
                "funding_category": (f.category or "") if f else "",
                "funding_txid": txid[f.tx] if f else "",
                "funding_vout": names.vout(fo) if fo >= 0 else "",
                "funding_address": addr.get(p.funding_addr, ""),
                "funding_output_sats": int(g.out_value[fo]) if fo >= 0 else "",
                "customer_entry_txid": txid[_entry(p)] if f else "",
                "funding_hops": f.hops if f else "",
                "confidence": f"{funding_confidence(f.hops):.2f}" if f else "0",
                "traced_share": f"{min(f.share, 1.0):.4f}" if f else "",
                "funding_amount_sats": round(f.value) if f else "",
                "funding_time": iso_time(g.tx_time[f.tx]) if f else "",
                "funding_cluster": f.node if f else "",
                "group_confidence": (
                    f"{inv.groups.confidence(p.group):.3f}" if inv.groups is not None else ""
                ),
                "evidence_txids": ";".join(txid[t] for t in _evidence(p)),
            }
        )
    return rows


def _request_rows(inv: Investigation, names: _Names) -> list[dict[str, Any]]:
    g = inv.graph
    txid = names.txid
    withdrawals: dict[tuple[str, int], list[Payment]] = {}
    paid_addr: dict[int, int] = {}
    category: dict[str, str] = {}
    for p in inv.payments:
        if p.funding is None or p.funding_out < 0:
            continue
        withdrawals.setdefault((p.funding.entity, p.funding_out), []).append(p)
        paid_addr[p.funding_out] = p.funding_addr
        category[p.funding.entity] = p.funding.category or ""
    rows = []
    for (entity, out), pays in sorted(withdrawals.items()):
        tx = int(np.searchsorted(g.tx_out_start, g.tx_out_start.dtype.type(out), "right") - 1)
        rows.append(
            {
                "entity": entity,
                "category": category[entity],
                "subject": "customer-withdrawal",
                "address": names.addr.get(paid_addr[out], ""),
                "txid": txid[tx],
                "vout": names.vout(out),
                "time": iso_time(g.tx_time[tx]),
                "amount_sats": int(g.out_value[out]),
                "customer_groups": ";".join(str(x) for x in sorted({p.group for p in pays})),
                "payment_txids": ";".join(txid[p.tx] for p in pays),
            }
        )
    for c in sorted(inv.cashouts, key=lambda c: (c.entity, c.out)):
        rows.append(
            {
                "entity": c.entity,
                "category": c.category or "",
                "subject": "service-cashout",
                "address": names.addr.get(c.addr, ""),
                "txid": txid[c.tx],
                "vout": names.vout(c.out),
                "time": iso_time(g.tx_time[c.tx]),
                "amount_sats": c.amount,
                "customer_groups": "",
                "payment_txids": "",
            }
        )
    return rows


def _outflow_rows(rows: Iterable[Outflow], names: _Names) -> list[dict[str, Any]]:
    g = names.graph
    return [
        {
            "entity": c.entity,
            "category": c.category,
            "cluster": c.node,
            "address": names.addr.get(c.addr, ""),
            "txid": names.txid[c.tx],
            "vout": names.vout(c.out),
            "time": iso_time(g.tx_time[c.tx]),
            "amount_sats": c.amount,
        }
        for c in rows
    ]


def _group_rows(inv: Investigation, names: _Names) -> list[dict[str, Any]]:
    groups = inv.groups
    if groups is None:
        return []
    pays: dict[int, list[Payment]] = {}
    for p in inv.payments:
        pays.setdefault(p.group, []).append(p)
    evidence: dict[int, list[dict[str, Any]]] = {}
    for link, group in zip(groups.links, groups.link_group, strict=True):
        evidence.setdefault(group, []).append(
            {"rule": link.rule, "cluster_a": link.a, "cluster_b": link.b,
             "txid": names.txid[link.tx], "confidence": link.confidence}
        )  # fmt: skip
    g = inv.graph
    out = []
    for group in sorted(pays):
        ps = pays[group]
        funding: dict[str, int] = {}
        for p in ps:
            if p.funding is not None:
                funding[p.funding.entity] = funding.get(p.funding.entity, 0) + round(
                    p.funding.value
                )
        out.append(
            {
                "group": group,
                "account_lead": group in groups.account_leads,
                "clusters": groups.clusters.get(group, []),
                "n_payments": len(ps),
                "amount_sats": sum(p.amount for p in ps),
                "first_time": iso_time(min(g.tx_time[p.tx] for p in ps)),
                "last_time": iso_time(max(g.tx_time[p.tx] for p in ps)),
                "main_funding_entity": max(funding, key=lambda k: funding[k]) if funding else None,
                "confidence": round(groups.confidence(group), 3),
                "evidence": evidence.get(group, []),
            }
        )
    return out


def _grouping(inv: Investigation) -> dict[str, Any]:
    """How the customer grouping was bounded: links held back by the group size bound, and
    what the shared-deposit-address search read (``capped``: its bound stopped it early)."""
    groups = inv.groups
    if groups is None:
        return {}
    search = groups.deposit_search
    return {
        "max_group_clusters": MAX_GROUP_CLUSTERS,
        "held_links": len(groups.held),
        "deposit_search": {
            "entries_read": search.entries_read,
            "max_entries": MAX_SEARCH_ENTRIES,
            "hub_addresses_skipped": search.hub_addresses,
            "hub_receipts": HUB_RECEIPTS,
            "capped": search.capped,
        },
    }


def _summary(inv: Investigation) -> dict[str, Any]:
    prof = inv.profile
    by_entity: dict[str, int] = {}
    for c in inv.cashouts:
        by_entity[c.entity] = by_entity.get(c.entity, 0) + c.amount
    return {
        "income_sats": sum(p.amount for p in inv.payments),
        "payments": len(inv.payments),
        "customers": len({p.group for p in inv.payments}),
        "customer_clusters": len({p.customer for p in inv.payments}),
        "account_leads": len(inv.groups.account_leads) if inv.groups is not None else 0,
        "funded_payments": sum(1 for p in inv.payments if p.funding is not None),
        "self_transfers_sats": prof.self_transfers,
        "other_received_sats": prof.other_received,
        "total_received_sats": prof.total_received,
        "cashout_sats": sum(c.amount for c in inv.cashouts),
        "cashout_sats_by_entity": dict(sorted(by_entity.items())),
        "other_outflow_sats": sum(c.amount for c in inv.outflows),
    }


def _exposure_row(e: Exposure, txid: dict[int, str]) -> dict[str, Any]:
    return {
        "entity": e.entity,
        "category": e.category,
        "cluster": e.node,
        "value_sats": round(e.value),
        "hops": e.hops,
        "evidence_txids": [txid[t] for t in e.txs],
    }


def _case_json(ds: Dataset, inv: Investigation, names: _Names) -> dict[str, Any]:
    from chainsleuth.cluster.runs import run_params
    from chainsleuth.tags.store import load_packs

    txid, addr = names.txid, names.addr
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
                "customer_group": p.group,
                "customer_cluster": p.customer,
                "amount_sats": p.amount,
                "service_address": addr.get(p.service_addr, ""),
                "payer_addresses": [addr.get(a, "") for a in p.payer_addrs],
                "funding": None
                if f is None
                else {
                    "entity": f.entity,
                    "category": f.category,
                    "cluster": f.node,
                    "txid": txid[f.tx],
                    "vout": names.vout(p.funding_out) if p.funding_out >= 0 else None,
                    "address": addr.get(p.funding_addr),
                    "hops": f.hops,
                    "amount_sats": round(f.value),
                    "confidence": funding_confidence(f.hops),
                    "traced_share": round(min(f.share, 1.0), 4),
                },
                "evidence_txids": [txid[t] for t in _evidence(p)],
            }
        )
    run = inv.graph.run
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
        "clustering_run": {"name": run, "params": run_params(ds, run) if run else None},
        "tag_packs": sorted(load_packs(ds)),
        "summary": _summary(inv),
        "service": {
            "cluster": min(inv.wallet.nodes),
            "clusters": sorted(inv.wallet.nodes),
            "cashout_addresses": sorted(addr.get(a, str(a)) for a in inv.wallet.cashout_addresses),
            "refused_joins": [
                {"cluster": j.node, "rule": j.rule, "txid": txid.get(j.tx, "")}
                for j in inv.wallet.refused
            ],
            "profile": {
                "n_clusters": prof.n_clusters,
                "n_addresses": prof.n_addresses,
                "first_height": prof.first_height,
                "last_height": prof.last_height,
                "first_time": iso_time(prof.first_time),
                "last_time": iso_time(prof.last_time),
                "total_received_sats": prof.total_received,
                "income_sats": prof.income,
                "self_transfers_sats": prof.self_transfers,
                "other_received_sats": prof.other_received,
                "n_payments": prof.n_payments,
                "monthly": [
                    {"month": m, "n_payments": n, "amount_sats": v} for m, n, v in prof.monthly
                ],
            },
        },
        "customers": sorted({p.customer for p in inv.payments}),
        "customer_groups": _group_rows(inv, names),
        "customer_grouping": _grouping(inv),
        "cashouts": _outflow_rows(inv.cashouts, names),
        "outflows": _outflow_rows(inv.outflows, names),
        "exposure": [_exposure_row(e, txid) for e in inv.exposure],
        "findings": findings,
    }


def write_case(ds: Dataset, inv: Investigation, out: Path | str) -> Path:
    """Write ``leads.csv``, ``requests.csv`` and ``case.json`` into ``out`` (created).

    The module docstring has a runnable example.
    """
    case_dir = Path(out)
    if case_dir.exists() and not case_dir.is_dir():
        raise InputError(f"case directory {case_dir} is a file, not a folder")
    case_dir.mkdir(parents=True, exist_ok=True)
    names = _Names(ds, inv)
    _write_text(case_dir / "leads.csv", _csv(LEAD_COLUMNS, _lead_rows(inv, names)))
    _write_text(case_dir / "requests.csv", _csv(REQUEST_COLUMNS, _request_rows(inv, names)))
    doc = _case_json(ds, inv, names)
    _write_text(case_dir / "case.json", json.dumps(doc, indent=2) + "\n")
    return case_dir
