"""Synthetic Bitcoin economies with ground truth, written as real regtest block files.

>>> from chainsleuth.demo import default_scenario
>>> scenario = load_scenario(default_scenario().with_name("tiny.yaml"))
>>> report = simulate(scenario, tmp / "tiny", seed=7)
>>> sorted(p.name for p in (tmp / "tiny").iterdir())
['blocks', 'truth']
"""

from __future__ import annotations

from chainsleuth.simulate.economy import SimulationReport, simulate
from chainsleuth.simulate.scenario import Scenario, load_scenario, parse_scenario

__all__ = ["Scenario", "SimulationReport", "load_scenario", "parse_scenario", "simulate"]
