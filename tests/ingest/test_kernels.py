"""The numba block walker and its plain-Python twin agree on every real mainnet block, and the
numba script classifier agrees with the reference classifier (itself checked against Core)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsleuth.chain.block import Block
from chainsleuth.chain.script import SCRIPT_TYPES, classify_script
from chainsleuth.ingest.kernels import (
    ERR_NONE,
    ERR_TRUNCATED,
    SCRIPT_DEFERRED,
    classify_one,
    classify_outputs,
    parse_blocks,
)
from chainsleuth.ingest.kernels_ref import parse_blocks_py

MAINNET = Path(__file__).parents[1] / "data" / "mainnet-blocks"
MANIFEST = {b["height"]: b for b in json.loads((MAINNET / "MANIFEST.json").read_text())}


@pytest.fixture(scope="module")
def all_blocks() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    heights = sorted(MANIFEST)
    raws = [(MAINNET / f"{h}.bin").read_bytes() for h in heights]
    buf = np.frombuffer(b"".join(raws), dtype=np.uint8)
    ends = np.cumsum([len(r) for r in raws])
    starts = ends - np.array([len(r) for r in raws])
    return buf, starts, ends, heights


def test_numba_and_python_walkers_agree_with_manifest(
    all_blocks: tuple[np.ndarray, np.ndarray, np.ndarray, list[int]],
) -> None:
    buf, starts, ends, heights = all_blocks
    fast = parse_blocks(buf, starts, ends)
    slow = parse_blocks_py(buf, starts, ends)
    assert fast[0] == slow[0] == ERR_NONE
    for a, b in zip(fast[3:], slow[3:], strict=True):
        np.testing.assert_array_equal(a, b)
    tx, inp, out = fast[3], fast[4], fast[5]
    for b, h in enumerate(heights):
        m = MANIFEST[h]
        sel = tx[:, 0] == b
        assert sel.sum() == m["n_tx"]
        assert tx[sel, 8].sum() == m["n_inputs"]
        assert tx[sel, 9].sum() == m["n_outputs"]
        first, last = tx[sel, 11][0], tx[sel, 11][-1] + tx[sel, 9][-1]
        assert out[first:last, 0].sum() == m["total_output_value_sats"]
        assert bool(tx[sel, 5].any()) == m["has_segwit"]
    assert inp.shape[0] == sum(m["n_inputs"] for m in MANIFEST.values())


def test_transaction_boundaries_match_the_object_parser(
    all_blocks: tuple[np.ndarray, np.ndarray, np.ndarray, list[int]],
) -> None:
    buf, starts, ends, heights = all_blocks
    tx = parse_blocks(buf, starts, ends)[3]
    raw = buf.tobytes()
    for b, h in enumerate(heights[:12]):
        block = Block.parse((MAINNET / f"{h}.bin").read_bytes())
        rows = tx[tx[:, 0] == b]
        for row, parsed in zip(rows, block.txs, strict=True):
            assert raw[row[1] : row[2]] == parsed.serialize()
            assert (row[6], row[7]) == (parsed.version, parsed.locktime)


def test_numba_classifier_equals_reference_on_every_output(
    all_blocks: tuple[np.ndarray, np.ndarray, np.ndarray, list[int]],
) -> None:
    buf, starts, ends, _ = all_blocks
    out = parse_blocks(buf, starts, ends)[5]
    codes = classify_outputs(buf, out[:, 1], out[:, 2])
    raw = buf.tobytes()
    seen = set()
    for o in range(out.shape[0]):
        script = raw[out[o, 1] : out[o, 1] + out[o, 2]]
        ref = classify_script(script)
        if codes[o] == SCRIPT_DEFERRED:
            assert script[-1] == 0xAE
        else:
            assert SCRIPT_TYPES[codes[o]] == ref, script.hex()
        seen.add(ref)
    assert {
        "pubkey",
        "pubkeyhash",
        "scripthash",
        "multisig",
        "nulldata",
        "nonstandard",
        "witness_v0_keyhash",
        "witness_v0_scripthash",
        "witness_v1_taproot",
    } <= seen


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_classifier_agrees_on_arbitrary_scripts(script: bytes) -> None:
    code = classify_one(np.frombuffer(script, dtype=np.uint8), 0, len(script)) if script else 0
    ref = classify_script(script)
    if code == SCRIPT_DEFERRED:
        assert script.endswith(b"\xae")
    else:
        assert SCRIPT_TYPES[code] == ref


def test_truncated_block_is_reported_by_both(
    all_blocks: tuple[np.ndarray, np.ndarray, np.ndarray, list[int]],
) -> None:
    raw = (MAINNET / "170.bin").read_bytes()[:-30]
    buf = np.frombuffer(raw, dtype=np.uint8)
    s, e = np.array([0]), np.array([len(raw)])
    assert parse_blocks(buf, s, e)[0] == parse_blocks_py(buf, s, e)[0] == ERR_TRUNCATED
