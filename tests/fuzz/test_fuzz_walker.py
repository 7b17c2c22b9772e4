"""Fuzz the ingest's numba block walker (ingest/kernels.py ``parse_blocks``) against its Python
twin, and the batch preparation that consumes its matrices (ingest/batch.py ``prepare_batch``).

Blocks are mutated real blocks; a regtest block that still parses after mutation is often
re-assembled (fresh merkle root, nonce ground for its easy target) so that the checks after the
walk see well-formed but unusual transactions too.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainsleuth.chain.block import Block
from chainsleuth.chain.hashes import sha256d
from chainsleuth.errors import ChainsleuthError
from chainsleuth.ingest.batch import BlockInput, prepare_batch
from chainsleuth.ingest.kernels import (
    ERR_BAD_FLAG,
    ERR_NONE,
    ERR_TRAILING,
    ERR_TRUNCATED,
    parse_blocks,
)
from chainsleuth.ingest.kernels_ref import parse_blocks_py

from ._harness import (
    TIMEOUT,
    block_seeds,
    fuzz_settings,
    mutated_bytes,
    synthetic_block,
    varint_positions,
)

_EASY_BITS = 0x207FFFFF


def _reassemble(raw: bytes) -> bytes:
    """A block over the same transactions with a correct merkle root and proof of work (regtest
    bits only), or ``raw`` unchanged when it does not parse."""
    try:
        block = Block.parse(raw)
        header = block.header
        if header.bits != _EASY_BITS or not block.txs:
            return raw
        return Block.build(
            header.prev_hash, block.txs, header.time, header.bits, header.version
        ).serialize()
    except (ChainsleuthError, OverflowError):
        return raw


BLOCK = mutated_bytes(block_seeds(), length_fields=lambda b: varint_positions(b, True))

STRATEGY = st.tuples(
    st.lists(st.one_of(BLOCK, synthetic_block(), st.binary(max_size=200)), min_size=1, max_size=3),
    st.booleans(),
)


def _check_matrices(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, res: tuple) -> None:  # type: ignore[type-arg]
    status, err_block, _, tx, inp, out = res
    assert status in (ERR_NONE, ERR_TRUNCATED, ERR_TRAILING, ERR_BAD_FLAG)
    n = buf.shape[0]
    for row in tx:
        b = row[0]
        assert starts[b] + 80 <= row[1] < row[2] <= ends[b]
        assert row[1] <= row[3] <= row[4] <= row[2]
        assert row[10] >= 0 and row[10] + row[8] <= inp.shape[0]
        assert row[11] >= 0 and row[11] + row[9] <= out.shape[0]
    for row in inp:
        assert row[0] >= 0 and row[0] + 36 <= n
        assert row[3] >= 0 and row[4] >= 0 and row[3] + row[4] <= n
    for row in out:
        assert row[1] >= 0 and row[2] >= 0 and row[1] + row[2] <= n
    if status != ERR_NONE:
        assert 0 <= err_block < starts.shape[0]


def check(case: tuple[list[bytes], bool]) -> None:
    """Walk the blocks with both walkers (same verdict, same matrices when both succeed), then
    prepare the batch: only BlockDataError may come out."""
    raws, reassemble = case
    if reassemble:
        raws = [_reassemble(r) for r in raws]
    joined = b"".join(raws)
    buf = np.frombuffer(joined, dtype=np.uint8)
    sizes = np.array([len(r) for r in raws], dtype=np.int64)
    ends = np.cumsum(sizes)
    starts = ends - sizes
    fast = parse_blocks(buf, starts, ends)
    _check_matrices(buf, starts, ends, fast)
    slow = parse_blocks_py(buf, starts, ends)
    assert fast[0] == slow[0]
    if fast[0] == ERR_NONE:
        for a, b in zip(fast[3:], slow[3:], strict=True):
            np.testing.assert_array_equal(a, b)
    blocks = [
        BlockInput(h, sha256d(r[:80])[::-1], r, "blk-fuzz.dat", 8 * (h + 1))
        for h, r in enumerate(raws)
    ]
    with contextlib.suppress(ChainsleuthError):
        prepare_batch(blocks)


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(ci_examples=200)
@given(STRATEGY)
def test_fuzz_walker(case: tuple[list[bytes], bool]) -> None:
    check(case)
