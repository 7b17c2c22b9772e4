"""The executor side of ``cluster --engine spark``: one transaction bucket per task.

A *bucket* is one window of :func:`~chainsleuth.store.windows.chain_windows` (a ``tx_id``
range inside one partition). Tasks share nothing: each loads its bucket's view from the
dataset's parts (the path must be the same on the driver and every executor), runs the
embedded engine's own heuristic code on it and writes small Parquet files into the run's
scratch folder (``DATASET/_tmp/sparkcluster-<pid>-*``, the *staging* folder below), one file
per bucket and kind, each written to a temporary name and renamed, so a retried task simply
replaces its files.

Two passes, as the embedded streamed engine (:mod:`chainsleuth.cluster.stream`) makes:

1. :func:`scan_bucket` — the facts other buckets need from this one: outputs per address
   (``counts``: 16 B per distinct paid address of the bucket), each transaction's 2-byte
   fingerprint/shape code and, for the change model, its detail (``codes``: 12 B per
   transaction, 44 B with the detail), the bucket's local co-spend forest (``pairs``: 16 B
   per union, at most one per address), and what the bucket will ask for (``need_addr``:
   its addresses, 12 B each; ``need_tx``: the distinct transactions spending its outputs,
   12 B each).
2. :func:`link_bucket` — the bucket's links with the facts the Spark joins gathered for it
   (:class:`BucketFacts`), exactly as the embedded ``StreamPass`` builds a window's links
   (same functions, same context), written to ``links`` (33 B per link) with a flag telling
   whether the link is *redundant* inside its bucket: its two addresses are already joined
   by earlier links of the same bucket (a local union-find in chain order).

>>> from chainsleuth.cluster.spec import parse_heuristics
>>> job = ClusterJob(str(ds.path), str(tmp), 700, parse_heuristics("default"), "")
>>> len(bucket_windows(job)) > 20  # the regtest chain in buckets of 700 rows
True
>>> scan_bucket(job, 0)[0], sorted(p.name for p in tmp.iterdir())
(0, ['codes', 'counts', 'need_addr', 'need_tx'])
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from chainsleuth.cluster.links import Links
from chainsleuth.cluster.spec import HeuristicSpec
from chainsleuth.cluster.stream import localise
from chainsleuth.errors import DatasetError
from chainsleuth.graph.unionfind import new_parent, union_links
from chainsleuth.heuristics.coinjoin import detect_coinjoins
from chainsleuth.heuristics.cospend import multi_input_pairs
from chainsleuth.heuristics.txfacts import SpenderFacts, TxDetail, tx_codes
from chainsleuth.heuristics.view import ChainView
from chainsleuth.store.manifest import Manifest
from chainsleuth.store.spenders import SpenderRanges
from chainsleuth.store.windows import LoadedWindow, TxWindow, chain_windows, load_window

__all__ = [
    "FACTS_DDL",
    "FACT_ADDR",
    "FACT_MARK",
    "FACT_TX",
    "LINKS_SCHEMA",
    "SUMMARY_DDL",
    "BucketFacts",
    "ClusterJob",
    "bucket_file",
    "bucket_windows",
    "link_bucket",
    "link_partition",
    "scan_bucket",
]

I64 = NDArray[np.int64]

FACT_MARK, FACT_ADDR, FACT_TX = 0, 1, 2
"""``kind`` of a facts row: the bucket's marker (every bucket has one, so every bucket gets a
task), a per-address fact, a spender transaction's fact."""

FACTS_DDL = "bucket int, kind int, key long, v1 long, v2 long, v3 long, v4 long, v5 long"
"""Rows the joins hand to :func:`link_partition`: per address (key addr_id) v1 outputs
paying it, v2/v3 its co-spend cluster and size; per spender transaction (key tx_id) v1 its
code, v2–v5 n_in, n_out, height, version (the change model's detail, else 0)."""

SUMMARY_DDL = "bucket int, n_links long, n_coinjoins long"
"""What each link task reports to the driver."""

LINKS_SCHEMA = pa.schema(
    [
        ("tx_id", pa.int64()),
        ("addr_a", pa.int64()),
        ("addr_b", pa.int64()),
        ("rule", pa.dictionary(pa.int32(), pa.string())),
        ("probability", pa.float32()),
        ("redundant", pa.bool_()),
    ]
)
"""A bucket's links in chain order (8 + 8 + 8 + 4 + 4 + 1 = 33 B per link; the rule names
are a dictionary of a few entries, so no offsets grow with the chain)."""


