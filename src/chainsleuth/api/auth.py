"""API tokens, users and roles.

Users live in ``DATASET/users.json``: name, role, created, revoked, and the sha256 (hex) of
the user's token — never the token itself, which is 32 random bytes shown once by ``chainsleuth
users add``. A presented token is hashed and compared with every stored hash in constant time
(:func:`hmac.compare_digest`, no early exit), so timing tells nothing about which hash was
close. The store re-reads the file when it changes on disk, so ``users revoke`` takes effect on
a running server at its next request.

Roles are ordered ``viewer < analyst < admin``. A route declares the least role it needs with
``dependencies=[requires("analyst")]``; the API's middleware (:mod:`~chainsleuth.api.
middleware`) reads that declaration from the matched route (:func:`route_role`) and answers
401/403 before the request body is read. Inside an endpoint, ``current_principal`` gives the
caller.

Signatures other modules use::

    Role = Literal["viewer", "analyst", "admin"]
    Principal(name: str, role: Role)                       # frozen dataclass
    requires(role: Role) -> fastapi.params.Depends          # in a route's dependencies=[...]
    current_principal(request: Request) -> Principal         # a dependency
    route_role(route: APIRoute | APIRouter) -> Role | None   # what a route declared
    role_allows(have: Role, need: Role) -> bool
    UserStore(path: Path)   .add(name, role) -> token, .revoke(name), .entries(),
                            .authenticate(token) -> Principal | None
    users_path(data: Path) -> Path                           # DATASET/users.json

>>> role_allows("admin", "analyst"), role_allows("viewer", "analyst")
(True, False)
>>> import tempfile
>>> store = UserStore(Path(tempfile.mkdtemp()) / "users.json")
>>> token = store.add("alice", "analyst")
>>> store.authenticate(token)
Principal(name='alice', role='analyst')
>>> store.authenticate("not-a-token") is None
True
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast, get_args

from fastapi import Depends, Request
from fastapi import params as fastapi_params

from chainsleuth.errors import InputError, NotFoundError, UserError

__all__ = [
    "ROLES",
    "AuthError",
    "ForbiddenError",
    "Principal",
    "Role",
    "UserStore",
    "current_principal",
    "requires",
    "role_allows",
    "route_role",
    "users_path",
]

Role = Literal["viewer", "analyst", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
"""The roles, least first."""

USERS_NAME = "users.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class AuthError(UserError):
    """A missing, malformed, unknown or revoked API token (HTTP 401)."""

    http_status = 401


class ForbiddenError(UserError):
    """A valid token whose role is below what the route needs (HTTP 403)."""

    http_status = 403


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user's name and role."""

    name: str
    role: Role


def role_allows(have: str, need: str) -> bool:
    """Does role ``have`` include what role ``need`` may do? (viewer < analyst < admin)

    >>> role_allows("analyst", "viewer")
    True
    """
    return ROLES.index(cast(Role, have)) >= ROLES.index(cast(Role, need))


def check_role(role: str) -> Role:
    """``role`` if it is one of :data:`ROLES`, else InputError naming it.

    >>> check_role("admin")
    'admin'
    """
    if role not in ROLES:
        raise InputError(f"unknown role {role!r} (valid: {', '.join(ROLES)})")
    return role


def users_path(data: Path) -> Path:
    """``DATASET/users.json``.

    >>> users_path(Path("ds")).as_posix()
    'ds/users.json'
    """
    return Path(data) / USERS_NAME


