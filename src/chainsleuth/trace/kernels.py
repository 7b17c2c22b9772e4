"""Numba kernels: one hop of a trace over a :class:`~chainsleuth.trace.flowgraph.FlowGraph`.

``hop_back`` and ``hop_forward`` take a frontier of packets (node, transaction position, value,
FIFO offset) and return the packets of the next hop plus the endpoints met on the way, under
one of the policies of :mod:`chainsleuth.trace.policies`. A packet's share of one transaction
below ``min_value`` is not followed; the total of such shares is returned last (``dropped``),
which bounds the work of a hop by the traced value over ``min_value``.

Results are written into arrays of capacity ``cap``; the kernels return the number of rows they
needed, and the caller runs them again with a larger capacity when that exceeds ``cap``.
``hop_back.py_func`` and ``hop_forward.py_func`` are the plain-Python twins (same signature),
used by the tests. Both directions run one body, :func:`_hop`, told which side of a transaction
the packet's node is on; it and its helpers are ``register_jitable``: compiled into the kernels,
plain Python when called from the twins.

Each new packet row: ``(node, tx, value, lo, prev_node, parent)`` where ``prev_node`` is the
node the packet came from and ``parent`` the index of the packet it was split from. Each
endpoint row: ``(node, kind, tx, value, parent)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import register_jitable
from numpy.typing import NDArray

from chainsleuth.trace.policies import FEE, FIFO, HAIRCUT, MINED, NO_ADDRESS, UNSPENT, WINDOW

__all__ = ["HopOut", "hop_back", "hop_forward"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
HopOut = tuple[I64, I64, F64, F64, I64, I64, I64, I64, I64, F64, I64, int, int, float]
Ends = tuple[I64, I64, I64, F64, I64]


@njit(cache=True)
def _first_overlap(entries: I64, cum: I64, value: I64, s: int, e: int, lo: float) -> int:
    """First index k in entries[s:e] whose interval [cum, cum + value) ends after ``lo``."""
    a, b = s, e
    while a < b:
        m = (a + b) // 2
        j = entries[m]
        if cum[j] + value[j] <= lo:
            a = m + 1
        else:
            b = m
    return a


# _nrt=False: no reference counting of the arrays at each call, which made endpoint-heavy hops
# (forward haircut, with a fee endpoint per transaction) a third slower
@register_jitable(_nrt=False)
def _end(ends: Ends, ne: int, node: int, kind: int, tx: int, value: float, parent: int) -> int:
    """Write endpoint row ``ne`` if it fits in ``ends``; the number of rows needed after it."""
    if ne < len(ends[0]):
        ends[0][ne] = node
        ends[1][ne] = kind
        ends[2][ne] = tx
        ends[3][ne] = value
        ends[4][ne] = parent
    return ne + 1


@register_jitable
def _hop(
    back: bool,
    policy: int,
    pk_node: I64,
    pk_tx: I64,
    pk_value: F64,
    pk_lo: F64,
    tx_lo: int,
    tx_hi: int,
    min_value: float,
    near_start: I64,
    near: I64,
    near_tx: I64,
    near_value: I64,
    near_off: I64,
    near_cum: I64,
    far_start: I64,
    far_node: I64,
    far_value: I64,
    far_off: I64,
    far_cum: I64,
    tx_in_total: I64,
    tx_out_total: I64,
    is_coinbase: NDArray[np.bool_],
    node_total_out: I64,
    cap: int,
) -> HopOut:
    """One hop in either direction: the body of :func:`hop_back` and :func:`hop_forward`.

    The *near* side of a transaction is where the packet's node appears (going back: the
    outputs paying it, ``near = node_recv``; forward: the inputs spending from it,
    ``near = node_spend``), with its entries' transaction, value, offset and queue position;
    the *far* side (``far_start`` is the transaction's CSR start) is where the value goes next.
    ``is_coinbase`` is read only going back, ``tx_out_total`` and ``node_total_out`` only going
    forward.
    """
    new = (
        np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap, np.float64),
        np.empty(cap, np.float64), np.empty(cap, np.int64), np.empty(cap, np.int64),
    )  # fmt: skip
    ends = (
        np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap, np.int64),
        np.empty(cap, np.float64), np.empty(cap, np.int64),
    )  # fmt: skip
    nn = 0
    ne = 0
    dropped = 0.0
    for k in range(len(pk_node)):
        node = pk_node[k]
        bound = pk_tx[k]
        v = pk_value[k]
        s = near_start[node]
        e = near_start[node + 1]
        # the node's entries near[r0:r1] the packet may cross, the haircut denominator, and
        # (forward) what stays at the node unspent
        rest = 0.0
        if policy == FIFO:
            r0 = _first_overlap(near, near_cum, near_value, s, e, pk_lo[k])
            r1 = e
            denom = 0.0
            if not back:
                rest = max(0.0, pk_lo[k] + v - max(pk_lo[k], float(node_total_out[node])))
        elif back:
            # the receipts before the spend
            r0 = s
            r1 = s
            denom = 0.0
            while r1 < e and near_tx[near[r1]] < bound:
                denom += near_value[near[r1]]
                r1 += 1
            if denom <= 0.0:
                continue
        else:
            # the spends after the receipt
            r0 = s
            while r0 < e and near_tx[near[r0]] <= bound:
                r0 += 1
            r1 = e
            spent = 0.0
            for r in range(r0, r1):
                spent += near_value[near[r]]
            denom = max(spent, v)
            if policy == HAIRCUT:
                rest = v - v * spent / denom if denom > 0.0 else v
            elif spent <= 0.0:
                rest = v
        if rest > 0.0:
            ne = _end(ends, ne, node, UNSPENT, bound, rest, k)
        hi = pk_lo[k] + v
        for r in range(r0, r1):
            j = near[r]
            t = near_tx[j]
            if policy == FIFO:
                if near_cum[j] >= hi:
                    break
                a = max(pk_lo[k], float(near_cum[j])) - near_cum[j]
                b = min(hi, float(near_cum[j] + near_value[j])) - near_cum[j]
                share = b - a
                t_lo = near_off[j] + a
            else:
                # one expansion per transaction, over all the node's entries in it
                if r > r0 and near_tx[near[r - 1]] == t:
                    continue
                share = 0.0
                q = r
                while q < r1 and near_tx[near[q]] == t:
                    share += near_value[near[q]]
                    q += 1
                if policy == HAIRCUT:
                    share = v * share / denom
                t_lo = 0.0
            if share <= 0.0:
                continue
            if share < min_value:
                dropped += share
                continue
            if t < tx_lo or t > tx_hi:
                ne = _end(ends, ne, node, WINDOW, t, share, k)
                continue
            if back and is_coinbase[t]:
                ne = _end(ends, ne, node, MINED, t, share, k)
                continue
            t_hi = t_lo + share
            if not back:
                if policy == FIFO:
                    fee = max(0.0, t_hi - max(t_lo, float(tx_out_total[t])))
                elif policy == HAIRCUT:
                    fee = share * (tx_in_total[t] - tx_out_total[t]) / tx_in_total[t]
                else:
                    fee = 0.0
                if fee > 0.0:
                    ne = _end(ends, ne, node, FEE, t, fee, k)
            for f in range(far_start[t], far_start[t + 1]):
                dst = far_node[f]
                if far_value[f] == 0 or (back and dst < 0):
                    continue
                if policy == FIFO:
                    x = max(t_lo, float(far_off[f]))
                    y = min(t_hi, float(far_off[f] + far_value[f]))
                    if y <= x:
                        continue
                    val = y - x
                    lo = far_cum[f] + (x - far_off[f])
                elif policy == HAIRCUT:
                    val = share * far_value[f] / tx_in_total[t]
                    lo = 0.0
                else:
                    val = float(far_value[f])
                    lo = 0.0
                if dst < 0:
                    ne = _end(ends, ne, node, NO_ADDRESS, t, val, k)
                    continue
                if nn < cap:
                    new[0][nn] = dst
                    new[1][nn] = t
                    new[2][nn] = val
                    new[3][nn] = lo
                    new[4][nn] = node
                    new[5][nn] = k
                nn += 1
    return (*new, *ends, nn, ne, dropped)


@njit(cache=True)
def hop_back(
    policy: int,
    pk_node: I64,
    pk_tx: I64,
    pk_value: F64,
    pk_lo: F64,
    tx_lo: int,
    tx_hi: int,
    min_value: float,
    is_coinbase: NDArray[np.bool_],
    tx_in_start: I64,
    tx_in_total: I64,
    in_node: I64,
    in_value: I64,
    in_off: I64,
    in_cum: I64,
    out_value: I64,
    out_off: I64,
    out_cum: I64,
    node_recv_start: I64,
    node_recv: I64,
    out_tx: I64,
    cap: int,
) -> HopOut:
    """One backward hop: where did each packet's value come from (see the module docstring)."""
    unused = np.empty(0, np.int64)
    return _hop(
        True, policy, pk_node, pk_tx, pk_value, pk_lo, tx_lo, tx_hi, min_value,
        node_recv_start, node_recv, out_tx, out_value, out_off, out_cum,
        tx_in_start, in_node, in_value, in_off, in_cum,
        tx_in_total, unused, is_coinbase, unused, cap,
    )  # fmt: skip


@njit(cache=True)
def hop_forward(
    policy: int,
    pk_node: I64,
    pk_tx: I64,
    pk_value: F64,
    pk_lo: F64,
    tx_lo: int,
    tx_hi: int,
    min_value: float,
    node_total_out: I64,
    tx_out_start: I64,
    tx_in_total: I64,
    tx_out_total: I64,
    out_node: I64,
    out_value: I64,
    out_off: I64,
    out_cum: I64,
    in_value: I64,
    in_off: I64,
    in_cum: I64,
    node_spend_start: I64,
    node_spend: I64,
    in_tx: I64,
    cap: int,
) -> HopOut:
    """One forward hop: where did each packet's value go (see the module docstring)."""
    return _hop(
        False, policy, pk_node, pk_tx, pk_value, pk_lo, tx_lo, tx_hi, min_value,
        node_spend_start, node_spend, in_tx, in_value, in_off, in_cum,
        tx_out_start, out_node, out_value, out_off, out_cum,
        tx_in_total, tx_out_total, np.empty(0, np.bool_), node_total_out, cap,
    )  # fmt: skip
