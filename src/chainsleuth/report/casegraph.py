"""The case as a graph, at the level of clusters, addresses or transactions.

Built from the case files alone (``leads.csv``, ``case.json``), as a networkx ``DiGraph``
whose nodes carry ``kind``, ``label``, ``category``, ``btc`` (value received, or paid for a
customer), ``first_time`` and ``last_time``, and whose edges carry ``kind`` (``funded``,
``paid``, ``cashout``, ``outflow``, ``hop``), ``value_sats``, ``btc``, ``n_tx`` and ``txids``
(``;``-separated). Edges between the same two nodes are summed.

- ``cluster``: funding-entity clusters → customer clusters → the service (its clusters as one
  node) → cash-out and other outflow clusters;
- ``address``: funding entities → withdrawal addresses; payer addresses → service deposit
  addresses (a payment's value split evenly over its payer addresses, so the edges into the
  service add up to the income); the service wallet → cash-out and outflow addresses;
- ``tx``: funding entities → withdrawal → … → payment transactions (the evidence chain; a
  step carries the value the trace attributes) → the service → cash-out transactions →
  entities.

>>> from chainsleuth.investigate.service import investigate_service
>>> from chainsleuth.report.casedata import load_case
>>> _ = investigate_service(ds, [seed], tmp / "case")
>>> g = case_graph(load_case(tmp / "case"), "cluster")
>>> g.nodes["service"]["kind"], g.number_of_nodes() > 100
('service', True)
"""

from __future__ import annotations

import itertools
from typing import Any

import networkx as nx

from chainsleuth.errors import InputError
from chainsleuth.report.casedata import CaseFiles

__all__ = ["LEVELS", "case_graph"]

LEVELS = ("cluster", "address", "tx")
SATS = 100_000_000


class _Builder:
    def __init__(self) -> None:
        self.g: nx.DiGraph[str] = nx.DiGraph()

    def node(self, key: str, kind: str, label: str, category: str = "", value: int = 0,
             time: str = "", **extra: Any) -> str:  # fmt: skip
        g = self.g
        if key not in g:
            g.add_node(key, kind=kind, label=label, category=category, value_sats=0,
                       first_time="", last_time="", **extra)  # fmt: skip
        attrs = g.nodes[key]
        attrs["value_sats"] += int(value)
        if time:
            attrs["first_time"] = min(filter(None, (attrs["first_time"], time)))
            attrs["last_time"] = max(attrs["last_time"], time)
        return key

    def edge(self, a: str, b: str, kind: str, value: int, txids: list[str]) -> None:
        g = self.g
        if not g.has_edge(a, b):
            g.add_edge(a, b, kind=kind, value_sats=0, txids=[])
        e = g.edges[a, b]
        e["value_sats"] += int(value)
        e["txids"].extend(t for t in txids if t and t not in e["txids"])

    def done(self) -> nx.DiGraph[str]:
        for _, attrs in self.g.nodes(data=True):
            attrs["btc"] = attrs["value_sats"] / SATS
        for _, _, e in self.g.edges(data=True):
            e["btc"] = e["value_sats"] / SATS
            e["n_tx"] = len(e["txids"])
            e["txids"] = ";".join(e["txids"])
        return self.g


def _service(b: _Builder, files: CaseFiles) -> str:
    prof = (files.case.get("service") or {}).get("profile", {})
    key = b.node("service", "service", "service wallet", "service")
    b.g.nodes[key]["first_time"] = prof.get("first_time") or ""
    b.g.nodes[key]["last_time"] = prof.get("last_time") or ""
    return key


def _cluster_level(b: _Builder, files: CaseFiles) -> None:
    service = _service(b, files)
    for r in files.leads:
        cust = b.node(f"cluster:{r['customer_cluster']}", "customer",
                      f"customer {r['customer_group']} (cluster {r['customer_cluster']})",
                      value=int(r["amount_sats"]), time=r["payment_time"],
                      group=int(r["customer_group"]))  # fmt: skip
        b.g.nodes[service]["value_sats"] += int(r["amount_sats"])
        b.edge(cust, service, "paid", int(r["amount_sats"]), [r["payment_txid"]])
        if r["funding_entity"]:
            src = b.node(f"cluster:{r['funding_cluster']}", "entity", r["funding_entity"],
                         r["funding_category"], time=r["funding_time"])  # fmt: skip
            b.edge(src, cust, "funded", int(r["funding_amount_sats"] or 0), [r["funding_txid"]])
    for kind, rows in (("cashout", "cashouts"), ("outflow", "outflows")):
        for c in files.case.get(rows, []):
            label = c["entity"] or f"cluster {c['cluster']}"
            dst = b.node(f"cluster:{c['cluster']}", "entity" if c["entity"] else "other", label,
                         c.get("category") or "", int(c["amount_sats"]), c["time"])  # fmt: skip
            b.edge(service, dst, kind, int(c["amount_sats"]), [c["txid"]])


