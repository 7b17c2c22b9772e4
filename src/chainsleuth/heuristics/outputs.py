"""Per-transaction summaries of output values and input addresses that several rules share.

All functions are vectorised over the whole view (sorts and run-length counts, no Python loop
over transactions).

>>> from chainsleuth.heuristics.view import ChainView
>>> v = ChainView.from_columns(
...     tx_id=[0], height=[1], version=[2], locktime=[0], is_coinbase=[False], n_in=[2],
...     n_out=[3], in_addr=[5, 6], in_value=[10, 10], in_type=[2, 2], in_sequence=[0, 0],
...     in_prev_out=[-1, -1], out_value=[4, 4, 9], out_addr=[1, 2, 3], out_type=[2, 2, 2],
...     out_spent_by=[-1, -1, -1])
>>> s = equal_output_stats(v)
>>> int(s.largest_group[0]), int(s.largest_value[0]), int(s.n_groups[0])
(2, 4, 1)
>>> distinct_input_addresses(v).tolist()
[2]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from chainsleuth.heuristics.view import ChainView

__all__ = [
    "EqualOutputStats",
    "distinct_input_addresses",
    "equal_output_stats",
    "min_input_value",
    "output_in_inputs",
]

I64 = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class EqualOutputStats:
    """Per transaction: the largest group of equal-valued outputs and how many such groups."""

    largest_group: I64
    """size of the largest set of outputs sharing one value (1 when all differ, 0 if no output)"""
    largest_value: I64
    """that shared value (the largest such value on ties)"""
    n_groups: I64
    """number of distinct values carried by two or more outputs"""
    n_distinct: I64
    """number of distinct output values"""


def equal_output_stats(view: ChainView) -> EqualOutputStats:
    """Equal-value output groups of every transaction (see :class:`EqualOutputStats`).

    >>> from chainsleuth.heuristics.view import ChainView
    >>> v = ChainView.from_columns(
    ...     tx_id=[0], height=[1], version=[2], locktime=[0], is_coinbase=[False], n_in=[1],
    ...     n_out=[2], in_addr=[0], in_value=[9], in_type=[2], in_sequence=[0],
    ...     in_prev_out=[-1], out_value=[3, 5], out_addr=[1, 2], out_type=[2, 2],
    ...     out_spent_by=[-1, -1])
    >>> int(equal_output_stats(v).largest_group[0])
    1
    """
    n_tx = view.n_tx
    order = np.lexsort((view.out_value, view.out_tx))
    tx = view.out_tx[order]
    val = view.out_value[order]
    if len(tx) == 0:
        zero = np.zeros(n_tx, dtype=np.int64)
        return EqualOutputStats(zero, zero.copy(), zero.copy(), zero.copy())
    starts = np.flatnonzero(np.r_[True, (tx[1:] != tx[:-1]) | (val[1:] != val[:-1])])
    lengths = np.diff(np.r_[starts, len(tx)]).astype(np.int64)
    run_tx = tx[starts]
    run_val = val[starts]
    largest = np.zeros(n_tx, dtype=np.int64)
    np.maximum.at(largest, run_tx, lengths)
    # value of the largest group: among runs reaching the maximum, the last (largest value) wins
    at_max = lengths == largest[run_tx]
    largest_value = np.zeros(n_tx, dtype=np.int64)
    largest_value[run_tx[at_max]] = run_val[at_max]
    n_groups = np.bincount(run_tx[lengths >= 2], minlength=n_tx).astype(np.int64)
    n_distinct = np.bincount(run_tx, minlength=n_tx).astype(np.int64)
    return EqualOutputStats(largest, largest_value, n_groups, n_distinct)


def distinct_input_addresses(view: ChainView) -> I64:
    """Number of distinct input addresses of every transaction (inputs without one ignored).

    See the module example.
    """
    has = view.in_addr >= 0
    tx = view.in_tx[has]
    addr = view.in_addr[has]
    order = np.lexsort((addr, tx))
    tx_s = tx[order]
    addr_s = addr[order]
    if len(tx_s) == 0:
        return np.zeros(view.n_tx, dtype=np.int64)
    first = np.r_[True, (tx_s[1:] != tx_s[:-1]) | (addr_s[1:] != addr_s[:-1])]
    return np.bincount(tx_s[first], minlength=view.n_tx).astype(np.int64)


def min_input_value(view: ChainView) -> I64:
    """Smallest input value of every transaction (0 for coinbase / no input).

    >>> from chainsleuth.heuristics.view import ChainView
    >>> v = ChainView.from_columns(
    ...     tx_id=[0], height=[1], version=[2], locktime=[0], is_coinbase=[False], n_in=[2],
    ...     n_out=[1], in_addr=[0, 1], in_value=[9, 4], in_type=[2, 2], in_sequence=[0, 0],
    ...     in_prev_out=[-1, -1], out_value=[12], out_addr=[2], out_type=[2],
    ...     out_spent_by=[-1])
    >>> min_input_value(v).tolist()
    [4]
    """
    out = np.full(view.n_tx, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(out, view.in_tx, view.in_value)
    out[view.tx_n_in == 0] = 0
    out[view.is_coinbase] = 0
    return out


def output_in_inputs(view: ChainView) -> NDArray[np.bool_]:
    """For every output: does its address also appear among its own transaction's inputs?

    >>> from chainsleuth.heuristics.view import ChainView
    >>> v = ChainView.from_columns(
    ...     tx_id=[0], height=[1], version=[2], locktime=[0], is_coinbase=[False], n_in=[1],
    ...     n_out=[2], in_addr=[7], in_value=[9], in_type=[2], in_sequence=[0],
    ...     in_prev_out=[-1], out_value=[3, 5], out_addr=[1, 7], out_type=[2, 2],
    ...     out_spent_by=[-1, -1])
    >>> output_in_inputs(v).tolist()
    [False, True]
    """
    width = np.int64(max(view.n_addr, 1) + 1)
    in_keys = np.unique(view.in_tx[view.in_addr >= 0] * width + view.in_addr[view.in_addr >= 0])
    out_keys = view.out_tx * width + view.out_addr
    found = np.isin(out_keys, in_keys)
    return found & (view.out_addr >= 0)
