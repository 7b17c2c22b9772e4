"""Errors as ``application/problem+json`` (RFC 9457): ``{type, title, status, detail}``.

One handler per kind: a chainsleuth :class:`~chainsleuth.errors.UserError` answers its
``http_status`` with its message as ``detail`` (InputError 400, NotFoundError 404,
StaleRunError 409, AuthError 401, ForbiddenError 403); a request that fails validation is a 400
naming the parameter; Starlette's own HTTP errors (an unknown path 404, a wrong method 405)
keep their status; anything else is a 500 whose detail says nothing about the internals.

Signatures other modules use::

    Problem (pydantic model, for responses=)   PROBLEMS: dict[int, dict]  (responses= of a route)
    problem_response(status: int, detail: str, *, headers=None) -> JSONResponse
    install_problem_handlers(app: FastAPI) -> None

>>> problem_body(404, "address not in dataset: x")["title"]
'Not Found'
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from chainsleuth.errors import ChainsleuthError, UserError

__all__ = [
    "PROBLEMS",
    "PROBLEM_TYPE",
    "Problem",
    "install_problem_handlers",
    "problem_body",
    "problem_response",
]

PROBLEM_TYPE = "application/problem+json"
_log = logging.getLogger("chainsleuth.api")


class Problem(BaseModel):
    """An error, as RFC 9457 problem details."""

    type: str = Field("about:blank", examples=["about:blank"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str = Field(
        examples=["address not in dataset: bcrt1qxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]
    )


def problem_body(status: int, detail: str) -> dict[str, Any]:
    """The problem+json object for ``status``.

    >>> problem_body(400, "bad")
    {'type': 'about:blank', 'title': 'Bad Request', 'status': 400, 'detail': 'bad'}
    """
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return {"type": "about:blank", "title": title, "status": status, "detail": detail}


def _problem_doc(status: int, detail: str) -> dict[str, Any]:
    return {
        "model": Problem,
        "description": HTTPStatus(status).phrase,
        "content": {PROBLEM_TYPE: {"example": problem_body(status, detail)}},
    }


PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: _problem_doc(400, "limit 100000 is above the maximum page size 500"),
    401: _problem_doc(401, "missing or invalid API token"),
    403: _problem_doc(403, "role 'viewer' may not do this: needs 'analyst'"),
    404: _problem_doc(404, "address not in dataset: bcrt1qexample"),
    409: _problem_doc(
        409, "clustering run 'default' is stale: made at tip 300, dataset tip is 473"
    ),
    413: _problem_doc(413, "request body larger than 1000000 bytes"),
}
"""The error responses every API route documents (``responses=PROBLEMS``)."""


def problem_response(
    status: int, detail: str, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A problem+json response.

    >>> problem_response(413, "too big").media_type
    'application/problem+json'
    """
    return JSONResponse(
        problem_body(status, detail), status_code=status, media_type=PROBLEM_TYPE, headers=headers
    )


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def _user_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UserError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    return problem_response(exc.http_status, str(exc), headers=headers)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    _log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(500, "internal error (the server log has the details)")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_response(400, _validation_detail(exc))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem_response(
        exc.status_code, str(exc.detail), headers=dict(exc.headers) if exc.headers else None
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Register the problem+json handlers on ``app``."""
    app.add_exception_handler(UserError, _user_error)
    app.add_exception_handler(ChainsleuthError, _internal_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)
