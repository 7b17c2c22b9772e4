"""The case graph: the cluster flow graph with the service's clusters merged into one node.

A trace through the service must see it as one pool (its internal sweeps and peels are not
outflows), so the investigation traces on a copy of the cluster graph in which every member
cluster is node ``service`` (the smallest member): the same graph
:meth:`FlowGraph.from_view <chainsleuth.trace.flowgraph.FlowGraph.from_view>` builds from a
chain view and the merged address → node mapping, made here from the cluster graph alone.

Only what the merge changes is written, in chunks of ``CHUNK`` items, to ``.npy`` files in
``folder`` and opened as read-only memmaps; the other arrays are the cluster graph's own:

- ``in_node``/``out_node`` (members → ``service``): 8 B per input and output entry each;
- ``node_recv``/``node_spend`` with their starts (the members' entries merged, in chain order,
  under ``service``; the other members empty): 8 B per entry with a node and per node, and
  their running-total checkpoints ``recv_ckpt``/``spend_ckpt`` (the other nodes' moved with
  their entries, the pool's new: :func:`~chainsleuth.trace.checkpoints.move_checkpoints`),
  0.5 B per entry with a node;
- ``node_size``, ``node_total_in``/``node_total_out``: 8 B per node each.

``node_of_addr`` stays the cluster graph's (the trace reads node ids, not addresses). RAM: a
chunk (``CHUNK`` × 8 B, a few copies) plus the pool's entries (16 B each: entry and running
total). Disk: about 17 B per entry and 40 B per node, removed with ``folder``.

>>> from chainsleuth.trace.flowgraph import FlowGraph, _tiny_view
>>> g = FlowGraph.from_view(_tiny_view())
>>> m = merge_nodes(g, [0, 2], 0, tmp)
>>> m.out_node.tolist(), m.receipts_of(0).tolist(), m.spends_of(2).tolist()
([0, 1, 0], [0, 2], [])
>>> m.out_cum.tolist(), m.node_total_in.tolist()  # out_cum: derived from the merged CSR
([0, 0, 50], [69, 30, 0])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chainsleuth.investigate.chain import node_entries
from chainsleuth.trace.checkpoints import move_checkpoints
from chainsleuth.trace.flowgraph import FlowGraph

__all__ = ["CHUNK", "merge_nodes"]

I64 = NDArray[np.int64]

CHUNK = 1 << 20
"""items copied at once (8 MiB per int64 array)"""


def _writer(folder: Path, name: str, length: int) -> Any:
    path = folder / f"{name}.npy"
    return np.lib.format.open_memmap(path, mode="w+", dtype="<i8", shape=(length,))


def _reopen(folder: Path, name: str, arr: Any) -> I64:
    arr.flush()
    del arr
    out: I64 = np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
    return out


def _remap(folder: Path, name: str, src: I64, members: I64, service: int) -> I64:
    """``src`` with every member node replaced by ``service``."""
    out = _writer(folder, name, len(src))
    for a in range(0, len(src), CHUNK):
        part = np.array(src[a : a + CHUNK], dtype=np.int64)
        hit = np.isin(part, members)
        part[hit] = service
        out[a : a + len(part)] = part
    return _reopen(folder, name, out)


def _patched(folder: Path, name: str, src: I64, at: I64, values: I64) -> I64:
    """``src`` copied with ``values`` written at positions ``at``."""
    out = _writer(folder, name, len(src))
    for a in range(0, len(src), CHUNK):
        out[a : a + CHUNK] = src[a : a + CHUNK]
    if len(at):
        out[np.asarray(at, dtype=np.int64)] = values
    return _reopen(folder, name, out)


def _copy(out: Any, w: int, src: I64, a: int, b: int) -> int:
    for x in range(a, b, CHUNK):
        y = min(b, x + CHUNK)
        out[w : w + y - x] = src[x:y]
        w += y - x
    return w


def _csr(
    folder: Path, name: str, start: I64, entries: I64, members: I64, service: int, pool: I64
) -> tuple[I64, I64]:
    """A node CSR with the members' entries replaced by ``pool`` under ``service``."""
    old = np.asarray(start[members + 1] - start[members], dtype=np.int64)
    new = np.where(members == service, len(pool), 0).astype(np.int64)
    shift = np.concatenate([[0], np.cumsum(new - old)]).astype(np.int64)
    out_start = _writer(folder, f"{name}_start", len(start))
    for a in range(0, len(start), CHUNK):
        ids = np.arange(a, min(len(start), a + CHUNK), dtype=np.int64)
        below = np.searchsorted(members, ids, side="left")
        out_start[a : a + len(ids)] = np.asarray(start[a : a + len(ids)]) + shift[below]
    total = int(start[-1]) + int(shift[-1])
    out = _writer(folder, name, total)
    w = 0
    prev = 0
    for m in members.tolist():
        w = _copy(out, w, entries, int(start[prev]), int(start[m]))
        if m == service:
            out[w : w + len(pool)] = pool
            w += len(pool)
        prev = m + 1
    w = _copy(out, w, entries, int(start[prev]), int(start[-1]))
    assert w == total
    return _reopen(folder, f"{name}_start", out_start), _reopen(folder, name, out)