def hash_token(token: str) -> str:
    """sha256 (hex) of a token as stored in ``users.json``.

    >>> hash_token("abc")[:16]
    'ba7816bf8f01cfea'
    """
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class UserStore:
    """The users of one dataset (``users.json``), re-read when the file changes.

    Writes (``add``, ``revoke``) replace the file atomically (temp file, fsync, rename), so a
    server reading it never sees half a file. Mode 0600: the hashes are not secrets, but the
    list of names is nobody else's business.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._users: list[dict[str, Any]] = []

    # -- reading -----------------------------------------------------------------------------
    def _load(self) -> list[dict[str, Any]]:
        """The users as stored (cached while the file's mtime and size are unchanged)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return []
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp != self._stamp:
                doc = json.loads(self.path.read_text())
                users = doc.get("users") if isinstance(doc, dict) else None
                if not isinstance(users, list):
                    raise InputError(f"{self.path}: not a chainsleuth users file")
                self._users, self._stamp = users, stamp
            return self._users

    def entries(self) -> list[dict[str, Any]]:
        """Every user (revoked ones too): name, role, created, revoked — never the hash.

        >>> import tempfile
        >>> UserStore(Path(tempfile.mkdtemp()) / "users.json").entries()
        []
        """
        return [{k: u.get(k) for k in ("name", "role", "created", "revoked")} for u in self._load()]

    def authenticate(self, token: str | None) -> Principal | None:
        """The active user holding ``token``, or None. Every stored hash is compared (in
        constant time each), whether or not one already matched."""
        if not token:
            return None
        presented = hash_token(token).encode()
        found: dict[str, Any] | None = None
        for user in self._load():
            stored = str(user.get("token_sha256", "")).encode()
            if hmac.compare_digest(presented, stored) and found is None:
                found = user
        if found is None or found.get("revoked"):
            return None
        return Principal(str(found["name"]), check_role(str(found["role"])))

    # -- writing -----------------------------------------------------------------------------
    def add(self, name: str, role: str) -> str:
        """Create user ``name`` with ``role``; returns the new token (shown once).

        InputError for a bad name or role, or a name already active (revoke it first).
        """
        if not _NAME.match(name):
            raise InputError(
                f"bad user name {name!r} (letters, digits, _ . @ -; at most 64 characters)"
            )
        role = check_role(role)
        users = [dict(u) for u in self._load()]
        if any(u["name"] == name and not u.get("revoked") for u in users):
            raise InputError(f"user already exists: {name} (revoke it first)")
        token = secrets.token_urlsafe(32)
        users.append(
            {
                "name": name,
                "role": role,
                "token_sha256": hash_token(token),
                "created": _now(),
                "revoked": None,
            }
        )
        self._write(users)
        return token

    def revoke(self, name: str) -> None:
        """Revoke every active token of user ``name`` (NotFoundError when there is none)."""
        users = [dict(u) for u in self._load()]
        hit = [u for u in users if u["name"] == name and not u.get("revoked")]
        if not hit:
            raise NotFoundError(f"no active user named {name!r}")
        for u in hit:
            u["revoked"] = _now()
        self._write(users)

    def _write(self, users: list[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"version": 1, "users": users}, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RoleCheck:
    """The dependency :func:`requires` installs: remembers the role (the middleware reads it
    from the route) and re-checks the caller inside the app, so a route is guarded even when
    mounted without the middleware."""

    def __init__(self, role: Role) -> None:
        self.role = check_role(role)

    def __call__(self, request: Request) -> Principal:
        principal = current_principal(request)
        if not role_allows(principal.role, self.role):
            raise ForbiddenError(f"role {principal.role!r} may not do this: needs {self.role!r}")
        return principal

    def __repr__(self) -> str:
        return f"requires({self.role!r})"


def requires(role: Role) -> Any:
    """The dependency declaring that a route needs ``role`` (or a higher one):
    ``@router.get("/x", dependencies=[requires("viewer")])``.

    >>> route_dep = requires("analyst")
    >>> route_dep.dependency.role
    'analyst'
    """
    return Depends(RoleCheck(role))


def current_principal(request: Request) -> Principal:
    """The authenticated caller (set by the middleware); AuthError when there is none."""
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise AuthError("missing or invalid API token")
    return principal


def route_role(route: object) -> Role | None:
    """The role a route declared with :func:`requires` (the highest, if several), or None.

    >>> from fastapi.routing import APIRoute
    >>> route_role(APIRoute("/x", lambda: None, dependencies=[requires("analyst")]))
    'analyst'
    >>> route_role(APIRoute("/health", lambda: None)) is None
    True
    """
    found: list[Role] = []
    for dep in getattr(route, "dependencies", None) or []:
        if isinstance(dep, fastapi_params.Depends) and isinstance(dep.dependency, RoleCheck):
            found.append(dep.dependency.role)
    return max(found, key=ROLES.index) if found else None
