"""Base58 / Base58Check against Bitcoin Core's vectors and hand-checked addresses."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainsleuth.chain.base58 import b58check_decode, b58check_encode, b58decode, b58encode
from chainsleuth.errors import InputError

from .conftest import ADDRESS_VECTORS

BASE58_VECTORS = json.loads(
    (ADDRESS_VECTORS / "bitcoin-core" / "base58_encode_decode.json").read_text()
)
KEY_IO = json.loads((ADDRESS_VECTORS / "bitcoin_core_key_io_addresses.json").read_text())
BASE58_ADDRESSES = [v for v in KEY_IO["valid"] if v["encoding"] == "base58check"]


@pytest.mark.parametrize(("hex_data", "text"), BASE58_VECTORS)
def test_core_base58_vectors_both_directions(hex_data: str, text: str) -> None:
    assert b58encode(bytes.fromhex(hex_data)) == text
    assert b58decode(text) == bytes.fromhex(hex_data)


@pytest.mark.parametrize("vector", BASE58_ADDRESSES, ids=lambda v: v["address"])
def test_core_base58check_addresses_carry_the_script_hash(vector: dict[str, str]) -> None:
    payload = b58check_decode(vector["address"])
    script = bytes.fromhex(vector["scriptPubKey_hex"])
    key_hash = script[3:23] if script[0] == 0x76 else script[2:22]
    assert payload[1:] == key_hash
    assert b58check_encode(payload) == vector["address"]


def test_genesis_address_by_hand() -> None:
    # Genesis output key hash, as block explorers show for 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa.
    payload = bytes.fromhex("0062e907b15cbf27d5425399ebf6f0fb50ebb88f18")
    assert b58check_encode(payload) == "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"


@pytest.mark.parametrize(
    "bad", ["0", "O", "I", "l", "abc+", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfN\u00e9"]
)
def test_characters_outside_the_alphabet_are_named(bad: str) -> None:
    with pytest.raises(InputError, match="bad character"):
        b58decode(bad)


def test_bad_checksum_and_too_short_are_rejected() -> None:
    with pytest.raises(InputError, match="bad checksum"):
        b58check_decode("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb")
    with pytest.raises(InputError, match="too short"):
        b58check_decode("111")


@given(st.binary(max_size=64))
def test_base58_round_trip(data: bytes) -> None:
    assert b58decode(b58encode(data)) == data


@given(st.binary(max_size=64))
def test_base58check_round_trip(payload: bytes) -> None:
    assert b58check_decode(b58check_encode(payload)) == payload


@given(st.binary(min_size=1, max_size=40), st.integers(min_value=0, max_value=200))
def test_single_character_change_breaks_the_checksum(payload: bytes, where: int) -> None:
    text = b58check_encode(payload)
    pos = where % len(text)
    replacement = "2" if text[pos] != "2" else "3"
    corrupted = text[:pos] + replacement + text[pos + 1 :]
    with pytest.raises(InputError):  # a false pass needs a 2**-32 checksum collision
        b58check_decode(corrupted)
