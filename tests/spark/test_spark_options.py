"""``--engine`` / ``--master`` / ``--conf``: refused before Spark starts (exit 2, one line naming
the value). These need neither pyspark nor Java."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from chainsleuth.errors import InputError
from chainsleuth.spark import check_master, parse_conf, session
from chainsleuth.spark import ingest as spark_ingest


@pytest.mark.parametrize(
    "master", ["local", "local[1]", "local[*]", "local[4,2]", "spark://10.0.0.5:7077", "yarn",
               "spark://a:7077,b:7077", "k8s://https://k8s.example:6443"],
)  # fmt: skip
def test_good_masters(master: str) -> None:
    assert check_master(master) == master


@pytest.mark.parametrize(
    "master", ["", "local[0]", "local[x]", "spark://host", "spark:/h:1", "mesos://h:5050", "lokal"]
)
def test_bad_masters(master: str) -> None:
    with pytest.raises(InputError, match=f"^bad --master {re.escape(repr(master))}: expected"):
        check_master(master)


@pytest.mark.parametrize("item", ["spark.executor.memory", "executor.memory=4g", "spark.=1",
                                  "spark.executor.memory=", "=4g"])  # fmt: skip
def test_bad_conf(item: str) -> None:
    with pytest.raises(InputError, match=f"^bad --conf {re.escape(repr(item))}"):
        parse_conf([item])


def test_conf_last_wins() -> None:
    assert parse_conf(["spark.a=1", "spark.b=x=y", "spark.a=2"]) == {
        "spark.a": "2",
        "spark.b": "x=y",
    }


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--engine", "spark", "--master", "spark://nohost"], "'spark://nohost'"),
        (["--engine", "spark", "--conf", "executor.memory=4g"], "'executor.memory=4g'"),
        (["--engine", "sparkle"], "'sparkle'"),
        (["--master", "local[2]"], "--master and --conf apply to --engine spark"),
        (["--engine", "spark", "--workers", "3"], "--workers applies to --engine local"),
    ],
)
def test_cli_refuses_bad_values(
    args: list[str], named: str, cli_run: Any, regtest_blocks_dir: Path, tmp_path: Path
) -> None:
    code, _, err = cli_run(
        "ingest", str(regtest_blocks_dir), "--data", str(tmp_path / "ds"), "--network",
        "regtest", *args,
    )  # fmt: skip
    assert code == 2
    assert named in _one_line(err)
    assert not (tmp_path / "ds").exists()


def test_without_pyspark_the_cli_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, cli_run: Any, regtest_blocks_dir: Path, tmp_path: Path
) -> None:
    message = "--engine spark needs pyspark: pip install 'chainsleuth[spark]'"
    monkeypatch.setattr(session, "spark_available", lambda: message)
    monkeypatch.setattr(spark_ingest, "spark_available", lambda: message)
    code, _, err = cli_run(
        "ingest", str(regtest_blocks_dir), "--data", str(tmp_path / "ds"), "--network",
        "regtest", "--engine", "spark",
    )  # fmt: skip
    assert code == 2
    assert _one_line(err) == f"error: {message}"
    assert not (tmp_path / "ds").exists()  # refused before the dataset folder is made
