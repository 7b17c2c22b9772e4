"""Job endpoints (role analyst): start an investigation as a background job, follow it.

``POST /jobs/investigate`` checks the request at once (case name, seeds present in the dataset,
hops and seeds within the server's limits, known categories, a fresh clustering run) and
answers 202 with the queued job; the investigation runs in a child process
(:mod:`chainsleuth.api.jobrunner`) writing ``DATASET/cases/<name>/``. ``GET /jobs`` lists the
caller's jobs (an admin's: everyone's), ``GET /jobs/{id}`` one of them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from chainsleuth.api.auth import Principal, current_principal, requires
from chainsleuth.api.casestore import check_case_name
from chainsleuth.api.jobrunner import Job, JobRunner, get_jobs
from chainsleuth.api.middleware import API_PREFIX
from chainsleuth.api.pagination import Page, PageParams, encode_cursor
from chainsleuth.api.problems import PROBLEMS, problem_body
from chainsleuth.api.routeexamples import response_example
from chainsleuth.api.state import ServerState, get_state
from chainsleuth.errors import InputError

router = APIRouter(tags=["jobs"], responses=PROBLEMS)
ANALYST = [requires("analyst")]

_SEED = "bcrt1qgwpxpk02xu78583z5jxzjzyu53v0e3nwxvxu7n"
_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "Too Many Requests",
        "content": {
            "application/problem+json": {
                "example": problem_body(
                    429, "user alice has 2 jobs queued or running already (jobs_per_token 2)"
                )
            }
        },
    },
    409: {
        "description": "Conflict",
        "content": {
            "application/problem+json": {
                "example": problem_body(409, "case exists already: darkmarket")
            }
        },
    },
}


class InvestigateIn(BaseModel):
    """``chainsleuth investigate service`` as a job: the case name and the verb's options
    (defaults as the CLI's)."""

    name: str = Field(
        min_length=1, max_length=64, examples=["darkmarket"], description="Case name."
    )
    seeds: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, examples=[[_SEED]], description="Seed addresses (at most max_trace_seeds)."
    )
    hops: int = Field(6, ge=1, examples=[6], description="At most max_trace_hops.")
    policy: Literal["poison", "haircut", "fifo"] = Field("haircut", examples=["haircut"])
    stop_at: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=lambda: ["exchange"], min_length=1, max_length=64, examples=[["exchange"]]
    )
    min_value: float = Field(1000.0, ge=0, examples=[1000.0])
    max_service_share: float = Field(0.25, gt=0, le=1, examples=[0.25])
    report: list[Literal["html", "pdf"]] = Field(
        default_factory=list, max_length=2, examples=[["html"]],
        description="Also write the case report (report.html / report.pdf).",
    )  # fmt: skip


class JobOut(BaseModel):
    """A job: ``status`` queued → running → done | failed; ``progress`` 0-1 with the current
    ``step``; ``case`` the case folder it writes; ``error`` the one-line reason it failed;
    ``summary`` the investigation's figures when done."""

    id: str = Field(examples=["3f2a9c0d1e4b5a67"])
    owner: str = Field(examples=["alice"])
    status: Literal["queued", "running", "done", "failed"] = Field(examples=["running"])
    progress: float = Field(examples=[0.4])
    step: str | None = Field(None, examples=["grouping customers"])
    case: str = Field(examples=["darkmarket"])
    error: str | None = Field(None, examples=[None])
    created: str = Field(examples=["2026-12-05T16:30:00Z"])
    started: str | None = Field(None, examples=["2026-12-05T16:30:00Z"])
    finished: str | None = Field(None, examples=[None])
    params: dict[str, Any] = Field(examples=[{"seeds": [_SEED], "hops": 6}])
    summary: dict[str, Any] | None = Field(None, examples=[None])
    exit_code: int | None = Field(None, examples=[None])


def _out(job: Job) -> JobOut:
    return JobOut(**job.to_dict())


@router.post(
    "/jobs/investigate",
    status_code=202,
    dependencies=ANALYST,
    responses={**_LIMITED, **response_example("submit_investigation", 202)},
)
def submit_investigation(
    body: InvestigateIn,
    state: Annotated[ServerState, Depends(get_state)],
    principal: Annotated[Principal, Depends(current_principal)],
    jobs: Annotated[JobRunner, Depends(get_jobs)],
    response: Response,
) -> JobOut:
    """Start ``investigate service`` on the seeds as a background job writing case ``name``;
    202 with the queued job (poll ``GET /jobs/{id}``). 429 past the concurrent-job limits, 409
    for a case name in use."""
    from chainsleuth.tags.taxonomy import CATEGORIES

    limits = state.limits
    check_case_name(body.name)
    if body.hops > limits.max_trace_hops:
        raise InputError(
            f"hops {body.hops} is above the server's max_trace_hops {limits.max_trace_hops}"
        )
    if len(body.seeds) > limits.max_trace_seeds:
        raise InputError(
            f"{len(body.seeds)} seeds is above the server's max_trace_seeds "
            f"{limits.max_trace_seeds}"
        )
    stop_at = [c.strip().lower() for c in body.stop_at]
    for given, value in zip(body.stop_at, stop_at, strict=True):
        if value not in CATEGORIES:
            raise InputError(
                f"stop_at: unknown category {given!r} (valid: {', '.join(CATEGORIES)})"
            )
    with state.dataset() as ds:
        run = state.clustering(ds)  # StaleRunError (409) before any work
        if run is None:
            raise InputError("no clustering run in this dataset: run `chainsleuth cluster` first")
        for seed in body.seeds:
            ds.addr_id(seed)  # NotFoundError naming a seed the dataset does not have
    options: dict[str, Any] = {
        "clustering": run,
        "hops": body.hops,
        "policy": body.policy,
        "stop_at": stop_at,
        "min_value": body.min_value,
        "max_service_share": body.max_service_share,
        "report": list(body.report),
        "allow_stale": state.allow_stale,
    }
    job = jobs.submit(principal.name, body.name, body.seeds, options)
    response.headers["Location"] = f"{API_PREFIX}/jobs/{job.id}"
    return _out(job)


@router.get("/jobs", dependencies=ANALYST, responses=response_example("list_jobs"))
def list_jobs(
    principal: Annotated[Principal, Depends(current_principal)],
    jobs: Annotated[JobRunner, Depends(get_jobs)],
    page: Annotated[PageParams, Depends()],
) -> Page[JobOut]:
    """The caller's jobs, newest first (an admin sees every user's)."""
    offset = (page.position() or {}).get("offset", 0)
    if not isinstance(offset, int) or offset < 0:
        raise InputError("bad cursor")
    found = jobs.jobs(None if principal.role == "admin" else principal.name)
    chunk = found[offset : offset + page.limit]
    more = offset + page.limit < len(found)
    return Page[JobOut](
        items=[_out(j) for j in chunk],
        next_cursor=encode_cursor({"offset": offset + page.limit}) if more else None,
        total=len(found),
    )


@router.get("/jobs/{job_id}", dependencies=ANALYST, responses=response_example("get_job"))
def get_job(
    job_id: Annotated[str, PathParam(max_length=64, examples=["3f2a9c0d1e4b5a67"])],
    principal: Annotated[Principal, Depends(current_principal)],
    jobs: Annotated[JobRunner, Depends(get_jobs)],
) -> JobOut:
    """One job (404 for another user's job unless the caller is an admin)."""
    return _out(jobs.get(job_id, None if principal.role == "admin" else principal.name))
