"""Investigation jobs: a job runs out of process to ``done`` and its case equals
``investigate service`` run directly; a failing job reports the CLI's one-line error; the
concurrent-job limits answer 429; a job never holds the request that started it."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chainsleuth.api.app import create_app
from chainsleuth.api.jobrunner import Job, JobRunner
from chainsleuth.api.limits import ApiLimits
from chainsleuth.cli import main

Auth = Callable[[str], dict[str, str]]
SERVICE = "bcrt1qmly6wxw3mvegvr0z7c3c8h0rp3lgvvmy2kyeh8"
EXCHANGE_ONE = "bcrt1q57jxq2ww5f3alrhu3ydxkf8py58s9wgcayuecx"


def _wait(client: TestClient, headers: dict[str, str], ident: str, timeout: float = 120) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = client.get(f"/api/v1/jobs/{ident}", headers=headers).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {ident} did not end in {timeout} s")


@pytest.fixture
def limited(
    api_data: Path, tokens: dict[str, str], tmp_path: Path
) -> Iterator[Callable[[ApiLimits], TestClient]]:
    """``limited(limits)``: a client of a fresh copy of the dataset served with ``limits``."""
    apps: list[Any] = []

    def make(limits: ApiLimits) -> TestClient:
        path = tmp_path / f"d{len(apps)}"
        shutil.copytree(api_data, path, ignore=shutil.ignore_patterns("cases", "jobs", "audit*"))
        app = create_app(path, limits=limits)
        apps.append(app)
        return TestClient(app, raise_server_exceptions=False)

    yield make
    for app in apps:
        jobs = getattr(app.state, "jobs", None)
        if jobs is not None:
            for job in jobs.jobs():
                jobs.wait(job.id, 120)
        app.state.server.close()


def test_job_runs_to_done_and_equals_the_cli(
    client: TestClient,
    auth: Auth,
    api_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    r = client.post(
        "/api/v1/jobs/investigate",
        json={"name": "job-case-1", "seeds": [SERVICE], "hops": 6},
        headers=auth("analyst"),
    )
    assert r.status_code == 202, r.text
    assert time.monotonic() - started < 5  # the request does not wait for the investigation
    job = r.json()
    assert job["status"] in ("queued", "running") and job["case"] == "job-case-1"
    assert r.headers["location"] == f"/api/v1/jobs/{job['id']}"
    done = _wait(client, auth("analyst"), job["id"])
    assert done["status"] == "done", done
    assert (done["progress"], done["step"], done["error"], done["exit_code"]) == (
        1.0,
        "done",
        None,
        0,
    )

    direct = tmp_path / "direct"
    capsys.readouterr()
    args = ["investigate", "service", "--data", str(api_data), "--seed", SERVICE]
    assert main([*args, "--out", str(direct), "--json"]) == 0
    cli_summary = json.loads(capsys.readouterr().out)
    case = api_data / "cases" / "job-case-1"
    for name in ("leads.csv", "requests.csv"):
        served = client.get(f"/api/v1/cases/job-case-1/files/{name}", headers=auth("viewer"))
        assert served.status_code == 200
        assert served.content == (direct / name).read_bytes() == (case / name).read_bytes()
    ours, theirs = (json.loads((d / "case.json").read_text()) for d in (case, direct))
    for key in ("summary", "customers", "customer_groups", "cashouts", "findings"):
        assert ours[key] == theirs[key], key
    assert {k: v for k, v in done["summary"].items() if k != "case"} == {
        k: v for k, v in cli_summary.items() if k != "case"
    }
    leads = client.get("/api/v1/cases/job-case-1/leads", headers=auth("viewer")).json()
    assert leads["total"] == ours["summary"]["payments"] > 0


def test_failed_job_reports_the_cli_error_line(
    client: TestClient,
    auth: Auth,
    api_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    r = client.post(
        "/api/v1/jobs/investigate",
        json={"name": "job-refused", "seeds": [EXCHANGE_ONE]},
        headers=auth("analyst"),
    )
    assert r.status_code == 202, r.text
    failed = _wait(client, auth("analyst"), r.json()["id"])
    capsys.readouterr()
    args = ["investigate", "service", "--data", str(api_data), "--seed", EXCHANGE_ONE]
    assert main([*args, "--out", str(tmp_path / "x")]) == 2
    cli_error = capsys.readouterr().err.strip().splitlines()[-1]
    assert failed["status"] == "failed" and failed["exit_code"] == 2
    assert cli_error == f"error: {failed['error']}"
    assert "\n" not in failed["error"] and EXCHANGE_ONE in failed["error"]


@pytest.mark.parametrize(
    ("change", "status", "detail"),
    [
        ({"name": "../evil"}, 400, "bad case name '../evil'"),
        ({"name": "a\x00b"}, 400, "bad case name"),
        ({"seeds": ["bcrt1qnotthere"]}, 404, "address not in dataset: bcrt1qnotthere"),
        ({"hops": 11}, 400, "hops 11 is above the server's max_trace_hops 10"),
        ({"seeds": [SERVICE] * 101}, 400, "101 seeds is above the server's max_trace_seeds"),
        ({"stop_at": ["bank"]}, 400, "stop_at: unknown category 'bank'"),
        ({"max_service_share": 2}, 400, "max_service_share"),
        ({"report": ["docx"]}, 400, "report"),
    ],
)
def test_bad_job_requests_are_refused_before_any_work(
    client: TestClient,
    auth: Auth,
    api_data: Path,
    change: dict[str, Any],
    status: int,
    detail: str,
) -> None:
    before = client.get("/api/v1/jobs", headers=auth("admin")).json()["total"]
    body = {"name": "never-made", "seeds": [SERVICE], **change}
    r = client.post("/api/v1/jobs/investigate", json=body, headers=auth("analyst"))
    assert r.status_code == status, r.text
    assert detail in r.json()["detail"]
    assert client.get("/api/v1/jobs", headers=auth("admin")).json()["total"] == before
    assert not (api_data / "cases" / "never-made").exists()


def test_per_user_limit_is_429_and_case_names_are_unique(
    limited: Callable[[ApiLimits], TestClient], auth: Auth
) -> None:
    c = limited(ApiLimits(jobs_per_token=1, jobs_total=4))
    first = c.post(
        "/api/v1/jobs/investigate", json={"name": "a", "seeds": [SERVICE]}, headers=auth("analyst")
    )
    assert first.status_code == 202
    again = c.post(
        "/api/v1/jobs/investigate", json={"name": "b", "seeds": [SERVICE]}, headers=auth("analyst")
    )
    assert again.status_code == 429
    assert "jobs_per_token 1" in again.json()["detail"]
    same = c.post(
        "/api/v1/jobs/investigate", json={"name": "a", "seeds": [SERVICE]}, headers=auth("admin")
    )
    assert same.status_code == 409 and "case exists already: a" in same.json()["detail"]
    busy = c.put("/api/v1/cases/a/explorer", json={"version": 1}, headers=auth("analyst"))
    assert busy.status_code == 409 and "being written by a running job" in busy.json()["detail"]
    assert _wait(c, auth("analyst"), first.json()["id"])["status"] == "done"
    assert (
        c.post(
            "/api/v1/jobs/investigate",
            json={"name": "b", "seeds": [SERVICE]},
            headers=auth("analyst"),
        ).status_code
        == 202
    )  # the ended job no longer counts


def test_total_limit_is_429(limited: Callable[[ApiLimits], TestClient], auth: Auth) -> None:
    c = limited(ApiLimits(jobs_per_token=2, jobs_total=1))
    first = c.post(
        "/api/v1/jobs/investigate", json={"name": "a", "seeds": [SERVICE]}, headers=auth("analyst")
    )
    assert first.status_code == 202
    other = c.post(
        "/api/v1/jobs/investigate", json={"name": "b", "seeds": [SERVICE]}, headers=auth("admin")
    )
    assert other.status_code == 429 and "jobs_total 1" in other.json()["detail"]
    assert _wait(c, auth("analyst"), first.json()["id"])["status"] == "done"


def test_jobs_are_visible_to_their_owner_and_admins(
    limited: Callable[[ApiLimits], TestClient], auth: Auth
) -> None:
    c = limited(ApiLimits())
    mine = c.post(
        "/api/v1/jobs/investigate", json={"name": "m", "seeds": [SERVICE]}, headers=auth("analyst")
    ).json()
    theirs = c.post(
        "/api/v1/jobs/investigate", json={"name": "t", "seeds": [SERVICE]}, headers=auth("admin")
    ).json()
    listed = c.get("/api/v1/jobs", headers=auth("analyst")).json()
    assert [j["id"] for j in listed["items"]] == [mine["id"]]
    assert {j["id"] for j in c.get("/api/v1/jobs", headers=auth("admin")).json()["items"]} == {
        mine["id"],
        theirs["id"],
    }
    assert c.get(f"/api/v1/jobs/{theirs['id']}", headers=auth("analyst")).status_code == 404
    assert c.get(f"/api/v1/jobs/{mine['id']}", headers=auth("admin")).status_code == 200
    assert c.get("/api/v1/jobs", headers=auth("viewer")).status_code == 403
    for ident in (mine["id"], theirs["id"]):
        assert _wait(c, auth("admin"), ident)["status"] == "done"


def test_a_restarted_runner_reports_interrupted_jobs_failed(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    old = Job("abc", "alice", "c", "running", progress=0.5, created="2026-01-01T00:00:00Z")
    (jobs / "abc.json").write_text(json.dumps(old.to_dict()))
    done = Job("def", "bob", "d", "done", progress=1.0, created="2026-01-02T00:00:00Z")
    (jobs / "def.json").write_text(json.dumps(done.to_dict()))
    runner = JobRunner(tmp_path, per_user=1, total=1, memory_limit="1G")
    assert runner.get("abc").status == "failed"
    assert runner.get("abc").error == "the server stopped while the job ran"
    assert runner.get("def").status == "done"
    assert [j.id for j in runner.jobs()] == ["def", "abc"]
    assert json.loads((jobs / "abc.json").read_text())["status"] == "failed"


@pytest.mark.slow
def test_job_on_the_demo_equals_the_demo_case(demo_data: Path, tmp_path: Path) -> None:
    """The demo's investigation, as a job: the same leads and requests as ``chainsleuth demo``
    wrote with ``investigate service`` (its case folder beside the dataset)."""
    from chainsleuth.api.auth import ROLES, UserStore, users_path

    demo_case = demo_data.parent / "case"
    seeds = json.loads((demo_case / "case.json").read_text())["seeds"]
    copy = tmp_path / "dataset"
    shutil.copytree(demo_data, copy, ignore=shutil.ignore_patterns("_tmp", "audit*"))
    store = UserStore(users_path(copy))
    token = {role: store.add(f"{role}-demo", role) for role in ROLES}["analyst"]
    app = create_app(copy)
    try:
        c = TestClient(app, raise_server_exceptions=False)
        h = {"Authorization": f"Bearer {token}"}
        r = c.post("/api/v1/jobs/investigate", json={"name": "demo", "seeds": seeds}, headers=h)
        assert r.status_code == 202, r.text
        assert _wait(c, h, r.json()["id"], timeout=600)["status"] == "done"
        for name in ("leads.csv", "requests.csv"):
            got = c.get(f"/api/v1/cases/demo/files/{name}", headers=h)
            assert got.content == (demo_case / name).read_bytes(), name
    finally:
        app.state.server.close()
