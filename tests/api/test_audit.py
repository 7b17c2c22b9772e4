"""The audit log: every request chained by hashes; edits and deletions found by
``chainsleuth audit verify``, naming the first bad line."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chainsleuth.api.audit import GENESIS, AuditLog, entry_hash, verify

CliRun = Callable[..., tuple[int, str, str]]


@pytest.fixture()
def logged(
    client: TestClient, auth: Callable[[str], dict[str, str]], api_data: Path, tmp_path: Path
) -> Path:
    """A dataset folder holding a copy of the served log after a few more requests."""
    client.get("/api/v1/me", headers=auth("viewer"))
    client.get("/api/v1/me")
    client.get("/api/v1/blocks/1", headers=auth("admin"), params={"x": "1' OR '1'='1"})
    data = tmp_path / "ds"
    data.mkdir()
    shutil.copy(api_data / "manifest.json", data / "manifest.json")
    shutil.copy(api_data / "audit.log", data / "audit.log")
    shutil.copy(api_data / "audit.head.json", data / "audit.head.json")
    return data


def test_entries_name_caller_request_and_result(
    client: TestClient, auth: Callable[[str], dict[str, str]], api_data: Path,
    audit_lines: Callable[[Path], list[str]],
) -> None:  # fmt: skip
    client.get("/api/v1/health")
    r = client.get("/api/v1/blocks/3", headers=auth("analyst"), params={"unused": "a;b"})
    last = json.loads(audit_lines(api_data)[-1])
    assert last["user"] == "analyst-user" and last["role"] == "analyst"
    assert (last["method"], last["path"], last["status"]) == ("GET", "/api/v1/blocks/3", 200)
    assert last["params"] == {"unused": "a;b"}
    assert last["result_bytes"] == len(r.content)
    assert last["hash"] == entry_hash(last)
    assert "Bearer" not in audit_lines(api_data)[-1]
    previous = json.loads(audit_lines(api_data)[-2])
    assert last["prev_hash"] == previous["hash"]


def test_intact_log_verifies(logged: Path, cli_run: CliRun) -> None:
    n = len((logged / "audit.log").read_text().splitlines())
    code, out, _ = cli_run("audit", "verify", "--data", str(logged))
    assert code == 0
    assert out.splitlines()[0] == f"audit log intact: {n} entries"


@pytest.mark.parametrize("how", ["edit", "delete", "delete-last", "reorder"])
def test_tampering_is_detected(logged: Path, cli_run: CliRun, how: str) -> None:
    log = logged / "audit.log"
    lines = log.read_text().splitlines()
    assert len(lines) >= 3
    k = len(lines) - 2  # 1-based line number of the line to change
    if how == "edit":
        entry = json.loads(lines[k - 1])
        entry["status"] = 200 if entry["status"] != 200 else 404
        lines[k - 1] = json.dumps(entry, sort_keys=True, separators=(",", ":"))
        bad = k
    elif how == "delete":
        del lines[k - 1]
        bad = k  # the line after it no longer chains
    elif how == "delete-last":
        lines.pop()
        bad = len(lines) + 1  # the head file remembers one more entry
    else:
        lines[k - 1], lines[k] = lines[k], lines[k - 1]
        bad = k
    log.write_text("\n".join(lines) + "\n")
    code, _, err = cli_run("audit", "verify", "--data", str(logged))
    assert code == 2
    assert f"line {bad}:" in err
    assert verify(log).bad_line == bad


def test_concurrent_appends_chain_in_order(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log")

    def work(i: int) -> None:
        for j in range(50):
            log.append({"user": f"u{i}", "n": j})

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = verify(log.path)
    assert (report.ok, report.entries) == (True, 400)
    # a new writer continues the chain where the file ends
    AuditLog(log.path).append({"user": "later"})
    assert verify(log.path).entries == 401
    first = json.loads(log.path.read_text().splitlines()[0])
    assert first["prev_hash"] == GENESIS


def test_refused_requests_are_logged(
    client: TestClient, api_data: Path, audit_lines: Callable[[Path], list[str]]
) -> None:
    client.get("/api/v1/clusters/1", headers={"Authorization": "Bearer nope"})
    last: dict[str, Any] = json.loads(audit_lines(api_data)[-1])
    assert (last["user"], last["role"], last["status"]) == (None, None, 401)


def test_two_writers_on_one_file_keep_one_chain(tmp_path: Path) -> None:
    """Two servers on one dataset (two AuditLog objects: the same as two processes, whose
    appends the file lock orders) still write one unbroken chain."""
    a, b = AuditLog(tmp_path / "audit.log"), AuditLog(tmp_path / "audit.log")
    for i in range(20):
        (a if i % 3 else b).append({"n": i})
    report = verify(tmp_path / "audit.log")
    assert (report.ok, report.entries) == (True, 20)
