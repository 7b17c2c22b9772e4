"""What change heuristics know about the transaction that later spends an output.

Several heuristics judge an output by its *spender*: ``fingerprint`` (does the spending
transaction repeat this one's version, locktime style and RBF signalling), ``peel_chain``
(is it a like 1-input/2-output step), the self-transfer rule (spent alone into at most two
outputs) and the change model's spend features. They read :class:`SpenderFacts`, one row per
output, built either from a whole in-RAM view (:meth:`SpenderFacts.of_view`, through
``out_spent_by``) or, when the chain is streamed in windows, gathered from per-transaction
arrays of the whole chain (:meth:`SpenderFacts.gather`) — the same values either way.

Per transaction the compact form is one ``uint16`` *code* (2 B per transaction): the
fingerprint (``min(version, 255) * 8 + locktime style * 2 + rbf``, 11 bits) and three shape
flags (one input; two outputs; at most two outputs). The change model also needs exact
counts, height and version: :class:`TxDetail` (16 B per transaction), built only when asked.

>>> from chainsleuth.heuristics.view import ChainView
>>> v = ChainView.from_columns(
...     tx_id=[0, 1], height=[1, 2], version=[2, 2], locktime=[0, 1], is_coinbase=[True, False],
...     n_in=[1, 1], n_out=[1, 2], in_addr=[-1, 0], in_value=[0, 50_000], in_type=[-1, 2],
...     in_sequence=[0, 0xFFFFFFFD], in_prev_out=[-1, 0], out_value=[50_000, 30_000, 19_123],
...     out_addr=[0, 1, 2], out_type=[2, 4, 2], out_spent_by=[1, -1, -1])
>>> codes = tx_codes(v)
>>> [fingerprint_of(c) for c in codes.tolist()], bool(codes[1] & OUT_TWO)
([17, 19], True)
>>> SpenderFacts.of_view(v).spent.tolist()
[True, False, False]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from chainsleuth.heuristics.view import ChainView

__all__ = [
    "ANTI_FEE_SNIPING_WINDOW",
    "FINGERPRINT_MASK",
    "IN_ONE",
    "LOCKTIME_THRESHOLD",
    "OUT_LE_TWO",
    "OUT_TWO",
    "SEQUENCE_FINAL_MINUS_ONE",
    "SpenderFacts",
    "TxDetail",
    "fingerprint_of",
    "lock_style",
    "rbf_signalling",
    "tx_codes",
    "tx_fingerprint",
]

BoolArray = NDArray[np.bool_]
I64 = NDArray[np.int64]
U16 = NDArray[np.uint16]

SEQUENCE_FINAL_MINUS_ONE = 0xFFFFFFFE
"""Inputs with a sequence below this signal BIP125 replace-by-fee."""

ANTI_FEE_SNIPING_WINDOW = 100
"""Core sets nLockTime to the tip height, sometimes up to 100 blocks lower (anti-fee-sniping)."""

LOCKTIME_THRESHOLD = 500_000_000
"""nLockTime values at or above this are timestamps."""

FINGERPRINT_MASK = (1 << 11) - 1
"""The low 11 bits of a code: the fingerprint."""
IN_ONE = 1 << 11
"""Code flag: the transaction has exactly one input."""
OUT_TWO = 1 << 12
"""Code flag: the transaction has exactly two outputs."""
OUT_LE_TWO = 1 << 13
"""Code flag: the transaction has at most two outputs."""


def rbf_signalling(view: ChainView) -> BoolArray:
    """Per transaction: some input signals BIP125 replace-by-fee.

    >>> from chainsleuth.heuristics.view import ChainView
    >>> v = ChainView.from_columns(
    ...     tx_id=[0], height=[1], version=[2], locktime=[0], is_coinbase=[False], n_in=[2],
    ...     n_out=[1], in_addr=[0, 1], in_value=[1, 1], in_type=[2, 2],
    ...     in_sequence=[0xFFFFFFFF, 0xFFFFFFFD], in_prev_out=[-1, -1], out_value=[1],
    ...     out_addr=[2], out_type=[2], out_spent_by=[-1])
    >>> rbf_signalling(v).tolist()
    [True]
    """
    rbf = np.zeros(view.n_tx, dtype=np.bool_)
    rbf[view.in_tx[view.in_sequence < SEQUENCE_FINAL_MINUS_ONE]] = True
    return rbf


def lock_style(view: ChainView) -> I64:
    """Per transaction: 0 no locktime, 1 an anti-fee-sniping height (at most 100 below the
    block), 2 another height, 3 a time.

    >>> from chainsleuth.heuristics.view import ChainView
    >>> v = ChainView.from_columns(
    ...     tx_id=[0, 1], height=[500, 500], version=[2, 2], locktime=[499, 10],
    ...     is_coinbase=[True, True], n_in=[1, 1], n_out=[0, 0], in_addr=[-1, -1],
    ...     in_value=[0, 0], in_type=[-1, -1], in_sequence=[0, 0], in_prev_out=[-1, -1],
    ...     out_value=[], out_addr=[], out_type=[], out_spent_by=[])
    >>> lock_style(v).tolist()
    [1, 2]
    """
    lock = view.locktime
    height = view.height.astype(np.int64)
    near = (lock <= height) & (lock >= height - ANTI_FEE_SNIPING_WINDOW)
    style = np.where(lock == 0, 0, np.where(lock >= LOCKTIME_THRESHOLD, 3, np.where(near, 1, 2)))
    return np.asarray(style, dtype=np.int64)


def tx_fingerprint(view: ChainView) -> I64:
    """Per transaction: version (capped at 255), locktime style and RBF packed into 11 bits.

    >>> tx_fingerprint(_doc_view()).tolist()
    [17, 19]
    """
    version = np.minimum(view.version, 255)
    return (version * 8 + lock_style(view) * 2 + rbf_signalling(view)).astype(np.int64)


def fingerprint_of(code: int) -> int:
    """The fingerprint part of a code.

    >>> fingerprint_of(OUT_TWO | 19)
    19
    """
    return code & FINGERPRINT_MASK


def tx_codes(view: ChainView) -> U16:
    """Per transaction its 2-byte code: fingerprint and shape flags (module docstring).

    >>> [int(c) & ~FINGERPRINT_MASK for c in tx_codes(_doc_view())] == [
    ...     IN_ONE | OUT_LE_TWO, IN_ONE | OUT_TWO | OUT_LE_TWO]
    True
    """
    n_in, n_out = view.tx_n_in, view.tx_n_out
    code = tx_fingerprint(view)
    code |= np.where(n_in == 1, IN_ONE, 0)
    code |= np.where(n_out == 2, OUT_TWO, 0)
    code |= np.where(n_out <= 2, OUT_LE_TWO, 0)
    return code.astype(np.uint16)


@dataclass(frozen=True, slots=True, eq=False)
class TxDetail:
    """Exact per-transaction facts the change model's spend features read (16 B per
    transaction: four 4-byte columns)."""

    n_in: NDArray[np.uint32]
    n_out: NDArray[np.uint32]
    height: NDArray[np.int32]
    version: NDArray[np.uint32]

    @classmethod
    def of_view(cls, view: ChainView) -> TxDetail:
        """The facts of every transaction of ``view``.

        >>> TxDetail.of_view(_doc_view()).n_out.tolist()
        [1, 2]
        """
        return cls(
            n_in=view.tx_n_in.astype(np.uint32),
            n_out=view.tx_n_out.astype(np.uint32),
            height=np.asarray(view.height, dtype=np.int32),
            version=view.version.astype(np.uint32),
        )

    @classmethod
    def empty(cls, n: int) -> TxDetail:
        """Zeroed columns for ``n`` transactions (filled window by window).

        >>> len(TxDetail.empty(3).n_in)
        3
        """
        return cls(
            np.zeros(n, np.uint32), np.zeros(n, np.uint32), np.zeros(n, np.int32),
            np.zeros(n, np.uint32),
        )  # fmt: skip

    def put(self, start: int, other: TxDetail) -> None:
        """Copy ``other``'s rows into rows ``start`` … of these columns."""
        end = start + len(other.n_in)
        self.n_in[start:end] = other.n_in
        self.n_out[start:end] = other.n_out
        self.height[start:end] = other.height
        self.version[start:end] = other.version

    def take(self, rows: I64) -> TxDetail:
        """The facts of transactions ``rows`` (each ≥ 0)."""
        return TxDetail(self.n_in[rows], self.n_out[rows], self.height[rows], self.version[rows])


