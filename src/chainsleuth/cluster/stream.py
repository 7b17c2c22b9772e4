"""Clustering streamed in chain order, in bounded memory.

The chain is read one window at a time (:mod:`chainsleuth.store.windows`), never whole.
What a window cannot see itself comes from compact arrays over the whole chain, filled by a
first pass when the heuristics need them:

=======================  =========================================  ===================
array                    what                                       bytes
=======================  =========================================  ===================
union-find ``parent``    the clustering itself (int32 while ids     4 per address
                         fit, see ``graph/unionfind.py``)
actor codes              the collapse guard's tag of each root      4 per address
                         (only with tags)
outputs per address      ``fresh_address`` (paid once), features    2 per address
                         (saturating at 65,535, ``outputs_dtype``)
co-spend ``parent``      ``cospent_elsewhere`` and the change       4 per address
                         model: multi-input clusters (first pass)
transaction codes        the spender's fingerprint and shape         2 per transaction
                         (``heuristics/txfacts.py``)
transaction detail       the change model's spend features           16 per transaction
window view + scratch    one window (``--memory-limit`` sizes it)    ~180 per row
cluster ids (at the end) ``address_cluster`` before it is written   4 per address
=======================  =========================================  ===================

The whole-chain arrays live in RAM while their total (:func:`side_array_bytes`) fits
``SIDE_ARRAYS_SHARE`` of the memory budget, and in memory-mapped files under
``DATASET/_tmp/`` beyond it (:class:`~chainsleuth.store.sidearrays.SideArrays`): a chain too
large for the budget still clusters, at the disk's pace, instead of running out of memory.

The second pass builds each window's links exactly as the in-RAM engine does (same
functions, same order: by transaction, multi-input before change), maps them to dataset ids
and applies them at once to the union-find with the collapse guard, so the guard sees every
union in the same order and the clusters, evidence and held links are identical to the
in-RAM engine's (tested on every fixture). Each window's spenders come from the ``spend``
index files (:class:`~chainsleuth.store.spenders.SpenderRanges`); addresses get window-local
numbers while the heuristics run, so no per-window array is sized by the whole chain.
Evidence rows are written window by window; held links go to a temporary file and get their
reason when the clusters are final; per-cluster and per-member summaries are computed by
DuckDB out of core (:mod:`chainsleuth.store.clusterstats`).

>>> from chainsleuth.cluster.spec import parse_heuristics
>>> from chainsleuth.store.manifest import Manifest
>>> pass_ = StreamPass(ds.path, Manifest.load(ds.path), parse_heuristics("default"), 3000)
>>> facts = pass_.scan()  # the regtest chain, first pass
>>> addr = ds.arrow("outputs", ["addr_id"]).column("addr_id")
>>> int(facts.n_outputs.sum()) == len(addr) - addr.null_count
True
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numba import njit
from numpy.typing import NDArray

from chainsleuth.cluster.links import Links
from chainsleuth.cluster.spec import HeuristicSpec
from chainsleuth.errors import DatasetError
from chainsleuth.graph.unionfind import (
    find_roots,
    flatten,
    parent_dtype,
    roots_to_min_ids,
    union_links,
)
from chainsleuth.heuristics.coinjoin import detect_coinjoins
from chainsleuth.heuristics.cospend import multi_input_pairs
from chainsleuth.heuristics.txfacts import SpenderFacts, TxDetail, tx_codes
from chainsleuth.heuristics.view import ChainView
from chainsleuth.store.manifest import Manifest
from chainsleuth.store.sidearrays import SideArrays
from chainsleuth.store.spenders import SpenderRanges
from chainsleuth.store.windows import LoadedWindow, iter_windows

if TYPE_CHECKING:
    from chainsleuth.budget import MemoryBudget
    from chainsleuth.store.dataset import Dataset

__all__ = [
    "EVIDENCE_SCHEMA",
    "HELD_REASONS",
    "OUTPUTS_CAP",
    "ChainFacts",
    "StreamPass",
    "StreamedCounts",
    "WindowLinks",
    "add_counts",
    "cluster_streamed",
    "evidence_table",
    "localise",
    "outputs_dtype",
    "side_array_bytes",
]

I64 = NDArray[np.int64]
Progress = Callable[[str], None]

SIDE_ARRAYS_SHARE = 0.5
"""Share of the memory budget the whole-chain arrays may take in RAM (beyond: mapped files)."""

OUTPUTS_CAP = int(np.iinfo(np.uint16).max)
"""Outputs per address are counted up to this (2 bytes each) where no decision can tell a
larger count apart: the heuristics compare the count with 1, and the change model's trees
split ``log1p(count)`` below ``log1p(OUTPUTS_CAP)`` (the shipped model's largest split is
log1p(149)); a model splitting higher gets exact 4-byte counts."""


def outputs_dtype(spec: HeuristicSpec) -> type[np.unsignedinteger[Any]]:
    """uint16 (saturating at :data:`OUTPUTS_CAP`) unless ``spec``'s change model splits the
    outputs-per-address feature at or above log1p(OUTPUTS_CAP), then uint32.

    >>> from chainsleuth.cluster.spec import parse_heuristics
    >>> outputs_dtype(parse_heuristics("multi-input,change-model")).__name__
    'uint16'
    """
    if spec.change_model is not None:
        from chainsleuth.heuristics.changemodel import load_change_model

        model = load_change_model(spec.change_model or None)
        if model.largest_threshold("addr_n_outputs") >= math.log1p(OUTPUTS_CAP):
            return np.uint32
    return np.uint16


def add_counts(n_outputs: NDArray[np.unsignedinteger[Any]], paid: I64) -> None:
    """Count one output for each address id in ``paid`` into ``n_outputs``, saturating at
    the dtype's largest value. Touches the paid entries only: no scratch beyond ``paid``
    (a window pays addresses from id 0 to the newest; a per-range count was 8 B per address
    of that range, 478 MB at 60 M addresses).

    >>> n = np.array([65530, 1, 0], np.uint16)
    >>> add_counts(n, np.array([0] * 10 + [1, 1])); n.tolist()
    [65535, 3, 0]
    """
    top = int(np.iinfo(n_outputs.dtype).max)
    _add_counts(np.asarray(n_outputs), np.asarray(paid, dtype=np.int64), top)


@njit(cache=True, nogil=True)
def _add_counts(n_outputs: NDArray[Any], paid: I64, top: int) -> None:  # pragma: no cover
    for a in paid:
        if n_outputs[a] < top:
            n_outputs[a] += 1


def side_array_bytes(spec: HeuristicSpec, n_addr: int, n_tx: int, *, actors: bool) -> int:
    """The most the whole-chain arrays of a streamed run hold at once (module docstring).

    >>> from chainsleuth.cluster.spec import parse_heuristics
    >>> side_array_bytes(parse_heuristics("default"), 1000, 400, actors=False)
    8000
    """
    word = 4 if n_addr < 2**31 - 1 else 8
    per_addr = word + (4 if actors else 0)  # parent, actor codes
    if spec.needs_change_context:
        per_addr += np.dtype(outputs_dtype(spec)).itemsize  # outputs per address
    if spec.needs_cospend:
        per_addr += word
    per_tx = (2 if spec.needs_change_context else 0) + (16 if spec.change_model else 0)
    links = per_addr * n_addr + per_tx * n_tx
    labels = (word + (4 if actors else 0) + word) * n_addr  # parent and cluster ids at the end
    return max(links, labels)


@dataclass(slots=True, eq=False)
class ChainFacts:
    """The whole-chain arrays of the first pass (see the module docstring for their bytes)."""

    n_outputs: NDArray[np.unsignedinteger[Any]]
    """per address: outputs paying it (uint16 saturating at :data:`OUTPUTS_CAP`, or uint32)"""
    codes: NDArray[np.uint16]
    """per transaction: fingerprint and shape code"""
    detail: TxDetail | None
    """per transaction: exact counts, height, version (change model only)"""
    cospend: NDArray[np.int32] | I64 | None
    """multi-input union-find, flattened (when a heuristic reads co-spend clusters)"""

    def nbytes(self) -> int:
        """Bytes held by the arrays.

        >>> ChainFacts(np.zeros(3, np.uint32), np.zeros(2, np.uint16), None, None).nbytes()
        16
        """
        arrays: list[Any] = [self.n_outputs, self.codes, self.cospend]
        if self.detail is not None:
            d = self.detail
            arrays += [d.n_in, d.n_out, d.height, d.version]
        return sum(int(a.nbytes) for a in arrays if a is not None)


@dataclass(frozen=True, slots=True, eq=False)
class WindowLinks:
    """One window's links in dataset ids (``tx`` is the dataset tx_id), and its CoinJoins."""

    links: Links
    n_coinjoins: int


