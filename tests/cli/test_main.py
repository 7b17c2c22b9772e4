"""The CLI front door: usage errors exit 2 with click's message, never a traceback."""

from __future__ import annotations

from typing import Any


def test_unknown_verb(cli_run: Any) -> None:
    code, out, err = cli_run("nosuchverb")
    assert code == 2
    assert "No such command 'nosuchverb'" in out + err
    assert "Traceback" not in out + err


def test_missing_argument(cli_run: Any) -> None:
    code, out, err = cli_run("ingest")
    assert code == 2
    assert "Missing argument" in out + err


def test_help_lists_every_verb(cli_run: Any) -> None:
    code, out, _ = cli_run("--help")
    assert code == 0
    for verb in (
        "ingest",
        "show",
        "decode",
        "cluster",
        "explain",
        "tags",
        "trace",
        "investigate",
        "simulate",
        "eval",
        "demo",
    ):
        assert verb in out
