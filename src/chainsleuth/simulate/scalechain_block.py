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

Every output has an owner wallet and all inputs of a transaction belong to one wallet (see
:func:`_regular`); change goes to the spender's wallet. Wallets 1..64 are exchanges: their
coins are left to their own consolidations and batch payouts (draws by age skip them).

The kernels share two tuples: ``model`` = (``Mix``, count tables, hot-wallet Zipf table,
address-used flags) and ``st`` = (rng state, counters ``ctr`` (int64, indices ``C_*``), pool,
pool height index, chains, chain head tx, new outputs (4 int64 = 32 bytes each: tx index,
vout | owner wallet << 32, value, address id), tx offsets, wallet table).

>>> C_LIVE, C_NEXT_ADDR
(1, 2)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from chainsleuth.simulate.scalechain_kernels import (
    DUST,
    FRESH_BASE,
    KERNEL,
    below,
    copy_row,
    fresh_id,
    put_u32,
    put_u64,
    put_varint,
    script_len,
    uniform,
    wallet_type,
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
    next_unspent,
    spend_coin,
    take_from_wallet,
    wallet_of,
    wallet_size,
)

__all__ = ["CB_RESERVE", "FIRST_FRESH", "build_block"]

C_NEXT_ADDR = 2  # C_NPOOL, C_LIVE, C_NCHAINS, C_NOUTS, C_CB_VALUE, C_CB_ADDR: see the pool
C_INPUTS, C_OUTPUTS, C_OPRET, C_PEELS, C_CONSOL, C_BATCH, C_FANOUT, C_HOT_USED = range(7, 15)
C_NTX, C_NEXT_WALLET, C_DEFICIT, C_FRESH_OF_TYPE = 15, 16, 17, 18
N_COUNTERS = 24  # C_FRESH_OF_TYPE + script type: fresh addresses of that type so far
CB_RESERVE = 512
"""Bytes before the first transaction: header, tx count and the coinbase fit in front."""
N_HOT, N_MINERS = 64, 16
FIRST_FRESH = FRESH_BASE
assert FIRST_FRESH == 1 + N_HOT + N_MINERS
"""Address ids 1..64 are hot wallets, 65..80 mining pools, fresh ones start here. Wallet ids
alike: hot wallet ``h`` and mining pool ``m`` own address ``h`` and ``m`` (and their fresh
addresses), user wallets are numbered from here. All fresh addresses of a wallet have its
script type (:func:`~chainsleuth.simulate.scalechain_kernels.wallet_type`)."""
RAMP_FANOUT, RAMP_COIN = 100, 100_000
"""While the pool is small: outputs of a fan-out, and the least value of each (0.001 BTC)."""
PAY_TRIES, CONSOLIDATION_TRIES = 8, 32
"""Coins drawn at most to find a wallet holding the inputs a payment (a consolidation) wants."""
USER_TRIES, EXCHANGE_TRIES = 2, 4
"""Draws by age until a coin is not an exchange's (the last is taken anyway); exchanges drawn
for a consolidation, the one holding the most coins sweeps."""
SWEEP_MUL, SWEEP_MIN = 3, 10
"""While wallets have held fewer coins than their transactions wanted (the shortfall is
``ctr[C_DEFICIT]``), a wallet spends up to max(3 x, 10) of the inputs it was to spend."""
_WORST_TX = 9 + MAX_IO * 65 + (MAX_IO + 2) * 45 + 20


@njit(**KERNEL, inline="always")
def _payee(rng, ctr, pool, model):  # type: ignore[no-untyped-def]
    """(address id, wallet id) of a payee: a fresh address (a deposit address of a random
    exchange, of a new user wallet, or of the owner of an unspent coin), one of the hot wallets'
    addresses (Zipf), or an address seen before (of a random pool entry, with its owner)."""
    u = uniform(rng)
    if u < model[0].p_fresh:
        v = uniform(rng)
        if v < model[0].p_deposit:  # a deposit address of an exchange
            w = 1 + below(rng, N_HOT)
        elif v < model[0].p_deposit + model[0].p_new_wallet:
            w = _new_wallet(ctr)
        else:  # the owner of an unspent coin: a wallet that holds one more
            n = ctr[C_NPOOL]
            w = wallet_of(pool, min(next_unspent(pool, below(rng, n), n), n - 1))
        return _fresh(ctr, w), w
    if u < model[0].p_fresh + model[0].p_hot:
        h = _hot(rng, ctr, model)
        return h, h
    i = below(rng, ctr[C_NPOOL])
    return np.int64(pool[i, 5]), wallet_of(pool, i)


@njit(**KERNEL, inline="always")
def _new_wallet(ctr):  # type: ignore[no-untyped-def]
    ctr[C_NEXT_WALLET] += 1
    return ctr[C_NEXT_WALLET] - 1


@njit(**KERNEL, inline="always")
def _fresh(ctr, w):  # type: ignore[no-untyped-def]
    """A new address of wallet ``w`` (of its script type)."""
    t = wallet_type(w)
    ctr[C_NEXT_ADDR] += 1
    ctr[C_FRESH_OF_TYPE + t] += 1
    return fresh_id(t, ctr[C_FRESH_OF_TYPE + t] - 1)


