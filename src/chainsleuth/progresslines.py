"""Progress as lines of text, for a verb whose bar nobody watches (an API job).

With ``CHAINSLEUTH_PROGRESS=lines`` in the environment, a verb's step bar
(:func:`chainsleuth.cli._app.step_progress`) is not drawn and writes every update on stderr as::

    progress: {"step": "expanding the service wallet", "done": 1, "total": 5}

which :func:`parse_progress` reads back (:mod:`chainsleuth.api.jobrunner` does).

>>> line = progress_line("tracing", 2, 5)
>>> line
'progress: {"step": "tracing", "done": 2, "total": 5}'
>>> parse_progress(line)
('tracing', 2.0, 5.0)
>>> parse_progress("error: address not in dataset: x") is None
True
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich.console import Console
from rich.progress import Progress, TaskID

__all__ = [
    "ENV",
    "PREFIX",
    "ReportingProgress",
    "lines_requested",
    "parse_progress",
    "progress_line",
]

ENV = "CHAINSLEUTH_PROGRESS"
"""The environment variable that turns progress lines on (value ``lines``)."""


def lines_requested() -> bool:
    """Whether this process reports progress as lines (``CHAINSLEUTH_PROGRESS=lines``)."""
    return os.environ.get(ENV) == "lines"


PREFIX = "progress: "


def progress_line(step: str, done: float, total: float | None) -> str:
    """The stderr line reporting one progress update."""
    return PREFIX + json.dumps({"step": step, "done": done, "total": total})


def parse_progress(line: str) -> tuple[str, float, float | None] | None:
    """(step, done, total) of a progress line, None for any other line."""
    if not line.startswith(PREFIX):
        return None
    try:
        doc = json.loads(line[len(PREFIX) :])
        total = doc.get("total")
        return str(doc["step"]), float(doc["done"]), None if total is None else float(total)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class ReportingProgress(Progress):
    """A progress bar that is never drawn and writes every update as a :func:`progress_line`
    on stderr."""

    def __init__(self) -> None:
        super().__init__(console=Console(stderr=True), disable=True)

    def update(self, task_id: TaskID, **kwargs: Any) -> None:
        """Update the task, then report it."""
        super().update(task_id, **kwargs)
        for task in self.tasks:
            if task.id == task_id:
                print(
                    progress_line(str(task.description), task.completed, task.total),
                    file=sys.stderr,
                    flush=True,
                )
