"""``CHAINSLEUTH_PROGRESS=lines``: a verb's step bar reports each update as a line that the
API's job runner parses; without it, the bar is the terminal's and writes no such line."""

from __future__ import annotations

import pytest

from chainsleuth.cli._app import step_progress
from chainsleuth.progresslines import ENV, ReportingProgress, parse_progress


def test_lines_when_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV, "lines")
    with step_progress(disable=True) as bar:
        assert isinstance(bar, ReportingProgress)
        task = bar.add_task("expanding the service wallet", total=5)
        bar.update(task, advance=2)
    lines = [parse_progress(x) for x in capsys.readouterr().err.splitlines()]
    assert ("expanding the service wallet", 2.0, 5.0) in lines


def test_no_lines_otherwise(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    with step_progress(disable=True) as bar:
        assert not isinstance(bar, ReportingProgress)
        bar.update(bar.add_task("tracing", total=3), advance=1)
    assert not any(parse_progress(x) for x in capsys.readouterr().err.splitlines())
