"""Union-find kernel: hand-computed cases, guard, and the numba kernel vs its Python twin."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from chainsleuth.cluster.links import multi_input_links
from chainsleuth.graph.unionfind import (
    new_parent,
    py_union_links,
    roots_to_min_ids,
    union_links,
)
from chainsleuth.heuristics.coinjoin import detect_coinjoins

sys.path.insert(0, str(Path(__file__).parents[1] / "heuristics"))
from getblock_chain import core_chain


def arr(*xs: int) -> np.ndarray:
    return np.array(xs, dtype=np.int64)


def test_union_by_size_and_min_id() -> None:
    parent = new_parent(6)
    merged, held = union_links(parent, arr(5, 4, 3, 0), arr(4, 3, 5, 1))
    assert merged.tolist() == [0, 1, 3]  # link 2 joins 3 and 5, already together
    assert held.tolist() == []
    assert roots_to_min_ids(parent).tolist() == [0, 0, 2, 3, 3, 3]
    assert sorted((-parent[parent < 0]).tolist()) == [1, 2, 3]  # roots store -size


def test_size_guard_holds_back_merge_of_two_big_clusters() -> None:
    parent = new_parent(6)
    merged, held = union_links(parent, arr(0, 1, 3, 4, 2), arr(1, 2, 4, 5, 3), max_merge_size=2)
    assert merged.tolist() == [0, 1, 2, 3]
    assert held.tolist() == [4]  # {0,1,2} and {3,4,5} both exceed 2
    assert roots_to_min_ids(parent).tolist() == [0, 0, 0, 3, 3, 3]


def test_actor_guard_holds_back_different_actors() -> None:
    parent = new_parent(4)
    actor = arr(1, 0, 2, 0)  # addr 0 tagged actor 1, addr 2 actor 2
    merged, held = union_links(parent, arr(0, 2, 1), arr(1, 3, 3), actor=actor)
    assert merged.tolist() == [0, 1]
    assert held.tolist() == [2]
    assert roots_to_min_ids(parent).tolist() == [0, 0, 2, 2]


def test_kernel_matches_python_twin_on_regtest_links() -> None:
    view = core_chain().view
    links = multi_input_links(view, skip=detect_coinjoins(view).mask)
    rng = np.random.default_rng(7)
    extra_a = rng.integers(0, view.n_addr, 3000)
    extra_b = rng.integers(0, view.n_addr, 3000)
    a = np.concatenate([links.a, extra_a])
    b = np.concatenate([links.b, extra_b])
    actor = np.zeros(view.n_addr, dtype=np.int64)
    actor[rng.integers(0, view.n_addr, 50)] = rng.integers(1, 4, 50)
    p1, p2 = new_parent(view.n_addr), new_parent(view.n_addr)
    x1, x2 = actor.copy(), actor.copy()
    m1, h1 = union_links(p1, a, b, actor=x1, max_merge_size=40)
    m2, h2 = py_union_links(p2, a, b, actor=x2, max_merge_size=40)
    assert len(m1) > 1000 and len(h1) > 0
    assert np.array_equal(m1, m2) and np.array_equal(h1, h2)
    assert np.array_equal(p1, p2) and np.array_equal(x1, x2)
    assert np.array_equal(roots_to_min_ids(p1), roots_to_min_ids(p2))


def test_int64_state_past_int32_ids_clusters_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past 2^31 addresses the state switches to int64; both widths cluster the same links."""
    import chainsleuth.graph.unionfind as uf

    chain = core_chain()
    links = multi_input_links(chain.view, skip=detect_coinjoins(chain.view).mask)
    narrow = new_parent(chain.view.n_addr)
    monkeypatch.setattr(uf, "INT32_LIMIT", 0)
    wide = uf.new_parent(chain.view.n_addr)
    assert (narrow.dtype, wide.dtype) == (np.dtype(np.int32), np.dtype(np.int64))
    m_narrow, _ = union_links(narrow, links.a, links.b)
    m_wide, _ = union_links(wide, links.a, links.b)
    assert np.array_equal(m_narrow, m_wide) and len(m_narrow) > 1000
    assert np.array_equal(roots_to_min_ids(narrow), roots_to_min_ids(wide))
