"""``chainsleuth demo``: the whole workflow on a simulated case."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chainsleuth.cli._app import app, console


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="Where the case is built.")] = Path("demo-case"),
    scenario: Annotated[
        Path | None, typer.Option(help="Scenario YAML (default: scenarios/case.yaml).")
    ] = None,
    report: Annotated[
        str, typer.Option("--report", help="Report formats to write at the end (html,pdf; none).")
    ] = "html,pdf",
) -> None:
    """Simulate a darknet-service case, then ingest, cluster, tag, investigate and score it,
    and write the case's report (CASE/report.html and report.pdf).

    Example: chainsleuth demo --workdir /tmp/demo --scenario scenarios/tiny.yaml
    """
    from chainsleuth.demo import default_scenario, run_demo
    from chainsleuth.report.render import parse_formats

    formats = [] if report.strip().lower() == "none" else parse_formats(report)
    run_demo(workdir, scenario or default_scenario(), console, formats)
