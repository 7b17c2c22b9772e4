"""Analysis endpoints answer what the CLI answers for the same question (explain, trace),
exposure equals the library's, and a trace past the server's bounds is refused naming them."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chainsleuth.cli import main

Auth = Callable[[str], dict[str, str]]
MINER = "bcrt1qr8hsgftgcuf3wkrpcy4gpm79hstpc8mrgr4lsr"
MINER_2 = "bcrt1q5308qu3ejczty83g4ghe2n23kzulh66wz4wnm2"
SERVICE = "bcrt1qmly6wxw3mvegvr0z7c3c8h0rp3lgvvmy2kyeh8"  # a deposit address of the service
EXCHANGE_ONE = "bcrt1q57jxq2ww5f3alrhu3ydxkf8py58s9wgcayuecx"


def _cli_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> Any:
    capsys.readouterr()
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("a", "b"), [(MINER, MINER_2), (MINER, SERVICE), (SERVICE, SERVICE), (EXCHANGE_ONE, SERVICE)]
)
def test_explain_equals_the_cli(
    client: TestClient,
    auth: Auth,
    api_data: Path,
    capsys: pytest.CaptureFixture[str],
    a: str,
    b: str,
) -> None:
    r = client.get("/api/v1/explain", params={"a": a, "b": b}, headers=auth("viewer"))
    assert r.status_code == 200, r.text
    cli = _cli_json(["explain", a, b, "--data", str(api_data), "--json"], capsys)
    assert r.json() == cli


def test_explain_of_a_linked_pair_names_txid_and_rule(client: TestClient, auth: Auth) -> None:
    r = client.get("/api/v1/explain", params={"a": MINER, "b": MINER_2}, headers=auth("viewer"))
    doc = r.json()
    assert doc["linked"] is True
    assert [(s["txid"][:16], s["rule"]) for s in doc["steps"]] == [
        ("4cb15f36fb644da0", "multi-input")
    ]


def test_explain_of_an_unknown_address_is_404(client: TestClient, auth: Auth) -> None:
    r = client.get(
        "/api/v1/explain", params={"a": MINER, "b": "bcrt1qnope"}, headers=auth("viewer")
    )
    assert r.status_code == 404
    assert "bcrt1qnope" in r.json()["detail"]


@pytest.mark.parametrize(
    ("direction", "hops", "policy", "stop_at"),
    [
        ("forward", 3, "haircut", ["exchange"]),
        ("back", 4, "poison", ["exchange"]),
        ("back", 2, "fifo", []),
    ],
)
def test_trace_equals_the_cli(
    client: TestClient,
    auth: Auth,
    api_data: Path,
    capsys: pytest.CaptureFixture[str],
    direction: str,
    hops: int,
    policy: str,
    stop_at: list[str],
) -> None:
    body = {
        "seeds": [SERVICE, MINER_2],
        "direction": direction,
        "hops": hops,
        "policy": policy,
        "stop_at": stop_at,
    }
    r = client.post("/api/v1/trace", json=body, headers=auth("viewer"))
    assert r.status_code == 200, r.text
    args = ["trace", SERVICE, MINER_2, "--data", str(api_data), "--direction", direction]
    args += ["--hops", str(hops), "--policy", policy, "--json"]
    args += [f"--stop-at={c}" for c in stop_at] if stop_at else ["--no-stop"]
    cli = _cli_json(args, capsys)
    api = r.json()
    assert api["endpoints"] and api["edges"]
    for key in ("parameters", "seeds", "nodes", "edges", "endpoints", "dropped"):
        assert api[key] == cli[key], key
    assert api["seed_value_sats"] == cli["seed_value_sats"]


@pytest.mark.parametrize(
    ("change", "status", "detail"),
    [
        ({"hops": 11}, 400, "hops 11 is above the server's max_trace_hops 10"),
        ({"hops": 10**12}, 400, "max_trace_hops"),
        ({"hops": 0}, 400, "hops"),
        ({"seeds": [SERVICE] * 101}, 400, "101 seeds is above the server's max_trace_seeds 100"),
        ({"seeds": []}, 400, "seeds"),
        ({"seeds": ["bcrt1qnotthere"]}, 404, "bcrt1qnotthere"),
        ({"stop_at": ["bank"]}, 400, "stop_at: unknown category 'bank'"),
        ({"policy": "random"}, 400, "policy"),
        ({"start": "yesterday"}, 400, "start is not an ISO date/time: 'yesterday'"),
        ({"start": "2025-01-05", "end": "2025-01-04"}, 400, "end 2025-01-04 is before start"),
    ],
)
def test_trace_refusals_name_the_bad_value(
    client: TestClient, auth: Auth, change: dict[str, Any], status: int, detail: str
) -> None:
    body = {"seeds": [SERVICE], "hops": 3, **change}
    r = client.post("/api/v1/trace", json=body, headers=auth("viewer"))
    assert r.status_code == status, r.text
    assert detail in r.json()["detail"]


def test_trace_past_max_nodes_is_refused(
    api_data: Path, tokens: dict[str, str], tmp_path: Path
) -> None:
    from chainsleuth.api.app import create_app
    from chainsleuth.api.limits import ApiLimits

    copy = tmp_path / "dataset"  # a server of its own: one audit log, one writer
    shutil.copytree(api_data, copy, ignore=shutil.ignore_patterns("audit*", "cases", "jobs"))
    app = create_app(copy, limits=ApiLimits(max_trace_nodes=5))
    try:
        c = TestClient(app, raise_server_exceptions=False)
        r = c.post(
            "/api/v1/trace",
            json={"seeds": [SERVICE], "direction": "forward", "hops": 3},
            headers={"Authorization": f"Bearer {tokens['viewer']}"},
        )
        assert r.status_code == 400
        assert "above the server's max_trace_nodes 5" in r.json()["detail"]
    finally:
        app.state.server.close()


def test_exposure_equals_the_library(client: TestClient, auth: Auth, api_data: Path) -> None:
    from chainsleuth.store.dataset import Dataset
    from chainsleuth.trace.exposure import exposure

    r = client.get("/api/v1/exposure", params={"target": SERVICE}, headers=auth("viewer"))
    assert r.status_code == 200, r.text
    doc = r.json()
    with Dataset.open(api_data) as ds:
        want = exposure(ds, doc["node"], hops=3)
    got = [(x["direction"], x["scope"], x["category"], x["value_sats"]) for x in doc["rows"]]
    assert got == [(w.direction, w.scope, w.category, round(w.value)) for w in want]
    assert [x["share"] for x in doc["rows"]] == pytest.approx([w.share for w in want])
    by_id = client.get(
        "/api/v1/exposure",
        params={"target": f"cluster:{doc['node']}", "direction": "outgoing"},
        headers=auth("viewer"),
    ).json()
    assert by_id["rows"] == [x for x in doc["rows"] if x["direction"] == "outgoing"]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"target": "cluster:999999999"}, 404),
        ({"target": "cluster:x"}, 400),
        ({"target": "bcrt1qnope"}, 404),
        ({"target": SERVICE, "hops": 11}, 400),
        ({"target": SERVICE, "direction": "sideways"}, 400),
    ],
)
def test_exposure_refusals(
    client: TestClient, auth: Auth, params: dict[str, Any], status: int
) -> None:
    r = client.get("/api/v1/exposure", params=params, headers=auth("viewer"))
    assert r.status_code == status, r.text


@pytest.mark.slow
def test_recorded_examples_match_the_demo(demo_data: Path) -> None:
    """The OpenAPI examples of the tag, analysis, case and bulk endpoints are what the server
    answers on the demo now (those without ids or times)."""
    from chainsleuth.api.routeexamples import DETERMINISTIC, _examples, record_examples

    fresh = record_examples(demo_data.parent)
    stored = _examples()
    assert set(stored) == set(fresh)
    for name in DETERMINISTIC:
        assert fresh[name] == stored[name], name


def test_a_cluster_seed_traces_as_its_address(client: TestClient, auth: Auth) -> None:
    """``cluster:N`` as a seed is the cluster an address seed resolves to: the same trace."""
    cid = client.get(f"/api/v1/addresses/{SERVICE}", headers=auth("viewer")).json()["cluster"]
    by_address = {"seeds": [SERVICE], "direction": "forward", "hops": 3}
    by_cluster = {**by_address, "seeds": [f"cluster:{cid}"]}
    a = client.post("/api/v1/trace", json=by_address, headers=auth("viewer"))
    b = client.post("/api/v1/trace", json=by_cluster, headers=auth("viewer"))
    assert a.status_code == b.status_code == 200, b.text
    for key in ("nodes", "edges", "endpoints"):
        assert a.json()[key] == b.json()[key], key
    bad = client.post(
        "/api/v1/trace", json={**by_address, "seeds": ["cluster:x"]}, headers=auth("viewer")
    )
    assert bad.status_code == 400 and "cluster:x" in bad.json()["detail"]
