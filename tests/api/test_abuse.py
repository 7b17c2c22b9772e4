"""Injection and abuse: SQL metacharacters (and other hostile text) in every string
parameter, huge page sizes, huge bulk lists and bodies, deep and wide traces, path traversal in
case names. Each is refused with a 4xx — or, where the text is only data (a label, a note, a
search), taken as that text — and nothing else changes: the dataset's ``tables/`` and manifest
hash the same before and after, the tag store holds the same tags, no case or job appears.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from chainsleuth.api.app import create_app
from chainsleuth.api.limits import ApiLimits
from chainsleuth.cli import main

MINER = "bcrt1qr8hsgftgcuf3wkrpcy4gpm79hstpc8mrgr4lsr"
SERVICE = "bcrt1qmly6wxw3mvegvr0z7c3c8h0rp3lgvvmy2kyeh8"
CASE = "abuse-case"
PAYLOADS = [
    "' OR '1'='1",
    "'; DROP TABLE txs; --",
    '" OR 1=1 --',
    "1; DELETE FROM addresses",
    "x' UNION SELECT address FROM addresses --",
    "%' OR address LIKE '%",
    "1)); ATTACH '/tmp/x.db' AS x; --",
    "COPY txs TO '/tmp/leak.csv'",
    "read_parquet('tables/txs/*.parquet')",
    "\x00",
    "a\x00'b",
    "../../manifest.json",
    "..\\..\\manifest.json",
    "$(touch /tmp/pwned)",
    "{{7*7}}",
    "x" * 5000,
]


def _snapshot(data: Path) -> dict[str, str]:
    files = [data / "manifest.json", *sorted((data / "tables").rglob("*"))]
    return {
        str(p.relative_to(data)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in files
        if p.is_file()
    }


def _tags(data: Path) -> list[dict[str, Any]]:
    from chainsleuth.store.dataset import Dataset
    from chainsleuth.tags.store import load_tags

    with Dataset.open(data) as ds:
        return [t.to_dict() for t in load_tags(ds)]


@pytest.fixture(scope="module")
def abuse(
    api_data: Path, tokens: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, Path]]:
    """A client of a private copy of the dataset holding one case."""
    path = tmp_path_factory.mktemp("abuse") / "dataset"
    shutil.copytree(api_data, path, ignore=shutil.ignore_patterns("cases", "jobs", "audit*"))
    args = ["investigate", "service", "--data", str(path), "--seed", SERVICE]
    assert main([*args, "--out", str(path / "cases" / CASE), "--json"]) == 0
    app = create_app(path)
    yield TestClient(app, raise_server_exceptions=False), path
    jobs = getattr(app.state, "jobs", None)
    if jobs is not None:
        jobs.close()
    app.state.server.close()


@pytest.fixture(scope="module")
def before(abuse: tuple[TestClient, Path]) -> dict[str, Any]:
    _, data = abuse
    return {
        "files": _snapshot(data),
        "tags": _tags(data),
        "cases": sorted(p.name for p in (data / "cases").iterdir()),
        "case_files": sorted(p.name for p in (data / "cases" / CASE).iterdir()),
    }


def _h(tokens: dict[str, str], role: str = "admin") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def _refused(r: Any, where: str) -> None:
    assert 400 <= r.status_code < 500, f"{where}: {r.status_code} {r.text[:300]}"
    assert r.headers["content-type"].startswith("application/problem+json"), where


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_text_in_every_string_parameter(
    abuse: tuple[TestClient, Path], tokens: dict[str, str], payload: str, before: dict[str, Any]
) -> None:
    c, _ = abuse
    h = _h(tokens)
    p = quote(payload, safe="")
    # identifiers: refused
    for url in (
        f"/api/v1/addresses/{p}",
        f"/api/v1/addresses/{p}/transactions",
        f"/api/v1/transactions/{p}",
        f"/api/v1/blocks/{p}",
        f"/api/v1/clusters/{p}",
        f"/api/v1/clusters/{p}/members",
        f"/api/v1/jobs/{p}",
        f"/api/v1/cases/{p}",
        f"/api/v1/cases/{p}/leads",
        f"/api/v1/cases/{p}/explorer",
        f"/api/v1/cases/{p}/annotations",
        f"/api/v1/cases/{CASE}/files/{p}",
    ):
        _refused(c.get(url, headers=h), url)
    _refused(c.delete(f"/api/v1/tags/{p}", headers=h), "DELETE /tags")
    for params in ({"a": payload, "b": MINER}, {"a": MINER, "b": payload}):
        _refused(c.get("/api/v1/explain", params=params, headers=h), f"explain {params}")
    _refused(c.get("/api/v1/exposure", params={"target": payload}, headers=h), "exposure")
    _refused(c.get(f"/api/v1/cases/{CASE}/export", params={"format": payload}, headers=h), "export")
    for change in ({"seeds": [payload]}, {"stop_at": [payload]}, {"start": payload}):
        body = {"seeds": [SERVICE], "hops": 2, **change}
        _refused(c.post("/api/v1/trace", json=body, headers=h), f"trace {change}")
    for change in ({"name": payload}, {"seeds": [payload]}, {"stop_at": [payload]}):
        body = {"name": "inj", "seeds": [SERVICE], **change}
        _refused(c.post("/api/v1/jobs/investigate", json=body, headers=h), f"job {change}")
    for change in (
        {"target": payload},
        {"category": payload},
        {"confidence": payload},
        {"target_kind": payload},
    ):
        body = {"target": MINER, "label": "L", "source": "s", "confidence": 50, **change}
        _refused(c.post("/api/v1/tags", json=body, headers=h), f"tag {change}")
    _refused(c.put(f"/api/v1/cases/{p}/explorer", json={"version": 1}, headers=h), "explorer name")
    _refused(
        c.post(f"/api/v1/cases/{p}/annotations", json={"target": "a", "text": "b"}, headers=h),
        "annotation name",
    )
    # searches: the text is looked for, never run; nothing matches it
    for url, params in (
        ("/api/v1/tags", {"q": payload}),
        ("/api/v1/tags", {"target": payload}),
        ("/api/v1/search", {"q": payload}),
        (f"/api/v1/cases/{CASE}/annotations", {"target": payload}),
    ):
        r = c.get(url, params=params, headers=h)
        if len(payload) > 300:
            _refused(r, f"{url} {params}")
        else:
            assert r.status_code == 200, f"{url} {params}: {r.status_code} {r.text[:200]}"
            assert r.json()["items"] == [], f"{url} {params}"
    # bulk: one row per address, each with its error
    r = c.post("/api/v1/bulk/addresses", json={"addresses": [payload[:200]]}, headers=h)
    assert r.status_code == 200 and r.json()["items"][0]["error"]
    assert r.json()["items"][0]["received"] is None


@pytest.mark.parametrize("payload", PAYLOADS[:9])
def test_hostile_text_as_data_is_kept_verbatim(
    abuse: tuple[TestClient, Path], tokens: dict[str, str], payload: str, before: dict[str, Any]
) -> None:
    """A label or a note may be any text: stored as given (parameterised, never run)."""
    c, _ = abuse
    h = _h(tokens, "analyst")
    tag = {"target": MINER, "label": payload, "source": payload, "confidence": 5}
    r = c.post("/api/v1/tags", json={**tag, "context": payload}, headers=h)
    assert r.status_code == 201, r.text
    assert (r.json()["label"], r.json()["source"]) == (payload, payload)
    found = c.get("/api/v1/tags", params={"q": payload}, headers=h).json()["items"]
    assert [t["id"] for t in found] == [r.json()["id"]]
    assert c.delete(f"/api/v1/tags/{r.json()['id']}", headers=h).status_code == 200
    note = c.post(
        f"/api/v1/cases/{CASE}/annotations", json={"target": payload, "text": payload}, headers=h
    )
    assert note.status_code == 201 and note.json()["text"] == payload
    listed = c.get(
        f"/api/v1/cases/{CASE}/annotations", params={"target": payload}, headers=h
    ).json()
    assert [n["text"] for n in listed["items"]] == [payload]


def test_huge_pages_are_400(
    abuse: tuple[TestClient, Path], tokens: dict[str, str], before: dict[str, Any]
) -> None:
    c, _ = abuse
    paged = [
        "/api/v1/tags",
        "/api/v1/cases",
        "/api/v1/jobs",
        f"/api/v1/cases/{CASE}/leads",
        f"/api/v1/cases/{CASE}/annotations",
        f"/api/v1/addresses/{MINER}/transactions",
        "/api/v1/clusters/1/members",
    ]
    for url in paged:
        assert c.get(url, params={"limit": 500}, headers=_h(tokens)).status_code == 200, url
        for limit in (501, 10**9, 10**30, 0, -1, "all"):
            r = c.get(url, params={"limit": limit}, headers=_h(tokens))
            _refused(r, f"{url} limit={limit}")
        r = c.get(url, params={"cursor": "eyJvZmZzZXQiOjB9.AAAA"}, headers=_h(tokens))
        _refused(r, f"{url} forged cursor")


def test_huge_bulk_lists_and_bodies_are_refused(
    abuse: tuple[TestClient, Path], tokens: dict[str, str], before: dict[str, Any]
) -> None:
    c, _ = abuse
    h = _h(tokens, "viewer")
    for n in (1001, 20000):
        r = c.post("/api/v1/bulk/addresses", json={"addresses": [MINER] * n}, headers=h)
        assert r.status_code == 413, n
    big = {"addresses": [MINER], "padding": "x" * 2_000_000}
    assert c.post("/api/v1/bulk/addresses", json=big, headers=h).status_code == 413
    huge_doc = {"version": 1, "blob": "x" * (ApiLimits().max_explorer_bytes + 1)}
    r = c.put(f"/api/v1/cases/{CASE}/explorer", json=huge_doc, headers=_h(tokens, "analyst"))
    assert r.status_code == 413


def test_deep_and_wide_traces_are_refused(
    abuse: tuple[TestClient, Path], tokens: dict[str, str], before: dict[str, Any]
) -> None:
    c, _ = abuse
    h = _h(tokens, "viewer")
    for body in (
        {"seeds": [SERVICE], "hops": 11},
        {"seeds": [SERVICE], "hops": 2**63},
        {"seeds": [SERVICE] * 101, "hops": 1},
        {"seeds": [SERVICE] * 10000, "hops": 1},
        {"seeds": [SERVICE], "hops": 1, "stop_at": ["exchange"] * 100},
        {"seeds": [SERVICE], "hops": 1, "min_value": -1},
        {"seeds": [SERVICE], "hops": 1, "max_cluster_size": 0},
    ):
        _refused(c.post("/api/v1/trace", json=body, headers=h), str(body)[:80])
    r = c.get("/api/v1/exposure", params={"target": SERVICE, "hops": 10**6}, headers=h)
    _refused(r, "exposure hops")


@pytest.mark.parametrize(
    "name",
    ["%2E%2E", "..%2F..%2Ftables", "%2Fetc%2Fpasswd", "%2E", "a%00", "~root", "a%2F..%2F.."],
)
def test_path_traversal_in_case_names(
    abuse: tuple[TestClient, Path], tokens: dict[str, str], name: str, before: dict[str, Any]
) -> None:
    c, _ = abuse
    h = _h(tokens, "analyst")
    for method, suffix, kwargs in (
        ("GET", "", {}),
        ("GET", "/files/case.json", {}),
        ("PUT", "/explorer", {"json": {"version": 1}}),
        ("POST", "/annotations", {"json": {"target": "a", "text": "b"}}),
    ):
        r = c.request(method, f"/api/v1/cases/{name}{suffix}", headers=h, **kwargs)
        assert 400 <= r.status_code < 500, f"{method} {name}{suffix}: {r.status_code}"
        assert b"schema_version" not in r.content


def test_zz_nothing_else_changed(
    abuse: tuple[TestClient, Path], before: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """Runs last in this module: the dataset is as it was."""
    _, data = abuse
    assert _snapshot(data) == before["files"]
    assert _tags(data) == before["tags"]
    assert sorted(p.name for p in (data / "cases").iterdir()) == before["cases"]
    assert sorted(p.name for p in (data / "cases" / CASE).iterdir()) == sorted(
        {*before["case_files"], "annotations.jsonl"}
    )
    assert not (data / "jobs").exists() or not list((data / "jobs").iterdir())
    assert main(["verify", "--data", str(data)]) == 0
