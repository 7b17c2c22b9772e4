"""The shipped explorer (src/chainsleuth/web/dist) is what a clean build of web/ produces:
`npm ci && npm run build` in a copy of web/ (no node_modules, no dist) gives the same files,
byte for byte. Needs node and npm (.ci/run installs them) and the npm registry."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
DIST = ROOT / "src" / "chainsleuth" / "web" / "dist"


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_the_shipped_dist_has_the_explorer() -> None:
    files = _hashes(DIST)
    assert "index.html" in files
    html = (DIST / "index.html").read_text()
    # assets are loaded from the package, never from the internet
    assert "http://" not in html and "https://" not in html
    assert any(f.startswith("assets/") and f.endswith(".js") for f in files)
    for js in DIST.glob("assets/*.js"):
        text = js.read_text()
        assert "fonts.googleapis" not in text and "cdn." not in text


@pytest.mark.slow
def test_clean_build_reproduces_the_shipped_dist(tmp_path: Path) -> None:
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("node and npm are not installed (.ci/run installs them)")
    copy = tmp_path / "web"
    shutil.copytree(WEB, copy, ignore=shutil.ignore_patterns("node_modules", "dist"))
    out = tmp_path / "dist"
    env = {**os.environ, "CHAINSLEUTH_WEB_OUT": str(out)}
    for cmd in (["npm", "ci", "--no-audit", "--no-fund"], ["npm", "run", "build"]):
        subprocess.run(cmd, cwd=copy, env=env, check=True, timeout=900)
    assert _hashes(out) == _hashes(DIST), "rebuild web/ with `make web` and ship the new dist"


@pytest.mark.slow
def test_the_wheel_ships_the_explorer(tmp_path: Path) -> None:
    """`pip install` needs no npm: the built explorer is package data of the wheel."""
    import sys
    import zipfile

    src = tmp_path / "src-copy"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc", "*.nbi", "*.nbc")
    shutil.copytree(ROOT / "src", src / "src", ignore=skip)
    out = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = out.glob("chainsleuth-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"chainsleuth/web/dist/{f}" for f in _hashes(DIST)}
    assert shipped <= names, shipped - names
