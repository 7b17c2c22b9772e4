"""CompactSize: hand-computed encodings, Core's canonical-form rule, real block counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainsleuth.chain.compact import (
    compact_size_length,
    encode_compact_size,
    read_compact_size,
)
from chainsleuth.errors import BlockDataError, InputError

MAINNET = Path(__file__).resolve().parents[1] / "data" / "mainnet-blocks"

# (value, encoding) pairs worked out by hand from the CompactSize layout
BOUNDARIES = [
    (0, "00"),
    (1, "01"),
    (0xFC, "fc"),
    (0xFD, "fdfd00"),
    (0xFFFF, "fdffff"),
    (0x10000, "fe00000100"),
    (0xFFFFFFFF, "feffffffff"),
    (0x100000000, "ff0000000001000000"),
    (2**64 - 1, "ffffffffffffffffff"),
]


@pytest.mark.parametrize(("value", "hex_encoding"), BOUNDARIES)
def test_boundary_values_encode_and_decode(value: int, hex_encoding: str) -> None:
    raw = bytes.fromhex(hex_encoding)
    assert encode_compact_size(value) == raw
    assert compact_size_length(value) == len(raw)
    assert read_compact_size(raw, 0) == (value, len(raw))


def test_reads_at_an_offset_inside_a_memoryview() -> None:
    buf = memoryview(bytes.fromhex("aabbfd2301cc"))
    assert read_compact_size(buf, 2) == (0x0123, 5)


@pytest.mark.parametrize(
    "hex_encoding",
    ["fdfc00", "fd0000", "feffff0000", "fe00000000", "ffffffffff00000000", "ff0000000000000000"],
)
def test_non_canonical_forms_are_rejected_naming_the_offset(hex_encoding: str) -> None:
    raw = b"\x00\x00\x00" + bytes.fromhex(hex_encoding)
    with pytest.raises(BlockDataError, match=r"non-canonical .*offset 3"):
        read_compact_size(raw, 3)


@pytest.mark.parametrize("hex_encoding", ["", "fd", "fd01", "fe010000", "ff01020304050607"])
def test_truncated_input_is_rejected_naming_the_offset(hex_encoding: str) -> None:
    raw = b"\x07" + bytes.fromhex(hex_encoding)
    with pytest.raises(BlockDataError, match=r"truncated .*offset 1"):
        read_compact_size(raw, 1)


@pytest.mark.parametrize("value", [-1, 2**64])
def test_out_of_range_values_cannot_be_encoded(value: int) -> None:
    with pytest.raises(InputError, match=str(value)):
        encode_compact_size(value)


@given(st.integers(min_value=0, max_value=2**64 - 1), st.binary(max_size=8))
def test_round_trip_with_trailing_bytes(value: int, tail: bytes) -> None:
    raw = encode_compact_size(value)
    assert len(raw) == compact_size_length(value)
    assert read_compact_size(raw + tail, 0) == (value, len(raw))


@given(st.binary(min_size=1, max_size=9))
def test_any_bytes_decode_to_their_canonical_form_or_raise(raw: bytes) -> None:
    try:
        value, end = read_compact_size(raw, 0)
    except BlockDataError:
        return
    assert encode_compact_size(value) == raw[:end]


def test_transaction_counts_of_real_blocks_match_the_manifest() -> None:
    manifest = {e["height"]: e for e in json.loads((MAINNET / "MANIFEST.json").read_text())}
    for height, entry in manifest.items():
        raw = (MAINNET / f"{height}.bin").read_bytes()
        n_tx, after = read_compact_size(raw, 80)
        assert n_tx == entry["n_tx"], height
        assert after == 80 + compact_size_length(n_tx)
