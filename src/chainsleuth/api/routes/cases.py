"""Case endpoints: the case folders under ``DATASET/cases/`` (viewer reads; analysts annotate
and save the explorer's file). The logic is :mod:`chainsleuth.api.casestore`.

A case name that is not ``^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`` (``..``, a slash, a NUL, an
absolute path) is refused with 400 before any file is touched; only the files of
:data:`~chainsleuth.api.casestore.SERVED_FILES` are served.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from chainsleuth.api import casestore
from chainsleuth.api.auth import Principal, current_principal, requires
from chainsleuth.api.jobrunner import JobRunner, get_jobs
from chainsleuth.api.pagination import Page, PageParams, encode_cursor
from chainsleuth.api.problems import PROBLEMS
from chainsleuth.api.routeexamples import response_example
from chainsleuth.api.state import ServerState, get_state
from chainsleuth.errors import InputError

router = APIRouter(tags=["cases"], responses=PROBLEMS)
VIEWER = [requires("viewer")]
ANALYST = [requires("analyst")]

CaseName = Annotated[
    str,
    PathParam(
        max_length=200,
        description="Case name: letters, digits, `_ . -`, at most 64, not starting with . or -.",
        examples=["darkmarket"],
    ),
]
_FILE_FORMATS: dict[str, Any] = {
    media: {"schema": {"type": "string"}}
    for media in dict.fromkeys(casestore.SERVED_FILES.values())
}
_FILE_FORMATS["text/csv; charset=utf-8"] = {
    "schema": {"type": "string"},
    **response_example("case_file").get(200, {}).get("content", {}).get("application/json", {}),
}
_EXPORT_MEDIA: dict[str, Any] = {
    media: {"schema": {"type": "string"}} for media, _ in casestore.EXPORT_FORMATS.values()
}
_EXPORT_MEDIA["application/json"] = {
    "schema": {"type": "object"},
    **response_example("export_case").get(200, {}).get("content", {}).get("application/json", {}),
}
_TOO_LARGE: dict[int | str, dict[str, Any]] = {413: PROBLEMS[413]}
_BUSY: dict[int | str, dict[str, Any]] = {409: PROBLEMS[409]}


class CaseItem(BaseModel):
    """A case folder: its files, ``case.json``'s summary figures and seeds, last change."""

    name: str = Field(examples=["darkmarket"])
    files: list[str] = Field(examples=[["leads.csv", "requests.csv", "case.json"]])
    summary: dict[str, Any] | None = Field(
        examples=[{"income_sats": 1341069998, "payments": 1534, "customers": 589}]
    )
    seeds: list[str] = Field(examples=[["bcrt1qgwpxpk02xu78583z5jxzjzyu53v0e3nwxvxu7n"]])
    modified: str = Field(examples=["2026-12-05T16:05:12Z"])


class AnnotationIn(BaseModel):
    """A note on a node (``cluster:12``, an address, a txid) or an edge
    (``cluster:12->cluster:40``)."""

    target: str = Field(min_length=1, max_length=300, examples=["cluster:1051"])
    text: str = Field(min_length=1, max_length=10_000, examples=["service hot wallet"])


class Annotation(BaseModel):
    """A stored note, with who wrote it and when (UTC)."""

    id: str = Field(examples=["5f0c9a1e2b3d4c5e"])
    time: str = Field(examples=["2026-12-05T16:30:00.000Z"])
    analyst: str = Field(examples=["alice"])
    target: str = Field(examples=["cluster:1051"])
    text: str = Field(examples=["service hot wallet"])


class ExplorerSaved(BaseModel):
    """Where the explorer file went and its size."""

    case: str = Field(examples=["darkmarket"])
    bytes: int = Field(examples=[2048])


def _offset(page: PageParams) -> int:
    offset = (page.position() or {}).get("offset", 0)
    if not isinstance(offset, int) or offset < 0:
        raise InputError("bad cursor")
    return offset


def _refuse_busy(jobs: JobRunner, name: str) -> None:
    if name in jobs.busy_cases():
        raise casestore.CaseBusyError(f"case {name} is being written by a running job")


@router.get("/cases", dependencies=VIEWER, responses=response_example("list_cases"))
def list_cases(
    state: Annotated[ServerState, Depends(get_state)],
    page: Annotated[PageParams, Depends()],
) -> Page[CaseItem]:
    """The dataset's case folders, by name."""
    offset = _offset(page)
    cases = casestore.list_cases(state.data)
    chunk = cases[offset : offset + page.limit]
    more = offset + page.limit < len(cases)
    return Page[CaseItem](
        items=[CaseItem(**c) for c in chunk],
        next_cursor=encode_cursor({"offset": offset + page.limit}) if more else None,
        total=len(cases),
    )


@router.get("/cases/{name}", dependencies=VIEWER, responses=response_example("get_case"))
def get_case(name: CaseName, state: Annotated[ServerState, Depends(get_state)]) -> dict[str, Any]:
    """The case's ``case.json`` (docs/case-files.md): parameters, summary, service, customers,
    cash-outs, findings."""
    return casestore.read_case_json(state.data, name)


