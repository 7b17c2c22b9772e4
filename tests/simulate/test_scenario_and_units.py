"""Scenario validation, the CLI's exit codes, and the small building blocks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainsleuth.chain.address import script_to_address
from chainsleuth.chain.network import get_network
from chainsleuth.chain.tx import Tx
from chainsleuth.cli import main
from chainsleuth.errors import InputError
from chainsleuth.simulate import load_scenario, parse_scenario
from chainsleuth.simulate.addresses import encode_addresses, encode_base58check_batch
from chainsleuth.simulate.blockwriter import xor_bytes
from chainsleuth.simulate.coinjoin import WASABI2_DENOMINATIONS, wasabi2_decompose
from chainsleuth.simulate.economy import Economy, bip34_script_sig, regtest_genesis
from chainsleuth.simulate.keys import P2PKH, P2SH_P2WPKH, P2TR, P2WPKH, KeyFactory
from chainsleuth.simulate.wallet import Output, TxAssembler, Utxo, estimate_vsize

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["tiny", "case", "bench", "bench-1m"])
def test_shipped_scenarios_parse(name: str) -> None:
    scenario = load_scenario(REPO / "scenarios" / f"{name}.yaml")
    assert scenario.name == name


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"name": "x", "blocks": "many"}, "blocks"),
        ({"name": "x", "users": {"count": -3}}, "users.count"),
        (
            {"name": "x", "exchanges": [{"name": "e", "deposit_type": "p2pk"}]},
            "exchanges[0].deposit_type",
        ),
        (
            {"name": "x", "users": {"profiles": {"wasabi-wallet": 1}}},
            "users.profiles.wasabi-wallet",
        ),
        (
            {"name": "x", "profiles": {"mine": {"change_position": "middle"}}},
            "profiles.mine.change_position",
        ),
        ({"name": "x", "colour": "blue"}, "colour"),
        ({"blocks": 3}, "name"),
    ],
)
def test_bad_field_is_named(raw: dict[str, object], field: str) -> None:
    with pytest.raises(InputError, match=rf"scenario field {__import__('re').escape(field)}:"):
        parse_scenario(raw)


def test_cli_bad_scenario_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nusers:\n  count: lots\n")
    assert main(["simulate", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "users.count" in capsys.readouterr().err


def test_genesis_and_bip34_match_core() -> None:
    assert regtest_genesis().hash.hex() == get_network("regtest").genesis_hash
    # Core v31 regtest coinbases (tests/data/regtest-core-a): heights 1, 17 and 299
    assert bip34_script_sig(1).hex() == "5100"
    assert bip34_script_sig(17).hex() == "011100"
    assert bip34_script_sig(299).hex() == "022b0100"


@pytest.mark.parametrize("kind", [P2PKH, P2SH_P2WPKH, P2WPKH, P2TR])
def test_keys_give_valid_addresses_and_exact_vsize(kind: int) -> None:
    keys = KeyFactory(3)
    regtest = get_network("regtest")
    key = keys.new_key(kind, "a", "user", is_change=False)
    address = script_to_address(key.script_pubkey, regtest)
    assert address is not None
    assert address[0] in {P2PKH: "mn", P2SH_P2WPKH: "2", P2WPKH: "b", P2TR: "b"}[kind]
    coins = [Utxo(bytes([i]) * 32, i, 50_000, key) for i in range(3)]
    tx = TxAssembler(keys).assemble(coins, [Output(key, 1000, None)] * 2, 100, 0xFFFFFFFD)
    assert Tx.parse(tx.serialize()) == tx
    assert abs(tx.vsize - estimate_vsize([kind] * 3, [kind] * 2)) <= 1  # 70-byte signatures


def test_signatures_are_strict_der_low_r_low_s() -> None:
    keys = KeyFactory(9)
    lengths = set()
    for _ in range(3000):
        sig = keys.signature()
        lengths.add(len(sig))
        assert sig[0] == 0x30 and sig[1] == len(sig) - 3 and sig[-1] == 0x01
        r_len = sig[3]
        r = sig[4 : 4 + r_len]
        s = sig[6 + r_len : -1]
        assert sig[4 + r_len] == 0x02 and sig[5 + r_len] == len(s)
        for part in (r, s):
            assert part[0] < 0x80 and part[0] != 0
    assert lengths == {70, 71}


@given(st.binary(max_size=300), st.binary(min_size=8, max_size=8), st.integers(0, 10_000))
def test_xor_is_its_own_inverse_and_position_dependent(
    data: bytes, key: bytes, offset: int
) -> None:
    once = xor_bytes(data, key, offset)
    assert xor_bytes(once, key, offset) == data
    assert all(once[i] == data[i] ^ key[(offset + i) % 8] for i in range(len(data)))


@given(st.integers(0, 10**11))
def test_wasabi2_decomposition_sums_and_uses_standard_values(amount: int) -> None:
    outs, rest = wasabi2_decompose(amount)
    assert sum(outs) + rest == amount and rest >= 0
    assert all(v in WASABI2_DENOMINATIONS for v in outs)
    assert outs == sorted(outs, reverse=True)


def test_batch_addresses_equal_chain_address_encoder() -> None:
    regtest = get_network("regtest")
    keys = KeyFactory(21)
    made = [keys.new_key(i % 4, "a", "user", is_change=False) for i in range(800)]
    scripts = [k.script_pubkey for k in made]
    batch = encode_addresses(scripts, [k.kind for k in made], regtest)
    assert batch == [script_to_address(s, regtest) for s in scripts]


def test_no_coin_is_lost_between_chain_and_actors(tmp_path: Path, blk_reader: Any) -> None:
    scenario = load_scenario(REPO / "scenarios" / "tiny.yaml")
    economy = Economy(scenario, 3, tmp_path)
    economy.run()
    chain_utxos: dict[tuple[bytes, int], int] = {}
    for _, _, block in blk_reader(tmp_path / "blocks")[1:]:
        for tx in block.txs:
            for txin in tx.inputs:
                chain_utxos.pop((txin.prev_txid, txin.prev_vout), None)
            for vout, out in enumerate(tx.outputs):
                if out.value:
                    chain_utxos[(tx.txid, vout)] = out.value
    held: list[Utxo] = [c for w in economy.ledger.wallets.values() for c in w.utxos]
    held += [c for e in economy.exchanges for c in e.deposits]
    for service in economy.services:
        held += service.deposits + [c for chain in service.chains for c in chain.coins]
    cj = economy.coinjoins
    held += [c for coins in (*cj.premix.values(), *cj.postmix.values()) for c in coins]
    held += cj.coordinator_coins
    held += [coin for _, _, coin in economy.ledger.maturing]
    tracked = {(c.txid, c.vout): c.value for c in held}
    assert tracked == chain_utxos


def test_cli_simulates_refuses_to_mix_and_replaces_with_force(tmp_path: Path) -> None:
    small = tmp_path / "small.yaml"
    small.write_text(
        "name: small\nbootstrap_blocks: 101\nblocks: 3\nusers: {count: 10}\nmerchants: {count: 1}\n"
    )
    out = tmp_path / "out"
    assert main(["simulate", str(small), "--out", str(out), "--quiet"]) == 0
    first = (out / "blocks" / "blk00000.dat").read_bytes()
    assert main(["simulate", str(small), "--out", str(out), "--quiet"]) == 2
    args = ["simulate", str(small), "--out", str(out), "--quiet", "--force", "--seed", "2"]
    assert main(args) == 0
    assert (out / "blocks" / "blk00000.dat").read_bytes() != first
    assert (out / "truth" / "txs.csv").read_text().startswith('"txid","block_height"')


@given(st.lists(st.binary(min_size=21, max_size=21), min_size=1, max_size=20))
def test_base58check_batch_equals_chain_encoder(payloads: list[bytes]) -> None:
    import numpy as np

    from chainsleuth.chain.base58 import b58check_encode

    batch = np.frombuffer(b"".join(payloads), dtype=np.uint8).reshape(len(payloads), 21)
    assert encode_base58check_batch(batch) == [b58check_encode(p) for p in payloads]


def test_base58check_batch_keeps_leading_zero_bytes() -> None:
    import numpy as np

    from chainsleuth.chain.base58 import b58check_encode

    payload = bytes(3) + bytes(range(1, 19))
    batch = np.frombuffer(payload, dtype=np.uint8).reshape(1, 21)
    assert encode_base58check_batch(batch) == [b58check_encode(payload)]
    assert encode_base58check_batch(batch)[0].startswith("111")
