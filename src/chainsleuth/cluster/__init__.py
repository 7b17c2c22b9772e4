"""Address clustering: union-find kernel, runs with params and evidence, explain, evaluation.

The package itself stays light (the CLI reads its defaults without loading the kernels).
"""

DEFAULT_MAX_MERGE_SIZE = 10_000
"""Collapse guard: a union joining two clusters that both exceed this size is held back."""
