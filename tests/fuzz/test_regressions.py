"""Every escape the fuzz campaign found, as the input that triggered it (each fixed since).

Before the fixes these raised ValueError, KeyError, AttributeError, TypeError, OverflowError,
RecursionError or UnicodeDecodeError, hung (alias bombs), or made the numba walker write past
its row matrices and read out of bounds (segfaults).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chainsleuth.chain.network import get_network
from chainsleuth.errors import InputError
from chainsleuth.simulate.scenario import load_scenario, parse_scenario
from chainsleuth.tags.csvio import read_tags_csv
from chainsleuth.tags.tagpack import read_tagpacks

NOW = datetime(2025, 1, 2, tzinfo=UTC)
REGTEST = get_network("regtest")
PACK = """\
title: t
creator: c
currency: BTC
confidence: forensic
source: s
tags:
  - address: bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080
    label: x
"""
BOMB = (
    "[&a0 [lol], "
    + ", ".join(f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10))
    + "]"
)
"""Nine levels of nine aliases: 9**9 leaves when expanded ("billion laughs")."""


# -- numba block walker (ingest/kernels.py) ------------------------------------------------------

_WALK = textwrap.dedent(
    """
    import sys
    import numpy as np
    from chainsleuth.ingest.kernels import parse_blocks
    for arg in sys.argv[1:]:
        blk = bytes.fromhex(arg)
        res = parse_blocks(np.frombuffer(blk, np.uint8), np.array([0]), np.array([len(blk)]))
        print(res[0], res[3].shape[0], res[4].shape[0], res[5].shape[0])
    """
)


def _walk(*blocks: bytes) -> list[tuple[int, ...]]:
    """Walk each block in one child process: a regression would crash it, not the test run."""
    done = subprocess.run(
        [sys.executable, "-c", _WALK, *(b.hex() for b in blocks)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"walker crashed ({done.returncode}): {done.stderr[-400:]}"
    return [tuple(int(x) for x in line.split()) for line in done.stdout.splitlines()]


@pytest.mark.timeout(600)
def test_walker_bounds() -> None:
    # 256 transactions of 12 bytes (witness marker, no inputs, no outputs): rows were sized for
    # 60-byte transactions, so the walker wrote past its transaction matrix.
    tiny = bytes.fromhex("010000000001000000000000")
    many_tiny = bytes(80) + bytes.fromhex("fd0001") + tiny * 256
    # a scriptSig length of 2**63 - 1: pos + length wrapped negative, passed the bounds check
    # and the walker read far outside the buffer
    huge = bytes.fromhex("ff" + "ffffffffffffff7f")
    huge_script = bytes(80) + b"\x01" + bytes.fromhex("0100000001") + bytes(36) + huge + bytes(10)
    # a transaction count of 2**63 + 1 was masked to 1: a corrupt block walked as well-formed
    genesis_cb = bytes.fromhex(
        "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff"
        "0704ffff001d0104ffffffff0100f2052a0100000043410496b538e853519c726a2c91e61ec11600ae"
        "1390813a627c66fb8be7947be63c52da7589379515d4e0a604f8141781e62294721166bf621e73a82c"
        "bf2342c858eeac00000000"
    )
    huge_count = bytes(80) + b"\xff" + (2**63 + 1).to_bytes(8, "little") + genesis_cb
    results = _walk(many_tiny, huge_script, huge_count)
    assert results[0] == (0, 256, 0, 0)  # ERR_NONE, every row kept
    assert results[1][0] == 1  # ERR_TRUNCATED
    assert results[2][0] == 1  # ERR_TRUNCATED


def test_python_walker_agrees_on_huge_counts() -> None:
    """The Python twin took a count of 2**63 or more at face value and walked on (finding a bad
    flag further on, say) where the numba walker stops: both now call it truncated at once."""
    import numpy as np

    from chainsleuth.ingest.kernels_ref import parse_blocks_py

    tiny = bytes.fromhex("010000000001000000000000")
    bad_flag = bytes.fromhex("010000000002")
    blk = bytes(80) + b"\xff" + (2**63 + 5).to_bytes(8, "little") + tiny + bad_flag
    buf = np.frombuffer(blk, np.uint8)
    assert parse_blocks_py(buf, np.array([0]), np.array([len(blk)]))[0] == 1  # ERR_TRUNCATED


# -- TagPack YAML (tags/tagpack.py, tags/validate.py) --------------------------------------------


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ("    created: 2024-13-01\n", "month must be in 1..12"),  # was ValueError
        ("    actor: !!bool foo\n", "bad value"),  # was KeyError
        ("    actor: !!timestamp foo\n", "bad value"),  # was AttributeError
        ("    actor: !!int foo\n", "bad value"),  # was ValueError
        ("    actor: !!float\n", "bad value"),  # was IndexError
        ("    context: {1: 2, a: 3}\n", "context cannot be written as JSON"),  # was TypeError
        ("    context: {2025-01-02: x}\n", "context cannot be written as JSON"),  # was TypeError
        ("    created: '0001-01-01T00:00:00+01:00'\n", "out of range"),  # was OverflowError
        ("    created: 0001-01-01 00:00:00+05:00\n", "out of range"),  # was OverflowError
        (f"    context: {BOMB}\n", "value too large"),  # hung in json.dumps
        ("    context: &r [*r, {k: *r}]\n", "value too large"),  # cycle
    ],
)
def test_tagpack_escapes(extra: str, reason: str) -> None:
    with pytest.raises(InputError, match=r"fuzz\.yaml:9") as err:
        read_tagpacks(PACK + extra, "fuzz.yaml", REGTEST, now=NOW)
    assert reason in str(err.value)


@pytest.mark.timeout(60)
def test_tagpack_alias_bomb_in_header() -> None:
    text = PACK.replace("creator: c", f"creator: {BOMB}")  # hung in str()
    with pytest.raises(InputError, match=r"fuzz\.yaml:2: field 'creator': value too large"):
        read_tagpacks(text, "fuzz.yaml", REGTEST, now=NOW)


def test_tagpack_deep_nesting() -> None:
    with pytest.raises(InputError, match="nested too deeply"):  # was RecursionError
        read_tagpacks("a: " + "[" * 1000, "fuzz.yaml", REGTEST, now=NOW)


# -- tag CSV (tags/csvio.py, tags/validate.py) ---------------------------------------------------


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_csv_time_out_of_range(moment: str) -> None:
    text = (
        "target,label,source,confidence,created\n"
        f"bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080,x,s,forensic,{moment}\n"
    )
    with pytest.raises(
        InputError, match=r"fuzz\.csv:2: field 'created': date or time out of range"
    ):
        read_tags_csv(text, "fuzz.csv", REGTEST, now=NOW)  # was OverflowError


# -- scenarios (simulate/scenario.py, simulate/fields.py) ----------------------------------------


def test_scenario_number_beyond_float() -> None:
    with pytest.raises(InputError, match="txs_per_block: <1329-bit integer> out of range"):
        parse_scenario({"name": "x", "txs_per_block": 10**400})  # was OverflowError
    with pytest.raises(InputError, match="weight out of range"):
        parse_scenario({"name": "x", "activity": {"p2p": 10**400}})


def test_scenario_start_time_of_wrong_type() -> None:
    with pytest.raises(InputError, match=r"start_time: expected an ISO date .* got \[1, 2\]"):
        parse_scenario({"name": "x", "start_time": [1, 2]})


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"name: caf\xe9\n", "not UTF-8 text (byte 9)"),  # was UnicodeDecodeError
        (b"\x00name: x\n", "unprintable characters"),  # was ReaderError at SafeLoader()
        (b"name: x\nstart_time: 2024-13-01\n", "month must be in 1..12"),  # was ValueError
        (b"name: !!bool foo\n", "not valid YAML"),  # was KeyError
        (b"!!float # ", "not valid YAML"),  # was IndexError
        (b"name: x\nusers: " + b"[" * 1000, "not valid YAML"),  # was RecursionError
        (f"name: {BOMB}\n".encode(), "too large"),  # hung in repr()
        (b"name: &r [*r]\n", "too large"),
    ],
)
@pytest.mark.timeout(60)
def test_scenario_file_escapes(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        load_scenario(path)
    assert reason in str(err.value)
