"""Verb ``export``: the case graph for Gephi, networkx, neo4j or as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from chainsleuth.cli._app import app, console

__all__ = ["export_cmd"]


@app.command("export")
def export_cmd(
    case: Path = typer.Argument(..., help="Case directory (from investigate service)."),
    fmt: str = typer.Option(..., "--format", help="graphml | gexf | neo4j | json."),
    level: str = typer.Option("cluster", "--level", help="cluster | address | tx."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Output file (a folder for neo4j; default: CASE_DIR/graph-LEVEL.FORMAT).",
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing export."),
    as_json: bool = typer.Option(False, "--json", help="Print the written path as JSON."),
) -> None:
    """Export the case as a graph: GraphML or GEXF (Gephi, networkx), neo4j-admin import CSVs,
    or the case as JSON (schema: docs/case-schema.json).

    Example: chainsleuth export demo-case/case --format gexf --level address
    """
    from chainsleuth.errors import InputError
    from chainsleuth.outputs import check_output_dir, check_output_file
    from chainsleuth.report.casedata import load_case
    from chainsleuth.report.casegraph import LEVELS
    from chainsleuth.report.graphfiles import GRAPH_FORMATS, default_target, export_case

    if fmt not in GRAPH_FORMATS:
        raise InputError(f"--format: unknown format {fmt!r} (valid: {', '.join(GRAPH_FORMATS)})")
    if level not in LEVELS:
        raise InputError(f"--level: unknown level {level!r} (valid: {', '.join(LEVELS)})")
    load_case(case)
    target = out if out is not None else default_target(case, fmt, level)
    if fmt == "neo4j":
        check_output_dir(target, force=force)
    else:
        check_output_file(target, force=force)
    path = export_case(case, fmt, level, target)
    if as_json:
        console.print_json(json.dumps({"path": str(path), "format": fmt, "level": level}))
    else:
        console.print(f"wrote {path}", highlight=False, soft_wrap=True)
