"""Change detection: each heuristic separate and named, each reporting its own evidence.

A change heuristic looks at one transaction's outputs and marks which of them *could* be the
sender's change (``possible``, a mask over output positions). It has an opinion on a
transaction when it rules some outputs out but not all; it *names a candidate* when exactly one
output remains. :mod:`chainsleuth.heuristics.consensus` combines them.

Only ordinary spends are judged: not coinbase, not a CoinJoin, ≥ 1 input and ≥ 2 outputs with
addresses.

Heuristics (sources in each docstring):

- ``address_reuse`` — change sent back to one of the inputs' own addresses (self-change).
- ``fresh_address`` — change goes to a one-time address: first seen in this output and never
  paid again; payees' addresses are often known already or reused later.
- ``script_type`` — change has the script type of the inputs (a wallet keeps one type).
- ``optimal_change`` — change is smaller than every input; otherwise an input was unnecessary.
- ``round_number`` — payments tend to be round numbers; the change is the non-round output.
- ``fingerprint`` — the change is later spent by the same wallet, so its spending transaction
  shares this one's version, locktime style and RBF signalling.
- ``peel_chain`` — in a 1-input peel step the change is the output that continues the chain
  (spent alone into another 1-input/2-output step).
- ``output_order`` — wallets that append change put it last (weak; Core randomises).
- ``cospent_elsewhere`` — an output whose address is later spent together with coins of
  another wallet (another multi-input cluster) is that wallet's, so it is not the change.

>>> from chainsleuth.heuristics.view import ChainView
>>> v = ChainView.from_columns(
...     tx_id=[0, 1], height=[1, 2], version=[2, 2], locktime=[0, 1], is_coinbase=[True, False],
...     n_in=[1, 1], n_out=[1, 2], in_addr=[-1, 0], in_value=[0, 50_000], in_type=[-1, 2],
...     in_sequence=[0, 0xFFFFFFFD], in_prev_out=[-1, 0], out_value=[50_000, 30_000, 19_123],
...     out_addr=[0, 1, 2], out_type=[2, 4, 2], out_spent_by=[1, -1, -1])
>>> s = change_signals(v)
>>> s["script_type"].candidate.tolist(), s["round_number"].candidate.tolist()
([-1, 2], [-1, 2])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numba import njit
from numpy.typing import NDArray

from chainsleuth.heuristics.coinjoin import detect_coinjoins
from chainsleuth.heuristics.cospend import first_input_addr, multi_input_clusters
from chainsleuth.heuristics.outputs import min_input_value, output_in_inputs
from chainsleuth.heuristics.txfacts import (
    IN_ONE,
    OUT_TWO,
    SpenderFacts,
    tx_fingerprint,
)
from chainsleuth.heuristics.view import ChainView

__all__ = [
    "CHANGELESS_VETO",
    "CHANGE_HEURISTICS",
    "ChangeContext",
    "ChangeSignal",
    "address_reuse",
    "change_signals",
    "changeless_txs",
    "cospent_elsewhere",
    "fingerprint",
    "fresh_address",
    "is_round",
    "optimal_change",
    "output_order",
    "peel_chain",
    "round_number",
    "script_type",
    "signals_of",
]

BoolArray = NDArray[np.bool_]
I64 = NDArray[np.int64]


@dataclass(frozen=True)
class ChangeContext:
    """Facts about outputs and transactions the change heuristics share (co-spend clusters
    are computed on first use: only second-order heuristics need them)."""

    view: ChainView
    eligible_tx: BoolArray
    """transactions judged (see module docstring)"""
    eligible_out: BoolArray
    """outputs of eligible transactions that pay an address"""
    addr_first_out: I64
    """per address: the first output position paying it"""
    addr_n_outputs: I64
    """per address: how many outputs pay it"""
    coinjoin: BoolArray
    """per transaction: detected CoinJoin"""
    given_cospend: I64 | None = None
    """co-spend clusters supplied by the caller (else computed when first needed)"""
    given_cospend_size: I64 | None = None
    """per address: the size of its co-spend cluster, when the caller supplies the clusters
    of a part of the chain (else counted over the view)"""
    given_spender: SpenderFacts | None = None
    """facts about each output's spender supplied by the caller (else taken from the view's
    ``out_spent_by`` when first needed)"""
    detailed_spender: bool = False
    """compute the spender's exact counts, height and version too (the change model's
    features need them)"""

    @cached_property
    def cospend_cluster(self) -> I64:
        """Per address: its cluster under multi-input (co-spend) links alone (a label: equal
        labels, same cluster)."""
        if self.given_cospend is not None:
            return self.given_cospend
        return multi_input_clusters(self.view, skip=self.coinjoin)

    @cached_property
    def cospend_size(self) -> I64:
        """Per address: how many addresses its co-spend cluster holds."""
        if self.given_cospend_size is not None:
            return self.given_cospend_size
        label = self.cospend_cluster
        return np.bincount(label, minlength=self.view.n_addr).astype(np.int64)[label]

    @cached_property
    def spender(self) -> SpenderFacts:
        """Per output: facts about the transaction spending it."""
        if self.given_spender is not None:
            return self.given_spender
        return SpenderFacts.of_view(self.view, detailed=self.detailed_spender)

    @cached_property
    def sender_cluster(self) -> I64:
        """Per transaction: the co-spend cluster of its inputs (-1 without input addresses)."""
        anchor = first_input_addr(self.view)
        cluster = self.cospend_cluster
        return np.where(anchor >= 0, cluster[np.maximum(anchor, 0)], -1).astype(np.int64)

    @classmethod
    def of(
        cls,
        view: ChainView,
        coinjoin: BoolArray | None = None,
        cospend_cluster: I64 | None = None,
        *,
        cospend_size: I64 | None = None,
        spender: SpenderFacts | None = None,
        addr_first_out: I64 | None = None,
        addr_n_outputs: I64 | None = None,
        detailed_spender: bool = False,
    ) -> ChangeContext:
        """Compute the shared facts; CoinJoins and co-spend clusters unless given.

        A view of a part of the chain (a window) gives the facts it cannot see itself:
        ``cospend_cluster`` with ``cospend_size``, ``spender``, and per address
        ``addr_first_out`` (a position in the view, or -1 when the address was paid before
        it) and ``addr_n_outputs`` (over the whole chain).

        >>> from chainsleuth.heuristics.view import ChainView
        >>> v = ChainView.from_columns(
        ...     tx_id=[0], height=[1], version=[1], locktime=[0], is_coinbase=[True], n_in=[1],
        ...     n_out=[2], in_addr=[-1], in_value=[0], in_type=[-1], in_sequence=[0],
        ...     in_prev_out=[-1], out_value=[5, 6], out_addr=[0, 0], out_type=[2, 2],
        ...     out_spent_by=[-1, -1])
        >>> ctx = ChangeContext.of(v)
        >>> ctx.eligible_tx.tolist(), ctx.addr_n_outputs.tolist()
        ([False], [2])
        """
        if coinjoin is None:
            coinjoin = detect_coinjoins(view).mask
        has_addr = view.out_addr >= 0
        n_addr_outs = np.bincount(view.out_tx[has_addr], minlength=view.n_tx)
        eligible_tx = (
            ~view.is_coinbase & ~coinjoin & (view.tx_n_in >= 1) & (view.tx_n_out >= 2)
        ) & (n_addr_outs == view.tx_n_out)
        if addr_first_out is None:
            addr_first_out = np.full(view.n_addr, np.iinfo(np.int64).max, dtype=np.int64)
            positions = np.arange(view.n_out, dtype=np.int64)
            np.minimum.at(addr_first_out, view.out_addr[has_addr], positions[has_addr])
        if addr_n_outputs is None:
            addr_n_outputs = np.bincount(view.out_addr[has_addr], minlength=view.n_addr)
        return cls(
            view=view,
            eligible_tx=eligible_tx,
            eligible_out=eligible_tx[view.out_tx] & has_addr,
            addr_first_out=addr_first_out,
            addr_n_outputs=np.asarray(addr_n_outputs, dtype=np.int64),
            coinjoin=coinjoin,
            given_cospend=cospend_cluster,
            given_cospend_size=cospend_size,
            given_spender=spender,
            detailed_spender=detailed_spender,
        )


@dataclass(frozen=True, slots=True)
class ChangeSignal:
    """One heuristic's verdict on every output and transaction."""

    name: str
    possible: BoolArray
    """per output: could be the change under this heuristic (False outside eligible txs)"""
    n_possible: I64
    """per transaction: how many outputs remain possible"""
    opinion: BoolArray
    """per transaction: the heuristic rules out some outputs but not all"""
    candidate: I64
    """per transaction: the single possible output's position when there is one, else -1"""
    out_tx: I64
    """per output: its transaction position (the view's ``out_tx``)"""

    @classmethod
    def from_possible(cls, name: str, ctx: ChangeContext, possible: BoolArray) -> ChangeSignal:
        """Summarise a per-output ``possible`` mask into opinions and candidates.

        >>> from chainsleuth.heuristics.view import ChainView
        >>> v = ChainView.from_columns(
        ...     tx_id=[0], height=[1], version=[1], locktime=[0], is_coinbase=[False], n_in=[1],
        ...     n_out=[2], in_addr=[0], in_value=[9], in_type=[2], in_sequence=[0],
        ...     in_prev_out=[-1], out_value=[5, 3], out_addr=[1, 2], out_type=[2, 2],
        ...     out_spent_by=[-1, -1])
        >>> ctx = ChangeContext.of(v)
        >>> ChangeSignal.from_possible("x", ctx, np.array([False, True])).candidate.tolist()
        [1]
        """
        view = ctx.view
        possible = possible & ctx.eligible_out
        n_possible = np.bincount(view.out_tx[possible], minlength=view.n_tx).astype(np.int64)
        opinion = ctx.eligible_tx & (n_possible >= 1) & (n_possible < view.tx_n_out)
        candidate = np.full(view.n_tx, -1, dtype=np.int64)
        single = possible & (n_possible[view.out_tx] == 1) & opinion[view.out_tx]
        candidate[view.out_tx[single]] = np.flatnonzero(single)
        return cls(name, possible, n_possible, opinion, candidate, view.out_tx)


