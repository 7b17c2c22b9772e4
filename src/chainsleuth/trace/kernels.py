"""Numba kernels: one hop of a trace over a :class:`~chainsleuth.trace.flowgraph.FlowGraph`.

``hop_back`` and ``hop_forward`` take a frontier of packets (node, transaction position, value,
FIFO offset) and return the packets of the next hop plus the endpoints met on the way, under
one of the policies of :mod:`chainsleuth.trace.policies`. A packet's share of one transaction
below ``min_value`` is not followed; the total of such shares is returned last (``dropped``),
which bounds the work of a hop by the traced value over ``min_value``.

Results are written into arrays of capacity ``cap``; the kernels return the number of rows they
needed, and the caller runs them again with a larger capacity when that exceeds ``cap``.
``hop_back.py_func`` and ``hop_forward.py_func`` are the plain-Python twins (same signature),
used by the tests.

Each new packet row: ``(node, tx, value, lo, prev_node, parent)`` where ``prev_node`` is the
node the packet came from and ``parent`` the index of the packet it was split from. Each
endpoint row: ``(node, kind, tx, value, parent)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from chainsleuth.trace.policies import FEE, FIFO, HAIRCUT, MINED, NO_ADDRESS, UNSPENT, WINDOW

__all__ = ["HopOut", "hop_back", "hop_forward"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
HopOut = tuple[I64, I64, F64, F64, I64, I64, I64, I64, I64, F64, I64, int, int, float]


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
    n_node = np.empty(cap, np.int64)
    n_tx = np.empty(cap, np.int64)
    n_val = np.empty(cap, np.float64)
    n_lo = np.empty(cap, np.float64)
    n_prev = np.empty(cap, np.int64)
    n_par = np.empty(cap, np.int64)
    e_node = np.empty(cap, np.int64)
    e_kind = np.empty(cap, np.int64)
    e_tx = np.empty(cap, np.int64)
    e_val = np.empty(cap, np.float64)
    e_par = np.empty(cap, np.int64)
    nn = 0
    ne = 0
    dropped = 0.0
    for k in range(len(pk_node)):
        node = pk_node[k]
        bound = pk_tx[k]
        v = pk_value[k]
        s = node_recv_start[node]
        e = node_recv_start[node + 1]
        if policy == FIFO:
            r0 = _first_overlap(node_recv, out_cum, out_value, s, e, pk_lo[k])
            r1 = e
            total = 0.0
        else:
            r0 = s
            r1 = s
            total = 0.0
            while r1 < e and out_tx[node_recv[r1]] < bound:
                total += out_value[node_recv[r1]]
                r1 += 1
            if total <= 0.0:
                continue
        hi = pk_lo[k] + v
        for r in range(r0, r1):
            o = node_recv[r]
            t = out_tx[o]
            if policy == FIFO:
                if out_cum[o] >= hi:
                    break
                a = max(pk_lo[k], float(out_cum[o])) - out_cum[o]
                b = min(hi, float(out_cum[o] + out_value[o])) - out_cum[o]
                share = b - a
                t_lo = out_off[o] + a
            else:
                # one expansion per transaction, over all the node's outputs in it
                if r > r0 and out_tx[node_recv[r - 1]] == t:
                    continue
                share = 0.0
                q = r
                while q < r1 and out_tx[node_recv[q]] == t:
                    share += out_value[node_recv[q]]
                    q += 1
                if policy == HAIRCUT:
                    share = v * share / total
                t_lo = 0.0
            if share <= 0.0:
                continue
            if share < min_value:
                dropped += share
                continue
            kind = -1
            if t < tx_lo or t > tx_hi:
                kind = WINDOW
            elif is_coinbase[t]:
                kind = MINED
            if kind >= 0:
                if ne < cap:
                    e_node[ne] = node
                    e_kind[ne] = kind
                    e_tx[ne] = t
                    e_val[ne] = share
                    e_par[ne] = k
                ne += 1
                continue
            t_hi = t_lo + share
            for i in range(tx_in_start[t], tx_in_start[t + 1]):
                src = in_node[i]
                if src < 0 or in_value[i] == 0:
                    continue
                if policy == FIFO:
                    x = max(t_lo, float(in_off[i]))
                    y = min(t_hi, float(in_off[i] + in_value[i]))
                    if y <= x:
                        continue
                    val = y - x
                    lo = in_cum[i] + (x - in_off[i])
                elif policy == HAIRCUT:
                    val = share * in_value[i] / tx_in_total[t]
                    lo = 0.0
                else:
                    val = float(in_value[i])
                    lo = 0.0
                if nn < cap:
                    n_node[nn] = src
                    n_tx[nn] = t
                    n_val[nn] = val
                    n_lo[nn] = lo
                    n_prev[nn] = node
                    n_par[nn] = k
                nn += 1
    return (
        n_node, n_tx, n_val, n_lo, n_prev, n_par, e_node, e_kind, e_tx, e_val, e_par, nn, ne,
        dropped,
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
    n_node = np.empty(cap, np.int64)
    n_tx = np.empty(cap, np.int64)
    n_val = np.empty(cap, np.float64)
    n_lo = np.empty(cap, np.float64)
    n_prev = np.empty(cap, np.int64)
    n_par = np.empty(cap, np.int64)
    e_node = np.empty(cap, np.int64)
    e_kind = np.empty(cap, np.int64)
    e_tx = np.empty(cap, np.int64)
    e_val = np.empty(cap, np.float64)
    e_par = np.empty(cap, np.int64)
    nn = 0
    ne = 0
    dropped = 0.0
    for k in range(len(pk_node)):
        node = pk_node[k]
        bound = pk_tx[k]
        v = pk_value[k]
        s = node_spend_start[node]
        e = node_spend_start[node + 1]
        rest = 0.0
        if policy == FIFO:
            r0 = _first_overlap(node_spend, in_cum, in_value, s, e, pk_lo[k])
            r1 = e
            denom = 0.0
            rest = max(0.0, pk_lo[k] + v - max(pk_lo[k], float(node_total_out[node])))
        else:
            r0 = s
            while r0 < e and in_tx[node_spend[r0]] <= bound:
                r0 += 1
            r1 = e
            spent = 0.0
            for r in range(r0, r1):
                spent += in_value[node_spend[r]]
            denom = max(spent, v)
            if policy == HAIRCUT:
                rest = v - v * spent / denom if denom > 0.0 else v
            elif spent <= 0.0:
                rest = v
        if rest > 0.0:
            if ne < cap:
                e_node[ne] = node
                e_kind[ne] = UNSPENT
                e_tx[ne] = bound
                e_val[ne] = rest
                e_par[ne] = k
            ne += 1
        hi = pk_lo[k] + v
        for r in range(r0, r1):
            i = node_spend[r]
            t = in_tx[i]
            if policy == FIFO:
                if in_cum[i] >= hi:
                    break
                a = max(pk_lo[k], float(in_cum[i])) - in_cum[i]
                b = min(hi, float(in_cum[i] + in_value[i])) - in_cum[i]
                share = b - a
                t_lo = in_off[i] + a
            else:
                # one expansion per transaction, over all the node's inputs in it
                if r > r0 and in_tx[node_spend[r - 1]] == t:
                    continue
                share = 0.0
                q = r
                while q < r1 and in_tx[node_spend[q]] == t:
                    share += in_value[node_spend[q]]
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
                if ne < cap:
                    e_node[ne] = node
                    e_kind[ne] = WINDOW
                    e_tx[ne] = t
                    e_val[ne] = share
                    e_par[ne] = k
                ne += 1
                continue
            t_hi = t_lo + share
            if policy == FIFO:
                fee = max(0.0, t_hi - max(t_lo, float(tx_out_total[t])))
            elif policy == HAIRCUT:
                fee = share * (tx_in_total[t] - tx_out_total[t]) / tx_in_total[t]
            else:
                fee = 0.0
            if fee > 0.0:
                if ne < cap:
                    e_node[ne] = node
                    e_kind[ne] = FEE
                    e_tx[ne] = t
                    e_val[ne] = fee
                    e_par[ne] = k
                ne += 1
            for o in range(tx_out_start[t], tx_out_start[t + 1]):
                if out_value[o] == 0:
                    continue
                if policy == FIFO:
                    x = max(t_lo, float(out_off[o]))
                    y = min(t_hi, float(out_off[o] + out_value[o]))
                    if y <= x:
                        continue
                    val = y - x
                    lo = out_cum[o] + (x - out_off[o])
                elif policy == HAIRCUT:
                    val = share * out_value[o] / tx_in_total[t]
                    lo = 0.0
                else:
                    val = float(out_value[o])
                    lo = 0.0
                dst = out_node[o]
                if dst < 0:
                    if ne < cap:
                        e_node[ne] = node
                        e_kind[ne] = NO_ADDRESS
                        e_tx[ne] = t
                        e_val[ne] = val
                        e_par[ne] = k
                    ne += 1
                    continue
                if nn < cap:
                    n_node[nn] = dst
                    n_tx[nn] = t
                    n_val[nn] = val
                    n_lo[nn] = lo
                    n_prev[nn] = node
                    n_par[nn] = k
                nn += 1
    return (
        n_node, n_tx, n_val, n_lo, n_prev, n_par, e_node, e_kind, e_tx, e_val, e_par, nn, ne,
        dropped,
    )  # fmt: skip
