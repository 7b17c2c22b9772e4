"""Tag endpoints: list and search (viewer), add, edit and remove one tag (analyst), import a TagPack
or tag CSV (admin). The logic is :mod:`chainsleuth.api.tagedits` over the dataset's tag store."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from chainsleuth.api.auth import Principal, current_principal, requires
from chainsleuth.api.pagination import Page, PageParams, encode_cursor
from chainsleuth.api.problems import PROBLEMS
from chainsleuth.api.routeexamples import response_example
from chainsleuth.api.state import ServerState, get_state
from chainsleuth.api.tagedits import (
    add_tag,
    find_tags,
    import_text,
    remove_tag,
    replace_tag,
    tag_json,
)
from chainsleuth.errors import InputError

router = APIRouter(tags=["tags"], responses=PROBLEMS)

_EXAMPLE_ADDRESS = "bcrt1qgwpxpk02xu78583z5jxzjzyu53v0e3nwxvxu7n"
_IMPORT_TYPES = {
    "application/yaml": ".yaml",
    "application/x-yaml": ".yaml",
    "text/yaml": ".yaml",
    "text/x-yaml": ".yaml",
    "text/csv": ".csv",
}
_FORMATS = {"tagpack": ".yaml", "csv": ".csv"}


class TagOut(BaseModel):
    """A stored tag with its API id (``analyst``: who added it through the API, else null)."""

    id: str = Field(examples=["0c68b33866afad30"])
    target_kind: str = Field(examples=["address"])
    target: str = Field(examples=[_EXAMPLE_ADDRESS])
    label: str = Field(examples=["darkmarket deposit"])
    category: str | None = Field(None, examples=["market"])
    abuse: str | None = Field(None, examples=[None])
    actor: str | None = Field(None, examples=["darkmarket"])
    source: str = Field(examples=["test purchase, order 17"])
    confidence: str = Field(examples=["manual_transaction"])
    confidence_level: int = Field(examples=[90])
    context: str | None = Field(None, examples=['{"analyst": "alice", "via": "api"}'])
    created: str = Field(examples=["2025-03-06T10:00:00Z"])
    lastmod: str = Field(examples=["2025-03-06T10:00:00Z"])
    pack: str = Field(examples=["analyst:alice"])
    analyst: str | None = Field(None, examples=["alice"])


class TagIn(BaseModel):
    """One tag an analyst adds. ``confidence``: a level 0-100 (stored as the named level at or
    below it, e.g. 95 → manual_transaction) or a confidence name; ``context``: a free note."""

    target_kind: Literal["address", "cluster"] = Field("address", examples=["address"])
    target: str = Field(
        min_length=1,
        max_length=200,
        description="An address of the dataset; for kind cluster also `cluster:N`.",
        examples=[_EXAMPLE_ADDRESS],
    )
    label: str = Field(min_length=1, max_length=200, examples=["darkmarket deposit"])
    category: str | None = Field(None, max_length=64, examples=["market"])
    abuse: str | None = Field(None, max_length=64, examples=[None])
    actor: str | None = Field(None, max_length=200, examples=["darkmarket"])
    source: str = Field(min_length=1, max_length=500, examples=["test purchase, order 17"])
    confidence: int | str = Field(examples=[90])
    context: str | None = Field(None, max_length=2000, examples=["paid 0.01 BTC on 2025-03-01"])


class ImportOut(BaseModel):
    """What an import stored: tags per pack, earlier tags replaced, tags in the store now."""

    files: list[str] = Field(examples=[["upload.yaml"]])
    packs: dict[str, int] = Field(examples=[{"Exchange deposit addresses": 3000}])
    replaced: int = Field(examples=[0])
    total: int = Field(examples=[3163])


@router.get("/tags", dependencies=[requires("viewer")], responses=response_example("list_tags"))
def list_tags(
    state: Annotated[ServerState, Depends(get_state)],
    page: Annotated[PageParams, Depends()],
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Text in target, label, actor, category, source, pack or context.",
            examples=["exchange"],
        ),
    ] = None,
    target: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Only tags on this target (`cluster:N`: every member's tags).",
            examples=[_EXAMPLE_ADDRESS],
        ),
    ] = None,
) -> Page[TagOut]:
    """Stored tags, optionally searched (``q``) or of one target, by pack, kind, target,
    label."""
    pos = page.position() or {}
    offset = pos.get("offset", 0)
    if not isinstance(offset, int) or offset < 0:
        raise InputError("bad cursor")
    with state.dataset() as ds:
        tags = find_tags(ds, q, target, state.clustering(ds))
    chunk = tags[offset : offset + page.limit]
    more = offset + page.limit < len(tags)
    return Page[TagOut](
        items=[TagOut(**tag_json(t)) for t in chunk],
        next_cursor=encode_cursor({"offset": offset + page.limit}) if more else None,
        total=len(tags),
    )


@router.post(
    "/tags",
    status_code=201,
    dependencies=[requires("analyst")],
    responses=response_example("create_tag", 201),
)
def create_tag(
    body: TagIn,
    state: Annotated[ServerState, Depends(get_state)],
    principal: Annotated[Principal, Depends(current_principal)],
) -> TagOut:
    """Add a tag on an address or a cluster, recorded as the caller's (pack
    ``analyst:<name>``); the same target and label again replaces it."""
    with state.dataset() as ds:
        by_id = body.target_kind == "cluster" and body.target.lower().startswith("cluster:")
        run = state.clustering(ds) if by_id else None  # only cluster:N needs the run
        tag = add_tag(ds, principal.name, body.model_dump(), run=run)
    return TagOut(**tag_json(tag))


@router.delete(
    "/tags/{tag_id}", dependencies=[requires("analyst")], responses=response_example("delete_tag")
)
def delete_tag(
    tag_id: Annotated[str, PathParam(max_length=64, examples=["0c68b33866afad30"])],
    state: Annotated[ServerState, Depends(get_state)],
    principal: Annotated[Principal, Depends(current_principal)],
) -> TagOut:
    """Remove a tag: an analyst their own, an admin any; returns the removed tag."""
    with state.dataset() as ds:
        tag = remove_tag(ds, tag_id, principal.name, may_remove_any=principal.role == "admin")
    return TagOut(**tag_json(tag))


@router.put(
    "/tags/{tag_id}", dependencies=[requires("analyst")], responses=response_example("replace_tag")
)
def edit_tag(
    tag_id: Annotated[str, PathParam(max_length=64, examples=["0c68b33866afad30"])],
    body: TagIn,
    state: Annotated[ServerState, Depends(get_state)],
    principal: Annotated[Principal, Depends(current_principal)],
) -> TagOut:
    """Edit a tag (an analyst their own, an admin any): it is replaced by the body in one write,
    staying in its pack and keeping its creation time; returns the tag as stored (a new id when
    the target or label changed)."""
    with state.dataset() as ds:
        by_id = body.target_kind == "cluster" and body.target.lower().startswith("cluster:")
        run = state.clustering(ds) if by_id else None
        tag = replace_tag(
            ds,
            tag_id,
            principal.name,
            body.model_dump(),
            may_edit_any=principal.role == "admin",
            run=run,
        )
    return TagOut(**tag_json(tag))


def _suffix(request: Request, fmt: str | None) -> str:
    if fmt is not None:
        return _FORMATS[fmt]
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in _IMPORT_TYPES:
        return _IMPORT_TYPES[media]
    raise InputError(
        f"say what the body is: format=tagpack|csv, or Content-Type one of "
        f"{', '.join(_IMPORT_TYPES)} (got {media or 'none'!r})"
    )


@router.post(
    "/tags/import",
    dependencies=[requires("admin")],
    responses=response_example("import_tags"),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A TagPack (YAML) or a tag CSV, as `chainsleuth tags import` reads.",
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "target,label,source,confidence,category\n"
                    f"{_EXAMPLE_ADDRESS},darkmarket,test purchase,manual_transaction,market\n",
                },
            },
        }
    },
)
async def import_tags(
    request: Request,
    state: Annotated[ServerState, Depends(get_state)],
    fmt: Annotated[
        Literal["tagpack", "csv"] | None,
        Query(alias="format", description="Body format (default: from Content-Type)."),
    ] = None,
) -> ImportOut:
    """Import a TagPack or tag CSV, all or nothing (a pack imported again replaces its
    tags); errors name ``upload.yaml:LINE: field``."""
    suffix = _suffix(request, fmt)
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("the body is not UTF-8 text") from None

    def run() -> dict[str, Any]:
        with state.dataset() as ds:
            report = import_text(ds, text, suffix)
        return {
            "files": report.files,
            "packs": report.packs,
            "replaced": report.replaced,
            "total": report.total,
        }

    return ImportOut(**await run_in_threadpool(run))
