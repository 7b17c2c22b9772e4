"""Point lookups without scans: sorted per-partition index files and the :class:`Lookup` over them.

The ingest calls :func:`build_partition_indexes` once a partition's parts are closed. It reads
those parts (within a byte budget: sorted runs on disk beyond it) and writes one immutable file
per kind under ``DATASET/index/<kind>/<part>.npy``
(temp file + fsync + rename; the same parts give the same bytes). Every file is a 1-D
little-endian ``uint64`` ``.npy``: a 4-word header ``[MAGIC, bits, base, n]`` and ``n`` sorted
keys. A key packs a value in its high bits and a row offset (``< 2**bits``, ``bits`` wide
enough for the partition's rows) in its low bits, so keys are unique, one ``np.searchsorted``
over the memory-mapped keys finds a value's rows, and 8 bytes per row suffice:

========  ==========================================  ==================================  =====
kind      key (high bits | low ``bits`` bits)         rows                                B/row
========  ==========================================  ==================================  =====
txid      first 8 txid bytes (big-endian) | tx        every transaction                   8
addr_key  script key ``k0`` | addr; then ``k1``       addresses first seen in partition   16
addr_out  addr_id | out_id                            outputs with an address             8
addr_in   addr_id | row of the ``inputs`` part        inputs spending an address          8
spend     spent out_id | spending tx                  the ``spends`` part                 8
========  ==========================================  ==================================  =====

Offsets are relative to ``base``: the partition's first tx_id / addr_id / out_id (0 for
``addr_in``, whose offsets are rows of the ``inputs`` part). ``txid`` keeps only the top
``64 - bits`` bits of the txid prefix, so a hit is a *candidate*: :meth:`Lookup.tx_id` reads the
full txid from the ``txs`` part to confirm it (prefix collisions are expected and harmless).
``addr_key`` compares ``128 - bits`` bits of the address's 16-byte script key (murmur3, the
address dictionary's key, :func:`script_key`): an address string is turned back into its output
script (``pk:<hex>`` pseudo-addresses into their P2PK script); bare multisig pseudo-addresses
(``ms:``), whose script cannot be rebuilt, are keyed by the murmur3 of the address string.
Whole chain (1.3 B txs, 3.4 B outputs, 3.3 B inputs, ~1.5 B addresses): about 10 + 24 + 27 +
26 + 26 GB.

A lookup binary-searches the file of each partition that can hold the value (every partition
for a txid or an address string; from the address's or output's own partition on for the
others): O(partitions × log rows) page reads of memory-mapped files, no numba, no DuckDB.

>>> import tempfile
>>> from chainsleuth.ingest import ingest_blocks
>>> from chainsleuth.store.manifest import Manifest
>>> path = Path(tempfile.mkdtemp()) / "ds"
>>> _ = ingest_blocks("tests/data/regtest-core-a/blocks", path, "regtest", to_height=120,
...                   partition_span=50)
>>> m = Manifest.load(path)
>>> for name in [n.split("/")[-1] for n in sorted(m.files) if n.startswith("tables/txs/")]:
...     m.files.update(build_partition_indexes(path, name))
>>> sorted(f for f in m.files if f.startswith("index/txid/"))[0]
'index/txid/h000000000-000000049.npy'
>>> from chainsleuth.chain.network import get_network
>>> lk = Lookup(path, m, get_network("regtest"))
>>> addr = lk.addr_id("bcrt1q5308qu3ejczty83g4ghe2n23kzulh66wz4wnm2")
>>> addr, lk.outputs_of_addr(addr)[:3].tolist()
(1, [1, 5, 33])
"""

from __future__ import annotations

import mmap
import os
import shutil
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from chainsleuth.chain.address import address_to_script
from chainsleuth.chain.network import Network
from chainsleuth.errors import DatasetError, InputError
from chainsleuth.scratch import make_scratch_folder
from chainsleuth.store.manifest import Manifest
from chainsleuth.store.parts import TMP_SUFFIX, part_name, sha256_file
from chainsleuth.store.rows import PartRows, numpy_of

__all__ = [
    "BUILD_BUDGET",
    "INDEX_DIR",
    "INDEX_KINDS",
    "MAGIC",
    "IndexFile",
    "Lookup",
    "address_key",
    "build_partition_indexes",
    "index_file_name",
    "lower_bound",
    "pack_keys",
    "partition_index_files",
    "script_key",
    "txid_prefixes",
]

U64 = NDArray[np.uint64]
I64 = NDArray[np.int64]

INDEX_DIR = "index"
INDEX_KINDS: tuple[str, ...] = ("txid", "addr_key", "addr_out", "addr_in", "spend")
MAGIC = int.from_bytes(b"CSLKUP01", "little")
"""First header word of every index file (format 1)."""
HEADER_WORDS = 4
_NPY_PREFIX = b"{'descr': '<u8', 'fortran_order': False, 'shape': ("

_KNOWN_MAX = 1 << 16
_WINDOW = 256
_SCALAR_BATCH = 16
_M64 = (1 << 64) - 1
SCRIPT_KEY_SEED = 0x5C1E07
"""Seed of the 128-bit murmur3 script keys (``chainsleuth.ingest.kernels.script_keys``)."""


