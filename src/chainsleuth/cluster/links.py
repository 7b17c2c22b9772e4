"""Address links a clustering applies: multi-input links and consensus change links.

A link joins two addr_ids and records the transaction and rule that justify it. Multi-input
links join every input address of a transaction to its first input address (a star, enough
for connectivity); CoinJoins and coinbases are skipped. A change link joins the first input
address of a transaction to the output accepted as change.

>>> from chainsleuth.heuristics.view import ChainView
>>> v = ChainView.from_columns(
...     tx_id=[0], height=[1], version=[2], locktime=[0], is_coinbase=[False], n_in=[3],
...     n_out=[1], in_addr=[4, 5, 4], in_value=[1, 1, 1], in_type=[2, 2, 2],
...     in_sequence=[0, 0, 0], in_prev_out=[-1, -1, -1], out_value=[2], out_addr=[6],
...     out_type=[2], out_spent_by=[-1])
>>> links = multi_input_links(v, skip=np.zeros(1, dtype=bool))
>>> links.a.tolist(), links.b.tolist(), links.rule_names()
([4], [5], ['multi-input'])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from chainsleuth.heuristics.consensus import ChangeLinks
from chainsleuth.heuristics.cospend import first_input_addr, multi_input_pairs
from chainsleuth.heuristics.view import ChainView

__all__ = ["MULTI_INPUT", "Links", "change_links", "concat_links", "multi_input_links"]

I64 = NDArray[np.int64]

MULTI_INPUT = "multi-input"
"""Rule name of multi-input links in evidence rows."""


@dataclass(frozen=True, slots=True)
class Links:
    """Parallel arrays of links: endpoints, transaction position, and a rule code per link."""

    a: I64
    b: I64
    tx: I64
    rule: I64
    """index into ``rules``"""
    rules: list[str]
    probability: NDArray[np.float32] | None = None
    """per link: the change model's probability (NaN for rule-based links; None: all are)"""

    def __len__(self) -> int:
        return len(self.a)

    def rule_names(self) -> list[str]:
        """The rule name of every link."""
        return [self.rules[int(r)] for r in self.rule]


def multi_input_links(view: ChainView, *, skip: NDArray[np.bool_]) -> Links:
    """Link each input address to its transaction's first input address, except ``skip`` txs.

    See the module docstring for an example.
    """
    a, b, tx = multi_input_pairs(view, skip=skip)
    return Links(a, b, tx, np.zeros(len(a), dtype=np.int64), [MULTI_INPUT])


def change_links(view: ChainView, change: ChangeLinks) -> Links:
    """Link each accepted change output's address to its transaction's first input address.

    >>> from chainsleuth.heuristics.view import ChainView
    >>> v = ChainView.from_columns(
    ...     tx_id=[0], height=[1], version=[2], locktime=[0], is_coinbase=[False], n_in=[1],
    ...     n_out=[2], in_addr=[4], in_value=[9], in_type=[2], in_sequence=[0],
    ...     in_prev_out=[-1], out_value=[2, 6], out_addr=[5, 6], out_type=[2, 2],
    ...     out_spent_by=[-1, -1])
    >>> ch = ChangeLinks(np.array([0]), np.array([1]), ["change:x+y"])
    >>> l = change_links(v, ch)
    >>> l.a.tolist(), l.b.tolist(), l.rule_names()
    ([4], [6], ['change:x+y'])
    """
    anchor = first_input_addr(view)
    a = anchor[change.tx]
    b = view.out_addr[change.out]
    rules = sorted(set(change.rules))
    code = {r: i for i, r in enumerate(rules)}
    rule = np.array([code[r] for r in change.rules], dtype=np.int64)
    keep = (a >= 0) & (b >= 0) & (a != b)
    prob = None if change.probability is None else change.probability[keep]
    return Links(a[keep], b[keep], change.tx[keep], rule[keep], rules, prob)


def concat_links(parts: list[Links]) -> Links:
    """Merge link sets into one, ordered by transaction (chain order), stable within a tx.

    >>> e = np.zeros(0, dtype=np.int64)
    >>> len(concat_links([Links(e, e, e, e, ["x"])]))
    0
    """
    rules: list[str] = []
    codes: list[I64] = []
    for part in parts:
        remap = np.array([_index(rules, r) for r in part.rules], dtype=np.int64)
        codes.append(remap[part.rule] if len(part.rule) else part.rule)
    e = np.zeros(0, dtype=np.int64)
    tx = np.concatenate([p.tx for p in parts] or [e])
    order = np.argsort(tx, kind="stable")
    prob = None
    if any(p.probability is not None for p in parts):
        nan = np.float32(np.nan)
        prob = np.concatenate(
            [p.probability if p.probability is not None else np.full(len(p), nan) for p in parts]
        ).astype(np.float32)[order]
    return Links(
        np.concatenate([p.a for p in parts] or [e])[order],
        np.concatenate([p.b for p in parts] or [e])[order],
        tx[order],
        np.concatenate(codes or [e])[order],
        rules,
        prob,
    )


def _index(items: list[str], item: str) -> int:
    if item not in items:
        items.append(item)
    return items.index(item)
