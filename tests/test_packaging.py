"""Packaging: the shipped scenarios and change model are package data, found by an installed
wheel from any directory; no unused dependency or stdlib-shadowing module is shipped."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from importlib import resources
from pathlib import Path

import pytest

from chainsleuth.demo import default_scenario
from chainsleuth.heuristics.changemodel import default_model_path
from chainsleuth.simulate import load_scenario

ROOT = Path(__file__).parents[1]
SCENARIOS = ("bench", "case", "change-train", "tiny")


def test_default_scenario_is_package_data() -> None:
    shipped = resources.files("chainsleuth") / "scenarios" / "case.yaml"
    assert default_scenario() == Path(str(shipped))
    assert default_scenario().is_file()
    assert load_scenario(default_scenario()).name


def test_repo_scenarios_are_the_shipped_ones() -> None:
    # scenarios/ at the repository root (README, bench, tests) names the packaged files
    for name in SCENARIOS:
        repo = ROOT / "scenarios" / f"{name}.yaml"
        assert repo.resolve() == (default_scenario().parent / f"{name}.yaml").resolve()


def test_no_unused_dependencies_or_shadowing_modules() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {d.split(">")[0].split("=")[0].split("<")[0].strip().lower() for d in deps}
    assert not names & {"pydantic", "pytz"}
    assert {"fastapi", "uvicorn"} <= names  # for `serve` (DESIGN §3)
    assert not (ROOT / "src" / "chainsleuth" / "types.py").exists()


def _build_wheel(tmp: Path) -> Path:
    """Build the wheel from a copy of the sources (the repository stays untouched)."""
    src = tmp / "src-copy"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc", "*.nbi", "*.nbc")
    shutil.copytree(ROOT / "src", src / "src", ignore=skip)
    out = tmp / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
        check=True,
        cwd=tmp,
    )
    (wheel,) = out.glob("chainsleuth-*.whl")
    return wheel


@pytest.mark.slow
def test_installed_wheel_finds_its_data(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    for name in SCENARIOS:
        assert f"chainsleuth/scenarios/{name}.yaml" in names
    assert "chainsleuth/heuristics/data/change_model.json" in names
    assert "chainsleuth/types.py" not in names

    # A fresh venv (no system site-packages) with the wheel alone installed; its dependencies
    # come from the project's venv through a .pth line (a plain path: the editable install's
    # own .pth there is not processed, so only the wheel provides chainsleuth).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    subprocess.run([*pip, "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    helped = subprocess.run(
        [str(venv / "bin" / "chainsleuth"), "demo", "--help"],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert helped.returncode == 0, helped.stderr
    assert "Example: chainsleuth demo" in helped.stdout
    snippet = (
        "import chainsleuth, pathlib\n"
        "from chainsleuth.demo import default_scenario\n"
        "from chainsleuth.heuristics.changemodel import default_model_path, load_change_model\n"
        "from chainsleuth.simulate import load_scenario\n"
        f"venv = pathlib.Path({str(venv)!r}).resolve()\n"
        "assert venv in pathlib.Path(chainsleuth.__file__).resolve().parents, chainsleuth\n"
        "assert default_scenario().is_file(), default_scenario()\n"
        "assert venv in default_scenario().resolve().parents, default_scenario()\n"
        "assert venv in default_model_path().resolve().parents, default_model_path()\n"
        "load_scenario(default_scenario()); load_change_model()\n"
        "print('ok')\n"
    )
    ran = subprocess.run(
        [str(python), "-c", snippet], cwd=outside, env=env, capture_output=True, text=True
    )
    assert ran.returncode == 0 and ran.stdout.strip() == "ok", ran.stderr


def test_change_model_is_package_data() -> None:
    path = default_model_path()
    assert path.is_file()
    assert path == Path(str(resources.files("chainsleuth") / "heuristics" / "data" / path.name))
