"""``chainsleuth export``: the case graph as GraphML, GEXF, neo4j-admin CSVs or JSON.

GraphML and GEXF are written by networkx (Gephi, Cytoscape and networkx open them); the neo4j
export is a folder with ``nodes.csv`` (``id:ID``, properties, ``:LABEL``) and
``relationships.csv`` (``:START_ID``, ``:END_ID``, ``:TYPE``, properties; ``txids`` a
``;``-separated ``string[]``) for ``neo4j-admin database import full --nodes nodes.csv
--relationships relationships.csv``; the JSON is the case (summary, customers, payments,
requests, cash-outs) with the graph, valid against ``docs/case-schema.json``
(:data:`SCHEMA_ID`).

>>> from chainsleuth.investigate.service import investigate_service
>>> _ = investigate_service(ds, [seed], tmp / "case")
>>> export_case(tmp / "case", "graphml").name
'graph-cluster.graphml'
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import networkx as nx

from chainsleuth.errors import InputError
from chainsleuth.report.casedata import CaseFiles, load_case
from chainsleuth.report.casegraph import LEVELS, case_graph

__all__ = ["GRAPH_FORMATS", "SCHEMA_ID", "case_json", "default_target", "export_case"]

GRAPH_FORMATS = ("graphml", "gexf", "neo4j", "json")
SCHEMA_ID = "https://chainsleuth.invalid/schemas/case-1.json"
NODE_FIELDS = ("kind", "label", "category", "btc", "value_sats", "first_time", "last_time")
EDGE_FIELDS = ("kind", "value_sats", "btc", "n_tx", "txids")
_NEO4J_TYPES = {"btc": "float", "value_sats": "long", "n_tx": "long", "txids": "string[]"}


def default_target(case_dir: Path | str, fmt: str, level: str) -> Path:
    """Where an export goes by default: beside the case files.

    >>> default_target("case", "neo4j", "tx"), default_target("case", "json", "cluster")
    (PosixPath('case/neo4j-tx'), PosixPath('case/graph-cluster.json'))
    """
    if fmt == "neo4j":
        return Path(case_dir) / f"neo4j-{level}"
    return Path(case_dir) / f"graph-{level}.{fmt}"


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _neo4j(g: nx.DiGraph[str], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    label = {"service": "Service", "customer": "Customer", "entity": "Entity", "other": "Other"}
    nodes = [["id:ID", *(f"{f}:{_NEO4J_TYPES.get(f, 'string')}" for f in NODE_FIELDS), ":LABEL"]]
    for key, a in g.nodes(data=True):
        kind = str(a["kind"])
        name = label.get(kind) or "".join(p.title() for p in kind.split("-"))
        nodes.append([key, *(str(a.get(f, "")) for f in NODE_FIELDS), name])
    rels = [[":START_ID", ":END_ID", ":TYPE",
             *(f"{f}:{_NEO4J_TYPES.get(f, 'string')}" for f in EDGE_FIELDS[1:])]]  # fmt: skip
    for u, v, e in g.edges(data=True):
        rels.append([u, v, str(e["kind"]).upper(), *(str(e[f]) for f in EDGE_FIELDS[1:])])
    for name, rows in (("nodes.csv", nodes), ("relationships.csv", rels)):
        tmp = folder / (name + ".tmp")
        with open(tmp, "w", newline="") as fh:
            csv.writer(fh, lineterminator="\n").writerows(rows)
        os.replace(tmp, folder / name)


def _int(text: str) -> int | None:
    return int(text) if text not in ("", None) else None


def case_json(files: CaseFiles, g: nx.DiGraph[str], level: str) -> dict[str, Any]:
    """The case and its graph as one JSON document (``docs/case-schema.json``)."""
    case = files.case
    payments = []
    for r in files.leads:
        funding = None
        if r["funding_entity"]:
            funding = {
                "entity": r["funding_entity"],
                "category": r["funding_category"],
                "cluster": _int(r["funding_cluster"]),
                "txid": r["funding_txid"],
                "vout": _int(r["funding_vout"]),
                "address": r["funding_address"],
                "time": r["funding_time"],
                "hops": _int(r["funding_hops"]),
                "amount_sats": _int(r["funding_amount_sats"]),
                "confidence": float(r["confidence"]),
            }
        payments.append(
            {
                "customer_group": int(r["customer_group"]),
                "customer_cluster": int(r["customer_cluster"]),
                "txid": r["payment_txid"],
                "vouts": [int(v) for v in r["payment_vouts"].split(";") if v],
                "time": r["payment_time"],
                "amount_sats": int(r["amount_sats"]),
                "service_address": r["service_address"],
                "payer_addresses": [a for a in r["payer_addresses"].split(";") if a],
                "funding": funding,
                "evidence_txids": [t for t in r["evidence_txids"].split(";") if t],
            }
        )
    requests = [
        {**r, "vout": int(r["vout"]), "amount_sats": int(r["amount_sats"]),
         "customer_groups": [int(x) for x in r["customer_groups"].split(";") if x],
         "payment_txids": [t for t in r["payment_txids"].split(";") if t]}
        for r in files.requests
    ]  # fmt: skip
    return {
        "$schema": SCHEMA_ID,
        "format": "chainsleuth-case",
        "version": 1,
        "level": level,
        "seeds": case.get("seeds", []),
        "dataset": case.get("dataset", {}),
        "clustering_run": case.get("clustering_run", {}),
        "summary": case["summary"],
        "customer_groups": [
            {
                k: g_[k]
                for k in (
                    "group",
                    "clusters",
                    "n_payments",
                    "amount_sats",
                    "first_time",
                    "last_time",
                    "main_funding_entity",
                    "confidence",
                )
            }
            for g_ in case.get("customer_groups", [])
        ],
        "payments": payments,
        "requests": requests,
        "cashouts": case.get("cashouts", []),
        "graph": {
            "nodes": [
                {"id": k, **{f: a.get(f) for f in NODE_FIELDS}} for k, a in g.nodes(data=True)
            ],
            "edges": [
                {
                    "source": u,
                    "target": v,
                    **{f: e[f] for f in EDGE_FIELDS[:-1]},
                    "txids": [t for t in e["txids"].split(";") if t],
                }
                for u, v, e in g.edges(data=True)
            ],
        },
    }


def export_case(
    case_dir: Path | str, fmt: str, level: str = "cluster", out: Path | str | None = None
) -> Path:
    """Write the case graph in ``fmt`` at ``level`` to ``out`` (default
    :func:`default_target`); returns the path written (a folder for ``neo4j``). InputError for
    an unknown format or level. The module docstring has a runnable example."""
    if fmt not in GRAPH_FORMATS:
        raise InputError(f"--format: unknown format {fmt!r} (valid: {', '.join(GRAPH_FORMATS)})")
    if level not in LEVELS:
        raise InputError(f"--level: unknown level {level!r} (valid: {', '.join(LEVELS)})")
    files = load_case(case_dir)
    g = case_graph(files, level)
    target = Path(out) if out is not None else default_target(case_dir, fmt, level)
    if fmt == "neo4j":
        _neo4j(g, target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    if fmt == "graphml":
        nx.write_graphml(g, tmp)
    elif fmt == "gexf":
        nx.write_gexf(g, tmp)
    else:
        tmp.write_text(json.dumps(case_json(files, g, level), indent=1) + "\n")
    os.replace(tmp, target)
    return target
