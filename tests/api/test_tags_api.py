"""Tag endpoints: an analyst's tag shows in the address profile and in ``tags export`` with who
added it, and is gone from both once deleted; search, import, and the refusals."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chainsleuth.cli import main

Auth = Callable[[str], dict[str, str]]
MINER = "bcrt1qr8hsgftgcuf3wkrpcy4gpm79hstpc8mrgr4lsr"  # the regtest miner's first address
MINER_2 = "bcrt1q5308qu3ejczty83g4ghe2n23kzulh66wz4wnm2"  # same cluster
EXCHANGE_ONE = "bcrt1q57jxq2ww5f3alrhu3ydxkf8py58s9wgcayuecx"


def _export_rows(data: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, str]]:
    capsys.readouterr()
    assert main(["tags", "export", "--data", str(data), "--format", "csv"]) == 0
    return list(csv.DictReader(io.StringIO(capsys.readouterr().out)))


@pytest.fixture
def cleanup(client: TestClient, auth: Auth) -> Iterator[list[str]]:
    """Tag ids to delete (as admin) after the test, so the shared dataset's tags come back."""
    ids: list[str] = []
    yield ids
    for ident in ids:
        client.delete(f"/api/v1/tags/{ident}", headers=auth("admin"))


def test_added_tag_shows_in_profile_and_export_until_deleted(
    client: TestClient,
    auth: Auth,
    api_data: Path,
    capsys: pytest.CaptureFixture[str],
    cleanup: list[str],
) -> None:
    body = {
        "target_kind": "address",
        "target": MINER,
        "label": "Pool Alpha",
        "category": "mining_service",
        "source": "pool website, 2025-03-01",
        "confidence": 95,
        "context": "payout address listed on the pool's page",
    }
    r = client.post("/api/v1/tags", json=body, headers=auth("analyst"))
    assert r.status_code == 201, r.text
    tag = r.json()
    cleanup.append(tag["id"])
    assert (tag["pack"], tag["analyst"], tag["confidence"], tag["confidence_level"]) == (
        "analyst:analyst-user",
        "analyst-user",
        "manual_transaction",
        90,
    )

    profile = client.get(f"/api/v1/addresses/{MINER}", headers=auth("viewer")).json()
    labels = [(t["label"], t["pack"], t["source"]) for t in profile["labels"]]
    assert ("Pool Alpha", "analyst:analyst-user", "pool website, 2025-03-01") in labels

    exported = [r for r in _export_rows(api_data, capsys) if r["label"] == "Pool Alpha"]
    assert len(exported) == 1
    row = exported[0]
    assert (row["target"], row["source"], row["confidence"], row["pack"]) == (
        MINER,
        "pool website, 2025-03-01",
        "manual_transaction",
        "analyst:analyst-user",
    )
    assert '"analyst": "analyst-user"' in row["context"]
    assert "payout address listed" in row["context"]

    listed = client.get("/api/v1/tags", params={"target": MINER}, headers=auth("viewer")).json()
    assert [t["id"] for t in listed["items"]] == [tag["id"]]

    r = client.delete(f"/api/v1/tags/{tag['id']}", headers=auth("analyst"))
    assert r.status_code == 200 and r.json()["label"] == "Pool Alpha"
    cleanup.clear()
    profile = client.get(f"/api/v1/addresses/{MINER}", headers=auth("viewer")).json()
    assert "Pool Alpha" not in [t["label"] for t in profile["labels"]]
    assert not [r for r in _export_rows(api_data, capsys) if r["label"] == "Pool Alpha"]
    assert client.delete(f"/api/v1/tags/{tag['id']}", headers=auth("analyst")).status_code == 404


def test_cluster_tag_by_id_names_a_member(
    client: TestClient, auth: Auth, cleanup: list[str]
) -> None:
    cluster = client.get(f"/api/v1/addresses/{MINER}", headers=auth("viewer")).json()["cluster"]
    body = {
        "target_kind": "cluster",
        "target": f"cluster:{cluster}",
        "label": "Miner wallet",
        "source": "coinbase payouts",
        "confidence": "ledger_immanent",
    }
    r = client.post("/api/v1/tags", json=body, headers=auth("analyst"))
    assert r.status_code == 201, r.text
    cleanup.append(r.json()["id"])
    assert r.json()["target_kind"] == "cluster"
    assert r.json()["target"] in (MINER, MINER_2)
    assert r.json()["confidence_level"] == 100


