"""Verbs ``cluster`` (and ``cluster train``), ``explain`` and ``eval clustering``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from chainsleuth.cli._app import MEMORY_HELP, app, at_least, console, console_err, eval_app
from chainsleuth.cluster import DEFAULT_MAX_MERGE_SIZE
from chainsleuth.errors import InputError
from chainsleuth.interrupt import Interrupted

__all__ = ["cluster_app", "cluster_cmd", "cluster_train_cmd", "eval_clustering_cmd", "explain_cmd"]


DATA_OPT = typer.Option(..., "--data", help="Dataset directory.")

cluster_app = typer.Typer()
app.add_typer(cluster_app, name="cluster")


@cluster_app.callback(invoke_without_command=True)
def cluster_cmd(
    ctx: typer.Context,
    data: Path | None = typer.Option(None, "--data", help="Dataset directory (required)."),
    heuristics: str = typer.Option(
        "default",
        "--heuristics",
        help="multi-input | default | comma list (multi-input, change, self-transfer, "
        "collapse-guard, change-model, change heuristic names). See docs/clustering.md.",
    ),
    change_model: Path | None = typer.Option(
        None,
        "--change-model",
        help="Change model file (from `cluster train`) for the change-model heuristic; "
        "adds change-model to the heuristics. Default: the shipped model.",
    ),
    name: str | None = typer.Option(None, "--name", help="Run name (default: the heuristics)."),
    max_merge_size: int = typer.Option(
        DEFAULT_MAX_MERGE_SIZE,
        "--max-merge-size",
        callback=at_least(1),
        help="Collapse guard size threshold.",
    ),
    tag_min_confidence: str = typer.Option(
        "50",
        "--tag-min-confidence",
        help="Only tags of at least this confidence (a level 0-100 or a name such as "
        "service_data) hold links of different actors apart; weaker tags (web_crawl 20, "
        "heuristic 10) only label clusters. The run records the tags it used.",
    ),
    memory_limit: str | None = typer.Option(None, "--memory-limit", help=MEMORY_HELP),
    force: bool = typer.Option(
        False, "--force", help="Replace an existing run of the same name (default: refuse)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
    engine: str = typer.Option(
        "local",
        "--engine",
        help="local (this machine, within --memory-limit) or spark (PySpark, the "
        "chainsleuth[spark] extra; the same rows, docs/spark.md).",
    ),
    master: str | None = typer.Option(
        None,
        "--master",
        help="Spark master with --engine spark: local[N] or spark://HOST:PORT (default: "
        "spark-submit's, else local[2]).",
    ),
    conf: list[str] | None = typer.Option(
        None, "--conf", help="A Spark setting KEY=VALUE with --engine spark (repeatable)."
    ),
) -> None:
    """Cluster addresses into wallets; writes DATASET/derived/clusters/RUN/.

    Example: chainsleuth cluster --data data/regtest --heuristics multi-input --name mi

    On Spark: chainsleuth cluster --data full.ds --engine spark --master spark://m:7077
    --conf spark.executor.memory=8g (docs/spark.md).
    """
    if ctx.invoked_subcommand is not None:
        return
    if engine not in ("local", "spark"):
        raise InputError(f"bad --engine {engine!r}: expected local or spark")
    settings: dict[str, str] = {}
    if engine == "spark":
        from chainsleuth.spark.session import check_master, parse_conf, spark_available

        if master is not None:
            check_master(master)
        settings = parse_conf(conf)
        problem = spark_available()
        if problem is not None:
            raise InputError(problem)
    elif master is not None or conf:
        raise InputError("--master and --conf apply to --engine spark")
    if data is None:
        raise InputError("missing option --data (the dataset to cluster)")
    if change_model is not None:
        # the run keeps the name of the heuristics as given; the model file joins the spec
        name = name if name is not None else heuristics.replace(",", "+") + "+change-model"
        heuristics = f"{heuristics},change-model={change_model}"
    from chainsleuth.budget import MemoryBudget
    from chainsleuth.cluster.run import cluster_dataset
    from chainsleuth.cluster.spec import parse_heuristics
    from chainsleuth.store.dataset import Dataset
    from chainsleuth.tags.guard import actor_table, parse_min_confidence

    budget = MemoryBudget.from_option(memory_limit)
    min_confidence = parse_min_confidence(tag_min_confidence)
    parse_heuristics(heuristics)  # a bad list is refused before the dataset is opened
    with (
        Dataset.open(data) as ds,
        Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=as_json,
        ) as bar,
    ):
        task = bar.add_task("clustering", total=None)
        budget.apply(ds.con, ds.path)
        # only the collapse guard reads tags (and joining them to addresses scans that table)
        guarded = parse_heuristics(heuristics).collapse_guard
        actors = actor_table(ds, min_confidence) if guarded else None
        spark_fields: dict[str, Any] = {}
        common: dict[str, Any] = {
            "actors": actors,
            "max_merge_size": max_merge_size,
            "progress": lambda msg: bar.update(task, description=msg),
            "force": force,
            "budget": budget,
        }
        try:
            if engine == "spark":
                from chainsleuth.spark.cluster import cluster_spark

                report = cluster_spark(ds, heuristics, name, **common, master=master, conf=settings)
                run = report.run
                spark_fields = {"engine": "spark", "master": report.master,
                                "buckets": report.buckets, "stages": report.stages}  # fmt: skip
            else:
                run = cluster_dataset(ds, heuristics, name, **common)
        except Interrupted as stop:
            runs = ds.path / "derived" / "clusters"
            raise stop.keeping(f"no clustering run written ({runs} left as it was)") from None
    summary = {
        "name": run.name,
        "path": str(run.path),
        "addresses": run.n_addresses,
        "clusters": run.n_clusters,
        "links": run.n_links,
        "unions": run.n_unions,
        "held_back": run.n_held,
        "coinjoins_skipped": run.n_coinjoins,
        "tags_used": len(actors) if actors is not None else 0,
        "tag_min_confidence": min_confidence,
        "seconds": round(run.seconds, 3),
        **spark_fields,
    }
    if as_json:
        console.print_json(json.dumps(summary))
        return
    console_err.print(budget.report(), style="dim")
    console.print(
        f"run [bold]{run.name}[/]: {run.n_addresses:,} addresses → {run.n_clusters:,} clusters "
        f"({run.n_unions:,} unions from {run.n_links:,} links, {run.n_held:,} held back, "
        f"{run.n_coinjoins:,} CoinJoins skipped; {len(actors or ()):,} tags of confidence ≥ "
        f"{min_confidence} guarding) in {run.seconds:.2f} s",
        highlight=False,
    )
    if spark_fields:
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in spark_fields["stages"].items())
        console.print(
            f"on Spark {spark_fields['master']}, {spark_fields['buckets']:,} buckets: {stages}",
            highlight=False,
        )


@app.command("explain")
def explain_cmd(
    address_a: str = typer.Argument(..., help="First address."),
    address_b: str = typer.Argument(..., help="Second address."),
    data: Path = DATA_OPT,
    run: str | None = typer.Option(None, "--run", help="Clustering run (default: latest)."),
    allow_stale: bool = typer.Option(
        False, "--allow-stale", help="Use a run older than the dataset's tip (with a warning)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Why two addresses share a cluster: the txids and rules linking them.

    Example: chainsleuth explain --data data/regtest bcrt1q... bcrt1q...
    """
    from chainsleuth.cluster.explain import explain_link
    from chainsleuth.store.dataset import Dataset

    with Dataset.open(data) as ds:
        result = explain_link(ds, address_a, address_b, run, allow_stale=allow_stale)
    if as_json:
        console.print_json(json.dumps(result.to_dict()))
        return
    if not result.linked:
        console.print(f"not linked (run {result.run})", highlight=False)
        return
    table = Table(title=f"cluster {result.cluster_id} (run {result.run})")
    for col in ("#", "address", "address", "txid", "rule"):
        table.add_column(col)
    for i, step in enumerate(result.steps, 1):
        table.add_row(str(i), step.addr_a, step.addr_b, step.txid, step.rule)
    if not result.steps:
        console.print("same address", highlight=False)
        return
    console.print(table)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


