"""``chainsleuth tags ...``: import, export, list and search attribution tags, and report
clusters whose tags conflict."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from chainsleuth.cli._app import console, tags_app
from chainsleuth.tags.model import EXPORT_FORMATS

if TYPE_CHECKING:
    import pyarrow as pa

    from chainsleuth.tags.model import Tag

__all__ = [
    "tags_clusters",
    "tags_conflicts",
    "tags_export",
    "tags_import",
    "tags_list",
]


DataOption = Annotated[
    Path, typer.Option("--data", help="Dataset directory.", metavar="DIR", show_default=False)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
RunOption = Annotated[
    str | None,
    typer.Option(
        "--clustering", help="Clustering run name (default: the latest run).", metavar="RUN"
    ),
]
StaleOption = Annotated[
    bool,
    typer.Option(
        "--allow-stale", help="Use a clustering run older than the dataset's tip (warns)."
    ),
]
_TAG_COLUMNS = ("target_kind", "target", "label", "actor", "category", "confidence", "pack")


def _open(data: Path) -> Any:
    from chainsleuth.store.dataset import Dataset

    return Dataset.open(data)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _echo_json(rows: list[dict[str, Any]]) -> None:
    typer.echo(json.dumps([{k: _jsonable(v) for k, v in r.items()} for r in rows], indent=2))


def _print_tags(tags: list[Tag], title: str, as_json: bool) -> None:
    if as_json:
        _echo_json([t.to_dict() for t in tags])
        return
    table = Table(title=title)
    for name in _TAG_COLUMNS:
        table.add_column(name, overflow="fold")
    for t in tags:
        table.add_row(*[str(getattr(t, name) or "") for name in _TAG_COLUMNS])
    console.print(table)


def _print_table(table: pa.Table, title: str, columns: list[str], as_json: bool) -> None:
    if as_json:
        _echo_json(table.to_pylist())
        return
    out = Table(title=title)
    for name in columns:
        out.add_column(name, overflow="fold")
    for row in table.select(columns).to_pylist():
        cells = [", ".join(v) if isinstance(v, list) else str(v) for v in row.values()]
        out.add_row(*cells)
    console.print(out)


@tags_app.command(
    "import",
    epilog="Example: chainsleuth tags import exchanges.yaml seized.csv --data case-data",
)
def tags_import(
    files: Annotated[list[Path], typer.Argument(help="TagPack YAML (.yaml/.yml) or CSV files.")],
    data: DataOption,
    as_json: JsonOption = False,
) -> None:
    """Import TagPacks and tag CSVs into the dataset, all or nothing.

    A malformed file fails the whole import with file, line and field named; importing a
    pack again replaces its earlier tags instead of duplicating them.
    """
    from chainsleuth.tags.store import import_tag_files

    report = import_tag_files(_open(data), files)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "files": report.files,
                    "packs": report.packs,
                    "replaced": report.replaced,
                    "total": report.total,
                },
                indent=2,
            )
        )
        return
    for pack, count in report.packs.items():
        console.print(f"imported {count} tags of pack {pack!r}", markup=False, highlight=False)
    console.print(
        f"{report.total} tags stored ({report.replaced} earlier tags of these packs replaced)",
        markup=False,
        highlight=False,
    )


@tags_app.command(
    "export",
    epilog="Example: chainsleuth tags export --data case-data --format csv --out tags.csv",
)
def tags_export(
    data: DataOption,
    fmt: Annotated[
        str, typer.Option("--format", help=f"One of: {', '.join(EXPORT_FORMATS)}.")
    ] = "tagpack",
    out: Annotated[
        Path | None, typer.Option("--out", help="Output file (default: stdout).", metavar="FILE")
    ] = None,
    pack: Annotated[
        list[str] | None, typer.Option("--pack", help="Export only this pack (repeatable).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing --out file.")
    ] = False,
) -> None:
    """Export stored tags as GraphSense TagPack YAML or CSV (re-importable as is)."""
    from chainsleuth.outputs import check_output_file
    from chainsleuth.tags.export import export_tags

    if out is not None:
        check_output_file(out, force=force)
    text = export_tags(_open(data), fmt, pack)
    if out is None:
        typer.echo(text, nl=False)
        return
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    console.print(f"wrote {out}", markup=False, highlight=False)


@tags_app.command("list", epilog="Example: chainsleuth tags list --data case-data --pack exchanges")
def tags_list(
    data: DataOption,
    pack: Annotated[str | None, typer.Option("--pack", help="Only tags of this pack.")] = None,
    category: Annotated[
        str | None, typer.Option("--category", help="Only tags of this category.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List stored tags."""
    from chainsleuth.tags.store import load_tags

    if category is not None:
        from chainsleuth.tags.taxonomy import check_category

        check_category(category)
    tags = [
        t
        for t in load_tags(_open(data))
        if (pack is None or t.pack == pack) and (category is None or t.category == category)
    ]
    _print_tags(tags, f"{len(tags)} tags", as_json)