@njit(**KERNEL, inline="always")
def _hot(rng, ctr, model, n=N_HOT, first=1):  # type: ignore[no-untyped-def]
    """One of the ``n`` reserved addresses from ``first`` on, Zipf-distributed."""
    return _used(ctr, model, first + _zipf(rng, model, n))


@njit(**KERNEL, inline="always")
def _used(ctr, model, h):  # type: ignore[no-untyped-def]
    """Reserved address ``h``, counted in C_HOT_USED the first time it is paid."""
    used = model[3]
    if not used[h]:
        used[h] = 1
        ctr[C_HOT_USED] += 1
    return h


@njit(**KERNEL, inline="always")
def _zipf(rng, model, n):  # type: ignore[no-untyped-def]
    """A rank in [0, n), Zipf-distributed."""
    zipf = model[2]
    return min(np.searchsorted(zipf, uniform(rng) * zipf[n - 1], side="right"), n - 1)


@njit(**KERNEL)
def _emit(buf, pos, src, n_in, n_out, opret, height, st, work):  # type: ignore[no-untyped-def]
    """Serialize a legacy transaction spending rows ``ins`` of ``src``; returns the end."""
    rng, txpos, ins, vals, addrs = st[0], st[7], work[0], work[1], work[2]
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
def _record(st, vout, value, addr, wallet):  # type: ignore[no-untyped-def]
    ctr, outs = st[1], st[6]
    n = ctr[C_NOUTS]
    outs[n, 0], outs[n, 2], outs[n, 3] = ctr[C_NTX], int(value), addr
    outs[n, 1] = vout | wallet << 32
    ctr[C_NOUTS] = n + 1


@njit(**KERNEL, inline="always")
def _draw(height, model, st):  # type: ignore[no-untyped-def]
    """An unspent coin drawn by age, not an exchange's (those wait for its consolidations and
    batch payouts; after USER_TRIES draws of exchange coins the last is taken)."""
    rng, ctr, pool, start = st[:4]
    mix = model[0]
    for _ in range(USER_TRIES):
        j = draw_by_age(pool, start, ctr[C_NPOOL], height - 1, rng, mix.p_recent, mix.recent_mean)
        if wallet_of(pool, j) > N_HOT:
            break
    return j


@njit(**KERNEL, inline="always")
def _take(height, tries, model, st):  # type: ignore[no-untyped-def]
    """Spend the largest of ``tries`` coins drawn by age (others stay unspent); its index."""
    pool = st[2]
    best = _draw(height, model, st)
    for _ in range(tries - 1):
        j = _draw(height, model, st)
        if pool[j, 4] > pool[best, 4]:
            best = j
    spend_coin(pool, st[8], st[1], best)
    return best


@njit(**KERNEL)
def _take_for(height, need, tries, model, st):  # type: ignore[no-untyped-def]
    """Spend a coin drawn by age whose wallet holds at least ``need`` coins: the first of up
    to ``tries`` draws that does, else the one whose wallet holds the most; its index."""
    ctr, pool, wtab = st[1], st[2], st[8]
    best, size = -1, -1
    for _ in range(tries):
        j = _draw(height, model, st)
        n = wallet_size(wtab, wallet_of(pool, j))
        if n > size:
            best, size = j, n
            if n >= need:
                break
    spend_coin(pool, wtab, ctr, best)
    return best


@njit(**KERNEL, inline="always")
def _fullest_exchange(rng, wtab):  # type: ignore[no-untyped-def]
    """Of EXCHANGE_TRIES exchanges drawn at random, the one holding the most coins."""
    best, size = 1, -1
    for _ in range(EXCHANGE_TRIES):
        h = 1 + below(rng, N_HOT)
        n = wallet_size(wtab, h)
        if n > size:
            best, size = h, n
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
    ins, vals, addrs, wallets = work
    v_in = np.int64(src[row, 4])
    owner = wallet_of(src, row)
    n_out = 2 if v_in >= 2 * DUST else 1
    fee = max(0, min(fee_for(rng, 1, 2), v_in - n_out * DUST))
    change = below(rng, n_out)
    split_value(rng, v_in - fee, vals, n_out, change, 0.02, 0.25)
    for k in range(n_out):
        if k != change:
            addrs[k], wallets[k] = _payee(rng, ctr, pool, model)
        else:  # a fresh address of the chain's owner
            addrs[k], wallets[k] = _fresh(ctr, owner), owner
    ins[0] = row
    end = _emit(buf, pos, src, 1, n_out, 0, height, st, work)
    ctr[C_INPUTS] += 1
    ctr[C_OUTPUTS] += n_out
    ctr[C_PEELS] += 1
    hops = np.int64(chains[ci, 7]) - 1
    goes_on = hops > 0 and n_out == 2 and vals[change] >= 20 * DUST
    for k in range(n_out):
        if k == change and goes_on:
            chains[ci, 4], chains[ci, 5], chains[ci, 6] = vals[k], addrs[k], k | owner << 32
            chains[ci, 7] = hops
            chain_tx[ci] = ctr[C_NTX]
        else:
            _record(st, k, vals[k], addrs[k], wallets[k])
    return end, fee, not goes_on


