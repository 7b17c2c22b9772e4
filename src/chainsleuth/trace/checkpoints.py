"""Running-total checkpoints of a node CSR: a node's satoshi-queue position every
:data:`~chainsleuth.trace.kernels.CUM_STEP` entries, instead of one running total per entry.

FIFO needs, for an entry of a node, the node's total received (or spent) before it. Stored per
entry that is 8 B per input and per output; it is derived instead from the node's CSR
(``node_recv``/``node_spend``, chain order) and the entries' values, with a checkpoint kept
for slot ``s + i * CUM_STEP`` (``i ≥ 1``) of every node whose CSR starts at ``s``, at index
``s // CUM_STEP + i - 1`` of the checkpoint array (``n_slots // CUM_STEP + 1`` items, 0 where
no node has a checkpoint): node-relative, so the node's checkpoints do not overlap the next
node's, and they keep their values when a node's CSR moves (:func:`move_checkpoints`). A
lookup reads one checkpoint and at most ``CUM_STEP - 1`` values
(:func:`~chainsleuth.trace.kernels.entry_cums`).

>>> start = np.array([0, 20, 20, 23])  # node 0: 20 entries, node 1: none, node 2: 3
>>> value = np.arange(23) + 1
>>> ck = checkpoints(start, np.arange(23), value)
>>> len(ck), int(ck[0]) == int(value[:16].sum()), int(ck[1])  # node 0 at slot 16; none else
(2, True, 0)
>>> slot_cums(start, np.arange(23), value)[[0, 16, 20, 22]].tolist()
[0, 136, 0, 43]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from chainsleuth.trace.kernels import CUM_STEP

__all__ = ["CUM_STEP", "checkpoints", "entry_cum_array", "move_checkpoints", "n_checkpoints"]

I64 = NDArray[np.int64]


def n_checkpoints(n_slots: int) -> int:
    """Length of the checkpoint array of a CSR with ``n_slots`` entries.

    >>> n_checkpoints(0), n_checkpoints(16), n_checkpoints(33)
    (1, 2, 3)
    """
    return int(n_slots) // CUM_STEP + 1


def slot_cums(start: Any, entries: Any, value: Any) -> I64:
    """The node's running total before every slot of a node CSR (exact int64); reads every
    entry's value (for graphs in RAM and tests)."""
    start = np.asarray(start, dtype=np.int64)
    vals = np.asarray(value)[np.asarray(entries, dtype=np.int64)].astype(np.int64)
    cs = np.zeros(len(vals) + 1, dtype=np.int64)
    np.cumsum(vals, out=cs[1:])
    node = np.repeat(np.arange(len(start) - 1), np.diff(start))
    return np.asarray(cs[:-1] - cs[start[node]], dtype=np.int64)


def _checkpoint_slots(start: I64) -> tuple[I64, I64]:
    """The slots that carry a checkpoint and their indices in the checkpoint array."""
    node = np.repeat(np.arange(len(start) - 1), np.diff(start))
    slot = np.arange(len(node), dtype=np.int64)
    s = start[node]
    rel = slot - s
    keep = (rel > 0) & (rel % CUM_STEP == 0)
    return slot[keep], s[keep] // CUM_STEP + rel[keep] // CUM_STEP - 1


def checkpoints(start: Any, entries: Any, value: Any) -> I64:
    """The checkpoint array of a node CSR (``start``, ``entries``) over ``value`` (see the
    module docstring); in RAM."""
    start = np.asarray(start, dtype=np.int64)
    out = np.zeros(n_checkpoints(int(start[-1])), dtype=np.int64)
    slot, idx = _checkpoint_slots(start)
    out[idx] = slot_cums(start, entries, value)[slot]
    return out


def entry_cum_array(start: Any, entries: Any, value: Any) -> I64:
    """Per entry (input or output), its node's running total before it; -1 for entries
    without a node. Reads the whole graph: for graphs in RAM and tests."""
    out = np.full(len(value), -1, dtype=np.int64)
    out[np.asarray(entries, dtype=np.int64)] = slot_cums(start, entries, value)
    return out


def move_checkpoints(
    out: Any,
    old_start: Any,
    old_ckpt: Any,
    new_start: Any,
    moved: I64,
    pools: dict[int, I64],
    chunk: int = 1 << 20,
) -> None:
    """Fill ``out`` (zeros, the new CSR's checkpoint array) for a node CSR whose entries moved
    from ``old_start`` to ``new_start``: nodes not in ``moved`` keep their checkpoints (copied
    to their new place, ``chunk`` nodes at a time, nothing else read), a node of ``pools``
    gets those of its new running totals (``pools[node]``, one per slot of its new CSR), the
    other ``moved`` nodes (now empty) none.

    >>> old_start = np.array([0, 17, 20, 37])
    >>> old = checkpoints(old_start, np.arange(37), np.ones(37, np.int64))
    >>> new_start = np.array([0, 17, 37, 37])  # node 2's entries merged into node 1
    >>> out = np.zeros(n_checkpoints(37), np.int64)
    >>> move_checkpoints(out, old_start, old, new_start, np.array([1, 2]), {1: np.arange(20)})
    >>> out.tolist() == checkpoints(new_start, np.arange(37), np.ones(37, np.int64)).tolist()
    True
    """
    n_node = len(old_start) - 1
    moved = np.asarray(moved, dtype=np.int64)
    for a in range(0, n_node, chunk):
        b = min(n_node, a + chunk)
        s_old = np.asarray(old_start[a : b + 1], dtype=np.int64)
        s_new = np.asarray(new_start[a:b], dtype=np.int64)
        count = np.maximum(np.diff(s_old) - 1, 0) // CUM_STEP
        count[np.isin(np.arange(a, b), moved)] = 0
        if count.sum():
            src = _ranges(s_old[:-1] // CUM_STEP, count)
            dst = _ranges(s_new // CUM_STEP, count)
            out[dst] = np.asarray(old_ckpt[src])
    for node, cum in pools.items():
        s = int(new_start[node])
        i = np.arange(CUM_STEP, len(cum), CUM_STEP, dtype=np.int64)
        if len(i):
            out[s // CUM_STEP + i // CUM_STEP - 1] = np.asarray(cum)[i]


def _ranges(lo: I64, n: I64) -> I64:
    """The concatenated ranges ``lo[k]:lo[k] + n[k]``.

    >>> _ranges(np.array([0, 5]), np.array([2, 1])).tolist()
    [0, 1, 5]
    """
    total = int(n.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(lo - np.concatenate([[0], np.cumsum(n)[:-1]]), n)
    return np.asarray(starts + np.arange(total), dtype=np.int64)