@eval_app.command("clustering")
def eval_clustering_cmd(
    data: Path = DATA_OPT,
    truth: Path = typer.Option(..., "--truth", help="Truth directory (addresses.csv)."),
    run: str | None = typer.Option(None, "--run", help="Clustering run (default: latest)."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Pairwise precision/recall, false merges, purity and change-heuristic scores.

    Example: chainsleuth eval clustering --data data/regtest --truth truth/
    """
    from chainsleuth.cluster.evaluate import evaluate_clustering
    from chainsleuth.store.dataset import Dataset

    with Dataset.open(data) as ds:
        report = evaluate_clustering(ds, truth, run)
    if as_json:
        console.print_json(json.dumps(report))
        return
    pw, fm = report["pairwise"], report["false_merges"]
    summary = Table(title=f"clustering run {report['run']}")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    for label, value in (
        ("pairwise precision", pw["precision"]),
        ("pairwise recall", pw["recall"]),
        ("false merges", fm["count"]),
        ("largest false merge (size)", fm["largest_size"]),
        ("largest false merge (wallets)", ", ".join(fm["largest_wallets"][:5]) or None),
        ("purity", report["purity"]),
        ("recall ceiling: perfect change", report.get("recall_ceiling", {}).get("perfect_change")),
        ("recall ceiling: + perfect sweeps", report.get("recall_ceiling", {}).get("perfect_self")),
        ("clusters", report["clusters"]),
        ("addresses scored", report["addresses_scored"]),
    ):
        summary.add_row(label, _fmt(value))
    console.print(summary)
    change = Table(title="change heuristics")
    for col in ("heuristic", "candidates", "precision", "recall"):
        change.add_column(col, justify="right" if col != "heuristic" else "left")
    for heuristic, row in report.get("change", {}).items():
        change.add_row(
            heuristic, _fmt(row["candidates"]), _fmt(row["precision"]), _fmt(row["recall"])
        )
    console.print(change)


@cluster_app.command("train")
def cluster_train_cmd(
    data: Path = DATA_OPT,
    out: Path = typer.Option(
        Path("change_model.json"), "--out", help="Model file to write (JSON)."
    ),
    truth: Path | None = typer.Option(
        None,
        "--truth",
        help="Train on a simulated chain's truth (addresses.csv) instead of self-revealed "
        "change. Never the truth of the chain you evaluate on.",
    ),
    max_fpr: float = typer.Option(
        0.0005, "--max-fpr", help="Held-out false-positive rate the threshold allows."
    ),
    seed: int = typer.Option(
        0, "--seed", callback=at_least(0), help="Random seed (split and trees)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing --out file."),
    as_json: bool = typer.Option(False, "--json", help="Print the training report as JSON."),
) -> None:
    """Train a change model on a dataset's self-revealed change; writes a model file.

    Example: chainsleuth cluster train --data data/regtest --out change_model.json
    """
    from chainsleuth.cluster.train import train_on_dataset
    from chainsleuth.outputs import check_output_file
    from chainsleuth.store.dataset import Dataset

    check_output_file(out, force=force)
    if not 0 <= max_fpr < 1:
        raise InputError(f"--max-fpr must be in [0, 1): {max_fpr}")

    with Dataset.open(data) as ds:
        model, report = train_on_dataset(ds, truth=truth, max_fpr=max_fpr, seed=seed)
    model.save(out)
    summary = {"out": str(out), "labels": model.trained.get("labels"), **report.to_dict()}
    if as_json:
        console.print_json(json.dumps(summary))
        return
    console.print(
        f"change model → {out}: {report.rows:,} labelled outputs ({report.positives:,} change, "
        f"{summary['labels']}); threshold {report.threshold:.4f}, held-out false-positive rate "
        f"{report.heldout_fpr:.4%}, recall {report.heldout_recall:.2%}",
        highlight=False,
    )
