"""The process an API job runs in: one ``chainsleuth`` CLI verb, reporting its progress.

``python -m chainsleuth.api.jobworker investigate service --data D --seed=A --out D/cases/x``
runs exactly what ``chainsleuth investigate service ...`` runs (the same verb, options, checks,
one-line errors and exit codes: :func:`chainsleuth.cli.main`), with its progress bar written as
lines on stderr (:mod:`chainsleuth.progresslines`, ``CHAINSLEUTH_PROGRESS=lines``)::

    progress: {"step": "expanding the service wallet", "done": 1, "total": 5}

Everything else on stderr is the CLI's own (``error: …``, ``warning: …``, ``interrupted: …``);
stdout is the verb's (with ``--json``, its summary). :mod:`chainsleuth.api.jobrunner` starts
this and reads both.

>>> parse_progress(progress_line("tracing", 2, 5))
('tracing', 2.0, 5.0)
"""

from __future__ import annotations

import os
import sys

from chainsleuth.progresslines import ENV, PREFIX, parse_progress, progress_line

__all__ = ["PREFIX", "main", "parse_progress", "progress_line"]


def main(argv: list[str]) -> int:
    """Run the CLI verb ``argv`` with progress lines; its exit code."""
    from chainsleuth import cli

    os.environ[ENV] = "lines"
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
