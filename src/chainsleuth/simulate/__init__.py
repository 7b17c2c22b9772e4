"""Synthetic Bitcoin economies with ground truth, written as real regtest block files.

>>> from chainsleuth.simulate import load_scenario, simulate  # doctest: +SKIP
>>> simulate(load_scenario("scenarios/tiny.yaml"), "out/tiny", seed=7)  # doctest: +SKIP
"""

from __future__ import annotations

from chainsleuth.simulate.economy import SimulationReport, simulate
from chainsleuth.simulate.scenario import Scenario, load_scenario, parse_scenario

__all__ = ["Scenario", "SimulationReport", "load_scenario", "parse_scenario", "simulate"]
