"""Bech32 / Bech32m and segwit addresses against the BIP173/BIP350 test vectors."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainsleuth.chain.bech32 import (
    Encoding,
    bech32_decode,
    bech32_encode,
    convert_bits,
    decode_segwit_address,
    encode_segwit_address,
)
from chainsleuth.errors import InputError

from .conftest import ADDRESS_VECTORS

BIP350 = json.loads((ADDRESS_VECTORS / "bip350_bech32_bech32m.json").read_text())
HRP_OF_NETWORK = {"mainnet": "bc", "testnet": "tb"}


@pytest.mark.parametrize(
    ("text", "encoding"),
    [(s, Encoding.BECH32) for s in BIP350["checksum_valid_bech32"]]
    + [(s, Encoding.BECH32M) for s in BIP350["checksum_valid_bech32m"]],
)
def test_valid_checksums_decode_with_their_variant(text: str, encoding: Encoding) -> None:
    hrp, data, found = bech32_decode(text)
    assert found is encoding
    assert hrp == text[: text.rfind("1")].lower()
    assert bech32_encode(hrp, data, encoding) == text.lower()


@pytest.mark.parametrize(
    "vector",
    BIP350["checksum_invalid_bech32"] + BIP350["checksum_invalid_bech32m"],
    ids=lambda v: v["reason"],
)
def test_invalid_checksum_strings_are_rejected(vector: dict[str, str]) -> None:
    with pytest.raises(InputError):
        bech32_decode(vector["string"])


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (" 1nwldj5", "out of range"),
        (
            "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharact"
            "ersbio1569pvx",
            "over the limit",
        ),
        ("pzry9x0s0muk", "no separator"),
        ("1pzry9x0s0muk", "empty HRP"),
        ("x1b4n0q5v", "invalid data character"),
        ("li1dgmt3", "checksum too short"),
        ("A1G7SGD8", "bad checksum"),
        ("a12UEL5L", "mixed case"),
    ],
)
def test_rejections_say_why(text: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        bech32_decode(text)


@pytest.mark.parametrize("vector", BIP350["valid"], ids=lambda v: v["address"])
def test_valid_segwit_addresses_decode_to_their_script(vector: dict[str, object]) -> None:
    address = str(vector["address"])
    hrp = HRP_OF_NETWORK[str(vector["network"])]
    version, program = decode_segwit_address(hrp, address)
    script = bytes.fromhex(str(vector["scriptPubKey_hex"]))
    assert version == vector["witness_version"]
    assert program == script[2:]
    assert encode_segwit_address(hrp, version, program) == address.lower()


@pytest.mark.parametrize("vector", BIP350["invalid"], ids=lambda v: v["reason"])
@pytest.mark.parametrize("hrp", ["bc", "tb"])
def test_invalid_segwit_addresses_are_rejected_with_the_address(
    vector: dict[str, str], hrp: str
) -> None:
    with pytest.raises(InputError, match=f"address {vector['address']}"):
        decode_segwit_address(hrp, vector["address"])


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd", "bech32m checksum"),
        ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", "bech32 checksum"),
        ("bc1pw5dgrnzv", r"length \(1 byte\)"),
        ("BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P", "v0 program length"),
        ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf", "padding bits"),
        ("bc1gmk9yu", "empty data section"),
        ("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", "'tb' is not 'bc'"),
    ],
)
def test_segwit_rejections_say_why(address: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        decode_segwit_address("bc", address)


@pytest.mark.parametrize("vector", BIP350["invalid_encode"], ids=str)
def test_encoder_refuses_invalid_combinations(vector: dict[str, object]) -> None:
    program = bytes(int(str(vector["program_length"])))
    with pytest.raises(InputError):
        encode_segwit_address(str(vector["hrp"]), int(str(vector["witness_version"])), program)


def test_convert_bits_pads_and_checks_padding() -> None:
    assert convert_bits(b"\xff", 8, 5, True) == [31, 28]
    with pytest.raises(InputError, match="non-zero padding"):
        convert_bits([31, 29], 5, 8, False)


@st.composite
def witness_programs(draw: st.DrawFn) -> tuple[int, bytes]:
    version = draw(st.integers(min_value=0, max_value=16))
    if version == 0:
        size = draw(st.sampled_from([20, 32]))
    else:
        size = draw(st.integers(min_value=2, max_value=40))
    return version, draw(st.binary(min_size=size, max_size=size))


@given(witness_programs(), st.sampled_from(["bc", "tb", "bcrt"]))
def test_segwit_address_round_trip(witness: tuple[int, bytes], hrp: str) -> None:
    version, program = witness
    address = encode_segwit_address(hrp, version, program)
    assert decode_segwit_address(hrp, address) == (version, program)
    assert decode_segwit_address(hrp, address.upper()) == (version, program)
