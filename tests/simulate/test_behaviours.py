"""Behaviours in the simulated truth: CoinJoin shapes, wallet-profile change, tag packs."""

from __future__ import annotations

from collections import Counter
from typing import Any

import yaml

from chainsleuth.chain.address import script_to_address
from chainsleuth.chain.network import get_network
from chainsleuth.chain.tx import Tx
from chainsleuth.simulate.coinjoin import is_standard_denomination
from chainsleuth.simulate.keys import ADDRESS_TYPES, address_type_code
from chainsleuth.simulate.profiles import core_default_change_type

REGTEST = get_network("regtest")


def _txs_by_id(run: Any) -> dict[str, Tx]:
    return {tx.txid.hex(): tx for _, _, block in run.blocks for tx in block.txs}


def _coinjoins(run: Any, note: str) -> list[Tx]:
    by_id = _txs_by_id(run)
    rows = run.txs[(run.txs.kind == "coinjoin") & (run.txs.note == note)]
    assert len(rows) > 0, f"no {note} round in the tiny scenario"
    return [by_id[t] for t in rows.txid]


def test_whirlpool_rounds_are_5x5_equal(tiny_run: Any) -> None:
    for tx in _coinjoins(tiny_run, "whirlpool"):
        values = {o.value for o in tx.outputs}
        assert len(tx.inputs) == 5 and len(tx.outputs) == 5
        assert len(values) == 1 and values <= {100_000, 1_000_000, 5_000_000}


def test_wasabi1_rounds_have_ten_plus_equal_outputs_change_and_fee(tiny_run: Any) -> None:
    owner = dict(zip(tiny_run.addresses.address, tiny_run.addresses.entity, strict=True))
    for tx in _coinjoins(tiny_run, "wasabi1"):
        value, count = Counter(o.value for o in tx.outputs).most_common(1)[0]
        assert count >= 10 and 9_800_000 <= value <= 10_200_000
        receivers = [owner[script_to_address(o.script_pubkey, REGTEST)] for o in tx.outputs]
        assert receivers.count("wasabi-coordinator") == 1
        changes = len(tx.outputs) - count - 1
        assert 0 < changes <= count


def test_wasabi2_rounds_have_many_inputs_and_standard_denominations(tiny_run: Any) -> None:
    for tx in _coinjoins(tiny_run, "wasabi2"):
        assert len(tx.inputs) >= 50
        standard = sum(is_standard_denomination(o.value) for o in tx.outputs)
        assert standard >= 0.6 * len(tx.outputs)


def test_joinmarket_rounds_have_n_equal_and_n_minus_1_changes(tiny_run: Any) -> None:
    for tx in _coinjoins(tiny_run, "joinmarket"):
        _, n = Counter(o.value for o in tx.outputs).most_common(1)[0]
        assert n >= 3
        assert len(tx.outputs) == 2 * n - 1


def test_change_outputs_follow_the_wallet_profile(tiny_run: Any) -> None:
    run = tiny_run
    by_id = _txs_by_id(run)
    addr = run.addresses.set_index("address")
    ents = run.entities.set_index("name")
    checked = Counter()
    rows = run.txs[
        (run.txs.change_vout >= 0) & run.txs.profile.isin(["bitcoin-core", "electrum", "mobile"])
    ]
    for row in rows.itertuples():
        tx = by_id[row.txid]
        outs = [script_to_address(o.script_pubkey, REGTEST) for o in tx.outputs]
        change = addr.loc[outs[row.change_vout]]
        assert bool(change.is_change) and change.entity == row.senders
        entity = ents.loc[row.senders]
        recipients = [
            address_type_code(addr.loc[a].address_type)
            for i, a in enumerate(outs)
            if i != row.change_vout
        ]
        change_type = address_type_code(change.address_type)
        rule = entity.change_rule
        if rule == "wallet":
            assert change.address_type == entity.receive_type
        elif rule == "core-default":
            assert change_type == core_default_change_type(recipients)
        elif rule == "same-as-payment" and row.profile == "mobile":
            assert change_type == recipients[0]
        if row.profile == "mobile":
            assert row.change_vout == len(tx.outputs) - 1
            assert tx.locktime == 0 and {i.sequence for i in tx.inputs} == {0xFFFFFFFF}
        elif row.profile == "electrum":
            keys = [(o.value, o.script_pubkey) for o in tx.outputs]
            assert keys == sorted(keys)
            prevs = [(i.prev_txid, i.prev_vout) for i in tx.inputs]
            assert prevs == sorted(prevs)
            assert tx.locktime == row.block_height - 1
        else:  # bitcoin-core: anti-fee-sniping, BIP125 or locktime-enabling sequences
            tip = row.block_height - 1
            assert tx.locktime == 0 or tip - 99 <= tx.locktime <= tip
            assert {i.sequence for i in tx.inputs} <= {0xFFFFFFFD, 0xFFFFFFFE, 0xFFFFFFFF}
        checked[row.profile] += 1
    assert min(checked[p] for p in ("bitcoin-core", "electrum", "mobile")) > 20
    assert set(run.addresses.address_type) <= set(ADDRESS_TYPES)