def address_reuse(ctx: ChangeContext) -> BoolArray:
    """Self-change: the output pays one of the transaction's own input addresses.

    Source: Meiklejohn et al., "A Fistful of Bitcoins" (IMC 2013) — wallets that reuse an input
    address for change reveal it directly.
    """
    return output_in_inputs(ctx.view)


def fresh_address(ctx: ChangeContext) -> BoolArray:
    """One-time change: the output's address is first seen here and never receives again.

    Source: Meiklejohn et al. (2013), "one-time change address"; Androulaki et al. (FC 2013).
    Wallets derive a new internal address for every change output, while payees' addresses are
    frequently known before or reused afterwards.
    """
    view = ctx.view
    addr = np.maximum(view.out_addr, 0)
    positions = np.arange(view.n_out, dtype=np.int64)
    return (
        (view.out_addr >= 0)
        & (ctx.addr_first_out[addr] == positions)
        & (ctx.addr_n_outputs[addr] == 1)
    )


def script_type(ctx: ChangeContext) -> BoolArray:
    """Script-type match: the change has a script type that one of the inputs has.

    Source: Kappos et al., "How to Peel a Million" (USENIX Security 2022); BlockSci's
    ``AddressType`` change heuristic. A wallet usually keeps one address type for receiving
    and change, while payees use whatever type their own wallet prefers.
    """
    view = ctx.view
    n_types = 16
    in_ok = view.in_type >= 0
    seen = np.zeros(view.n_tx * n_types, dtype=np.bool_)
    seen[view.in_tx[in_ok] * n_types + view.in_type[in_ok]] = True
    out_ok = view.out_type >= 0
    keys = view.out_tx * n_types + np.where(out_ok, view.out_type, 0)
    return out_ok & seen[keys]