@tags_app.command("search", epilog="Example: chainsleuth tags search exchange-1 --data case-data")
def tags_search(
    query: Annotated[str, typer.Argument(help="Text to look for (case-insensitive).")],
    data: DataOption,
    as_json: JsonOption = False,
) -> None:
    """Find tags whose target, label, actor, category, source, pack or context contains QUERY."""
    from chainsleuth.tags.store import search_tags

    tags = search_tags(_open(data), query)
    _print_tags(tags, f"{len(tags)} tags matching {query!r}", as_json)


@tags_app.command("clusters", epilog="Example: chainsleuth tags clusters --data case-data --json")
def tags_clusters(
    data: DataOption,
    run: RunOption = None,
    allow_stale: StaleOption = False,
    as_json: JsonOption = False,
) -> None:
    """Labelled clusters of a clustering run: best label by confidence, then source count."""
    from chainsleuth.cluster.runs import check_fresh
    from chainsleuth.tags.attribution import cluster_labels

    ds = _open(data)
    check_fresh(ds, run, allow_stale=allow_stale)
    table = cluster_labels(ds, run)
    columns = ["cluster_id", "label", "actor", "category", "confidence", "n_tags", "conflict"]
    _print_table(table, f"{table.num_rows} labelled clusters", columns, as_json)


@tags_app.command("conflicts", epilog="Example: chainsleuth tags conflicts --data case-data")
def tags_conflicts(
    data: DataOption,
    run: RunOption = None,
    allow_stale: StaleOption = False,
    as_json: JsonOption = False,
) -> None:
    """Clusters whose members carry different actors or categories (often a false merge),
    with the tags behind each; and tagged clusters of different actors that a heuristic linked
    but the collapse guard held apart (kind "held": one side may carry a wrong tag)."""
    from chainsleuth.cluster.runs import check_fresh, latest_run
    from chainsleuth.tags.attribution import (
        cluster_labels,
        cluster_tag_rows,
        conflict_tags,
        held_conflicts,
    )

    ds = _open(data)
    run = run if run is not None else latest_run(ds)
    check_fresh(ds, run, allow_stale=allow_stale)
    labels = cluster_labels(ds, run)
    conflicts = labels.filter(labels.column("conflict"))
    held = held_conflicts(ds, run)
    held_ids = sorted(
        set(held.column("cluster_a").to_pylist() + held.column("cluster_b").to_pylist())
    )
    held_tags = cluster_tag_rows(ds, held_ids, run).to_pylist() if held_ids else []
    if as_json:
        details = conflict_tags(ds, run).to_pylist()
        rows = []
        for row in conflicts.to_pylist():
            row["kind"] = "merged"
            row["tags"] = [d for d in details if d["cluster_id"] == row["cluster_id"]]
            rows.append(row)
        for pair in held.to_pylist():
            pair["kind"] = "held"
            pair["txid"] = ds.txid_of(int(pair["tx_id"]))
            ends = (pair["cluster_a"], pair["cluster_b"])
            pair["tags"] = [d for d in held_tags if d["cluster_id"] in ends]
            rows.append(pair)
        _echo_json(rows)
        return
    columns = ["cluster_id", "actors", "categories", "n_tags", "n_tagged_addresses"]
    _print_table(conflicts, f"{conflicts.num_rows} conflicting clusters", columns, False)
    if conflicts.num_rows:
        for d in conflict_tags(ds, run).to_pylist():
            console.print(
                f"cluster {d['cluster_id']}: {d['address']}  actor {d['actor']}  "
                f"category {d['category'] or '-'}  label {d['label']!r}  "
                f"({d['confidence']}, pack {d['pack']!r})",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
    if held.num_rows:
        pairs = Table(
            title=f"{held.num_rows} tagged cluster pairs held apart by the collapse guard"
        )
        for col in ("cluster", "actors", "cluster", "actors", "links held", "txid"):
            pairs.add_column(col, overflow="fold")
        for pair in held.to_pylist():
            pairs.add_row(
                str(pair["cluster_a"]),
                ", ".join(pair["actors_a"]),
                str(pair["cluster_b"]),
                ", ".join(pair["actors_b"]),
                str(pair["n_links"]),
                ds.txid_of(int(pair["tx_id"]))[:16],
            )
        console.print(pairs)
        for d in held_tags:
            console.print(
                f"cluster {d['cluster_id']}: {d['address']}  actor {d['actor']}  "
                f"label {d['label']!r}  ({d['confidence']}, pack {d['pack']!r})",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
