"""Fixtures of the API tests: a served dataset, a client, and a token per role.

``api_data`` is the regtest chain clustered with the exchange tag packs (the doctests'
dataset, copied so the server's ``users.json`` and ``audit.log`` stay out of it), with its
cluster flow graph built. ``demo_data`` is the demo case's dataset (``chainsleuth.demo.
run_demo``, about 40 s: tests using it are marked slow).

Use ``client`` (a Starlette test client on ``create_app(api_data)``, no token) with
``auth(role)`` headers, or ``client_for(role)``; ``tokens`` maps each role (and ``"revoked"``)
to a token.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chainsleuth.api.app import create_app
from chainsleuth.api.auth import ROLES, UserStore, users_path

Headers = dict[str, str]


def _add_users(data: Path) -> dict[str, str]:
    store = UserStore(users_path(data))
    tokens = {role: store.add(f"{role}-user", role) for role in ROLES}
    tokens["revoked"] = store.add("gone-user", "admin")
    store.revoke("gone-user")
    return tokens


@pytest.fixture(scope="session")
def api_data(doctest_dataset: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A served copy of the clustered regtest dataset, flow graph built."""
    from chainsleuth.store.dataset import Dataset
    from chainsleuth.trace.diskgraph import disk_flow_graph

    path = tmp_path_factory.mktemp("api") / "dataset"
    shutil.copytree(doctest_dataset.path, path, ignore=shutil.ignore_patterns("_tmp"))
    with Dataset.open(path) as ds:
        disk_flow_graph(ds, "default")
    return path


@pytest.fixture(scope="session")
def tokens(api_data: Path) -> dict[str, str]:
    """A token for each role (``viewer``, ``analyst``, ``admin``) and a revoked one."""
    return _add_users(api_data)


@pytest.fixture(scope="session")
def api_app(api_data: Path, tokens: dict[str, str]) -> Iterator[Any]:
    """``create_app(api_data)`` (users made first)."""
    app = create_app(api_data)
    yield app
    app.state.server.close()


@pytest.fixture(scope="session")
def client(api_app: Any) -> TestClient:
    """A test client without a token."""
    return TestClient(api_app, raise_server_exceptions=False)


@pytest.fixture(scope="session")
def auth(tokens: dict[str, str]) -> Callable[[str], Headers]:
    """``auth("viewer")`` → the Authorization header of that role's token."""

    def headers(role: str) -> Headers:
        return {"Authorization": f"Bearer {tokens[role]}"}

    return headers


@pytest.fixture(scope="session")
def demo_data(demo_workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo case's dataset: a private copy of the session's demo workdir (its ``dataset/``
    and ``case/``; tests/conftest.py builds it once, slow: about 40 s)."""
    work = tmp_path_factory.mktemp("demo-api")
    shutil.copytree(
        demo_workdir / "dataset", work / "dataset", ignore=shutil.ignore_patterns("_tmp")
    )
    shutil.copytree(demo_workdir / "case", work / "case")
    return work / "dataset"


@pytest.fixture(scope="session")
def audit_lines() -> Callable[[Path], list[str]]:
    """``audit_lines(data)`` → the dataset's audit log lines (none when absent)."""

    def lines(data: Path) -> list[str]:
        log = data / "audit.log"
        return log.read_text().splitlines() if log.exists() else []

    return lines