def _address_level(b: _Builder, files: CaseFiles) -> None:
    service = _service(b, files)
    for r in files.leads:
        amount = int(r["amount_sats"])
        dep = b.node(f"addr:{r['service_address']}", "service-address", r["service_address"],
                     "service", amount, r["payment_time"])  # fmt: skip
        payers = [a for a in r["payer_addresses"].split(";") if a]
        share, rest = divmod(amount, max(len(payers), 1))
        for i, a in enumerate(payers):
            src = b.node(f"addr:{a}", "payer-address", a, time=r["payment_time"],
                         group=int(r["customer_group"]))  # fmt: skip
            b.edge(src, dep, "paid", share + (rest if i == 0 else 0), [r["payment_txid"]])
        if r["funding_entity"] and r["funding_address"]:
            ent = b.node(f"entity:{r['funding_entity']}", "entity", r["funding_entity"],
                         r["funding_category"])  # fmt: skip
            wd = b.node(f"addr:{r['funding_address']}", "withdrawal-address",
                        r["funding_address"], value=0, time=r["funding_time"])  # fmt: skip
            b.edge(ent, wd, "funded", int(r["funding_output_sats"] or 0), [r["funding_txid"]])
    for kind, rows in (("cashout", "cashouts"), ("outflow", "outflows")):
        for c in files.case.get(rows, []):
            dst = b.node(f"addr:{c['address']}", f"{kind}-address", c["address"],
                         c.get("category") or "", int(c["amount_sats"]), c["time"],
                         entity=c["entity"])  # fmt: skip
            b.edge(service, dst, kind, int(c["amount_sats"]), [c["txid"]])


def _tx_level(b: _Builder, files: CaseFiles) -> None:
    service = _service(b, files)
    for r in files.leads:
        chain = [t for t in r["evidence_txids"].split(";") if t]
        pay = b.node(f"tx:{r['payment_txid']}", "payment", r["payment_txid"],
                     value=int(r["amount_sats"]), time=r["payment_time"])  # fmt: skip
        b.g.nodes[service]["value_sats"] += int(r["amount_sats"])
        b.edge(pay, service, "paid", int(r["amount_sats"]), [r["payment_txid"]])
        if not r["funding_entity"] or len(chain) < 2:
            continue
        attributed = int(r["funding_amount_sats"] or 0)
        ent = b.node(f"entity:{r['funding_entity']}", "entity", r["funding_entity"],
                     r["funding_category"])  # fmt: skip
        first = b.node(f"tx:{chain[0]}", "withdrawal", chain[0], time=r["funding_time"])
        b.edge(ent, first, "funded", int(r["funding_output_sats"] or 0), [chain[0]])
        for a, c in itertools.pairwise(chain):
            src = b.node(f"tx:{a}", "hop", a)
            dst = b.node(f"tx:{c}", "hop", c)
            b.edge(src, dst, "hop", attributed, [a, c])
    for kind, rows in (("cashout", "cashouts"), ("outflow", "outflows")):
        for c in files.case.get(rows, []):
            tx = b.node(f"tx:{c['txid']}", kind, c["txid"], time=c["time"])
            b.edge(service, tx, kind, int(c["amount_sats"]), [c["txid"]])
            if c["entity"]:
                ent = b.node(f"entity:{c['entity']}", "entity", c["entity"],
                             c.get("category") or "", int(c["amount_sats"]))  # fmt: skip
                b.edge(tx, ent, kind, int(c["amount_sats"]), [c["txid"]])


def case_graph(files: CaseFiles, level: str = "cluster") -> nx.DiGraph[str]:
    """The case's graph at ``level`` (``cluster``, ``address`` or ``tx``); InputError for
    another level. The module docstring has a runnable example."""
    builders = {"cluster": _cluster_level, "address": _address_level, "tx": _tx_level}
    if level not in builders:
        raise InputError(f"--level: unknown level {level!r} (valid: {', '.join(LEVELS)})")
    b = _Builder()
    builders[level](b, files)
    return b.done()
