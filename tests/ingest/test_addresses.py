"""The numba address encoder equals the reference encoder (checked against Core) everywhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsleuth.chain.address import address_for_output
from chainsleuth.chain.network import NETWORKS, get_network
from chainsleuth.chain.script import classify_script_code
from chainsleuth.ingest.addresses import encode_addresses
from chainsleuth.ingest.kernels import classify_outputs, parse_blocks

MAINNET = Path(__file__).parents[1] / "data" / "mainnet-blocks"


def _check(scripts: list[bytes], network_name: str) -> None:
    net = get_network(network_name)
    buf = np.frombuffer(b"".join(scripts), dtype=np.uint8)
    lens = np.array([len(s) for s in scripts], dtype=np.int64)
    offs = np.cumsum(lens) - lens
    codes = np.array([classify_script_code(s) for s in scripts], dtype=np.uint8)
    got = encode_addresses(buf, offs, lens, codes, net).to_pylist()
    assert got == [address_for_output(s, net) for s in scripts]


def test_every_mainnet_output_on_every_network() -> None:
    raw = b"".join((MAINNET / f"{h}.bin").read_bytes() for h in (170, 200000, 574200, 713126))
    sizes = [len((MAINNET / f"{h}.bin").read_bytes()) for h in (170, 200000, 574200, 713126)]
    ends = np.cumsum(sizes)
    buf = np.frombuffer(raw, dtype=np.uint8)
    out = parse_blocks(buf, ends - np.array(sizes), ends)[5]
    codes = classify_outputs(buf, out[:, 1], out[:, 2])
    assert len(set(codes.tolist())) >= 7
    scripts = [raw[o : o + n] for o, n in zip(out[:, 1].tolist(), out[:, 2].tolist(), strict=True)]
    for name in NETWORKS:
        _check(scripts, name)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["0014", "0020", "5120", "5202", "6028", "a914", "76a914"]),
    st.binary(min_size=40, max_size=40),
    st.sampled_from(sorted(NETWORKS)),
)
def test_random_programs(prefix: str, body: bytes, network: str) -> None:
    head = bytes.fromhex(prefix)
    if prefix == "76a914":
        script = head + body[:20] + b"\x88\xac"
    elif prefix == "a914":
        script = head + body[:20] + b"\x87"
    else:
        script = head + body[: head[1]]
    _check([script, b"\x6a\x01\x00", bytes([33, 2]) + body[:32] + b"\xac"], network)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 20),
    st.binary(min_size=20, max_size=20),
    st.sampled_from(["76a914", "a914"]),
    st.sampled_from(sorted(NETWORKS)),
)
def test_base58_hashes_with_leading_zero_bytes(
    zeros: int, body: bytes, prefix: str, network: str
) -> None:
    """The limb-wise base58 division (five digits per pass) on hashes with 0-20 leading zero
    bytes, the all-zero hash included, equals the reference encoder."""
    h = bytes(zeros) + body[zeros:]
    tail = b"\x88\xac" if prefix == "76a914" else b"\x87"
    _check([bytes.fromhex(prefix) + h + tail, bytes.fromhex(prefix) + bytes(20) + tail], network)
