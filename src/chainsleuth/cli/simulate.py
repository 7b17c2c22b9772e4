"""``chainsleuth simulate``: a synthetic economy as regtest block files plus ground truth."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from chainsleuth.cli._app import app, at_least, console
from chainsleuth.interrupt import Interrupted

__all__ = ["simulate_command"]


@app.command("simulate")
def simulate_command(
    scenario: Path = typer.Argument(..., help="Scenario YAML file (see scenarios/)."),
    out: Path = typer.Option(..., "--out", help="Output directory (blocks/ and truth/ go here)."),
    seed: int | None = typer.Option(
        None, "--seed", callback=at_least(0), help="RNG seed (default: the scenario's)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Write into an OUT that is not empty (replaces its blocks/, truth/)."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Simulate SCENARIO and write OUT/blocks/blk*.dat, OUT/truth/ and OUT/truth/tagpacks/.

    Example: chainsleuth simulate scenarios/tiny.yaml --out /tmp/tiny --seed 7
    """
    from chainsleuth.outputs import check_output_dir
    from chainsleuth.simulate import load_scenario, simulate

    spec = load_scenario(scenario)
    check_output_dir(out, force=force)
    total = spec.bootstrap_blocks + spec.blocks
    with Progress(
        TextColumn("simulating {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=True,
    ) as bar:
        task = bar.add_task(spec.name, total=total)
        try:
            report = simulate(
                spec, out, seed, lambda done, _total: bar.update(task, completed=done), force=force
            )
        except Interrupted as stop:
            raise stop.keeping(
                f"the simulation in {out} is incomplete (re-run with --force)"
            ) from None
    rate = report.txs / report.seconds if report.seconds else 0.0
    console.print(
        f"{spec.name}: {report.blocks} blocks, {report.txs} transactions, "
        f"{report.addresses} addresses in {report.seconds:.1f} s ({rate:,.0f} tx/s) -> {out}"
    )
