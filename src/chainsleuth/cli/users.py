"""``chainsleuth users add|revoke|list`` (API tokens) and ``chainsleuth audit verify``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from chainsleuth.cli._app import app, console

__all__ = ["audit_app", "users_app"]

users_app = typer.Typer(help="API users and their tokens (for `chainsleuth serve`).",
                        no_args_is_help=True)  # fmt: skip
audit_app = typer.Typer(help="The API's audit log.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")

DataOption = Annotated[Path, typer.Option("--data", help="Dataset directory.")]


def _dataset_dir(data: Path) -> Path:
    """``data`` if it is a dataset (DatasetError naming it otherwise)."""
    from chainsleuth.store.manifest import Manifest

    Manifest.load(data)
    return data


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, _ . @ -).")],
    data: DataOption,
    role: Annotated[
        str, typer.Option("--role", help="viewer (read), analyst (tags, cases, jobs), admin.")
    ] = "viewer",
) -> None:
    """Create a user and print its new API token, alone on the last line (shown only once:
    only its sha256 is stored, in DATASET/users.json).

    Example: chainsleuth users add alice --role analyst --data case.ds
    """
    from chainsleuth.api.auth import UserStore, users_path

    token = UserStore(users_path(_dataset_dir(data))).add(name, role)
    typer.echo(f"created {role} {name}; the token (shown once, keep it secret):")
    typer.echo(token)


@users_app.command("revoke")
def users_revoke(name: Annotated[str, typer.Argument(help="User name.")], data: DataOption) -> None:
    """Revoke a user's token (a running server refuses it from its next request).

    Example: chainsleuth users revoke alice --data case.ds
    """
    from chainsleuth.api.auth import UserStore, users_path

    UserStore(users_path(_dataset_dir(data))).revoke(name)
    typer.echo(f"revoked {name}")


@users_app.command("list")
def users_list(
    data: DataOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the users: name, role, created, revoked (never a token).

    Example: chainsleuth users list --data case.ds
    """
    from rich.table import Table

    from chainsleuth.api.auth import UserStore, users_path

    users = UserStore(users_path(_dataset_dir(data))).entries()
    if as_json:
        typer.echo(json.dumps(users, indent=1))
        return
    table = Table("name", "role", "created", "revoked")
    for u in users:
        table.add_row(u["name"], u["role"], u["created"] or "", u["revoked"] or "")
    console.print(table)


@audit_app.command("verify")
def audit_verify(data: DataOption) -> None:
    """Check the audit log's hash chain: exit 0 "audit log intact: N entries" (and the head
    hash, worth keeping elsewhere), or exit 2 naming the first bad line.

    Example: chainsleuth audit verify --data case.ds
    """
    from chainsleuth.api.audit import audit_path, verify
    from chainsleuth.errors import IntegrityError

    path = audit_path(_dataset_dir(data))
    report = verify(path)
    if not report.ok:
        raise IntegrityError([f"{path}: line {report.bad_line}: {report.reason}"])
    typer.echo(f"audit log intact: {report.entries} entries")
    if report.head_hash:
        typer.echo(f"head hash: {report.head_hash}")
