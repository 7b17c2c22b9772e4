"""The scale chain's transaction mix: count distributions, kind shares, values and fees.

Counts of inputs and outputs per kind are drawn from cumulative tables built from segments
``(weight, lo, hi, alpha)`` (P(n) ~ n^-alpha within a segment); :func:`mix_for` solves the
consolidation and batch-payout shares that give the requested means, and :func:`steer` nudges
them while a chain is written so the running means stay on target.

>>> mix, tables = mix_for(2.5, 2.6, 1000)
>>> tables.shape, round(float(tables[0, 0, 1]), 2)  # P(a payment has 1 input)
((3, 2, 501), 0.6)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from chainsleuth.simulate.scalechain_kernels import DUST, KERNEL, uniform

__all__ = ["MAX_IO", "Mix", "fee_for", "mix_for", "split_value", "steer"]

MAX_IO = 500
"""Most inputs or outputs of one transaction."""
_PEEL_SHARE = 0.05
# Count distributions: (weight, lo, hi, alpha) segments, P(n) ~ n^-alpha within a segment.
_Segs = list[tuple[float, int, int, float]]
_PAY_IN: _Segs = [(0.60, 1, 1, 0), (0.20, 2, 2, 0), (0.08, 3, 3, 0), (0.04, 4, 4, 0),
                  (0.06, 5, 10, 2.0), (0.02, 11, 40, 2.0)]  # fmt: skip
_PAY_OUT: _Segs = [(0.12, 1, 1, 0), (0.80, 2, 2, 0), (0.05, 3, 3, 0), (0.03, 4, 12, 2.0)]
_CONS_IN: _Segs = [(1.0, 10, MAX_IO, 1.8)]
_CONS_OUT: _Segs = [(0.85, 1, 1, 0), (0.15, 2, 2, 0)]
_BATCH_IN: _Segs = [(0.55, 1, 1, 0), (0.20, 2, 2, 0), (0.25, 3, 12, 1.5)]
_BATCH_OUT: _Segs = [(1.0, 5, MAX_IO - 1, 1.7)]  # payees; the change comes on top


class Mix(NamedTuple):
    """Shares and shapes of the transaction mix, passed to the kernels as one value.

    ``p_*`` are probabilities (consolidation and batch among non-peel transactions; fresh and
    hot among payees), ``n_chains`` the peel chains kept going, ``recent_mean`` the mean age in
    blocks of a recent spend, ``ramp_live`` the pool size below which blocks are fan-outs,
    ``peel_hops`` the Pareto scale of a chain's length; of fresh payee addresses ``p_deposit``
    are deposit addresses of a random exchange, ``p_new_wallet`` start a new user wallet, the
    others go to the owner of an unspent coin (wallets that hold more coins get more);
    ``p_exchange_sweep`` is the share of consolidations that sweep an exchange's deposits.
    """

    p_consolidation: float
    p_batch: float
    n_chains: int
    p_recent: float
    recent_mean: float
    p_op_return: float
    p_fresh: float
    p_hot: float
    ramp_live: int
    peel_hops: float
    p_new_wallet: float
    p_deposit: float
    p_exchange_sweep: float


def _cdf(segs: _Segs) -> tuple[np.ndarray, float]:
    """Cumulative table over n = 0..MAX_IO (8 bytes per entry) and the mean of the counts."""
    p = np.zeros(MAX_IO + 1)
    for weight, lo, hi, alpha in segs:
        n = np.arange(lo, hi + 1, dtype=np.float64)
        w = n**-alpha
        p[lo : hi + 1] += weight * w / w.sum()
    p /= p.sum()
    return np.cumsum(p), float((p * np.arange(MAX_IO + 1)).sum())


def mix_for(mean_inputs: float, mean_outputs: float, txs_per_block: int) -> tuple[Mix, np.ndarray]:
    """Consolidation and batch-payout shares (of non-peel transactions) giving these means.

    Returns the :class:`Mix` and the count tables, ``float64[3, 2, MAX_IO + 1]`` (8 bytes per
    entry): kind (payment, consolidation, batch) x (inputs, outputs) cumulative distributions.

    >>> mix, tables = mix_for(2.5, 2.6, 1000)
    >>> round(mix.p_consolidation, 3), round(mix.p_batch, 3), mix.n_chains
    (0.009, 0.017, 50)
    """
    tables = np.zeros((3, 2, MAX_IO + 1))
    means = np.zeros((3, 2))
    for k, pair in enumerate(((_PAY_IN, _PAY_OUT), (_CONS_IN, _CONS_OUT), (_BATCH_IN, _BATCH_OUT))):
        for j, segs in enumerate(pair):
            tables[k, j], means[k, j] = _cdf(segs)
    p_op_return = 0.015
    means[0, 1] += p_op_return
    means[2, 1] += 1  # change
    rest = 1 - _PEEL_SHARE  # of transactions that are not peel steps; a peel is 1 in, 2 out
    a = np.array([[means[1, 0] - means[0, 0], means[2, 0] - means[0, 0]],
                  [means[1, 1] - means[0, 1], means[2, 1] - means[0, 1]]])  # fmt: skip
    b = np.array([(mean_inputs - _PEEL_SHARE * 1) / rest - means[0, 0],
                  (mean_outputs - _PEEL_SHARE * 2) / rest - means[0, 1]])  # fmt: skip
    p_cons, p_batch = np.linalg.solve(a, b)
    if min(p_cons, p_batch) < 0 or p_cons + p_batch > 1:
        raise ValueError(f"means {mean_inputs}/{mean_outputs} are out of reach of the mix")
    mix = Mix(
        p_consolidation=float(p_cons),
        p_batch=float(p_batch),
        n_chains=max(1, round(_PEEL_SHARE * txs_per_block)),
        p_recent=0.45,
        recent_mean=3.0,
        p_op_return=p_op_return,
        p_fresh=0.72,
        p_hot=0.08,
        ramp_live=int(2 * txs_per_block * mean_inputs),
        peel_hops=8.0,
        p_new_wallet=0.1,
        p_deposit=0.5,
        p_exchange_sweep=0.8,
    )
    return mix, tables


def steer(mix: Mix, gaps: tuple[float, float], tables: np.ndarray, per_block: int) -> Mix:
    """``mix`` with the consolidation and batch shares nudged to close ``gaps``.

    ``gaps`` are the inputs and outputs missing so far (regular blocks) against the target
    means, e.g. after coin values forced extra inputs; the nudge closes them over ~10 blocks (a
    consolidation brings ~35 inputs more than a payment, a batch ~24 outputs more).
    """
    pmf = np.diff(tables, axis=2, prepend=0.0)
    means = (pmf * np.arange(MAX_IO + 1)).sum(axis=2)
    extra_in, extra_out = means[1, 0] - means[0, 0], means[2, 1] + 1 - means[0, 1]
    p_c = mix.p_consolidation + gaps[0] / (extra_in * 10 * per_block)
    p_b = mix.p_batch + gaps[1] / (extra_out * 10 * per_block)
    return mix._replace(
        p_consolidation=float(np.clip(p_c, 0, 3 * mix.p_consolidation)),
        p_batch=float(np.clip(p_b, 0, 3 * mix.p_batch)),
    )


@njit(**KERNEL)
def split_value(rng, avail, vals, n, change, f_lo, f_hi):  # type: ignore[no-untyped-def]
    """Fill ``vals[:n]`` (each >= DUST, summing to ``avail``): payees share a fraction in
    [f_lo, f_hi) of what is above dust, output ``change`` (-1: none) takes the rest."""
    rest = avail - DUST * n
    pay = int(rest * (f_lo + (f_hi - f_lo) * uniform(rng))) if change >= 0 else rest
    total_w = 0.0
    for k in range(n):
        vals[k] = -np.log(1.0 - uniform(rng)) + 1e-9 if k != change else 0.0
        total_w += vals[k]
    given = 0
    for k in range(n):
        if k != change:
            v = DUST + int(pay * vals[k] / total_w)
            if change >= 0 and v >= 10 * DUST and uniform(rng) < 0.4:  # round amounts
                mag = 10 ** max(int(np.log10(v)) - 1, 0)
                v = v // mag * mag
            vals[k] = v
            given += v
    if change >= 0:
        vals[change] = avail - given
    else:
        vals[n - 1] += avail - given


@njit(**KERNEL, inline="always")
def fee_for(rng, n_in, n_out):  # type: ignore[no-untyped-def]
    """Fee of a transaction of this shape at a log-uniform rate of 1-50 sat/vB."""
    return int(np.exp(uniform(rng) * np.log(50.0)) * (10 + 41 * n_in + 34 * n_out))