def optimal_change(ctx: ChangeContext) -> BoolArray:
    """Optimal change: with ≥ 2 inputs, the change is smaller than every input.

    Source: Nick, "Data-Driven De-Anonymization in Bitcoin" (ETH 2015). If the output taken as
    change were at least as large as the smallest input, that input would have been
    unnecessary for paying the other outputs plus the fee.
    """
    view = ctx.view
    smallest = min_input_value(view)
    multi = view.tx_n_in[view.out_tx] >= 2
    return multi & (view.out_value < smallest[view.out_tx])


@njit(cache=True)
def _round_mask(values: I64, max_significant: int, min_trailing_zeros: int) -> BoolArray:
    out = np.zeros(values.shape[0], dtype=np.bool_)
    for i in range(values.shape[0]):
        rest = values[i]
        if rest <= 0:
            continue
        trailing = 0
        while rest % 10 == 0:
            rest //= 10
            trailing += 1
        significant = 0
        while rest > 0:
            rest //= 10
            significant += 1
        out[i] = trailing >= min_trailing_zeros and significant <= max_significant
    return out


def is_round(values: I64, max_significant: int = 3, min_trailing_zeros: int = 3) -> BoolArray:
    """Round amounts: at most ``max_significant`` significant digits and ≥ 3 trailing zeros.

    >>> is_round(np.array([1_200_000, 100_000_000, 19_123, 350_000, 1_234_567])).tolist()
    [True, True, False, True, False]
    """
    v = np.ascontiguousarray(values, dtype=np.int64)
    mask: BoolArray = _round_mask(v, max_significant, min_trailing_zeros)
    return mask


