"""Shared fixtures for tests/chain: real block data loaded once per session."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from chainsleuth.chain.compact import read_compact_size

DATA = Path(__file__).resolve().parents[1] / "data"
CORE_GETBLOCK = DATA / "regtest-core-a" / "getblock" / "blocks.jsonl.gz"
MAINNET_BLOCKS = DATA / "mainnet-blocks"
ADDRESS_VECTORS = DATA / "address-vectors"


@pytest.fixture(scope="session")
def core_regtest_blocks() -> list[dict[str, Any]]:
    """Every regtest-core-a block as Bitcoin Core's ``getblock <hash> 2`` printed it."""
    with gzip.open(CORE_GETBLOCK, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@dataclass
class BlockScripts:
    """The scripts of one raw block, in chain order."""

    script_sigs: list[bytes] = field(default_factory=list)
    output_scripts: list[bytes] = field(default_factory=list)


def parse_block_scripts(raw: bytes) -> BlockScripts:
    """Every scriptSig and output script of a raw serialized block (a minimal test-only parser)."""
    found = BlockScripts()
    n_tx, pos = read_compact_size(raw, 80)
    for _ in range(n_tx):
        pos += 4  # version
        has_witness = raw[pos] == 0 and raw[pos + 1] == 1
        if has_witness:
            pos += 2
        n_in, pos = read_compact_size(raw, pos)
        for _ in range(n_in):
            pos += 36  # previous outpoint
            script_len, pos = read_compact_size(raw, pos)
            found.script_sigs.append(raw[pos : pos + script_len])
            pos += script_len + 4  # scriptSig, sequence
        n_out, pos = read_compact_size(raw, pos)
        for _ in range(n_out):
            pos += 8  # value
            script_len, pos = read_compact_size(raw, pos)
            found.output_scripts.append(raw[pos : pos + script_len])
            pos += script_len
        if has_witness:
            for _ in range(n_in):
                n_items, pos = read_compact_size(raw, pos)
                for _ in range(n_items):
                    item_len, pos = read_compact_size(raw, pos)
                    pos += item_len
        pos += 4  # locktime
    assert pos == len(raw), "trailing bytes after the last transaction"
    return found


@pytest.fixture(scope="session")
def mainnet_scripts() -> dict[int, BlockScripts]:
    """Height → the scripts of that real mainnet block."""
    return {
        int(path.stem): parse_block_scripts(path.read_bytes())
        for path in sorted(MAINNET_BLOCKS.glob("*.bin"))
    }


@pytest.fixture(scope="session")
def mainnet_manifest() -> dict[int, dict[str, Any]]:
    """Height → that block's MANIFEST.json entry."""
    entries = json.loads((MAINNET_BLOCKS / "MANIFEST.json").read_text())
    return {entry["height"]: entry for entry in entries}