def localise(view: ChainView) -> tuple[ChainView, I64]:
    """The view with its addresses renumbered 0..k-1 in id order, and the dataset addr_id of
    each local number (so arrays per address are sized by the window, not the chain).

    >>> from chainsleuth.heuristics.view import ChainView
    >>> v = ChainView.from_columns(
    ...     tx_id=[0], height=[1], version=[1], locktime=[0], is_coinbase=[False], n_in=[1],
    ...     n_out=[2], in_addr=[70], in_value=[9], in_type=[2], in_sequence=[0],
    ...     in_prev_out=[-1], out_value=[5, 3], out_addr=[90, -1], out_type=[2, 7],
    ...     out_spent_by=[-1, -1], n_addr=100)
    >>> local, ids = localise(v)
    >>> local.in_addr.tolist(), local.out_addr.tolist(), ids.tolist(), local.n_addr
    ([0], [1, -1], [70, 90], 2)
    """
    both = np.sort(
        np.concatenate([view.in_addr[view.in_addr >= 0], view.out_addr[view.out_addr >= 0]])
    )
    # distinct ids by sort and compare (numpy's hash-based unique is several times slower here)
    ids = both[np.concatenate([[True], both[1:] != both[:-1]])] if len(both) else both
    ids = ids.astype(np.int64)

    def local(addr: I64) -> I64:
        return np.where(addr >= 0, np.searchsorted(ids, np.maximum(addr, 0)), -1).astype(np.int64)

    return (
        dataclasses.replace(
            view, in_addr=local(view.in_addr), out_addr=local(view.out_addr), n_addr=len(ids)
        ),
        ids,
    )


