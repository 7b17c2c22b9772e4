"""CoinJoin detection: one named rule per protocol, each vectorised over all transactions.

A CoinJoin's inputs belong to several owners, so the multi-input heuristic must skip it. Each
rule returns a boolean mask over transaction positions; :func:`detect_coinjoins` applies them in
order (most specific first) and reports, per transaction, the first rule that fired.

Rules and the structure they test (counts exclude nothing; values in satoshis):

- ``whirlpool`` — Samourai Whirlpool mix (2019 design): exactly 5 inputs and 5 outputs, every
  output the pool denomination (0.001, 0.01, 0.05 or 0.5 BTC), all outputs P2WPKH, no change.
- ``wasabi1`` — Wasabi 1.x ZeroLink/Chaumian round: ≥ 10 outputs of one equal value near the
  0.1 BTC base denomination (0.08–0.12 BTC; mixing levels are multiples of it), at least as
  many inputs, all outputs P2WPKH, plus participants' change and a coordinator fee output.
- ``wasabi2`` — Wasabi 2.x WabiSabi round: many inputs (≥ 20) and outputs (≥ 20), at least
  half of the outputs carry a *standard denomination* (2^k, 3^k, 2·3^k, 10^k, 2·10^k or 5·10^k
  sats, ≥ 5000 sats) and at least two distinct values are shared by several outputs; all
  outputs are segwit v0 key-hash or taproot.
- ``joinmarket`` — JoinMarket maker/taker join: n ≥ 3 equal-valued outputs (one per
  participant), n or n − 1 further change outputs (a sweeping taker has none), so 2n − 1 or 2n
  outputs in all, and ≥ n inputs from ≥ n distinct addresses.
- ``generic_equal_output`` — any transaction where k ≥ 2 outputs share one value, there are
  ≥ k inputs from ≥ k distinct addresses, and at most 2k + 1 outputs (each participant one
  equal output, at most one change, plus a possible coordinator fee). A batch payment with a
  few equal outputs but fewer inputs than equal outputs, or many unrelated outputs, does not
  qualify.

>>> from chainsleuth.heuristics.view import ChainView
>>> v = ChainView.from_columns(
...     tx_id=[0], height=[1], version=[2], locktime=[0], is_coinbase=[False], n_in=[3],
...     n_out=[5], in_addr=[1, 2, 3], in_value=[6, 7, 8], in_type=[2, 2, 2],
...     in_sequence=[0, 0, 0], in_prev_out=[-1, -1, -1], out_value=[5, 5, 5, 1, 2],
...     out_addr=[4, 5, 6, 7, 8], out_type=[2, 2, 2, 2, 2], out_spent_by=[-1] * 5)
>>> detect_coinjoins(v).rule_names()
['joinmarket']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from chainsleuth.heuristics.outputs import (
    EqualOutputStats,
    distinct_input_addresses,
    equal_output_stats,
)
from chainsleuth.heuristics.view import ChainView, script_type_code

__all__ = [
    "COINJOIN_RULES",
    "CoinJoinContext",
    "CoinJoins",
    "detect_coinjoins",
    "generic_equal_output",
    "is_wasabi2_denomination",
    "joinmarket",
    "wasabi1",
    "wasabi2",
    "whirlpool",
]

BoolArray = NDArray[np.bool_]
I64 = NDArray[np.int64]

WHIRLPOOL_POOLS = np.array([100_000, 1_000_000, 5_000_000, 50_000_000], dtype=np.int64)
"""Whirlpool pool denominations in sats (0.001, 0.01, 0.05, 0.5 BTC)."""

WASABI1_BASE_RANGE = (8_000_000, 12_000_000)
"""Range of the Wasabi 1.x base denomination (about 0.1 BTC) in sats."""

_P2WPKH = script_type_code("witness_v0_keyhash")
_P2TR = script_type_code("witness_v1_taproot")


def _wasabi2_denominations() -> I64:
    limit = 2**42
    values: set[int] = set()
    for base, factors in ((2, (1,)), (3, (1, 2)), (10, (1, 2, 5))):
        power = 1
        while power <= limit:
            values.update(f * power for f in factors)
            power *= base
    return np.array(sorted(v for v in values if 5000 <= v <= limit), dtype=np.int64)


WASABI2_DENOMINATIONS = _wasabi2_denominations()
"""The WabiSabi standard output denominations in sats (≥ 5000 sats)."""


@njit(cache=True)
def _in_sorted(v: int, table: I64) -> bool:
    """Whether ``v`` is in the sorted, non-empty ``table`` (range test, then binary search)."""
    n = len(table)
    if v < table[0] or v > table[n - 1]:
        return False
    a = 0
    b = n
    while a < b:
        m = (a + b) >> 1
        if table[m] < v:
            a = m + 1
        else:
            b = m
    return bool(table[a] == v)


@njit(cache=True)
def _member_of_sorted(values: I64, table: I64) -> BoolArray:
    """``np.isin(values, table)`` for a short sorted non-empty ``table``."""
    out = np.zeros(len(values), np.bool_)
    for i in range(len(values)):
        out[i] = _in_sorted(values[i], table)
    return out


@njit(cache=True)
def _output_kinds(
    out_start: I64, out_type: NDArray[np.int8], out_value: I64, denoms: I64
) -> tuple[BoolArray, BoolArray, I64]:
    """Per transaction: all outputs P2WPKH? all P2WPKH or P2TR? count of standard denoms."""
    n_tx = len(out_start) - 1
    all_p2wpkh = np.zeros(n_tx, np.bool_)
    all_segwit_key = np.zeros(n_tx, np.bool_)
    standard = np.zeros(n_tx, np.int64)
    for t in range(n_tx):
        s = out_start[t]
        e = out_start[t + 1]
        p2wpkh = 0
        segwit_key = 0
        count = 0
        for j in range(s, e):
            kind = out_type[j]
            if kind == _P2WPKH:
                p2wpkh += 1
                segwit_key += 1
            elif kind == _P2TR:
                segwit_key += 1
            if _in_sorted(out_value[j], denoms):
                count += 1
        all_p2wpkh[t] = e > s and p2wpkh == e - s
        all_segwit_key[t] = e > s and segwit_key == e - s
        standard[t] = count
    return all_p2wpkh, all_segwit_key, standard


def is_wasabi2_denomination(values: NDArray[np.int64]) -> BoolArray:
    """Which values are WabiSabi standard denominations.

    >>> is_wasabi2_denomination(np.array([5000, 6561, 20000, 12345])).tolist()
    [True, True, True, False]
    """
    arr = np.asarray(values)
    if arr.dtype != np.int64:
        return np.isin(arr, WASABI2_DENOMINATIONS)
    flat = np.ascontiguousarray(arr).reshape(-1)
    return _member_of_sorted(flat, WASABI2_DENOMINATIONS).reshape(arr.shape)


@dataclass(frozen=True, slots=True)
class CoinJoinContext:
    """Per-transaction facts the rules share (computed once by :meth:`of`)."""

    n_in: I64
    n_out: I64
    eq: EqualOutputStats
    distinct_in_addrs: I64
    all_p2wpkh: BoolArray
    all_segwit_key: BoolArray
    n_standard_denoms: I64
    not_coinbase: BoolArray

    @classmethod
    def of(cls, view: ChainView) -> CoinJoinContext:
        """Compute the shared facts of every transaction of ``view``.

        >>> from chainsleuth.heuristics.view import ChainView
        >>> v = ChainView.from_columns(
        ...     tx_id=[0], height=[1], version=[2], locktime=[0], is_coinbase=[False], n_in=[1],
        ...     n_out=[1], in_addr=[0], in_value=[9], in_type=[2], in_sequence=[0],
        ...     in_prev_out=[-1], out_value=[5000], out_addr=[1], out_type=[2],
        ...     out_spent_by=[-1])
        >>> CoinJoinContext.of(v).n_standard_denoms.tolist()
        [1]
        """
        all_p2wpkh, all_segwit_key, standard = _output_kinds(
            view.out_start, view.out_type, view.out_value, WASABI2_DENOMINATIONS
        )
        return cls(
            n_in=view.tx_n_in,
            n_out=view.tx_n_out,
            eq=equal_output_stats(view),
            distinct_in_addrs=distinct_input_addresses(view),
            all_p2wpkh=all_p2wpkh,
            all_segwit_key=all_segwit_key,
            n_standard_denoms=standard,
            not_coinbase=~view.is_coinbase,
        )


def whirlpool(ctx: CoinJoinContext) -> BoolArray:
    """Whirlpool mix: 5 inputs, 5 equal P2WPKH outputs of a pool denomination, nothing else.

    See the module docstring for the published structure.
    """
    return (
        ctx.not_coinbase
        & (ctx.n_in == 5)
        & (ctx.n_out == 5)
        & (ctx.eq.largest_group == 5)
        & np.isin(ctx.eq.largest_value, WHIRLPOOL_POOLS)
        & ctx.all_p2wpkh
    )


def wasabi1(ctx: CoinJoinContext) -> BoolArray:
    """Wasabi 1.x round: ≥ 10 equal P2WPKH outputs near 0.1 BTC, ≥ as many inputs.

    See the module docstring for the published structure.
    """
    lo, hi = WASABI1_BASE_RANGE
    value = ctx.eq.largest_value
    return (
        ctx.not_coinbase
        & (ctx.eq.largest_group >= 10)
        & (value >= lo)
        & (value <= hi)
        & (ctx.n_in >= ctx.eq.largest_group)
        & ctx.all_p2wpkh
    )


def wasabi2(ctx: CoinJoinContext) -> BoolArray:
    """Wasabi 2.x (WabiSabi) round: ≥ 20 in/out, mostly standard denominations, shared values.

    See the module docstring for the published structure.
    """
    return (
        ctx.not_coinbase
        & (ctx.n_in >= 20)
        & (ctx.n_out >= 20)
        & (2 * ctx.n_standard_denoms >= ctx.n_out)
        & (ctx.eq.n_groups >= 2)
        & ctx.all_segwit_key
    )


def joinmarket(ctx: CoinJoinContext) -> BoolArray:
    """JoinMarket join: n ≥ 3 equal outputs, 2n − 1 or 2n outputs, ≥ n inputs and addresses.

    See the module docstring for the published structure.
    """
    n = ctx.eq.largest_group
    return (
        ctx.not_coinbase
        & (n >= 3)
        & ((ctx.n_out == 2 * n) | (ctx.n_out == 2 * n - 1))
        & (ctx.n_in >= n)
        & (ctx.distinct_in_addrs >= n)
    )


def generic_equal_output(ctx: CoinJoinContext) -> BoolArray:
    """Generic equal-output CoinJoin: k ≥ 2 equal outputs, ≥ k inputs/addresses, ≤ 2k+1 outputs.

    See the module docstring for the published structure.
    """
    k = ctx.eq.largest_group
    return (
        ctx.not_coinbase
        & (k >= 2)
        & (ctx.n_in >= k)
        & (ctx.distinct_in_addrs >= k)
        & (ctx.n_out <= 2 * k + 1)
    )


COINJOIN_RULES: dict[str, Callable[[CoinJoinContext], BoolArray]] = {
    "whirlpool": whirlpool,
    "wasabi2": wasabi2,
    "wasabi1": wasabi1,
    "joinmarket": joinmarket,
    "generic_equal_output": generic_equal_output,
}
"""The CoinJoin rules in the order they are tried (most specific first)."""


@dataclass(frozen=True, slots=True)
class CoinJoins:
    """Per transaction position: the index in :data:`COINJOIN_RULES` of the rule that fired (-1)."""

    rule: NDArray[np.int8]

    @property
    def mask(self) -> BoolArray:
        """True for every transaction detected as a CoinJoin."""
        return self.rule >= 0

    def rule_names(self) -> list[str]:
        """Names of the rule of each detected CoinJoin, in chain order."""
        names = list(COINJOIN_RULES)
        return [names[int(r)] for r in self.rule[self.rule >= 0]]


def detect_coinjoins(view: ChainView) -> CoinJoins:
    """Run every CoinJoin rule; each transaction gets the first rule (in order) that fires.

    See the module docstring for an example.
    """
    ctx = CoinJoinContext.of(view)
    rule = np.full(view.n_tx, -1, dtype=np.int8)
    for code, check in enumerate(COINJOIN_RULES.values()):
        hit = check(ctx) & (rule < 0)
        rule[hit] = code
    return CoinJoins(rule)
