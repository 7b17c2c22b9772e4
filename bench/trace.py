"""Benchmark: flow graph build, a 5-hop backward haircut trace from 1,000 seeds, and
``investigate service`` end to end — the trace against the same traversal written with
networkx over the same graph, in the same run.

The networkx baseline holds the same flow graph as a bipartite ``DiGraph`` (address-cluster
nodes and transaction nodes; edge ``cluster → tx`` carries the cluster's input value,
``tx → cluster`` its output value) and runs the same haircut recursion: a packet at a cluster
is shared among the cluster's receipts before the spend, then among each transaction's inputs,
packets of a seed merged per (cluster, transaction) after each hop, stopping at exchanges and
dropping packets below ``--min-value``. Both must attribute the same value to every endpoint.

    .venv/bin/python bench/trace.py --data DATASET [--seed ADDRESS] [--repeat 3]

DATASET must be ingested; it is clustered (``default``) when it has no clustering run.

``--graph`` compares instead the two ways to get the flow graph, each in a fresh process: the
named baseline is the in-RAM build (chain view + ``FlowGraph.from_view``), the contestant the
on-disk build (:mod:`chainsleuth.trace.diskgraph`, within ``--memory-limit``); it prints build
time and peak RSS of both with their ratios, the graph's size on disk, then (a third process)
the time to open the memmapped graph and to trace from one seed (5 hops back and forward,
haircut), with the peak RSS of that process. ``--no-ram`` skips the baseline (a chain too large
for RAM); ``--level address`` needs no clustering run::

    .venv/bin/python bench/trace.py --data DATASET --graph [--level address] [--memory-limit 2G]

``--format-vs SRC`` compares the on-disk graph's format with the one the chainsleuth package in
``SRC`` (e.g. ``git archive HEAD src | tar -x -C /tmp/old``, then ``/tmp/old/src``) writes: each
build runs ``--repeat`` times in fresh processes, alternating (baseline on
``PYTHONPATH=SRC``), into ``DATASET/_tmp/bench-flowgraph/``; it prints bytes on disk per
transaction, entry, node CSR entry, node and address, the build times (median), and then
``--seeds`` traces (``--hops``, each policy and direction, clusters larger than
``--max-cluster-size`` not expanded: an untagged chain has no exchange to stop at) on each
folder: median time per trace and a digest of every result (edges, endpoints, dropped value),
which must be equal::

    .venv/bin/python bench/trace.py --data DATASET --format-vs /tmp/old/src [--level address]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from chainsleuth.budget import MemoryBudget
from chainsleuth.cluster.run import cluster_dataset
from chainsleuth.cluster.runs import list_runs
from chainsleuth.investigate.case import write_case
from chainsleuth.investigate.service import investigate_service
from chainsleuth.store.chainview import load_chain_view
from chainsleuth.store.dataset import Dataset
from chainsleuth.trace.diskgraph import build_graph_folder, disk_flow_graph, graph_folder
from chainsleuth.trace.engine import Seed, trace
from chainsleuth.trace.flowgraph import FlowGraph, build_flow_graph
from chainsleuth.trace.labels import NodeLabels, load_node_labels


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def to_networkx(g: FlowGraph) -> nx.DiGraph:
    """The flow graph as a bipartite DiGraph: ("c", node) and ("t", tx) vertices."""
    dg = nx.DiGraph()
    in_tx = g.in_tx()
    out_tx = g.out_tx()
    for i in np.flatnonzero(g.in_node >= 0).tolist():
        key = (("c", int(g.in_node[i])), ("t", int(in_tx[i])))
        if dg.has_edge(*key):
            dg.edges[key]["value"] += int(g.in_value[i])
        else:
            dg.add_edge(*key, value=int(g.in_value[i]))
    for o in np.flatnonzero(g.out_node >= 0).tolist():
        key = (("t", int(out_tx[o])), ("c", int(g.out_node[o])))
        if dg.has_edge(*key):
            dg.edges[key]["value"] += int(g.out_value[o])
        else:
            dg.add_edge(*key, value=int(g.out_value[o]))
    for t in range(g.n_tx):
        tx = ("t", t)
        if tx in dg:
            dg.nodes[tx]["in_total"] = int(g.tx_in_total[t])
            dg.nodes[tx]["coinbase"] = bool(g.is_coinbase[t])
    return dg


def nx_haircut_back(
    dg: nx.DiGraph,
    seeds: list[int],
    hops: int,
    stop: set[int],
    min_value: float,
    n_tx: int,
    per_seed: bool,
) -> dict[tuple[int, str], float]:
    """The backward haircut trace over the networkx graph; value per (node, endpoint kind)."""
    ends: dict[tuple[int, str], float] = defaultdict(float)
    front: dict[tuple[int, int, int], float] = {}
    for i, s in enumerate(seeds):
        k = i if per_seed else 0
        total = sum(d["value"] for _, _, d in dg.in_edges(("c", s), data=True))
        front[(k, s, n_tx)] = front.get((k, s, n_tx), 0.0) + float(total)
    for _ in range(hops):
        nxt: dict[tuple[int, int, int], float] = defaultdict(float)
        for (k, node, bound), v in front.items():
            recv = [(tx[1], d["value"]) for tx, _, d in dg.in_edges(("c", node), data=True)]
            recv = [(t, val) for t, val in recv if t < bound]
            total = sum(val for _, val in recv)
            if total <= 0:
                continue
            for t, val in recv:
                share = v * val / total
                if share < min_value:
                    continue
                if dg.nodes[("t", t)]["coinbase"]:
                    ends[(node, "mined")] += share
                    continue
                in_total = dg.nodes[("t", t)]["in_total"]
                for src, _, d in dg.in_edges(("t", t), data=True):
                    nxt[(k, src[1], t)] += share * d["value"] / in_total
        front = {}
        for (k, node, t), v in nxt.items():
            if v < min_value:
                continue
            if node in stop:
                ends[(node, "stop")] += v
            else:
                front[(k, node, t)] = v
    for (_, node, _), v in front.items():
        ends[(node, "hop-limit")] += v
    return dict(ends)


def timed(fn: Any, repeat: int) -> tuple[float, Any]:
    secs = []
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        secs.append(time.perf_counter() - t)
    return statistics.median(secs), out


def _trace_times(graph: FlowGraph, args: argparse.Namespace) -> dict[str, Any]:
    """Time a haircut trace from one seed each way (the seed: the node of a random input,
    with 2 to 10 spends)."""
    rng = np.random.default_rng(1)
    node = -1
    while True:  # found without scanning the nodes (a memmap reads only those pages)
        node = int(graph.in_node[int(rng.integers(len(graph.in_node)))])
        spends = graph.node_spend_start[node + 1] - graph.node_spend_start[node]
        if node >= 0 and 2 <= spends <= 10:  # a typical wallet, not an exchange
            break
    out: dict[str, Any] = {"seed_node": node}
    for direction in ("back", "forward"):
        secs = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            r = trace(graph, [Seed(node)], direction=direction, hops=args.hops,
                      policy="haircut", min_value=args.min_value)  # fmt: skip
            secs.append(time.perf_counter() - t)
        out[direction] = {"first": secs[0], "median": statistics.median(secs),
                          "edges": len(r.edges()), "endpoints": len(r.endpoints())}  # fmt: skip
    return out


def _child(args: argparse.Namespace) -> None:
    """One measurement in this fresh process; prints one JSON line."""
    if args.child.startswith("fmt-"):
        print(json.dumps(_format_child(args)))
        return
    ds = Dataset.open(args.data)
    run = None if args.level == "address" else "default"
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    if args.child == "ram":
        view = load_chain_view(ds)
        graph = build_flow_graph(ds, run, level=args.level, view=view)
        out["seconds"] = time.perf_counter() - t0
        out["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        out["nbytes"] = graph.nbytes()
        del view
        out["trace"] = _trace_times(graph, args)
    elif args.child == "disk":
        folder = graph_folder(ds, args.level, run)
        shutil.rmtree(folder, ignore_errors=True)
        budget = MemoryBudget.from_option(args.memory_limit)
        meta = build_graph_folder(ds, folder, level=args.level, run=run, budget=budget)
        out["seconds"] = time.perf_counter() - t0
        out["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        out["build"] = meta["build"]
        out["disk_bytes"] = sum(f.stat().st_size for f in folder.iterdir())
    else:
        disk = disk_flow_graph(ds, run, level=args.level)
        out["open_seconds"] = time.perf_counter() - t0
        out["trace"] = _trace_times(disk, args)
        out["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(out))


# file of a graph folder (either format) → what it is stored per
FILE_GROUP = {
    **dict.fromkeys(["tx_id", "tx_height", "tx_time", "is_coinbase", "tx_in_start",
                     "tx_out_start", "tx_in_total", "tx_out_total"], "tx"),
    **dict.fromkeys(["in_node", "in_value", "in_off", "in_cum", "in_tx", "out_node",
                     "out_value", "out_off", "out_cum", "out_tx"], "entry"),
    **dict.fromkeys(["node_recv", "node_spend", "recv_ckpt", "spend_ckpt"], "csr"),
    **dict.fromkeys(["node_size", "node_recv_start", "node_spend_start", "node_total_in",
                     "node_total_out"], "node"),
    "node_of_addr": "addr",
}  # fmt: skip


def _format_child(args: argparse.Namespace) -> dict[str, Any]:
    """Build (``fmt-build``) or trace on (``fmt-trace``) the folder ``args.out``."""
    from chainsleuth.trace.diskgraph import open_graph_folder

    ds = Dataset.open(args.data)
    run = None if args.level == "address" else "default"
    folder = Path(args.out)
    out: dict[str, Any] = {}
    if args.child == "fmt-build":
        shutil.rmtree(folder, ignore_errors=True)
        budget = MemoryBudget.from_option(args.memory_limit)
        t0 = time.perf_counter()
        meta = build_graph_folder(ds, folder, level=args.level, run=run, budget=budget)
        out["seconds"] = time.perf_counter() - t0
        out["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        out["phases"] = meta["build"]["phases"]
        lengths = meta["lengths"]
        count = {"tx": meta["n_tx"], "entry": meta["n_in"] + meta["n_out"],
                 "csr": lengths["node_recv"] + lengths["node_spend"], "node": meta["n_node"],
                 "addr": lengths["node_of_addr"]}  # fmt: skip
        group: dict[str, int] = defaultdict(int)
        for f in folder.glob("*.npy"):
            group[FILE_GROUP[f.stem]] += f.stat().st_size
        out["bytes"] = sum(f.stat().st_size for f in folder.iterdir())
        out["per_item"] = {k: group[k] / max(count[k], 1) for k in count}
        out["counts"] = count
        return out
    graph = open_graph_folder(folder)
    deg = np.diff(np.asarray(graph.node_recv_start))
    spends = np.diff(np.asarray(graph.node_spend_start))
    rng = np.random.default_rng(7)
    cands = np.flatnonzero((deg >= 2) & (spends >= 2))
    seeds = rng.choice(cands, min(args.seeds, len(cands)), replace=False).tolist()
    for policy in ("haircut", "fifo", "poison"):
        for direction in ("back", "forward"):
            trace(graph, [Seed(seeds[0])], direction=direction, policy=policy, hops=1)
            digest = hashlib.sha256()
            secs = []
            for s in seeds:
                t = time.perf_counter()
                r = trace(graph, [Seed(int(s))], direction=direction, hops=args.hops,
                          policy=policy, min_value=args.min_value,
                          max_cluster_size=args.max_cluster_size)  # fmt: skip
                secs.append(time.perf_counter() - t)
                digest.update(repr((r.edges(), r.endpoints(), r.dropped())).encode())
            out[f"{policy} {direction}"] = {
                "median_ms": statistics.median(secs) * 1000,
                "total_s": sum(secs),
                "digest": digest.hexdigest()[:16],
            }
    return out


def format_bench(args: argparse.Namespace) -> None:
    """This package's graph format against the one the package in ``--format-vs`` writes."""
    root = Path(args.data) / "_tmp" / "bench-flowgraph"
    folders = {"baseline": root / f"baseline-{args.level}", "new": root / f"new-{args.level}"}
    env = {"baseline": {**os.environ, "PYTHONPATH": str(Path(args.format_vs).resolve())},
           "new": dict(os.environ)}  # fmt: skip

    def spawn(kind: str, mode: str) -> dict[str, Any]:
        cmd = [sys.executable, __file__, "--data", str(args.data), "--child", mode,
               "--out", str(folders[kind]), "--level", args.level, "--hops", str(args.hops),
               "--seeds", str(args.seeds), "--min-value", str(args.min_value),
               "--max-cluster-size", str(args.max_cluster_size)]  # fmt: skip
        if args.memory_limit:
            cmd += ["--memory-limit", args.memory_limit]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env[kind])
        if done.returncode != 0:
            raise SystemExit(f"{kind} {mode} failed:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    builds: dict[str, list[dict[str, Any]]] = {"baseline": [], "new": []}
    for _ in range(args.repeat):
        for kind in builds:
            builds[kind].append(spawn(kind, "fmt-build"))
    last = {k: v[-1] for k, v in builds.items()}
    print(f"dataset {args.data}, level {args.level}: " + ", ".join(
        f"{v:,} {k}" for k, v in last["new"]["counts"].items()))  # fmt: skip
    print("| | baseline | new | new/baseline |\n|---|---|---|---|")
    mib = 1 << 20
    b, n = last["baseline"], last["new"]
    print(f"| on disk | {b['bytes'] / mib:,.1f} MiB | {n['bytes'] / mib:,.1f} MiB | "
          f"{n['bytes'] / b['bytes']:.2f} |")  # fmt: skip
    for k in ("tx", "entry", "csr", "node", "addr"):
        x, y = b["per_item"][k], n["per_item"][k]
        print(f"| B per {k} | {x:.2f} | {y:.2f} | {y / x if x else 0:.2f} |")
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in builds.items()}
    print(f"| build, median of {args.repeat} | {med['baseline']:.2f} s | {med['new']:.2f} s | "
          f"{med['new'] / med['baseline']:.2f} |")  # fmt: skip
    rss = {k: max(r["peak_rss"] for r in v) / mib for k, v in builds.items()}
    print(f"| build peak RSS | {rss['baseline']:,.0f} MiB | {rss['new']:,.0f} MiB | "
          f"{rss['new'] / rss['baseline']:.2f} |")  # fmt: skip
    for k in ("baseline", "new"):
        print(f"{k} phases (last build): " + ", ".join(
            f"{p} {s:.2f} s" for p, s in last[k]["phases"].items()))  # fmt: skip
    traces = {k: spawn(k, "fmt-trace") for k in ("baseline", "new")}
    same = True
    for key, old in traces["baseline"].items():
        new = traces["new"][key]
        same &= old["digest"] == new["digest"]
        print(f"| {args.seeds} traces {key}, median per trace | {old['median_ms']:.2f} ms | "
              f"{new['median_ms']:.2f} ms | {new['median_ms'] / old['median_ms']:.2f} |"
              f" digests {'equal' if old['digest'] == new['digest'] else 'DIFFER'}")  # fmt: skip
    print(f"every trace result identical: {same}")