class StreamPass:
    """The two passes over a dataset's windows for one heuristic spec (module docstring)."""

    def __init__(
        self,
        data: Path | str,
        manifest: Manifest,
        spec: HeuristicSpec,
        max_rows: int,
        *,
        con: Any = None,
        progress: Progress | None = None,
    ) -> None:
        self.data = Path(data)
        self.manifest = manifest
        self.spec = spec
        self.max_rows = max_rows
        self.n_addr = int(manifest.counts.get("addresses", 0))
        self.n_tx = int(manifest.counts.get("txs", 0))
        self.spenders = SpenderRanges(self.data, manifest, con)
        self._say = progress or (lambda _m: None)

    def windows(self, what: str) -> Iterator[LoadedWindow]:
        """The windows in chain order, reporting progress as ``what`` (percent of txs)."""
        for lw in iter_windows(self.data, self.manifest, self.max_rows):
            done = lw.window.tx_hi / max(self.n_tx, 1)
            self._say(f"{what}: {100 * done:.0f} % of transactions")
            yield lw

    def scan(self, side: SideArrays | None = None) -> ChainFacts:
        """First pass: outputs per address, transaction codes (and detail), co-spend
        clusters — what a spec needs (nothing for ``multi-input`` alone); the arrays come
        from ``side`` (default: RAM)."""
        spec = self.spec
        side = side or SideArrays(self.data / "_tmp", planned_bytes=0, ram_bytes=0)
        n_addr = self.n_addr if spec.needs_change_context else 0
        n_outputs = side.full(n_addr, outputs_dtype(spec), 0)
        codes = side.full(self.n_tx if spec.needs_change_context else 0, np.uint16, 0)
        detail = None
        if spec.change_model is not None:
            n = self.n_tx
            detail = TxDetail(
                side.full(n, np.uint32, 0), side.full(n, np.uint32, 0),
                side.full(n, np.int32, 0), side.full(n, np.uint32, 0),
            )  # fmt: skip
        cospend = None
        if spec.needs_cospend:
            cospend = side.full(self.n_addr, parent_dtype(self.n_addr), -1)
        if not spec.needs_change_context:
            return ChainFacts(n_outputs, codes, detail, cospend)
        for lw in self.windows("reading facts"):
            view, t0 = lw.view, int(lw.window.tx_lo)
            add_counts(n_outputs, view.out_addr[view.out_addr >= 0])
            codes[t0 : t0 + view.n_tx] = tx_codes(view)
            if detail is not None:
                detail.put(t0, TxDetail.of_view(view))
            if cospend is not None:
                a, b, _tx = multi_input_pairs(view, skip=detect_coinjoins(view).mask)
                union_links(cospend, a, b)
        if cospend is not None:
            flatten(cospend)
        return ChainFacts(n_outputs, codes, detail, cospend)

    def links(self, facts: ChainFacts) -> Iterator[WindowLinks]:
        """Second pass: each window's links in dataset ids, in chain order."""
        next_new = 0  # addresses first paid before the window have smaller ids
        for lw in self.windows("finding links"):
            got, next_new = self._window_links(lw, facts, next_new)
            yield got

    def _window_links(
        self, lw: LoadedWindow, facts: ChainFacts, next_new: int
    ) -> tuple[WindowLinks, int]:
        from chainsleuth.cluster.run import build_links

        view, ids = localise(lw.view)
        paid = view.out_addr >= 0
        top = int(ids[view.out_addr[paid]].max()) + 1 if paid.any() else next_new
        coinjoin = detect_coinjoins(view).mask
        context: dict[str, Any] | None = None
        if self.spec.needs_change_context:
            context = self._context(lw, view, ids, facts, next_new, paid)
        links, n_cj = build_links(view, self.spec, coinjoin=coinjoin, facts=context)
        mapped = Links(
            ids[links.a], ids[links.b], view.tx_id[links.tx], links.rule, links.rules,
            links.probability,
        )  # fmt: skip
        return WindowLinks(mapped, n_cj), max(next_new, top)

    def _context(
        self,
        lw: LoadedWindow,
        view: ChainView,
        ids: I64,
        facts: ChainFacts,
        next_new: int,
        paid: NDArray[np.bool_],
    ) -> dict[str, Any]:
        """The facts a window's change context cannot see itself (see ChangeContext.of)."""
        # first output of each address first paid in this window, as a local position;
        # -1 for addresses paid before it (every address an input spends is one of those)
        first = np.full(len(ids), -1, dtype=np.int64)
        new = ids >= next_new
        if new.any():
            n_new = int(new.sum())
            if int(ids[new].max()) - next_new + 1 != n_new:
                raise DatasetError(
                    f"addr_ids of transactions {lw.window.tx_lo}..{lw.window.tx_hi - 1} are "
                    "not in first-appearance order (re-ingest the dataset)"
                )
            big = np.iinfo(np.int64).max
            first[new] = big
            positions = np.arange(view.n_out, dtype=np.int64)
            np.minimum.at(first, view.out_addr[paid], positions[paid])
        spender_tx = self.spenders.spenders(lw.first_out_id, lw.first_out_id + view.n_out)
        context: dict[str, Any] = {
            "addr_first_out": first,
            "addr_n_outputs": facts.n_outputs[ids].astype(np.int64),
            "spender": SpenderFacts.gather(spender_tx, facts.codes, facts.detail),
        }
        if facts.cospend is not None:
            root, size = find_roots(facts.cospend, ids)
            context["cospend_cluster"] = root
            context["cospend_size"] = size
        return context