def merge_nodes(graph: FlowGraph, members: Iterable[int], service: int, folder: Path) -> FlowGraph:
    """The graph with the ``members`` nodes merged into ``service`` (one of them), its changed
    arrays written in ``folder`` (see the module docstring). The result has the type of
    ``graph`` when that is a disk graph (its stored entry → transaction arrays are reused)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    mem = np.array(sorted({int(m) for m in members}), dtype=np.int64)
    if service not in set(mem.tolist()):
        raise ValueError(f"service node {service} is not among the merged nodes")
    recv = node_entries(graph.node_recv_start, graph.node_recv, mem)
    spend = node_entries(graph.node_spend_start, graph.node_spend, mem)
    recv_val = np.asarray(graph.out_value[recv], dtype=np.int64)
    spend_val = np.asarray(graph.in_value[spend], dtype=np.int64)
    recv_cum = np.cumsum(recv_val) - recv_val
    spend_cum = np.cumsum(spend_val) - spend_val
    recv_start, node_recv = _csr(
        folder, "node_recv", graph.node_recv_start, graph.node_recv, mem, service, recv
    )
    spend_start, node_spend = _csr(
        folder, "node_spend", graph.node_spend_start, graph.node_spend, mem, service, spend
    )

    def ckpt(kind: str, old_start: I64, new_start: I64, pool_cum: I64) -> I64:
        old = getattr(graph, f"{kind}_ckpt")
        out = _writer(folder, f"{kind}_ckpt", len(old))
        move_checkpoints(out, old_start, old, new_start, mem, {service: pool_cum}, CHUNK)
        return _reopen(folder, f"{kind}_ckpt", out)

    def per_node(name: str, src: I64) -> I64:
        vals = np.where(mem == service, int(np.asarray(src[mem]).sum()), 0).astype(np.int64)
        return _patched(folder, name, src, mem, vals)

    changed: dict[str, Any] = {
        "in_node": _remap(folder, "in_node", graph.in_node, mem, service),
        "out_node": _remap(folder, "out_node", graph.out_node, mem, service),
        "recv_ckpt": ckpt("recv", graph.node_recv_start, recv_start, recv_cum),
        "spend_ckpt": ckpt("spend", graph.node_spend_start, spend_start, spend_cum),
        "node_recv_start": recv_start,
        "node_recv": node_recv,
        "node_spend_start": spend_start,
        "node_spend": node_spend,
        "node_size": per_node("node_size", graph.node_size),
        "node_total_in": per_node("node_total_in", graph.node_total_in),
        "node_total_out": per_node("node_total_out", graph.node_total_out),
    }
    return dataclasses.replace(graph, **changed)