def _spawn(args: argparse.Namespace, mode: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--data", str(args.data), "--child", mode,
           "--level", args.level, "--hops", str(args.hops), "--repeat", str(args.repeat),
           "--min-value", str(args.min_value)]  # fmt: skip
    if args.memory_limit:
        cmd += ["--memory-limit", args.memory_limit]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def graph_bench(args: argparse.Namespace) -> None:
    """In-RAM build (baseline) against the on-disk build, then a trace on the memmaps."""
    ds = Dataset.open(args.data)
    if args.level == "cluster" and not list_runs(ds):
        cluster_dataset(ds, "default")
    print(f"dataset {args.data}: {ds.manifest.counts.get('txs', 0):,} transactions, "
          f"level {args.level}, budget {MemoryBudget.from_option(args.memory_limit)}")  # fmt: skip
    ds.close()
    mib = 1 << 20
    disk = _spawn(args, "disk")
    b = disk["build"]
    print(
        f"on-disk build: {disk['seconds']:.2f} s, peak RSS {disk['peak_rss'] / mib:,.0f} MiB, "
        f"{disk['disk_bytes'] / mib:,.0f} MiB on disk; {b['windows']} windows, "
        f"{b['buckets']} node ranges; phases "
        + ", ".join(f"{k} {v:.2f} s" for k, v in b["phases"].items())
    )
    if not args.no_ram:
        ram = _spawn(args, "ram")
        print(
            f"in-RAM build (baseline): {ram['seconds']:.2f} s, peak RSS "
            f"{ram['peak_rss'] / mib:,.0f} MiB ({ram['nbytes'] / mib:,.0f} MiB of arrays); "
            f"disk/RAM: time {disk['seconds'] / ram['seconds']:.2f}×, "
            f"peak RSS {disk['peak_rss'] / ram['peak_rss']:.2f}×"
        )
    tr = _spawn(args, "trace")
    for direction in ("back", "forward"):
        d = tr["trace"][direction]
        line = (
            f"{args.hops}-hop {direction} haircut trace from one seed (node "
            f"{tr['trace']['seed_node']}) on the memmapped graph: first {d['first'] * 1000:.1f} "
            f"ms, median of {args.repeat} {d['median'] * 1000:.1f} ms ({d['edges']:,} edges, "
            f"{d['endpoints']:,} endpoints)"
        )
        if not args.no_ram:
            line += f"; in RAM {ram['trace'][direction]['median'] * 1000:.1f} ms"
        print(line)
    print(f"open {tr['open_seconds'] * 1000:.1f} ms; peak RSS of the tracing process "
          f"{tr['peak_rss'] / mib:,.0f} MiB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--seed", help="service seed address for investigate service")
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--hops", type=int, default=5)
    parser.add_argument("--min-value", type=float, default=546.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--nx-repeat", type=int, default=1, help="networkx runs (slow)")
    parser.add_argument("--graph", action="store_true", help="disk vs in-RAM graph build")
    parser.add_argument("--level", default="cluster", choices=["cluster", "address"])
    parser.add_argument("--memory-limit", help="budget of the on-disk build")
    parser.add_argument("--no-ram", action="store_true", help="skip the in-RAM baseline")
    parser.add_argument("--format-vs", help="src folder of the baseline package (format bench)")
    parser.add_argument("--max-cluster-size", type=int, default=1000, help="format bench")
    parser.add_argument("--child", choices=["ram", "disk", "trace", "fmt-build", "fmt-trace"],
                        help=argparse.SUPPRESS)  # fmt: skip
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    if args.format_vs:
        format_bench(args)
        return
    if args.graph:
        graph_bench(args)
        return
    ds = Dataset.open(args.data)
    if not list_runs(ds):
        cluster_dataset(ds, "default")
    n_tx = ds.sql("SELECT count(*) FROM txs").fetchone()
    print(f"dataset {args.data}: {n_tx[0] if n_tx else 0:,} transactions")

    secs_view, view = timed(lambda: load_chain_view(ds), args.repeat)
    secs_graph, graph = timed(lambda: build_flow_graph(ds, view=view), args.repeat)
    print(
        f"flow graph: chain view {secs_view:.3f} s + graph {secs_graph:.3f} s, "
        f"{graph.n_node:,} clusters, {graph.nbytes() / 2**20:.1f} MiB of arrays, "
        f"peak RSS {peak_rss_mb():.0f} MB"
    )
    labels: NodeLabels = load_node_labels(ds, graph)
    stop = {int(n) for n in labels.nodes_in(["exchange"])}
    rng = np.random.default_rng(1)
    candidates = np.flatnonzero(
        (graph.node_total_in > 0) & ~np.isin(np.arange(graph.n_node), list(stop))
    )
    seeds = sorted(rng.choice(candidates, size=min(args.seeds, len(candidates)), replace=False))
    seeds = [int(s) for s in seeds]
    trace(graph, [Seed(seeds[0])], hops=1, labels=labels)  # load numba caches

    t = time.perf_counter()
    dg = to_networkx(graph)
    secs_nx_build = time.perf_counter() - t
    print(f"networkx graph build {secs_nx_build:.2f} s, peak RSS {peak_rss_mb():.0f} MB")
    for per_seed in (False, True):

        def ours(per_seed: bool = per_seed) -> Any:
            return trace(
                graph, [Seed(s) for s in seeds], hops=args.hops, policy="haircut",
                min_value=args.min_value, labels=labels, per_seed=per_seed,
            )  # fmt: skip

        secs_ours, result = timed(ours, args.repeat)
        secs_nx, nx_ends = timed(
            lambda per_seed=per_seed: nx_haircut_back(
                dg, seeds, args.hops, stop, args.min_value, graph.n_tx, per_seed
            ),
            args.nx_repeat,
        )
        mine: dict[tuple[int, str], float] = defaultdict(float)
        for node, kind, value in result.endpoint_totals():
            if kind in ("stop", "hop-limit", "mined"):
                mine[(node, kind)] += value
        keys = set(mine) | set(nx_ends)
        diff = max(abs(mine.get(k, 0.0) - nx_ends.get(k, 0.0)) for k in keys)
        mode = "per seed" if per_seed else "seeds pooled"
        print(
            f"{args.hops}-hop backward haircut from {len(seeds):,} seeds ({mode}): chainsleuth "
            f"{secs_ours:.3f} s, networkx {secs_nx:.3f} s → {secs_nx / secs_ours:.1f}× ; "
            f"max endpoint difference {diff:.6f} sats, peak RSS {peak_rss_mb():.0f} MB"
        )
    if args.seed:

        def investigate() -> Any:
            with tempfile.TemporaryDirectory() as tmp:
                inv = investigate_service(ds, [args.seed])
                write_case(ds, inv, Path(tmp) / "case")
            return inv

        secs_inv, inv = timed(investigate, args.repeat)
        print(
            f"investigate service end to end: {secs_inv:.2f} s "
            f"({len(inv.payments):,} payments, peak RSS {peak_rss_mb():.0f} MB)"
        )


if __name__ == "__main__":
    main()
