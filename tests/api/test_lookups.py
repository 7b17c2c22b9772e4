"""Lookup endpoints: the same answers as ``chainsleuth show --json``, pagination that walks
every item once, and abuse (SQL metacharacters, huge limits, forged cursors) refused with
4xx while nothing on disk changes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from chainsleuth.api.pagination import encode_cursor

CliRun = Callable[..., tuple[int, str, str]]
Auth = Callable[[str], dict[str, str]]

SEED = "bcrt1qmly6wxw3mvegvr0z7c3c8h0rp3lgvvmy2kyeh8"  # a service deposit address


def _cli(cli_run: CliRun, data: Path, what: str) -> dict[str, Any]:
    code, out, err = cli_run("show", "--data", str(data), what, "--json")
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def _get(client: TestClient, auth: Auth, url: str, **params: Any) -> dict[str, Any]:
    r = client.get(url, headers=auth("viewer"), params=params)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def _largest_cluster(data: Path) -> dict[str, Any]:
    table = pq.read_table(data / "derived/clusters/default/clusters.parquet")
    row: dict[str, Any] = table.sort_by([("size", "descending")]).slice(0, 1).to_pylist()[0]
    return row


def _walk(client: TestClient, auth: Auth, url: str, limit: int, **params: Any) -> list[Any]:
    items: list[Any] = []
    cursor = None
    for _ in range(10_000):
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        page = _get(client, auth, url, **query)
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            assert page["total"] == len(items)
            return items
    raise AssertionError("pagination did not end")


# -- equal to the CLI -------------------------------------------------------------------------
def test_address_equals_cli(
    client: TestClient, auth: Auth, api_data: Path, cli_run: CliRun
) -> None:
    api = _get(client, auth, f"/api/v1/addresses/{SEED}")
    cli = _cli(cli_run, api_data, SEED)
    assert api["cluster"] == cli["cluster"]["cluster_id"]
    assert api.pop("cluster_summary") == cli.pop("cluster")
    api.pop("cluster")
    assert api == cli


def test_transaction_equals_cli(
    client: TestClient, auth: Auth, api_data: Path, cli_run: CliRun
) -> None:
    txid = _get(client, auth, f"/api/v1/addresses/{SEED}")["txs"][0]["txid"]
    api = _get(client, auth, f"/api/v1/transactions/{txid}")
    cli = _cli(cli_run, api_data, txid)
    assert api.pop("fee_sats") == cli["fee"]
    for row in api["inputs"] + api["outputs"]:
        assert row.pop("value_sats") == row["value"]
        assert row.pop("cluster") == row.get("cluster_id")
        labels = row.pop("labels")
        assert [t["label"] for t in labels][:1] == (
            [row["label"].split(" (")[0]] if row.get("label") else []
        )
    assert api == cli
    assert any(r.get("cluster_id") is not None for r in cli["inputs"] + cli["outputs"])


@pytest.mark.parametrize("which", ["height", "hash"])
def test_block_equals_cli(
    client: TestClient, auth: Auth, api_data: Path, cli_run: CliRun, which: str
) -> None:
    by_height = _get(client, auth, "/api/v1/blocks/212")
    what = "212" if which == "height" else by_height["hash"].upper()
    api = _get(client, auth, f"/api/v1/blocks/{what}")
    assert api == _cli(cli_run, api_data, "212")


def test_cluster_equals_cli(
    client: TestClient, auth: Auth, api_data: Path, cli_run: CliRun
) -> None:
    cid = _get(client, auth, f"/api/v1/addresses/{SEED}")["cluster"]
    api = _get(client, auth, f"/api/v1/clusters/{cid}")
    cli = _cli(cli_run, api_data, f"cluster:{cid}")
    assert api.pop("labels") == cli["tags"]
    assert api.pop("conflicts") == (cli["actors"] if cli["conflict"] else [])
    category = api.pop("category")
    assert category == (cli["tags"][0]["category"] if cli["tags"] else None) or cli["conflict"]
    assert api == cli


# -- pagination --------------------------------------------------------------------------------
def test_members_of_largest_cluster_each_once(
    client: TestClient, auth: Auth, api_data: Path
) -> None:
    big = _largest_cluster(api_data)
    items = _walk(client, auth, f"/api/v1/clusters/{big['cluster_id']}/members", 37)
    ids = [m["addr_id"] for m in items]
    assert len(ids) == len(set(ids)) == big["size"]
    members = pq.read_table(
        api_data / "derived/clusters/default/members.parquet",
        filters=[("cluster_id", "=", big["cluster_id"])],
    )
    assert set(ids) == set(members.column("addr_id").to_pylist())
    received = [m["received_sats"] for m in items]
    assert received == sorted(received, reverse=True)
    assert sum(received) == big["total_received"]
    assert all(m["address"] for m in items)


def test_address_transactions_walk(client: TestClient, auth: Auth) -> None:
    prof = _get(client, auth, f"/api/v1/addresses/{SEED}")
    items = _walk(client, auth, f"/api/v1/addresses/{SEED}/transactions", 3)
    assert len(items) == prof["n_txs"]
    assert [t["txid"] for t in items][: len(prof["txs"])] == [t["txid"] for t in prof["txs"]]
    assert sum(t["received_sats"] for t in items) == prof["received"]
    assert sum(t["sent_sats"] for t in items) == prof["spent"]


def test_cluster_transactions_walk(client: TestClient, auth: Auth, api_data: Path) -> None:
    big = _largest_cluster(api_data)
    items = _walk(client, auth, f"/api/v1/clusters/{big['cluster_id']}/transactions", 50)
    assert len(items) == len({t["txid"] for t in items}) == big["n_txs"]
    assert sum(t["received_sats"] for t in items) == big["total_received"]
    assert sum(t["sent_sats"] for t in items) == big["total_sent"]
    heights = [t["height"] for t in items]
    assert heights == sorted(heights)


def test_neighbours_both_ways_agree(client: TestClient, auth: Auth, api_data: Path) -> None:
    big = _largest_cluster(api_data)["cluster_id"]
    out = _walk(client, auth, f"/api/v1/clusters/{big}/neighbours", 7, direction="out")
    assert out and big not in {n["cluster_id"] for n in out}
    values = [n["value_sats"] for n in out]
    assert values == sorted(values, reverse=True)
    # the edge seen from the other end carries the same value and transaction count
    top = out[0]
    back = _walk(
        client, auth, f"/api/v1/clusters/{top['cluster_id']}/neighbours", 500, direction="in"
    )
    mirror = next(n for n in back if n["cluster_id"] == big)
    assert (mirror["value_sats"], mirror["tx_count"]) == (top["value_sats"], top["tx_count"])
    assert (mirror["first_txid"], mirror["last_txid"]) == (top["first_txid"], top["last_txid"])
    # the edge's first and last transactions are evidence of it: the cluster spends in them
    # and the neighbour receives
    for txid in (top["first_txid"], top["last_txid"]):
        tx = _get(client, auth, f"/api/v1/transactions/{txid}")
        assert big in {i["cluster"] for i in tx["inputs"]}
        assert top["cluster_id"] in {o["cluster"] for o in tx["outputs"]}
    if top["tx_count"] > 1:
        assert top["first_time"] <= top["last_time"]


def test_search(client: TestClient, auth: Auth, api_data: Path) -> None:
    def kinds(q: str) -> list[tuple[str, str]]:
        return [(h["kind"], h["id"]) for h in _get(client, auth, "/api/v1/search", q=q)["items"]]

    assert ("address", SEED) in kinds(SEED)
    assert ("address", SEED) in kinds(SEED[:14])
    txid = _get(client, auth, f"/api/v1/addresses/{SEED}")["txs"][0]["txid"]
    assert ("tx", txid) in kinds(txid)
    assert ("tx", txid) in kinds(txid[:10])
    assert ("block", "5") in kinds("5")
    assert kinds("cluster:92") == [("cluster", "92")]
    assert kinds("cluster:999999999") == []
    assert any(k == "label" for k, _ in kinds("Exchange One"))


# -- abuse -------------------------------------------------------------------------------------
def _snapshot(data: Path) -> dict[str, tuple[int, int]]:
    found = {}
    for top in ("tables", "index", "state", "derived"):
        for p in sorted((data / top).rglob("*")):
            if p.is_file():
                st = p.stat()
                found[str(p.relative_to(data))] = (st.st_size, st.st_mtime_ns)
    st = (data / "manifest.json").stat()
    found["manifest.json"] = (st.st_size, st.st_mtime_ns)
    return found


NASTY = [
    "' OR '1'='1",
    "1; DROP TABLE txs; --",
    '"); SELECT * FROM addresses; --',
    "%27%20OR%201%3D1",
    "../../manifest.json",
    "\\x00",
    "a" * 199,
]


def test_abuse_is_refused_and_changes_nothing(
    client: TestClient, auth: Auth, api_data: Path
) -> None:
    before = _snapshot(api_data)
    h = auth("viewer")
    big = _largest_cluster(api_data)["cluster_id"]
    for bad in NASTY:
        for url in (
            f"/api/v1/addresses/{bad}",
            f"/api/v1/addresses/{bad}/transactions",
            f"/api/v1/transactions/{bad}",
            f"/api/v1/blocks/{bad}",
            f"/api/v1/clusters/{bad}",
        ):
            r = client.get(url, headers=h)
            assert 400 <= r.status_code < 500, (url, r.status_code, r.text)
        r = client.get("/api/v1/search", headers=h, params={"q": bad})
        assert r.status_code == 200 and all(x["kind"] == "label" for x in r.json()["items"])
        for url in (f"/api/v1/clusters/{big}/members", f"/api/v1/clusters/{big}/transactions"):
            assert client.get(url, headers=h, params={"cursor": bad}).status_code == 400
        r = client.get(f"/api/v1/clusters/{big}/neighbours", headers=h, params={"direction": bad})
        assert r.status_code == 400
    members = f"/api/v1/clusters/{big}/members"
    for limit in (0, -1, 501, 10**9, 10**30, "many"):
        r = client.get(members, headers=h, params={"limit": limit})
        assert r.status_code == 400, (limit, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    # a cursor forged from another list, or re-signed by hand, is refused
    tx_cursor = encode_cursor({"after": 3})
    assert client.get(members, headers=h, params={"cursor": tx_cursor}).status_code == 400
    page = client.get(members, headers=h, params={"limit": 2}).json()
    forged = page["next_cursor"][:-3] + ("AAA" if page["next_cursor"][-3:] != "AAA" else "BBB")
    assert client.get(members, headers=h, params={"cursor": forged}).status_code == 400
    assert client.get("/api/v1/search", headers=h, params={"q": "x" * 201}).status_code == 400
    assert (
        client.get("/api/v1/search", headers=h, params={"limit": 101, "q": "a"}).status_code == 400
    )
    assert _snapshot(api_data) == before


def test_not_found_is_problem_json(client: TestClient, auth: Auth) -> None:
    r = client.get("/api/v1/transactions/" + "ab" * 32, headers=auth("viewer"))
    assert r.status_code == 404
    body = r.json()
    assert body["title"] == "Not Found" and "ab" * 32 in body["detail"]
    assert client.get("/api/v1/clusters/123456789", headers=auth("viewer")).status_code == 404
    r = client.get("/api/v1/clusters/123456789/members", headers=auth("viewer"))
    assert r.status_code == 404


def test_ingest_in_progress_is_served_at_its_last_manifest(
    regtest_blocks_dir: Path, tmp_path: Path
) -> None:
    """A half-written part is never read; a new manifest is picked up between requests."""
    from chainsleuth.api.app import create_app
    from chainsleuth.api.auth import UserStore, users_path
    from chainsleuth.ingest import ingest_blocks

    data = tmp_path / "growing"
    ingest_blocks(regtest_blocks_dir, data, "regtest", to_height=150, partition_span=100)
    token = UserStore(users_path(data)).add("v", "viewer")
    app = create_app(data)
    client = TestClient(app)
    h = {"Authorization": f"Bearer {token}"}
    try:
        assert client.get("/api/v1/health").json()["tip_height"] == 150
        # an ingest's part being written, not yet in the manifest: ignored
        junk = data / "tables" / "txs" / "h000000200-000000299.parquet.tmp"
        junk.write_bytes(b"half a part")
        assert client.get("/api/v1/blocks/150", headers=h).status_code == 200
        assert client.get("/api/v1/blocks/151", headers=h).status_code == 404
        junk.unlink()
        ingest_blocks(regtest_blocks_dir, data, "regtest", partition_span=100)
        assert client.get("/api/v1/health").json()["tip_height"] == 473
        assert client.get("/api/v1/blocks/400", headers=h).json()["height"] == 400
    finally:
        app.state.server.close()


@pytest.mark.slow
def test_demo_examples_match_the_server(demo_data: Path, tmp_path: Path) -> None:
    """The OpenAPI examples recorded from the demo are what the server answers on it now."""
    from chainsleuth.api.examples import _examples, record_examples

    fresh = record_examples(demo_data)
    stored = _examples()
    assert fresh["paths"] == stored["paths"]
    for name, example in stored["responses"].items():
        got = fresh["responses"][name]
        if isinstance(example, dict) and "next_cursor" in example:
            example, got = dict(example), dict(got)
            example.pop("next_cursor"), got.pop("next_cursor")  # signed per server process
        assert got == example, name


def test_openapi_has_real_examples_and_stable_ids(api_app: Any, api_data: Path) -> None:
    from chainsleuth.api.app import create_app
    from chainsleuth.api.routes.lookups import router

    doc = api_app.openapi()
    ours = {r.name for r in router.routes}
    ops = {
        op["operationId"]: (path, op)
        for path, item in doc["paths"].items()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }
    assert ours <= set(ops)
    for name in ours:
        _path, op = ops[name]
        example = op["responses"]["200"]["content"]["application/json"].get("example")
        assert example, f"{name}: no example"
        for param in op.get("parameters", []):
            if param["in"] == "path":
                assert param.get("examples"), f"{name}: path parameter {param['name']}"
    again = create_app(api_data)
    try:
        assert again.openapi() == doc  # same ids, same document, run after run
    finally:
        again.state.server.close()


def test_cache_is_bounded_per_kind(api_data: Path) -> None:
    from chainsleuth.api.limits import ApiLimits
    from chainsleuth.api.state import MEMO_LIMITS, ServerState

    st = ServerState.for_dataset(api_data, ApiLimits())
    try:
        made: list[int] = []

        def make(i: int) -> int:
            made.append(i)
            return i

        for i in range(40):
            st.memo(("members", i), lambda i=i: make(i))
        st.memo(("other", 1), lambda: 1)
        kept = [k for k in st._memo if k[0] == "members"]
        assert len(kept) == MEMO_LIMITS["members"]
        assert kept[-1] == ("members", 39)
        assert st.memo(("members", 39), lambda: -1) == 39  # a hit: not made again
        assert len(made) == 40
    finally:
        st.close()


@pytest.mark.slow
def test_demo_profiles_equal_cli(demo_data: Path, cli_run: CliRun) -> None:
    """On the demo case: the largest cluster, one of its addresses, a transaction, a block."""
    from chainsleuth.api.app import create_app
    from chainsleuth.api.auth import UserStore, users_path
    from chainsleuth.api.examples import _demo_values

    values = _demo_values(demo_data)
    token = UserStore(users_path(demo_data)).add("demo-viewer", "viewer")
    app = create_app(demo_data)
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {token}"
    try:
        address = client.get(f"/api/v1/addresses/{values['address']}").json()
        cli = _cli(cli_run, demo_data, values["address"])
        assert address.pop("cluster_summary") == cli.pop("cluster")
        assert address.pop("cluster") == values["cluster_id"]
        assert address == cli

        tx = client.get(f"/api/v1/transactions/{values['txid']}").json()
        cli = _cli(cli_run, demo_data, values["txid"])
        tx.pop("fee_sats")
        for row in tx["inputs"] + tx["outputs"]:
            row.pop("value_sats"), row.pop("cluster"), row.pop("labels")
        assert tx == cli

        block = client.get(f"/api/v1/blocks/{values['height_or_hash']}").json()
        assert block == _cli(cli_run, demo_data, values["height_or_hash"])

        cid = values["cluster_id"]
        cluster = client.get(f"/api/v1/clusters/{cid}").json()
        for extra in ("labels", "category", "conflicts"):
            cluster.pop(extra)
        assert cluster == _cli(cli_run, demo_data, f"cluster:{cid}")
    finally:
        app.state.server.close()
