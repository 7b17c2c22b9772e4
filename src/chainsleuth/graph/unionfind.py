"""Union-find over dense address ids: a numba kernel and its plain-Python twin.

State is one integer array ``parent`` (int32 — 4 bytes per address — while ids fit, int64 —
8 bytes — beyond ~2.1 billion addresses): a root stores ``-size`` of its set,
any other element the index of its parent. Union by size keeps trees shallow; path halving
(every visited node skips to its grandparent) flattens them as finds run. Links are applied in
the given order; for each link that merges two sets the kernel reports its index, so the
caller can write one evidence row per union that changed something. A link can be *held back*
by the collapse guard: when both sets already exceed ``max_merge_size`` members, or both carry
a different non-zero ``actor`` label, the union is skipped and the link reported instead.

>>> import numpy as np
>>> parent = new_parent(5)
>>> a = np.array([0, 1, 3], dtype=np.int64); b = np.array([1, 2, 4], dtype=np.int64)
>>> merged, held = union_links(parent, a, b)
>>> merged.tolist(), held.tolist()
([0, 1, 2], [])
>>> roots_to_min_ids(parent).tolist()
[0, 0, 0, 3, 3]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

__all__ = [
    "NO_GUARD",
    "find_roots",
    "flatten",
    "new_parent",
    "parent_dtype",
    "py_union_links",
    "roots_to_min_ids",
    "union_links",
]

I64 = NDArray[np.int64]

NO_GUARD = np.iinfo(np.int64).max
"""``max_merge_size`` value that disables the size guard."""


INT32_LIMIT = 2**31 - 1
"""Below this many elements the state is int32 (4 bytes per address), else int64 (8 bytes)."""


def parent_dtype(n: int) -> type[np.signedinteger[Any]]:
    """The dtype of a union-find over ``n`` elements: int32 while ids fit, else int64.

    >>> parent_dtype(10).__name__, parent_dtype(2**31).__name__
    ('int32', 'int64')
    """
    return np.int32 if n < INT32_LIMIT else np.int64


def new_parent(n: int) -> NDArray[np.int32] | I64:
    """A fresh union-find state for ``n`` elements, each its own set of size 1.

    int32 while ids fit (half the memory traffic of the random finds), int64 beyond.

    >>> p = new_parent(3)
    >>> p.tolist(), p.dtype.name
    ([-1, -1, -1], 'int32')
    """
    return np.full(n, -1, dtype=parent_dtype(n))


@njit(cache=True, nogil=True)
def _find(parent: NDArray[np.int32] | I64, x: int) -> int:  # pragma: no cover - compiled
    while parent[x] >= 0:
        p = parent[x]
        gp = parent[p]
        if gp >= 0:
            parent[x] = gp
            x = gp
        else:
            x = p
    return x


@njit(cache=True, nogil=True)
def _union_links(
    parent: NDArray[np.int32] | I64,
    a: I64,
    b: I64,
    actor: NDArray[np.int32] | I64,
    max_merge_size: np.int64,
    merged: I64,
    held: I64,
) -> tuple[int, int]:  # pragma: no cover - compiled
    n_merged = 0
    n_held = 0
    use_actor = actor.shape[0] > 0
    # Multi-input links repeat their anchor (a transaction's first input): its root is kept
    # from the previous link instead of found again, which halves the finds on such link sets.
    last_a = -1
    ra = -1
    for i in range(a.shape[0]):
        if a[i] != last_a:
            last_a = a[i]
            ra = _find(parent, a[i])
        rb = _find(parent, b[i])
        if ra == rb:
            continue
        sa = -parent[ra]
        sb = -parent[rb]
        if sa > max_merge_size and sb > max_merge_size:
            held[n_held] = i
            n_held += 1
            continue
        if use_actor:
            xa = actor[ra]
            xb = actor[rb]
            if xa != 0 and xb != 0 and xa != xb:
                held[n_held] = i
                n_held += 1
                continue
        if sa < sb:
            ra, rb = rb, ra
        parent[ra] = -(sa + sb)
        parent[rb] = ra
        if use_actor and actor[ra] == 0:
            actor[ra] = actor[rb]
        merged[n_merged] = i
        n_merged += 1
    return n_merged, n_held


def union_links(
    parent: NDArray[np.int32] | I64,
    a: I64,
    b: I64,
    *,
    actor: NDArray[np.int32] | I64 | None = None,
    max_merge_size: int = NO_GUARD,
) -> tuple[I64, I64]:
    """Apply links ``a[i]``–``b[i]`` in order; return (indices merged, indices held back).

    ``actor`` (optional, one int32 or int64 per element, 0 = untagged) is updated in place so
    each root carries its set's actor. See the module docstring for an example.
    """
    a = np.ascontiguousarray(a, dtype=np.int64)
    b = np.ascontiguousarray(b, dtype=np.int64)
    if a.shape != b.shape:
        raise ValueError("link endpoint arrays differ in length")
    actors: NDArray[np.int32] | I64 = np.zeros(0, dtype=np.int64) if actor is None else actor
    merged = np.empty(len(a), dtype=np.int64)
    held = np.empty(len(a), dtype=np.int64)
    n_merged, n_held = _union_links(parent, a, b, actors, np.int64(max_merge_size), merged, held)
    # a view when most links merged (no second copy of a large array), else a compact copy
    merged_out = merged[:n_merged] if 2 * n_merged >= len(a) else merged[:n_merged].copy()
    return merged_out, held[:n_held].copy()


def py_union_links(
    parent: NDArray[np.int32] | I64,
    a: I64,
    b: I64,
    *,
    actor: I64 | None = None,
    max_merge_size: int = NO_GUARD,
) -> tuple[I64, I64]:
    """Plain-Python twin of :func:`union_links` (same state, same results; for tests).

    >>> parent = new_parent(3)
    >>> py_union_links(parent, np.array([0]), np.array([2]))[0].tolist()
    [0]
    """

    def find(x: int) -> int:
        while parent[x] >= 0:
            p = int(parent[x])
            gp = int(parent[p])
            if gp >= 0:
                parent[x] = gp
                x = gp
            else:
                x = p
        return x

    merged: list[int] = []
    held: list[int] = []
    last_a, ra = -1, -1
    for i in range(len(a)):
        if int(a[i]) != last_a:
            last_a = int(a[i])
            ra = find(last_a)
        rb = find(int(b[i]))
        if ra == rb:
            continue
        sa, sb = -int(parent[ra]), -int(parent[rb])
        if sa > max_merge_size and sb > max_merge_size:
            held.append(i)
            continue
        if actor is not None:
            xa, xb = int(actor[ra]), int(actor[rb])
            if xa != 0 and xb != 0 and xa != xb:
                held.append(i)
                continue
        if sa < sb:
            ra, rb = rb, ra
        parent[ra] = -(sa + sb)
        parent[rb] = ra
        if actor is not None and actor[ra] == 0:
            actor[ra] = actor[rb]
        merged.append(i)
    return np.array(merged, dtype=np.int64), np.array(held, dtype=np.int64)


@njit(cache=True, nogil=True)
def _min_ids(parent: NDArray[np.int32] | I64, out: I64) -> None:  # pragma: no cover - compiled
    # scanning ids upwards, the first member met of each set is its smallest
    # out[r] of a root r doubles as "smallest member met so far": every member met before r
    # has a smaller id, and r itself is met no later than it is read as its own label.
    n = parent.shape[0]
    out[:] = -1
    for i in range(n):
        r = _find(parent, i)
        if out[r] < 0:
            out[r] = i
        out[i] = out[r]


def roots_to_min_ids(
    parent: NDArray[np.int32] | I64,
    dtype: type[np.signedinteger[Any]] = np.int64,
    *,
    out: NDArray[Any] | None = None,
) -> NDArray[Any]:
    """Cluster id of every element: the smallest element of its set (stable across runs).

    ``dtype=np.int32`` halves the result (4 bytes per element) when ids fit; ``out`` (one
    item per element, e.g. a memory-mapped array) receives it instead of a new array.

    >>> p = new_parent(4)
    >>> _ = union_links(p, np.array([3, 1]), np.array([2, 3]))
    >>> roots_to_min_ids(p).tolist()
    [0, 1, 1, 1]
    """
    if out is None:
        out = np.empty(parent.shape[0], dtype=dtype)
    _min_ids(parent, out)
    return out


@njit(cache=True, nogil=True)
def _flatten(parent: NDArray[np.int32] | I64) -> None:  # pragma: no cover - compiled
    for i in range(parent.shape[0]):
        if parent[i] >= 0:
            parent[i] = _find(parent, i)


def flatten(parent: NDArray[np.int32] | I64) -> None:
    """Point every element straight at its root (roots keep ``-size``): later finds take one
    step. In place, no extra memory.

    >>> p = new_parent(4)
    >>> _ = union_links(p, np.array([0, 1, 2]), np.array([1, 2, 3]))
    >>> flatten(p); p.tolist()
    [-4, 0, 0, 0]
    """
    _flatten(parent)


@njit(cache=True, nogil=True)
def _roots(parent: NDArray[np.int32] | I64, idx: I64, root: I64, size: I64) -> None:
    for j in range(idx.shape[0]):  # pragma: no cover - compiled
        r = _find(parent, idx[j])
        root[j] = r
        size[j] = -parent[r]


def find_roots(parent: NDArray[np.int32] | I64, idx: I64) -> tuple[I64, I64]:
    """The root of each element ``idx`` and the size of its set.

    >>> p = new_parent(4)
    >>> _ = union_links(p, np.array([2]), np.array([3]))
    >>> [a.tolist() for a in find_roots(p, np.array([3, 0]))]
    [[2, 0], [2, 1]]
    """
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    root = np.empty(len(idx), dtype=np.int64)
    size = np.empty(len(idx), dtype=np.int64)
    _roots(parent, idx, root, size)
    return root, size
