"""Hashes and merkle trees against published vectors and real block headers."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainsleuth.chain.hashes import (
    _ripemd160,
    has_mutated_merkle,
    hash160,
    merkle_root,
    sha256,
    sha256d,
)

from .conftest import MAINNET_BLOCKS

# Genesis header (mainnet) and its well-known hash.
GENESIS_HEADER = bytes.fromhex(
    "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b2"
    "7ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c"
)
GENESIS_HASH = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"


def test_sha256_nist_vector() -> None:
    assert sha256(b"abc").hex() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_sha256d_of_genesis_header_is_genesis_hash() -> None:
    assert sha256d(GENESIS_HEADER)[::-1].hex() == GENESIS_HASH


def test_hash160_of_generator_pubkey() -> None:
    # The compressed secp256k1 generator point; its hash160 is BIP173's test program.
    pubkey = bytes.fromhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
    assert hash160(pubkey).hex() == "751e76e8199196d454941c45d1b3a323f1433bd6"


@pytest.mark.parametrize(
    ("message", "digest"),
    [  # from the RIPEMD-160 authors' published test vectors
        (b"", "9c1185a5c5e9fc54612808977ee8f548b2258d31"),
        (b"abc", "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc"),
        (b"message digest", "5d0689ef49d2fae572b881b123a85ffa21595f36"),
        (b"a" * 1000, "aa69deee9a8922e92f8105e007f76110f381e9cf"),
    ],
)
def test_pure_python_ripemd160_vectors(message: bytes, digest: str) -> None:
    assert _ripemd160(message).hex() == digest


@given(st.binary(max_size=200))
def test_pure_python_ripemd160_matches_hashlib(data: bytes) -> None:
    try:
        reference = hashlib.new("ripemd160", data).digest()
    except ValueError:
        pytest.skip("hashlib has no ripemd160 here")
    assert _ripemd160(data) == reference


def test_merkle_root_of_block_170_matches_header() -> None:
    # Block 170 (the first person-to-person payment) has two transactions with known txids.
    txids = [
        "b1fea52486ce0c62bb442b530a3f0132b826c74e473d1f2c220bfa78111c5082",
        "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16",
    ]
    header = (MAINNET_BLOCKS / "170.bin").read_bytes()[:80]
    root = merkle_root([bytes.fromhex(t)[::-1] for t in txids])
    assert root == header[36:68]
    assert root[::-1].hex() == "7dac2c5666815c17a3b36427de37bb9d2e2c5ccec3f8633eb91a4205cb4c10ff"


def test_merkle_root_single_and_empty() -> None:
    leaf = sha256d(b"x")
    assert merkle_root([leaf]) == leaf
    assert merkle_root([]) == bytes(32)


def test_mutated_merkle_detection() -> None:
    a, b, c = (sha256d(bytes([i])) for i in range(3))
    # [a, b, c] and [a, b, c, c] share a root; only the latter is a mutation.
    assert merkle_root([a, b, c]) == merkle_root([a, b, c, c])
    assert not has_mutated_merkle([a, b, c])
    assert has_mutated_merkle([a, b, c, c])
    assert not has_mutated_merkle([a])
