"""Bulk endpoint (role viewer): profiles of many addresses in one request, as JSON or CSV,
at most ``ApiLimits.max_bulk`` addresses (more: 413, nothing looked up). The rows are
:func:`chainsleuth.api.bulkprofiles.address_rows`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from chainsleuth.api.auth import requires
from chainsleuth.api.bulkprofiles import address_rows, to_csv
from chainsleuth.api.problems import PROBLEMS
from chainsleuth.api.routeexamples import response_example
from chainsleuth.api.state import ServerState, get_state
from chainsleuth.errors import UserError

router = APIRouter(tags=["bulk"], responses=PROBLEMS)

_ADDRESS = "bcrt1qgwpxpk02xu78583z5jxzjzyu53v0e3nwxvxu7n"


class TooManyAddresses(UserError):
    """A bulk request past ``max_bulk`` (HTTP 413)."""

    http_status = 413


class BulkIn(BaseModel):
    """Addresses to profile (at most the server's max_bulk) and the answer's format."""

    addresses: list[Annotated[str, Field(max_length=200)]] = Field(
        min_length=1, examples=[[_ADDRESS, "bcrt1q3y6n57s8m4sjwhgsggdtktxq6q9wtv0ampuw5c"]]
    )
    format: Literal["json", "csv"] = Field("json", examples=["json"])


class AddressRow(BaseModel):
    """One address: totals as ``show ADDRESS``, cluster and labels; ``error`` set (and the
    rest null) for an address the dataset does not hold."""

    address: str = Field(examples=[_ADDRESS])
    error: str | None = Field(None, examples=[None])
    addr_id: int | None = Field(None, examples=[183211])
    script_type: str | None = Field(None, examples=["witness_v0_keyhash"])
    first_height: int | None = Field(None, examples=[640])
    last_height: int | None = Field(None, examples=[712])
    n_txs: int | None = Field(None, examples=[2])
    n_outputs_received: int | None = Field(None, examples=[1])
    received: int | None = Field(None, examples=[854064])
    n_outputs_spent: int | None = Field(None, examples=[1])
    spent: int | None = Field(None, examples=[854064])
    balance: int | None = Field(None, examples=[0])
    cluster: int | None = Field(None, examples=[93465])
    cluster_label: str | None = Field(None, examples=["darkmarket (market, manual_transaction)"])
    labels: list[str] = Field(default_factory=list, examples=[["darkmarket (market, forensic)"]])


class BulkOut(BaseModel):
    """One row per address asked about, in the order given."""

    items: list[AddressRow]


@router.post(
    "/bulk/addresses",
    dependencies=[requires("viewer")],
    response_model=BulkOut,
    responses={
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                **response_example("bulk_addresses")[200]["content"],
            }
        },
        413: PROBLEMS[413],
    },
)
def bulk_addresses(body: BulkIn, state: Annotated[ServerState, Depends(get_state)]) -> Response:
    """Profiles of up to max_bulk addresses: JSON ``{"items": [...]}`` or CSV (one row each,
    labels ``;``-separated); an unknown address is a row with ``error``, not a failure."""
    limit = state.limits.max_bulk
    if len(body.addresses) > limit:
        raise TooManyAddresses(
            f"{len(body.addresses)} addresses is above the server's max_bulk {limit}"
        )
    with state.dataset() as ds:
        rows = address_rows(ds, body.addresses, state.clustering(ds))
    if body.format == "csv":
        return Response(to_csv(rows), media_type="text/csv; charset=utf-8")
    return Response(
        BulkOut(items=[AddressRow(**r) for r in rows]).model_dump_json(),
        media_type="application/json",
    )
