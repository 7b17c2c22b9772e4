"""Fuzz the scenario loader (simulate/scenario.py ``load_scenario`` / ``parse_scenario`` and
simulate/fields.py): mutated shipped scenarios, random field values, random documents, invalid
UTF-8 and alias bombs."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from chainsleuth.errors import ChainsleuthError
from chainsleuth.simulate.scenario import load_scenario, parse_scenario

from ._harness import (
    STRUCTURES,
    TIMEOUT,
    YAML_TOKENS,
    alias_bomb,
    fuzz_settings,
    mutated_bytes,
    mutated_text,
    scenario_seeds,
)


def _paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path of a loaded YAML tree (mapping keys and list indexes)."""
    out = [prefix]
    if isinstance(tree, dict):
        for k, v in tree.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out += _paths(v, (*prefix, i))
    return out


@functools.cache
def _seed_trees() -> tuple[str, ...]:
    return tuple(yaml.safe_dump(yaml.safe_load(s)) for s in scenario_seeds())


@st.composite
def perturbed_tree(draw: st.DrawFn) -> Any:
    """A shipped scenario with random values put at (or next to) some of its fields."""
    tree = yaml.safe_load(draw(st.sampled_from(_seed_trees())))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_paths(tree)))
        value = draw(STRUCTURES)
        if not path:
            tree = value if draw(st.integers(0, 9)) == 0 else tree
            continue
        parent = tree
        try:
            for step in path[:-1]:
                parent = parent[step]
            if draw(st.booleans()):
                parent[path[-1]] = value
            elif isinstance(parent, dict):
                parent[draw(st.text(max_size=8))] = value
        except (KeyError, IndexError, TypeError):
            continue
    return tree


@st.composite
def bombed_scenario(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(scenario_seeds())).split("\n")
    candidates = [i for i, line in enumerate(lines) if ": " in line and not line.endswith(":")]
    i = draw(st.sampled_from(candidates))
    key = lines[i].split(": ", 1)[0]
    lines[i] = f"{key}: {draw(alias_bomb())}"
    return "\n".join(lines)


_SEED_BYTES = tuple(s.encode() for s in scenario_seeds())

STRATEGY = st.one_of(
    mutated_text(scenario_seeds(), YAML_TOKENS).map(lambda t: ("text", t)),
    bombed_scenario().map(lambda t: ("text", t)),
    mutated_bytes(_SEED_BYTES, max_ops=3).map(lambda b: ("bytes", b)),
    perturbed_tree().map(lambda t: ("tree", t)),
    STRUCTURES.map(lambda t: ("tree", t)),
)
_DIRS: list[Path] = []


def _file() -> Path:
    if not _DIRS:
        path = Path(tempfile.mkdtemp(prefix="chainsleuth-fuzz-scenario-"))
        atexit.register(shutil.rmtree, path, True)
        _DIRS.append(path)
    return _DIRS[0] / "scenario.yaml"


def check(case: tuple[str, Any]) -> None:
    """Load the file (or validate the tree): only project errors may escape."""
    kind, value = case
    try:
        if kind == "tree":
            parse_scenario(value)
            return
        path = _file()
        if kind == "text":
            path.write_text(value, encoding="utf-8", errors="surrogatepass")
        else:
            path.write_bytes(value)
        load_scenario(path)
    except ChainsleuthError:
        pass


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(ci_examples=300)
@given(STRATEGY)
def test_fuzz_scenario(case: tuple[str, Any]) -> None:
    check(case)
