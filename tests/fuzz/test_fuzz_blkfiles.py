"""Fuzz the blk*.dat scanner (ingest/blkfiles.py): magic, size records, XOR obfuscation,
padding and truncated tails, from the real regtest ``blk00000.dat`` and its ``xor.dat``."""

from __future__ import annotations

import atexit
import shutil
import struct
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainsleuth.chain.block import BlockHeader
from chainsleuth.chain.network import get_network
from chainsleuth.errors import ChainsleuthError
from chainsleuth.ingest.blkfiles import BlockFiles, TruncatedBlockWarning, find_blocks_dir

from ._harness import TIMEOUT, fuzz_settings, mutated_bytes, regtest_blk_file, regtest_records, xor

REGTEST_MAGIC = b"\xfa\xbf\xb5\xda"


def _framed(blocks: list[bytes], padding: int) -> bytes:
    return b"".join(REGTEST_MAGIC + struct.pack("<I", len(b)) + b for b in blocks) + bytes(padding)


def _plain_seeds() -> tuple[bytes, ...]:
    """De-obfuscated file prefixes: a few whole records, then zero padding."""
    records = regtest_records()
    return (
        _framed(list(records[:3]), 64),
        _framed(list(records[100:104]), 0),
        _framed(list(records[200:202]), 13),
        _framed([max(records[:300], key=len)], 8),
    )


def _size_fields(plain: bytes) -> list[int]:
    fields, pos = [], 0
    while pos + 8 <= len(plain) and plain[pos : pos + 4] == REGTEST_MAGIC:
        fields.append(pos + 4)
        pos += 8 + struct.unpack_from("<I", plain, pos + 4)[0]
    return fields


@st.composite
def blk_case(draw: st.DrawFn) -> tuple[bytes, bytes | None, bytes | None]:
    """(blk00000.dat bytes, xor.dat bytes or None, a second file or None)."""
    seeds = _plain_seeds()
    plain = bytearray(draw(mutated_bytes(seeds, max_ops=4)))
    sizes = _size_fields(bytes(plain))
    if sizes and draw(st.booleans()):  # corrupt a record's size field
        at = draw(st.sampled_from(sizes))
        size = draw(st.one_of(st.integers(0, 100), st.integers(0, 2**32 - 1)))
        plain[at : at + 4] = struct.pack("<I", size)
    _, real_key = regtest_blk_file()
    key = draw(st.sampled_from([real_key, bytes(8), None, b"\x01" * 8, real_key[:5]]))
    data = xor(bytes(plain), key) if key is not None and len(key) == 8 else bytes(plain)
    if draw(st.integers(0, 4)) == 0:  # flip bytes after obfuscation as well
        data = draw(mutated_bytes((data,), max_ops=2))
    second = draw(st.one_of(st.none(), st.binary(max_size=120)))
    return data, key, second


STRATEGY = blk_case()
_DIRS: list[Path] = []


def _workdir() -> Path:
    if not _DIRS:
        path = Path(tempfile.mkdtemp(prefix="chainsleuth-fuzz-blk-"))
        atexit.register(shutil.rmtree, path, True)
        _DIRS.append(path)
    return _DIRS[0]


def check(case: tuple[bytes, bytes | None, bytes | None]) -> None:
    """Scan the files and read back every record: only project errors (and the truncated-record
    warning) may come out, every record must lie inside its file and read back whole."""
    data, key, second = case
    blocks = _workdir() / "blocks"
    shutil.rmtree(blocks, ignore_errors=True)
    blocks.mkdir()
    (blocks / "blk00000.dat").write_bytes(data)
    if key is not None:
        (blocks / "xor.dat").write_bytes(key)
    if second is not None:
        (blocks / "blk00001.dat").write_bytes(second)
    net = get_network("regtest")
    try:
        assert find_blocks_dir(blocks.parent, net) == blocks
        files = BlockFiles.open(blocks, net)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                warnings.simplefilter("ignore", TruncatedBlockWarning)
                records = files.scan()
            for rec in records:
                size = (data if rec.file_index == 0 else second or b"").__len__()
                assert rec.offset >= 8 and rec.offset + rec.size <= size
                assert rec.size >= 80
                raw = files.read_block(rec)
                assert len(raw) == rec.size and raw[:80] == rec.header
                BlockHeader.parse(rec.header)
        finally:
            files.close()
    except ChainsleuthError:
        pass


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(ci_examples=200)
@given(STRATEGY)
def test_fuzz_blkfiles(case: tuple[bytes, bytes | None, bytes | None]) -> None:
    check(case)
