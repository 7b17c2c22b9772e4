"""Writes blocks as Bitcoin Core does: ``blk%05d.dat`` files of magic + size + block records.

With an XOR key (Core ≥ 28's ``-blocksxor``), every byte at file offset i is XORed with
``key[i % 8]`` and the key is stored in ``xor.dat``; without one no ``xor.dat`` is written.
A new file starts when the next record would pass ``max_file_size``.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> with BlockFileWriter(d, bytes.fromhex("fabfb5da"), bytes(range(1, 9))) as w:
...     w.write(b"\\x00" * 10)
(0, 8)
>>> raw = (d / "blk00000.dat").read_bytes()
>>> bytes(b ^ k for b, k in zip(raw[:4], bytes(range(1, 5)))).hex(), len(raw)
('fabfb5da', 18)
"""

from __future__ import annotations

import struct
from pathlib import Path
from types import TracebackType

import numpy as np

from chainsleuth.errors import InputError

__all__ = ["BlockFileWriter", "xor_bytes"]


def xor_bytes(data: bytes, key: bytes, offset: int) -> bytes:
    """``data`` XORed with ``key`` as if it sat at file ``offset`` (its own inverse).

    >>> xor_bytes(xor_bytes(b"hello", b"12345678", 3), b"12345678", 3)
    b'hello'
    """
    if not any(key):
        return data
    n = len(data)
    start = offset % 8
    pattern = np.frombuffer((key * (n // 8 + 2))[start : start + n], dtype=np.uint8)
    return (np.frombuffer(data, dtype=np.uint8) ^ pattern).tobytes()


class BlockFileWriter:
    """Appends block records to numbered blk files in ``directory`` (created if missing)."""

    def __init__(
        self, directory: Path, magic: bytes, xor_key: bytes | None, max_file_size: int = 128 << 20
    ) -> None:
        if xor_key is not None and len(xor_key) != 8:
            raise InputError(f"xor key must be 8 bytes, got {len(xor_key)}")
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.magic = magic
        self.key = xor_key or bytes(8)
        self.max_file_size = max_file_size
        self.file_index = 0
        self.offset = 0
        self.blocks_written = 0
        self.bytes_written = 0
        if xor_key is not None:
            (directory / "xor.dat").write_bytes(xor_key)
        self._fh = open(self._path(0), "wb")  # noqa: SIM115 - closed in close()

    def _path(self, index: int) -> Path:
        return self.directory / f"blk{index:05d}.dat"

    def write(self, block: bytes) -> tuple[int, int]:
        """Append one serialized block; returns (file index, offset of the block's data)."""
        record = self.magic + struct.pack("<I", len(block)) + block
        if self.offset and self.offset + len(record) > self.max_file_size:
            self._fh.close()
            self.file_index += 1
            self.offset = 0
            self._fh = open(self._path(self.file_index), "wb")  # noqa: SIM115
        self._fh.write(xor_bytes(record, self.key, self.offset))
        where = (self.file_index, self.offset + 8)
        self.offset += len(record)
        self.blocks_written += 1
        self.bytes_written += len(record)
        return where

    def close(self) -> None:
        """Flush and close the current file."""
        self._fh.close()

    def __enter__(self) -> BlockFileWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
