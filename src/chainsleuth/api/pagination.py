"""Cursor pagination: ``?cursor=…&limit=…`` in, ``{"items", "next_cursor", "total"}`` out.

A cursor is opaque to the client: the position (a small JSON object the route chooses, e.g.
the last key it returned) with an HMAC-SHA256 tag under a key made at server start. A cursor
that was edited, truncated or made by another server process is refused with 400 (InputError),
so a client can never steer a query with one. ``limit`` above the server's ``max_page`` is a
400, not silently clamped.

Signatures other modules use::

    Page[T]  (pydantic)  items: list[T], next_cursor: str | None, total: int | None
    PageParams (dependency: ``params: PageParams = Depends()``) .cursor: str | None, .limit: int,
        .position() -> dict | None  (the decoded cursor, None on the first page)
    encode_cursor(obj: dict) -> str;  decode_cursor(text: str) -> dict   (tamper → InputError)

>>> c = encode_cursor({"after": 42})
>>> decode_cursor(c)
{'after': 42}
>>> decode_cursor(c[:-2] + "xx")
Traceback (most recent call last):
chainsleuth.errors.InputError: bad cursor: it was not issued by this server
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query, Request
from pydantic import BaseModel, Field

from chainsleuth.errors import InputError

__all__ = ["DEFAULT_LIMIT", "Page", "PageParams", "decode_cursor", "encode_cursor"]

DEFAULT_LIMIT = 50
MAX_CURSOR_CHARS = 1024
_KEY = secrets.token_bytes(32)
_TAG_BYTES = 16

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a long list; ``next_cursor`` is null on the last page."""

    items: list[T]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` to get the next page; null on the last page."
    )
    total: int | None = Field(None, description="Number of items in the whole list, when cheap.")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_cursor(obj: dict[str, Any]) -> str:
    """An opaque, tamper-evident cursor holding ``obj`` (a small JSON-able dict).

    >>> encode_cursor({"k": 1}).count(".")
    1
    """
    payload = json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
    tag = hmac.new(_KEY, payload, hashlib.sha256).digest()[:_TAG_BYTES]
    return f"{_b64(payload)}.{_b64(tag)}"


def decode_cursor(text: str) -> dict[str, Any]:
    """The dict :func:`encode_cursor` put in ``text``; InputError (400) for anything else.

    >>> decode_cursor("nonsense")
    Traceback (most recent call last):
    chainsleuth.errors.InputError: bad cursor: it was not issued by this server
    """
    bad = InputError("bad cursor: it was not issued by this server")
    if len(text) > MAX_CURSOR_CHARS or text.count(".") != 1:
        raise bad
    body, tag = text.split(".")
    try:
        payload, got = _unb64(body), _unb64(tag)
    except (binascii.Error, ValueError):
        raise bad from None
    want = hmac.new(_KEY, payload, hashlib.sha256).digest()[:_TAG_BYTES]
    if not hmac.compare_digest(got, want):
        raise bad
    obj = json.loads(payload)
    if not isinstance(obj, dict):
        raise bad
    return obj


class PageParams:
    """The ``cursor`` and ``limit`` query parameters of a paginated route (a dependency:
    ``page: Annotated[PageParams, Depends()]``). ``limit`` above the server's
    ``ApiLimits.max_page`` is an InputError (400)."""

    def __init__(
        self,
        request: Request,
        cursor: Annotated[
            str | None,
            Query(
                description="Opaque cursor from the previous page's `next_cursor` (a cursor "
                "this server did not issue is refused with 400).",
                max_length=MAX_CURSOR_CHARS,
                pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$",
            ),
        ] = None,
        limit: Annotated[
            int,
            Query(
                ge=1,
                description="Items per page (at most the server's max_page, 500 by default; "
                "more is refused with 400).",
            ),
        ] = DEFAULT_LIMIT,
    ) -> None:
        server = getattr(request.app.state, "server", None)
        max_page = server.limits.max_page if server is not None else 500
        if limit > max_page:
            raise InputError(f"limit {limit} is above the maximum page size {max_page}")
        self.cursor = cursor
        self.limit = limit

    def position(self) -> dict[str, Any] | None:
        """The decoded cursor (None on the first page)."""
        return None if self.cursor is None else decode_cursor(self.cursor)
