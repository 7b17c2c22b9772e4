"""The flow graph on disk: built once by streaming the chain, opened as read-only memmaps.

:func:`disk_flow_graph` returns the :class:`~chainsleuth.trace.flowgraph.FlowGraph` of a
clustering run (or of the addresses) with every array a read-only ``np.memmap`` of a ``.npy``
file, building the folder first when it is missing or out of date. The numba hop kernels read
memmaps like any array, so a trace touches only the pages of the nodes and transactions it
reaches. Where the graph lives:

- cluster level: ``DATASET/derived/clusters/<run>/flowgraph/`` (a run is immutable, so it is
  built on first use and reused; rebuilt if the dataset's tip moved, which only a stale run
  used with ``allow_stale`` sees);
- address level: ``DATASET/derived/flowgraph/address/`` (rebuilt when the dataset's tip moved).

The folder holds one ``<array>.npy`` per array of :class:`FlowGraph` plus ``in_tx.npy`` and
``out_tx.npy`` (the transaction of every entry, which :meth:`DiskFlowGraph.in_tx` returns
instead of computing it), and ``meta.json`` (format version, level, run, the dataset tip,
array lengths, the id columns' dtypes, the checkpoint step, build figures).

Id columns (node ids, transaction positions and ids, entry indices, node sizes) are int32
when their count is below 2**31, else int64, chosen per column at build time
(:func:`~chainsleuth.trace.flowgraph.column_dtypes`) and recorded in ``meta.json``; satoshi
columns are int64. An entry's offset in its transaction and its node's running total before it
(which FIFO needs) are not stored: they are summed from the transaction's entries and from the
node's CSR with a checkpoint every ``CUM_STEP`` (16) entries (:mod:`chainsleuth.trace.kernels`,
:mod:`chainsleuth.trace.checkpoints`). Bytes per item on disk, int32 ids (int64 ids):

========================  =====================================================
per transaction           41 B (53 B): tx_id 4 (8), tx_time 8, in/out start
                          4 (8) each, in/out total 8 each, tx_height 4,
                          is_coinbase 1
per input / output entry  16 B (24 B): node 4 (8), value 8, tx 4 (8); + 4 B
                          (8 B) in ``node_spend`` / ``node_recv`` and 0.5 B of
                          checkpoints when it has a node
per node                  28 B (40 B): node_size 4 (8), node_total_in/out 8
                          each, both CSR starts 4 (8)
per address               4 B (8 B): node_of_addr
========================  =====================================================

Format 1 (before) stored 53 B per transaction, 40 B per entry (node, value, offset, running
total, tx; all int64) + 8 B in the node CSR, 40 B per node, 8 B per address; a folder of an
older format is rebuilt on use, like one made at another tip.

**Build** (:func:`build_graph_folder`), in a staging folder under ``DATASET/_tmp/`` renamed
into place only when complete (an interrupted build leaves nothing; a killed one's staging is
removed by the next build):

1. ``node_of_addr`` streamed from the run's ``address_cluster.parquet`` (identity at address
   level, and for addresses newer than the run), ``node_size`` counted per node range; the
   id dtypes are chosen first (the largest cluster id from the file's statistics);
2. one pass over the chain in windows (:func:`chainsleuth.store.windows.iter_windows`): the
   per-transaction and per-entry arrays are appended in chain order, and every entry with a
   node is spilled as a 24 B record (node, entry, value) into the file of its node range
   (:class:`~chainsleuth.trace.extsort.NodeBuckets`);
3. node range by node range, the records are sorted by node in RAM (stable, so chain order
   within a node; a range holding too many records is split again) and appended to
   ``node_recv``/``node_spend`` with their CSR starts, node totals and running-total
   checkpoints (:class:`~chainsleuth.trace.extsort.NodeCsr`).

Every narrowing write checks that the values fit (an error, never a wrapped id).

RAM, by phase (the budget's shares are the ``*_SHARE`` constants): the chain pass holds one
window (``WINDOW_BYTES_PER_ROW`` = 320 B per transaction, input and output; 30 % of the
budget); step 3 holds at most ``sort_cap`` records (``SORT_BYTES_PER_RECORD`` = 128 B each;
50 %) and 32 B per node of the range being written (30 %). Not counted: the interpreter and
libraries (~230 MiB) and what pyarrow's allocator keeps after reading windows (~100–270 MiB
measured). Disk while building: the graph, plus 24 B per entry of spill.

>>> g = disk_flow_graph(ds, level="cluster")  # ds: the regtest chain, clustered
>>> (g.level, g.run, g.n_tx, type(g.in_node).__name__, g.in_node.flags.writeable)
('cluster', 'default', 3981, 'memmap', False)
>>> (graph_folder(ds, "cluster", "default") / "meta.json").is_file()
True
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from chainsleuth.budget import TMP_DIR, MemoryBudget, peak_rss_bytes
from chainsleuth.errors import DatasetError
from chainsleuth.scratch import make_scratch_folder
from chainsleuth.store.parts import part_name
from chainsleuth.store.windows import TxWindow, iter_windows
from chainsleuth.trace.checkpoints import n_checkpoints
from chainsleuth.trace.extsort import NodeBuckets, NodeCsr, NpyWriter
from chainsleuth.trace.flowgraph import FlowGraph, column_dtypes
from chainsleuth.trace.kernels import CUM_STEP

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset
    from chainsleuth.store.manifest import Manifest

__all__ = [
    "FORMAT_VERSION",
    "BuildPlan",
    "DiskFlowGraph",
    "build_graph_folder",
    "disk_flow_graph",
    "graph_folder",
    "iter_graph_arrays",
    "open_graph_folder",
]

I64 = NDArray[np.int64]

FORMAT = "chainsleuth-flowgraph"
FORMAT_VERSION = 2
"""2: id columns int32 where they fit (``meta.json`` ``dtypes``); no per-entry ``in_off``/
``out_off``/``in_cum``/``out_cum``, running-total checkpoints ``recv_ckpt``/``spend_ckpt``
instead. A folder of another version is rebuilt on use, like one made at another tip."""
META = "meta.json"

WINDOW_BYTES_PER_ROW = 320
"""RAM per transaction, input and output of a window: the view (45 B) and the arrays built
from it (nodes, values, spill records, sorting permutations)"""
SORT_BYTES_PER_RECORD = 128
"""a spilled record (24 B), its sorted copy, the permutation, the running sums and the
checkpoints taken from them (measured: 124 B at 3.3 M records with per-entry totals)"""
CSR_BYTES_PER_NODE = 32
"""per node of the range being written: start offsets, totals and their temporaries"""
WINDOW_SHARE = 0.3
SORT_SHARE = 0.5
CSR_SHARE = 0.3

# array name → (dtype, length: tx, tx+1, in, out, node, node+1, addr, recv, spend); dtype
# "id": int32 or int64, chosen at build time (flowgraph.column_dtypes) and kept in meta.json
ARRAYS: dict[str, tuple[str, str]] = {
    "node_of_addr": ("id", "addr"),
    "node_size": ("id", "node"),
    "tx_id": ("id", "tx"),
    "tx_height": ("<i4", "tx"),
    "tx_time": ("<i8", "tx"),
    "is_coinbase": ("|b1", "tx"),
    "tx_in_start": ("id", "tx+1"),
    "tx_out_start": ("id", "tx+1"),
    "tx_in_total": ("<i8", "tx"),
    "tx_out_total": ("<i8", "tx"),
    "in_node": ("id", "in"),
    "in_value": ("<i8", "in"),
    "in_tx": ("id", "in"),
    "out_node": ("id", "out"),
    "out_value": ("<i8", "out"),
    "out_tx": ("id", "out"),
    "node_recv_start": ("id", "node+1"),
    "node_recv": ("id", "recv"),
    "node_spend_start": ("id", "node+1"),
    "node_spend": ("id", "spend"),
    "recv_ckpt": ("<i8", "recv/step"),
    "spend_ckpt": ("<i8", "spend/step"),
    "node_total_in": ("<i8", "node"),
    "node_total_out": ("<i8", "node"),
}
ID_DTYPES = ("<i4", "<i8")


@dataclass(frozen=True, slots=True, eq=False)
class DiskFlowGraph(FlowGraph):
    """A :class:`FlowGraph` whose arrays are read-only memmaps of the files in ``folder``, with
    the transaction of every entry stored too (``in_tx``/``out_tx`` return them, no copy)."""

    in_tx_pos: I64
    out_tx_pos: I64
    folder: Path
    meta: dict[str, Any]

    def in_tx(self) -> I64:
        """Transaction position of every input entry (a memmap)."""
        return self.in_tx_pos

    def out_tx(self) -> I64:
        """Transaction position of every output entry (a memmap)."""
        return self.out_tx_pos

    def nbytes(self) -> int:
        """Bytes of the graph's arrays (on disk: pages are read on demand).

        >>> disk_flow_graph(ds).nbytes() > 0
        True
        """
        return sum(
            int(getattr(self, f.name).nbytes)
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        )


@dataclass(frozen=True, slots=True)
class BuildPlan:
    """How a build splits its memory budget (see the module docstring).

    >>> p = BuildPlan.for_budget(MemoryBudget(1 << 30, "option"), n_node=10**6, n_entry=10**7)
    >>> (p.n_bucket, p.window_rows)
    (3, 1006632)
    """

    window_rows: int
    """transactions + inputs + outputs per window"""
    n_bucket: int
    """node ranges the entries are spilled into"""
    sort_cap: int
    """records sorted in RAM at once"""

    @classmethod
    def for_budget(
        cls, budget: MemoryBudget, *, n_node: int, n_entry: int, max_rows: int | None = None
    ) -> BuildPlan:
        """The plan for ``n_node`` nodes and at most ``n_entry`` inputs (or outputs)."""
        rows = max_rows or max(budget.share(WINDOW_SHARE) // WINDOW_BYTES_PER_ROW, 1024)
        cap = max(budget.share(SORT_SHARE) // SORT_BYTES_PER_RECORD, 16)
        width = max(budget.share(CSR_SHARE) // CSR_BYTES_PER_NODE, 1)
        n_bucket = max(math.ceil(n_node / width), math.ceil(n_entry / cap), 1)
        return cls(window_rows=int(rows), n_bucket=int(n_bucket), sort_cap=int(cap))


def graph_folder(ds: Dataset, level: str, run: str | None = None) -> Path:
    """Where the graph of ``level`` (and ``run`` at cluster level) is kept.

    >>> graph_folder(ds, "address").relative_to(ds.path).as_posix()
    'derived/flowgraph/address'
    """
    if level == "address":
        return Path(ds.path) / "derived" / "flowgraph" / "address"
    from chainsleuth.cluster.runs import run_dir

    return run_dir(ds, run) / "flowgraph"


def _identity(ds: Dataset, level: str, run: str | None) -> dict[str, Any]:
    """What a graph folder must record to be reused for this dataset, level and run."""
    ident: dict[str, Any] = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "level": level,
        "run": None,
        "run_created": None,
        "tip_height": int(ds.tip_height),
        "tip_hash": str(ds.tip_hash),
    }
    if level == "cluster":
        from chainsleuth.cluster.runs import run_params

        params = run_params(ds, run)
        ident["run"] = str(params.get("name", run))
        ident["run_created"] = params.get("created")
    return ident


def _load(path: Path, dtype: str) -> NDArray[Any]:
    arr = np.load(path, mmap_mode="r", allow_pickle=False)
    if arr.dtype != np.dtype(dtype) or arr.ndim != 1:
        raise DatasetError(f"{path}: {arr.dtype} {arr.shape}, expected a 1-d {dtype} array")
    return arr


def _stored_dtype(name: str, fixed: str, dtypes: dict[str, str]) -> str:
    """The dtype ``name`` must have: fixed, or the id dtype ``meta.json`` records."""
    if fixed != "id":
        return fixed
    dt = dtypes.get(name)
    if dt not in ID_DTYPES:
        raise ValueError(f"meta.json gives {name} the dtype {dt!r}, expected one of {ID_DTYPES}")
    return str(dt)


def open_graph_folder(folder: Path) -> DiskFlowGraph:
    """Open a built graph folder (every array memmapped read-only); DatasetError when a file
    is missing or does not match ``meta.json``.

    >>> g = open_graph_folder(graph_folder(ds, "cluster", "default"))
    >>> int(g.tx_in_start[-1]) == len(g.in_node), g.meta["level"]
    (True, 'cluster')
    """
    folder = Path(folder)
    try:
        meta: dict[str, Any] = json.loads((folder / META).read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(f"flow graph folder {folder} is incomplete: {exc}") from exc
    if (meta.get("format"), meta.get("version")) != (FORMAT, FORMAT_VERSION):
        raise DatasetError(
            f"flow graph folder {folder} has format {meta.get('format')!r} version "
            f"{meta.get('version')!r}, expected {FORMAT!r} {FORMAT_VERSION} (it is rebuilt on use)"
        )
    dtypes = meta.get("dtypes", {})
    try:
        arrays = {
            name: _load(folder / f"{name}.npy", _stored_dtype(name, dt, dtypes))
            for name, (dt, _) in ARRAYS.items()
        }
    except (OSError, ValueError) as exc:
        raise DatasetError(f"flow graph folder {folder} is incomplete: {exc}") from exc
    if meta.get("cum_step") != CUM_STEP:
        raise DatasetError(
            f"flow graph folder {folder} has checkpoints every {meta.get('cum_step')!r} entries, "
            f"expected {CUM_STEP} (it is rebuilt on use)"
        )
    lengths = meta.get("lengths", {})
    wrong = [n for n, a in arrays.items() if lengths.get(n) != len(a)]
    if wrong:
        raise DatasetError(f"flow graph folder {folder}: lengths differ from meta.json: {wrong}")
    fields = {f.name for f in dataclasses.fields(FlowGraph)}
    return DiskFlowGraph(
        level=str(meta["level"]),
        run=meta["run"],
        n_node=int(meta["n_node"]),
        **{name: arr for name, arr in arrays.items() if name in fields},
        in_tx_pos=arrays["in_tx"],
        out_tx_pos=arrays["out_tx"],
        folder=folder,
        meta=meta,
    )


def _open_current(folder: Path, ident: dict[str, Any]) -> DiskFlowGraph | None:
    """The graph in ``folder`` if it was built for ``ident`` and opens cleanly, else None."""
    try:
        meta = json.loads((folder / META).read_text())
    except (OSError, ValueError):
        return None
    if any(meta.get(k) != v for k, v in ident.items()):
        return None
    try:
        return open_graph_folder(folder)
    except DatasetError:
        return None


def disk_flow_graph(
    ds: Dataset,
    run: str | None = None,
    *,
    level: str = "cluster",
    budget: MemoryBudget | None = None,
    max_rows: int | None = None,
) -> DiskFlowGraph:
    """The persisted flow graph of ``level`` (``run``: default the newest clustering run),
    built first when missing or made at another dataset tip (see the module docstring).
    Freshness of the run is the caller's business (:func:`build_flow_graph` checks it).

    >>> g = disk_flow_graph(ds, level="address")
    >>> (g.level, g.run, g.n_node == len(g.node_of_addr))
    ('address', None, True)
    """
    folder = graph_folder(ds, level, run)
    ident = _identity(ds, level, run)
    graph = _open_current(folder, ident)
    if graph is None:
        build_graph_folder(
            ds, folder, level=level, run=ident["run"], budget=budget, max_rows=max_rows
        )
        graph = open_graph_folder(folder)
    return graph


def _install(built: Path, folder: Path, staging: Path) -> None:
    """Move the complete ``built`` folder to ``folder`` (an older graph there is replaced)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(built, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if folder.exists():
        os.replace(folder, staging / "old")
    try:
        os.replace(built, folder)
    except OSError as exc:
        if exc.errno != 18:  # EXDEV: _tmp on another file system
            raise
        near = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
        shutil.copytree(built, near)
        os.replace(near, folder)


def build_graph_folder(
    ds: Dataset,
    folder: Path,
    *,
    level: str,
    run: str | None = None,
    budget: MemoryBudget | None = None,
    max_rows: int | None = None,
) -> dict[str, Any]:
    """Build the graph of ``level``/``run`` into ``folder`` (replacing what is there); returns
    its ``meta.json``. ``max_rows`` overrides the window size the budget gives.

    >>> meta = build_graph_folder(ds, tmp / "g", level="address", max_rows=2000)
    >>> meta["n_tx"], meta["build"]["windows"] > 1, sorted(p.name for p in tmp.iterdir())
    (3981, True, ['g'])
    """
    chosen = budget if budget is not None else MemoryBudget.from_option(None)
    tmp_root = Path(ds.path) / TMP_DIR
    staging = make_scratch_folder(tmp_root, "flowgraph")
    built = staging / "graph"
    built.mkdir(parents=True)
    try:
        meta = _Build(ds, built, staging / "spill", level, run, chosen, max_rows).run()
        _install(built, Path(folder), staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return meta


class _Build:
    """One build (see the module docstring); :meth:`run` writes every file into ``out``."""

    def __init__(
        self,
        ds: Dataset,
        out: Path,
        spill: Path,
        level: str,
        run: str | None,
        budget: MemoryBudget,
        max_rows: int | None,
    ) -> None:
        self.ds = ds
        self.data = Path(ds.path)
        self.manifest: Manifest = ds.manifest
        self.out = out
        self.spill = spill
        self.level = level
        self.run_name = run
        self.budget = budget
        self.max_rows = max_rows
        parts = self.manifest.partitions
        self.n_tx = sum(p.n_txs for p in parts)
        self.n_in = sum(p.n_inputs for p in parts)
        self.n_out = sum(p.n_outputs for p in parts)
        self.n_addr = int(self.manifest.counts.get("addresses", 0))
        self.lengths: dict[str, int] = {}
        self.seconds: dict[str, float] = {}
        self.dtypes: dict[str, str] = {}

    def _choose(self, n_node: int, n_map: int) -> None:
        """The id columns' dtypes (:func:`~chainsleuth.trace.flowgraph.column_dtypes`)."""
        chosen = column_dtypes(
            node=n_node, addr=n_map, tx=self.n_tx, n_in=self.n_in, n_out=self.n_out
        )
        self.dtypes.update({name: dt.str for name, dt in chosen.items()})

    def _writer(self, stack: contextlib.ExitStack, name: str, length: int) -> NpyWriter:
        self.lengths[name] = int(length)
        fixed = ARRAYS[name][0]
        dtype = self.dtypes[name] if fixed == "id" else fixed
        return stack.enter_context(NpyWriter(self.out / f"{name}.npy", dtype, length))

    def run(self) -> dict[str, Any]:
        started = time.perf_counter()
        chunk = max(self.budget.share(WINDOW_SHARE) // 64, 1024)
        n_map, n_node = self._node_of_addr(chunk)
        self.n_node = n_node
        plan = BuildPlan.for_budget(
            self.budget, n_node=n_node, n_entry=max(self.n_in, self.n_out), max_rows=self.max_rows
        )
        self.plan = plan
        self.seconds["node_of_addr"] = time.perf_counter() - started
        t = time.perf_counter()
        self._node_size(n_map, chunk)
        self.seconds["node_size"] = time.perf_counter() - t
        t = time.perf_counter()
        recv = NodeBuckets(self.spill, "recv", n_node=n_node, n_bucket=plan.n_bucket,
                           fields=("entry", "value"))  # fmt: skip
        spend = NodeBuckets(self.spill, "spend", n_node=n_node, n_bucket=plan.n_bucket,
                            fields=("entry", "value"))  # fmt: skip
        n_windows, n_recv, n_spend = self._chain_pass(recv, spend)
        self.seconds["chain_pass"] = time.perf_counter() - t
        t = time.perf_counter()
        self._node_csr(recv, "recv", n_recv)
        self._node_csr(spend, "spend", n_spend)
        self.seconds["node_csr"] = time.perf_counter() - t
        meta = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "level": self.level,
            "run": self.run_name if self.level == "cluster" else None,
            "run_created": None,
            "tip_height": int(self.ds.tip_height),
            "tip_hash": str(self.ds.tip_hash),
            "n_tx": self.n_tx,
            "n_in": self.n_in,
            "n_out": self.n_out,
            "n_addr": n_map,
            "n_node": n_node,
            "cum_step": CUM_STEP,
            "lengths": self.lengths,
            "dtypes": {name: self.dtypes[name] for name, (dt, _) in ARRAYS.items() if dt == "id"},
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "build": {
                "seconds": round(time.perf_counter() - started, 3),
                "phases": {k: round(v, 3) for k, v in self.seconds.items()},
                "memory_budget": self.budget.bytes,
                "peak_rss": peak_rss_bytes(),
                "windows": n_windows,
                "window_rows": plan.window_rows,
                "buckets": plan.n_bucket,
                "bucket_splits": recv.splits + spend.splits,
                "sort_cap": plan.sort_cap,
            },
        }
        if self.level == "cluster":
            meta["run_created"] = _identity(self.ds, "cluster", self.run_name)["run_created"]
        (self.out / META).write_text(json.dumps(meta, indent=1) + "\n")
        return meta

    # -- step 1: addresses → nodes ----------------------------------------------------------
    def _node_of_addr(self, chunk: int) -> tuple[int, int]:
        """Write ``node_of_addr``; its length and the number of nodes."""
        if self.level == "address":
            self._choose(self.n_addr, self.n_addr)
            with contextlib.ExitStack() as stack:
                w = self._writer(stack, "node_of_addr", self.n_addr)
                for lo in range(0, self.n_addr, chunk):
                    w.append(np.arange(lo, min(lo + chunk, self.n_addr), dtype=np.int64))
            return self.n_addr, self.n_addr
        from chainsleuth.cluster.runs import run_dir

        path = run_dir(self.ds, self.run_name) / "address_cluster.parquet"
        pf = pq.ParquetFile(path)
        length = max(int(pf.metadata.num_rows), self.n_addr)
        # the node ids' dtype is needed before they are read: the cluster ids' largest value
        # from the file's statistics, or the addresses without a cluster (identity ids)
        bound = _column_max(pf, "cluster_id")
        tail = length if length > int(pf.metadata.num_rows) else 0
        self._choose(max(tail, (length if bound is None else bound + 1)), length)
        top = -1
        pos = 0
        with contextlib.ExitStack() as stack:
            w = self._writer(stack, "node_of_addr", length)
            for batch in pf.iter_batches(batch_size=chunk, columns=["addr_id", "cluster_id"]):
                addr = np.asarray(batch.column(0).to_numpy(), dtype=np.int64)
                cluster = np.asarray(batch.column(1).to_numpy(), dtype=np.int64)
                if len(addr) and not (
                    addr[0] == pos and bool(np.all(np.diff(addr) == 1))
                ):  # the clustering writes every addr_id in order
                    raise DatasetError(f"{path}: addr_id is not 0, 1, 2, … in order")
                w.append(cluster)
                top = max(top, int(cluster.max(initial=-1)))
                pos += len(addr)
            for lo in range(pos, length, chunk):
                w.append(np.arange(lo, min(lo + chunk, length), dtype=np.int64))
        if length > pos:
            top = max(top, length - 1)
        n_node = top + 1
        # the other node columns narrow to the nodes' count if the statistics overstated it
        node_dtypes = {k: self.dtypes[k] for k in ("node_of_addr",)}
        self._choose(n_node, length)
        self.dtypes.update(node_dtypes)
        return length, n_node

    def _node_size(self, n_map: int, chunk: int) -> None:
        """``node_size``: addresses per node, counted node range by node range."""
        with contextlib.ExitStack() as stack:
            w = self._writer(stack, "node_size", self.n_node)
            if self.level == "address":
                for lo in range(0, self.n_node, chunk):
                    w.append(np.ones(min(chunk, self.n_node - lo), dtype=np.int64))
                return
            buckets = NodeBuckets(
                self.spill, "addr", n_node=self.n_node, n_bucket=self.plan.n_bucket, fields=()
            )
            mapping = np.load(self.out / "node_of_addr.npy", mmap_mode="r")
            for lo in range(0, n_map, chunk):
                buckets.add(np.array(mapping[lo : lo + chunk], dtype=np.int64))
            del mapping
            for lo, hi, chunks in buckets.ranges(self.plan.sort_cap, sort=False):
                counts = np.zeros(hi - lo, dtype=np.int64)
                for node, _ in chunks:
                    counts += np.bincount(node - lo, minlength=hi - lo)
                w.append(counts)

    # -- step 2: the chain pass -------------------------------------------------------------
    def _chain_pass(self, recv: NodeBuckets, spend: NodeBuckets) -> tuple[int, int, int]:
        """Per-transaction and per-entry arrays in chain order, records spilled by node."""
        tx_base = in_base = out_base = n_windows = n_recv = n_spend = 0
        with contextlib.ExitStack() as stack:
            w = {
                name: self._writer(stack, name, _length(kind, self.n_tx, self.n_in, self.n_out))
                for name, (_, kind) in ARRAYS.items()
                if kind in ("tx", "tx+1", "in", "out")
            }
            for loaded in iter_windows(self.data, self.manifest, self.plan.window_rows):
                v = loaded.view
                n_windows += 1
                w["tx_id"].append(v.tx_id)
                w["tx_height"].append(v.height)
                w["is_coinbase"].append(v.is_coinbase)
                w["tx_time"].append(self._times(loaded.window, v.tx_id))
                w["tx_in_start"].append(v.in_start[:-1] + in_base)
                w["tx_out_start"].append(v.out_start[:-1] + out_base)
                mapping = None
                if self.level == "cluster":
                    mapping = np.load(self.out / "node_of_addr.npy", mmap_mode="r")
                for side, addr, raw, start, etx, base, buckets in (
                    ("in", v.in_addr, v.in_value, v.in_start, v.in_tx, in_base, spend),
                    ("out", v.out_addr, v.out_value, v.out_start, v.out_tx, out_base, recv),
                ):
                    node = np.full(len(addr), -1, dtype=np.int64)
                    has = addr >= 0
                    node[has] = addr[has] if mapping is None else mapping[addr[has]]
                    value = np.where(node >= 0, raw, 0) if side == "in" else raw
                    value = np.asarray(value, dtype=np.int64)
                    w[f"tx_{side}_total"].append(_tx_sums(start, value))
                    w[f"{side}_node"].append(node)
                    w[f"{side}_value"].append(value)
                    w[f"{side}_tx"].append(etx + tx_base)
                    sel = np.flatnonzero(node >= 0)
                    buckets.add(node[sel], entry=sel + base, value=value[sel])
                    if side == "in":
                        n_spend += len(sel)
                    else:
                        n_recv += len(sel)
                del mapping
                # pyarrow's pool keeps the window's freed buffers otherwise (RSS creeps up)
                pa.default_memory_pool().release_unused()
                tx_base += v.n_tx
                in_base += v.n_in
                out_base += v.n_out
            if (tx_base, in_base, out_base) != (self.n_tx, self.n_in, self.n_out):
                raise DatasetError(
                    f"{self.data}: the parts hold {tx_base} transactions, {in_base} inputs and "
                    f"{out_base} outputs, the manifest says {self.n_tx}, {self.n_in}, {self.n_out}"
                )
            w["tx_in_start"].append([in_base])
            w["tx_out_start"].append([out_base])
        return n_windows, n_recv, n_spend

    def _times(self, window: TxWindow, tx_id: I64) -> I64:
        """Block time (epoch seconds) of the window's transactions, from the ``txs`` part."""
        p = window.partition
        path = self.data / "tables" / "txs" / part_name(p.lo, self.manifest.partition_span)
        try:
            table = pq.read_table(
                path,
                columns=["tx_id", "time"],
                filters=[("tx_id", ">=", window.tx_lo), ("tx_id", "<", window.tx_hi)],
            )
        except (OSError, pa.ArrowInvalid) as exc:
            raise DatasetError(f"cannot read {path}: {exc}") from exc
        ids = np.asarray(table.column("tx_id").to_numpy(), dtype=np.int64)
        if not np.array_equal(ids, tx_id):
            raise DatasetError(f"{path}: txs rows {window.tx_lo}..{window.tx_hi - 1} differ")
        micros = pc.fill_null(table.column("time").cast(pa.int64()), 0)
        return np.asarray(micros.to_numpy(), dtype=np.int64) // 1_000_000

    # -- step 3: per-node CSR and its running-total checkpoints -----------------------------
    def _node_csr(self, buckets: NodeBuckets, kind: str, n_entry: int) -> None:
        """``node_<kind>_start``, ``node_<kind>``, the node totals and ``<kind>_ckpt``."""
        total = "node_total_in" if kind == "recv" else "node_total_out"
        with contextlib.ExitStack() as stack:
            csr = NodeCsr(
                self._writer(stack, f"node_{kind}_start", self.n_node + 1),
                self._writer(stack, f"node_{kind}", n_entry),
                self._writer(stack, total, self.n_node),
                self._writer(stack, f"{kind}_ckpt", n_checkpoints(n_entry)),
            )
            for _lo, hi, chunks in buckets.ranges(self.plan.sort_cap):
                for node, rec in chunks:
                    csr.add(node, rec["entry"], rec["value"])
                csr.finish(hi)
            csr.close(self.n_node)


def _length(kind: str, n_tx: int, n_in: int, n_out: int) -> int:
    return {"tx": n_tx, "tx+1": n_tx + 1, "in": n_in, "out": n_out}[kind]


def _tx_sums(start: I64, value: I64) -> I64:
    """Per transaction (CSR ``start``) the sum of its entries' values."""
    cs = np.zeros(len(value) + 1, dtype=np.int64)
    np.cumsum(value, out=cs[1:])
    return np.asarray(cs[start[1:]] - cs[start[:-1]], dtype=np.int64)


def _column_max(pf: pq.ParquetFile, column: str) -> int | None:
    """The largest value of an integer ``column`` from the row groups' statistics (None when
    a row group has none)."""
    md = pf.metadata
    idx = pf.schema_arrow.get_field_index(column)
    top = -1
    for g in range(md.num_row_groups):
        stats = md.row_group(g).column(idx).statistics
        if stats is None or not stats.has_min_max:
            return None
        top = max(top, int(stats.max))
    return top


def iter_graph_arrays(graph: FlowGraph) -> Iterator[tuple[str, NDArray[Any]]]:
    """Every array of ``graph`` by name, as :class:`FlowGraph` fields (for comparisons).

    >>> sorted(dict(iter_graph_arrays(disk_flow_graph(ds)))) == sorted(
    ...     n for n in ARRAYS if n not in ("in_tx", "out_tx"))
    True
    """
    for f in dataclasses.fields(FlowGraph):
        value = getattr(graph, f.name)
        if isinstance(value, np.ndarray):
            yield f.name, value
