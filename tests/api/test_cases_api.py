"""Case endpoints: list, case.json, leads pages, the served files (and only those), case names
refused before any path is built, annotations appended with analyst and time, the explorer's
file saved atomically under its cap, and exports equal to ``chainsleuth export``'s."""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chainsleuth.cli import main

Auth = Callable[[str], dict[str, str]]
SERVICE = "bcrt1qmly6wxw3mvegvr0z7c3c8h0rp3lgvvmy2kyeh8"
CASE = "casetest-a"


@pytest.fixture(scope="module")
def case(api_data: Path) -> Path:
    """A case of the served dataset, written by the CLI (with its HTML report)."""
    folder = api_data / "cases" / CASE
    if not (folder / "report.html").exists():
        args = ["investigate", "service", "--data", str(api_data), "--seed", SERVICE]
        assert main([*args, "--out", str(folder), "--json", "--report", "html"]) == 0
    return folder


def test_list_and_get(client: TestClient, auth: Auth, case: Path) -> None:
    listed = client.get("/api/v1/cases", headers=auth("viewer")).json()
    item = next(c for c in listed["items"] if c["name"] == CASE)
    doc = json.loads((case / "case.json").read_text())
    assert item["summary"] == doc["summary"] and item["seeds"] == [SERVICE]
    assert {"leads.csv", "requests.csv", "case.json", "report.html"} <= set(item["files"])
    r = client.get(f"/api/v1/cases/{CASE}", headers=auth("viewer"))
    assert r.status_code == 200 and r.json() == doc


def test_leads_pages_are_the_csv_rows(client: TestClient, auth: Auth, case: Path) -> None:
    with open(case / "leads.csv", newline="") as fh:
        want = list(csv.DictReader(fh))
    got: list[dict[str, str]] = []
    params: dict[str, object] = {"limit": 400}
    while True:
        page = client.get(f"/api/v1/cases/{CASE}/leads", params=params, headers=auth("viewer"))
        assert page.status_code == 200
        got += page.json()["items"]
        assert page.json()["total"] == len(want)
        if page.json()["next_cursor"] is None:
            break
        params["cursor"] = page.json()["next_cursor"]
    assert got == want and len(want) > 400


@pytest.mark.parametrize(
    ("file", "media"),
    [
        ("leads.csv", "text/csv"),
        ("requests.csv", "text/csv"),
        ("case.json", "application/json"),
        ("report.html", "text/html"),
    ],
)
def test_files_are_served_as_written(
    client: TestClient, auth: Auth, case: Path, file: str, media: str
) -> None:
    r = client.get(f"/api/v1/cases/{CASE}/files/{file}", headers=auth("viewer"))
    assert r.status_code == 200
    assert r.content == (case / file).read_bytes()
    assert r.headers["content-type"].startswith(media)
    if file.endswith(".html"):
        assert r.headers["content-security-policy"] == "sandbox"


def test_missing_report_pdf_is_404(client: TestClient, auth: Auth, case: Path) -> None:
    r = client.get(f"/api/v1/cases/{CASE}/files/report.pdf", headers=auth("viewer"))
    assert r.status_code == 404


@pytest.mark.parametrize(
    "file",
    [
        "manifest.json",
        "annotations.jsonl",
        "explorer.json",
        "..%2F..%2Fmanifest.json",
        "%2E%2E",
        "%00",
    ],
)
def test_only_listed_files_are_served(
    client: TestClient, auth: Auth, case: Path, file: str
) -> None:
    r = client.get(f"/api/v1/cases/{CASE}/files/{file}", headers=auth("viewer"))
    assert 400 <= r.status_code < 500
    assert b"schema_version" not in r.content