# -- keys ------------------------------------------------------------------------------------
def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _fmix(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _M64
    return k ^ (k >> 33)


def script_key(data: bytes, seed: int = SCRIPT_KEY_SEED) -> tuple[int, int]:
    """MurmurHash3 x64 128 of ``data`` as two words: the plain-Python twin of the ingest kernel
    ``script_keys`` (the ``outputs.script_key`` column is ``k0`` then ``k1``, little-endian).

    >>> [hex(w) for w in script_key(b"hello")]
    ['0x6465919768450aa2', '0xd3768d7b71ca4cf8']
    """
    c1, c2 = 0x87C37B91114253D5, 0x4CF5AD432745937F
    h1 = h2 = seed
    n = len(data)
    blocks = n // 16
    for i in range(blocks):
        k1 = int.from_bytes(data[16 * i : 16 * i + 8], "little")
        k2 = int.from_bytes(data[16 * i + 8 : 16 * i + 16], "little")
        h1 ^= (_rotl((k1 * c1) & _M64, 31) * c2) & _M64
        h1 = (((_rotl(h1, 27) + h2) & _M64) * 5 + 0x52DCE729) & _M64
        h2 ^= (_rotl((k2 * c2) & _M64, 33) * c1) & _M64
        h2 = (((_rotl(h2, 31) + h1) & _M64) * 5 + 0x38495AB5) & _M64
    tail = data[16 * blocks :]
    if len(tail) > 8:
        h2 ^= (_rotl((int.from_bytes(tail[8:], "little") * c2) & _M64, 33) * c1) & _M64
    if tail:
        h1 ^= (_rotl((int.from_bytes(tail[:8], "little") * c1) & _M64, 31) * c2) & _M64
    h1 ^= n
    h2 ^= n
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    h1, h2 = _fmix(h1), _fmix(h2)
    h1 = (h1 + h2) & _M64
    return h1, (h2 + h1) & _M64


def address_key(address: str, network: Network) -> tuple[int, int] | None:
    """The 128-bit key the ``addr_key`` index holds for ``address``; None when it cannot name
    an output on ``network`` (so it is in no dataset of that network).

    >>> from chainsleuth.chain.network import get_network
    >>> net = get_network("regtest")
    >>> script = address_to_script("bcrt1q5308qu3ejczty83g4ghe2n23kzulh66wz4wnm2", net)
    >>> address_key("bcrt1q5308qu3ejczty83g4ghe2n23kzulh66wz4wnm2", net) == script_key(script)
    True
    >>> address_key("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", net) is None  # a mainnet address
    True
    """
    if address.startswith("ms:"):
        return script_key(address.encode())
    if address.startswith("pk:"):
        try:
            key = bytes.fromhex(address[3:])
        except ValueError:
            return None
        if len(key) not in (33, 65):
            return None
        return script_key(bytes((len(key),)) + key + b"\xac")
    try:
        return script_key(address_to_script(address, network))
    except InputError:
        return None


def txid_prefixes(txids: pa.Array | pa.ChunkedArray) -> U64:
    """The first 8 bytes of each 32-byte txid as a big-endian number (``uint64``).

    >>> txid_prefixes(pa.array([bytes(range(32))], pa.binary(32))).tolist() == [0x0001020304050607]
    True
    """
    arr = txids.combine_chunks() if isinstance(txids, pa.ChunkedArray) else txids
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    flat = np.frombuffer(arr.buffers()[1], dtype=np.uint8)[arr.offset * 32 : (arr.offset + n) * 32]
    return flat.reshape(n, 32)[:, :8].copy().view(">u8").ravel().astype(np.uint64)


def _bits(rows: int) -> int:
    """Low bits that hold any offset below ``rows`` (at least 1)."""
    return max(1, int(rows).bit_length())


def pack_keys(high: U64, offsets: I64, bits: int) -> U64:
    """Sorted keys ``high << bits | offset`` (8 bytes per row); ``high`` must fit the rest.

    >>> pack_keys(np.array([5, 2], np.uint64), np.array([0, 3]), 2).tolist()
    [11, 20]
    """
    high = np.asarray(high, dtype=np.uint64)
    off = np.asarray(offsets, dtype=np.int64)
    if high.size and int(high.max()) >> (64 - bits):
        raise DatasetError(f"index key {int(high.max())} does not fit {64 - bits} bits")
    if off.size and (int(off.min()) < 0 or int(off.max()) >> bits):
        raise DatasetError(f"index offset out of range for {bits} bits")
    keys = (high << np.uint64(bits)) | off.astype(np.uint64)
    keys.sort()
    return keys


# -- building --------------------------------------------------------------------------------
def partition_index_files(name: str) -> list[str]:
    """The index files (paths relative to the dataset) of the partition whose parts are named
    ``name``: what :func:`build_partition_indexes` writes and a manifest must keep listing.

    >>> partition_index_files("h000000000-000000999.parquet")[0]
    'index/txid/h000000000-000000999.npy'
    """
    return [index_file_name(kind, name) for kind in INDEX_KINDS]


def index_file_name(kind: str, name: str) -> str:
    """Path (relative to the dataset) of the ``kind`` index of part ``name``.

    >>> index_file_name("txid", "h000001000-000001999.parquet")
    'index/txid/h000001000-000001999.npy'
    """
    stem = name[: -len(".parquet")] if name.endswith(".parquet") else name
    return f"{INDEX_DIR}/{kind}/{stem}.npy"


BUILD_BUDGET = 256 << 20
"""Default byte budget of :func:`build_partition_indexes` (the ingest passes the work share of
its memory plan, idle at a partition's end)."""
_READ_ROWS = 65_536
"""The most rows per Parquet batch read."""
_READ_BYTES = 128
"""Budgeted bytes per row of a batch being read: its columns (at most a txid and an id) and
the key temporaries made from them."""
_BUFFER = 1 << 20
"""Bytes of Parquet read buffer per column read."""
_SLICE_ROWS = 1 << 18
"""Keys per slice when ``addr_key``'s second words are gathered in key order."""
_RUN_BYTES = (8, 16)
"""Bytes per row of a sort buffer: a key (and ``addr_key``'s second word)."""
_MERGE_BYTES = (24, 64)
"""Bytes per row of a merge window: the runs' blocks, their concatenation and its sort (and
for ``addr_key`` the second words, the order and both gathered)."""


def build_partition_indexes(
    data: Path | str, name: str, budget: int = BUILD_BUDGET
) -> dict[str, str]:
    """Write the index files of one partition's parts; returns ``{relative path: sha256}``.

    ``name`` is the partition's part name (``h000001000-000001999.parquet``); the parts
    ``tables/{txs,outputs,inputs,spends,addresses}/<name>`` must be closed. Same parts, same
    bytes: a partition redone after a crash gets identical files (each replaced atomically),
    whatever ``budget``.

    Memory is bounded by ``budget`` bytes (plus the Parquet reader's buffers of one row group
    per column read, and one row group of the ``outputs`` script keys, 4 MiB). Two kinds are
    built at a time, in two threads, each within half the budget (txid, spend, addr_in in one;
    addr_out then addr_key in the other: on two cores the build takes ~half the wall time),
    reading only its columns, in batches of at most ``budget / 1024`` rows (65,536;
    ``_READ_BYTES`` = 128 B budgeted per row read). Its keys go into a sort buffer of
    **8 B per key** (``addr_key``: **16 B**, the key and its second word) holding
    ``(budget / 2 - batch) / 8`` (``/ 16``) keys:

    ========  ==================================  ====================  =============
    kind      keys (rows)                         reads                 B/key in RAM
    ========  ==================================  ====================  =============
    txid      transactions                        txs tx_id, txid       8
    addr_out  outputs with an address             outputs out_id,       8
                                                  addr_id
    addr_key  addresses first seen                addresses addr_id,    16
                                                  first_out_id
                                                  (address if bare
                                                  multisig); outputs
                                                  script_key by row
                                                  group
    addr_in   inputs with an address              inputs addr_id        8
    spend     spends                              spends out_id, tx_id  8
    ========  ==================================  ====================  =============

    A kind whose keys fit the buffer is sorted in place and written. Beyond it, each full
    buffer is sorted and written as a run under ``DATASET/_tmp/lookup-<pid>-*`` (deleted at
    the end; 8 or 16 B per key on disk), then the runs are merged into the file through a
    window of ``budget / 48`` keys (``budget / 128`` for ``addr_key``: the blocks read from the
    runs, their concatenation, its order and the gathered words). A 2 M-transaction partition
    (5.2 M outputs, 4 M addresses) is built in RAM within 144 MiB (72 MiB a kind); within 64 MiB
    (the work share of a 512M ingest) its bigger kinds are merged from runs. The old build held
    every kind's columns and keys at once: ~1.2 GiB for that partition.
    """
    data = Path(data)
    name = name if name.endswith(".parquet") else name + ".parquet"
    tables = data / "tables"
    spill = _Spill(data / "_tmp")
    half = budget // 2  # two kinds are built at once, each within half the budget

    def from_transactions() -> None:
        first_tx, n_tx = _build_txid(
            tables / "txs" / name, data / index_file_name("txid", name), half, spill
        )
        _build_spend(
            tables / "spends" / name,
            first_tx,
            n_tx,
            data / index_file_name("spend", name),
            half,
            spill,
        )
        _build_owner(
            tables / "inputs" / name, None, data / index_file_name("addr_in", name), half, spill
        )

    def from_outputs() -> None:
        first_out = _build_owner(
            tables / "outputs" / name,
            "out_id",
            data / index_file_name("addr_out", name),
            half,
            spill,
        )
        _build_addr_key(
            tables / "addresses" / name,
            tables / "outputs" / name,
            first_out,
            data / index_file_name("addr_key", name),
            half,
            spill,
        )

    try:
        # sorting and Parquet decoding release the GIL: the two chains share two cores
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="chainsleuth-index") as pool:
            for job in [pool.submit(from_transactions), pool.submit(from_outputs)]:
                job.result()
    finally:
        spill.close()
    files: dict[str, str] = {}
    for kind in INDEX_KINDS:
        rel = index_file_name(kind, name)
        files[rel] = sha256_file(data / rel)
    return files


