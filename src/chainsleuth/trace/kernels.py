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

FIFO needs two coordinates per entry, neither stored per entry:

- its offset in its transaction (the satoshis of the entries before it on its side): the far
  side's is a running sum in the loop over the transaction's entries, the near side's is
  summed over the entries before it (:func:`_tx_off`): only the transaction's own, contiguous,
  entries are read;
- its node's running total before it (its position in the node's satoshi queue): from the
  node's CSR (``node_recv``/``node_spend``, chain order) and a *checkpoint* every
  :data:`CUM_STEP` entries (``recv_ckpt``/``spend_ckpt``, :mod:`chainsleuth.trace.checkpoints`),
  plus at most ``CUM_STEP - 1`` values (:func:`_slot_cum`); the entry's slot in its node's CSR
  is found by binary search (:func:`_entry_slot`).

Id columns may be int32 or int64 (:data:`chainsleuth.trace.flowgraph.NARROW_LIMIT`); numba
compiles one version per combination.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import register_jitable
from numpy.typing import NDArray

from chainsleuth.trace.policies import FEE, FIFO, HAIRCUT, MINED, NO_ADDRESS, UNSPENT, WINDOW

__all__ = ["CUM_STEP", "HopOut", "entry_cums", "hop_back", "hop_forward"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
HopOut = tuple[I64, I64, F64, F64, I64, I64, I64, I64, I64, F64, I64, int, int, float]
Ends = tuple[I64, I64, I64, F64, I64]


CUM_STEP = 16
"""a node's running total is stored (checkpointed) at every CUM_STEP-th entry of its CSR"""


@register_jitable
def _slot_cum(entries: I64, ckpt: I64, value: I64, s: int, r: int) -> int:
    """The running total of the node whose CSR starts at ``s`` before its slot ``r``: the
    checkpoint at or below ``r`` plus the values after it (exact int64)."""
    i = (r - s) // CUM_STEP
    c = 0
    if i > 0:
        c = ckpt[s // CUM_STEP + i - 1]
    for x in range(s + i * CUM_STEP, r):
        c += value[entries[x]]
    return c


@register_jitable
def _entry_slot(entries: I64, s: int, e: int, entry: int) -> int:
    """The slot of ``entry`` in a node's CSR ``entries[s:e]`` (sorted: chain order)."""
    a, b = s, e
    while a < b:
        m = (a + b) // 2
        if entries[m] < entry:
            a = m + 1
        else:
            b = m
    return a


@register_jitable
def _first_overlap(
    entries: I64, ckpt: I64, value: I64, s: int, e: int, lo: float
) -> tuple[int, int]:
    """First slot k in entries[s:e] whose interval [cum, cum + value) ends after ``lo``, and
    its running total ``cum``: the last checkpoint at or below ``lo`` by binary search, then
    at most CUM_STEP values."""
    a = 0
    b = (e - s - 1) // CUM_STEP if e > s else 0
    while a < b:  # the largest checkpoint index i with cum(i) <= lo (cum(0) = 0)
        m = (a + b + 1) // 2
        if ckpt[s // CUM_STEP + m - 1] <= lo:
            a = m
        else:
            b = m - 1
    r = s + a * CUM_STEP
    c = 0
    if a > 0:
        c = ckpt[s // CUM_STEP + a - 1]
    while r < e and c + value[entries[r]] <= lo:
        c += value[entries[r]]
        r += 1
    return r, c


@njit(cache=True)
def entry_cums(start: I64, entries: I64, ckpt: I64, value: I64, node: int, which: I64) -> I64:
    """The running totals of ``node`` before each of its entries ``which`` (a node CSR
    ``start``/``entries``, its checkpoints and the entries' values).

    >>> start, entries = np.array([0, 3]), np.array([0, 1, 2])
    >>> entry_cums(start, entries, np.zeros(1, np.int64), np.array([5, 6, 7]), 0,
    ...            np.array([2, 0])).tolist()
    [11, 0]
    """
    out = np.empty(len(which), np.int64)
    s = start[node]
    e = start[node + 1]
    for k in range(len(which)):
        out[k] = _slot_cum(entries, ckpt, value, s, _entry_slot(entries, s, e, which[k]))
    return out


@register_jitable
def _tx_off(tx_start: I64, value: I64, t: int, j: int) -> int:
    """Satoshis of the entries before entry ``j`` in its transaction ``t`` (one side's CSR
    ``tx_start``), exact in int64."""
    s = 0
    for x in range(tx_start[t], j):
        s += value[x]
    return s


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
    near_tx_start: I64,
    near_ckpt: I64,
    far_start: I64,
    far_node: I64,
    far_value: I64,
    far_node_start: I64,
    far_entries: I64,
    far_ckpt: I64,
    tx_in_total: I64,
    tx_out_total: I64,
    is_coinbase: NDArray[np.bool_],
    node_total_out: I64,
    cap: int,
) -> HopOut:
    """One hop in either direction: the body of :func:`hop_back` and :func:`hop_forward`.

    The *near* side of a transaction is where the packet's node appears (going back: the
    outputs paying it, ``near = node_recv``; forward: the inputs spending from it,
    ``near = node_spend``), with its entries' transaction, value, the transactions' CSR start
    on that side (``near_tx_start``) and the node CSR's checkpoints (``near_ckpt``); the *far*
    side (``far_start`` is the transaction's CSR start) is where the value goes next, with its
    node CSR (``far_node_start``/``far_entries``/``far_ckpt``). Offsets and queue positions
    (FIFO only) are computed, see the module docstring.
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
        c_r = 0  # FIFO: the node's running total before slot r
        if policy == FIFO:
            r0, c_r = _first_overlap(near, near_ckpt, near_value, s, e, pk_lo[k])
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
                cj = c_r
                c_r += near_value[j]
                if cj >= hi:
                    break
                a = max(pk_lo[k], float(cj)) - cj
                b = min(hi, float(cj + near_value[j])) - cj
                share = b - a
                t_lo = _tx_off(near_tx_start, near_value, t, j) + a
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
            f_end = 0  # the far entries' satoshis up to and including entry f
            for f in range(far_start[t], far_start[t + 1]):
                f_off = f_end
                f_end += far_value[f]
                dst = far_node[f]
                if far_value[f] == 0 or (back and dst < 0):
                    continue
                if policy == FIFO:
                    x = max(t_lo, float(f_off))
                    y = min(t_hi, float(f_end))
                    if y <= x:
                        continue
                    val = y - x
                    lo = 0.0
                    if dst >= 0:
                        fs = far_node_start[dst]
                        slot = _entry_slot(far_entries, fs, far_node_start[dst + 1], f)
                        lo = _slot_cum(far_entries, far_ckpt, far_value, fs, slot) + (x - f_off)
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
    node_spend_start: I64,
    node_spend: I64,
    spend_ckpt: I64,
    tx_out_start: I64,
    out_value: I64,
    node_recv_start: I64,
    node_recv: I64,
    recv_ckpt: I64,
    out_tx: I64,
    cap: int,
) -> HopOut:
    """One backward hop: where did each packet's value come from (see the module docstring)."""
    unused = np.empty(0, np.int64)
    return _hop(
        True, policy, pk_node, pk_tx, pk_value, pk_lo, tx_lo, tx_hi, min_value,
        node_recv_start, node_recv, out_tx, out_value, tx_out_start, recv_ckpt,
        tx_in_start, in_node, in_value, node_spend_start, node_spend, spend_ckpt,
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
    node_recv_start: I64,
    node_recv: I64,
    recv_ckpt: I64,
    tx_in_start: I64,
    in_value: I64,
    node_spend_start: I64,
    node_spend: I64,
    spend_ckpt: I64,
    in_tx: I64,
    cap: int,
) -> HopOut:
    """One forward hop: where did each packet's value go (see the module docstring)."""
    return _hop(
        False, policy, pk_node, pk_tx, pk_value, pk_lo, tx_lo, tx_hi, min_value,
        node_spend_start, node_spend, in_tx, in_value, tx_in_start, spend_ckpt,
        tx_out_start, out_node, out_value, node_recv_start, node_recv, recv_ckpt,
        tx_in_total, tx_out_total, np.empty(0, np.bool_), node_total_out, cap,
    )  # fmt: skip
