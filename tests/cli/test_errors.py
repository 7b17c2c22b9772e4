"""CLI behaviour every verb shares (issue 12): a missing folder, a file where a folder is needed,
permission denied or a full disk is exit 2 and one stderr line naming the path, never a
traceback; existing outputs are refused without --force; bad values are named; SIGINT and
SIGTERM exit 130 with one line and keep what is complete (an interrupted ingest resumes to the
same files, an interrupted clustering leaves no run); --version."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import chainsleuth
from chainsleuth.interrupt import Interrupted

CliRun = Callable[..., tuple[int, str, str]]
SEED = "bcrt1qrlz3a8k2dar5uy50thgrhjjrdyjrcmp6pwmstv"  # the regtest service's deposit address


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture()
def own_ds(regtest_dataset: Path, tmp_path: Path) -> Path:
    """A copy of the session dataset (no runs) that a test may add clustering runs to."""
    path = tmp_path / "own"
    shutil.copytree(regtest_dataset, path, ignore=shutil.ignore_patterns("derived"))
    return path


@pytest.fixture()
def paths(tmp_path: Path, regtest_dataset: Path) -> dict[str, str]:
    afile = tmp_path / "afile"
    afile.write_text("x")
    return {
        "ds": str(regtest_dataset),
        "blocks": str(Path(__file__).parents[1] / "data" / "regtest-core-a" / "blocks"),
        "missing": str(tmp_path / "nodir"),
        "file": str(afile),
        "tmp": str(tmp_path),
    }


# (argv template, the path the line must name); {missing} is a folder that does not exist,
# {file} a regular file where a folder is needed
PATH_CASES = [
    ("ingest {missing} --data {tmp}/ds --network regtest", "{missing}"),
    ("ingest {file} --data {tmp}/ds --network regtest", "{file}"),
    ("ingest {blocks} --data {file} --network regtest", "{file}"),
    ("ingest {blocks} --data {file}/ds --network regtest", "{file}"),
    ("cluster --data {missing}", "{missing}"),
    ("cluster --data {file}", "{file}"),
    ("cluster train --data {ds} --out {missing}/m.json", "{missing}"),
    (f"explain {SEED} {SEED} --data {{missing}}", "{missing}"),
    (f"explain {SEED} {SEED} --data {{file}}", "{file}"),
    ("tags import {missing}/x.yaml --data {ds}", "{missing}/x.yaml"),
    ("tags import {missing} --data {file}", "{file}"),
    ("tags export --data {ds} --out {missing}/t.csv", "{missing}"),
    ("tags export --data {ds} --out {file}/t.csv", "{file}"),
    ("tags export --data {ds} --out {tmp}", "{tmp}"),
    ("tags list --data {missing}", "{missing}"),
    ("tags search x --data {file}", "{file}"),
    ("tags clusters --data {missing}", "{missing}"),
    ("tags conflicts --data {file}", "{file}"),
    ("show 0 --data {missing}", "{missing}"),
    ("show 0 --data {file}", "{file}"),
    (f"trace {SEED} --data {{missing}}", "{missing}"),
    (f"trace {SEED} --data {{file}}", "{file}"),
    (f"investigate service --seed {SEED} --data {{missing}} --out {{tmp}}/c", "{missing}"),
    (f"investigate service --seed {SEED} --data {{ds}} --out {{file}}", "{file}"),
    (f"investigate service --seed {SEED} --data {{ds}} --out {{file}}/c", "{file}"),
    ("decode {missing}/block.hex", "{missing}/block.hex"),
    ("decode {tmp}", "{tmp}"),
    ("simulate {missing}/s.yaml --out {tmp}/sim", "{missing}/s.yaml"),
    ("simulate scenarios/tiny.yaml --out {file}", "{file}"),
    ("simulate scenarios/tiny.yaml --out {file}/sim", "{file}"),
    ("eval clustering --data {missing} --truth {tmp}", "{missing}"),
    ("eval clustering --data {file} --truth {tmp}", "{file}"),
    ("eval investigation --case {missing} --truth {tmp}", "{missing}"),
    ("eval investigation --case {file} --truth {tmp}", "{file}"),
    ("demo --workdir {file}", "{file}"),
    ("demo --workdir {file}/w", "{file}"),
]


@pytest.mark.parametrize(("template", "named"), PATH_CASES, ids=[c[0] for c in PATH_CASES])
def test_bad_path_is_one_line_exit_2(
    template: str,
    named: str,
    paths: dict[str, str],
    cli_run: CliRun,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(Path(__file__).parents[2])  # scenarios/ of the repository
    code, _, err = cli_run(*template.format(**paths).split())
    line = _one_line(err)
    assert code == 2, err
    assert line.startswith("error: ") and named.format(**paths) in line, line


def _denied(path: Path) -> PermissionError:
    return PermissionError(errno.EACCES, "Permission denied", str(path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_unwritable_folder_is_one_line_exit_2(paths: dict[str, str], cli_run: CliRun) -> None:
    ro = Path(paths["tmp"]) / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        args = ("ingest", paths["blocks"], "--data", str(ro / "ds"), "--network", "regtest")
        code, _, err = cli_run(*args)
        assert code == 2 and "permission denied" in _one_line(err) and str(ro) in err
    finally:
        ro.chmod(0o700)


def test_permission_denied_while_writing_names_the_file(
    own_ds: Path, cli_run: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """chmod cannot stop root, so the writing function fails as the OS would."""
    import chainsleuth.cluster.run as run_mod

    def deny(_table: Any, path: Path) -> None:
        raise _denied(path)

    monkeypatch.setattr(run_mod, "_write_parquet", deny)
    code, _, err = cli_run("cluster", "--data", str(own_ds), "--name", "t-denied")
    line = _one_line(err)
    # the streamed engine writes its row files itself; tags.parquet is the first one written
    # through _write_parquet, after the evidence and address_cluster files
    assert code == 2 and "permission denied" in line and "tags.parquet" in line
    runs = own_ds / "derived" / "clusters"
    assert not (runs / "t-denied").exists()  # the half-written run is gone
    assert not list((runs / ".tmp").glob("t-denied@*"))


def test_disk_full_without_a_file_name_names_the_output(
    own_ds: Path, paths: dict[str, str], cli_run: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chainsleuth.investigate.case as case_mod

    def full(_path: Path, _text: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(case_mod, "_write_text", full)
    out = Path(paths["tmp"]) / "case"
    assert cli_run("cluster", "--data", str(own_ds))[0] == 0  # a run for the investigation
    args = ["investigate", "service", "--seed", SEED, "--data", str(own_ds), "--out", str(out)]
    code, _, err = cli_run(*args)
    line = _one_line(err)
    assert code == 2 and "disk full" in line and str(out) in line


def test_tags_export_disk_full(
    paths: dict[str, str], cli_run: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(self: Path, *_args: Any, **_kw: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr("chainsleuth.tags.export.export_tags", lambda *_a: "target,label\n")
    monkeypatch.setattr(Path, "write_text", full)
    out = Path(paths["tmp"]) / "tags.csv"
    code, _, err = cli_run("tags", "export", "--data", paths["ds"], "--out", str(out))
    assert code == 2 and "no space left on device (disk full)" in _one_line(err)
    assert not out.exists() and not list(out.parent.glob(".tags.csv.*"))


# --- existing outputs need --force ---------------------------------------------------------


def test_cluster_refuses_an_existing_run_name(own_ds: Path, cli_run: CliRun) -> None:
    args = ("cluster", "--data", str(own_ds), "--heuristics", "multi-input")
    assert cli_run(*args, "--name", "t-again")[0] == 0
    params = own_ds / "derived" / "clusters" / "t-again" / "params.json"
    created = json.loads(params.read_text())["created"]
    code, _, err = cli_run(*args, "--name", "t-again")
    line = _one_line(err)
    assert code == 2 and "t-again" in line and "--force overwrites" in line
    assert json.loads(params.read_text())["created"] == created  # untouched
    code, _, err = cli_run(*args, "--name", "t-again", "--force")
    assert code == 0, err
    assert json.loads(params.read_text())["created"] != created


def test_outputs_that_exist_are_refused(
    paths: dict[str, str], cli_run: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(__file__).parents[2])  # scenarios/ of the repository
    monkeypatch.setattr("chainsleuth.tags.export.export_tags", lambda *_a: "target,label\n")
    tmp = Path(paths["tmp"])
    case = tmp / "case"
    case.mkdir()
    (case / "notes.txt").write_text("mine")
    cases = [
        ["investigate", "service", "--seed", SEED, "--data", paths["ds"], "--out", str(case)],
        ["simulate", "scenarios/tiny.yaml", "--out", str(case)],
        ["tags", "export", "--data", paths["ds"], "--out", paths["file"]],
        ["cluster", "train", "--data", paths["ds"], "--out", paths["file"]],
    ]
    for argv in cases:
        code, _, err = cli_run(*argv)
        line = _one_line(err)
        assert code == 2 and "--force" in line, (argv, line)
        assert str(case) in line or paths["file"] in line
    assert (case / "notes.txt").read_text() == "mine" and Path(paths["file"]).read_text() == "x"
    code, _, err = cli_run(*cases[2], "--force", "--format", "csv")
    assert code == 0, err
    assert Path(paths["file"]).read_text().startswith("target")


# --- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["investigate", "service", "--seed", SEED, "--out", "o", "--stop-at", "exchnage"],
         "'exchnage'"),
        (["trace", SEED, "--stop-at", "exchange", "--stop-at", "bank"], "'bank'"),
        (["trace", SEED, "--start", "2025-02-01", "--end", "2025-01-01"], "--end 2025-01-01"),
        (["trace", SEED, "--min-value", "-5"], "-5"),
        (["trace", SEED, "--hops", "0"], "'--hops': 0"),
        (["trace", SEED, "--max-cluster-size", "0"], "'--max-cluster-size': 0"),
        (["investigate", "service", "--seed", SEED, "--out", "o", "--min-value", "-1"], "-1"),
        (["investigate", "service", "--seed", SEED, "--out", "o", "--hops", "0"], "0"),
        (["investigate", "service", "--seed", SEED, "--out", "o", "--max-service-share", "2"],
         "2.0"),
        (["cluster", "--max-merge-size", "0"], "'--max-merge-size': 0"),
        (["tags", "list", "--category", "bank"], "'bank'"),
        (["ingest", "x", "--to-height", "-1"], "'--to-height': -1"),
        (["ingest", "x", "--workers", "0"], "'--workers': 0"),
        (["ingest", "x", "--partition-span", "0"], "'--partition-span': 0"),
    ],
)  # fmt: skip
def test_bad_values_are_named(
    argv: list[str], named: str, regtest_dataset: Path, cli_run: CliRun
) -> None:
    code, out, err = cli_run(*argv, "--data", str(regtest_dataset))
    line = _one_line(err)
    assert code == 2 and named in line, line
    if "--stop-at" in argv or "--category" in argv:
        assert "valid: exchange, atm" in line
    assert not out.strip()


def test_version(cli_run: CliRun) -> None:
    code, out, err = cli_run("--version")
    assert (code, out, err) == (0, f"chainsleuth {chainsleuth.__version__}\n", "")


# --- interrupts -----------------------------------------------------------------------------


def _table_files(data: Path) -> dict[str, Any]:
    files = json.loads((data / "manifest.json").read_text())["files"]
    return {k: v for k, v in files.items() if k.startswith(("tables/", "index/"))}


def test_interrupted_ingest_resumes_to_the_same_files(
    tmp_path: Path,
    regtest_blocks_dir: Path,
    regtest_dataset: Path,
    cli_run: CliRun,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C while a partition is half linked: the partitions finished since the last
    checkpoint are kept (the saved indexes roll forward over them on resume)."""
    import chainsleuth.ingest.runner as runner

    monkeypatch.setattr(os, "fsync", lambda _fd: None)  # durability is not what is tested here
    data = tmp_path / "ds"
    # a small memory budget: quicker (no big pre-sized tables), the same files
    base = ("ingest", str(regtest_blocks_dir), "--data", str(data), "--network", "regtest",
            "--memory-limit", "256M")  # fmt: skip
    assert cli_run(*base, "--partition-span", "100", "--to-height", "199")[0] == 0
    real = runner.link_batch
    calls = []

    def stop_in_the_second(*args: Any, **kw: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:  # 200-299 is done, 300-399 half linked
            raise Interrupted("SIGINT")
        return real(*args, **kw)

    monkeypatch.setattr(runner, "link_batch", stop_in_the_second)
    code, _, err = cli_run(*base)
    line = _one_line(err)
    assert code == 130 and line.startswith("interrupted: ingest stopped")
    assert f"{data} kept up to height 299" in line
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["tip"]["height"] == 299 and manifest["state"]["height"] == 199
    assert not list((data / "tables").rglob("*.tmp"))
    monkeypatch.setattr(runner, "link_batch", real)
    code, out, err = cli_run(*base, "--json")
    assert code == 0, err
    assert json.loads(out)["tip_height"] == 473
    assert _table_files(data) == _table_files(regtest_dataset)


def test_interrupt_between_partitions_saves_the_indexes(
    tmp_path: Path, regtest_blocks_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped right after a partition: the checkpoint saves the indexes too, so the resume
    loads them instead of rolling forward."""
    from chainsleuth.ingest import ingest_blocks

    monkeypatch.setattr(os, "fsync", lambda _fd: None)
    data = tmp_path / "ds"

    def stop_at_200(blocks: int, _txs: int, _total: int) -> None:
        if blocks >= 200:
            raise Interrupted("SIGTERM")

    opts: dict[str, Any] = {"partition_span": 100, "memory_limit": "576M"}
    with pytest.raises(Interrupted) as stopped:
        ingest_blocks(regtest_blocks_dir, data, "regtest", progress=stop_at_200, **opts)
    assert stopped.value.signal_name == "SIGTERM"
    assert f"dataset {data} kept up to height 199" in str(stopped.value)
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["tip"]["height"] == manifest["state"]["height"] == 199
    assert ingest_blocks(regtest_blocks_dir, data, "regtest", **opts).tip_height == 473


def test_sigint_stops_ingest_in_a_subprocess(
    tmp_path: Path,
    regtest_blocks_dir: Path,
    regtest_dataset: Path,
    cli_run: CliRun,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real Ctrl-C: exit 130, one line, a checkpoint; the re-run completes the same files."""
    monkeypatch.setattr(os, "fsync", lambda _fd: None)  # for the re-run in this process
    data = tmp_path / "ds"
    argv = ["ingest", str(regtest_blocks_dir), "--data", str(data), "--network", "regtest",
            "--partition-span", "100", "--memory-limit", "256M"]  # fmt: skip
    # fsync off (durability is not what is tested here): the run takes seconds, not tens
    code = "import os, sys; os.fsync = lambda fd: None; from chainsleuth.cli import run; run()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = data / "tables" / "blocks" / "h000000000-000000099.parquet"
    deadline = time.monotonic() + 60
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the ingest finished before the signal came")
    line = _one_line(err)
    assert proc.returncode == 130 and line.startswith("interrupted: ingest stopped"), err
    tip = json.loads((data / "manifest.json").read_text())["tip"]["height"]
    assert f"kept up to height {tip}" in line if tip >= 0 else "holds no block yet" in line
    code, _, err = cli_run(*argv)
    assert code == 0, err
    assert _table_files(data) == _table_files(regtest_dataset)


@pytest.mark.parametrize("force", [False, True])
def test_sigterm_during_cluster_leaves_no_half_run(
    force: bool, own_ds: Path, cli_run: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM (a real signal, to this process) while the run's files are written: exit 130,
    no params.json of a half run; with --force the old run stays as it was."""
    import chainsleuth.store.clusterstats as stats_mod

    name = f"t-term-{force}"
    args = ("cluster", "--data", str(own_ds), "--heuristics", "multi-input")
    run_dir = own_ds / "derived" / "clusters" / name
    if force:
        assert cli_run(*args, "--name", name)[0] == 0
        before = (run_dir / "params.json").read_text()
    real = stats_mod.write_cluster_stats

    def killed(*a: Any, **kw: Any) -> Any:
        os.kill(os.getpid(), signal.SIGTERM)
        return real(*a, **kw)

    monkeypatch.setattr(stats_mod, "write_cluster_stats", killed)
    code, _, err = cli_run(*args, "--name", name, *(["--force"] if force else []))
    line = _one_line(err)
    assert code == 130 and line.startswith("interrupted: no clustering run written"), err
    if force:
        assert (run_dir / "params.json").read_text() == before
    else:
        assert not run_dir.exists()
    assert not list((run_dir.parent / ".tmp").glob(f"{name}@*"))


def test_interrupt_of_a_read_only_verb(cli_run: CliRun, monkeypatch: pytest.MonkeyPatch) -> None:
    import chainsleuth.cli.decode as decode_mod

    def stop(_source: str) -> bytes:
        raise KeyboardInterrupt

    monkeypatch.setattr(decode_mod, "read_raw_input", stop)
    code, _, err = cli_run("decode", "00")
    assert code == 130 and _one_line(err) == "interrupted: SIGINT; nothing was written"
