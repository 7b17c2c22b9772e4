"""Authentication and authorisation: the matrix over every route and role, the refusal that
never reads the body, the body-size limit, and the route table the middleware trusts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient

from chainsleuth.api.app import create_app
from chainsleuth.api.auth import ROLES, UserStore, requires, role_allows, users_path
from chainsleuth.api.limits import ApiLimits
from chainsleuth.api.routing import route_table

CALLERS = ("none", "bad", "viewer", "analyst", "admin")
# plausible values for path parameters by name (any other name gets "x")
PATH_VALUES = {
    "txid": "00" * 32,
    "height_or_hash": "0",
    "cluster_id": "0",
    "address": "bcrt1qnotanaddress",
    "id": "0",
    "name": "nosuchcase",
    "file": "case.json",
}


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: PATH_VALUES.get(m.group(1), "x"), path)


def _headers(caller: str, auth: Callable[[str], dict[str, str]]) -> dict[str, str]:
    if caller == "none":
        return {}
    if caller == "bad":
        return {"Authorization": "Bearer not-a-real-token"}
    return auth(caller)


def _expected(role: str | None, caller: str) -> str:
    if role is None:
        return "allowed"
    if caller in ("none", "bad"):
        return "401"
    return "allowed" if role_allows(caller, role) else "403"


def test_every_api_route_but_health_declares_a_role(api_app: Any) -> None:
    table = api_app.state.route_table
    assert {r.path for r in table if r.role is None} == {"/api/v1/health"}
    assert all(r.role in ROLES for r in table if r.path != "/api/v1/health")


def test_route_table_covers_every_api_operation(api_app: Any) -> None:
    """Nothing the app serves under /api/v1 escapes the middleware's table."""
    documented = {
        (path, method.upper())
        for path, ops in api_app.openapi()["paths"].items()
        for method in ops
        if path.startswith("/api/v1")
    }
    tabled = {(r.path, m) for r in api_app.state.route_table for m in r.methods if m != "HEAD"}
    assert documented == tabled


def test_authorisation_matrix(
    api_app: Any,
    client: TestClient,
    auth: Callable[[str], dict[str, str]],
    api_data: Path,
    audit_lines: Callable[[Path], list[str]],
) -> None:
    calls: list[tuple[str, str, int, str]] = []
    before = len(audit_lines(api_data))
    for route in api_app.state.route_table:
        url = _concrete(route.path)
        for method in sorted(route.methods - {"HEAD"}):
            for caller in CALLERS:
                body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
                r = client.request(method, url, headers=_headers(caller, auth), **body)
                want = _expected(route.role, caller)
                where = f"{method} {url} as {caller}: {r.status_code} {r.text[:200]}"
                if want == "allowed":
                    assert r.status_code not in (401, 403), where
                    assert r.status_code < 500, where
                else:
                    assert r.status_code == int(want), where
                    assert r.headers["content-type"].startswith("application/problem+json")
                calls.append((method, url, r.status_code, caller))
    entries = [json.loads(line) for line in audit_lines(api_data)[before:]]
    assert len(entries) == len(calls)
    for entry, (method, url, status, caller) in zip(entries, calls, strict=True):
        assert (entry["method"], entry["path"], entry["status"]) == (method, url, status)
        known = caller in ROLES
        assert entry["user"] == (f"{caller}-user" if known else None)
        assert entry["role"] == (caller if known else None)


def test_revoked_token_is_refused(
    client: TestClient, auth: Callable[[str], dict[str, str]]
) -> None:
    r = client.get("/api/v1/me", headers=auth("revoked"))
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/v1/me", headers=auth("analyst")).json() == {
        "name": "analyst-user",
        "role": "analyst",
    }


def test_unknown_api_path_needs_a_token_then_404(
    client: TestClient, auth: Callable[[str], dict[str, str]]
) -> None:
    assert client.get("/api/v1/no/such/thing").status_code == 401
    r = client.get("/api/v1/no/such/thing", headers=auth("viewer"))
    assert r.status_code == 404
    assert r.json()["status"] == 404


