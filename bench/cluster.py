"""Benchmark: numba union-find vs scipy connected_components on the same multi-input links.

Synthetic chain: N addresses with ids in order of first appearance, T transactions in chain
order; transaction i spends 1 + Geometric inputs drawn from the addresses already seen
(ids below i·N/T). Multi-input links join each input to the transaction's first input. Both
engines get the same links; scipy's time includes building the sparse graph, ours includes
turning roots into smallest-id cluster labels. Each is run ``--repeat`` times; medians printed.

    .venv/bin/python bench/cluster.py --addresses 10000000 --txs 5000000
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from chainsleuth.graph.unionfind import new_parent, roots_to_min_ids, union_links


def make_links(n_addr: int, n_tx: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Multi-input links of a random chain-ordered transaction set (see module docstring)."""
    rng = np.random.default_rng(seed)
    n_in = 1 + rng.geometric(0.45, n_tx)  # mean ≈ 3.2 inputs
    tx = np.repeat(np.arange(n_tx, dtype=np.int64), n_in)
    frontier = np.maximum((tx + 1) * n_addr // n_tx, 2)
    addr = (rng.random(len(tx)) * frontier).astype(np.int64)
    start = np.zeros(n_tx, dtype=np.int64)
    np.cumsum(n_in[:-1], out=start[1:])
    anchor = np.repeat(addr[start], n_in)
    keep = np.ones(len(tx), dtype=bool)
    keep[start] = False
    return anchor[keep], addr[keep]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_unionfind(n_addr: int, a: np.ndarray, b: np.ndarray) -> tuple[float, float, int]:
    """Seconds for the whole job (state, unions, labels), seconds of the unions alone, and
    the number of clusters."""
    t = time.perf_counter()
    parent = new_parent(n_addr)
    t_union = time.perf_counter()
    union_links(parent, a, b)
    union_s = time.perf_counter() - t_union
    labels = roots_to_min_ids(parent)
    return time.perf_counter() - t, union_s, len(np.unique(labels))


def run_scipy(n_addr: int, a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    t = time.perf_counter()
    graph = sp.coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n_addr, n_addr)).tocsr()
    n, _ = connected_components(graph, directed=False)
    return time.perf_counter() - t, int(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addresses", type=int, default=10_000_000)
    parser.add_argument("--txs", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    a, b = make_links(args.addresses, args.txs, args.seed)
    run_unionfind(100, a[:10] % 100, b[:10] % 100)  # compile / load the numba cache
    print(f"{args.addresses:,} addresses, {args.txs:,} txs, {len(a):,} links")
    uf, unions, sc = [], [], []
    n_uf = n_sc = 0
    for _ in range(args.repeat):
        s, s_union, n_uf = run_unionfind(args.addresses, a, b)
        uf.append(s)
        unions.append(s_union)
    rss_uf = peak_rss_mb()
    for _ in range(args.repeat):
        s, n_sc = run_scipy(args.addresses, a, b)
        sc.append(s)
    rss_all = peak_rss_mb()
    if n_uf != n_sc:
        raise SystemExit(f"component counts differ: union-find {n_uf}, scipy {n_sc}")
    t_uf, t_sc = statistics.median(uf), statistics.median(sc)
    print(f"components: {n_uf:,} (both engines agree)")
    t_union = statistics.median(unions)
    print(f"union-find (numba): {t_uf:.3f} s  {len(a) / t_uf / 1e6:.1f} M links/s")
    print(f"  of which unions:  {t_union:.3f} s  {len(a) / t_union / 1e6:.1f} M links/s")
    print(f"scipy csgraph:      {t_sc:.3f} s  {len(a) / t_sc / 1e6:.1f} M links/s")
    print(f"ratio scipy/union-find: {t_sc / t_uf:.2f}x")
    print(f"peak RSS after union-find runs: {rss_uf:.0f} MB; after scipy runs: {rss_all:.0f} MB")
    state = new_parent(args.addresses)
    print(
        f"union-find state: {state.nbytes / 1e6:.0f} MB "
        f"({state.itemsize} bytes per address, {state.dtype})"
    )


if __name__ == "__main__":
    main()
