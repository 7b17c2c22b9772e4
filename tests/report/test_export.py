"""Graph exports: GraphML and GEXF open in networkx with the expected nodes, edges and
attributes; the neo4j CSVs have neo4j-admin headers and consistent ids; the JSON validates
against docs/case-schema.json."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from chainsleuth.report.graphfiles import export_case

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "case-schema.json"
NODE_ATTRS = {"kind", "label", "category", "btc", "first_time", "last_time"}
EDGE_ATTRS = {"kind", "value_sats", "btc", "txids"}


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _expected_cluster_nodes(case: Path) -> set[str]:
    doc = json.loads((case / "case.json").read_text())
    leads = _rows(case / "leads.csv")
    nodes = {"service"} | {f"cluster:{r['customer_cluster']}" for r in leads}
    nodes |= {f"cluster:{r['funding_cluster']}" for r in leads if r["funding_entity"]}
    nodes |= {f"cluster:{c['cluster']}" for c in doc["cashouts"] + doc["outflows"]}
    return nodes


@pytest.mark.parametrize("fmt", ["graphml", "gexf"])
def test_graph_files_open_in_networkx(fmt: str, report_case: Path, tmp_path: Path) -> None:
    path = export_case(report_case, fmt, "cluster", tmp_path / f"g.{fmt}")
    g = nx.read_graphml(path) if fmt == "graphml" else nx.read_gexf(path)
    assert set(g.nodes) == _expected_cluster_nodes(report_case)
    for _, a in g.nodes(data=True):
        assert set(a) >= NODE_ATTRS, a
    for _, _, e in g.edges(data=True):
        assert set(e) >= EDGE_ATTRS, e
        assert all(len(t) == 64 for t in str(e["txids"]).split(";"))
    doc = json.loads((report_case / "case.json").read_text())
    paid = sum(int(e["value_sats"]) for _, v, e in g.in_edges("service", data=True))
    assert paid == doc["summary"]["income_sats"]
    out = sum(int(e["value_sats"]) for _, _, e in g.out_edges("service", data=True))
    assert out == doc["summary"]["cashout_sats"] + doc["summary"]["other_outflow_sats"]
    leads = _rows(report_case / "leads.csv")
    customers = {n for n, a in g.nodes(data=True) if a["kind"] == "customer"}
    assert len(customers) == len({r["customer_cluster"] for r in leads})


@pytest.mark.parametrize("level", ["address", "tx"])
def test_other_levels_add_up(level: str, report_case: Path, tmp_path: Path) -> None:
    g = nx.read_graphml(export_case(report_case, "graphml", level, tmp_path / "g.graphml"))
    doc = json.loads((report_case / "case.json").read_text())
    paid = [e for _, _, e in g.edges(data=True) if e["kind"] == "paid"]
    assert sum(int(e["value_sats"]) for e in paid) == doc["summary"]["income_sats"]
    payments = {t for e in paid for t in str(e["txids"]).split(";")}
    assert payments == {r["payment_txid"] for r in _rows(report_case / "leads.csv")}
    if level == "tx":
        kinds = {a["kind"] for _, a in g.nodes(data=True)}
        assert {"service", "payment", "withdrawal", "cashout", "entity"} <= kinds


def test_neo4j_headers_and_ids(report_case: Path, tmp_path: Path) -> None:
    folder = export_case(report_case, "neo4j", "tx", tmp_path / "neo4j")
    with open(folder / "nodes.csv", newline="") as fh:
        nodes = list(csv.reader(fh))
    with open(folder / "relationships.csv", newline="") as fh:
        rels = list(csv.reader(fh))
    head = nodes[0]
    assert head[0] == "id:ID" and head[-1] == ":LABEL"
    assert rels[0][:3] == [":START_ID", ":END_ID", ":TYPE"]
    assert "txids:string[]" in rels[0] and "value_sats:long" in rels[0]
    ids = [r[0] for r in nodes[1:]]
    assert len(ids) == len(set(ids))
    known = set(ids)
    assert all(r[0] in known and r[1] in known and r[2].isupper() for r in rels[1:])
    assert all(len(r) == len(head) for r in nodes) and all(len(r) == len(rels[0]) for r in rels)


def test_json_validates_against_the_schema(report_case: Path, tmp_path: Path) -> None:
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = json.loads(export_case(report_case, "json", "cluster", tmp_path / "c.json").read_text())
    jsonschema.validate(doc, schema)
    assert len(doc["payments"]) == doc["summary"]["payments"]
    # the tx level's graph (the rest of the document is the same)
    tx = json.loads(export_case(report_case, "json", "tx", tmp_path / "t.json").read_text())
    graph_schema = {**schema["properties"]["graph"], "$defs": schema["$defs"]}
    jsonschema.validate(tx["graph"], graph_schema)
    assert tx["level"] == "tx"
    broken = dict(doc, level="planet")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_cli_export(cli_run: Any, report_case: Path, tmp_path: Path) -> None:
    out = tmp_path / "case.gexf"
    code, stdout, _ = cli_run("export", str(report_case), "--format", "gexf", "--out",
                              str(out), "--json")  # fmt: skip
    assert code == 0 and json.loads(stdout)["path"] == str(out)
    assert nx.read_gexf(out).number_of_nodes() > 100
    code, _, err = cli_run("export", str(report_case), "--format", "gexf", "--out", str(out))
    assert code == 2 and "--force" in err
    code, _, err = cli_run("export", str(report_case), "--format", "dot")
    assert code == 2 and "'dot'" in err
    code, _, err = cli_run("export", str(report_case), "--format", "json", "--level", "planet")
    assert code == 2 and "'planet'" in err
    code, _, err = cli_run("export", str(tmp_path / "nope"), "--format", "json")
    assert code == 2 and "nope" in err
