"""Guards on the documented surface: CLI reference current, every verb with an example."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_cli_reference_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cli_reference.py"), "--check"], check=False
    )
    assert result.returncode == 0, "docs/cli.md is stale: run scripts/cli_reference.py"


def test_every_verb_has_an_example_in_its_help() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    import typer
    from cli_reference import _commands  # type: ignore[import-not-found]

    from chainsleuth.cli import app

    missing = [
        path
        for path, cmd in _commands(typer.main.get_command(app), "chainsleuth")
        if "example:" not in f"{cmd.help or ''} {cmd.epilog or ''}".lower()
    ]
    assert missing == []


def test_readme_opens_with_the_two_setup_commands() -> None:
    head = (ROOT / "README.md").read_text().split("\n## ")[0]
    assert "make demo" in head and "make test" in head


def test_every_verb_is_in_the_architecture_or_readme() -> None:
    text = (ROOT / "README.md").read_text() + (ROOT / "docs" / "cli.md").read_text()
    for verb in (
        "ingest",
        "show",
        "decode",
        "cluster",
        "explain",
        "tags import",
        "trace",
        "investigate service",
        "simulate",
        "eval clustering",
        "eval investigation",
        "demo",
        "report",
        "export",
        "serve",
        "users add",
        "audit verify",
    ):
        assert f"chainsleuth {verb}" in text, verb