@dataclass(frozen=True, slots=True)
class ClusterJob:
    """What every task of one run needs: the dataset, the staging folder, the bucket size,
    the heuristics, and the manifest's ``updated`` stamp (keys the workers' cached plan)."""

    data: str
    staging: str
    bucket_rows: int
    spec: HeuristicSpec
    stamp: str


@functools.lru_cache(maxsize=4)
def _plan(data: str, bucket_rows: int, stamp: str) -> tuple[Manifest, list[TxWindow]]:
    manifest = Manifest.load(Path(data))
    return manifest, chain_windows(manifest, bucket_rows)


def bucket_windows(job: ClusterJob) -> list[TxWindow]:
    """The run's buckets in chain order (the same list on the driver and every worker)."""
    return _plan(job.data, job.bucket_rows, job.stamp)[1]


def bucket_file(staging: str | Path, kind: str, bucket: int) -> Path:
    """The staging file of ``kind`` for ``bucket``.

    >>> bucket_file("/x", "links", 7).as_posix()
    '/x/links/b000000007.parquet'
    """
    return Path(staging) / kind / f"b{bucket:09d}.parquet"


def _write(job: ClusterJob, kind: str, bucket: int, table: pa.Table) -> None:
    path = bucket_file(job.staging, kind, bucket)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, compression="lz4")
    os.replace(tmp, path)


def _load(job: ClusterJob, bucket: int) -> tuple[Manifest, LoadedWindow]:
    manifest, windows = _plan(job.data, job.bucket_rows, job.stamp)
    return manifest, load_window(job.data, manifest, windows[bucket])


def _spenders(job: ClusterJob, manifest: Manifest, lw: LoadedWindow) -> I64:
    """The tx_id spending each output of the bucket (-1: unspent), from the spend index."""
    first = lw.first_out_id
    return SpenderRanges(job.data, manifest).spenders(first, first + lw.view.n_out)


def scan_bucket(job: ClusterJob, bucket: int) -> tuple[int, int]:
    """First pass over one bucket: writes its facts (module docstring); returns ``(bucket,
    top)`` where ``top`` is one past the largest addr_id its outputs pay (0: none), from
    which the driver tells each bucket which of its addresses are new.

    Memory: the bucket's view and its scratch (``store/windows.py``), plus 8 B per output
    for its spenders. See the module docstring for an example.
    """
    manifest, lw = _load(job, bucket)
    view, spec = lw.view, job.spec
    paid = view.out_addr[view.out_addr >= 0]
    top = int(paid.max()) + 1 if len(paid) else 0
    if not spec.needs_change_context:
        return bucket, top
    addr_ids, counts = np.unique(paid, return_counts=True)
    _write(job, "counts", bucket, pa.table({"addr_id": addr_ids, "n": counts.astype(np.int64)}))
    codes: dict[str, Any] = {
        "tx_id": view.tx_id,
        "code": tx_codes(view).astype(np.int32),
    }
    if spec.change_model is not None:
        d = TxDetail.of_view(view)
        for col, values in (("n_in", d.n_in), ("n_out", d.n_out), ("height", d.height),
                            ("version", d.version)):  # fmt: skip
            codes[col] = values.astype(np.int64)
    _write(job, "codes", bucket, pa.table(codes))
    _local, ids = localise(view)
    bucket_col = np.full(len(ids), bucket, dtype=np.int32)
    _write(job, "need_addr", bucket, pa.table({"bucket": bucket_col, "addr_id": ids}))
    spender = _spenders(job, manifest, lw)
    txs = np.unique(spender[spender >= 0])
    need_tx = {"bucket": np.full(len(txs), bucket, dtype=np.int32), "tx_id": txs}
    _write(job, "need_tx", bucket, pa.table(need_tx))
    if spec.needs_cospend:
        # the embedded first pass: multi-input pairs of the raw view, CoinJoins skipped; here
        # reduced to the bucket's spanning forest (same components, at most one per address)
        a, b, _tx = multi_input_pairs(view, skip=detect_coinjoins(view).mask)
        la, lb = np.searchsorted(ids, a), np.searchsorted(ids, b)
        merged, _held = union_links(new_parent(len(ids)), la, lb)
        _write(job, "pairs", bucket, pa.table({"a": a[merged], "b": b[merged]}))
    return bucket, top


