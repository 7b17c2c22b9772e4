"""The ingested regtest chain equals Bitcoin Core's own ``getblock <hash> 2`` in every field."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from chainsleuth.store.dataset import Dataset


def _sats(btc: float | Decimal) -> int:
    return int((Decimal(str(btc)) * 100_000_000).to_integral_value())


@pytest.fixture(scope="module")
def ds(regtest_dataset: Path) -> Dataset:
    return Dataset.open(regtest_dataset)


def test_blocks_equal_core(ds: Dataset, core_blocks: list[dict[str, Any]]) -> None:
    rows = ds.sql(
        "SELECT height, hash, prev_hash, merkle_root, epoch(time)::BIGINT, version, bits, nonce,"
        " n_tx, size, stripped_size, weight FROM blocks ORDER BY height"
    ).fetchall()
    assert len(rows) == len(core_blocks) == 474
    for row, core in zip(rows, core_blocks, strict=True):
        h, bhash, prev, merkle, t, version, bits, nonce, n_tx, size, stripped, weight = row
        assert h == core["height"]
        assert bytes(bhash).hex() == core["hash"]
        assert bytes(prev).hex() == core.get("previousblockhash", "00" * 32)
        assert bytes(merkle).hex() == core["merkleroot"]
        assert t == core["time"]
        assert version == core["version"]
        assert f"{bits:08x}" == core["bits"]
        assert nonce == core["nonce"]
        assert (n_tx, size, stripped, weight) == (
            core["nTx"],
            core["size"],
            core["strippedsize"],
            core["weight"],
        )


def test_every_transaction_output_and_input_equals_core(
    ds: Dataset, core_blocks: list[dict[str, Any]]
) -> None:
    txs = ds.sql(
        "SELECT tx_id, txid, wtxid, height, block_pos, version, locktime, size, vsize, weight,"
        " n_in, n_out, is_coinbase, fee, in_value, out_value FROM txs ORDER BY tx_id"
    ).fetchall()
    outs = ds.sql(
        "SELECT o.tx_id, o.vout, o.value, o.script_type, a.address, o.script, o.spent_by_tx,"
        " o.spent_by_vin FROM outputs o LEFT JOIN addresses a USING (addr_id) ORDER BY out_id"
    ).fetchall()
    ins = ds.sql(
        "SELECT i.tx_id, i.vin, t.txid, o.vout, i.sequence, i.value, i.prev_txid, i.prev_vout"
        " FROM inputs i LEFT JOIN outputs o USING (out_id) LEFT JOIN txs t ON t.tx_id = o.tx_id"
        " ORDER BY i.tx_id, i.vin"
    ).fetchall()
    core_txs = [(b["height"], pos, tx) for b in core_blocks for pos, tx in enumerate(b["tx"])]
    assert len(txs) == len(core_txs) == 3981
    out_i = 0
    in_i = 0
    spent_by: dict[tuple[str, int], tuple[int, int]] = {}
    for row, (height, pos, core) in zip(txs, core_txs, strict=True):
        (
            tx_id,
            txid,
            wtxid,
            h,
            bpos,
            version,
            locktime,
            size,
            vsize,
            weight,
            n_in,
            n_out,
            is_cb,
            fee,
            in_value,
            out_value,
        ) = row
        assert bytes(txid).hex() == core["txid"]
        assert bytes(wtxid).hex() == core["hash"]
        assert (h, bpos) == (height, pos)
        assert (version, locktime, size, vsize, weight) == (
            core["version"],
            core["locktime"],
            core["size"],
            core["vsize"],
            core["weight"],
        )
        assert (n_in, n_out) == (len(core["vin"]), len(core["vout"]))
        assert is_cb == ("coinbase" in core["vin"][0])
        if is_cb:
            assert fee is None
        else:
            assert fee == _sats(core["fee"])
            assert in_value == out_value + fee
        assert out_value == sum(_sats(v["value"]) for v in core["vout"])
        for v in core["vout"]:
            o_tx, vout, value, stype, address, script, _, _ = outs[out_i]
            out_i += 1
            spk = v["scriptPubKey"]
            assert (o_tx, vout, value) == (tx_id, v["n"], _sats(v["value"]))
            assert stype == spk["type"]
            assert bytes(script).hex() == spk["hex"]
            if "address" in spk:
                assert address == spk["address"]
            elif spk["type"] == "pubkey":  # documented pseudo-address: the key itself
                assert address == "pk:" + spk["hex"][2:-2]
            else:
                assert address is None
        for n, vin in enumerate(core["vin"]):
            i_tx, i_vin, prev_txid, prev_vout, seq, value, raw_prev, raw_vout = ins[in_i]
            in_i += 1
            assert (i_tx, i_vin, seq) == (tx_id, n, vin["sequence"])
            if "coinbase" in vin:
                assert prev_txid is None and value is None
                continue
            assert bytes(prev_txid).hex() == vin["txid"] == bytes(raw_prev).hex()
            assert prev_vout == vin["vout"] == raw_vout
            spent_by[(vin["txid"], vin["vout"])] = (tx_id, n)
    assert out_i == len(outs) and in_i == len(ins)
    # spent_by_tx / spent_by_vin point back at exactly the spending input.
    txid_of = {r[0]: bytes(r[1]).hex() for r in txs}
    for o_tx, vout, _, _, _, _, sb_tx, sb_vin in outs:
        expected = spent_by.get((txid_of[o_tx], vout))
        assert (sb_tx, sb_vin) == (expected if expected else (None, None))


def test_manifest_counts_and_checksums(ds: Dataset) -> None:
    from chainsleuth.store.parts import sha256_file

    m = ds.manifest
    assert m.tip_height == 473
    assert m.tip_hash == "65ad3440e19eda11c64e289418f070c0813d417c360cfb1ab2d793dd62b28db5"
    assert m.counts["txs"] == 3981 and m.counts["blocks"] == 474
    # five partitions x six tables, plus the saved index state the last run resumes from
    # (as of height 399: the partial partition 400-499 is redone by the next run)
    parts = [f for f in m.files if f.startswith("tables/")]
    assert len(parts) == 5 * 6
    indexes = [f for f in m.files if f.startswith("index/")]
    assert len(indexes) == 5 * 5  # five sorted lookup indexes per partition (store/lookup.py)
    assert sorted(f for f in m.files if f.startswith("state/")) == [
        "state/addresses/hot-000400.npy",  # the address dictionary's hot keys (no spill yet)
        "state/utxo-h000000399.bin",
    ]
    assert m.state["height"] == 399
    for rel, digest in m.files.items():
        assert sha256_file(ds.path / rel) == digest
    n_addr = ds.sql(
        "SELECT count(*), count(DISTINCT address), max(addr_id) FROM addresses"
    ).fetchone()
    assert n_addr == (m.counts["addresses"], m.counts["addresses"], m.counts["addresses"] - 1)
