"""Bulk address profiles: the same totals as ``chainsleuth show ADDRESS --json`` and
``GET /addresses/{a}``, in the order asked, as JSON or CSV; a bad address is a row with its
error; more than ``max_bulk`` addresses is refused whole."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chainsleuth.cli import main

Auth = Callable[[str], dict[str, str]]
MINER = "bcrt1qr8hsgftgcuf3wkrpcy4gpm79hstpc8mrgr4lsr"
SERVICE = "bcrt1qmly6wxw3mvegvr0z7c3c8h0rp3lgvvmy2kyeh8"
EXCHANGE_ONE = "bcrt1q57jxq2ww5f3alrhu3ydxkf8py58s9wgcayuecx"
TOTALS = ("addr_id", "script_type", "first_height", "last_height", "n_txs")
TOTALS += ("n_outputs_received", "received", "n_outputs_spent", "spent", "balance")


@pytest.fixture(scope="module")
def some_addresses(api_data: Path) -> list[str]:
    """The first 300 addresses of the dataset, in a shuffled but fixed order."""
    from chainsleuth.store.dataset import Dataset

    with Dataset.open(api_data) as ds:
        found = [ds.address_of(i) for i in range(300)]
    named = [a for a in found if a is not None]
    return named[1::2] + named[::2]


def test_rows_equal_show_and_the_address_endpoint(
    client: TestClient, auth: Auth, api_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wanted = [MINER, SERVICE, EXCHANGE_ONE]
    r = client.post("/api/v1/bulk/addresses", json={"addresses": wanted}, headers=auth("viewer"))
    assert r.status_code == 200, r.text
    rows = r.json()["items"]
    assert [row["address"] for row in rows] == wanted
    for row in rows:
        capsys.readouterr()
        assert main(["show", row["address"], "--data", str(api_data), "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert {k: row[k] for k in TOTALS} == {k: shown[k] for k in TOTALS}
        assert row["cluster"] == shown["cluster"]["cluster_id"]
        assert len(row["labels"]) == len(shown["labels"])
        profile = client.get(f"/api/v1/addresses/{row['address']}", headers=auth("viewer"))
        assert row["cluster"] == profile.json()["cluster"]
    assert rows[2]["labels"] and rows[2]["labels"][0].startswith("Exchange One")
    assert rows[2]["cluster_label"] == "Exchange One"


def test_many_addresses_match_one_by_one(
    client: TestClient, auth: Auth, api_data: Path, some_addresses: list[str]
) -> None:
    from chainsleuth.store.dataset import Dataset
    from chainsleuth.store.profiles import address_profile

    r = client.post(
        "/api/v1/bulk/addresses", json={"addresses": some_addresses}, headers=auth("viewer")
    )
    rows = r.json()["items"]
    assert [row["address"] for row in rows] == some_addresses
    with Dataset.open(api_data) as ds:
        for row in rows:
            p = address_profile(ds, row["address"], limit=0)
            assert (row["received"], row["spent"], row["n_txs"], row["last_height"]) == (
                p["received"],
                p["spent"],
                p["n_txs"],
                p["last_height"],
            )


def test_csv_and_bad_rows(client: TestClient, auth: Auth) -> None:
    wanted = [MINER, "bcrt1qnotthere", "not an address; DROP TABLE txs", MINER]
    body = {"addresses": wanted, "format": "csv"}
    r = client.post("/api/v1/bulk/addresses", json=body, headers=auth("viewer"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["address"] for row in rows] == wanted
    assert rows[0]["error"] == "" and int(rows[0]["received"]) > 0
    assert rows[0] == rows[3]
    assert rows[1]["error"] == "address not in dataset: bcrt1qnotthere"
    assert rows[2]["error"] and rows[2]["received"] == ""
    as_json = client.post(
        "/api/v1/bulk/addresses", json={"addresses": wanted}, headers=auth("viewer")
    ).json()["items"]
    assert [str(x["received"]) if x["received"] is not None else "" for x in as_json] == [
        row["received"] for row in rows
    ]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"addresses": [MINER] * 1001}, 413, "1001 addresses is above the server's max_bulk 1000"),
        ({"addresses": []}, 400, "addresses"),
        ({"addresses": [MINER], "format": "xml"}, 400, "format"),
        ({"addresses": ["x" * 201]}, 400, "addresses"),
        ({"addresses": MINER}, 400, "addresses"),
    ],
)
def test_refusals(
    client: TestClient, auth: Auth, body: dict[str, Any], status: int, detail: str
) -> None:
    r = client.post("/api/v1/bulk/addresses", json=body, headers=auth("viewer"))
    assert r.status_code == status, r.text
    assert detail in r.json()["detail"]


def test_bulk_of_max_size_is_fast_enough(
    client: TestClient, auth: Auth, some_addresses: list[str]
) -> None:
    import time

    batch = (some_addresses * 4)[:1000]
    start = time.monotonic()
    r = client.post("/api/v1/bulk/addresses", json={"addresses": batch}, headers=auth("viewer"))
    assert r.status_code == 200 and len(r.json()["items"]) == 1000
    assert time.monotonic() - start < 20
