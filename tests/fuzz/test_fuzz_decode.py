"""Fuzz the block / transaction decoder behind ``chainsleuth decode`` (chain/block.py, tx.py,
decode.py): mutated real blocks and transactions, length-field corruption, random bytes."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainsleuth.chain.block import Block
from chainsleuth.chain.decode import (
    block_to_core_json,
    decode_raw,
    dumps_core_json,
    tx_to_core_json,
)
from chainsleuth.chain.network import get_network
from chainsleuth.chain.tx import Tx
from chainsleuth.cli.decode import read_raw_input
from chainsleuth.errors import ChainsleuthError

from ._harness import (
    TIMEOUT,
    block_seeds,
    fuzz_settings,
    mutated_bytes,
    synthetic_block,
    tx_seeds,
    varint_positions,
)

NETWORKS = (get_network("main"), get_network("regtest"))

STRATEGY = st.one_of(
    mutated_bytes(block_seeds(), length_fields=lambda b: varint_positions(b, True)),
    mutated_bytes(tx_seeds(), length_fields=lambda b: varint_positions(b, False)),
    synthetic_block(),
    st.binary(max_size=400),
)


def check(data: bytes) -> None:
    """Decode ``data`` as ``chainsleuth decode --json`` would, on mainnet and regtest.

    Only project errors may escape; what parses must re-serialise to the same bytes.
    """
    for net in NETWORKS:
        try:
            decoded = decode_raw(data, net)
        except ChainsleuthError:
            continue
        assert decoded.serialize() == data
        if isinstance(decoded, Block):
            dumps_core_json(block_to_core_json(decoded, net, decoded.bip34_height()), indent=2)
            with contextlib.suppress(ChainsleuthError):
                decoded.check()
        else:
            dumps_core_json(tx_to_core_json(decoded, net))
    for parse in (Block.parse, Tx.parse):
        with contextlib.suppress(ChainsleuthError):
            parse(memoryview(data))
    if len(data) < 2048:  # the CLI's hex-string path
        with contextlib.suppress(ChainsleuthError):
            assert read_raw_input(data.hex()) == data or not data


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(ci_examples=300)
@given(STRATEGY)
def test_fuzz_decode(data: bytes) -> None:
    check(data)
