"""Verb ``report``: the case as report.html and report.pdf."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path

import typer

from chainsleuth.cli._app import app, console

__all__ = ["report_cmd"]


@app.command("report")
def report_cmd(
    case: Path = typer.Argument(..., help="Case directory (from investigate service)."),
    formats: str = typer.Option("html,pdf", "--format", help="html, pdf or html,pdf."),
    out: Path | None = typer.Option(
        None, "--out", help="Output file (one format) or folder (default: CASE_DIR)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing report."),
    as_json: bool = typer.Option(False, "--json", help="Print the written paths as JSON."),
) -> None:
    """Write the case report: summary, pictures, customers, one page per exchange, the
    method with its measured error rates, reproducibility and the evidence; CASE_DIR/report.html
    (self-contained) and CASE_DIR/report.pdf.

    Example: chainsleuth report demo-case/case --format html,pdf
    """
    from chainsleuth.outputs import check_output_file
    from chainsleuth.report.casedata import load_case
    from chainsleuth.report.render import parse_formats, targets, write_report

    wanted = parse_formats(formats)
    load_case(case)  # a missing or foreign folder is refused before any work
    for path in targets(case, wanted, out).values():
        check_output_file(path, force=force)
    spinner = console.status("writing the report") if not as_json else nullcontext()
    with spinner:
        result = write_report(case, wanted, out)
    if as_json:
        doc = {"paths": [str(p) for p in result.paths], "data_sha256": result.data_sha256}
        console.print_json(json.dumps(doc))
        return
    for path in result.paths:
        console.print(f"wrote {path}", highlight=False, soft_wrap=True)
    console.print(f"report data sha256 {result.data_sha256}", highlight=False, soft_wrap=True)
