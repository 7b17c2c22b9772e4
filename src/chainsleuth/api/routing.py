"""The table of API routes and the roles they declared, which the middleware matches a
request against before the app sees it.

Built once by :func:`~chainsleuth.api.app.create_app` from the routers it mounts (FastAPI may
mount an included router lazily, so its own route list is not a flat table to read). Each
router module's ``router`` must hold plain routes (no nested ``include_router``): anything
else is refused at start, so no route can escape the table.

Signatures::

    RouteInfo(path: str, methods: frozenset[str], role: Role | None, name: str)
    route_table(routers: Sequence[APIRouter], prefix: str) -> list[RouteInfo]
    match(table, method: str, path: str) -> RouteInfo | None   (None: no route; see found_path)

>>> from fastapi import APIRouter
>>> from chainsleuth.api.auth import requires
>>> r = APIRouter()
>>> @r.get("/blocks/{height}", dependencies=[requires("viewer")])
... def block(height: str) -> None: ...
>>> table = route_table([r], "/api/v1")
>>> match(table, "GET", "/api/v1/blocks/12").role
'viewer'
>>> match(table, "POST", "/api/v1/blocks/12") is None, path_known(table, "/api/v1/blocks/12")
(True, True)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.routing import compile_path

from chainsleuth.api.auth import ROLES, Role, route_role

__all__ = ["RouteInfo", "match", "path_known", "route_table"]


@dataclass(frozen=True)
class RouteInfo:
    """One API route: its full path template, methods, declared role (None: public)."""

    path: str
    methods: frozenset[str]
    role: Role | None
    name: str
    regex: re.Pattern[str]


def route_table(routers: Sequence[APIRouter], prefix: str) -> list[RouteInfo]:
    """Every route of ``routers`` mounted at ``prefix``, with the role it (or its router)
    declared; ValueError for a router holding anything but plain API routes."""
    table: list[RouteInfo] = []
    for router in routers:
        router_role = route_role(router)
        for route in router.routes:
            if not isinstance(route, APIRoute):
                raise ValueError(f"router holds a {type(route).__name__}: only plain routes")
            roles = [r for r in (router_role, route_role(route)) if r is not None]
            role = max(roles, key=ROLES.index) if roles else None
            path = prefix + route.path
            regex, _, _ = compile_path(path)
            methods = frozenset(route.methods or ())
            table.append(RouteInfo(path, methods, role, route.name, regex))
    return table


def match(table: Sequence[RouteInfo], method: str, path: str) -> RouteInfo | None:
    """The route a request reaches (HEAD counts as GET), or None."""
    want = "GET" if method == "HEAD" else method
    for info in table:
        if want in info.methods and info.regex.match(path):
            return info
    return None


def path_known(table: Sequence[RouteInfo], path: str) -> bool:
    """Does some route (of any method) have this path?"""
    return any(info.regex.match(path) for info in table)