@dataclass(frozen=True, slots=True, eq=False)
class BucketFacts:
    """The facts one bucket gets from the joins, sorted by key (see :data:`FACTS_DDL`):
    per address 24 B, per spender transaction 40 B."""

    addr: I64
    n_outputs: I64
    cospend_root: I64
    cospend_size: I64
    tx: I64
    code: I64
    detail: tuple[I64, I64, I64, I64]

    @classmethod
    def from_rows(cls, rows: pa.Table) -> BucketFacts:
        """The facts among ``rows`` (one bucket's rows of :data:`FACTS_DDL`).

        >>> t = pa.table({"kind": [1, 2], "key": [4, 9], "v1": [1, 5], "v2": [4, 1],
        ...               "v3": [1, 2], "v4": [0, 3], "v5": [0, 2]})
        >>> f = BucketFacts.from_rows(t)
        >>> f.addr.tolist(), f.tx.tolist(), f.code.tolist()
        ([4], [9], [5])
        """

        def col(name: str) -> I64:
            return np.asarray(rows.column(name).fill_null(0).to_numpy(), dtype=np.int64)

        kind, key = col("kind"), col("key")
        a, t = kind == FACT_ADDR, kind == FACT_TX
        v = [col(f"v{i}") for i in range(1, 6)]
        oa, ot = np.argsort(key[a], kind="stable"), np.argsort(key[t], kind="stable")
        return cls(
            key[a][oa], v[0][a][oa], v[1][a][oa], v[2][a][oa], key[t][ot], v[0][t][ot],
            (v[1][t][ot], v[2][t][ot], v[3][t][ot], v[4][t][ot]),
        )  # fmt: skip

    def per_address(self, ids: I64, values: I64, missing: I64 | int) -> I64:
        """``values`` (a per-address column) at addr_ids ``ids``; ``missing`` where absent."""
        pos = np.searchsorted(self.addr, ids)
        pos_c = np.minimum(pos, max(len(self.addr) - 1, 0))
        found = (pos < len(self.addr)) & (self.addr[pos_c] == ids) if len(self.addr) else pos < 0
        out = np.where(found, values[pos_c] if len(values) else 0, missing)
        return np.asarray(out, dtype=np.int64)


def _context(
    job: ClusterJob,
    manifest: Manifest,
    lw: LoadedWindow,
    view: ChainView,
    ids: I64,
    facts: BucketFacts,
    next_new: int,
    paid: NDArray[np.bool_],
) -> dict[str, Any]:
    """What the bucket's change context cannot see itself, as ``StreamPass._context`` gives
    it: first outputs of new addresses, outputs per address, spenders' facts, co-spend."""
    first = np.full(len(ids), -1, dtype=np.int64)
    new = ids >= next_new
    if new.any():
        n_new = int(new.sum())
        if int(ids[new].max()) - next_new + 1 != n_new:
            raise DatasetError(
                f"addr_ids of transactions {lw.window.tx_lo}..{lw.window.tx_hi - 1} are "
                "not in first-appearance order (re-ingest the dataset)"
            )
        first[new] = np.iinfo(np.int64).max
        positions = np.arange(view.n_out, dtype=np.int64)
        np.minimum.at(first, view.out_addr[paid], positions[paid])
    spender_tx = _spenders(job, manifest, lw)
    # the spenders' rows among the facts (-1: unspent), so SpenderFacts.gather reads them
    row = np.searchsorted(facts.tx, spender_tx)
    spent = spender_tx >= 0
    if spent.any():
        ok = row[spent] < len(facts.tx)
        if not ok.all() or not np.array_equal(facts.tx[row[spent]], spender_tx[spent]):
            raise DatasetError(f"bucket {lw.window.tx_lo}: a spender's facts are missing")
    local_row = np.where(spent, row, -1).astype(np.int64)
    detail = None
    if job.spec.change_model is not None:
        n_in, n_out, height, version = facts.detail
        detail = TxDetail(
            n_in.astype(np.uint32), n_out.astype(np.uint32), height.astype(np.int32),
            version.astype(np.uint32),
        )  # fmt: skip
    context: dict[str, Any] = {
        "addr_first_out": first,
        "addr_n_outputs": facts.per_address(ids, facts.n_outputs, 0),
        "spender": SpenderFacts.gather(local_row, facts.code.astype(np.uint16), detail),
    }
    if job.spec.needs_cospend:
        context["cospend_cluster"] = facts.per_address(ids, facts.cospend_root, ids)
        context["cospend_size"] = facts.per_address(ids, facts.cospend_size, 1)
    return context