@njit(**KERNEL)
def _regular(buf, pos, kind, height, model, st, work):  # type: ignore[no-untyped-def]
    """A payment (kind 0), consolidation (1), batch payout (2) or fan-out (3); (end, fee).

    All inputs belong to one wallet. The first coin: a batch's is a hot wallet's oldest coin
    (else the largest of 4 drawn by age), a consolidation's mostly the oldest coin of the
    fullest of 4 exchanges; otherwise a multi-input transaction's is drawn by age from a wallet
    holding the inputs it wants (:func:`_take_for`), a one-input payment's is drawn by age.
    The others are that wallet's oldest unspent coins, fewer if it has fewer (more while the
    running shortfall ``ctr[C_DEFICIT]`` is positive: SWEEP_MUL).
    """
    rng, ctr, pool, wtab = st[0], st[1], st[2], st[8]
    ins, vals, addrs, wallets = work
    mix, cdfs = model[0], model[1]
    if kind == 3:
        n_in, n_out = 1, RAMP_FANOUT
    else:
        n_in = min(np.searchsorted(cdfs[kind, 0], uniform(rng), side="right"), MAX_IO)
        n_out = min(np.searchsorted(cdfs[kind, 1], uniform(rng), side="right"), MAX_IO - 1)
        n_out += 1 if kind == 2 else 0  # a batch's change
    got = 0
    if kind == 2:  # a batch pays from an exchange's hot wallet, else from a big coin
        got = take_from_wallet(pool, wtab, ctr, 1 + _zipf(rng, model, N_HOT), ins, 0, 1)
    elif kind == 1 and uniform(rng) < mix.p_exchange_sweep:  # an exchange sweeps deposits
        got = take_from_wallet(pool, wtab, ctr, _fullest_exchange(rng, wtab), ins, 0, 1)
    if got == 0 and (kind == 1 or (kind == 0 and n_in > 1)):  # a wallet with several coins
        ins[0] = _take_for(height, n_in, CONSOLIDATION_TRIES if kind == 1 else PAY_TRIES, model, st)
    elif got == 0:
        ins[0] = _take(height, 4 if kind == 2 else 1, model, st)
    owner = wallet_of(pool, ins[0])
    asked = n_in
    if kind != 3 and ctr[C_DEFICIT] > 0:  # make up for wallets that held too few coins
        n_in = min(n_in + ctr[C_DEFICIT], max(SWEEP_MUL * n_in, SWEEP_MIN), MAX_IO)
    n_in = take_from_wallet(pool, wtab, ctr, owner, ins, 1, n_in)
    v_in = np.int64(0)
    for k in range(n_in):
        v_in += np.int64(pool[ins[k], 4])
    while v_in < 2 * DUST * n_out and n_in < MAX_IO and kind != 3:
        if take_from_wallet(pool, wtab, ctr, owner, ins, n_in, n_in + 1) == n_in:
            break  # the wallet has no more coins: fewer outputs
        v_in += np.int64(pool[ins[n_in], 4])  # add coins until the outputs are affordable
        n_in += 1
    if kind != 3:
        ctr[C_DEFICIT] += asked - n_in
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
        if kind == 3:  # coins for exchanges and new users (about 4 each)
            if uniform(rng) < mix.p_deposit:
                wallets[k] = 1 + below(rng, N_HOT)
            elif k > 0 and wallets[k - 1] > N_HOT and uniform(rng) < 0.75:
                wallets[k] = wallets[k - 1]
            else:
                wallets[k] = _new_wallet(ctr)
            addrs[k] = _fresh(ctr, wallets[k])
        elif k == change and kind == 2 and owner < 1 + N_HOT:  # an exchange's own address
            addrs[k], wallets[k] = _used(ctr, model, owner), owner
        elif k == change:  # the spender's: sometimes back to the first input's address
            reuse = uniform(rng) < 0.12 and kind == 0
            addrs[k] = np.int64(pool[ins[0], 5]) if reuse else _fresh(ctr, owner)
            wallets[k] = owner
        elif kind == 1 and k == 0 and uniform(rng) < 0.3:  # a deposit to an exchange
            addrs[k] = wallets[k] = _hot(rng, ctr, model)
        elif kind == 1:  # to a fresh address of the same wallet
            addrs[k], wallets[k] = _fresh(ctr, owner), owner
        else:
            addrs[k], wallets[k] = _payee(rng, ctr, pool, model)
    opret = 1 if kind == 0 and uniform(rng) < mix.p_op_return else 0
    end = _emit(buf, pos, pool, n_in, n_out, opret, height, st, work)
    for k in range(n_out):
        _record(st, k, vals[k], addrs[k], wallets[k])
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
    (int64[MAX_IO], float64[MAX_IO + 1], int64[MAX_IO + 1], int64[MAX_IO + 1]): inputs,
    values, addresses and owner wallets of the outputs.
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
