"""Per-transaction summaries of output values and input addresses that several rules share.

All functions run over the whole view in one linear pass (small numba kernels walking the
CSR layout; no Python loop over transactions, no global sort).

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
from numba import njit
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


@njit(cache=True)
def _equal_output_kernel(out_start: I64, out_value: I64) -> tuple[I64, I64, I64, I64]:
    """Per transaction: largest equal-value group, its value, groups of ≥ 2, distinct values."""
    n_tx = len(out_start) - 1
    largest = np.zeros(n_tx, np.int64)
    largest_value = np.zeros(n_tx, np.int64)
    n_groups = np.zeros(n_tx, np.int64)
    n_distinct = np.zeros(n_tx, np.int64)
    widest = 0
    for t in range(n_tx):
        widest = max(widest, out_start[t + 1] - out_start[t])
    buf = np.empty(widest, np.int64)
    for t in range(n_tx):
        s = out_start[t]
        n = out_start[t + 1] - s
        if n == 0:
            continue
        if n == 1:
            largest[t] = 1
            largest_value[t] = out_value[s]
            n_distinct[t] = 1
            continue
        for k in range(n):
            buf[k] = out_value[s + k]
        buf[:n].sort()
        best = 0
        best_value = 0
        groups = 0
        distinct = 0
        run = 1
        for k in range(1, n + 1):
            if k < n and buf[k] == buf[k - 1]:
                run += 1
                continue
            distinct += 1
            if run >= 2:
                groups += 1
            if run >= best:  # ties: the later run (the larger value) wins
                best = run
                best_value = buf[k - 1]
            run = 1
        largest[t] = best
        largest_value[t] = best_value
        n_groups[t] = groups
        n_distinct[t] = distinct
    return largest, largest_value, n_groups, n_distinct


@njit(cache=True)
def _distinct_kernel(in_start: I64, in_addr: I64, n_slots: int) -> I64:
    """Per transaction: the number of distinct non-negative input addresses."""
    n_tx = len(in_start) - 1
    out = np.zeros(n_tx, np.int64)
    seen = np.full(n_slots, -1, np.int64)
    for t in range(n_tx):
        count = 0
        for i in range(in_start[t], in_start[t + 1]):
            a = in_addr[i]
            if a >= 0 and seen[a] != t:
                seen[a] = t
                count += 1
        out[t] = count
    return out


@njit(cache=True)
def _min_input_kernel(in_start: I64, in_value: I64, is_coinbase: NDArray[np.bool_]) -> I64:
    """Per transaction: the smallest input value (0 for a coinbase or no input)."""
    n_tx = len(in_start) - 1
    out = np.zeros(n_tx, np.int64)
    for t in range(n_tx):
        s = in_start[t]
        e = in_start[t + 1]
        if s == e or is_coinbase[t]:
            continue
        m = in_value[s]
        for i in range(s + 1, e):
            m = min(m, in_value[i])
        out[t] = m
    return out


@njit(cache=True)
def _output_in_inputs_kernel(
    in_start: I64, in_addr: I64, out_start: I64, out_addr: I64, n_slots: int
) -> NDArray[np.bool_]:
    """Per output: is its (non-negative) address among its transaction's input addresses?"""
    n_tx = len(in_start) - 1
    found = np.zeros(len(out_addr), np.bool_)
    seen = np.full(n_slots, -1, np.int64)
    for t in range(n_tx):
        for i in range(in_start[t], in_start[t + 1]):
            a = in_addr[i]
            if a >= 0:
                seen[a] = t
        for j in range(out_start[t], out_start[t + 1]):
            a = out_addr[j]
            if 0 <= a < n_slots and seen[a] == t:
                found[j] = True
    return found


def _slots(addr: I64) -> int:
    """Size of a marking array indexed by the non-negative values of ``addr``."""
    return int(addr.max(initial=-1)) + 1


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
    largest, largest_value, n_groups, n_distinct = _equal_output_kernel(
        view.out_start, view.out_value
    )
    return EqualOutputStats(largest, largest_value, n_groups, n_distinct)


def distinct_input_addresses(view: ChainView) -> I64:
    """Number of distinct input addresses of every transaction (inputs without one ignored).

    See the module example.
    """
    return _distinct_kernel(view.in_start, view.in_addr, _slots(view.in_addr))


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
    return _min_input_kernel(view.in_start, view.in_value, view.is_coinbase)


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
    return _output_in_inputs_kernel(
        view.in_start, view.in_addr, view.out_start, view.out_addr, _slots(view.in_addr)
    )