# -- the run ---------------------------------------------------------------------------------
EVIDENCE_SCHEMA = pa.schema(
    [
        ("addr_a", pa.int64()),
        ("addr_b", pa.int64()),
        ("tx_id", pa.int64()),
        ("rule", pa.dictionary(pa.int32(), pa.string())),
        ("probability", pa.float32()),
    ]
)
"""Columns of ``evidence.parquet`` (and of ``held.parquet`` before its ``reason``)."""

HELD_REASONS = ("collapse-guard", "actor-guard")
"""``held.parquet`` reasons: both sides too large; the sides carry tags of different actors."""

ROW_GROUP = 1 << 17
"""Rows per Parquet row group of a run's files."""


def evidence_table(links: Links, idx: I64) -> pa.Table:
    """Evidence rows of links ``idx``: endpoints, tx_id, rule, the change model's probability.

    Rule names stay dictionary-encoded (4 B per row plus a small dictionary), so no 32-bit
    string offsets grow with the number of links.

    >>> e = np.array([5], dtype=np.int64)
    >>> evidence_table(Links(e, e + 1, e, np.zeros(1, np.int64), ["x"]), np.array([0])).num_rows
    1
    """
    codes = pa.array(links.rule[idx].astype(np.int32), type=pa.int32())
    rule = pa.DictionaryArray.from_arrays(codes, pa.array(links.rules, type=pa.string()))
    prob = links.probability
    return pa.Table.from_arrays(
        [
            pa.array(links.a[idx], pa.int64()),
            pa.array(links.b[idx], pa.int64()),
            pa.array(links.tx[idx], pa.int64()),
            rule,
            pa.array(
                prob[idx] if prob is not None else np.full(len(idx), np.nan, dtype=np.float32),
                pa.float32(),
            ),
        ],
        schema=EVIDENCE_SCHEMA,
    )


