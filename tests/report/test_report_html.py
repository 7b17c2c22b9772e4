"""The HTML report tells what the case files say: every figure in the page equals the figure
recomputed here from case.json, leads.csv, requests.csv and the measured accuracy; no number
stands outside a checked element; every txid is in the dataset; the data hash is stable."""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from chainsleuth.cli import main
from chainsleuth.report.accuracy import load_accuracy
from chainsleuth.report.casedata import data_sha256, load_case, report_data
from chainsleuth.store.dataset import Dataset

MARKED = {"fig", "txid", "addr", "name", "verbatim", "na"}
EXEMPT_TAGS = {"style", "title"}
VOID = {"img", "meta", "br", "hr", "link", "input"}


class _Page(HTMLParser):
    """Figures (key, value, text), txids, and text outside any marked element."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.figs: list[dict[str, str]] = []
        self.txids: list[str] = []
        self.loose: list[str] = []
        self._fig: dict[str, str] | None = None
        self._txid = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = set((a.get("class") or "").split())
        if "fig" in classes:
            self._fig = {"key": a["data-key"] or "", "value": a["data-value"] or "", "text": ""}
        self._txid = "txid" in classes
        if tag not in VOID:
            marked = bool(classes & MARKED) or tag in EXEMPT_TAGS
            self.stack.append((tag, marked))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        while self.stack:
            top, _ = self.stack.pop()
            if top == tag:
                break
        if self._fig is not None and tag == "span":
            self.figs.append(self._fig)
            self._fig = None
        self._txid = False

    def handle_data(self, data: str) -> None:
        if self._fig is not None:
            self._fig["text"] += data
        elif self._txid:
            self.txids.append(data.strip())
        elif not any(marked for _, marked in self.stack):
            self.loose.append(data)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _expected(case_dir: Path, acc: dict[str, Any]) -> dict[str, Any]:
    """Every figure the report may show, recomputed from the case files."""
    case = json.loads((case_dir / "case.json").read_text())
    leads = _rows(case_dir / "leads.csv")
    requests = _rows(case_dir / "requests.csv")
    exp: dict[str, Any] = {"case.created": case["created"]}
    prof = case["service"]["profile"]
    for k in ("n_addresses", "n_clusters", "first_time", "last_time", "first_height",
              "last_height"):  # fmt: skip
        exp[f"service.{k}"] = prof[k]
    for k, v in case["summary"].items():
        if isinstance(v, dict):
            for e, x in v.items():
                exp[f"summary.{k}.{e}"] = x
        else:
            exp[f"summary.{k}"] = v
    # funding sources from the leads
    pays: dict[str, int] = defaultdict(int)
    paid: dict[str, int] = defaultdict(int)
    groups: dict[str, set[str]] = defaultdict(set)
    for r in leads:
        e = r["funding_entity"] or "unattributed"
        pays[e] += 1
        paid[e] += int(r["amount_sats"])
        groups[e].add(r["customer_group"])
    for e in pays:
        exp[f"funding.{e}.payments"] = pays[e]
        exp[f"funding.{e}.amount_sats"] = paid[e]
        exp[f"funding.{e}.customers"] = len(groups[e])
    # customers: case.json's groups, which must add up from the leads
    by_group: dict[int, list[dict[str, str]]] = defaultdict(list)
    for r in leads:
        by_group[int(r["customer_group"])].append(r)
    for g in case["customer_groups"]:
        mine = by_group[g["group"]]
        assert g["n_payments"] == len(mine)
        assert g["amount_sats"] == sum(int(r["amount_sats"]) for r in mine)
        k = f"customer.{g['group']}"
        exp[f"{k}.group"] = g["group"]
        exp[f"{k}.n_clusters"] = len(g["clusters"])
        exp[f"{k}.n_payments"] = len(mine)
        exp[f"{k}.amount_sats"] = sum(int(r["amount_sats"]) for r in mine)
        exp[f"{k}.first_time"] = min(r["payment_time"] for r in mine)
        exp[f"{k}.last_time"] = max(r["payment_time"] for r in mine)
        exp[f"{k}.confidence"] = g["confidence"]
    # exchanges and their requests
    per: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(requests):
        per[(r["entity"], r["subject"])].append(int(r["amount_sats"]))
        exp[f"request.{i}.vout"] = int(r["vout"])
        exp[f"request.{i}.time"] = r["time"]
        exp[f"request.{i}.amount_sats"] = int(r["amount_sats"])
        for j, g_ in enumerate(x for x in r["customer_groups"].split(";") if x):
            exp[f"request.{i}.customer_groups.{j}"] = int(g_)
    for (e, subject), amounts in per.items():
        kind = "withdrawal" if subject == "customer-withdrawal" else "cashout"
        exp[f"exchange.{e}.{kind}s"] = len(amounts)
        exp[f"exchange.{e}.{kind}_sats"] = sum(amounts)
    for e in {e for e, _ in per}:
        exp.setdefault(f"exchange.{e}.withdrawals", 0)
        exp.setdefault(f"exchange.{e}.withdrawal_sats", 0)
        exp.setdefault(f"exchange.{e}.cashouts", 0)
        exp.setdefault(f"exchange.{e}.cashout_sats", 0)
    # the method: measured figures from the recorded evaluation
    exp["accuracy.dataset.tip_height"] = acc["dataset"]["tip_height"]
    for name in case["clustering_run"]["params"]["heuristics"]:
        short = name.removeprefix("change:")
        score = acc["clustering"]["multi-input"] if name == "multi-input" else None
        score = score or acc["change"].get(short)
        if score is not None:
            exp[f"heuristic.{name}.precision"] = score["precision"]
            exp[f"heuristic.{name}.recall"] = score["recall"]
    for k in ("precision", "recall"):
        exp[f"accuracy.change.consensus.{k}"] = acc["change"]["consensus"][k]
    for run, a in acc["clustering"].items():
        for k in ("precision", "recall", "false_merges"):
            exp[f"accuracy.clustering.{run}.{k}"] = a[k]
    for k, v in acc["investigation"].items():
        if k == "funding_by_hops":
            for band, b in v.items():
                exp[f"accuracy.investigation.funding_by_hops.{band}.leads"] = b["leads"]
                exp[f"accuracy.investigation.funding_by_hops.{band}.correct"] = b["correct"]
        else:
            exp[f"accuracy.investigation.{k}"] = v
    tags = case["clustering_run"]["params"]["tags"]
    for k in ("n_tags", "n_actors", "min_confidence"):
        exp[f"tags.{k}"] = tags[k]
    exp["dataset.tip_height"] = case["dataset"]["tip_height"]
    others = [f for f in case["findings"] if f["kind"] != "customer-payment"]
    for i, f in enumerate(others):
        exp[f"finding.{i}.cluster"] = f["cluster"]
    links = [e for g in case["customer_groups"] for e in g["evidence"]]
    owner = [g["group"] for g in case["customer_groups"] for _ in g["evidence"]]
    for i, (e, g_) in enumerate(zip(links, owner, strict=True)):
        exp[f"link.{i}.group"] = g_
        exp[f"link.{i}.cluster_a"] = e["cluster_a"]
        exp[f"link.{i}.cluster_b"] = e["cluster_b"]
        exp[f"link.{i}.confidence"] = e["confidence"]
    for i, r in enumerate(leads):
        exp[f"payment.{i}.customer_group"] = int(r["customer_group"])
        exp[f"payment.{i}.amount_sats"] = int(r["amount_sats"])
        if r["funding_entity"]:
            exp[f"payment.{i}.hops"] = int(r["funding_hops"])
    return exp


def _same_value(shown: str, expected: Any) -> bool:
    if isinstance(expected, bool) or expected is None:
        return shown == str(expected)
    if isinstance(expected, int):
        return int(shown) == expected
    if isinstance(expected, float):
        return float(shown) == expected
    return shown == str(expected)


def _text_matches(text: str, expected: Any) -> bool:
    text = text.strip()
    if text.endswith(" BTC"):
        return round(float(text[:-4].replace(",", "")) * 100_000_000) == expected
    if text.endswith(" %"):
        return abs(float(text[:-2]) / 100 - float(expected)) <= 0.00005 + 1e-12
    if text.endswith(" UTC"):
        when = datetime.strptime(text, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
        return when == datetime.fromisoformat(expected.replace("Z", "+00:00"))
    if isinstance(expected, float):
        return abs(float(text) - expected) <= 0.0005 + 1e-12
    return int(text.replace(",", "")) == expected


@pytest.fixture(scope="module")
def page(report_case: Path) -> _Page:
    parser = _Page()
    parser.feed((report_case / "report.html").read_text())
    return parser


def test_every_figure_equals_the_case_files(page: _Page, report_case: Path) -> None:
    expected = _expected(report_case, load_accuracy())
    assert len(page.figs) > 1000
    keys = [f["key"] for f in page.figs]
    assert len(keys) == len(set(keys)), "a figure key is used twice"
    unknown = [k for k in keys if k not in expected]
    assert unknown == []
    wrong = [
        (f["key"], f["value"], f["text"])
        for f in page.figs
        if not (_same_value(f["value"], expected[f["key"]])
                and _text_matches(f["text"], expected[f["key"]]))
    ]  # fmt: skip
    assert wrong == []
    # the headline figures are there
    for key in ("summary.income_sats", "summary.customers", "summary.customer_clusters",
                "summary.cashout_sats", "summary.self_transfers_sats"):  # fmt: skip
        assert key in keys


def test_no_number_outside_a_checked_element(page: _Page) -> None:
    loose = re.sub(r"SHA-256", "", " ".join(page.loose))
    assert re.findall(r"\S*\d\S*", loose) == []


def test_every_txid_is_in_the_dataset(page: _Page, report_dataset: Path) -> None:
    txids = sorted(set(page.txids))
    assert len(txids) > 500 and all(re.fullmatch(r"[0-9a-f]{64}", t) for t in txids)
    with Dataset.open(report_dataset) as ds:
        found = ds.sql(
            "SELECT count(DISTINCT lower(hex(txid))) FROM txs WHERE lower(hex(txid)) IN "
            "(SELECT unnest(?))",
            [txids],
        ).fetchone()
        blocks = ds.sql(
            "SELECT count(*) FROM blocks WHERE lower(hex(hash)) IN (SELECT unnest(?))", [txids]
        ).fetchone()
    assert found is not None and blocks is not None
    # every hash is a transaction, except the dataset's tip block hash
    assert found[0] + blocks[0] == len(txids) and blocks[0] == 1


def test_same_inputs_same_data_hash(report_case: Path) -> None:
    first = data_sha256(report_data(load_case(report_case)))
    again = data_sha256(report_data(load_case(report_case)))
    assert first == again
    assert f'id="data-sha256">{first}<' in (report_case / "report.html").read_text()


def test_page_is_self_contained(report_case: Path) -> None:
    html = (report_case / "report.html").read_text()
    assert "<style>" in html and html.count('src="data:image/svg+xml;base64,') == 3
    assert not re.search(r"""(?:src|href)=["'](?!data:|#)""", html)
    assert "http://" not in html and "https://" not in html


