"""script_to_asm against Bitcoin Core's getblock asm and hand-derived ScriptToAsmStr cases."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainsleuth.chain.asm import opcode_name, script_to_asm

from .conftest import BlockScripts

# A strict-DER signature (block 170's, by Satoshi) without its sighash byte.
SATOSHI_SIG = (
    "304402204e45e16932b8af514961a1d3a1a25fdf3f4f7732e9d624c6c61548ab5fb8cd410220181522ec8eca07de"
    "4860a4acdd12909d831cc56cbbac4622082221a8768d1d09"
)


def test_every_output_and_script_sig_of_a_real_core_regtest_chain(
    core_regtest_blocks: list[dict[str, Any]],
) -> None:
    n_sigs = 0
    for block in core_regtest_blocks:
        for tx in block["tx"]:
            for vout in tx["vout"]:
                spk = vout["scriptPubKey"]
                assert script_to_asm(bytes.fromhex(spk["hex"])) == spk["asm"], spk
            for vin in tx["vin"]:
                if "scriptSig" in vin:
                    sig = vin["scriptSig"]
                    assert script_to_asm(bytes.fromhex(sig["hex"]), True) == sig["asm"], sig
                    n_sigs += "[ALL]" in sig["asm"]
    assert n_sigs > 1000


def test_block_170_spend_decodes_the_sighash(mainnet_scripts: dict[int, BlockScripts]) -> None:
    coinbase_sig, satoshi_sig = mainnet_scripts[170].script_sigs
    assert satoshi_sig.hex() == "47" + SATOSHI_SIG + "01"
    assert script_to_asm(satoshi_sig, sighash_decode=True) == SATOSHI_SIG + "[ALL]"
    assert script_to_asm(satoshi_sig) == SATOSHI_SIG + "01"
    assert script_to_asm(coinbase_sig) == "486604799 2"  # nBits 0x1d00ffff, extra nonce 2


def test_genesis_coinbase_and_output(mainnet_scripts: dict[int, BlockScripts]) -> None:
    (coinbase,) = mainnet_scripts[0].script_sigs
    headline = b"The Times 03/Jan/2009 Chancellor on brink of second bailout for banks"
    assert script_to_asm(coinbase) == f"486604799 4 {headline.hex()}"
    (output,) = mainnet_scripts[0].output_scripts
    assert script_to_asm(output) == f"{output[1:-1].hex()} OP_CHECKSIG"


@pytest.mark.parametrize(
    ("script_hex", "asm"),
    [
        ("", ""),
        ("00", "0"),
        ("4f", "-1"),
        ("5160", "1 16"),
        ("0100", "0"),
        ("0180", "0"),  # negative zero
        ("0181", "-1"),
        ("02e803", "1000"),
        ("4c02e803", "1000"),  # non-minimal push still prints as a number
        ("04ffffff7f", "2147483647"),
        ("04ffffffff", "-2147483647"),
        ("050102030405", "0102030405"),
        ("50", "OP_RESERVED"),
        ("61b1b2ba", "OP_NOP OP_CHECKLOCKTIMEVERIFY OP_CHECKSEQUENCEVERIFY OP_CHECKSIGADD"),
        ("89b0b9", "OP_RESERVED1 OP_NOP1 OP_NOP10"),
        ("bbfeff", "OP_UNKNOWN OP_UNKNOWN OP_INVALIDOPCODE"),
        ("76a9", "OP_DUP OP_HASH160"),
        ("0201", "[error]"),
        ("76" + "4c", "OP_DUP [error]"),
        ("4d0100", "[error]"),
        ("6a4c", "OP_RETURN [error]"),
        ("5120" + "ab" * 32, "1 " + "ab" * 32),
    ],
)
def test_hand_derived_asm(script_hex: str, asm: str) -> None:
    assert script_to_asm(bytes.fromhex(script_hex)) == asm


@pytest.mark.parametrize(
    ("hash_type", "suffix"),
    [
        ("01", "[ALL]"),
        ("02", "[NONE]"),
        ("03", "[SINGLE]"),
        ("81", "[ALL|ANYONECANPAY]"),
        ("82", "[NONE|ANYONECANPAY]"),
        ("83", "[SINGLE|ANYONECANPAY]"),
        ("00", "00"),
        ("04", "04"),
        ("84", "84"),
        ("41", "41"),
    ],
)
def test_sighash_suffixes(hash_type: str, suffix: str) -> None:
    script = bytes.fromhex("47" + SATOSHI_SIG + hash_type)
    assert script_to_asm(script, sighash_decode=True) == SATOSHI_SIG + suffix


def test_sighash_is_not_decoded_after_op_return_or_for_non_der_data() -> None:
    after_return = bytes.fromhex("6a47" + SATOSHI_SIG + "01")
    assert script_to_asm(after_return, sighash_decode=True) == f"OP_RETURN {SATOSHI_SIG}01"
    not_der = "304403" + SATOSHI_SIG[6:]  # R no longer tagged as a DER integer
    script = bytes.fromhex("47" + not_der + "01")
    assert script_to_asm(script, sighash_decode=True) == not_der + "01"
    key = "02" + "11" * 32
    assert script_to_asm(bytes.fromhex("21" + key), sighash_decode=True) == key


def test_opcode_names() -> None:
    assert opcode_name(0xAE) == "OP_CHECKMULTISIG"
    assert opcode_name(0x4F) == "-1"
    assert opcode_name(0xC0) == "OP_UNKNOWN"


@given(st.binary(max_size=200))
def test_any_bytes_render_and_errors_only_end_the_text(script: bytes) -> None:
    text = script_to_asm(script, sighash_decode=True)
    assert "[error]" not in text or text.endswith("[error]")
    assert text == text.strip()