@dataclass(frozen=True, slots=True)
class StreamedCounts:
    """What a streamed clustering found (for ``params.json`` and the summary)."""

    n_addresses: int
    n_clusters: int
    n_links: int
    n_unions: int
    n_held: int
    n_coinjoins: int
    n_windows: int


def cluster_streamed(
    ds: Dataset,
    spec: HeuristicSpec,
    run_dir: Path,
    *,
    actor_codes: NDArray[Any] | None,
    guard: int,
    budget: MemoryBudget,
    say: Progress,
    max_rows: int | None = None,
) -> StreamedCounts:
    """Cluster ``ds`` window by window into ``run_dir``: ``address_cluster``, ``evidence``,
    ``held``, ``clusters`` and ``members`` (the caller writes ``tags`` and ``params.json``).

    ``actor_codes`` (one int32 per address, 0 untagged; updated in place) turns the actor
    guard on; ``guard`` is the collapse guard's size (``NO_GUARD`` for none). Windows hold a
    quarter of ``budget`` (or ``max_rows`` rows); DuckDB gets half of it for the summaries;
    the whole-chain arrays stay in RAM while they fit ``SIDE_ARRAYS_SHARE`` of it, else they
    are memory-mapped under ``DATASET/_tmp/``.
    """
    from chainsleuth.store.clusterstats import write_cluster_stats
    from chainsleuth.store.windows import window_rows

    manifest = ds.manifest
    if max_rows is None:
        max_rows = window_rows(max(budget.share(0.25), 32 << 20))
    stream = StreamPass(ds.path, manifest, spec, max_rows, con=ds.con, progress=say)
    planned = side_array_bytes(spec, stream.n_addr, stream.n_tx, actors=actor_codes is not None)
    with SideArrays(
        Path(ds.path) / "_tmp", planned_bytes=planned, ram_bytes=budget.share(SIDE_ARRAYS_SHARE)
    ) as side:
        if side.on_disk:
            say(f"whole-chain arrays: {planned / 2**20:,.0f} MiB, memory-mapped under _tmp/")
        counts = _links_and_run(ds, stream, run_dir, side, actor_codes, guard, say)
    say("summarising clusters")
    n_clusters = write_cluster_stats(
        ds,
        run_dir / "address_cluster.parquet",
        run_dir / "clusters.parquet",
        run_dir / "members.parquet",
        budget=budget,
    )
    return dataclasses.replace(counts, n_clusters=n_clusters)


