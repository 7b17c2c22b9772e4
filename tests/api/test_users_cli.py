"""``chainsleuth users add|revoke|list``: tokens that work on the API, and revocation."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from chainsleuth.api.app import create_app

CliRun = Callable[..., tuple[int, str, str]]


def test_add_list_revoke(api_data: Path, cli_run: CliRun) -> None:
    code, out, _ = cli_run("users", "add", "dora", "--role", "analyst", "--data", str(api_data))
    assert code == 0
    token = out.strip().splitlines()[-1]
    assert len(token) >= 40 and " " not in token
    assert token not in (api_data / "users.json").read_text()

    app = create_app(api_data)
    try:
        client = TestClient(app)
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json() == {"name": "dora", "role": "analyst"}

        code, out, _ = cli_run("users", "list", "--data", str(api_data), "--json")
        listed = {u["name"]: u for u in json.loads(out)}
        assert listed["dora"]["role"] == "analyst" and listed["dora"]["revoked"] is None
        assert token not in out

        assert cli_run("users", "revoke", "dora", "--data", str(api_data))[0] == 0
        # the running server re-reads users.json: the token is refused at once
        again = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert again.status_code == 401
    finally:
        app.state.server.close()


def test_bad_input_exits_2(api_data: Path, tmp_path: Path, cli_run: CliRun) -> None:
    code, _, err = cli_run("users", "add", "erin", "--role", "root", "--data", str(api_data))
    assert code == 2 and "unknown role 'root'" in err
    code, _, err = cli_run("users", "add", "../x", "--data", str(api_data))
    assert code == 2 and "bad user name" in err
    code, _, err = cli_run("users", "revoke", "nobody", "--data", str(api_data))
    assert code == 2 and "nobody" in err
    code, _, err = cli_run("users", "add", "erin", "--data", str(tmp_path))
    assert code == 2
    assert not (tmp_path / "users.json").exists()