def test_an_upper_case_address_is_stored_as_the_dataset_spells_it(
    client: TestClient, auth: Auth, cleanup: list[str]
) -> None:
    body = {"target": MINER_2.upper(), "label": "Shouted", "source": "s", "confidence": 20}
    r = client.post("/api/v1/tags", json=body, headers=auth("analyst"))
    assert r.status_code == 201, r.text
    cleanup.append(r.json()["id"])
    assert r.json()["target"] == MINER_2
    profile = client.get(f"/api/v1/addresses/{MINER_2}", headers=auth("viewer")).json()
    assert "Shouted" in [t["label"] for t in profile["labels"]]


def test_adding_again_replaces_and_keeps_created(
    client: TestClient, auth: Auth, cleanup: list[str]
) -> None:
    body = {"target": MINER_2, "label": "Twice", "source": "a", "confidence": 10}
    first = client.post("/api/v1/tags", json=body, headers=auth("analyst")).json()
    cleanup.append(first["id"])
    second = client.post(
        "/api/v1/tags", json={**body, "source": "b"}, headers=auth("analyst")
    ).json()
    assert second["id"] == first["id"] and second["created"] == first["created"]
    found = client.get("/api/v1/tags", params={"q": "twice"}, headers=auth("viewer")).json()
    assert [(t["source"], t["confidence"]) for t in found["items"]] == [("b", "heuristic")]


def test_an_analyst_may_not_remove_imported_or_others_tags(
    client: TestClient, auth: Auth, cleanup: list[str]
) -> None:
    imported = client.get("/api/v1/tags", params={"target": EXCHANGE_ONE}, headers=auth("viewer"))
    ident = imported.json()["items"][0]["id"]
    r = client.delete(f"/api/v1/tags/{ident}", headers=auth("analyst"))
    assert r.status_code == 403 and "only its analyst or an admin" in r.json()["detail"]
    admin_tag = client.post(
        "/api/v1/tags",
        json={"target": MINER, "label": "Admin note", "source": "s", "confidence": 50},
        headers=auth("admin"),
    ).json()
    cleanup.append(admin_tag["id"])
    assert admin_tag["analyst"] == "admin-user"
    r = client.delete(f"/api/v1/tags/{admin_tag['id']}", headers=auth("analyst"))
    assert r.status_code == 403


def test_an_edit_replaces_the_tag_in_one_write(
    client: TestClient, auth: Auth, cleanup: list[str]
) -> None:
    """PUT /tags/{id}: the tag is replaced (new label and confidence, same pack, same created
    time), the old id is gone; a bad field or an unknown id changes nothing."""
    body = {"target": MINER_2, "label": "Draft", "source": "a", "confidence": 10}
    first = client.post("/api/v1/tags", json=body, headers=auth("analyst")).json()
    cleanup.append(first["id"])
    edited = {**body, "label": "Pool payout", "confidence": 95, "context": "checked twice"}
    r = client.put(f"/api/v1/tags/{first['id']}", json=edited, headers=auth("analyst"))
    assert r.status_code == 200, r.text
    tag = r.json()
    cleanup.append(tag["id"])
    assert tag["id"] != first["id"]
    assert (tag["label"], tag["confidence"], tag["pack"], tag["created"]) == (
        "Pool payout",
        "manual_transaction",
        first["pack"],
        first["created"],
    )
    mine = client.get("/api/v1/tags", params={"target": MINER_2}, headers=auth("viewer")).json()
    labels = [t["label"] for t in mine["items"] if t["pack"] == first["pack"]]
    assert labels == ["Pool payout"]
    bad = {**edited, "category": "bank"}
    r = client.put(f"/api/v1/tags/{tag['id']}", json=bad, headers=auth("analyst"))
    assert r.status_code == 400 and "category" in r.json()["detail"]
    r = client.put(f"/api/v1/tags/{first['id']}", json=edited, headers=auth("analyst"))
    assert r.status_code == 404
    again = client.get("/api/v1/tags", params={"target": MINER_2}, headers=auth("viewer")).json()
    assert again["items"] == mine["items"]


