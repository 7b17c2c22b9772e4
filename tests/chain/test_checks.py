"""Block checks (chain/checks.py) as Bitcoin Core makes them, and ``decode`` rejecting crafted
blocks with one line naming the block and the reason (exit code 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainsleuth.chain.block import Block
from chainsleuth.chain.checks import (
    ANY_NETWORK_POW_LIMIT,
    CompactTarget,
    block_work,
    check_block,
    decode_compact,
    encode_compact,
    pow_problem,
    target_from_bits,
)
from chainsleuth.chain.hashes import merkle_root_mutated, sha256d
from chainsleuth.chain.network import NETWORKS, get_network
from chainsleuth.chain.tx import Tx, TxIn, TxOut
from chainsleuth.errors import BlockDataError, NetworkMismatchError

from .blockcraft import CRAFTED, with_header

DATA = Path(__file__).resolve().parents[1] / "data"
MAIN = get_network("main")
REGTEST = get_network("regtest")
UINT256 = (1 << 256) - 1


# --- a plain reference of Core's arith_uint256::SetCompact / GetCompact ---------------------


def core_set_compact(compact: int) -> tuple[int, bool, bool]:
    """SetCompact step by step, with uint256 wrap-around on the left shift."""
    size = compact >> 24
    word = compact & 0x007FFFFF
    if size <= 3:
        word >>= 8 * (3 - size)
        value = word
    else:
        value = word
        value = (value << (8 * (size - 3))) & UINT256
    negative = word != 0 and (compact & 0x00800000) != 0
    overflow = word != 0 and (
        (size > 34) or (word > 0xFF and size > 33) or (word > 0xFFFF and size > 32)
    )
    return value, negative, overflow


def core_get_compact(value: int, negative: bool) -> int:
    """GetCompact step by step (uint32 arithmetic)."""
    size = (value.bit_length() + 7) // 8
    if size <= 3:
        compact = ((value & (2**64 - 1)) << 8 * (3 - size)) & 0xFFFFFFFF
    else:
        compact = ((value >> 8 * (size - 3)) & (2**64 - 1)) & 0xFFFFFFFF
    if compact & 0x00800000:
        compact >>= 8
        size += 1
    assert compact & ~0x007FFFFF == 0 and size < 256
    compact |= size << 24
    compact |= 0x00800000 if negative and (compact & 0x007FFFFF) else 0
    return compact


_EDGE_WORDS = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFF, 0x123456]
BITS = st.one_of(
    st.integers(0, 0xFFFFFFFF),
    st.builds(
        lambda e, sign, m: e << 24 | sign << 23 | m,
        st.integers(0, 40),
        st.integers(0, 1),
        st.one_of(st.sampled_from(_EDGE_WORDS), st.integers(0, 0x7FFFFF)),
    ),
)
TARGETS = st.one_of(
    st.integers(0, UINT256),
    st.builds(lambda m, s: (m << s) & UINT256, st.integers(1, 0xFFFFFF), st.integers(0, 240)),
)


@given(BITS)
def test_decode_compact_matches_core(bits: int) -> None:
    assert decode_compact(bits) == CompactTarget(*core_set_compact(bits))


@given(TARGETS, st.booleans())
def test_encode_compact_matches_core(target: int, negative: bool) -> None:
    assert encode_compact(target, negative) == core_get_compact(target, negative)


@given(TARGETS)
def test_compact_round_trip_rounds_down_once(target: int) -> None:
    bits = encode_compact(target)
    decoded = decode_compact(bits)
    assert not decoded.negative and not decoded.overflow
    assert decoded.target <= target and encode_compact(decoded.target) == bits


@pytest.mark.parametrize(
    ("bits", "value", "negative", "overflow", "again"),
    [  # vectors of Core's arith_uint256 tests
        (0x00123456, 0, False, False, 0),
        (0x01803456, 0, False, False, 0),
        (0x04800000, 0, False, False, 0),
        (0x01123456, 0x12, False, False, 0x01120000),
        (0x01FEDCBA, 0x7E, True, False, 0x01FE0000),
        (0x02123456, 0x1234, False, False, 0x02123400),
        (0x03123456, 0x123456, False, False, 0x03123456),
        (0x04123456, 0x12345600, False, False, 0x04123456),
        (0x04923456, 0x12345600, True, False, 0x04923456),
        (0x05009234, 0x92340000, False, False, 0x05009234),
        (0x20123456, 0x123456 << 232, False, False, 0x20123456),
    ],
)
def test_compact_vectors(bits: int, value: int, negative: bool, overflow: bool, again: int) -> None:
    assert decode_compact(bits) == (value, negative, overflow)
    assert encode_compact(value, negative) == again


def test_overflowing_compacts() -> None:
    assert decode_compact(0xFF123456).overflow
    assert decode_compact(0x23000001).overflow  # 1 << 256
    assert decode_compact(0x2200FFFF).overflow and not decode_compact(0x220000FF).overflow
    assert target_from_bits(0x23000001) is None and block_work(0x23000001) == 0


def test_network_limits_are_cores() -> None:
    assert MAIN.pow_limit == int("00000000" + "f" * 56, 16)
    assert get_network("signet").pow_limit == int("00000377ae" + "0" * 54, 16)
    assert REGTEST.pow_limit == int("7" + "f" * 63, 16) == ANY_NETWORK_POW_LIMIT
    for net in NETWORKS.values():
        assert encode_compact(net.pow_limit) == net.pow_limit_bits
        assert target_from_bits(net.pow_limit_bits) <= net.pow_limit  # type: ignore[operator]


@pytest.mark.parametrize(
    ("bits", "reason"),
    [
        (0x2100FFFF, "nBits 0x2100ffff target above main's proof-of-work limit 0x1d00ffff"),
        (0x1D010000, "nBits 0x1d010000 target above main's proof-of-work limit 0x1d00ffff"),
        (0x1D80FFFF, "nBits 0x1d80ffff target is negative (sign bit 0x00800000 set)"),
        (0x23000001, "nBits 0x23000001 target overflows 256 bits"),
        (0x1D000000, "nBits 0x1d000000 target is zero"),
        (0x02000080, "nBits 0x02000080 target is zero"),
        (0x1C00FFFF, "hash above the target of nBits 0x1c00ffff"),
        (0x1D00FFFF, None),
    ],
)
def test_pow_problems(bits: int, reason: str | None) -> None:
    block_hash = (0xFFFF << 204).to_bytes(32, "big")  # meets 0x1d00ffff, not 0x1c00ffff
    assert pow_problem(block_hash, bits, MAIN) == reason


def test_merkle_mutation_is_flagged_at_any_level() -> None:
    a, b, c, d, e, f = (sha256d(bytes([i])) for i in range(6))
    assert merkle_root_mutated([a, b, c, c])[0] == merkle_root_mutated([a, b, c])[0]
    assert merkle_root_mutated([a, b, c]) == (merkle_root_mutated([a, b, c, c])[0], False)
    assert merkle_root_mutated([a, b, c, c])[1]
    six, eight = [a, b, c, d, e, f], [a, b, c, d, e, f, e, f]  # Core's merkle.cpp example
    assert merkle_root_mutated(eight) == (merkle_root_mutated(six)[0], True)
    assert not merkle_root_mutated([a, b, a])[1]  # a duplicate, but never paired with itself


def _spend(tag: int, witness: bool = False) -> Tx:
    wit = (bytes([tag]),) if witness else ()
    return Tx(2, (TxIn(bytes([tag]) * 32, 0, b"", 0, wit),), (TxOut(tag, b"\x51"),), 0)


def _coinbase(height: int) -> Tx:
    script = bytes([1, height, 0x51])
    return Tx(2, (TxIn(bytes(32), 0xFFFFFFFF, script, 0xFFFFFFFF),), (TxOut(50, b"\x51"),), 0)


def test_duplicated_last_transaction_is_rejected_though_the_root_matches() -> None:
    cb, a, b = _coinbase(1), _spend(1), _spend(2)
    good = Block.build(bytes(32), [cb, a, b], time=0, bits=REGTEST.pow_limit_bits)
    good.check(network=REGTEST)
    mutated = Block(good.header, (cb, a, b, b))
    assert mutated.compute_merkle_root() == good.header.merkle_root
    assert mutated.hash == good.hash
    with pytest.raises(BlockDataError) as caught:
        mutated.check(network=REGTEST, height=1)
    assert str(caught.value) == (
        f"block {good.hash.hex()} at height 1: mutated merkle tree: identical hashes paired, "
        "duplicate transactions (bad-txns-duplicate, CVE-2012-2459)"
    )


def test_check_block_takes_the_parts_the_ingest_has() -> None:
    cb, a = _coinbase(2), _spend(3)
    blk = Block.build(bytes(32), [cb, a], time=0, bits=REGTEST.pow_limit_bits)
    header, txids = blk.header.serialize(), [tx.txid[::-1] for tx in blk.txs]
    check_block(header, txids, cb, None, REGTEST)
    with pytest.raises(BlockDataError, match="first transaction is not a coinbase"):
        check_block(header, txids, a, None, REGTEST)
    with pytest.raises(BlockDataError, match="no transactions"):
        check_block(header, [], None, None, REGTEST)
    with pytest.raises(BlockDataError, match=r"header hashes to \w+ instead"):
        check_block(header, txids, cb, None, REGTEST, expected_hash=bytes(32))


# --- every real regtest block passes (mainnet fixture blocks: test_block.py) ----------------


def test_every_regtest_core_block_passes(regtest_raw: list[bytes]) -> None:
    assert len(regtest_raw) == 474
    for height, raw in enumerate(regtest_raw):
        Block.parse(raw).check(network=REGTEST, height=height)


# --- decode rejects crafted blocks ----------------------------------------------------------


def _one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_decode_rejects_crafted_block(
    case: str, regtest_raw: list[bytes], cli_run: Any, tmp_path: Path
) -> None:
    height, craft, reason = CRAFTED[case]
    raw = craft(regtest_raw[height])
    assert len(Block.parse(raw).txs) >= 1
    path = tmp_path / "block.bin"
    path.write_bytes(raw)
    code, out, err = cli_run("decode", str(path), "--network", "regtest", "--json")
    assert code == 2 and out == ""
    line = _one_line(err)
    block_hash = sha256d(raw[:80])[::-1].hex()
    assert line.startswith(f"error: block {block_hash} at height {height}: {reason}"), line


def test_decode_accepts_the_blocks_it_crafts_from(
    regtest_raw: list[bytes], cli_run: Any, tmp_path: Path
) -> None:
    for height in (5, 211):
        path = tmp_path / f"{height}.bin"
        path.write_bytes(regtest_raw[height])
        code, out, err = cli_run("decode", str(path), "--network", "regtest", "--json")
        assert code == 0, err
        assert f'"height": {height}' in out


def test_decode_rejects_mainnet_block_with_bad_proof_of_work(cli_run: Any, tmp_path: Path) -> None:
    raw = (DATA / "mainnet-blocks" / "170.bin").read_bytes()
    path = tmp_path / "170.bin"
    for bits, reason in [
        (0x2100FFFF, "nBits 0x2100ffff target above main's proof-of-work limit 0x1d00ffff"),
        (0x1C00FFFF, "hash above the target of nBits 0x1c00ffff"),
    ]:
        path.write_bytes(with_header(raw, bits=bits))
        code, _, err = cli_run("decode", str(path))
        assert code == 2
        line = _one_line(err)
        assert line.endswith(f": {reason}") and line.startswith("error: block "), line


def test_regtest_block_decoded_as_mainnet_names_the_network(regtest_raw: list[bytes]) -> None:
    from chainsleuth.chain.decode import decode_raw

    with pytest.raises(NetworkMismatchError) as caught:
        decode_raw(regtest_raw[5], MAIN)
    message = str(caught.value)
    assert "at height 5: nBits 0x207fffff target above main's proof-of-work limit" in message
    assert message.endswith("wrong --network? (within the limit of regtest)")
    assert isinstance(decode_raw(regtest_raw[5], MAIN, check=False), Block)