@dataclass(frozen=True, slots=True, eq=False)
class SpenderFacts:
    """Per output: whether it is spent, and its spender's code (and detail when asked)."""

    spent: BoolArray
    code: U16
    """the spender's code (0 for an unspent output)"""
    detail: TxDetail | None = None
    """the spender's exact facts (rows of unspent outputs are zero)"""

    @classmethod
    def gather(cls, spender: I64, codes: U16, detail: TxDetail | None = None) -> SpenderFacts:
        """Facts of the transactions ``spender`` (per output; -1 for unspent) taken from the
        per-transaction ``codes`` (and ``detail``) that ``spender`` indexes.

        >>> f = SpenderFacts.gather(np.array([1, -1]), tx_codes(_doc_view()))
        >>> f.spent.tolist(), fingerprint_of(int(f.code[0]))
        ([True, False], 19)
        """
        spent = spender >= 0
        rows = np.maximum(spender, 0)
        code = (
            np.where(spent, codes[rows], 0).astype(np.uint16)
            if len(codes)
            else (np.zeros(len(spender), np.uint16))
        )
        taken = None
        if detail is not None:
            got = detail.take(rows) if len(detail.n_in) else TxDetail.empty(len(spender))
            taken = TxDetail(
                np.where(spent, got.n_in, 0).astype(np.uint32),
                np.where(spent, got.n_out, 0).astype(np.uint32),
                np.where(spent, got.height, 0).astype(np.int32),
                np.where(spent, got.version, 0).astype(np.uint32),
            )
        return cls(spent, code, taken)

    @classmethod
    def of_view(cls, view: ChainView, *, detailed: bool = False) -> SpenderFacts:
        """Facts of each output's spender within a whole view (``out_spent_by``).

        See the module docstring for an example.
        """
        detail = TxDetail.of_view(view) if detailed else None
        return cls.gather(view.out_spent_by, tx_codes(view), detail)

    @property
    def fingerprint(self) -> I64:
        """The spender's fingerprint per output (meaningless where unspent)."""
        return (self.code & FINGERPRINT_MASK).astype(np.int64)

    def has(self, flag: int) -> BoolArray:
        """Per output: spent, and its spender's code carries ``flag``."""
        return self.spent & ((self.code & flag) != 0)


def _doc_view() -> ChainView:
    return ChainView.from_columns(
        tx_id=[0, 1], height=[1, 2], version=[2, 2], locktime=[0, 1], is_coinbase=[True, False],
        n_in=[1, 1], n_out=[1, 2], in_addr=[-1, 0], in_value=[0, 50_000], in_type=[-1, 2],
        in_sequence=[0, 0xFFFFFFFD], in_prev_out=[-1, 0], out_value=[50_000, 30_000, 19_123],
        out_addr=[0, 1, 2], out_type=[2, 4, 2], out_spent_by=[1, -1, -1],
    )  # fmt: skip
