"""Read Bitcoin Core's ``blk*.dat`` files: magic, XOR obfuscation, padding, truncated tails.

Core appends each block as ``magic (4) | size (4, LE) | block``; files are pre-allocated, so a
file ends in zero padding (which reads as the XOR key repeated when obfuscated). Since Core 28
every byte at file offset ``i`` is XORed with ``key[i % 8]`` from ``blocks/xor.dat``.

>>> from pathlib import Path
>>> from chainsleuth.chain.network import get_network
>>> files = BlockFiles.open(Path("tests/data/regtest-core-a/blocks"), get_network("regtest"))
>>> len(files.scan()) > 0
True
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numba import njit

from chainsleuth.chain.network import Network, network_for_magic
from chainsleuth.errors import InputError, NetworkMismatchError

__all__ = ["BlockFiles", "BlockRecord", "TruncatedBlockWarning", "find_blocks_dir"]

_BLK_NAME = re.compile(r"^blk(\d{5})\.dat$")
_NET_SUBDIRS = {
    "test": "testnet3",
    "testnet4": "testnet4",
    "signet": "signet",
    "regtest": "regtest",
}


class TruncatedBlockWarning(UserWarning):
    """A block record cut short at the end of a file (Core was writing it)."""


@dataclass(frozen=True, slots=True)
class BlockRecord:
    """Where one block lives: file index, byte offset of the block (after magic+size), size."""

    file_index: int
    offset: int
    size: int
    header: bytes


def find_blocks_dir(source: Path, network: Network) -> Path:
    """Resolve a blocks directory from a blocks dir or a Core datadir.

    >>> from chainsleuth.chain.network import get_network
    >>> find_blocks_dir(Path("tests/data/regtest-core-a"), get_network("regtest")).name
    'blocks'
    """
    if not source.exists():
        raise InputError(f"source does not exist: {source}")
    if not source.is_dir():
        raise InputError(f"source is not a directory: {source}")
    candidates = [source, source / "blocks"]
    sub = _NET_SUBDIRS.get(network.name)
    if sub:
        candidates.insert(0, source / sub / "blocks")
    for cand in candidates:
        if cand.is_dir() and any(_BLK_NAME.match(p.name) for p in cand.iterdir()):
            return cand
    raise InputError(f"no blk*.dat files in {source}")


@njit(cache=True)
def _is_padding(data, key, pos, count):  # type: ignore[no-untyped-def]
    """Are ``count`` bytes at ``pos`` pre-allocated padding?

    Core pre-allocates files with zeros written past the XOR layer, so after de-obfuscation the
    padding reads as the key (``key[i % 8]``); plain zeros are accepted too (no key, or a
    copy that was de-obfuscated as a whole).
    """
    zeros = True
    keyed = True
    for q in range(pos, pos + count):
        if data[q] != 0:
            zeros = False
        if data[q] != key[q % 8]:
            keyed = False
    return zeros or keyed


@njit(cache=True)
def _scan_records(data, magic, key, start):  # type: ignore[no-untyped-def]
    """Return (offsets, sizes, end_state, end_pos) of framed records in de-XORed ``data``.

    end_state: 0 clean end / padding, 1 truncated record at end_pos, 2 unknown magic at end_pos.
    """
    n = data.shape[0]
    offs = np.empty(n // 88 + 1, dtype=np.int64)
    sizes = np.empty(n // 88 + 1, dtype=np.int64)
    k = 0
    pos = start
    while pos + 8 <= n:
        if (
            data[pos] == magic[0]
            and data[pos + 1] == magic[1]
            and data[pos + 2] == magic[2]
            and data[pos + 3] == magic[3]
        ):
            size = (
                int(data[pos + 4])
                | (int(data[pos + 5]) << 8)
                | (int(data[pos + 6]) << 16)
                | (int(data[pos + 7]) << 24)
            )
            if size < 80 or pos + 8 + size > n:
                return offs[:k], sizes[:k], 1, pos
            offs[k] = pos + 8
            sizes[k] = size
            k += 1
            pos += 8 + size
        elif _is_padding(data, key, pos, 8):
            return offs[:k], sizes[:k], 0, pos
        else:
            return offs[:k], sizes[:k], 2, pos
    # fewer than 8 bytes left: padding is fine, anything else is a cut record header
    if pos < n and not _is_padding(data, key, pos, n - pos):
        return offs[:k], sizes[:k], 1, pos
    return offs[:k], sizes[:k], 0, pos


class BlockFiles:
    """The ``blk*.dat`` files of one blocks directory, de-obfuscated on read."""

    def __init__(self, directory: Path, network: Network, key: bytes, paths: list[Path]) -> None:
        self.directory = directory
        self.network = network
        self.key = key
        self.paths = paths
        self.truncated: list[str] = []
        self._handles: dict[int, BinaryIO] = {}

    @classmethod
    def open(cls, directory: Path, network: Network) -> BlockFiles:
        """Open a blocks directory (reads ``xor.dat`` when present)."""
        paths = sorted(p for p in directory.iterdir() if _BLK_NAME.match(p.name))
        if not paths:
            raise InputError(f"no blk*.dat files in {directory}")
        xor_path = directory / "xor.dat"
        key = b"\x00" * 8
        if xor_path.exists():
            key = _read_bytes(xor_path)
            if len(key) != 8:
                raise InputError(f"{xor_path}: expected an 8-byte XOR key, found {len(key)} bytes")
        return cls(directory, network, key, paths)

    def read_file(self, index: int) -> np.ndarray:
        """The whole de-obfuscated content of file ``index`` as ``uint8``."""
        path = self.paths[index]
        raw = _read_bytes(path)
        if self.key == b"\x00" * 8:
            return np.frombuffer(raw, dtype=np.uint8)
        return _xor(raw, self.key, 0)

    def scan(self) -> list[BlockRecord]:
        """Every complete block record in every file, in file order.

        Reads only each record's frame and header (88 bytes, then a seek past the block): a
        scan of the whole chain does not read its hundreds of gigabytes twice. A truncated last
        record is skipped with a :class:`TruncatedBlockWarning`; a file starting with another
        network's magic raises :class:`NetworkMismatchError`.
        """
        records: list[BlockRecord] = []
        for i, path in enumerate(self.paths):
            try:
                fh = open(path, "rb")  # noqa: SIM115
            except OSError as exc:
                raise InputError(f"cannot read {path}: {exc.strerror}") from None
            with fh:
                state, pos = self._scan_file(i, fh, records)
                if state == 2:
                    found = self._read_at(fh, pos, 4).hex()
                    raise InputError(
                        f"{path.name} offset {pos}: unexpected bytes {found} where a block "
                        f"record (magic {self.network.magic.hex()}) should start"
                    )
            if state == 1:
                msg = f"{path.name} offset {pos}: truncated block record skipped"
                self.truncated.append(msg)
                warnings.warn(msg, TruncatedBlockWarning, stacklevel=2)
        return records

    def _scan_file(self, i: int, fh: BinaryIO, records: list[BlockRecord]) -> tuple[int, int]:
        """Append the records of file ``i`` (open as ``fh``); returns ``(end_state, end_pos)``:
        0 clean end or padding, 1 truncated record at end_pos, 2 unknown bytes at end_pos."""
        path = self.paths[i]
        n = os.fstat(fh.fileno()).st_size
        if n >= 4:
            self._check_magic(path, self._read_at(fh, 0, 4))
        magic = self.network.magic
        pos = 0
        while pos + 8 <= n:
            head = self._read_at(fh, pos, min(88, n - pos))
            if head[:4] == magic:
                size = int.from_bytes(head[4:8], "little")
                if size < 80 or pos + 8 + size > n:
                    return 1, pos
                records.append(BlockRecord(i, pos + 8, size, head[8:88]))
                pos += 8 + size
            elif self._is_padding(head[:8], pos):
                return 0, pos
            else:
                return 2, pos
        # fewer than 8 bytes left: padding is fine, anything else is a cut record header
        if pos < n and not self._is_padding(self._read_at(fh, pos, n - pos), pos):
            return 1, pos
        return 0, pos

    def _is_padding(self, data: bytes, pos: int) -> bool:
        """Are these de-obfuscated bytes read at ``pos`` pre-allocated padding (zeros, or the
        key: Core writes the zeros past the XOR layer)?"""
        key = self.key
        return not any(data) or all(b == key[(pos + j) % 8] for j, b in enumerate(data))

    def _read_at(self, fh: BinaryIO, offset: int, size: int) -> bytes:
        """``size`` de-obfuscated bytes of the file ``fh`` at ``offset`` (fewer at its end)."""
        fh.seek(offset)
        raw = fh.read(size)
        if self.key == b"\x00" * 8:
            return raw
        return _xor(raw, self.key, offset).tobytes()

    def _check_magic(self, path: Path, head: bytes) -> None:
        if head == self.network.magic or head == b"\x00\x00\x00\x00":
            return
        other = network_for_magic(head)
        if other is not None:
            raise NetworkMismatchError(
                f"{path.name}: magic {head.hex()} is {other.name}, not {self.network.name} "
                f"(use --network {other.name})"
            )
        if self.key == b"\x00" * 8:
            raise InputError(
                f"{path.name}: unknown magic {head.hex()} (obfuscated files need blocks/xor.dat)"
            )
        raise InputError(f"{path.name}: unknown magic {head.hex()} after XOR with xor.dat")

    def read_block(self, rec: BlockRecord) -> bytes:
        """The de-obfuscated bytes of one block record."""
        handle = self._handle(rec.file_index)
        handle.seek(rec.offset)
        raw = handle.read(rec.size)
        if len(raw) != rec.size:
            raise InputError(f"{self.paths[rec.file_index].name} offset {rec.offset}: file shrank")
        if self.key == b"\x00" * 8:
            return raw
        return _xor(raw, self.key, rec.offset).tobytes()

    def _handle(self, index: int) -> BinaryIO:
        """File ``index``, opened once (InputError naming it when it cannot be read)."""
        handle = self._handles.get(index)
        if handle is None:
            try:
                handle = open(self.paths[index], "rb")  # noqa: SIM115
            except OSError as exc:
                raise InputError(f"cannot read {self.paths[index]}: {exc.strerror}") from None
            self._handles[index] = handle
        return handle

    def close(self) -> None:
        """Close the cached file handles."""
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()


def _xor(raw: bytes, key: bytes, file_offset: int) -> np.ndarray:
    """De-obfuscate ``raw`` read at ``file_offset``: byte i is XORed with key[(offset+i) % 8].

    >>> _xor(bytes(10), bytes(range(8)), 6).tolist()
    [6, 7, 0, 1, 2, 3, 4, 5, 6, 7]
    """
    shift = file_offset % 8
    word = np.frombuffer(key[shift:] + key[:shift], dtype=np.uint64)
    n = len(raw)
    padded = np.zeros((n + 7) // 8 * 8, dtype=np.uint8)
    padded[:n] = np.frombuffer(raw, dtype=np.uint8)
    padded.view(np.uint64)[:] ^= word[0]
    return padded[:n]


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