def link_bucket(
    job: ClusterJob, bucket: int, next_new: int, facts: BucketFacts | None
) -> tuple[int, int, int]:
    """Second pass over one bucket: its links (``links`` staging file, module docstring);
    returns ``(bucket, links, CoinJoins)``. ``next_new`` is the first addr_id no earlier
    bucket pays; ``facts`` is None when the heuristics need no change context.

    Memory: the bucket's view and scratch, its facts (:class:`BucketFacts`) and its links
    (about 60 B each while built, plus a 4 B/address local union-find).

    >>> from chainsleuth.cluster.spec import parse_heuristics
    >>> job = ClusterJob(str(ds.path), str(tmp), 700, parse_heuristics("multi-input"), "")
    >>> k, n_links, n_cj = link_bucket(job, 3, 0, None)
    >>> pq.read_table(bucket_file(tmp, "links", 3)).num_rows == n_links
    True
    """
    from chainsleuth.cluster.run import build_links

    manifest, lw = _load(job, bucket)
    view, ids = localise(lw.view)
    coinjoin = detect_coinjoins(view).mask
    context = None
    if job.spec.needs_change_context:
        if facts is None:
            raise ValueError("these heuristics need the bucket's facts")
        paid = view.out_addr >= 0
        context = _context(job, manifest, lw, view, ids, facts, next_new, paid)
    links, n_cj = build_links(view, job.spec, coinjoin=coinjoin, facts=context)
    # chain order within the bucket: a link whose ends earlier links already joined is
    # redundant (never a union) wherever no guard can hold a link back
    merged, _held = union_links(new_parent(len(ids)), links.a, links.b)
    redundant = np.ones(len(links), dtype=np.bool_)
    redundant[merged] = False
    _write(job, "links", bucket, links_table(
        Links(ids[links.a], ids[links.b], view.tx_id[links.tx], links.rule, links.rules,
              links.probability),
        redundant,
    ))  # fmt: skip
    return bucket, len(links), n_cj


def links_table(links: Links, redundant: NDArray[np.bool_]) -> pa.Table:
    """Links (endpoints in addr_ids, ``tx`` the dataset tx_id) as :data:`LINKS_SCHEMA` rows.

    >>> e = np.array([5], dtype=np.int64)
    >>> links_table(Links(e, e + 1, e, np.zeros(1, np.int64), ["x"]), np.array([False])).num_rows
    1
    """
    codes = pa.array(links.rule.astype(np.int32), type=pa.int32())
    prob = links.probability
    return pa.Table.from_arrays(
        [
            pa.array(links.tx, pa.int64()),
            pa.array(links.a, pa.int64()),
            pa.array(links.b, pa.int64()),
            pa.DictionaryArray.from_arrays(codes, pa.array(links.rules, type=pa.string())),
            pa.array(
                prob if prob is not None else np.full(len(links), np.nan, dtype=np.float32),
                pa.float32(),
            ),
            pa.array(redundant, pa.bool_()),
        ],
        schema=LINKS_SCHEMA,
    )


def link_partition(
    job: ClusterJob, next_new: list[int]
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function of the link pass: its rows (:data:`FACTS_DDL`) come sorted
    by bucket, so each bucket's facts are gathered, its links built (:func:`link_bucket`) and
    dropped before the next bucket's rows are read. Yields :data:`SUMMARY_DDL` rows.

    >>> from chainsleuth.cluster.spec import parse_heuristics
    >>> job = ClusterJob(str(ds.path), str(tmp), 10**9, parse_heuristics("multi-input"), "")
    >>> rows = pa.record_batch({"bucket": pa.array([0], pa.int32()), "kind": pa.array([0],
    ...     pa.int32()), **{c: pa.array([0], pa.int64()) for c in ("key", "v1", "v2", "v3",
    ...     "v4", "v5")}})
    >>> [b.to_pylist()[0]["bucket"] for b in link_partition(job, [0])(iter([rows]))]
    [0]
    """

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        current = -1
        pending: list[pa.RecordBatch] = []

        def finish() -> pa.RecordBatch:
            facts = BucketFacts.from_rows(pa.Table.from_batches(pending))
            k, n_links, n_cj = link_bucket(
                job, current, next_new[current], facts if job.spec.needs_change_context else None
            )
            return pa.record_batch(
                {
                    "bucket": pa.array([k], pa.int32()),
                    "n_links": pa.array([n_links], pa.int64()),
                    "n_coinjoins": pa.array([n_cj], pa.int64()),
                }
            )

        for batch in batches:
            if batch.num_rows == 0:
                continue
            bucket = np.asarray(batch.column("bucket").to_numpy(), dtype=np.int64)
            cuts = [0, *(np.flatnonzero(np.diff(bucket)) + 1).tolist(), len(bucket)]
            for lo, hi in itertools.pairwise(cuts):
                k = int(bucket[lo])
                if k != current:
                    if pending:
                        yield finish()
                    current, pending = k, []
                pending.append(batch.slice(lo, hi - lo))
        if pending:
            yield finish()

    return run
