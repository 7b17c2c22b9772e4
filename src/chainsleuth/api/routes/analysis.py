"""Analysis endpoints (role viewer): why two addresses share a cluster, a synchronous trace
under the server's size bounds, and a cluster's exposure by counterparty category.

Each answers what the library behind the CLI answers for the same question, on the served
clustering run: ``explain`` is ``chainsleuth explain --json``
(:func:`~chainsleuth.cluster.explain.explain_link`), ``trace`` is ``chainsleuth trace --json``
(:func:`~chainsleuth.trace.engine.trace` pooled over seeds, then
:func:`~chainsleuth.trace.export.trace_to_dict`), ``exposure`` is
:func:`~chainsleuth.trace.exposure.exposure`. A trace asking for more hops or seeds than
``ApiLimits`` allows, or reaching more nodes than ``max_trace_nodes``, is refused with 400
naming the value and the limit.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from chainsleuth.api.auth import requires
from chainsleuth.api.problems import PROBLEMS
from chainsleuth.api.routeexamples import response_example
from chainsleuth.api.state import ServerState, get_state
from chainsleuth.errors import InputError, NotFoundError

router = APIRouter(tags=["analysis"], responses=PROBLEMS)
VIEWER = [requires("viewer")]

_A = "bcrt1q3y6n57s8m4sjwhgsggdtktxq6q9wtv0ampuw5c"
_B = "bcrt1qgwpxpk02xu78583z5jxzjzyu53v0e3nwxvxu7n"
_TXID = "2162d6f51bf69401d3a9f4efb9cb1765753785fb93ffd908623a0887f8b722ae"


class EvidenceStep(BaseModel):
    """One link: two addresses joined by a transaction under a rule."""

    addr_a: str = Field(examples=["bcrt1q729322lv0z8lck8rmq98qe99g7vyz8ty7l4fef"])
    addr_b: str = Field(examples=[_A])
    txid: str = Field(examples=[_TXID])
    tx_id: int = Field(examples=[37280])
    rule: str = Field(examples=["multi-input"])


class ExplainOut(BaseModel):
    """``chainsleuth explain --json``: whether A and B share a cluster, and the evidence
    path (empty for the same address)."""

    run: str = Field(examples=["default"])
    address_a: str = Field(examples=[_A])
    address_b: str = Field(examples=[_B])
    linked: bool = Field(examples=[True])
    cluster_id: int | None = Field(examples=[93465])
    steps: list[EvidenceStep]


class TraceIn(BaseModel):
    """A trace as ``chainsleuth trace`` takes it (options of the same names and defaults)."""

    seeds: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1,
        examples=[[_B]],
        description="Seed addresses or `cluster:N` (at most max_trace_seeds).",
    )
    direction: Literal["back", "forward"] = Field("back", examples=["back"])
    hops: int = Field(5, ge=1, examples=[3], description="At most max_trace_hops.")
    policy: Literal["poison", "haircut", "fifo"] = Field("haircut", examples=["haircut"])
    stop_at: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=lambda: ["exchange"],
        max_length=64,
        examples=[["exchange"]],
        description="Stop at clusters of these tag categories ([] : nowhere).",
    )
    min_value: float = Field(546.0, ge=0, examples=[546.0], description="Drop flows below N sats.")
    start: str | None = Field(None, max_length=40, examples=["2025-03-01"])
    end: str | None = Field(None, max_length=40, examples=[None])
    max_cluster_size: int | None = Field(None, ge=1, examples=[None])


class TraceOut(BaseModel):
    """``chainsleuth trace --json``: parameters, dataset and run tips, nodes (clusters with
    labels), edges (``src``→``dst`` with txid, value and hop), endpoints, dropped value."""

    parameters: dict[str, Any]
    dataset: dict[str, Any]
    clustering_run: dict[str, Any] | None
    seeds: list[int]
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]] = Field(
        examples=[
            [
                {
                    "src": 1051,
                    "dst": 93465,
                    "txid": _TXID,
                    "time": "2025-03-01T15:50:17Z",
                    "value_sats": 854064,
                    "hop": 1,
                }
            ]
        ]
    )
    endpoints: list[dict[str, Any]]
    below_min_value_sats: int
    seed_value_sats: int
    dropped: list[dict[str, Any]]


class ExposureRowOut(BaseModel):
    """Value of one counterparty category in one direction and scope."""

    direction: str = Field(examples=["incoming"])
    scope: str = Field(examples=["direct"])
    category: str = Field(examples=["exchange"])
    value_sats: int = Field(examples=[854064])
    share: float = Field(examples=[0.42])


class ExposureOut(BaseModel):
    """Exposure of a cluster (``node``) by counterparty category."""

    target: str = Field(examples=[_B])
    node: int = Field(examples=[93465])
    run: str | None = Field(examples=["default"])
    hops: int = Field(examples=[3])
    tip_height: int | None = Field(examples=[830])
    rows: list[ExposureRowOut]


def _check_categories(values: list[str]) -> tuple[str, ...]:
    from chainsleuth.tags.taxonomy import CATEGORIES

    wanted = tuple(v.strip().lower() for v in values)
    for given, value in zip(values, wanted, strict=True):
        if value not in CATEGORIES:
            raise InputError(
                f"stop_at: unknown category {given!r} (valid: {', '.join(CATEGORIES)})"
            )
    return wanted


def _epoch(text: str | None, name: str) -> int | None:
    from chainsleuth.tags.validate import parse_time

    if text is None:
        return None
    try:
        return int(parse_time(text).timestamp())
    except InputError:
        raise InputError(f"{name} is not an ISO date/time: {text!r}") from None


@router.get("/explain", dependencies=VIEWER, responses=response_example("explain"))
def explain(
    state: Annotated[ServerState, Depends(get_state)],
    a: Annotated[str, Query(min_length=1, max_length=200, examples=[_A])],
    b: Annotated[str, Query(min_length=1, max_length=200, examples=[_B])],
) -> ExplainOut:
    """Why two addresses share a cluster: the txids and rules linking them (as
    ``chainsleuth explain --json``)."""
    from chainsleuth.cluster.explain import explain_link

    with state.dataset() as ds:
        run = state.clustering(ds)
        if run is None:
            raise NotFoundError("no clustering run in this dataset: run `chainsleuth cluster`")
        result = explain_link(ds, a, b, run, allow_stale=state.allow_stale)
    return ExplainOut(**result.to_dict())


def _trace_seeds(seeds: list[str]) -> list[str | int]:
    """Seed addresses as they are, ``cluster:N`` as the flow graph's node N (a cluster id).

    >>> _trace_seeds(["bcrt1qexample", "cluster:7"])
    ['bcrt1qexample', 7]
    """
    out: list[str | int] = []
    for seed in seeds:
        if seed.lower().startswith("cluster:"):
            ident = seed.split(":", 1)[1]
            if not ident.isdigit():
                raise InputError(f"cluster id must be a number: {seed!r}")
            out.append(int(ident))
        else:
            out.append(seed)
    return out


@router.post("/trace", dependencies=VIEWER, responses=response_example("trace"))
def trace(body: TraceIn, state: Annotated[ServerState, Depends(get_state)]) -> TraceOut:
    """Trace value from seed addresses hop by hop at cluster level (as ``chainsleuth trace
    --json``), synchronously: hops, seeds and the nodes reached are bounded by the server's
    limits (400 past them)."""
    from chainsleuth.trace.engine import trace as run_trace
    from chainsleuth.trace.export import trace_to_dict

    limits = state.limits
    if body.hops > limits.max_trace_hops:
        raise InputError(
            f"hops {body.hops} is above the server's max_trace_hops {limits.max_trace_hops}"
        )
    if len(body.seeds) > limits.max_trace_seeds:
        raise InputError(
            f"{len(body.seeds)} seeds is above the server's max_trace_seeds "
            f"{limits.max_trace_seeds}"
        )
    start, end = _epoch(body.start, "start"), _epoch(body.end, "end")
    if start is not None and end is not None and end < start:
        raise InputError(f"end {body.end} is before start {body.start}")
    categories = _check_categories(body.stop_at)
    with state.dataset() as ds:
        run = state.clustering(ds)
        if run is None:
            raise NotFoundError("no clustering run in this dataset: run `chainsleuth cluster`")
        result = run_trace(
            ds,
            _trace_seeds(body.seeds),
            direction=body.direction,
            hops=body.hops,
            policy=body.policy,
            min_value=body.min_value,
            start_time=start,
            end_time=end,
            stop_categories=categories,
            max_cluster_size=body.max_cluster_size,
            run=run,
            allow_stale=state.allow_stale,
            per_seed=False,
        )
        reached = len(result.nodes())
        if reached > limits.max_trace_nodes:
            raise InputError(
                f"the trace reached {reached} nodes, above the server's max_trace_nodes "
                f"{limits.max_trace_nodes}: lower hops or raise min_value"
            )
        doc = trace_to_dict(ds, result)
    return TraceOut(**doc)


@router.get("/exposure", dependencies=VIEWER, responses=response_example("exposure"))
def exposure(
    state: Annotated[ServerState, Depends(get_state)],
    target: Annotated[
        str,
        Query(
            min_length=1,
            max_length=200,
            description="An address (its cluster) or `cluster:N`.",
            examples=[_B],
        ),
    ],
    direction: Annotated[
        Literal["incoming", "outgoing"] | None,
        Query(description="Only this direction (default: both)."),
    ] = None,
    hops: Annotated[int, Query(ge=1, description="The wider scope: within N hops.")] = 3,
) -> ExposureOut:
    """Where a cluster's money came from (incoming) and went to (outgoing), by counterparty
    category, one transaction away and within ``hops`` hops (haircut policy)."""
    from chainsleuth.trace.exposure import exposure as run_exposure
    from chainsleuth.trace.flowgraph import build_flow_graph
    from chainsleuth.trace.labels import load_node_labels

    if hops > state.limits.max_trace_hops:
        raise InputError(
            f"hops {hops} is above the server's max_trace_hops {state.limits.max_trace_hops}"
        )
    with state.dataset() as ds:
        run = state.clustering(ds)
        if run is None:
            raise NotFoundError("no clustering run in this dataset: run `chainsleuth cluster`")
        graph = build_flow_graph(ds, run, allow_stale=state.allow_stale)
        if target.lower().startswith("cluster:"):
            ident = target.split(":", 1)[1]
            if not ident.isdigit():
                raise InputError(f"cluster id must be a number: {target!r}")
            node = int(ident)
            if node >= graph.n_node:
                raise NotFoundError(f"cluster not in clustering run {run}: {target}")
        else:
            addr = ds.addr_id(target)
            if addr >= len(graph.node_of_addr):
                raise NotFoundError(f"address not in flow graph: {target}")
            node = int(graph.node_of_addr[addr])
        labels = load_node_labels(ds, graph)
        rows = run_exposure(graph, node, hops=hops, labels=labels)
        tip = int(ds.tip_height)
    wanted = [r for r in rows if direction is None or r.direction == direction]
    return ExposureOut(
        target=target,
        node=node,
        run=run,
        hops=hops,
        tip_height=tip,
        rows=[
            ExposureRowOut(
                direction=r.direction,
                scope=r.scope,
                category=r.category,
                value_sats=round(r.value),
                share=r.share,
            )
            for r in wanted
        ],
    )