def _guarded_app(data: Path, limits: ApiLimits | None = None) -> Any:
    """The real app plus a POST route that needs admin and reads its body."""
    app = create_app(data, limits=limits)
    extra = APIRouter()

    @extra.post("/_test/admin-echo", dependencies=[requires("admin")])
    async def admin_echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    app.include_router(extra, prefix="/api/v1")
    app.router.routes.insert(0, app.router.routes.pop())  # before the explorer's mount at /
    app.state.route_table = [*app.state.route_table, *route_table([extra], "/api/v1")]
    return app


def _raw_call(app: Any, path: str, token: str | None) -> tuple[int, bool]:
    """POST ``path`` through the ASGI app with a body stream that raises when read;
    returns (status, whether the body was read)."""
    read = False

    async def receive() -> dict[str, Any]:
        nonlocal read
        read = True
        raise AssertionError("the request body was read")

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    with contextlib.suppress(AssertionError):
        asyncio.run(app(scope, receive, send))
    return int(sent[0]["status"]), read


def test_refusals_never_read_the_body(api_data: Path, tokens: dict[str, str]) -> None:
    app = _guarded_app(api_data)
    try:
        assert _raw_call(app, "/api/v1/_test/admin-echo", None) == (401, False)
        assert _raw_call(app, "/api/v1/_test/admin-echo", "wrong") == (401, False)
        assert _raw_call(app, "/api/v1/_test/admin-echo", tokens["viewer"]) == (403, False)
        assert _raw_call(app, "/api/v1/_test/admin-echo", tokens["analyst"]) == (403, False)
        # the admin gets through: the handler reads the body (the raising stream fails it)
        assert _raw_call(app, "/api/v1/_test/admin-echo", tokens["admin"])[1] is True
    finally:
        app.state.server.close()


def test_body_size_limit(api_data: Path, tokens: dict[str, str]) -> None:
    app = _guarded_app(api_data, ApiLimits(max_body_bytes=1000))
    client = TestClient(app, raise_server_exceptions=False)
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    try:
        small = client.post("/api/v1/_test/admin-echo", headers=admin, content=b"x" * 1000)
        assert small.json() == {"bytes": 1000}
        big = client.post("/api/v1/_test/admin-echo", headers=admin, content=b"x" * 1001)
        assert big.status_code == 413
        assert big.json()["detail"] == "request body larger than 1000 bytes"

        def chunks() -> Any:  # no Content-Length: counted as it streams
            for _ in range(10):
                yield b"y" * 300

        streamed = client.post("/api/v1/_test/admin-echo", headers=admin, content=chunks())
        assert streamed.status_code == 413
        # a viewer's oversized body is refused for the role first
        viewer = {"Authorization": f"Bearer {tokens['viewer']}"}
        r = client.post("/api/v1/_test/admin-echo", headers=viewer, content=b"x" * 5000)
        assert r.status_code == 403
    finally:
        app.state.server.close()


def test_user_store_keeps_only_hashes(tmp_path: Path) -> None:
    store = UserStore(users_path(tmp_path))
    token = store.add("carol", "viewer")
    text = users_path(tmp_path).read_text()
    assert token not in text
    assert len(json.loads(text)["users"][0]["token_sha256"]) == 64
    assert store.entries()[0]["name"] == "carol"
    assert "token_sha256" not in store.entries()[0]
    with pytest.raises(Exception, match="already exists"):
        store.add("carol", "admin")
    store.revoke("carol")
    assert store.authenticate(token) is None
    new = store.add("carol", "admin")  # a revoked name may be reissued
    assert store.authenticate(new) is not None
    assert store.authenticate(new).role == "admin"  # type: ignore[union-attr]


def test_cors_is_off_by_default(client: TestClient) -> None:
    r = client.options(
        "/api/v1/health",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in r.headers
