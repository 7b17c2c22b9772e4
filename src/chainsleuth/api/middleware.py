"""The ASGI middleware in front of every ``/api/v1`` request: authenticate, authorise, limit
the body, and audit — in that order, and the first two before the body is read.

1. The route the request will reach is found in the app's route table
   (:mod:`~chainsleuth.api.routing`, built from the mounted routers), with the role it
   declared with :func:`~chainsleuth.api.auth.requires`.
2. No role declared (``/health``): public. Otherwise the bearer token must name an active user
   (else 401 with ``WWW-Authenticate: Bearer``) whose role reaches the route's (else 403). A
   path under ``/api/v1`` that matches no route needs a valid token too, then answers 404/405.
   A refused request is answered without ever calling ``receive``: its body is never read.
3. A ``Content-Length`` above ``max_body_bytes`` is a 413 at once; a body streamed without one
   is counted as it arrives and cut off with a 413 when it passes the limit.
4. Every request under ``/api/v1``, allowed or refused, is appended to the audit log after its
   response: user and role (null without a valid token), method, path, query parameters and a
   digest of the body, status, and the response's size in bytes. The token is never logged.

>>> API_PREFIX
'/api/v1'
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from typing import Any
from urllib.parse import parse_qs

import anyio
from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chainsleuth.api.auth import Principal, role_allows
from chainsleuth.api.problems import problem_body
from chainsleuth.api.routing import match

__all__ = ["API_PREFIX", "ApiMiddleware", "BodyTooLarge"]

API_PREFIX = "/api/v1"
_AUDIT_JSON_BODY = 4096


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit (an HTTP 413, which
    FastAPI lets through its body parsing to the problem+json handler)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


def _bearer(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"authorization":
            text = value.decode("latin-1").strip()
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _content_type(scope: Scope) -> str:
    for key, value in scope.get("headers", []):
        if key == b"content-type":
            return value.decode("latin-1").split(";")[0].strip().lower()
    return ""


def _params(scope: Scope) -> dict[str, Any]:
    query = scope.get("query_string", b"").decode("latin-1")
    parsed = parse_qs(query, keep_blank_values=True)
    return {k: v[0] if len(v) == 1 else v for k, v in parsed.items()}


class ApiMiddleware:
    """Auth, body limit and audit for ``/api/v1`` (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        state = scope["app"].state.server
        record: dict[str, Any] = {
            "user": None,
            "role": None,
            "method": scope["method"],
            "path": scope["path"],
            "params": _params(scope),
            "status": 500,
            "result_bytes": 0,
        }
        limit = state.limits.body_limit(scope["method"], scope["path"])
        body = _BodyMeter(receive, limit, _content_type(scope))

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                record["status"] = int(message["status"])
            elif message["type"] == "http.response.body":
                record["result_bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            refusal = await self._refusal(scope, state, record)
            if refusal is not None:
                await _send_problem(sending, *refusal)
                return
            length = _content_length(scope)
            if length is not None and length > limit:
                await _send_problem(sending, 413, f"request body larger than {limit} bytes")
                return
            try:
                await self.app(scope, body.receive, sending)
            except BodyTooLarge:
                if record["status"] == 500 and record["result_bytes"] == 0:
                    await _send_problem(
                        sending,
                        413,
                        f"request body larger than {limit} bytes",
                    )
        finally:
            body_info = body.summary()
            if body_info:
                record["params"] = {**record["params"], "_body": body_info}
            await anyio.to_thread.run_sync(state.audit.append, record)

    async def _refusal(
        self, scope: Scope, state: Any, record: dict[str, Any]
    ) -> tuple[int, str, dict[str, str] | None] | None:
        """(status, detail, headers) when the request is refused before its body is read."""
        matched = match(scope["app"].state.route_table, scope["method"], scope["path"])
        token = _bearer(scope)
        principal: Principal | None = None
        if token is not None:  # microseconds: a stat of users.json and a few hashes
            principal = state.users.authenticate(token)
        if principal is not None:
            record["user"], record["role"] = principal.name, principal.role
            scope.setdefault("state", {})["principal"] = principal
        if matched is not None and matched.role is None:
            return None  # a public route (health): a token there only names the caller
        if principal is None:
            detail = "missing API token" if token is None else "invalid or revoked API token"
            return 401, detail, {"WWW-Authenticate": "Bearer"}
        if (
            matched is not None
            and matched.role is not None
            and not role_allows(principal.role, matched.role)
        ):
            return (
                403,
                f"role {principal.role!r} may not do this: needs {matched.role!r}",
                None,
            )
        return None


class _BodyMeter:
    """Wraps ``receive``: counts the body, refuses it past ``limit``, keeps a digest (and a
    small JSON body itself) for the audit log."""

    def __init__(self, receive: Receive, limit: int, content_type: str) -> None:
        self._receive = receive
        self.limit = limit
        self.size = 0
        self._sha = hashlib.sha256()
        self._keep = content_type == "application/json"
        self._head = bytearray()

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            self.size += len(chunk)
            if self.size > self.limit:
                raise BodyTooLarge(self.limit)
            self._sha.update(chunk)
            if self._keep and len(self._head) <= _AUDIT_JSON_BODY:
                self._head += chunk[: _AUDIT_JSON_BODY + 1 - len(self._head)]
        return message

    def summary(self) -> dict[str, Any] | None:
        if self.size == 0:
            return None
        info: dict[str, Any] = {"bytes": self.size, "sha256": self._sha.hexdigest()}
        if self._keep and self.size <= _AUDIT_JSON_BODY:
            with contextlib.suppress(ValueError):
                info["json"] = json.loads(bytes(self._head))
        return info


async def _send_problem(
    send: Send, status: int, detail: str, headers: dict[str, str] | None = None
) -> None:
    payload = json.dumps(problem_body(status, detail)).encode()
    raw_headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})
