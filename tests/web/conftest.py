"""Fixtures for the explorer's browser tests: the demo dataset and case (made once, or taken
from CHAINSLEUTH_DEMO_DIR, a `chainsleuth demo --workdir` folder), a copy of it served by
uvicorn on a free loopback port, and Debian's chromium driven by Playwright with every
request that is not to the loopback server aborted and recorded."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CASE = "demo"
CLI = [sys.executable, "-m", "chainsleuth.cli"]


def add_user(data: Path, name: str, role: str) -> str:
    """`chainsleuth users add`: the token is the last line of stdout."""
    out = subprocess.run(
        [*CLI, "users", "add", name, "--role", role, "--data", str(data)],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def demo_dir(demo_workdir: Path) -> Path:
    """A demo workdir: `dataset/` and `case/` (the investigation of the simulated service);
    the session's shared one (tests/conftest.py), served from a copy."""
    return demo_workdir


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    url: str
    data: Path
    tokens: dict[str, str]

    def get(self, path: str, user: str = "analyst") -> Any:
        """A JSON answer of the API (for checks made beside the browser)."""
        import json

        req = urllib.request.Request(
            f"{self.url}api/v1{path}", headers={"Authorization": f"Bearer {self.tokens[user]}"}
        )
        with urllib.request.urlopen(req, timeout=60) as res:
            return json.load(res)


@pytest.fixture(scope="module")
def served(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A copy of the demo dataset with the demo case as `cases/demo`, served on loopback by
    `chainsleuth serve`."""
    work = tmp_path_factory.mktemp("served")
    data = work / "dataset"
    shutil.copytree(
        demo_dir / "dataset",
        data,
        ignore=shutil.ignore_patterns("_tmp", "cases", "users.json", "audit.log"),
    )
    (data / "cases").mkdir(exist_ok=True)
    shutil.copytree(demo_dir / "case", data / "cases" / CASE)
    tokens = {
        "analyst": add_user(data, "ana", "analyst"),
        "viewer": add_user(data, "vic", "viewer"),
    }
    port = _free_port()
    log = (work / "server.log").open("w")
    proc = subprocess.Popen(
        [*CLI, "serve", "--data", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}api/v1/health", timeout=5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((work / "server.log").read_text()) from None
                time.sleep(0.3)
        yield Served(url, data, tokens)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@dataclass
class Browser:
    page: Any
    outside: list[str] = field(default_factory=list)  # requests aborted: not to the server
    errors: list[str] = field(default_factory=list)  # uncaught page errors


@pytest.fixture()
def browser(served: Served) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync = pytest.importorskip("playwright.sync_api")
    server = urlsplit(served.url).netloc
    with sync.sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-background-networking"],
        )
        try:
            context = chromium.new_context(
                viewport={"width": 1280, "height": 800}, accept_downloads=True
            )
            out = Browser(context.new_page())

            def guard(route: Any) -> None:
                url = route.request.url
                if (
                    url.startswith("data:")
                    or url.startswith("blob:")
                    or urlsplit(url).netloc == server
                ):
                    route.continue_()
                else:
                    out.outside.append(url)
                    route.abort()

            context.route("**/*", guard)
            out.page.on("pageerror", lambda e: out.errors.append(str(e)))
            yield out
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots and exports are kept (CHAINSLEUTH_TEST_ARTEFACTS, else a tmp dir)."""
    given = os.environ.get("CHAINSLEUTH_TEST_ARTEFACTS")
    if given:
        path = Path(given) / "explorer"
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("explorer-artefacts")