def _links_and_run(
    ds: Dataset,
    stream: StreamPass,
    run_dir: Path,
    side: SideArrays,
    actor_codes: NDArray[Any] | None,
    guard: int,
    say: Progress,
) -> StreamedCounts:
    """Both passes and the run's ``address_cluster``, ``evidence`` and ``held`` files
    (``n_clusters`` left 0 for the summaries)."""
    facts = stream.scan(side)
    parent = side.full(stream.n_addr, parent_dtype(stream.n_addr), -1)
    n_links = n_unions = n_held = n_cj = n_windows = 0
    evidence_tmp = run_dir / "evidence.parquet.tmp"
    held_raw = run_dir / "held.raw.parquet"
    with (
        pq.ParquetWriter(evidence_tmp, EVIDENCE_SCHEMA) as evidence,
        pq.ParquetWriter(held_raw, EVIDENCE_SCHEMA) as held_out,
    ):
        for got in stream.links(facts):
            links = got.links
            merged, held = union_links(
                parent, links.a, links.b, actor=actor_codes, max_merge_size=guard
            )
            if len(merged):
                evidence.write_table(evidence_table(links, merged), row_group_size=ROW_GROUP)
            if len(held):
                held_out.write_table(evidence_table(links, held), row_group_size=ROW_GROUP)
            n_links += len(links)
            n_unions += len(merged)
            n_held += len(held)
            n_cj += got.n_coinjoins
            n_windows += 1
    del facts
    os.replace(evidence_tmp, run_dir / "evidence.parquet")
    say("writing run")
    labels = side.empty(stream.n_addr, parent_dtype(stream.n_addr))
    _write_address_cluster(run_dir / "address_cluster.parquet", parent, labels)
    del labels
    _write_held(run_dir / "held.parquet", held_raw, parent, actor_codes)
    held_raw.unlink()
    del parent
    return StreamedCounts(stream.n_addr, 0, n_links, n_unions, n_held, n_cj, n_windows)


def _write_address_cluster(path: Path, parent: NDArray[Any], labels: NDArray[Any]) -> None:
    """``address_cluster.parquet`` (addr_id, cluster_id = smallest member) in chunks;
    ``labels`` (one item per address) is scratch for the cluster ids."""
    roots_to_min_ids(parent, out=labels)
    schema = pa.schema([("addr_id", pa.int64()), ("cluster_id", pa.int64())])
    tmp = path.with_name(path.name + ".tmp")
    step = ROW_GROUP * 8
    with pq.ParquetWriter(tmp, schema) as out:
        for lo in range(0, max(len(labels), 1), step):
            hi = min(lo + step, len(labels))
            out.write_table(
                pa.Table.from_arrays(
                    [
                        pa.array(np.arange(lo, hi, dtype=np.int64)),
                        pa.array(labels[lo:hi].astype(np.int64)),
                    ],
                    schema=schema,
                ),
                row_group_size=ROW_GROUP,
            )
    os.replace(tmp, path)


def _write_held(
    path: Path, raw: Path, parent: NDArray[Any], actor_codes: NDArray[Any] | None
) -> None:
    """``held.parquet``: the held links with their reason (``actor-guard`` when the two
    final clusters carry different actors, else ``collapse-guard``)."""
    schema = EVIDENCE_SCHEMA.append(pa.field("reason", pa.dictionary(pa.int32(), pa.string())))
    names = pa.array(HELD_REASONS, pa.string())
    tmp = path.with_name(path.name + ".tmp")
    with pq.ParquetWriter(tmp, schema) as out:
        for batch in pq.ParquetFile(raw).iter_batches(batch_size=ROW_GROUP):
            a = np.asarray(batch.column("addr_a").to_numpy(), dtype=np.int64)
            b = np.asarray(batch.column("addr_b").to_numpy(), dtype=np.int64)
            reason = np.zeros(len(a), dtype=np.int32)
            if actor_codes is not None and len(a):
                xa = actor_codes[find_roots(parent, a)[0]]
                xb = actor_codes[find_roots(parent, b)[0]]
                reason[(xa != 0) & (xb != 0) & (xa != xb)] = 1
            cols = [*batch.columns, pa.DictionaryArray.from_arrays(pa.array(reason), names)]
            out.write_table(pa.Table.from_arrays(cols, schema=schema), row_group_size=ROW_GROUP)
    os.replace(tmp, path)