@router.get("/cases/{name}/leads", dependencies=VIEWER, responses=response_example("case_leads"))
def case_leads(
    name: CaseName,
    state: Annotated[ServerState, Depends(get_state)],
    page: Annotated[PageParams, Depends()],
) -> Page[dict[str, str]]:
    """Rows of the case's ``leads.csv`` (one per customer payment), as written."""
    offset = _offset(page)
    rows, total = casestore.read_leads(state.data, name, offset, page.limit)
    more = offset + page.limit < total
    return Page[dict[str, str]](
        items=rows,
        next_cursor=encode_cursor({"offset": offset + page.limit}) if more else None,
        total=total,
    )


@router.get(
    "/cases/{name}/files/{file}",
    dependencies=VIEWER,
    response_class=Response,
    responses={200: {"description": "The file.", "content": _FILE_FORMATS}},
)
def case_file(
    name: CaseName,
    file: Annotated[
        Literal["leads.csv", "requests.csv", "case.json", "report.html", "report.pdf"],
        PathParam(description="One of the case's files."),
    ],
    state: Annotated[ServerState, Depends(get_state)],
) -> Response:
    """One file of the case as written (leads.csv, requests.csv, case.json, report.html,
    report.pdf); the HTML report is served sandboxed (no scripts)."""
    data, media = casestore.served_file(state.data, name, file)
    headers = {"X-Content-Type-Options": "nosniff"}
    if file.endswith(".html"):
        headers["Content-Security-Policy"] = "sandbox"
    return Response(content=data, media_type=media, headers=headers)


@router.get(
    "/cases/{name}/annotations",
    dependencies=VIEWER,
    responses=response_example("case_annotations"),
)
def case_annotations(
    name: CaseName,
    state: Annotated[ServerState, Depends(get_state)],
    page: Annotated[PageParams, Depends()],
    target: Annotated[
        str | None, Query(max_length=300, description="Only notes on this node or edge.")
    ] = None,
) -> Page[Annotation]:
    """The case's notes in the order written."""
    offset = _offset(page)
    notes = casestore.list_annotations(state.data, name, target)
    chunk = notes[offset : offset + page.limit]
    more = offset + page.limit < len(notes)
    return Page[Annotation](
        items=[Annotation(**n) for n in chunk],
        next_cursor=encode_cursor({"offset": offset + page.limit}) if more else None,
        total=len(notes),
    )


@router.post(
    "/cases/{name}/annotations",
    status_code=201,
    dependencies=ANALYST,
    responses={**_TOO_LARGE, **_BUSY, **response_example("add_annotation", 201)},
)
def add_annotation(
    name: CaseName,
    body: AnnotationIn,
    state: Annotated[ServerState, Depends(get_state)],
    principal: Annotated[Principal, Depends(current_principal)],
    jobs: Annotated[JobRunner, Depends(get_jobs)],
) -> Annotation:
    """Add a note on a node or edge of the case, recorded with the caller and the time
    (append-only)."""
    _refuse_busy(jobs, name)
    record = casestore.add_annotation(state.data, name, principal.name, body.target, body.text)
    return Annotation(**record)


@router.get(
    "/cases/{name}/explorer", dependencies=VIEWER, responses=response_example("get_explorer")
)
def get_explorer(
    name: CaseName, state: Annotated[ServerState, Depends(get_state)]
) -> dict[str, Any]:
    """The web explorer's saved file of this case (a JSON object with ``"version": 1``)."""
    return casestore.read_explorer(state.data, name)


@router.put(
    "/cases/{name}/explorer",
    dependencies=ANALYST,
    responses={**_TOO_LARGE, **_BUSY, **response_example("put_explorer")},
)
def put_explorer(
    name: CaseName,
    doc: Annotated[
        dict[str, Any],
        Body(
            description='The explorer\'s file: a JSON object with "version": 1 (at most 16 MB).',
            examples=[{"version": 1, "nodes": [], "edges": []}],
        ),
    ],
    state: Annotated[ServerState, Depends(get_state)],
    jobs: Annotated[JobRunner, Depends(get_jobs)],
) -> ExplorerSaved:
    """Save the web explorer's file for this case (replacing the previous one atomically; the
    case folder is created if needed)."""
    _refuse_busy(jobs, name)
    size = casestore.write_explorer(state.data, name, doc, state.limits.max_explorer_bytes)
    return ExplorerSaved(case=name, bytes=size)


@router.get(
    "/cases/{name}/export",
    dependencies=VIEWER,
    response_class=Response,
    responses={200: {"description": "The case graph.", "content": _EXPORT_MEDIA}},
)
def export_case(
    name: CaseName,
    state: Annotated[ServerState, Depends(get_state)],
    fmt: Annotated[
        Literal["graphml", "gexf", "json"],
        Query(alias="format", description="graphml, gexf (Gephi, networkx) or the case JSON."),
    ],
    level: Annotated[
        Literal["cluster", "address", "tx"], Query(description="Graph nodes: clusters, ...")
    ] = "cluster",
) -> Response:
    """The case graph as ``chainsleuth export CASE --format F --level L`` writes it."""
    data = casestore.export_case_bytes(state.data, name, fmt, level)
    media, suffix = casestore.EXPORT_FORMATS[fmt]
    disposition = f'attachment; filename="{name}-{level}.{suffix}"'
    return Response(content=data, media_type=media, headers={"Content-Disposition": disposition})
