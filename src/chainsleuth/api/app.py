"""Build the API application: routers, middleware, error handlers, OpenAPI, the explorer.

Signature other modules use::

    create_app(data: Path, *, limits: ApiLimits | None = None, run: str | None = None,
               allow_stale: bool = False, cors_origins: Sequence[str] = (),
               pool_size: int = 4, memory_limit: str | None = None) -> FastAPI

Every module named in :data:`ROUTE_MODULES` that exists (``chainsleuth.api.routes.<name>``,
exposing ``router``) is mounted at ``/api/v1``; a module not written yet is skipped, any other
import error is raised. OpenAPI is at ``/openapi.json`` (operation ids are the endpoint
functions' names: stable across runs); the interactive docs pages are off because they load
assets from a CDN (the server never calls out). CORS is off unless origins are given. The
built explorer (``chainsleuth/web/dist/``) is served at ``/`` when it exists.

>>> app = create_app(ds.path)  # ds: the regtest chain
>>> [(r.path, r.role) for r in app.state.route_table][:2]
[('/api/v1/health', None), ('/api/v1/me', 'viewer')]
>>> app.state.server.close()
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from starlette.staticfiles import StaticFiles

from chainsleuth import __version__
from chainsleuth.api.limits import ApiLimits
from chainsleuth.api.middleware import API_PREFIX, ApiMiddleware
from chainsleuth.api.problems import install_problem_handlers
from chainsleuth.api.routing import route_table
from chainsleuth.api.state import DEFAULT_POOL, ServerState

__all__ = ["API_PREFIX", "ROUTE_MODULES", "create_app"]

ROUTE_MODULES = ("lookups", "tags", "analysis", "cases", "jobs", "bulk")
"""Router modules under ``chainsleuth.api.routes``, in mounting order."""

WEB_DIST = Path(__file__).resolve().parent.parent / "web" / "dist"

DESCRIPTION = """\
chainsleuth's REST API over one dataset. Every path but `/api/v1/health` needs
`Authorization: Bearer TOKEN` (tokens: `chainsleuth users add`). Roles: viewer (read), analyst
(tags, cases, jobs), admin (users, imports). Errors are `application/problem+json`. Long lists
are cursor-paginated (`cursor`, `limit` ≤ 500; the response's `next_cursor`). Every request is
written to the dataset's hash-chained audit log.
"""


def _operation_id(route: APIRoute) -> str:
    return route.name


def _router_modules() -> list[ModuleType]:
    found: list[ModuleType] = []
    for name in ROUTE_MODULES:
        full = f"chainsleuth.api.routes.{name}"
        try:
            found.append(importlib.import_module(full))
        except ModuleNotFoundError as exc:
            if exc.name != full:
                raise
    return found


def _document_page_limit(app: FastAPI, max_page: int) -> None:
    """Show this server's ``max_page`` as the ``maximum`` of every paginated route's ``limit``
    (the pagination dependency checks it; the schema would otherwise have no bound)."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = default()
        for item in doc.get("paths", {}).values():
            for op in item.values():
                for param in op.get("parameters", []) if isinstance(op, dict) else []:
                    schema = param.get("schema", {})
                    if param.get("name") == "limit" and "maximum" not in schema:
                        schema["maximum"] = max_page
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    data: Path,
    *,
    limits: ApiLimits | None = None,
    run: str | None = None,
    allow_stale: bool = False,
    cors_origins: Sequence[str] = (),
    pool_size: int = DEFAULT_POOL,
    memory_limit: str | None = None,
) -> FastAPI:
    """The API for the dataset at ``data`` (opened read-only; DatasetError if it is not one).

    ``run``: the clustering run to serve (default the newest, looked up per request);
    ``allow_stale``: serve a run older than the dataset's tip instead of answering 409;
    ``cors_origins``: origins allowed cross-site (none by default); ``pool_size``: datasets
    open at once (see :mod:`~chainsleuth.api.state`); ``memory_limit``: a budget such as
    ``"2G"`` whose half the pooled DuckDB connections share (default: DuckDB's own limit).
    """
    from chainsleuth.budget import MemoryBudget

    budget = MemoryBudget.from_option(memory_limit) if memory_limit is not None else None
    state = ServerState.for_dataset(
        Path(data),
        limits or ApiLimits(),
        run=run,
        allow_stale=allow_stale,
        pool_size=pool_size,
        budget=budget,
    )
    app = FastAPI(
        title="chainsleuth API",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        generate_unique_id_function=_operation_id,
    )
    app.state.server = state
    _document_page_limit(app, state.limits.max_page)
    install_problem_handlers(app)
    routers: list[APIRouter] = [m.router for m in _router_modules()]
    app.state.route_table = route_table(routers, API_PREFIX)
    for router in routers:
        app.include_router(router, prefix=API_PREFIX)
    app.add_middleware(ApiMiddleware)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    if (WEB_DIST / "index.html").is_file():
        app.mount("/", StaticFiles(directory=WEB_DIST, html=True), name="explorer")
    return app
