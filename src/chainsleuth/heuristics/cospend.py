"""Who spends together: multi-input (co-spend) pairs and the clusters they form.

The multi-input heuristic says that all inputs of an ordinary transaction belong to one
wallet. Its links are a star per transaction (every input address to the first one), which is
enough for connectivity. The clusters they form are the first-order wallet estimate that
second-order heuristics consult: whether an output ends up co-spent with the sender's coins,
or with somebody else's (see :func:`chainsleuth.heuristics.change.cospent_elsewhere`).

>>> from chainsleuth.heuristics.view import ChainView
>>> v = ChainView.from_columns(
...     tx_id=[0, 1], height=[1, 2], version=[2, 2], locktime=[0, 0], is_coinbase=[False, False],
...     n_in=[2, 2], n_out=[1, 1], in_addr=[4, 5, 5, 6], in_value=[1, 1, 1, 1],
...     in_type=[2, 2, 2, 2], in_sequence=[0, 0, 0, 0], in_prev_out=[-1, -1, -1, -1],
...     out_value=[2, 2], out_addr=[6, 7], out_type=[2, 2], out_spent_by=[1, -1])
>>> a, b, tx = multi_input_pairs(v, skip=np.zeros(2, dtype=bool))
>>> a.tolist(), b.tolist(), tx.tolist()
([4, 5], [5, 6], [0, 1])
>>> multi_input_clusters(v, skip=np.zeros(2, dtype=bool)).tolist()
[0, 1, 2, 3, 4, 4, 4, 7]
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from chainsleuth.graph.unionfind import new_parent, roots_to_min_ids, union_links
from chainsleuth.heuristics.view import ChainView

__all__ = ["first_input_addr", "multi_input_clusters", "multi_input_pairs"]

I64 = NDArray[np.int64]


def first_input_addr(view: ChainView) -> I64:
    """Per transaction: the addr_id of its first input that has one (-1 if none).

    >>> from chainsleuth.heuristics.view import ChainView
    >>> v = ChainView.from_columns(
    ...     tx_id=[0], height=[1], version=[2], locktime=[0], is_coinbase=[False], n_in=[2],
    ...     n_out=[1], in_addr=[-1, 3], in_value=[1, 1], in_type=[-1, 2], in_sequence=[0, 0],
    ...     in_prev_out=[-1, -1], out_value=[1], out_addr=[4], out_type=[2], out_spent_by=[-1])
    >>> first_input_addr(v).tolist()
    [3]
    """
    has = view.in_addr >= 0
    anchor = np.full(view.n_tx, -1, dtype=np.int64)
    pos = np.flatnonzero(has)[::-1]  # later writes win, so write in reverse order
    anchor[view.in_tx[pos]] = view.in_addr[pos]
    return anchor


def multi_input_pairs(view: ChainView, *, skip: NDArray[np.bool_]) -> tuple[I64, I64, I64]:
    """Co-spend pairs (first input address, other input address, tx position) in chain order.

    Coinbases and the transactions flagged in ``skip`` (CoinJoins) give none. See the module
    docstring for an example.
    """
    anchor = first_input_addr(view)
    tx = view.in_tx
    keep = (view.in_addr >= 0) & ~skip[tx] & ~view.is_coinbase[tx] & (view.in_addr != anchor[tx])
    return anchor[tx[keep]], view.in_addr[keep], tx[keep]


def multi_input_clusters(view: ChainView, *, skip: NDArray[np.bool_]) -> I64:
    """Cluster id (smallest member addr_id) of every address under multi-input links alone.

    See the module docstring for an example.
    """
    a, b, _ = multi_input_pairs(view, skip=skip)
    parent = new_parent(view.n_addr)
    union_links(parent, a, b)
    return roots_to_min_ids(parent)