def _ids(col: pa.Array | pa.ChunkedArray) -> I64:
    """An int64 column as numpy (nulls as 0)."""
    return np.asarray(numpy_of(col), dtype=np.int64)


class _Consecutive:
    """The first id of a part's dense id column, checked batch by batch: consecutive from
    there."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.first: int | None = None
        self.next = 0

    def add(self, ids: I64) -> None:
        if ids.size == 0:
            return
        if self.first is None:
            self.first = self.next = int(ids[0])
        if int(ids[0]) != self.next or (ids.size > 1 and bool((np.diff(ids) != 1).any())):
            raise DatasetError(f"{self.what} ids of a part are not consecutive")
        self.next += int(ids.size)

    @property
    def base(self) -> int:
        """The first id (0 for an empty part)."""
        return 0 if self.first is None else self.first


_SPILL_LOCK = threading.Lock()


@dataclass(slots=True)
class _Spill:
    """A scratch folder for sorted runs, made on first use, removed by :meth:`close`."""

    root: Path
    folder: Path | None = None
    count: int = 0

    def new(self) -> Path:
        with _SPILL_LOCK:  # two index kinds are built at once
            if self.folder is None:
                self.folder = make_scratch_folder(self.root, "lookup")
            self.count += 1
            return self.folder / f"run-{self.count:06d}.u64"

    def close(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def _parquet(path: Path, dictionary: tuple[str, ...] = ()) -> pq.ParquetFile:
    """A part opened for streaming: pages read through a 1 MiB buffer, not the whole file's
    column chunks buffered ahead (pyarrow's default: 71 MiB of pool for a 2 M-tx ``txs``
    part read 65,536 rows at a time, 9 MiB this way)."""
    return pq.ParquetFile(
        path, read_dictionary=list(dictionary) or None, pre_buffer=False, buffer_size=_BUFFER
    )


def _read_rows(budget: int) -> int:
    """Rows per Parquet batch under ``budget`` (at most a quarter of it)."""
    return max(1, min(_READ_ROWS, budget // (4 * _READ_BYTES)))


def _put(fh: BinaryIO, words: U64) -> None:
    fh.write(np.ascontiguousarray(words, dtype="<u8").data)


def _get(path: Path, start: int, count: int) -> U64:
    """``count`` words of ``path`` from word ``start``."""
    with open(path, "rb") as fh:
        fh.seek(8 * start)
        words = np.fromfile(fh, dtype="<u8", count=count)
    if words.size != count:
        raise DatasetError(f"truncated sort run: {path}")
    return words.astype(np.uint64, copy=False)


class _Sorter:
    """Keys ``high << bits | offset`` (and with ``extra`` one more word each) sorted in a
    buffer of ``cap`` rows, in runs on disk when more come, written as an index file by
    :meth:`finish`. The extra words must be added in offset order from 0 (``addr_key``: a
    key's offset is its address's row), so a sorted key finds its word by its offset.
    """

    def __init__(self, bits: int, cap: int, spill: _Spill, extra: bool = False) -> None:
        self.bits = bits
        self.mask = np.uint64((1 << bits) - 1)
        self.cap = max(1, cap)
        self.keys: U64 = np.empty(self.cap, dtype=np.uint64)
        self.extra: U64 | None = np.empty(self.cap, dtype=np.uint64) if extra else None
        self.fill = 0
        self.start = 0  # rows in the runs so far
        self.spill = spill
        self.runs: list[tuple[Path, int]] = []

    def add(self, high: U64, offsets: I64, extra: U64 | None = None) -> None:
        high = np.asarray(high, dtype=np.uint64)
        off = np.asarray(offsets, dtype=np.int64)
        if high.size == 0:
            return
        bits = self.bits
        if int(high.max()) >> (64 - bits):
            raise DatasetError(f"index key {int(high.max())} does not fit {64 - bits} bits")
        if int(off.min()) < 0 or int(off.max()) >> bits:
            raise DatasetError(f"index offset out of range for {bits} bits")
        i = 0
        while i < high.size:
            if self.fill == self.cap:
                self._spill_run()
            take = min(self.cap - self.fill, high.size - i)
            dst = self.keys[self.fill : self.fill + take]
            np.left_shift(high[i : i + take], np.uint64(bits), out=dst)
            dst |= off[i : i + take].astype(np.uint64)
            if self.extra is not None:
                assert extra is not None
                self.extra[self.fill : self.fill + take] = extra[i : i + take]
            self.fill += take
            i += take

    def _write_sorted(self, keys_out: BinaryIO, extra_out: BinaryIO) -> None:
        """Sort the buffer in place and write its keys (and, in key order, its extra words)."""
        keys = self.keys[: self.fill]
        keys.sort()
        _put(keys_out, keys)
        if self.extra is None:
            return
        for s in range(0, keys.size, _SLICE_ROWS):
            rows = (keys[s : s + _SLICE_ROWS] & self.mask).astype(np.int64) - self.start
            _put(extra_out, self.extra[rows])

    def _spill_run(self) -> None:
        path = self.spill.new()
        with open(path, "wb") as fh:
            self._write_sorted(fh, fh)  # the keys, then their words
        self.runs.append((path, self.fill))
        self.start += self.fill
        self.fill = 0

    def finish(self, path: Path, base: int, budget: int) -> None:
        """Write the index file ``path`` (header with ``base``) from the buffer or the runs."""
        width = 1 if self.extra is None else 2
        if not self.runs:
            with _IndexWriter(path, self.bits, base, self.fill, width) as (keys_out, extra_out):
                self._write_sorted(keys_out, extra_out)
            return
        if self.fill:
            self._spill_run()
        self.keys = self.extra = None  # type: ignore[assignment]
        n = sum(rows for _, rows in self.runs)
        with _IndexWriter(path, self.bits, base, n, width) as (keys_out, extra_out):
            _merge(self.runs, width == 2, budget // _MERGE_BYTES[width - 1], keys_out, extra_out)
        for run, _ in self.runs:
            run.unlink()


class _IndexWriter:
    """An index file written atomically: the ``.npy`` header and ``[MAGIC, bits, base, n]``,
    then two handles, on the keys and on the extra words (``width`` 2) that follow them."""

    def __init__(self, path: Path, bits: int, base: int, n: int, width: int) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + TMP_SUFFIX)
        self.words = [MAGIC, bits, base, n]
        self.n = n
        self.width = width
        self.handles: list[BinaryIO] = []

    def __enter__(self) -> tuple[BinaryIO, BinaryIO]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = open(self.tmp, "wb")
        self.handles.append(keys)
        shape = {
            "descr": "<u8",
            "fortran_order": False,
            "shape": (HEADER_WORDS + self.width * self.n,),
        }
        np.lib.format.write_array_header_1_0(keys, shape)
        _put(keys, np.array(self.words, dtype=np.uint64))
        if self.width == 1:
            return keys, keys
        keys.flush()
        extra = open(self.tmp, "r+b")
        self.handles.append(extra)
        extra.seek(keys.tell() + 8 * self.n)
        return keys, extra

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        try:
            for fh in self.handles:
                fh.flush()
            if kind is None:
                os.fsync(self.handles[0].fileno())
        finally:
            for fh in self.handles:
                fh.close()
        if kind is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def _merge(
    runs: list[tuple[Path, int]], extra: bool, rows: int, keys_out: BinaryIO, extra_out: BinaryIO
) -> None:
    """Merge sorted runs (keys, then their words) into the two outputs through a window of
    ``rows`` keys: a block of ``rows / len(runs)`` keys per run; each round writes every key up
    to the smallest last key of the blocks whose run has more (all of that block), sorted."""
    block = max(1, rows // len(runs))
    pos = [0] * len(runs)
    empty = np.zeros(0, dtype=np.uint64)
    kb = [empty] * len(runs)
    xb = [empty] * len(runs)
    while True:
        for i, (path, n) in enumerate(runs):
            if kb[i].size == 0 and pos[i] < n:
                count = min(block, n - pos[i])
                kb[i] = _get(path, pos[i], count)
                if extra:
                    xb[i] = _get(path, n + pos[i], count)
                pos[i] += count
        live = [i for i in range(len(runs)) if kb[i].size]
        if not live:
            return
        more = [int(kb[i][-1]) for i in live if pos[i] < runs[i][1]]
        cut = np.uint64(min(more)) if more else None
        kparts: list[U64] = []
        xparts: list[U64] = []
        for i in live:
            take = kb[i].size if cut is None else int(np.searchsorted(kb[i], cut, side="right"))
            kparts.append(kb[i][:take])
            kb[i] = kb[i][take:]
            if extra:
                xparts.append(xb[i][:take])
                xb[i] = xb[i][take:]
        keys = np.concatenate(kparts)
        del kparts
        if not extra:
            keys.sort(kind="stable")  # timsort: merges the sorted pieces
            _put(keys_out, keys)
            continue
        order = np.argsort(keys, kind="stable")
        _put(keys_out, keys[order])
        del keys
        words = np.concatenate(xparts)
        del xparts
        _put(extra_out, words[order])


def _build_txid(part: Path, out: Path, budget: int, spill: _Spill) -> tuple[int, int]:
    """The ``txid`` file; returns the partition's first tx_id and its number of txs."""
    pf = _parquet(part)
    n = pf.metadata.num_rows
    bits = _bits(n)
    reads = _read_rows(budget)
    sorter = _Sorter(bits, min(n, (budget - reads * _READ_BYTES) // _RUN_BYTES[0]), spill)
    ids = _Consecutive("tx")
    for batch in pf.iter_batches(batch_size=reads, columns=["tx_id", "txid"]):
        tx = _ids(batch.column("tx_id"))
        ids.add(tx)
        sorter.add(txid_prefixes(batch.column("txid")) >> np.uint64(bits), tx - ids.base)
    sorter.finish(out, ids.base, budget)
    return ids.base, n


def _build_owner(part: Path, id_column: str | None, out: Path, budget: int, spill: _Spill) -> int:
    """``addr_id << bits | row`` of the rows with an address (``addr_out`` with the outputs'
    ``out_id`` as base, ``addr_in`` with 0); returns the base."""
    pf = _parquet(part)
    n = pf.metadata.num_rows
    bits = _bits(n)
    reads = _read_rows(budget)
    sorter = _Sorter(bits, min(n, (budget - reads * _READ_BYTES) // _RUN_BYTES[0]), spill)
    ids = _Consecutive("output")
    columns = ["addr_id"] if id_column is None else [id_column, "addr_id"]
    row = 0
    for batch in pf.iter_batches(batch_size=reads, columns=columns):
        if id_column is not None:
            ids.add(_ids(batch.column(id_column)))
        owner = numpy_of(batch.column("addr_id"), -1)
        rows = np.flatnonzero(owner >= 0)
        sorter.add(owner[rows].astype(np.uint64), rows.astype(np.int64) + row)
        row += batch.num_rows
    sorter.finish(out, ids.base, budget)
    return ids.base


def _build_spend(
    part: Path, first_tx: int, n_tx: int, out: Path, budget: int, spill: _Spill
) -> None:
    """``spent out_id << bits | spending tx`` (offsets from ``first_tx``, ``bits`` for ``n_tx``)."""
    pf = _parquet(part)
    reads = _read_rows(budget)
    n = pf.metadata.num_rows
    sorter = _Sorter(_bits(n_tx), min(n, (budget - reads * _READ_BYTES) // _RUN_BYTES[0]), spill)
    for batch in pf.iter_batches(batch_size=reads, columns=["out_id", "tx_id"]):
        spent = _ids(batch.column("out_id")).astype(np.uint64)
        sorter.add(spent, _ids(batch.column("tx_id")) - first_tx)
    sorter.finish(out, first_tx, budget)


class _ScriptKeys:
    """The ``script_key`` words of chosen rows of an ``outputs`` part, read one row group at a
    time (the last one kept: rows asked for in ascending order read each group once)."""

    def __init__(self, part: Path) -> None:
        self.pf = _parquet(part)
        md = self.pf.metadata
        sizes = [md.row_group(g).num_rows for g in range(md.num_row_groups)]
        self.starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)
        self.group = -1
        self.words: NDArray[np.uint64] = np.zeros((0, 2), dtype=np.uint64)

    def _load(self, group: int) -> NDArray[np.uint64]:
        if group != self.group:
            self.words = np.zeros((0, 2), dtype=np.uint64)  # the previous group first
            col = self.pf.read_row_group(group, columns=["script_key"]).column(0)
            arr = col.combine_chunks()
            n = len(arr)
            flat = np.frombuffer(arr.buffers()[1], dtype="<u8")[
                arr.offset * 2 : (arr.offset + n) * 2
            ]
            self.words = flat.reshape(n, 2).astype(np.uint64, copy=False)
            self.group = group
        return self.words

    def take(self, rows: I64) -> tuple[U64, U64]:
        """``(k0, k1)`` of part rows ``rows``."""
        k0 = np.empty(rows.size, dtype=np.uint64)
        k1 = np.empty(rows.size, dtype=np.uint64)
        if rows.size == 0:
            return k0, k1
        if int(rows.min()) < 0 or int(rows.max()) >= int(self.starts[-1]):
            raise DatasetError("an address's first output is not in its partition's outputs")
        groups = np.searchsorted(self.starts, rows, side="right") - 1
        for g in np.unique(groups).tolist():
            sel = np.flatnonzero(groups == g)
            words = self._load(int(g))[rows[sel] - self.starts[g]]
            k0[sel] = words[:, 0]
            k1[sel] = words[:, 1]
        return k0, k1


def _has_multisig(pf: pq.ParquetFile, reads: int) -> bool:
    """Whether any row group's ``script_type`` dictionary names bare multisig."""
    return any(
        "multisig" in batch.column(0).dictionary.to_pylist()
        for batch in pf.iter_batches(batch_size=reads, columns=["script_type"])
    )


def _build_addr_key(
    part: Path, outputs: Path, first_out: int, out: Path, budget: int, spill: _Spill
) -> None:
    """``k0 << bits | address row``, then ``k1`` in key order: the script key of each new
    address's first output, or for bare multisig (``ms:`` pseudo-addresses) the murmur3 of the
    address string."""
    pf = _parquet(part, ("script_type",))
    n = pf.metadata.num_rows
    bits = _bits(n)
    reads = _read_rows(budget)
    cap = min(n, (budget - reads * _READ_BYTES) // _RUN_BYTES[1])
    sorter = _Sorter(bits, cap, spill, extra=True)
    ids = _Consecutive("address")
    keys = _ScriptKeys(outputs)
    multisig = n > 0 and _has_multisig(pf, reads)
    columns = ["addr_id", "first_out_id"] + (["address"] if multisig else [])
    for batch in pf.iter_batches(batch_size=reads, columns=columns):
        addr = _ids(batch.column("addr_id"))
        ids.add(addr)
        k0, k1 = keys.take(_ids(batch.column("first_out_id")) - first_out)
        if multisig:
            _multisig_keys(batch.column("address"), k0, k1)
        sorter.add(k0 >> np.uint64(bits), addr - ids.base, k1)
    sorter.finish(out, ids.base, budget)


def _multisig_keys(address: pa.Array, k0: U64, k1: U64) -> None:
    """Replace the keys of ``ms:`` pseudo-addresses by the murmur3 of the string."""
    multisig = np.flatnonzero(
        np.asarray(pc.starts_with(address, "ms:").to_numpy(zero_copy_only=False), dtype=bool)
    )
    if multisig.size == 0:
        return
    from chainsleuth.ingest.kernels import script_keys  # numba: the ingest has it loaded

    texts = [address[int(i)].as_py().encode() for i in multisig]
    lens = np.array([len(t) for t in texts], dtype=np.int64)
    offs = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    m0, m1 = script_keys(np.frombuffer(b"".join(texts), dtype=np.uint8), offs, lens)
    k0[multisig] = m0
    k1[multisig] = m1


# -- reading ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class IndexFile:
    """One memory-mapped index file: sorted ``keys`` (and ``extra`` for ``addr_key``)."""

    bits: int
    base: int
    keys: U64
    extra: U64 | None

    @classmethod
    def open(cls, path: Path, with_extra: bool) -> IndexFile:
        """Map ``path`` read-only (its pages are read only where a search touches them)."""
        with open(path, "rb") as fh:
            head = fh.read(10)
            if head[:6] != b"\x93NUMPY" or head[6] != 1:
                raise DatasetError(f"not an index file: {path}")
            hlen = int.from_bytes(head[8:10], "little")
            if not fh.read(hlen).startswith(_NPY_PREFIX):
                raise DatasetError(f"not an index file: {path}")
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        if hasattr(mmap, "MADV_RANDOM"):
            mm.madvise(mmap.MADV_RANDOM)  # a probe reads its page, not 128 KiB around it
        words = np.frombuffer(mm, dtype="<u8", offset=10 + hlen)
        if words.size < HEADER_WORDS or int(words[0]) != MAGIC:
            raise DatasetError(f"not an index file (bad header): {path}")
        bits, base, n = (int(w) for w in words[1:HEADER_WORDS])
        keys = words[HEADER_WORDS : HEADER_WORDS + n]
        extra = words[HEADER_WORDS + n : HEADER_WORDS + 2 * n] if with_extra else None
        if keys.size != n or (extra is not None and extra.size != n):
            raise DatasetError(f"truncated index file: {path}")
        return cls(bits, base, keys, extra)

    @property
    def mask(self) -> int:
        """The low bits holding the offset."""
        return (1 << self.bits) - 1

    def find_one(self, high: int) -> tuple[int, int]:
        """The ``[start, end)`` key rows whose high bits are ``high``: a :func:`lower_bound`,
        then a gallop over the (usually zero or one) matching keys."""
        keys = self.keys
        last = (high << self.bits) | self.mask
        start = lower_bound(keys, high << self.bits)
        n = int(keys.size)
        if start == n or int(keys[start]) > last:
            return start, start
        step = 1
        while start + step < n and int(keys[start + step]) <= last:
            step *= 2
        known = start + step // 2  # keys[known] <= last
        window = keys[known : min(start + step, n)]
        return start, known + int(np.searchsorted(window, np.uint64(last), side="right"))

    def find(self, high: U64) -> tuple[I64, I64]:
        """:meth:`find_one` for each value of ``high`` (vectorised for long batches)."""
        high = np.asarray(high, dtype=np.uint64)
        if high.size <= _SCALAR_BATCH:
            pairs = [self.find_one(int(h)) for h in high.tolist()]
            return (
                np.array([s for s, _ in pairs], dtype=np.int64),
                np.array([e for _, e in pairs], dtype=np.int64),
            )
        lo = high << np.uint64(self.bits)
        start = np.searchsorted(self.keys, lo, side="left").astype(np.int64)
        end = np.searchsorted(self.keys, lo | np.uint64(self.mask), side="right").astype(np.int64)
        return start, end

    def offsets(self, start: int, end: int) -> I64:
        """Offsets (low bits) of key rows ``start:end``."""
        return (self.keys[start:end] & np.uint64(self.mask)).astype(np.int64)


def lower_bound(keys: U64, target: int) -> int:
    """First position of sorted ``keys`` whose key is ``>= target`` (``keys.size`` if none).

    Interpolation narrows the range while it shrinks it at least fourfold (hashed keys: two or
    three probes for millions of keys, so a cold file costs a few page reads, not ``log2 n``),
    bisection otherwise (never worse than twice a binary search); the last ``_WINDOW`` keys are
    searched by ``np.searchsorted`` on a contiguous slice of the mapped file.

    >>> keys = np.arange(0, 20_000, 2, dtype=np.uint64)
    >>> [lower_bound(keys, t) for t in (0, 1, 2, 19_998, 19_999, 1 << 64)]
    [0, 1, 1, 9999, 10000, 10000]
    """
    n = int(keys.size)
    if n == 0 or target <= int(keys[0]):
        return 0
    if target > int(keys[n - 1]):
        return n
    lo, hi = 1, n - 1  # keys[lo - 1] < target <= keys[hi]
    k_lo, k_hi = int(keys[0]), int(keys[n - 1])
    bisect = False
    while hi - lo > _WINDOW:
        width = hi - lo
        if bisect:
            pos = lo + width // 2
        else:
            pos = lo + (target - k_lo) * width // max(k_hi - k_lo, 1)
            pos = min(max(pos, lo), hi - 1)
        k = int(keys[pos])
        if k < target:
            lo, k_lo = pos + 1, k
        else:
            hi, k_hi = pos, k
        bisect = not bisect and (hi - lo) * 4 > width
    return lo + int(np.searchsorted(keys[lo:hi], np.uint64(target), side="left"))


class Lookup:
    """Point lookups over a dataset's index files (those the manifest lists under ``index/``).

    :attr:`indexed` says whether every partition has every kind; the methods need it (callers
    fall back to SQL otherwise). Files are mapped on first use and kept for the object's life.
    :attr:`rows` reads rows by id (with ``con``, through DuckDB: :class:`PartRows`).
    """

    def __init__(
        self,
        data: Path,
        manifest: Manifest,
        network: Network,
        con: duckdb.DuckDBPyConnection | None = None,
    ) -> None:
        self.data = data
        self.manifest = manifest
        self.network = network
        self.rows = PartRows(data, manifest, con)
        self.partitions = list(manifest.partitions)
        names = [part_name(p.lo, manifest.partition_span) for p in self.partitions]
        self._paths = [{k: index_file_name(k, n) for k in INDEX_KINDS} for n in names]
        self.indexed = all(rel in manifest.files for ps in self._paths for rel in ps.values())
        self._open: dict[tuple[str, int], IndexFile] = {}
        self._known_tx: dict[bytes, int] = {}
        self.known: dict[str, int] = {}
        """Address strings read from the parts so far, with their ids (exact table spellings)."""

    def _file(self, kind: str, part: int) -> IndexFile:
        hit = self._open.get((kind, part))
        if hit is None:
            hit = IndexFile.open(self.data / self._paths[part][kind], kind == "addr_key")
            self._open[(kind, part)] = hit
        return hit

    def _require(self) -> None:
        if not self.indexed:
            raise DatasetError(f"dataset {self.data} has no lookup indexes")

    # -- rows by id (no index needed) ----------------------------------------------------------
    def addresses_of(self, addr_ids: I64 | Sequence[int]) -> list[str | None]:
        """Address strings of ``addr_ids`` (None for ids the dataset does not hold)."""
        ids = np.asarray(addr_ids, dtype=np.int64)
        t = self.rows.by_id("addresses", np.unique(ids), ["addr_id", "address"])
        found = dict(
            zip(t.column("addr_id").to_pylist(), t.column("address").to_pylist(), strict=True)
        )
        if len(self.known) > _KNOWN_MAX:
            self.known.clear()
        self.known.update((a, i) for i, a in found.items())
        return [found.get(i) for i in ids.tolist()]

    def txids_of(self, tx_ids: I64 | Sequence[int]) -> list[str | None]:
        """Txids (hex) of ``tx_ids`` (None for ids the dataset does not hold)."""
        ids = np.asarray(tx_ids, dtype=np.int64)
        t = self.rows.by_id("txs", np.unique(ids), ["tx_id", "txid"])
        pairs = zip(t.column("tx_id").to_pylist(), t.column("txid").to_pylist(), strict=True)
        found = {i: h.hex() for i, h in pairs}
        return [found.get(i) for i in ids.tolist()]

    # -- transactions ------------------------------------------------------------------------
    def tx_id(self, txid: bytes) -> int | None:
        """The tx_id of a txid (32 bytes, display order), or None. Every partition's ``txid``
        file is searched; each candidate is confirmed against the full txid in its part."""
        self._require()
        known = self._known_tx.get(txid)
        if known is not None:
            return known
        prefix = int.from_bytes(txid[:8], "big")
        for part in range(len(self.partitions)):
            f = self._file("txid", part)
            start, end = f.find_one(prefix >> f.bits)
            if end == start:
                continue
            cands = f.base + f.offsets(start, end)
            rows = self.rows.by_id("txs", cands, ["tx_id", "txid"])
            for tx_id, full in zip(
                rows.column("tx_id").to_pylist(), rows.column("txid").to_pylist(), strict=True
            ):
                if full == txid:
                    if len(self._known_tx) > _KNOWN_MAX:
                        self._known_tx.clear()
                    self._known_tx[txid] = int(tx_id)
                    return int(tx_id)
        return None

    def spenders(self, out_ids: I64) -> I64:
        """The tx_id spending each output (-1: unspent as of the tip), from the ``spend`` files
        of the output's partition on."""
        self._require()
        out_ids = np.asarray(out_ids, dtype=np.int64)
        result = np.full(out_ids.shape, -1, dtype=np.int64)
        if out_ids.size == 0:
            return result
        home = self.rows.part_of("outputs", out_ids)
        todo = np.flatnonzero(home >= 0)
        if todo.size == 0:
            return result
        for part in range(int(home[todo].min()), len(self.partitions)):
            f = self._file("spend", part)
            start, end = f.find(out_ids[todo].astype(np.uint64))
            hit = end > start
            if hit.any():
                keys = f.keys[start[hit]]
                result[todo[hit]] = f.base + (keys & np.uint64(f.mask)).astype(np.int64)
                todo = todo[~hit]
                if todo.size == 0:
                    break
        return result

    def spender_of(self, out_id: int) -> int | None:
        """The tx_id spending output ``out_id``, or None (unspent, or no such output)."""
        tx = int(self.spenders(np.array([out_id]))[0])
        return None if tx < 0 else tx

    # -- addresses ---------------------------------------------------------------------------
    def addr_id(self, address: str) -> int | None:
        """The addr_id of an address string (any spelling that decodes to the same output
        script, e.g. upper-case bech32), or None."""
        self._require()
        key = address_key(address, self.network)
        if key is None:
            return None
        for part in range(len(self.partitions)):
            f = self._file("addr_key", part)
            s, e = f.find_one(key[0] >> f.bits)
            if e == s:
                continue
            assert f.extra is not None
            match = np.flatnonzero(f.extra[s:e] == np.uint64(key[1]))
            if match.size:
                return f.base + int(f.offsets(s + int(match[0]), s + int(match[0]) + 1)[0])
        return None

    def _addr_parts(self, addr_id: int) -> range:
        """Partitions that can hold rows of ``addr_id``: its own (first seen) and later ones."""
        part = int(self.rows.part_of("addresses", np.array([addr_id]))[0])
        return range(part if part >= 0 else len(self.partitions), len(self.partitions))

    def outputs_of_addr(self, addr_id: int) -> I64:
        """The out_ids paying ``addr_id``, ascending."""
        self._require()
        found: list[I64] = []
        for part in self._addr_parts(addr_id):
            f = self._file("addr_out", part)
            start, end = f.find_one(addr_id)
            if end > start:
                found.append(f.base + f.offsets(start, end))
        return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)

    def inputs_of_addr(self, addr_id: int) -> list[tuple[int, I64]]:
        """``(partition, rows of its inputs part)`` of the inputs spending ``addr_id``'s
        outputs, in chain order."""
        self._require()
        found: list[tuple[int, I64]] = []
        for part in self._addr_parts(addr_id):
            f = self._file("addr_in", part)
            start, end = f.find_one(addr_id)
            if end > start:
                found.append((part, f.offsets(start, end)))
        return found
