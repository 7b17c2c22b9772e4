"""Shared pieces of the fuzz campaign: budgets, the escape rule, seed corpora, mutators.

The rule every target checks: feeding a parser arbitrary bytes or text raises nothing but the
project's own errors (:class:`~chainsleuth.errors.ChainsleuthError` and its subclasses) and
returns in time bounded by the input size. ``pytest`` runs each target with a small,
derandomized budget (CI never flakes); ``python -m tests.fuzz.run`` runs a campaign (see
README.md).
"""

from __future__ import annotations

import functools
import os
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from chainsleuth.errors import ChainsleuthError

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
MAINNET = DATA / "mainnet-blocks"
REGTEST_BLOCKS = DATA / "regtest-core-a" / "blocks"
TAGPACKS = DATA / "tagpacks"
SCENARIOS = next(
    (d for d in (ROOT / "src" / "chainsleuth" / "scenarios", ROOT / "scenarios") if d.is_dir()),
    ROOT / "scenarios",
)

BUDGET_ENV = "CHAINSLEUTH_FUZZ_EXAMPLES"
"""Examples per target: unset = the short CI budget (derandomized); set = a random campaign."""

_F = TypeVar("_F", bound=Callable[..., Any])

TIMEOUT = 420
"""pytest-timeout of a fuzz test, in seconds: the CI budget takes seconds, but a failure is
shrunk for up to Hypothesis's own five minutes, which must end first (a timeout cutting the
shrinker off is reported as a confusing "flaky strategy" error instead of the input)."""


def campaign_examples() -> int:
    """The campaign budget from the environment (0 when unset: the CI budget applies)."""
    try:
        return int(os.environ.get(BUDGET_ENV, "0"))
    except ValueError:
        return 0


def fuzz_settings(ci_examples: int) -> Callable[[_F], _F]:
    """Hypothesis settings of a target: ``ci_examples`` derandomized, or the campaign budget."""
    common: dict[str, Any] = {
        "deadline": None,
        "suppress_health_check": list(HealthCheck),
        "print_blob": True,
    }
    n = campaign_examples()
    if n:
        return settings(max_examples=n, derandomize=False, database=None, **common)
    return settings(max_examples=ci_examples, derandomize=True, database=None, **common)


def expect_typed_errors(func: Callable[[], object]) -> BaseException | None:
    """Run ``func``; return the project error it raised (or None); anything else propagates."""
    try:
        func()
    except ChainsleuthError as err:
        return err
    return None


# -- seed corpora --------------------------------------------------------------------------------

SMALL_BLOCK_LIMIT = 60_000


@functools.cache
def mainnet_block_seeds() -> tuple[bytes, ...]:
    """The real mainnet blocks small enough to mutate quickly (≤ 60 kB)."""
    paths = sorted(MAINNET.glob("*.bin"), key=lambda p: int(p.stem))
    return tuple(p.read_bytes() for p in paths if p.stat().st_size <= SMALL_BLOCK_LIMIT)


@functools.cache
def regtest_blk_file() -> tuple[bytes, bytes]:
    """The real (XOR-obfuscated) ``blk00000.dat`` and its ``xor.dat`` key."""
    return (REGTEST_BLOCKS / "blk00000.dat").read_bytes(), (REGTEST_BLOCKS / "xor.dat").read_bytes()