CHANGELESS_VETO = "changeless-veto"
"""Name of :func:`changeless_txs` as a clustering rule (it removes change links, adds none)."""


def changeless_txs(ctx: ChangeContext) -> BoolArray:
    """Per transaction: judged, with two or more inputs, and every output worth at least its
    smallest input — a wallet that made change would not have needed that input (Core's
    changeless coin selection, or a payment to several recipients without change), so no output
    is taken for change.

    >>> from chainsleuth.heuristics.view import ChainView
    >>> v = ChainView.from_columns(
    ...     tx_id=[0], height=[1], version=[2], locktime=[0], is_coinbase=[False], n_in=[2],
    ...     n_out=[2], in_addr=[0, 1], in_value=[20, 15], in_type=[2, 2], in_sequence=[0, 0],
    ...     in_prev_out=[-1, -1], out_value=[18, 16], out_addr=[2, 3], out_type=[2, 2],
    ...     out_spent_by=[-1, -1])
    >>> changeless_txs(ChangeContext.of(v)).tolist()
    [True]
    """
    view = ctx.view
    possible = optimal_change(ctx) & ctx.eligible_out
    n_possible = np.bincount(view.out_tx[possible], minlength=view.n_tx)
    return np.asarray(ctx.eligible_tx & (n_possible == 0) & (view.tx_n_in >= 2), dtype=np.bool_)


def round_number(ctx: ChangeContext) -> BoolArray:
    """Round-number payment: the change is an output whose value is not round.

    Source: Androulaki et al., "Evaluating User Privacy in Bitcoin" (FC 2013); Meiklejohn et al.
    People pay round amounts; change is what is left over and rarely round.
    """
    return ~is_round(ctx.view.out_value)


def fingerprint(ctx: ChangeContext) -> BoolArray:
    """Fingerprint consistency: the output's spender shares this tx's version/locktime/RBF.

    Source: Kappos et al. (2022) wallet fingerprinting; Ishaana Misra, "Wallet fingerprints"
    (2024). The change is later spent by the same wallet software, so the spending transaction
    repeats the version, nLockTime style (zero, anti-fee-sniping height, other height, time) and
    BIP125 signalling; a payment is spent by the payee's wallet, which may differ. Unspent
    outputs stay possible.
    """
    view = ctx.view
    spender = ctx.spender
    same = spender.fingerprint == tx_fingerprint(view)[view.out_tx]
    return np.asarray(~spender.spent | same, dtype=np.bool_)


