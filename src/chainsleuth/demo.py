"""The whole workflow on a simulated case: simulate → ingest → tags → cluster → investigate.

``chainsleuth demo`` (and ``make demo``) runs :func:`run_demo`: it simulates the shipped
``case.yaml`` economy (package data, :func:`default_scenario`), ingests its block files,
imports the tag packs an investigator would have (test deposits at exchanges, a test purchase
at the service), clusters the addresses (tags of confidence 50 and up keep different actors
apart), investigates the service from one seed address, scores the result against the
simulator's ground truth, and writes the case's report (``case/report.html``; the CLI also
``report.pdf``). Each step prints what it found.

>>> default_scenario().name
'case.yaml'
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from rich.console import Console
from rich.table import Table

from chainsleuth.cluster.evaluate import evaluate_clustering
from chainsleuth.cluster.run import cluster_dataset
from chainsleuth.errors import InputError
from chainsleuth.ingest import ingest_blocks
from chainsleuth.simulate import load_scenario, simulate
from chainsleuth.store.dataset import Dataset
from chainsleuth.tags.guard import DEFAULT_MIN_CONFIDENCE, actor_table
from chainsleuth.tags.store import import_tag_files

__all__ = ["default_scenario", "run_demo"]


def default_scenario() -> Path:
    """The shipped ``case.yaml`` scenario: package data (``chainsleuth/scenarios/``, which the
    repository's ``scenarios/`` links to), so an installed wheel finds it from any directory.

    >>> default_scenario().parent.name, default_scenario().is_file()
    ('scenarios', True)
    """
    return Path(str(resources.files("chainsleuth") / "scenarios" / "case.yaml"))


def _seed_address(truth: Path) -> str:
    """The deposit address of the first test purchase: what an investigator starts from."""
    with open(truth / "service_payments.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise InputError(f"{truth / 'service_payments.csv'}: the scenario has no service payments")
    purchases = [r for r in rows if r.get("test_purchase", "").lower() == "true"]
    return (purchases or rows)[0]["deposit_address"]


def run_demo(
    workdir: Path,
    scenario: Path | None = None,
    console: Console | None = None,
    report_formats: Sequence[str] = ("html",),
) -> Path:
    """Run every step into ``workdir``; returns the case directory. The last step writes the
    case's report in ``report_formats`` (``chainsleuth demo`` asks for html and pdf; none:
    no report)."""
    out = console or Console()
    scenario = scenario or default_scenario()
    workdir.mkdir(parents=True, exist_ok=True)
    sim_dir = workdir / "simulated"
    data = workdir / "dataset"
    case_dir = workdir / "case"

    out.rule("1. simulate")
    spec = load_scenario(scenario)
    if not (sim_dir / "truth" / "service_payments.csv").exists():
        report = simulate(spec, sim_dir, None, force=True)
        out.print(
            f"{report.blocks:,} blocks, {report.txs:,} transactions, "
            f"{report.addresses:,} addresses → {sim_dir}"
        )
    else:
        out.print(f"reusing {sim_dir}")

    out.rule("2. ingest")
    ing = ingest_blocks(sim_dir / "blocks", data, "regtest")
    out.print(
        f"dataset {data}: tip {ing.tip_height} ({ing.txs_added:,} transactions added in "
        f"{ing.seconds:.1f} s)"
    )

    with Dataset.open(data) as ds:
        out.rule("3. tags")
        packs = sorted((sim_dir / "truth" / "tagpacks").glob("*.yaml"))
        imported = import_tag_files(ds, packs)
        out.print(f"imported {sum(imported.packs.values()):,} tags from {len(packs)} packs")

        out.rule("4. cluster (multi-input + consensus change + collapse guard)")
        actors = actor_table(ds, DEFAULT_MIN_CONFIDENCE)
        run = cluster_dataset(ds, "default", "default", actors=actors, force=True)
        out.print(
            f"run {run.name}: {run.n_clusters:,} clusters from {run.n_unions:,} unions "
            f"({run.n_held:,} links held back; {len(actors):,} tags guarding)"
        )
        scores = evaluate_clustering(ds, sim_dir / "truth", run.name)
        pw = scores["pairwise"]
        out.print(
            f"against the truth: pairwise precision {pw['precision']:.6f}, recall "
            f"{pw['recall']:.4f}, false merges {scores['false_merges']['count']}"
        )

    seed = _seed_address(sim_dir / "truth")
    out.rule("5. investigate the service from one seed address")
    out.print(f"seed: {seed}")
    _investigate(data, seed, case_dir, sim_dir / "truth", out)
    if report_formats:
        from chainsleuth.report.render import write_report

        out.rule("6. report")
        written = write_report(case_dir, report_formats)
        for path in written.paths:
            out.print(f"report: {path}", highlight=False)
    return case_dir


def _investigate(data: Path, seed: str, case_dir: Path, truth: Path, out: Console) -> None:
    from chainsleuth.investigate.evaluate import evaluate_investigation
    from chainsleuth.investigate.service import investigate_service
    from chainsleuth.investigate.summary import print_summary

    with Dataset.open(data) as ds:
        result = investigate_service(ds, [seed], case_dir)
    print_summary(result, out)
    scores = evaluate_investigation(case_dir, truth)
    table = Table("measure", "value", title="investigation vs ground truth")
    for key, value in scores.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.4f}")
        elif isinstance(value, int | str):
            table.add_row(key, str(value))
    out.print(table)
    out.print(f"case files: {case_dir}/leads.csv, case.json, requests.csv")
