"""Address ⇄ script against Bitcoin Core's key_io vectors, BIP350 vectors and a real Core chain."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from chainsleuth.chain.address import (
    address_for_output,
    address_to_script,
    is_valid_address,
    pseudo_address,
    script_to_address,
)
from chainsleuth.chain.network import NETWORKS, Network
from chainsleuth.errors import InputError, NetworkMismatchError

from .conftest import ADDRESS_VECTORS, BlockScripts

KEY_IO = json.loads((ADDRESS_VECTORS / "bitcoin_core_key_io_addresses.json").read_text())
BIP350 = json.loads((ADDRESS_VECTORS / "bip350_bech32_bech32m.json").read_text())
NETWORK_OF_CHAIN: dict[str, Network] = {net.chain: net for net in NETWORKS.values()}
NETWORK_OF_BIP350 = {"mainnet": NETWORKS["main"], "testnet": NETWORKS["test"]}
REGTEST = NETWORKS["regtest"]
MAIN = NETWORKS["main"]

GENESIS_PUBKEY = (
    "04678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e5"
    "1ec112de5c384df7ba0b8d578a4c702b6bf11d5f"
)


def _round_trip(address: str, script_hex: str, network: Network) -> None:
    script = bytes.fromhex(script_hex)
    assert address_to_script(address, network) == script
    is_bech32 = address.lower().startswith(f"{network.hrp}1")
    expected = address.lower() if is_bech32 else address  # Core prints bech32 in lowercase
    assert script_to_address(script, network) == expected
    assert is_valid_address(address, network)


@pytest.mark.parametrize("vector", KEY_IO["valid"], ids=lambda v: f"{v['chain']}-{v['address']}")
def test_core_key_io_valid_vectors_round_trip(vector: dict[str, Any]) -> None:
    network = NETWORK_OF_CHAIN[vector["chain"]]
    _round_trip(vector["address"], vector["scriptPubKey_hex"], network)
    if vector.get("tryCaseFlip"):
        flipped = vector["address"].swapcase()
        assert address_to_script(flipped, network).hex() == vector["scriptPubKey_hex"]


@pytest.mark.parametrize("vector", KEY_IO["invalid"], ids=lambda v: v["address"][:40])
def test_core_key_io_invalid_vectors_are_rejected_on_every_network(vector: dict[str, str]) -> None:
    for network in NETWORKS.values():
        with pytest.raises(InputError) as caught:
            address_to_script(vector["address"], network)
        assert not isinstance(caught.value, NetworkMismatchError)
        assert vector["address"] in str(caught.value)
        assert not is_valid_address(vector["address"], network)


@pytest.mark.parametrize("vector", BIP350["valid"], ids=lambda v: v["address"])
def test_bip350_valid_vectors_round_trip(vector: dict[str, Any]) -> None:
    _round_trip(vector["address"], vector["scriptPubKey_hex"], NETWORK_OF_BIP350[vector["network"]])


@pytest.mark.parametrize("vector", BIP350["invalid"], ids=lambda v: v["reason"])
def test_bip350_invalid_vectors_are_rejected(vector: dict[str, str]) -> None:
    for network in NETWORKS.values():
        assert not is_valid_address(vector["address"], network)


def test_every_output_address_of_a_real_core_regtest_chain(
    core_regtest_blocks: list[dict[str, Any]],
) -> None:
    checked = 0
    for block in core_regtest_blocks:
        for tx in block["tx"]:
            for vout in tx["vout"]:
                spk = vout["scriptPubKey"]
                script = bytes.fromhex(spk["hex"])
                assert script_to_address(script, REGTEST) == spk.get("address"), spk
                if "address" in spk:
                    assert address_to_script(spk["address"], REGTEST) == script
                    checked += 1
    assert checked > 12_000


@pytest.mark.parametrize(
    ("address", "network", "belongs_to"),
    [
        ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "regtest", "main"),
        ("bcrt1q5308qu3ejczty83g4ghe2n23kzulh66wz4wnm2", "main", "regtest"),
        ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "test", "main"),
        ("mgKK8smbw9mh6sjUqKNhVGrR1eohJJrxCj", "main", "test/testnet4/signet/regtest"),
    ],
)
def test_address_of_another_network_names_both(address: str, network: str, belongs_to: str) -> None:
    with pytest.raises(NetworkMismatchError) as caught:
        address_to_script(address, NETWORKS[network])
    message = str(caught.value)
    assert f"address {address} is not valid on {network}" in message
    assert f"it is a {belongs_to} address" in message


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("", "empty address"),
        ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", "bad checksum"),
        ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfN0", "bad character"),
        ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "bad checksum"),
        ("bc1pw5dgrnzv", "program length"),
    ],
)
def test_invalid_address_message_names_address_and_reason(address: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason) as caught:
        address_to_script(address, MAIN)
    assert f"invalid address {address}" in str(caught.value)


def test_pay_to_anchor_address_is_core_s() -> None:
    # Core's decodescript 51024e73 shows address bc1pfeessrawgf (type anchor).
    assert script_to_address(bytes.fromhex("51024e73"), MAIN) == "bc1pfeessrawgf"
    assert address_to_script("bc1pfeessrawgf", MAIN).hex() == "51024e73"


def test_genesis_p2pk_has_no_core_address_but_a_pseudo_address() -> None:
    script = bytes.fromhex("41" + GENESIS_PUBKEY + "ac")
    assert script_to_address(script, MAIN) is None
    assert pseudo_address(script, "pubkey") == "pk:" + GENESIS_PUBKEY
    assert address_for_output(script, MAIN) == "pk:" + GENESIS_PUBKEY


def test_block_170_outputs_are_hal_finney_and_satoshi_keys(
    mainnet_scripts: dict[int, BlockScripts],
) -> None:
    to_hal, change = mainnet_scripts[170].output_scripts[1:]
    assert address_for_output(to_hal, MAIN) == "pk:" + to_hal[1:-1].hex()
    assert to_hal[1:-1].hex().startswith("04ae1a62fe09c5f51b13905f07f06b99a2f7159b2225f374cd378d")
    assert change[1:-1].hex().startswith("0411db93e1dcdb8a016b49840f8c53bc1eb68a382e97b1482eca")


def test_bare_multisig_pseudo_address_from_a_real_block(
    mainnet_scripts: dict[int, BlockScripts],
) -> None:
    # Block 363703 pays two 1-of-3 bare multisig outputs (keys: 2 compressed, 1 uncompressed).
    multisig = [s for s in mainnet_scripts[363703].output_scripts if s[-1:] == b"\xae"]
    assert len(multisig) == 2
    for script in multisig:
        digest = hashlib.new("ripemd160", hashlib.sha256(script).digest()).hexdigest()
        assert pseudo_address(script, "multisig") == f"ms:1-of-3:{digest}"
        assert address_for_output(script, MAIN) == f"ms:1-of-3:{digest}"


@pytest.mark.parametrize("script_hex", ["6a0401020304", "", "ab", "0015" + "00" * 21])
def test_nulldata_and_nonstandard_have_no_address_at_all(script_hex: str) -> None:
    script = bytes.fromhex(script_hex)
    assert script_to_address(script, MAIN) is None
    assert address_for_output(script, MAIN) is None
    assert pseudo_address(script, "nonstandard") is None