def peel_chain(ctx: ChangeContext) -> BoolArray:
    """Peel-chain continuation: in a 1-input step, the larger output, spent alone into a like
    step.

    Source: Meiklejohn et al. (2013) "peeling chains"; Kappos et al. (2022). A peel step pays a
    small amount and passes the (larger) remainder to a fresh change output that the next step
    spends as its only input, again with two outputs. Requiring the larger output drops the
    payee of an exchange withdrawal who happens to spend the coin alone.
    """
    view = ctx.view
    step = (view.tx_n_in == 1) & (view.tx_n_out == 2)
    largest = np.zeros(view.n_tx, dtype=np.int64)
    has_out = view.tx_n_out > 0
    if view.n_out:
        largest[has_out] = np.maximum.reduceat(view.out_value, view.out_start[:-1][has_out])
    remainder = view.out_value == largest[view.out_tx]
    spender_step = ctx.spender.has(IN_ONE) & ctx.spender.has(OUT_TWO)
    return np.asarray(spender_step & step[view.out_tx] & remainder, dtype=np.bool_)


def output_order(ctx: ChangeContext) -> BoolArray:
    """Output-order convention: the change is the last output.

    Source: wallets such as early Bitcoin-Qt (before 0.9 randomised change position) and
    several light wallets append change. Weak on modern Core, which randomises the position.
    """
    view = ctx.view
    positions = np.arange(view.n_out, dtype=np.int64)
    return positions == view.out_start[view.out_tx + 1] - 1


def cospent_elsewhere(ctx: ChangeContext) -> BoolArray:
    """Co-spent elsewhere: an output later spent together with another wallet's coins is a payment.

    Source: the multi-input heuristic (Nakamoto 2008, §10; Meiklejohn et al. 2013) applied to
    the outputs' future, as in Androulaki et al. (FC 2013), who combine it with change
    detection. When an output's address ends up in a co-spend cluster of two or more addresses
    that does not hold the sender's inputs, the payee's wallet spent it: it is ruled out as
    change. Outputs spent alone, not yet spent, or co-spent with the sender stay possible.
    Because a fragmented sender can look like another wallet, this signal only ever votes
    together with another heuristic.
    """
    view = ctx.view
    addr = np.maximum(view.out_addr, 0)
    cluster = ctx.cospend_cluster[addr]
    elsewhere = (cluster != ctx.sender_cluster[view.out_tx]) & (ctx.cospend_size[addr] >= 2)
    return ~(elsewhere & (view.out_addr >= 0))


CHANGE_HEURISTICS: dict[str, Callable[[ChangeContext], BoolArray]] = {
    "address_reuse": address_reuse,
    "fresh_address": fresh_address,
    "script_type": script_type,
    "optimal_change": optimal_change,
    "round_number": round_number,
    "fingerprint": fingerprint,
    "peel_chain": peel_chain,
    "output_order": output_order,
    "cospent_elsewhere": cospent_elsewhere,
}
"""Every change heuristic by name."""


def signals_of(ctx: ChangeContext, names: list[str] | None = None) -> dict[str, ChangeSignal]:
    """The named heuristics' verdicts (all by default) on a prepared context.

    >>> from chainsleuth.heuristics.view import ChainView
    >>> v = ChainView.from_columns(
    ...     tx_id=[0], height=[1], version=[1], locktime=[0], is_coinbase=[False], n_in=[1],
    ...     n_out=[2], in_addr=[0], in_value=[9], in_type=[2], in_sequence=[0],
    ...     in_prev_out=[-1], out_value=[5, 3], out_addr=[1, 2], out_type=[2, 4],
    ...     out_spent_by=[-1, -1])
    >>> signals_of(ChangeContext.of(v), ["script_type"])["script_type"].candidate.tolist()
    [0]
    """
    chosen = list(CHANGE_HEURISTICS) if names is None else names
    return {
        name: ChangeSignal.from_possible(name, ctx, CHANGE_HEURISTICS[name](ctx)) for name in chosen
    }


def change_signals(
    view: ChainView,
    names: list[str] | None = None,
    *,
    coinjoin: BoolArray | None = None,
    cospend_cluster: I64 | None = None,
) -> dict[str, ChangeSignal]:
    """Run the named change heuristics (all by default) and summarise each one's verdict.

    See the module docstring for an example.
    """
    return signals_of(ChangeContext.of(view, coinjoin, cospend_cluster), names)