def test_cli_report_refusals(cli_run: Any, report_case: Path, tmp_path: Path) -> None:
    code, _, err = cli_run("report", str(tmp_path / "missing"))
    assert code == 2 and err.strip().count("\n") == 0 and "missing" in err
    code, _, err = cli_run("report", str(report_case), "--format", "html,docx")
    assert code == 2 and "'docx'" in err
    code, _, err = cli_run("report", str(report_case), "--format", "html")
    assert code == 2 and "--force" in err  # report.html exists already
    out = tmp_path / "copy.html"
    code, stdout, _ = cli_run("report", str(report_case), "--format", "html", "--out",
                              str(out), "--json")  # fmt: skip
    assert code == 0 and out.is_file()
    # a second run on the same case: the same report data hash
    digest = json.loads(stdout)["data_sha256"]
    assert digest in out.read_text() and digest in (report_case / "report.html").read_text()
    assert main(["report", str(report_case), "--format", "html", "--out", str(out)]) == 2


def test_investigate_writes_the_report(cli_run: Any, report_dataset: Path, tmp_path: Path) -> None:
    from chainsleuth.report.accuracy import MEASURE_SEED

    args = ["investigate", "service", "--data", str(report_dataset), "--seed", MEASURE_SEED]
    code, _, err = cli_run(*args, "--out", str(tmp_path / "bad"), "--report", "docx")
    assert code == 2 and "'docx'" in err and not (tmp_path / "bad").exists()
    code, stdout, _ = cli_run(*args, "--out", str(tmp_path / "case"), "--report", "html", "--json")
    assert code == 0
    assert json.loads(stdout)["report"] == [str(tmp_path / "case" / "report.html")]
    assert "Accounts to identify at" in (tmp_path / "case" / "report.html").read_text()
