"""Verbs ``investigate service`` and ``eval investigation``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from chainsleuth.cli._app import (
    MEMORY_HELP,
    app,
    at_least,
    check_categories,
    console,
    console_err,
    eval_app,
    step_progress,
)
from chainsleuth.errors import InputError
from chainsleuth.interrupt import Interrupted

__all__ = ["eval_investigation_cmd", "investigate_app", "service_cmd"]

investigate_app = typer.Typer(
    help="Investigate a service from seed addresses.", no_args_is_help=True
)
app.add_typer(investigate_app, name="investigate")


@investigate_app.command("service")
def service_cmd(
    seed: list[str] = typer.Option(..., "--seed", help="Seed address of the service."),
    data: Path = typer.Option(..., "--data", help="Dataset directory."),
    out: Path = typer.Option(..., "--out", help="Case directory to write."),
    clustering: str | None = typer.Option(
        None, "--clustering", help="Clustering run (default: the newest)."
    ),
    hops: int = typer.Option(
        6, "--hops", callback=at_least(1), help="Backward hops from each customer payment."
    ),
    policy: str = typer.Option("haircut", "--policy", help="poison | haircut | fifo."),
    stop_at: list[str] = typer.Option(
        ["exchange"],
        "--stop-at",
        help="Funding sources: stop at this tag category (repeatable; see docs/tags.md).",
    ),
    min_value: float = typer.Option(
        1000.0, "--min-value", callback=at_least(0), help="Drop flows below N sats."
    ),
    max_service_share: float = typer.Option(
        0.25,
        "--max-service-share",
        help="Refuse a seed whose service wallet grows past this share of all addresses.",
    ),
    force: bool = typer.Option(
        False, "--force", help="Write into a case directory that is not empty (overwrites)."
    ),
    memory_limit: str | None = typer.Option(None, "--memory-limit", help=MEMORY_HELP),
    allow_stale: bool = typer.Option(
        False, "--allow-stale", help="Use a clustering run older than the dataset's tip (warns)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    report: str | None = typer.Option(
        None,
        "--report",
        help="Also write the case report at the end: html, pdf or html,pdf (chainsleuth report).",
    ),
) -> None:
    """From seed addresses: the service wallet, its customers, their funding sources and the
    service's cash-outs; writes CASE_DIR/leads.csv, requests.csv and case.json (and with
    --report, CASE_DIR/report.html / report.pdf).

    Example: chainsleuth investigate service --data data/regtest --seed bcrt1q... --out case
    """
    from chainsleuth.budget import MemoryBudget
    from chainsleuth.cluster.runs import check_fresh
    from chainsleuth.investigate.service import investigate_service
    from chainsleuth.investigate.summary import print_summary
    from chainsleuth.outputs import check_output_dir
    from chainsleuth.store.dataset import Dataset

    categories = check_categories(stop_at)
    formats: list[str] = []
    if report is not None:
        from chainsleuth.report.render import parse_formats

        formats = parse_formats(report)  # a bad format is refused before any work
    if not 0 < max_service_share <= 1:
        raise InputError(f"--max-service-share must be in (0, 1]: {max_service_share}")
    check_output_dir(out, force=force)  # refused before minutes of work, not after
    budget = MemoryBudget.from_option(memory_limit)
    with (
        Dataset.open(data) as ds,
        step_progress(disable=as_json) as bar,
    ):
        budget.apply(ds.con, ds.path)
        check_fresh(ds, clustering, allow_stale=allow_stale)  # refuse before loading anything
        task = bar.add_task("investigating", total=5)
        try:
            inv = investigate_service(
                ds,
                seed,
                out,
                run=clustering,
                hops=hops,
                policy=policy,
                stop_categories=categories,
                min_value=min_value,
                max_service_share=max_service_share,
                allow_stale=allow_stale,
                progress=lambda step, done, total: bar.update(
                    task, description=step, completed=done, total=total
                ),
                budget=budget,
            )
        except Interrupted as stop:
            written = out.is_dir() and any(out.iterdir())
            kept = (
                f"the case in {out} may be incomplete (re-run with --force)"
                if written
                else f"no case written to {out}"
            )
            raise stop.keeping(kept) from None
    reports: list[str] = []
    if formats:
        from chainsleuth.report.render import write_report

        reports = [str(p) for p in write_report(out, formats).paths]
    if as_json:
        summary = {
            "case": str(out),
            "service_clusters": len(inv.wallet.nodes),
            "addresses": inv.profile.n_addresses,
            "payments": len(inv.payments),
            "customers": len({p.group for p in inv.payments}),
            "customer_clusters": len({p.customer for p in inv.payments}),
            "income_sats": inv.profile.income,
            "funded": sum(1 for p in inv.payments if p.funding is not None),
            "cashout_sats": sum(c.amount for c in inv.cashouts),
            "report": reports,
        }
        console.print_json(json.dumps(summary))
        return
    print_summary(inv, console)
    console.print(f"wrote {out}/leads.csv, requests.csv, case.json", highlight=False)
    for path in reports:
        console.print(f"wrote {path}", highlight=False)
    console_err.print(budget.report(), style="dim")


@eval_app.command("investigation")
def eval_investigation_cmd(
    case: Path = typer.Option(..., "--case", help="Case directory (leads.csv, case.json)."),
    truth: Path = typer.Option(..., "--truth", help="Ground-truth directory."),
    data: Path | None = typer.Option(
        None, "--data", help="Dataset (default: the one recorded in case.json)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the scores as JSON."),
) -> None:
    """Score a case against ground truth: customer recall/precision, false merges, funding.

    Example: chainsleuth eval investigation --case case --truth data/sim/truth
    """
    from chainsleuth.investigate.evaluate import evaluate_investigation

    score = evaluate_investigation(case, truth, data)
    if as_json:
        console.print_json(json.dumps(score.as_dict()))
        return
    table = Table(title=f"investigation of {score.service!r} vs truth")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in score.as_dict().items():
        if name == "service":
            continue
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        table.add_row(name.replace("_", " "), shown)
    console.print(table)
