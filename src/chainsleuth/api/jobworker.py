"""The process an API job runs in: one ``chainsleuth`` CLI verb, reporting its progress.

``python -m chainsleuth.api.jobworker investigate service --data D --seed=A --out D/cases/x``
runs exactly what ``chainsleuth investigate service ...`` runs (the same verb, options, checks,
one-line errors and exit codes: :func:`chainsleuth.cli.main`), and in addition writes each step
of the verb's progress bar as one line on stderr::

    progress: {"step": "expanding the service wallet", "done": 1, "total": 5}

The bar itself is not drawn (nobody watches a job's terminal). Everything else on stderr is the
CLI's own (``error: …``, ``warning: …``, ``interrupted: …``); stdout is the verb's (with
``--json``, its summary). :mod:`chainsleuth.api.jobrunner` starts this and reads both.

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
import sys
from typing import Any

from rich.console import Console
from rich.progress import Progress, TaskID

__all__ = ["PREFIX", "ReportingProgress", "main", "parse_progress", "progress_line"]

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


def _reporting(disable: bool = False) -> Progress:
    return ReportingProgress()


def main(argv: list[str]) -> int:
    """Run the CLI verb ``argv`` with progress lines; its exit code."""
    from chainsleuth import cli
    from chainsleuth.cli import investigate

    # the verb's bar (the name it imported from cli._app) reports instead of drawing
    vars(investigate)["step_progress"] = _reporting
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
