"""The batched SHA-256 kernels, both of them (libcrypto through numba, and the lane-parallel
fallback), agree with hashlib (digests), with ``chain.hashes.merkle_root_mutated`` (merkle roots
and the CVE-2012-2459 flag) and, on every real mainnet block, the batched txids / wtxids agree
with hashlib over the reference walker's offsets and with each block's header merkle root and
the Block object model."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsleuth.chain.block import Block
from chainsleuth.chain.hashes import merkle_root_mutated
from chainsleuth.ingest import sha256native
from chainsleuth.ingest.kernels import parse_blocks
from chainsleuth.ingest.sha256lanes import (
    bytes_to_words,
    merkle_roots,
    sha256d_many,
    sha256d_pieces,
    words_to_bytes,
)
from chainsleuth.ingest.txids import hash_txid_words, hash_txids

MAINNET = Path(__file__).parents[1] / "data" / "mainnet-blocks"


KERNELS = ("libcrypto", "lanes")


def _sha256d(b: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


@contextmanager
def _kernel(name: str) -> Iterator[None]:
    """Hash through ``name``: libcrypto (this machine has it) or the lanes."""
    saved = sha256native.FUNCTIONS
    assert saved is not None, "libcrypto's SHA256_* not found: the fast path is off"
    sha256native.FUNCTIONS = saved if name == "libcrypto" else None
    try:
        yield
    finally:
        sha256native.FUNCTIONS = saved


def test_the_library_path_is_refused_when_forced_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAINSLEUTH_SHA256", "lanes")
    assert sha256native._library_functions() is None
    monkeypatch.delenv("CHAINSLEUTH_SHA256")
    fns = sha256native._library_functions()
    assert fns is not None and sha256native._checked(fns) is fns
    assert sha256native._checked(None) is None


@pytest.mark.parametrize("kernel", KERNELS)
@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=300))
def test_sha256d_many_matches_hashlib(kernel: str, msgs: list[bytes]) -> None:
    buf = np.frombuffer(b"".join(msgs) + b"\0", np.uint8)  # a non-empty buffer
    lens = np.array([len(m) for m in msgs], np.int64)
    starts = np.cumsum(lens) - lens
    with _kernel(kernel):
        got = words_to_bytes(sha256d_many(buf, starts, lens))
    assert [bytes(d) for d in got] == [_sha256d(m) for m in msgs]


@pytest.mark.parametrize("kernel", KERNELS)
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=90), st.binary(max_size=200), st.binary(max_size=90)),
                max_size=80))  # fmt: skip
def test_sha256d_pieces_hashes_the_concatenation(
    kernel: str, msgs: list[tuple[bytes, bytes, bytes]]
) -> None:
    # the pieces are laid out in reverse order in the buffer: reading them must follow `pieces`
    flat = b""
    pieces = np.zeros((len(msgs), 6), np.int64)
    for i, parts in enumerate(msgs):
        for p in (2, 1, 0):
            pieces[i, 2 * p] = len(flat)
            pieces[i, 2 * p + 1] = len(parts[p])
            flat += parts[p]
    with _kernel(kernel):
        got = words_to_bytes(sha256d_pieces(np.frombuffer(flat + b"\0", np.uint8), pieces))
    assert [bytes(d) for d in got] == [_sha256d(a + b + c) for a, b, c in msgs]


@pytest.mark.parametrize("kernel", KERNELS)
@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 5), max_size=40), max_size=12),
)
def test_merkle_roots_match_reference_with_mutation_flag(
    kernel: str, trees: list[list[int]]
) -> None:
    # leaves drawn from 6 distinct hashes: identical siblings (mutations) are frequent
    pool = [_sha256d(bytes([k])) for k in range(6)]
    leaves = [[pool[k] for k in tree] for tree in trees]
    flat = [h for tree in leaves for h in tree]
    words = (
        bytes_to_words(np.frombuffer(b"".join(flat), np.uint8).reshape(-1, 32))
        if flat
        else np.zeros((0, 8), np.uint32)
    )
    count = np.array([len(t) for t in leaves], np.int64)
    first = np.cumsum(count) - count
    with _kernel(kernel):
        roots, mutated = merkle_roots(words, first, count)
    for b, tree in enumerate(leaves):
        root, mut = merkle_root_mutated(tree)
        assert bytes(words_to_bytes(roots[b : b + 1])[0]) == root
        assert bool(mutated[b]) == mut


@pytest.mark.parametrize("kernel", KERNELS)
def test_txids_of_real_blocks_match_hashlib_and_headers(kernel: str) -> None:
    with _kernel(kernel):
        _check_real_blocks()


def _check_real_blocks() -> None:
    raws = [p.read_bytes() for p in sorted(MAINNET.glob("*.bin"), key=lambda p: int(p.stem))]
    raw = b"".join(raws)
    buf = np.frombuffer(raw, np.uint8)
    ends = np.cumsum([len(r) for r in raws])
    starts = ends - np.array([len(r) for r in raws])
    tx = parse_blocks(buf, starts, ends)[3]
    txids, wtxids = hash_txids(raw, tx)
    plain, _ = hash_txids(raw, tx, wtxids=False)
    assert plain == txids
    assert bool(tx[:, 5].any())  # the fixture has SegWit blocks
    for t in range(tx.shape[0]):
        s, e, io0, io1, wit = (int(x) for x in tx[t, 1:6])
        stripped = raw[s : s + 4] + raw[io0:io1] + raw[e - 4 : e] if wit else raw[s:e]
        assert txids[32 * t : 32 * t + 32] == _sha256d(stripped)
        assert wtxids[32 * t : 32 * t + 32] == _sha256d(raw[s:e])
    words, _ = hash_txid_words(buf, tx)
    count = np.bincount(tx[:, 0], minlength=len(raws))
    roots, mutated = merkle_roots(words, np.cumsum(count) - count, count)
    assert not mutated.any()
    for b, r in enumerate(raws):
        assert bytes(words_to_bytes(roots[b : b + 1])[0]) == r[36:68]
        block = Block.parse(r)
        first = int(np.cumsum(count)[b] - count[b])
        assert [t.txid for t in block.txs] == [
            bytes(txids[32 * i : 32 * i + 32])[::-1] for i in range(first, first + count[b])
        ]