def test_core_profile_change_position_is_spread(tiny_run: Any) -> None:
    rows = tiny_run.txs[(tiny_run.txs.profile == "bitcoin-core") & (tiny_run.txs.change_vout >= 0)]
    two = rows[rows.n_outputs == 2]
    share_first = (two.change_vout == 0).mean()
    assert 0.3 < share_first < 0.7  # Core puts change at a random position


def test_tagpacks_name_real_addresses_of_their_actor(tiny_run: Any) -> None:
    owner = dict(zip(tiny_run.addresses.address, tiny_run.addresses.entity, strict=True))
    packs = {
        p.name: yaml.safe_load(p.read_text())
        for p in (tiny_run.out / "truth" / "tagpacks").glob("*.yaml")
    }
    assert set(packs) == {"exchanges.yaml", "mining-pools.yaml", "service-test-purchase.yaml"}
    for pack in packs.values():
        assert pack["currency"] == "BTC" and pack["creator"] and pack["title"]
        for tag in pack["tags"]:
            assert owner[tag["address"]] == tag["actor"]
    ex_tags = Counter(t["actor"] for t in packs["exchanges.yaml"]["tags"])
    deposit_addrs = tiny_run.addresses[
        (tiny_run.addresses.role == "exchange") & ~tiny_run.addresses.is_change
    ]
    for exchange, n in ex_tags.items():
        assert 0 < n < (deposit_addrs.entity == exchange).sum()
    test_addrs = {t["address"] for t in packs["service-test-purchase.yaml"]["tags"]}
    paid = tiny_run.payments[tiny_run.payments.test_purchase]
    assert test_addrs == set(paid.deposit_address)
    assert packs["mining-pools.yaml"]["category"] == "mining_service"


def test_core_profile_locktime_and_sequence_shares_match_real_core(tiny_run: Any) -> None:
    # Real Core v31 user wallets (tests/data/regtest-core-a, docs/simulator.md): nLockTime at the
    # tip 87 %, nSequence 0xfffffffd 68 %, 0xffffffff 1.9 % (only with nLockTime 0).
    by_id = _txs_by_id(tiny_run)
    rows = tiny_run.txs[tiny_run.txs.profile == "bitcoin-core"]
    txs = [(by_id[r.txid], r.block_height) for r in rows.itertuples()]
    at_tip = sum(tx.locktime == h - 1 for tx, h in txs) / len(txs)
    rbf = sum(tx.inputs[0].sequence == 0xFFFFFFFD for tx, _ in txs) / len(txs)
    assert len(txs) > 300
    assert 0.80 < at_tip < 0.94
    assert 0.58 < rbf < 0.78
    for tx, _ in txs:
        if tx.inputs[0].sequence == 0xFFFFFFFF:
            assert tx.locktime == 0


def test_core_default_change_rule_holds_on_real_core_wallets() -> None:
    import csv
    import gzip
    import json
    from pathlib import Path

    base = Path(__file__).resolve().parents[1] / "data" / "regtest-core-a"
    with open(base / "truth" / "addresses.csv", newline="") as fh:
        addr = {r["address"]: r for r in csv.DictReader(fh)}
    with open(base / "truth" / "wallets.csv", newline="") as fh:
        default_wallets = {
            r["wallet"] for r in csv.DictReader(fh) if r["change_type"] == "core-default"
        }
    with open(base / "truth" / "transactions.csv", newline="") as fh:
        senders = {r["txid"]: r["senders"] for r in csv.DictReader(fh) if r["kind"] != "coinjoin"}
    checked = 0
    with gzip.open(base / "getblock" / "blocks.jsonl.gz", "rt") as fh:
        for line in fh:
            for tx in json.loads(line)["tx"]:
                outs = [o["scriptPubKey"].get("address") for o in tx["vout"]]
                rows = [addr.get(a) for a in outs]
                change = [
                    r
                    for r in rows
                    if r and r["is_change"] == "true" and r["wallet"] in default_wallets
                ]
                if len(change) != 1 or senders.get(tx["txid"]) != change[0]["wallet"]:
                    continue
                kinds = [
                    address_type_code(r["address_type"]) for r in rows if r and r is not change[0]
                ]
                assert address_type_code(change[0]["address_type"]) == core_default_change_type(
                    kinds
                )
                checked += 1
    assert checked > 500


def test_bip69_profile_sorts_every_transaction(tiny_run: Any) -> None:
    by_id = _txs_by_id(tiny_run)
    rows = tiny_run.txs[tiny_run.txs.profile == "electrum"]
    assert len(rows) > 50
    for txid in rows.txid:
        tx = by_id[txid]
        outs = [(o.value, o.script_pubkey) for o in tx.outputs]
        prevs = [(i.prev_txid, i.prev_vout) for i in tx.inputs]
        assert outs == sorted(outs) and prevs == sorted(prevs)
