"""A case folder read back, and the report's data: every figure the report prints.

:func:`load_case` reads ``case.json``, ``leads.csv`` and ``requests.csv`` (written by
``investigate service``, columns in docs/case-files.md); :func:`report_data` turns them into
one JSON-able dict — summary, funding exchanges, customers, per-exchange requests, the method
with its measured error rates, reproducibility and the evidence — that the templates render
and :func:`data_sha256` hashes, so a second run on the same inputs can be compared.

>>> from chainsleuth.investigate.service import investigate_service
>>> _ = investigate_service(ds, [seed], tmp / "case")
>>> data = report_data(load_case(tmp / "case"))
>>> data["summary"]["payments"] == len(load_case(tmp / "case").leads)
True
>>> len(data_sha256(data))
64
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chainsleuth
from chainsleuth.errors import InputError
from chainsleuth.report.accuracy import load_accuracy

__all__ = ["CaseFiles", "data_sha256", "load_case", "report_data"]

CASE_FILES = ("case.json", "leads.csv", "requests.csv")
LIMITS = (
    "A lead names an exchange account, not a person: only the exchange can say who holds it.",
    "Structural links (clusters: multi-input, change) and attribution (tags naming an entity) "
    "are kept apart; a tag is only as good as its source and confidence.",
    "CoinJoin transactions are detected and never used to join clusters: coins that went "
    "through one cannot be followed with confidence.",
    "Customer groups join clusters on weaker evidence (change, shared deposit addresses); each "
    "link is listed with its rule and confidence.",
    "Funding sources come from a backward trace under a policy (haircut by default): the "
    "traced share is an estimate, the confidence is calibrated by hops.",
    "Payments into deposit addresses the service has not spent yet may be missed: nothing on "
    "chain ties those addresses to the service.",
)


@dataclass(frozen=True, slots=True)
class CaseFiles:
    """The three files of a case folder, parsed."""

    path: Path
    case: dict[str, Any]
    leads: list[dict[str, str]]
    requests: list[dict[str, str]]


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def load_case(case_dir: Path | str) -> CaseFiles:
    """Read a case folder; InputError naming the folder or the file when one is missing or
    unreadable.

    >>> try:
    ...     load_case("/no/such/case")
    ... except InputError as e:
    ...     print(e)
    case directory not found: /no/such/case
    """
    path = Path(case_dir)
    if not path.is_dir():
        raise InputError(f"case directory not found: {path}")
    for name in CASE_FILES:
        if not (path / name).is_file():
            raise InputError(f"not a case directory (no {name}): {path}")
    try:
        case = json.loads((path / "case.json").read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"{path / 'case.json'}: not JSON ({err.msg}, line {err.lineno})") from None
    if not isinstance(case, dict) or "summary" not in case:
        raise InputError(f"{path / 'case.json'}: no summary (not written by investigate?)")
    return CaseFiles(path, case, _rows(path / "leads.csv"), _rows(path / "requests.csv"))


def _int(text: str) -> int:
    return int(text) if text else 0


def _funding(leads: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Per funding entity (\"\" = no attributed source): payments, customers, amount paid."""
    acc: dict[str, dict[str, Any]] = {}
    for r in leads:
        row = acc.setdefault(
            r["funding_entity"],
            {"entity": r["funding_entity"], "category": r["funding_category"], "payments": 0,
             "amount_sats": 0, "groups": set()},
        )  # fmt: skip
        row["payments"] += 1
        row["amount_sats"] += _int(r["amount_sats"])
        row["groups"].add(r["customer_group"])
    out = []
    for entity in sorted(acc, key=lambda e: (e == "", e)):
        row = dict(acc[entity])
        row["customers"] = len(row.pop("groups"))
        out.append(row)
    return out


def _customers(files: CaseFiles) -> list[dict[str, Any]]:
    pays: dict[int, list[dict[str, str]]] = defaultdict(list)
    for r in files.leads:
        pays[int(r["customer_group"])].append(r)
    out = []
    for g in files.case.get("customer_groups", []):
        mine = pays.get(int(g["group"]), [])
        funders = sorted({r["funding_entity"] for r in mine if r["funding_entity"]})
        out.append(
            {
                "group": int(g["group"]),
                "account_lead": bool(g.get("account_lead")),
                "n_clusters": len(g["clusters"]),
                "n_payments": int(g["n_payments"]),
                "amount_sats": int(g["amount_sats"]),
                "first_time": g["first_time"],
                "last_time": g["last_time"],
                "funding": g.get("main_funding_entity") or "",
                "funders": funders,
                "confidence": float(g["confidence"]),
                "payment_txids": [r["payment_txid"] for r in mine],
                "funding_txids": sorted({r["funding_txid"] for r in mine if r["funding_txid"]}),
            }
        )
    return out