@pytest.mark.parametrize(
    "name",
    ["%2E%2E", ".hidden", "a%00b", "-rf", "a%20b", "x" * 65, "%2Fetc", "a%5Cb", "%E2%80%A8x"],
)
def test_bad_case_names_are_400(client: TestClient, auth: Auth, name: str) -> None:
    for method, path, kwargs in (
        ("GET", f"/api/v1/cases/{name}", {}),
        ("GET", f"/api/v1/cases/{name}/leads", {}),
        ("GET", f"/api/v1/cases/{name}/explorer", {}),
        ("PUT", f"/api/v1/cases/{name}/explorer", {"json": {"version": 1}}),
        ("POST", f"/api/v1/cases/{name}/annotations", {"json": {"target": "a", "text": "b"}}),
        ("GET", f"/api/v1/cases/{name}/export", {"params": {"format": "json"}}),
    ):
        r = client.request(method, path, headers=auth("admin"), **kwargs)
        assert r.status_code in (400, 404, 405), f"{method} {path}: {r.status_code}"
        if r.status_code != 400:  # only when the router found no route (a decoded slash)
            assert r.json()["detail"] in ("Not Found", "Method Not Allowed")


def test_unknown_case_is_404(client: TestClient, auth: Auth) -> None:
    for path in ("nosuch", "nosuch/leads", "nosuch/explorer", "nosuch/files/case.json"):
        r = client.get(f"/api/v1/cases/{path}", headers=auth("viewer"))
        assert r.status_code == 404 and "nosuch" in r.json()["detail"]


def test_annotations_are_appended_with_analyst_and_time(
    client: TestClient, auth: Auth, case: Path
) -> None:
    url = f"/api/v1/cases/{CASE}/annotations"
    first = client.post(
        url, json={"target": "cluster:92", "text": "hot wallet"}, headers=auth("analyst")
    )
    assert first.status_code == 201, first.text
    line_one = (case / "annotations.jsonl").read_text().splitlines()[-1]
    second = client.post(
        url, json={"target": "cluster:92->cluster:13", "text": "cash-out"}, headers=auth("admin")
    )
    assert second.status_code == 201
    lines = (case / "annotations.jsonl").read_text().splitlines()
    assert line_one in lines and lines[-1] == json.dumps(second.json(), ensure_ascii=False)
    notes = client.get(url, headers=auth("viewer")).json()["items"]
    assert [(n["analyst"], n["target"], n["text"]) for n in notes[-2:]] == [
        ("analyst-user", "cluster:92", "hot wallet"),
        ("admin-user", "cluster:92->cluster:13", "cash-out"),
    ]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", notes[-1]["time"])
    only = client.get(url, params={"target": "cluster:92"}, headers=auth("viewer")).json()
    assert {n["target"] for n in only["items"]} == {"cluster:92"}
    for bad in ({"target": "", "text": "x"}, {"target": "a", "text": ""}, {"target": "a"}):
        assert client.post(url, json=bad, headers=auth("analyst")).status_code == 400
    r = client.post(
        "/api/v1/cases/nosuch/annotations",
        json={"target": "a", "text": "b"},
        headers=auth("analyst"),
    )
    assert r.status_code == 404
    assert not [p for p in case.iterdir() if p.name.endswith(".tmp")]


def test_explorer_file_round_trip(client: TestClient, auth: Auth, api_data: Path) -> None:
    url = "/api/v1/cases/explorer-only/explorer"
    assert client.get(url, headers=auth("viewer")).status_code == 404
    doc = {"version": 1, "nodes": [{"id": "cluster:92", "x": 1.5}], "edges": [], "note": "ü"}
    r = client.put(url, json=doc, headers=auth("analyst"))
    assert r.status_code == 200, r.text
    assert client.get(url, headers=auth("viewer")).json() == doc
    stored = api_data / "cases" / "explorer-only" / "explorer.json"
    assert json.loads(stored.read_text(encoding="utf-8")) == doc
    for bad in ({"nodes": []}, {"version": 2}, {"version": True}, {"version": "1"}):
        r = client.put(url, json=bad, headers=auth("analyst"))
        assert r.status_code == 400 and '"version": 1' in r.json()["detail"]
    assert client.put(url, json=[1, 2], headers=auth("analyst")).status_code == 400
    assert client.get(url, headers=auth("viewer")).json() == doc
    assert [p.name for p in stored.parent.iterdir()] == ["explorer.json"]
    listed = client.get("/api/v1/cases", headers=auth("viewer")).json()["items"]
    assert next(c for c in listed if c["name"] == "explorer-only")["summary"] is None


