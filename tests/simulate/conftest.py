"""Shared fixtures: the tiny scenario simulated once per session (twice, for determinism)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from chainsleuth.chain.block import Block
from chainsleuth.simulate import load_scenario, simulate
from chainsleuth.simulate.blockwriter import xor_bytes

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "scenarios" / "tiny.yaml"
SEED = 11


@dataclass
class TinyRun:
    """One simulated tiny economy: output dir, parsed blocks and truth tables as pandas."""

    out: Path
    blocks: list[tuple[str, int, Block]]
    txs: object
    addresses: object
    entities: object
    payments: object


def read_blocks(blocks_dir: Path) -> list[tuple[str, int, Block]]:
    """Every block record of the blk files: (file name, data offset, block)."""
    key_path = blocks_dir / "xor.dat"
    key = key_path.read_bytes() if key_path.exists() else bytes(8)
    found = []
    for path in sorted(blocks_dir.glob("blk*.dat")):
        raw = xor_bytes(path.read_bytes(), key, 0)
        pos = 0
        while pos + 8 <= len(raw):
            assert raw[pos : pos + 4] == bytes.fromhex("fabfb5da"), (path, pos)
            (size,) = struct.unpack_from("<I", raw, pos + 4)
            found.append((path.name, pos + 8, Block.parse(raw[pos + 8 : pos + 8 + size])))
            pos += 8 + size
    return found


@pytest.fixture(scope="session")
def blk_reader() -> Callable[[Path], list[tuple[str, int, Block]]]:
    """The blk-file reader, for tests that simulate their own chain."""
    return read_blocks


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> TinyRun:
    out = tmp_path_factory.mktemp("tiny") / "sim"
    simulate(load_scenario(TINY), out, seed=SEED)
    truth = out / "truth"
    return TinyRun(
        out=out,
        blocks=read_blocks(out / "blocks"),
        txs=pq.read_table(truth / "txs.parquet").to_pandas(),
        addresses=pq.read_table(truth / "addresses.parquet").to_pandas(),
        entities=pq.read_table(truth / "entities.parquet").to_pandas(),
        payments=pq.read_table(truth / "service_payments.parquet").to_pandas(),
    )
