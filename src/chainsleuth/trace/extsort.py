"""Out-of-core pieces of the on-disk flow graph: streamed ``.npy`` files, node-range spill
buckets, and the per-node CSR written from records sorted by node.

The on-disk build (:mod:`chainsleuth.trace.diskgraph`) walks the chain once and must group
entries by node (a counting sort of billions of entries over billions of nodes) in a bounded
amount of RAM. It does it with three pieces:

- :class:`NpyWriter` appends slices of a 1-d array to a ``.npy`` file whose header already
  holds the final length (RAM: one 1 MiB write buffer);
- :class:`NodeBuckets` spills records (one ``int64`` node, then fields) into one file per node
  range, in arrival (chain) order; :meth:`NodeBuckets.sorted_chunks` then yields each bucket's
  records sorted by node, stably, in chunks of at most ``cap`` records — a bucket that holds
  more (a skewed range) is split again by narrower node ranges; a single node's records are
  already in order and are streamed as they are;
- :class:`NodeCsr` turns those chunks, in node order, into a node CSR: per node its start
  offset (``n_node + 1`` items), the entries grouped by node (one item each), each node's
  total value (8 B/node), and the node's running total every ``CUM_STEP`` entries
  (:mod:`chainsleuth.trace.checkpoints`).

>>> import tempfile
>>> from pathlib import Path
>>> d = Path(tempfile.mkdtemp())
>>> b = NodeBuckets(d, "recv", n_node=4, n_bucket=2, fields=("entry", "value"))
>>> b.add(np.array([3, 0, 3, 1]), entry=np.arange(4), value=np.array([5, 6, 7, 8]))
>>> w = {k: NpyWriter(d / f"{k}.npy", np.int64, n)
...      for k, n in (("s", 5), ("e", 4), ("t", 4), ("c", 1))}
>>> csr = NodeCsr(w["s"], w["e"], w["t"], w["c"])
>>> for lo, hi, chunks in b.ranges(cap=2):
...     for node, rec in chunks:
...         csr.add(node, rec["entry"], rec["value"])
...     csr.finish(hi)
>>> csr.close(4)
>>> for x in w.values():
...     x.close()
>>> [np.load(d / f"{k}.npy").tolist() for k in "setc"]
[[0, 1, 2, 2, 4], [1, 3, 0, 2], [6, 8, 0, 12], [0]]
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import DTypeLike, NDArray

from chainsleuth.errors import ChainsleuthError
from chainsleuth.trace.kernels import CUM_STEP

__all__ = ["NodeBuckets", "NodeCsr", "NpyWriter", "group_cum"]

I64 = NDArray[np.int64]
Records = NDArray[Any]
Chunks = Iterator[tuple[I64, Records]]

_BUFFER = 1 << 20


class NpyWriter:
    """A 1-d ``.npy`` file of ``length`` items of ``dtype`` written slice by slice, in order.

    The header is written first with the final shape; :meth:`close` fsyncs and checks that
    exactly ``length`` items came (ChainsleuthError otherwise). RAM: one 1 MiB buffer.

    >>> import tempfile
    >>> from pathlib import Path
    >>> p = Path(tempfile.mkdtemp()) / "a.npy"
    >>> with NpyWriter(p, np.int32, 5) as w:
    ...     w.append([1, 2])
    ...     w.append(np.arange(3))
    >>> np.load(p, mmap_mode="r").tolist()
    [1, 2, 0, 1, 2]
    """

    def __init__(self, path: Path, dtype: DTypeLike, length: int) -> None:
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.length = int(length)
        self.written = 0
        self._fh: BinaryIO = open(self.path, "wb", buffering=_BUFFER)  # noqa: SIM115
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": (self.length,),
        }
        np.lib.format.write_array_header_1_0(self._fh, header)

    def append(self, values: Any) -> None:
        """Append ``values`` (cast to the file's dtype; ChainsleuthError when an integer does
        not fit a narrower integer dtype, instead of wrapping around).

        >>> import tempfile
        >>> from pathlib import Path
        >>> with NpyWriter(Path(tempfile.mkdtemp()) / "b.npy", np.int32, 1) as w:
        ...     w.append([2**31])
        Traceback (most recent call last):
        chainsleuth.errors.ChainsleuthError: b.npy: values [2147483648, 2147483648] do not fit int32
        """
        src = np.asarray(values)
        if (
            self.dtype.kind == "i"
            and src.dtype.kind in "iu"
            and src.dtype.itemsize > self.dtype.itemsize
            and src.size
        ):
            info = np.iinfo(self.dtype)
            low, high = int(src.min()), int(src.max())
            if low < info.min or high > info.max:
                raise ChainsleuthError(
                    f"{self.path.name}: values [{low}, {high}] do not fit {self.dtype.name}"
                )
        arr = np.ascontiguousarray(src, dtype=self.dtype).reshape(-1)
        if self.written + len(arr) > self.length:
            raise ChainsleuthError(f"{self.path.name}: more than {self.length} items written")
        self._fh.write(arr.data)
        self.written += len(arr)

    def close(self) -> None:
        """Flush, fsync and close; ChainsleuthError when fewer than ``length`` items came."""
        if self._fh.closed:
            return
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        if self.written != self.length:
            raise ChainsleuthError(
                f"{self.path.name}: {self.written} items written, {self.length} expected"
            )

    def abort(self) -> None:
        """Close without checks (the file is being thrown away)."""
        self._fh.close()

    def __enter__(self) -> NpyWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def group_cum(keys: I64, values: I64) -> tuple[I64, I64, I64]:
    """For ``keys`` sorted (equal keys adjacent): index of each group's first row, each group's
    sum, and each row's exclusive running sum within its group (all exact int64).

    >>> [a.tolist() for a in group_cum(np.array([2, 2, 5]), np.array([3, 4, 1]))]
    [[0, 2], [7, 1], [0, 3, 0]]
    """
    n = len(keys)
    cs = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(values, out=cs[1:])
    change = np.ones(n, dtype=np.bool_)
    if n > 1:
        np.not_equal(keys[1:], keys[:-1], out=change[1:])
    first = np.flatnonzero(change)
    ends = np.append(first[1:], n)
    sums = cs[ends] - cs[first]
    group = np.cumsum(change) - 1
    cum = cs[:-1] - cs[first][group]
    return first.astype(np.int64), sums, cum


def _sort_by_node(node: I64, lo: int, hi: int) -> I64:
    """Stable sorting permutation of ``node`` (all in [lo, hi)); a radix sort when the range
    fits 16 bits."""
    span = hi - lo
    if span <= 1:
        return np.arange(len(node), dtype=np.int64)
    dtype: type[np.integer[Any]] = np.int64
    if span <= 1 << 16:
        dtype = np.uint16
    elif span <= 1 << 32:
        dtype = np.uint32
    return np.argsort((node - lo).astype(dtype), kind="stable").astype(np.int64)


class NodeBuckets:
    """Records ``(node, *fields)`` (all int64: ``8 × (1 + len(fields))`` B each on disk) spilled
    into ``n_bucket`` files by node range, in the order they are added.

    RAM: none between calls; :meth:`add` sorts its batch by bucket (about 24 B per record).
    """

    def __init__(
        self, folder: Path, prefix: str, *, n_node: int, n_bucket: int, fields: tuple[str, ...]
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.n_node = int(n_node)
        self.n_bucket = max(int(n_bucket), 1)
        self.width = max(math.ceil(self.n_node / self.n_bucket), 1)
        self.dtype = np.dtype([("node", "<i8"), *((f, "<i8") for f in fields)])
        self.splits = 0
        """buckets split again because they held more than ``cap`` records"""

    def _path(self, tag: str) -> Path:
        return self.folder / f"{self.prefix}-{tag}.bin"

    def add(self, node: I64, **fields: I64) -> None:
        """Append records (``node`` in [0, n_node)) to their buckets' files."""
        if not len(node):
            return
        rec = np.empty(len(node), dtype=self.dtype)
        rec["node"] = node
        for name, values in fields.items():
            rec[name] = values
        _distribute(rec, node // self.width, lambda b: self._path(f"{b:06d}"))

    def ranges(self, cap: int, *, sort: bool = True) -> Iterator[tuple[int, int, Chunks]]:
        """Each bucket's node range ``[lo, hi)`` and its records sorted by node (stably) in
        chunks of at most ``cap`` records, in node order (see the module docstring); with
        ``sort=False`` the records in arrival order. Every bucket's file is deleted once read.
        """
        for b in range(self.n_bucket):
            lo = min(b * self.width, self.n_node)
            hi = min(lo + self.width, self.n_node)
            if lo >= hi and b > 0:
                break
            path = self._path(f"{b:06d}")
            if sort:
                yield lo, hi, self._sorted(path, lo, hi, max(int(cap), 1))
            else:
                yield lo, hi, self._stream(path, max(int(cap), 1))

    def _stream(self, path: Path, cap: int) -> Chunks:
        if not path.exists():
            return
        n = path.stat().st_size // self.dtype.itemsize
        for start in range(0, n, cap):
            rec = np.fromfile(path, dtype=self.dtype, count=cap, offset=start * self.dtype.itemsize)
            yield np.ascontiguousarray(rec["node"]), rec
        path.unlink()

    def _sorted(self, path: Path, lo: int, hi: int, cap: int) -> Chunks:
        if not path.exists():
            return
        n = path.stat().st_size // self.dtype.itemsize
        if n <= cap:
            rec = np.fromfile(path, dtype=self.dtype)
            path.unlink()
            order = _sort_by_node(rec["node"], lo, hi)
            rec = rec[order]
            yield np.ascontiguousarray(rec["node"]), rec
            return
        if hi - lo <= 1:
            # one node: its records are already in chain order
            yield from self._stream(path, cap)
            return
        self.splits += 1
        k = min(hi - lo, max(2, 2 * math.ceil(n / cap)))
        width = math.ceil((hi - lo) / k)
        sub = path.with_suffix("")
        for start in range(0, n, cap):
            rec = np.fromfile(path, dtype=self.dtype, count=cap, offset=start * self.dtype.itemsize)
            _distribute(rec, (rec["node"] - lo) // width, lambda j: Path(f"{sub}.{j:04d}.bin"))
        path.unlink()
        for j in range(k):
            s_lo = lo + j * width
            if s_lo >= hi:
                break
            yield from self._sorted(Path(f"{sub}.{j:04d}.bin"), s_lo, min(hi, s_lo + width), cap)

    def remove(self) -> None:
        """Delete every file left (after an error)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def _distribute(rec: Records, bucket: I64, path_of: Callable[[int], Path]) -> None:
    """Append each record to the file of its bucket (stable: arrival order kept)."""
    order = np.argsort(bucket, kind="stable")
    sorted_b = bucket[order]
    ids, first = np.unique(sorted_b, return_index=True)
    ends = np.append(first[1:], len(order))
    for b, s, e in zip(ids.tolist(), first.tolist(), ends.tolist(), strict=True):
        with open(path_of(int(b)), "ab") as fh:
            fh.write(np.ascontiguousarray(rec[order[s:e]]).data)


class NodeCsr:
    """A node CSR written from records sorted by node, chunk by chunk in node order.

    Writes ``start`` (``n_node + 1`` offsets), ``entries`` (the records' entry indices grouped by
    node, chain order kept), ``total`` (per node, the sum of its values) and ``ckpt`` (the
    node's running total at every ``CUM_STEP``-th of its entries, laid out as
    :mod:`chainsleuth.trace.checkpoints` says; ``n_slots // CUM_STEP + 1`` items). RAM: the
    chunk's temporaries (~40 B per record) and, in :meth:`add` and :meth:`finish`, 16 B per
    node of the range they cover.
    """

    def __init__(
        self, start: NpyWriter, entries: NpyWriter, total: NpyWriter, ckpt: NpyWriter
    ) -> None:
        self.start = start
        self.entries = entries
        self.total = total
        self.ckpt = ckpt
        self.ckpt_next = 0
        """first checkpoint index not written yet"""
        self.open_start = 0
        """CSR slot where the open node's entries start"""
        self.next_start = 0
        """first node whose start offset is not written yet"""
        self.next_total = 0
        """first node whose total is not written yet: the *open* node"""
        self.open_total = 0
        """running total of the open node so far"""
        self.pos = 0

    def add(self, node: I64, entry: I64, value: I64) -> None:
        """Records sorted by node, every node ≥ those of earlier calls."""
        n = len(node)
        if not n:
            return
        if int(node[0]) < self.next_total:
            raise ChainsleuthError("node CSR records out of node order")
        top = int(node[-1])
        targets = np.arange(self.next_start, top + 1, dtype=np.int64)
        self.start.append(self.pos + np.searchsorted(node, targets, side="left"))
        self.next_start = top + 1
        self.entries.append(entry)
        first, sums, cum = group_cum(node, value)
        group_start = self.pos + first
        if int(node[0]) == self.next_total:
            carry = int(np.searchsorted(node, self.next_total, side="right"))
            cum[:carry] += self.open_total
            group_start[0] = self.open_start
        self._checkpoints(first, group_start, cum)
        self.open_start = int(group_start[-1])
        nodes = node[first]
        span = top - self.next_total
        if span > 0:
            totals = np.zeros(span, dtype=np.int64)
            done = nodes < top
            totals[nodes[done] - self.next_total] = sums[done]
            totals[0] += self.open_total
            self.total.append(totals)
            self.open_total = int(sums[-1])
        else:
            self.open_total += int(sums[-1])
        self.next_total = top
        self.pos += n

    def _checkpoints(self, first: I64, group_start: I64, cum: I64) -> None:
        """Append the checkpoints among this chunk's records (their slots from ``self.pos``,
        in groups starting at ``first`` whose nodes' CSRs start at ``group_start``)."""
        counts = np.diff(np.append(first, len(cum)))
        slot = self.pos + np.arange(len(cum), dtype=np.int64)
        s = np.repeat(group_start, counts)
        rel = slot - s
        keep = np.flatnonzero((rel > 0) & (rel % CUM_STEP == 0))
        if not len(keep):
            return
        idx = s[keep] // CUM_STEP + rel[keep] // CUM_STEP - 1
        block = np.zeros(int(idx[-1]) + 1 - self.ckpt_next, dtype=np.int64)
        block[idx - self.ckpt_next] = cum[keep]
        self.ckpt.append(block)
        self.ckpt_next = int(idx[-1]) + 1

    def finish(self, hi: int) -> None:
        """Every node below ``hi`` is complete: write their starts and totals."""
        if hi > self.next_start:
            self.start.append(np.full(hi - self.next_start, self.pos, dtype=np.int64))
            self.next_start = hi
        if hi > self.next_total:
            totals = np.zeros(hi - self.next_total, dtype=np.int64)
            totals[0] = self.open_total
            self.total.append(totals)
            self.next_total = hi
            self.open_total = 0
            self.open_start = self.pos

    def close(self, n_node: int) -> None:
        """Finish all ``n_node`` nodes, write the final start offset and pad the checkpoints."""
        self.finish(n_node)
        self.start.append([self.pos])
        self.ckpt.append(np.zeros(self.pos // CUM_STEP + 1 - self.ckpt_next, dtype=np.int64))
        self.ckpt_next = self.pos // CUM_STEP + 1