def test_explorer_file_past_its_cap_is_413(
    api_data: Path, tokens: dict[str, str], tmp_path: Path
) -> None:
    """The explorer's saved graph may be larger than any other body (a 5,000-node graph is
    ~3.5 MB), up to its own cap: past it 413 whether the body says its length or not, and
    nothing is written; the same body elsewhere is over the general body limit."""
    from chainsleuth.api.app import create_app
    from chainsleuth.api.limits import ApiLimits

    copy = tmp_path / "dataset"  # a server of its own: one audit log, one writer
    shutil.copytree(api_data, copy, ignore=shutil.ignore_patterns("audit*", "cases", "jobs"))
    app = create_app(copy, limits=ApiLimits(max_body_bytes=1000, max_explorer_bytes=20_000))
    auth = {"Authorization": f"Bearer {tokens['analyst']}"}
    try:
        c = TestClient(app, raise_server_exceptions=False)
        fits = {"version": 1, "blob": "x" * 15_000}
        r = c.put("/api/v1/cases/big/explorer", json=fits, headers=auth)
        assert r.status_code == 200, r.text
        assert c.get("/api/v1/cases/big/explorer", headers=auth).json() == fits
        note = {"target": "cluster:1", "text": "x" * 15_000}
        r = c.post("/api/v1/cases/big/annotations", json=note, headers=auth)
        assert r.status_code == 413 and "larger than 1000 bytes" in r.json()["detail"]

        doc = {"version": 1, "blob": "x" * 20_000}
        r = c.put("/api/v1/cases/too-big/explorer", json=doc, headers=auth)
        assert r.status_code == 413 and "larger than 20000 bytes" in r.json()["detail"]
        chunks = iter([b'{"version": 1, "blob": "', b"x" * 20_000, b'"}'])
        r = c.put("/api/v1/cases/too-big/explorer", content=chunks, headers=auth)
        assert r.status_code == 413
        assert not (copy / "cases" / "too-big" / "explorer.json").exists()
    finally:
        app.state.server.close()


@pytest.mark.parametrize("fmt", ["graphml", "gexf", "json"])
@pytest.mark.parametrize("level", ["cluster", "address"])
def test_export_equals_the_cli(
    client: TestClient, auth: Auth, case: Path, tmp_path: Path, fmt: str, level: str
) -> None:
    r = client.get(
        f"/api/v1/cases/{CASE}/export",
        params={"format": fmt, "level": level},
        headers=auth("viewer"),
    )
    assert r.status_code == 200, r.text
    out = tmp_path / f"graph.{fmt}"
    assert main(["export", str(case), "--format", fmt, "--level", level, "--out", str(out)]) == 0
    want, got = out.read_bytes(), r.content
    if fmt == "gexf":  # networkx stamps the day it wrote the file
        stamp = re.compile(rb'lastmodifieddate="[^"]*"')
        want, got = stamp.sub(b"", want), stamp.sub(b"", got)
    assert got == want
    assert not list(case.glob("graph-*"))  # the case folder is not written to


def test_export_refusals(client: TestClient, auth: Auth, case: Path) -> None:
    url = f"/api/v1/cases/{CASE}/export"
    assert client.get(url, params={"format": "neo4j"}, headers=auth("viewer")).status_code == 400
    r = client.get(url, params={"format": "json", "level": "x"}, headers=auth("viewer"))
    assert r.status_code == 400
    r = client.get(
        "/api/v1/cases/explorer-only/export", params={"format": "json"}, headers=auth("viewer")
    )
    assert r.status_code in (404,)