def xor(data: bytes, key: bytes, offset: int = 0) -> bytes:
    """XOR ``data`` (found at file ``offset``) with the 8-byte ``key`` (self-inverse)."""
    if key == bytes(8) or not data:
        return bytes(data)
    shift = offset % 8
    rot = key[shift:] + key[:shift]
    stream = (rot * (len(data) // 8 + 1))[: len(data)]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(
        len(data), "little"
    )


@functools.cache
def regtest_records() -> tuple[bytes, ...]:
    """Every block of the regtest file, de-obfuscated, in file order (from the frame headers)."""
    raw, key = regtest_blk_file()
    plain = xor(raw, key)
    blocks: list[bytes] = []
    pos = 0
    while pos + 8 <= len(plain) and plain[pos : pos + 4] == b"\xfa\xbf\xb5\xda":
        (size,) = struct.unpack_from("<I", plain, pos + 4)
        blocks.append(plain[pos + 8 : pos + 8 + size])
        pos += 8 + size
    return tuple(blocks)


@functools.cache
def regtest_block_seeds() -> tuple[bytes, ...]:
    """A spread of regtest blocks: early coinbase-only ones and later ones with many txs."""
    blocks = regtest_records()
    picked = [blocks[i] for i in (0, 1, 101, 150, 200, 250)]
    picked += sorted(blocks, key=len)[-4:-1]  # the larger (busier) blocks, up to ~18 kB
    return tuple(b for b in picked if len(b) <= SMALL_BLOCK_LIMIT)


@functools.cache
def block_seeds() -> tuple[bytes, ...]:
    """Mainnet (small) and regtest blocks: the decoder's and walker's block corpus."""
    return mainnet_block_seeds() + regtest_block_seeds()


@functools.cache
def tx_seeds() -> tuple[bytes, ...]:
    """Single transactions cut from the seed blocks (legacy, segwit v0 and taproot)."""
    from chainsleuth.chain.block import Block

    txs: list[bytes] = []
    for raw in block_seeds():
        block = Block.parse(raw)
        for tx in block.txs[:3]:
            txs.append(tx.serialize())
        txs += [tx.serialize() for tx in block.txs[3:] if tx.has_witness][:3]
    unique = dict.fromkeys(t for t in txs if len(t) <= 20_000)
    return tuple(unique)


def text_seeds(paths: Sequence[Path]) -> tuple[str, ...]:
    """The contents of ``paths`` as text (the YAML / CSV corpora)."""
    return tuple(p.read_text(encoding="utf-8") for p in sorted(paths))


@functools.cache
def tagpack_seeds() -> tuple[str, ...]:
    """Every TagPack YAML fixture, valid and invalid."""
    return text_seeds([*TAGPACKS.glob("*.yaml"), *TAGPACKS.glob("invalid/*.yaml")])


@functools.cache
def csv_seeds() -> tuple[str, ...]:
    """Every tag CSV fixture, valid and invalid."""
    return text_seeds([*TAGPACKS.glob("*.csv"), *TAGPACKS.glob("invalid/*.csv")])


@functools.cache
def scenario_seeds() -> tuple[str, ...]:
    """The shipped scenario files."""
    return text_seeds(list(SCENARIOS.glob("*.yaml")))


# -- byte-level mutations ------------------------------------------------------------------------

_INTERESTING = (
    b"\x00",
    b"\xff",
    b"\xfc",
    b"\xfd",
    b"\xfe",
    b"\x80",
    b"\x7f",
    b"\x01",
    b"\xfd\xff\xff",
    b"\xfe\xff\xff\xff\xff",
    b"\xff" * 9,
    b"\xff\xff\xff\xff\xff\xff\xff\xff\x7f",
    b"\xfd\x00\x00",
    b"\xfe\x00\x00\x00\x00",
    b"\x00\x01",
    b"\x00\x00",
    b"\xfa\xbf\xb5\xda",
    b"\xf9\xbe\xb4\xd9",
)


def compact(value: int, width: int) -> bytes:
    """A CompactSize holding ``value`` in the given form (1, 3, 5 or 9 bytes; may be
    non-canonical, and ``value`` is truncated to fit the form)."""
    if width == 1:
        return bytes((value % 0xFD,))
    marker, size = {3: (0xFD, 2), 5: (0xFE, 4), 9: (0xFF, 8)}[width]
    return bytes((marker,)) + (value % (1 << (8 * size))).to_bytes(size, "little")


_LENGTH_VALUES = st.one_of(
    st.integers(0, 300),
    st.sampled_from([0xFC, 0xFD, 0xFFFF, 0x10000, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63]),
    st.integers(0, 2**64 - 1),
)


def varint_positions(block: bytes, is_block: bool) -> list[int]:
    """Offsets of every CompactSize (tx count, in/out counts, script and witness lengths) in a
    well-formed block or transaction: the length fields the corruption mutator aims at."""
    from chainsleuth.chain.compact import read_compact_size

    found: list[int] = []

    def varint(pos: int) -> tuple[int, int]:
        found.append(pos)
        return read_compact_size(block, pos)

    try:
        pos = 0
        n_tx = 1
        if is_block:
            n_tx, pos = varint(80)
        for _ in range(n_tx):
            pos += 4
            witness = block[pos] == 0
            if witness:
                pos += 2
            n_in, pos = varint(pos)
            for _ in range(n_in):
                length, pos = varint(pos + 36)
                pos += length + 4
            n_out, pos = varint(pos)
            for _ in range(n_out):
                length, pos = varint(pos + 8)
                pos += length
            if witness:
                for _ in range(n_in):
                    n_items, pos = varint(pos)
                    for _ in range(n_items):
                        length, pos = varint(pos)
                        pos += length
            pos += 4
    except (ChainsleuthError, IndexError):
        pass
    return found


@st.composite
def mutated_bytes(
    draw: st.DrawFn,
    seeds: Sequence[bytes],
    *,
    max_ops: int = 6,
    length_fields: Callable[[bytes], Sequence[int]] | None = None,
) -> bytes:
    """A seed with up to ``max_ops`` mutations: bit flips, byte sets, truncation, insertion,
    deletion, duplication, splices from another seed, interesting values and corrupted length
    fields (``length_fields`` lists where a seed's CompactSizes are)."""
    seed_index = draw(st.integers(0, len(seeds) - 1))
    seed = seeds[seed_index]
    data = bytearray(seed)
    fields = list(length_fields(seed)) if length_fields is not None else []
    for _ in range(draw(st.integers(0, max_ops))):
        op = draw(st.integers(0, 9))
        n = len(data)
        pos = draw(st.integers(0, n))
        if op == 0 and n:  # flip one bit
            pos = min(pos, n - 1)
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == 1 and n:  # set one byte
            data[min(pos, n - 1)] = draw(st.integers(0, 255))
        elif op == 2:  # truncate
            del data[pos:]
        elif op == 3:  # insert random bytes
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == 4:  # delete a range
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == 5:  # duplicate a range in place
            length = draw(st.integers(1, 256))
            data[pos:pos] = data[pos : pos + length]
        elif op == 6:  # overwrite with an interesting value
            value = draw(st.sampled_from(_INTERESTING))
            data[pos : pos + len(value)] = value
        elif op == 7:  # splice: a slice of another seed
            other = seeds[draw(st.integers(0, len(seeds) - 1))]
            start = draw(st.integers(0, len(other)))
            data[pos:] = other[start : start + draw(st.integers(0, 4096))] + data[pos:]
        elif fields and op >= 8:  # corrupt a length field (only at its original position)
            at = draw(st.sampled_from(fields))
            if at < len(data):
                old_width = {0xFD: 3, 0xFE: 5, 0xFF: 9}.get(data[at], 1)
                width = draw(st.sampled_from((1, 3, 5, 9)))
                data[at : at + old_width] = compact(draw(_LENGTH_VALUES), width)
    return bytes(data)


# -- text-level mutations ------------------------------------------------------------------------

YAML_TOKENS = (
    ":",
    ": ",
    "- ",
    "\n",
    "\n  ",
    "  ",
    "\t",
    "#",
    "'",
    '"',
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a ",
    "*a",
    "<<: *a",
    "? ",
    "|",
    ">",
    "!!int ",
    "!!float ",
    "!!bool ",
    "!!timestamp ",
    "!!binary ",
    "!!str ",
    "!!set ",
    "!!omap ",
    "!!python/object:os.system ",
    "!custom ",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "~",
    "null",
    "true",
    "yes",
    ".nan",
    "-.inf",
    "0x1F",
    "0o17",
    "1_000",
    "190:20:30",
    "2024-13-45",
    "2024-02-30",
    "0001-01-01 00:00:00+05:00",
    "9999-12-31T23:59:59-05:00",
    "1e400",
    "9" * 400,
    "\x00",
    "\ufeff",
    "\ud800",
    "é",
)
CSV_TOKENS = (
    ",",
    '"',
    '""',
    "\n",
    "\r\n",
    "\r",
    "\x00",
    " ",
    "target_kind",
    "target",
    "label",
    "source",
    "confidence",
    "created",
    "lastmod",
    "pack",
    "cluster",
    "tx",
    "address",
    "forensic",
    "2024-13-45",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "Z",
    "ab" * 32,
    "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
    "\ud800",
    "x" * 200,
)


@st.composite
def mutated_text(
    draw: st.DrawFn, seeds: Sequence[str], tokens: Sequence[str], *, max_ops: int = 6
) -> str:
    """A text seed with character, token and line mutations."""
    text = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(0, max_ops))):
        op = draw(st.integers(0, 6))
        n = len(text)
        pos = draw(st.integers(0, n))
        if op == 0:  # insert a token
            text = text[:pos] + draw(st.sampled_from(tokens)) + text[pos:]
        elif op == 1:  # delete a range
            text = text[:pos] + text[pos + draw(st.integers(1, 40)) :]
        elif op == 2:  # insert random text
            text = text[:pos] + draw(st.text(max_size=12)) + text[pos:]
        elif op == 3:  # truncate
            text = text[:pos]
        elif op in (4, 5):  # line edits: duplicate, delete or swap lines, change indentation
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            edit = draw(st.integers(0, 3))
            if edit == 0:
                lines.insert(j, lines[i])
            elif edit == 1:
                del lines[i]
            elif edit == 2:
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines[i] = " " * draw(st.integers(0, 6)) + lines[i].lstrip(" ")
            text = "\n".join(lines)
        else:  # replace a range with a token
            text = (
                text[:pos] + draw(st.sampled_from(tokens)) + text[pos + draw(st.integers(1, 8)) :]
            )
    return text


