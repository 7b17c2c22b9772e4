"""Numba kernels that write one block's transactions and fold them back into the coin pool.

:func:`build_block` writes the coinbase and up to ``n_target`` transactions into one flat
buffer, spending pool entries (by age) and peel-chain heads, and lists the new outputs;
:func:`~chainsleuth.simulate.scalechain_pool.commit_block` then appends them to the pool.
Transaction kinds (shares and count tables in
:mod:`~chainsleuth.simulate.scalechain_mix`):

* payment: mostly 1-2 inputs and payment + change, some sweeps (1 output), 1.5 % with an
  OP_RETURN; payees are fresh addresses, hot wallets or reused addresses;
* consolidation: dozens of inputs (heavy-tailed, up to 500) into one output;
* batch payout: few inputs, dozens to hundreds of payees, change to a hot wallet;
* peel step: 1 input, a small payment and a large change that the next step spends in a later
  block; a chain is a ``uint64[8]`` row like a pool entry, with the hops left in column 7;
* fan-out (only while the pool is small, after the 100 coinbase-only blocks): 1 input,
  up to 100 outputs of at least 0.001 BTC.

The kernels share two tuples: ``model`` = (``Mix``, count tables, hot-wallet Zipf table,
address-used flags) and ``st`` = (rng state, counters ``ctr`` (int64, indices ``C_*``), pool,
pool height index, chains, chain head tx, new outputs (4 int64 = 32 bytes each), tx offsets).

>>> C_LIVE, C_NEXT_ADDR
(1, 2)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from chainsleuth.simulate.scalechain_kernels import (
    DUST,
    KERNEL,
    below,
    copy_row,
    put_u32,
    put_u64,
    put_varint,
    script_len,
    uniform,
    write_input,
    write_script,
)
from chainsleuth.simulate.scalechain_mix import MAX_IO, fee_for, split_value
from chainsleuth.simulate.scalechain_pool import (
    C_CB_ADDR,
    C_CB_VALUE,
    C_LIVE,
    C_NCHAINS,
    C_NOUTS,
    C_NPOOL,
    draw_by_age,
    spend,
)

__all__ = ["CB_RESERVE", "FIRST_FRESH", "build_block"]

C_NEXT_ADDR = 2  # C_NPOOL, C_LIVE, C_NCHAINS, C_NOUTS, C_CB_VALUE, C_CB_ADDR: see the pool
C_INPUTS, C_OUTPUTS, C_OPRET, C_PEELS, C_CONSOL, C_BATCH, C_FANOUT, C_HOT_USED = range(7, 15)
C_NTX = 15
N_COUNTERS = 16
CB_RESERVE = 512
"""Bytes before the first transaction: header, tx count and the coinbase fit in front."""
N_HOT, N_MINERS = 64, 16
FIRST_FRESH = 1 + N_HOT + N_MINERS
"""Address ids 1..64 are hot wallets, 65..80 mining pools, fresh ones start here."""
RAMP_FANOUT, RAMP_COIN = 100, 100_000
"""While the pool is small: outputs of a fan-out, and the least value of each (0.001 BTC)."""
_WORST_TX = 9 + MAX_IO * 65 + (MAX_IO + 2) * 45 + 20


@njit(**KERNEL, inline="always")
def _payee(rng, ctr, pool, model):  # type: ignore[no-untyped-def]
    """Address id of a payee: fresh, one of the hot wallets (Zipf), or an address seen before."""
    u = uniform(rng)
    if u < model[0].p_fresh:
        return _fresh(ctr)
    if u < model[0].p_fresh + model[0].p_hot:
        return _hot(rng, ctr, model)
    return np.int64(pool[below(rng, ctr[C_NPOOL]), 5])


@njit(**KERNEL, inline="always")
def _fresh(ctr):  # type: ignore[no-untyped-def]
    ctr[C_NEXT_ADDR] += 1
    return ctr[C_NEXT_ADDR] - 1


@njit(**KERNEL, inline="always")
def _hot(rng, ctr, model, n=N_HOT, first=1):  # type: ignore[no-untyped-def]
    """One of the ``n`` reserved addresses from ``first`` on, Zipf-distributed."""
    zipf, used = model[2], model[3]
    h = min(np.searchsorted(zipf, uniform(rng) * zipf[n - 1], side="right"), n - 1)
    if not used[first + h]:
        used[first + h] = 1
        ctr[C_HOT_USED] += 1
    return first + h


@njit(**KERNEL)
def _emit(buf, pos, src, n_in, n_out, opret, height, st, work):  # type: ignore[no-untyped-def]
    """Serialize a legacy transaction spending rows ``ins`` of ``src``; returns the end."""
    rng, txpos, (ins, vals, addrs) = st[0], st[7], work
    version = 2 if uniform(rng) < 0.85 else 1
    locktime = height - 1 if uniform(rng) < 0.4 else 0
    seq = 0xFFFFFFFD if uniform(rng) < 0.3 else (0xFFFFFFFE if locktime else 0xFFFFFFFF)
    end = put_varint(buf, put_u32(buf, pos, version), n_in)
    for k in range(n_in):
        end = write_input(buf, end, src, ins[k], seq)
    end = put_varint(buf, end, n_out + opret)
    for k in range(n_out):
        end = write_script(buf, put_u64(buf, end, int(vals[k])), addrs[k])
    if opret:
        end = put_u64(buf, end, 0)
        buf[end], buf[end + 1], buf[end + 2] = 34, 0x6A, 32
        for k in range(32):
            buf[end + 3 + k] = below(rng, 256)
        end += 35
    end = put_u32(buf, end, locktime)
    n_tx = st[1][C_NTX]
    txpos[n_tx, 0], txpos[n_tx, 1] = pos, end - pos
    return end


@njit(**KERNEL, inline="always")
def _record(st, vout, value, addr):  # type: ignore[no-untyped-def]
    ctr, outs = st[1], st[6]
    n = ctr[C_NOUTS]
    outs[n, 0], outs[n, 1], outs[n, 2], outs[n, 3] = ctr[C_NTX], vout, int(value), addr
    ctr[C_NOUTS] = n + 1


@njit(**KERNEL, inline="always")
def _take(height, tries, model, st):  # type: ignore[no-untyped-def]
    """Spend the largest of ``tries`` coins drawn by age (others stay unspent); its index."""
    rng, ctr, pool, start = st[:4]
    mix = model[0]
    best = draw_by_age(pool, start, ctr[C_NPOOL], height - 1, rng, mix.p_recent, mix.recent_mean)
    for _ in range(tries - 1):
        j = draw_by_age(pool, start, ctr[C_NPOOL], height - 1, rng, mix.p_recent, mix.recent_mean)
        if pool[j, 4] > pool[best, 4]:
            best = j
    spend(pool, best)
    ctr[C_LIVE] -= 1
    return best


@njit(**KERNEL)
def _start_chain(height, model, st):  # type: ignore[no-untyped-def]
    """Take the largest of 4 coins as the head of a new peel chain; (chain, pool index)."""
    rng, ctr, pool, chains = st[0], st[1], st[2], st[4]
    best = _take(height, 4, model, st)
    ci = ctr[C_NCHAINS]
    ctr[C_NCHAINS] += 1
    copy_row(chains, ci, pool, best, 7)
    chains[ci, 7] = 1 + min(5000, int(model[0].peel_hops / (1.0 - uniform(rng)) ** (1 / 1.3)))
    return ci, best


@njit(**KERNEL)
def _peel(buf, pos, src, row, ci, height, model, st, work):  # type: ignore[no-untyped-def]
    """One peel step spending ``src[row]`` (chain ``ci``'s head); returns (end, fee, ended)."""
    rng, ctr, pool, _, chains, chain_tx = st[:6]
    ins, vals, addrs = work
    v_in = np.int64(src[row, 4])
    n_out = 2 if v_in >= 2 * DUST else 1
    fee = max(0, min(fee_for(rng, 1, 2), v_in - n_out * DUST))
    change = below(rng, n_out)
    split_value(rng, v_in - fee, vals, n_out, change, 0.02, 0.25)
    for k in range(n_out):
        addrs[k] = _payee(rng, ctr, pool, model) if k != change else _fresh(ctr)
    ins[0] = row
    end = _emit(buf, pos, src, 1, n_out, 0, height, st, work)
    ctr[C_INPUTS] += 1
    ctr[C_OUTPUTS] += n_out
    ctr[C_PEELS] += 1
    hops = np.int64(chains[ci, 7]) - 1
    goes_on = hops > 0 and n_out == 2 and vals[change] >= 20 * DUST
    for k in range(n_out):
        if k == change and goes_on:
            chains[ci, 4], chains[ci, 5], chains[ci, 6] = vals[k], addrs[k], k
            chains[ci, 7] = hops
            chain_tx[ci] = ctr[C_NTX]
        else:
            _record(st, k, vals[k], addrs[k])
    return end, fee, not goes_on


@njit(**KERNEL)
def _regular(buf, pos, kind, height, model, st, work):  # type: ignore[no-untyped-def]
    """A payment (kind 0), consolidation (1), batch payout (2) or fan-out (3); (end, fee)."""
    rng, ctr, pool = st[:3]
    ins, vals, addrs = work
    mix, cdfs = model[0], model[1]
    if kind == 3:
        n_in, n_out = 1, RAMP_FANOUT
    else:
        n_in = min(np.searchsorted(cdfs[kind, 0], uniform(rng), side="right"), MAX_IO)
        n_out = min(np.searchsorted(cdfs[kind, 1], uniform(rng), side="right"), MAX_IO - 1)
        n_out += 1 if kind == 2 else 0  # a batch's change
    n_in = min(n_in, ctr[C_LIVE])
    v_in = np.int64(0)
    for k in range(n_in):  # a batch pays from big coins (an exchange's hot wallet)
        ins[k] = _take(height, 4 if kind == 2 else 1, model, st)
        v_in += np.int64(pool[ins[k], 4])
    while v_in < 2 * DUST * n_out and n_in < MAX_IO and ctr[C_LIVE] > 0 and kind != 3:
        ins[n_in] = _take(height, 1, model, st)  # add coins until the outputs are affordable
        v_in += np.int64(pool[ins[n_in], 4])
        n_in += 1
    most = v_in // RAMP_COIN if kind == 3 else (v_in - 1) // DUST
    n_out = max(1, min(n_out, int(most)))
    fee = max(0, min(fee_for(rng, n_in, n_out), v_in - DUST * n_out))
    change = -1
    if kind == 0 and n_out >= 2:
        change = below(rng, n_out)
    elif kind == 2:
        change = n_out - 1
    split_value(rng, v_in - fee, vals, n_out, change, 0.05 if kind == 0 else 0.5, 0.95)
    for k in range(n_out):
        if kind == 3:
            addrs[k] = _fresh(ctr)
        elif k == change and kind == 2:
            addrs[k] = _hot(rng, ctr, model)
        elif k == change:  # sometimes back to the first input's address
            addrs[k] = np.int64(pool[ins[0], 5]) if uniform(rng) < 0.12 else _fresh(ctr)
        elif kind == 1 and k == 0 and uniform(rng) < 0.3:
            addrs[k] = _hot(rng, ctr, model)
        else:
            addrs[k] = _payee(rng, ctr, pool, model)
    opret = 1 if kind == 0 and uniform(rng) < mix.p_op_return else 0
    end = _emit(buf, pos, pool, n_in, n_out, opret, height, st, work)
    for k in range(n_out):
        _record(st, k, vals[k], addrs[k])
    ctr[C_INPUTS] += n_in
    ctr[C_OUTPUTS] += n_out + opret
    ctr[C_OPRET] += opret
    if kind:
        ctr[C_CONSOL + kind - 1] += 1
    return end, fee


@njit(**KERNEL)
def build_block(buf, height, cb_sig, subsidy, n_target, model, st, work):  # type: ignore[no-untyped-def]
    """Write the coinbase and up to ``n_target`` transactions; returns (n_tx, first byte, end).

    Transaction ``i`` (0 = coinbase) is ``buf[txpos[i, 0] : txpos[i, 0] + txpos[i, 1]]``; new
    pool outputs are ``outs[:ctr[C_NOUTS]]`` rows of (tx index, vout, value, address id). The
    coinbase is written last, ending where the first transaction starts. ``work`` is scratch:
    (int64[MAX_IO], float64[MAX_IO + 1], int64[MAX_IO + 1]).
    """
    ctr, chains, chain_tx = st[1], st[4], st[5]
    pos, fees, ci, mix = CB_RESERVE, 0, 0, model[0]
    ctr[C_NOUTS], ctr[C_NTX] = 0, 1
    ramp = ctr[C_LIVE] < mix.ramp_live
    while not ramp and ctr[C_NTX] <= n_target and pos + _WORST_TX < buf.shape[0]:
        if ci < ctr[C_NCHAINS]:  # the next step of a peel chain
            pos, fee, ended = _peel(buf, pos, chains, ci, ci, height, model, st, work)
        elif ctr[C_NCHAINS] < mix.n_chains and ctr[C_LIVE] > 0:
            ci, row = _start_chain(height, model, st)
            pos, fee, ended = _peel(buf, pos, st[2], row, ci, height, model, st, work)
        else:
            break
        fees += fee
        ctr[C_NTX] += 1
        if ended:  # move the last chain here
            last = ctr[C_NCHAINS] - 1
            copy_row(chains, ci, chains, last, 8)
            chain_tx[ci] = chain_tx[last]
            ctr[C_NCHAINS] = last
        else:
            ci += 1
    while ctr[C_NTX] <= n_target and pos + _WORST_TX < buf.shape[0] and ctr[C_LIVE] > 0:
        u = uniform(st[0])
        kind = 1 if u < mix.p_consolidation else (2 if u < mix.p_consolidation + mix.p_batch else 0)
        pos, fee = _regular(buf, pos, 3 if ramp else kind, height, model, st, work)
        fees += fee
        ctr[C_NTX] += 1
    ctr[C_CB_VALUE] = subsidy + fees
    ctr[C_CB_ADDR] = _hot(st[0], ctr, model, N_MINERS, 1 + N_HOT)
    return ctr[C_NTX], _coinbase(buf, cb_sig, ctr[C_CB_VALUE], ctr[C_CB_ADDR], st[7]), pos


@njit(**KERNEL)
def _coinbase(buf, cb_sig, value, addr, txpos):  # type: ignore[no-untyped-def]
    """Write the coinbase so that it ends at CB_RESERVE; returns where it starts."""
    n_sig = cb_sig.shape[0]
    first = CB_RESERVE - (4 + 1 + 36 + 1 + n_sig + 4 + 1 + 8 + 1 + script_len(addr) + 4)
    pos = put_varint(buf, put_u32(buf, first, 2), 1)
    for k in range(32):
        buf[pos + k] = 0
    pos = put_varint(buf, put_u32(buf, pos + 32, 0xFFFFFFFF), n_sig)  # n_sig < 0xFD
    for k in range(n_sig):
        buf[pos + k] = cb_sig[k]
    pos = put_u32(buf, pos + n_sig, 0xFFFFFFFF)
    pos = write_script(buf, put_u64(buf, put_varint(buf, pos, 1), value), addr)
    put_u32(buf, pos, 0)
    txpos[0, 0], txpos[0, 1] = first, CB_RESERVE - first
    return first
