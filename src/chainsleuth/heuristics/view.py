"""A narrow, typed, columnar view of a chain: the arrays every heuristic reads.

Transactions, inputs and outputs are held as numpy columns in chain order. Inputs and outputs
are grouped by transaction (CSR layout): the inputs of transaction ``t`` are rows
``in_start[t]:in_start[t + 1]``, its outputs ``out_start[t]:out_start[t + 1]``. Every index in
the view is a *position* (0..n-1); ``tx_id`` maps a transaction position back to the dataset's
``tx_id``. Address ids are the dataset's ``addr_id`` values (-1 where an output has no address).

Script types are small integer codes: ``SCRIPT_TYPES[code]`` is Bitcoin Core's name.

>>> view = ChainView.from_columns(
...     tx_id=[0, 1], height=[0, 1], version=[1, 2], locktime=[0, 0], is_coinbase=[True, False],
...     n_in=[1, 1], n_out=[1, 2],
...     in_addr=[-1, 0], in_value=[0, 50], in_type=[-1, 2], in_sequence=[0xFFFFFFFF, 0xFFFFFFFD],
...     in_prev_out=[-1, 0],
...     out_value=[50, 30, 19], out_addr=[0, 1, 2], out_type=[2, 2, 2], out_spent_by=[1, -1, -1],
... )
>>> view.n_tx, view.n_in, view.n_out, view.n_addr
(2, 2, 3, 3)
>>> view.outputs_of(1).tolist()
[1, 2]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "SCRIPT_TYPES",
    "ChainView",
    "script_type_code",
]

SCRIPT_TYPES: tuple[str, ...] = (
    "pubkeyhash",
    "scripthash",
    "witness_v0_keyhash",
    "witness_v0_scripthash",
    "witness_v1_taproot",
    "pubkey",
    "multisig",
    "nulldata",
    "witness_unknown",
    "anchor",
    "nonstandard",
)
"""Bitcoin Core's ``scriptPubKey.type`` names; a script type's code is its index here."""

_TYPE_CODE = {name: code for code, name in enumerate(SCRIPT_TYPES)}

I64 = NDArray[np.int64]


def script_type_code(name: str | None) -> int:
    """The integer code of one of Core's script type names (-1 for None or an unknown name).

    >>> script_type_code("witness_v0_keyhash"), script_type_code(None)
    (2, -1)
    """
    if name is None:
        return -1
    return _TYPE_CODE.get(name, -1)


def _offsets(counts: I64) -> I64:
    start = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=start[1:])
    return start


@dataclass(frozen=True, slots=True, eq=False)
class ChainView:
    """Columns of transactions, inputs and outputs in chain order (see the module docstring)."""

    tx_id: I64
    """dataset ``tx_id`` of each transaction position"""
    height: NDArray[np.int32]
    version: I64
    locktime: I64
    is_coinbase: NDArray[np.bool_]
    in_start: I64
    """CSR offsets into the input columns, length n_tx + 1"""
    out_start: I64
    """CSR offsets into the output columns, length n_tx + 1"""
    in_addr: I64
    """addr_id of the spent output (-1: none / coinbase)"""
    in_value: I64
    in_type: NDArray[np.int8]
    in_sequence: I64
    in_prev_out: I64
    """output position spent by the input (-1: coinbase)"""
    out_value: I64
    out_addr: I64
    """addr_id paid by the output (-1: no address)"""
    out_type: NDArray[np.int8]
    out_spent_by: I64
    """transaction position that spends the output (-1: unspent)"""
    in_tx: I64
    """transaction position of each input"""
    out_tx: I64
    """transaction position of each output"""
    n_addr: int

    @classmethod
    def from_columns(
        cls,
        *,
        tx_id: ArrayLike,
        height: ArrayLike,
        version: ArrayLike,
        locktime: ArrayLike,
        is_coinbase: ArrayLike,
        n_in: ArrayLike,
        n_out: ArrayLike,
        in_addr: ArrayLike,
        in_value: ArrayLike,
        in_type: ArrayLike,
        in_sequence: ArrayLike,
        in_prev_out: ArrayLike,
        out_value: ArrayLike,
        out_addr: ArrayLike,
        out_type: ArrayLike,
        out_spent_by: ArrayLike,
        n_addr: int | None = None,
    ) -> ChainView:
        """Build a view from plain columns; ``n_in``/``n_out`` give each transaction's counts.

        Inputs and outputs must already be sorted by transaction, then vin / vout.

        >>> v = ChainView.from_columns(
        ...     tx_id=[7], height=[0], version=[1], locktime=[0], is_coinbase=[True], n_in=[1],
        ...     n_out=[1], in_addr=[-1], in_value=[0], in_type=[-1], in_sequence=[0],
        ...     in_prev_out=[-1], out_value=[50], out_addr=[0], out_type=[0], out_spent_by=[-1])
        >>> int(v.tx_id[0]), v.n_addr
        (7, 1)
        """
        n_in_a = np.asarray(n_in, dtype=np.int64)
        n_out_a = np.asarray(n_out, dtype=np.int64)
        in_addr_a = np.asarray(in_addr, dtype=np.int64)
        out_addr_a = np.asarray(out_addr, dtype=np.int64)
        if n_addr is None:
            top = max(
                int(in_addr_a.max(initial=-1)),
                int(out_addr_a.max(initial=-1)),
            )
            n_addr = top + 1
        n_tx = len(n_in_a)
        positions = np.arange(n_tx, dtype=np.int64)
        view = cls(
            tx_id=np.asarray(tx_id, dtype=np.int64),
            height=np.asarray(height, dtype=np.int32),
            version=np.asarray(version, dtype=np.int64),
            locktime=np.asarray(locktime, dtype=np.int64),
            is_coinbase=np.asarray(is_coinbase, dtype=np.bool_),
            in_start=_offsets(n_in_a),
            out_start=_offsets(n_out_a),
            in_addr=in_addr_a,
            in_value=np.asarray(in_value, dtype=np.int64),
            in_type=np.asarray(in_type, dtype=np.int8),
            in_sequence=np.asarray(in_sequence, dtype=np.int64),
            in_prev_out=np.asarray(in_prev_out, dtype=np.int64),
            out_value=np.asarray(out_value, dtype=np.int64),
            out_addr=out_addr_a,
            out_type=np.asarray(out_type, dtype=np.int8),
            out_spent_by=np.asarray(out_spent_by, dtype=np.int64),
            in_tx=np.repeat(positions, n_in_a),
            out_tx=np.repeat(positions, n_out_a),
            n_addr=int(n_addr),
        )
        view.check()
        return view

    @property
    def n_tx(self) -> int:
        """Number of transactions."""
        return len(self.tx_id)

    @property
    def n_in(self) -> int:
        """Number of inputs."""
        return len(self.in_addr)

    @property
    def n_out(self) -> int:
        """Number of outputs."""
        return len(self.out_value)

    @property
    def tx_n_in(self) -> I64:
        """Input count of every transaction."""
        return np.diff(self.in_start)

    @property
    def tx_n_out(self) -> I64:
        """Output count of every transaction."""
        return np.diff(self.out_start)

    def inputs_of(self, tx: int) -> I64:
        """Input positions of transaction position ``tx``."""
        return np.arange(self.in_start[tx], self.in_start[tx + 1], dtype=np.int64)

    def outputs_of(self, tx: int) -> I64:
        """Output positions of transaction position ``tx``."""
        return np.arange(self.out_start[tx], self.out_start[tx + 1], dtype=np.int64)

    def position_of_tx_id(self, tx_ids: ArrayLike) -> I64:
        """Transaction positions of dataset ``tx_id`` values (-1 where absent).

        >>> v = ChainView.from_columns(
        ...     tx_id=[3, 9], height=[0, 1], version=[1, 1], locktime=[0, 0],
        ...     is_coinbase=[True, True], n_in=[1, 1], n_out=[0, 0], in_addr=[-1, -1],
        ...     in_value=[0, 0], in_type=[-1, -1], in_sequence=[0, 0], in_prev_out=[-1, -1],
        ...     out_value=[], out_addr=[], out_type=[], out_spent_by=[])
        >>> v.position_of_tx_id([9, 4]).tolist()
        [1, -1]
        """
        wanted = np.asarray(tx_ids, dtype=np.int64)
        pos = np.searchsorted(self.tx_id, wanted)
        pos_c = np.minimum(pos, max(self.n_tx - 1, 0))
        found = (pos < self.n_tx) & (self.tx_id[pos_c] == wanted) if self.n_tx else pos < 0
        return np.where(found, pos_c, -1).astype(np.int64)

    def check(self) -> None:
        """Raise ``ValueError`` when the columns are inconsistent (lengths, offsets)."""
        n_tx = self.n_tx
        tx_cols: tuple[Any, ...] = (self.height, self.version, self.locktime, self.is_coinbase)
        if any(len(c) != n_tx for c in tx_cols):
            raise ValueError("transaction columns differ in length")
        if len(self.in_start) != n_tx + 1 or len(self.out_start) != n_tx + 1:
            raise ValueError("offset columns must have n_tx + 1 entries")
        in_cols: tuple[Any, ...] = (
            self.in_value,
            self.in_type,
            self.in_sequence,
            self.in_prev_out,
            self.in_tx,
        )
        if int(self.in_start[-1]) != self.n_in or any(len(c) != self.n_in for c in in_cols):
            raise ValueError("input columns differ in length")
        out_cols: tuple[Any, ...] = (self.out_addr, self.out_type, self.out_spent_by, self.out_tx)
        if int(self.out_start[-1]) != self.n_out or any(len(c) != self.n_out for c in out_cols):
            raise ValueError("output columns differ in length")
        if n_tx > 1 and bool(np.any(np.diff(self.tx_id) <= 0)):
            raise ValueError("tx_id must be strictly increasing (chain order)")
