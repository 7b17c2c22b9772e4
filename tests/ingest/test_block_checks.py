"""The ingest makes decode's block checks (chain/checks.py): a crafted block in the best chain
stops ``chainsleuth ingest`` with exit code 2 and one line naming the block and the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.chain.blockcraft import CRAFTED, REGTEST_TARGET, grind

from chainsleuth.chain.hashes import sha256d
from chainsleuth.chain.network import get_network
from chainsleuth.errors import BlockDataError
from chainsleuth.ingest.batch import BlockInput, IndexState, link_batch, prepare_batch
from chainsleuth.ingest.state import new_address_index
from chainsleuth.store.hashindex import UtxoIndex

DATA = Path(__file__).resolve().parents[1] / "data"
MAIN = get_network("main")
REGTEST = get_network("regtest")


def _block_hash(raw: bytes) -> bytes:
    return sha256d(raw[:80])[::-1]


def write_chain(directory: Path, raws: list[bytes]) -> list[int]:
    """Write ``raws`` as one plain (not obfuscated) regtest blk file; return each data offset."""
    directory.mkdir(parents=True)
    offsets, parts, pos = [], [], 0
    for raw in raws:
        parts.append(REGTEST.magic + len(raw).to_bytes(4, "little") + raw)
        offsets.append(pos + 8)
        pos += 8 + len(raw)
    (directory / "blk00000.dat").write_bytes(b"".join(parts))
    return offsets


def crafted_chain(regtest_raw: list[bytes], height: int, crafted: bytes) -> list[bytes]:
    """Blocks 0..height-1, ``crafted`` at ``height`` and a child mined on it: the chain through
    the crafted block has the most work even when the crafted block has none."""
    child = bytearray(regtest_raw[height + 1])
    child[4:36] = _block_hash(crafted)[::-1]
    mined = grind(bytes(child), lambda h: h <= REGTEST_TARGET)
    return [*regtest_raw[:height], crafted, mined]


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_ingest_stops_at_crafted_block(
    case: str, regtest_raw: list[bytes], cli_run: Any, tmp_path: Path
) -> None:
    height, craft, reason = CRAFTED[case]
    crafted = craft(regtest_raw[height])
    offsets = write_chain(tmp_path / "blocks", crafted_chain(regtest_raw, height, crafted))
    code, _, err = cli_run(
        "ingest", str(tmp_path / "blocks"), "--data", str(tmp_path / "ds"), "--network", "regtest"
    )
    assert code == 2, err
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and "Traceback" not in err, err
    expected = (
        f"error: block {_block_hash(crafted).hex()} at height {height} "
        f"(blk00000.dat offset {offsets[height]}): "
    )
    # A batch prepared without the network (the runner's) is held to the loosest limit, which
    # is regtest's; a batch prepared with it names regtest.
    reasons = {reason, reason.replace("regtest's", "every network's")}
    assert any(lines[0].startswith(expected + r) for r in reasons), lines[0]


def test_ingest_takes_the_chain_the_crafted_ones_come_from(
    regtest_raw: list[bytes], cli_run: Any, tmp_path: Path
) -> None:
    write_chain(tmp_path / "blocks", crafted_chain(regtest_raw, 211, regtest_raw[211]))
    code, _, err = cli_run(
        "ingest", str(tmp_path / "blocks"), "--data", str(tmp_path / "ds"), "--network", "regtest"
    )
    assert code == 0, err


def _inputs(raws: list[bytes]) -> list[BlockInput]:
    return [BlockInput(h, _block_hash(r), r, "blk.dat", 8) for h, r in enumerate(raws)]


def test_limit_checked_at_link_when_prepared_without_network(
    regtest_raw: list[bytes], tmp_path: Path
) -> None:
    """Worker processes prepare batches without the network: linking checks the limit."""
    prep = prepare_batch(_inputs(regtest_raw[:3]))
    state = IndexState(UtxoIndex(), new_address_index(tmp_path, 8 << 20))
    with pytest.raises(BlockDataError) as caught:
        link_batch(prep, state, MAIN)
    assert str(caught.value).startswith(
        f"block {_block_hash(regtest_raw[0]).hex()} at height 0 (blk.dat offset 8): "
        "nBits 0x207fffff target above main's proof-of-work limit 0x1d00ffff"
    )
    with pytest.raises(BlockDataError, match="above main's proof-of-work limit"):
        prepare_batch(_inputs(regtest_raw[:3]), MAIN)
    assert link_batch(prepare_batch(_inputs(regtest_raw[:3])), state, REGTEST).blocks.num_rows == 3


def test_header_not_matching_the_hash_it_was_fetched_by(regtest_raw: list[bytes]) -> None:
    """An RPC source names each block by the hash it asked for: the header must hash to it."""
    blocks = [BlockInput(0, bytes(32), regtest_raw[0], "rpc getblock", 0)]
    with pytest.raises(BlockDataError, match=r"^block 0{64} at height 0 .*: its header hashes to"):
        prepare_batch(blocks, REGTEST)


def test_every_mainnet_fixture_block_passes_the_ingest_checks() -> None:
    raws = [p.read_bytes() for p in sorted((DATA / "mainnet-blocks").glob("*.bin"))]
    prep = prepare_batch(_inputs(raws), MAIN)
    assert prep.pow_network == "main" and len(prep.blocks) == len(raws) >= 20