def _exchanges(requests: list[dict[str, str]]) -> list[dict[str, Any]]:
    by: dict[str, dict[str, Any]] = {}
    for i, r in enumerate(requests):
        e = by.setdefault(
            r["entity"],
            {"entity": r["entity"], "category": r["category"], "withdrawals": [], "cashouts": []},
        )
        row = {
            "index": i,
            "address": r["address"],
            "txid": r["txid"],
            "vout": _int(r["vout"]),
            "time": r["time"],
            "amount_sats": _int(r["amount_sats"]),
            "customer_groups": [int(x) for x in r["customer_groups"].split(";") if x],
            "payment_txids": [t for t in r["payment_txids"].split(";") if t],
        }
        kind = "withdrawals" if r["subject"] == "customer-withdrawal" else "cashouts"
        e[kind].append(row)
    out = []
    for entity in sorted(by):
        e = by[entity]
        e["withdrawal_sats"] = sum(w["amount_sats"] for w in e["withdrawals"])
        e["cashout_sats"] = sum(c["amount_sats"] for c in e["cashouts"])
        out.append(e)
    return out


def _method(case: dict[str, Any], accuracy: dict[str, Any]) -> dict[str, Any]:
    params = (case.get("clustering_run") or {}).get("params") or {}
    change = accuracy.get("change", {})
    heuristics = []
    for name in params.get("heuristics", []):
        short = name.split(":", 1)[1] if name.startswith("change:") else name
        score = change.get(short)
        if name == "multi-input":
            score = accuracy["clustering"].get("multi-input")
        heuristics.append(
            {
                "name": name,
                "measured": score is not None,
                "precision": None if score is None else score.get("precision"),
                "recall": None if score is None else score.get("recall"),
            }
        )
    run = params.get("name") or (case.get("clustering_run") or {}).get("name")
    measured_run = accuracy["clustering"].get(run) if isinstance(run, str) else None
    tags = params.get("tags") or {}
    return {
        "run": run,
        "thresholds": params.get("thresholds", {}),
        "heuristics": heuristics,
        "consensus": change.get("consensus"),
        "run_accuracy": measured_run,
        "accuracy": accuracy,
        "tag_packs": list(case.get("tag_packs", [])),
        "tags": {k: tags.get(k) for k in ("n_tags", "n_actors", "min_confidence")},
        "parameters": case.get("parameters", {}),
        "limits": list(LIMITS),
    }


def _evidence(case: dict[str, Any]) -> dict[str, Any]:
    joins = [f for f in case.get("findings", []) if f.get("kind") != "customer-payment"]
    payments = [f for f in case.get("findings", []) if f.get("kind") == "customer-payment"]
    links = [
        {"group": int(g["group"]), **e}
        for g in case.get("customer_groups", [])
        for e in g.get("evidence", [])
    ]
    return {"service": joins, "payments": payments, "group_links": links}


def report_data(files: CaseFiles, accuracy: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every figure, row and txid the report shows (see the module docstring)."""
    case = files.case
    acc = accuracy if accuracy is not None else load_accuracy()
    profile = (case.get("service") or {}).get("profile", {})
    run = case.get("clustering_run") or {}
    params = run.get("params") or {}
    dataset = case.get("dataset") or {}
    seeds = list(case.get("seeds", []))
    data_dir = dataset.get("path", "DATASET")
    commands = [
        f"chainsleuth investigate service --data {data_dir} "
        + " ".join(f"--seed {s}" for s in seeds)
        + f" --out {files.path.name}",
        f"chainsleuth report {files.path.name}",
        f"chainsleuth verify --data {data_dir}",
    ]
    return {
        "title": f"Case report: service seeded by {seeds[0] if seeds else '?'}",
        "seeds": seeds,
        "case_created": case.get("created"),
        "summary": dict(case["summary"]),
        "service": {
            "n_addresses": profile.get("n_addresses"),
            "n_clusters": profile.get("n_clusters"),
            "first_time": profile.get("first_time"),
            "last_time": profile.get("last_time"),
            "first_height": profile.get("first_height"),
            "last_height": profile.get("last_height"),
            "cashout_addresses": list((case.get("service") or {}).get("cashout_addresses", [])),
        },
        "funding": _funding(files.leads),
        "customers": _customers(files),
        "exchanges": _exchanges(files.requests),
        "method": _method(case, acc),
        "reproducibility": {
            "chainsleuth_version": chainsleuth.__version__,
            "case_version": case.get("chainsleuth_version"),
            "network": dataset.get("network"),
            "tip_height": dataset.get("tip_height"),
            "tip_hash": dataset.get("tip_hash"),
            "manifest_sha256": dataset.get("manifest_sha256"),
            "run": run.get("name"),
            "run_params": params,
            "tag_snapshot_sha256": (params.get("tags") or {}).get("snapshot_sha256"),
            "commands": commands,
        },
        "evidence": _evidence(case),
    }


def data_sha256(data: dict[str, Any]) -> str:
    """sha256 of the report's data as canonical JSON (sorted keys, no spaces).

    >>> data_sha256({"b": 1, "a": [2]}) == data_sha256({"a": [2], "b": 1})
    True
    """
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()
