"""`python -m chainsleuth`: the command line, as the `chainsleuth` script."""

from chainsleuth.cli import run

run()