def test_only_its_analyst_or_an_admin_may_edit_a_tag(
    client: TestClient, auth: Auth, cleanup: list[str]
) -> None:
    body = {"target": MINER, "label": "Analyst's", "source": "s", "confidence": 50}
    own = client.post("/api/v1/tags", json=body, headers=auth("analyst")).json()
    cleanup.append(own["id"])
    imported = client.get("/api/v1/tags", params={"target": EXCHANGE_ONE}, headers=auth("viewer"))
    ident = imported.json()["items"][0]["id"]
    r = client.put(f"/api/v1/tags/{ident}", json=body, headers=auth("analyst"))
    assert r.status_code == 403 and "only its analyst or an admin may edit" in r.json()["detail"]
    r = client.put(f"/api/v1/tags/{own['id']}", json=body, headers=auth("viewer"))
    assert r.status_code == 403
    # an admin's edit stays in the analyst's pack and says who edited it
    r = client.put(
        f"/api/v1/tags/{own['id']}", json={**body, "confidence": 90}, headers=auth("admin")
    )
    assert r.status_code == 200, r.text
    tag = r.json()
    assert (tag["id"], tag["analyst"], tag["confidence"]) == (
        own["id"],
        "analyst-user",
        "manual_transaction",
    )
    assert '"edited_by": "admin-user"' in tag["context"]


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"category": "bank"}, "category: unknown category 'bank'"),
        ({"confidence": 101}, "confidence must be 0-100 or a confidence name: 101"),
        ({"confidence": "sure"}, "unknown confidence 'sure'"),
        ({"target": "bcrt1qnotinthedataset"}, "target:"),
        ({"target": "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"}, "it is a main address"),
        ({"target": EXCHANGE_ONE[:-1] + "q"}, "target:"),
        ({"target_kind": "cluster", "target": "cluster:999999999"}, "cluster not in"),
        ({"target_kind": "tx"}, "target_kind"),
    ],
)
def test_bad_tags_are_refused_naming_the_field(
    client: TestClient, auth: Auth, change: dict[str, object], detail: str
) -> None:
    body = {"target": MINER, "label": "Bad", "source": "s", "confidence": 50, **change}
    r = client.post("/api/v1/tags", json=body, headers=auth("analyst"))
    assert r.status_code in (400, 404), r.text
    assert detail.lower() in r.json()["detail"].lower()
    found = client.get("/api/v1/tags", params={"q": "Bad"}, headers=auth("viewer")).json()
    assert [t for t in found["items"] if t["label"] == "Bad"] == []


def test_search_and_pages(client: TestClient, auth: Auth) -> None:
    everything = client.get("/api/v1/tags", params={"limit": 500}, headers=auth("viewer")).json()
    assert everything["total"] == len(everything["items"]) >= 20
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/tags", params=params, headers=auth("viewer")).json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [t["id"] for t in everything["items"]]
    hits = client.get("/api/v1/tags", params={"q": "EXCHANGE-2"}, headers=auth("viewer")).json()
    assert hits["items"] and all(t["actor"] == "exchange-2" for t in hits["items"])


def test_import_csv_as_admin(
    client: TestClient, auth: Auth, api_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "target,label,source,confidence,category,pack\n"
        f"{MINER_2},Imported pool,tip-off,web_crawl,mining_service,api import test\n"
    )
    headers = {**auth("admin"), "Content-Type": "text/csv"}
    r = client.post("/api/v1/tags/import", content=text, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["packs"] == {"api import test": 1}
    assert any(row["pack"] == "api import test" for row in _export_rows(api_data, capsys))
    bad = client.post(
        "/api/v1/tags/import", content="target,label,source\nx,y,z\n", headers=headers
    )
    assert bad.status_code == 400
    assert bad.json()["detail"].startswith("upload.csv:1: field 'confidence'")
    assert str(api_data) not in bad.json()["detail"]
    r = client.post("/api/v1/tags/import", content=text, headers=auth("admin"))
    assert r.status_code == 400 and "format=tagpack|csv" in r.json()["detail"]
    # clean up: remove the pack's one tag
    ident = client.get("/api/v1/tags", params={"q": "api import test"}, headers=auth("viewer"))
    for t in ident.json()["items"]:
        client.delete(f"/api/v1/tags/{t['id']}", headers=auth("admin"))
    assert not any(row["pack"] == "api import test" for row in _export_rows(api_data, capsys))


def test_tags_of_a_cluster_are_its_members_tags(client: TestClient, auth: Auth) -> None:
    """``GET /tags?target=cluster:N``: every tag on a member of cluster N (what the explorer
    lists for a cluster node), the same tags the cluster's profile counts."""
    cid = client.get(f"/api/v1/addresses/{EXCHANGE_ONE}", headers=auth("viewer")).json()["cluster"]
    got = client.get(
        "/api/v1/tags", params={"target": f"cluster:{cid}", "limit": 500}, headers=auth("viewer")
    )
    assert got.status_code == 200
    tags = got.json()["items"]
    assert EXCHANGE_ONE in {t["target"] for t in tags}
    profile = client.get(f"/api/v1/clusters/{cid}", headers=auth("viewer")).json()
    assert len(tags) == profile["n_tags"] > 0
    for bad, status in (("cluster:x", 400), ("cluster:999999999", 404)):
        r = client.get("/api/v1/tags", params={"target": bad}, headers=auth("viewer"))
        assert r.status_code == status, (bad, r.text)
