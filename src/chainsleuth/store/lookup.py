"""Point lookups without scans: sorted per-partition index files and the :class:`Lookup` over them.

The ingest calls :func:`build_partition_indexes` once a partition's parts are closed. It reads
those parts and writes one immutable file per kind under ``DATASET/index/<kind>/<part>.npy``
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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from chainsleuth.chain.address import address_to_script
from chainsleuth.chain.network import Network
from chainsleuth.errors import DatasetError, InputError
from chainsleuth.store.manifest import Manifest
from chainsleuth.store.parts import TMP_SUFFIX, part_name, sha256_file
from chainsleuth.store.rows import PartRows, numpy_of

__all__ = [
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


class _Built(NamedTuple):
    bits: int
    base: int
    keys: U64
    extra: U64 | None = None


def _read(path: Path, columns: list[str], dictionary: tuple[str, ...] = ()) -> pa.Table:
    return pq.ParquetFile(path, read_dictionary=list(dictionary)).read(columns=columns)


def _ids(col: pa.ChunkedArray) -> I64:
    """An int64 column without nulls as numpy."""
    return np.asarray(numpy_of(col), dtype=np.int64)


def _first(ids: I64, what: str) -> int:
    """The first id of a part's dense id column (checked: consecutive from there)."""
    first = int(ids[0]) if ids.size else 0
    if ids.size and (int(ids[-1]) != first + ids.size - 1 or (np.diff(ids) != 1).any()):
        raise DatasetError(f"{what} ids of a part are not consecutive")
    return first


def build_partition_indexes(data: Path | str, name: str) -> dict[str, str]:
    """Write the index files of one partition's parts; returns ``{relative path: sha256}``.

    ``name`` is the partition's part name (``h000001000-000001999.parquet``); the parts
    ``tables/{txs,outputs,inputs,spends,addresses}/<name>`` must be closed. Memory: the
    partition's key columns (about 50 bytes per output). Same parts, same bytes: a partition
    redone after a crash gets identical files (each replaced atomically).
    """
    data = Path(data)
    name = name if name.endswith(".parquet") else name + ".parquet"
    tables = data / "tables"
    txs = _read(tables / "txs" / name, ["tx_id", "txid"])
    outs = _read(tables / "outputs" / name, ["out_id", "addr_id", "script_key"])
    ins = _read(tables / "inputs" / name, ["addr_id"])
    spends = _read(tables / "spends" / name, ["out_id", "tx_id"])
    addrs = _read(
        tables / "addresses" / name, ["addr_id", "script_type", "first_out_id"], ("script_type",)
    )
    tx_ids = _ids(txs.column("tx_id"))
    first_tx = _first(tx_ids, "tx")
    out_ids = _ids(outs.column("out_id"))
    first_out = _first(out_ids, "output")
    addr_ids = _ids(addrs.column("addr_id"))
    first_addr = _first(addr_ids, "address")

    bits = _bits(tx_ids.size)
    prefix = txid_prefixes(txs.column("txid")) >> np.uint64(bits)
    txid = _Built(bits, first_tx, pack_keys(prefix, tx_ids - first_tx, bits))

    bits = _bits(addr_ids.size)
    k0, k1 = _address_keys(outs, addrs, first_out, tables / "addresses" / name)
    keys = pack_keys(k0 >> np.uint64(bits), addr_ids - first_addr, bits)
    # k1 follows the sorted keys: the offset in a key's low bits is its address's row
    addr_key = _Built(bits, first_addr, keys, k1[(keys & np.uint64((1 << bits) - 1)).astype(int)])

    spent = _ids(spends.column("out_id")).astype(np.uint64)
    bits = _bits(tx_ids.size)
    spend = _Built(bits, first_tx, pack_keys(spent, _ids(spends.column("tx_id")) - first_tx, bits))

    built = {
        "txid": txid,
        "addr_key": addr_key,
        "addr_out": _owner_index(outs.column("addr_id"), first_out),
        "addr_in": _owner_index(ins.column("addr_id"), 0),
        "spend": spend,
    }
    files: dict[str, str] = {}
    for kind in INDEX_KINDS:
        rel = index_file_name(kind, name)
        _write_index(data / rel, built[kind])
        files[rel] = sha256_file(data / rel)
    return files


def _owner_index(addr_col: pa.ChunkedArray, base: int) -> _Built:
    """``addr_id << bits | row`` of the rows with an address (``addr_out``, ``addr_in``)."""
    owner = numpy_of(addr_col, -1)
    rows = np.flatnonzero(owner >= 0).astype(np.int64)
    bits = _bits(owner.size)
    return _Built(bits, base, pack_keys(owner[rows].astype(np.uint64), rows, bits))


def _address_keys(
    outs: pa.Table, addrs: pa.Table, first_out: int, addr_part: Path
) -> tuple[U64, U64]:
    """Script keys of the partition's new addresses: the ``script_key`` of each one's first
    output, or for bare multisig (``ms:`` pseudo-addresses) the murmur3 of the address string.
    """
    if addrs.num_rows == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    col = outs.column("script_key").combine_chunks()
    flat = np.frombuffer(col.buffers()[1], dtype="<u8")[
        col.offset * 2 : (col.offset + len(col)) * 2
    ]
    rows = _ids(addrs.column("first_out_id")) - first_out
    words = flat.reshape(len(col), 2)[rows]
    k0 = words[:, 0].astype(np.uint64)
    k1 = words[:, 1].astype(np.uint64)
    types = addrs.column("script_type").chunks
    if not any("multisig" in chunk.dictionary.to_pylist() for chunk in types):
        return k0, k1
    address = _read(addr_part, ["address"]).column("address").combine_chunks()
    multisig = np.flatnonzero(
        np.asarray(pc.starts_with(address, "ms:").to_numpy(zero_copy_only=False), dtype=bool)
    )
    if multisig.size:
        from chainsleuth.ingest.kernels import script_keys  # numba: the ingest has it loaded

        texts = [address[int(i)].as_py().encode() for i in multisig]
        lens = np.array([len(t) for t in texts], dtype=np.int64)
        offs = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
        m0, m1 = script_keys(np.frombuffer(b"".join(texts), dtype=np.uint8), offs, lens)
        k0[multisig] = m0
        k1[multisig] = m1
    return k0, k1


def _write_index(path: Path, built: _Built) -> None:
    """``[MAGIC, bits, base, n] + keys (+ extra)`` as a ``.npy``, atomically."""
    header = np.array([MAGIC, built.bits, built.base, built.keys.size], dtype="<u8")
    extra = [] if built.extra is None else [built.extra]
    arr = np.concatenate([header, built.keys, *extra]).astype("<u8")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + TMP_SUFFIX)
    with open(tmp, "wb") as fh:
        np.save(fh, arr, allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


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