# -- structures ----------------------------------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.dates(),
    st.datetimes(),
    st.sampled_from(["", " ", "BTC", "btc", "main", "regtest", "forensic", "market", "2025-01-02"]),
)
"""YAML-representable scalars, extremes included."""

STRUCTURES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.text(max_size=12), st.integers(), st.dates()), children, max_size=4
        ),
    ),
    max_leaves=20,
)
"""Random nested YAML values."""


@st.composite
def alias_bomb(draw: st.DrawFn) -> str:
    """A flow-style YAML value whose anchors each repeat the previous one ("billion laughs"),
    or that refers to itself: short text whose naive expansion is exponential or infinite."""
    if draw(st.booleans()):
        return "&r [*r, {k: *r}]"
    levels = draw(st.integers(2, 12))
    width = draw(st.integers(2, 9))
    parts = ["&a0 [lol]"]
    for i in range(1, levels):
        parts.append(f"&a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "[" + ", ".join(parts) + "]"


_TINY_TXS = (
    b"\x01\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00",  # witness form, no inputs or outputs
    b"\x01\x00\x00\x00\xfd\x00\x00\x00\x00\x00\x00\x00",  # non-canonical zero input count
    b"\x01\x00\x00\x00\x00\x01\x01" + bytes(36) + b"\x00" + bytes(4) + b"\x00\x01\x00" + bytes(4),
)


@st.composite
def synthetic_block(draw: st.DrawFn) -> bytes:
    """A seed block's header over a stitched list of transactions: real ones, the smallest ones
    a walker could accept, and ones with a huge length field, under a true or false count."""
    header = draw(st.sampled_from(block_seeds()))[:80]
    txs: list[bytes] = []
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            txs.append(draw(st.sampled_from(tx_seeds()[:40])))
        elif kind == 1:
            txs.append(draw(st.sampled_from(_TINY_TXS)) * draw(st.integers(1, 20)))
        else:
            tx = bytearray(draw(st.sampled_from(tx_seeds()[:40])))
            fields = varint_positions(bytes(tx), False)
            if fields:
                at = draw(st.sampled_from(fields))
                old_width = {0xFD: 3, 0xFE: 5, 0xFF: 9}.get(tx[at], 1)
                tx[at : at + old_width] = compact(
                    draw(_LENGTH_VALUES), draw(st.sampled_from((1, 3, 5, 9)))
                )
            txs.append(bytes(tx))
    count = draw(st.one_of(st.just(len(txs)), _LENGTH_VALUES))
    return header + compact(count, draw(st.sampled_from((1, 3, 5, 9)))) + b"".join(txs)
