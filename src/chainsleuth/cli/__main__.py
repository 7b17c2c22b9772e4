"""``python -m chainsleuth.cli``."""

from chainsleuth.cli import run

run()
