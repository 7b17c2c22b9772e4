"""Profiles of dataset objects (transaction, address, block) as plain JSON-able dicts.

These back ``chainsleuth show`` and the API; amounts are satoshis, hashes hex.

>>> from chainsleuth.store.dataset import Dataset
>>> ds = Dataset.open("dataset")  # doctest: +SKIP
>>> genesis_coinbase = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
>>> tx_profile(ds, genesis_coinbase)["n_out"]  # doctest: +SKIP
1
"""

from __future__ import annotations

from typing import Any

from chainsleuth.errors import NotFoundError
from chainsleuth.store.dataset import Dataset, _parse_hash

__all__ = ["address_profile", "block_profile", "tx_profile"]

_TX_LIMIT = 50


def _iso(ts: Any) -> str | None:
    return None if ts is None else ts.isoformat()


def tx_profile(ds: Dataset, txid_hex: str) -> dict[str, Any]:
    """A transaction with its inputs (spent address, value) and outputs (address, spender)."""
    tx_id = ds.tx_id(txid_hex)
    row = ds.sql(
        "SELECT txid, height, block_pos, time, version, locktime, size, vsize, weight, n_in, n_out,"
        " is_coinbase, has_witness, in_value, out_value, fee FROM txs WHERE tx_id = ?",
        [tx_id],
    ).fetchone()
    assert row is not None
    keys = [
        "txid",
        "height",
        "block_pos",
        "time",
        "version",
        "locktime",
        "size",
        "vsize",
        "weight",
        "n_in",
        "n_out",
        "is_coinbase",
        "has_witness",
        "in_value",
        "out_value",
        "fee",
    ]
    prof = dict(zip(keys, row, strict=True))
    prof["txid"] = bytes(prof["txid"]).hex()
    prof["time"] = _iso(prof["time"])
    prof["tx_id"] = tx_id
    prof["inputs"] = [
        {
            "vin": vin,
            "prev_txid": None if ptx is None else bytes(ptx).hex(),
            "prev_vout": pv,
            "value": value,
            "address": addr,
            "script_type": st,
            "sequence": seq,
        }
        for vin, ptx, pv, value, addr, st, seq in ds.sql(
            "SELECT i.vin, CASE WHEN i.out_id IS NULL THEN NULL ELSE i.prev_txid END, i.prev_vout,"
            " i.value, a.address, i.script_type, i.sequence FROM inputs i"
            " LEFT JOIN addresses a USING (addr_id) WHERE i.tx_id = ? ORDER BY i.vin",
            [tx_id],
        ).fetchall()
    ]
    prof["outputs"] = [
        {
            "vout": vout,
            "value": value,
            "address": addr,
            "script_type": st,
            "spent_by": None if sb is None else bytes(sb).hex(),
        }
        for vout, value, addr, st, sb in ds.sql(
            "SELECT o.vout, o.value, a.address, o.script_type, t.txid FROM outputs o"
            " LEFT JOIN addresses a USING (addr_id) LEFT JOIN txs t ON t.tx_id = o.spent_by_tx"
            " WHERE o.tx_id = ? ORDER BY o.vout",
            [tx_id],
        ).fetchall()
    ]
    return prof


def address_profile(ds: Dataset, address: str, limit: int = _TX_LIMIT) -> dict[str, Any]:
    """Totals received/spent, balance, first/last activity and the latest transactions."""
    addr_id = ds.addr_id(address)
    info = ds.sql(
        "SELECT address, script_type, first_height FROM addresses WHERE addr_id = ?", [addr_id]
    ).fetchone()
    assert info is not None
    totals = ds.sql(
        "SELECT count(*), coalesce(sum(value), 0), count(spent_by_tx),"
        " coalesce(sum(CASE WHEN spent_by_tx IS NOT NULL THEN value END), 0)"
        " FROM outputs WHERE addr_id = ?",
        [addr_id],
    ).fetchone()
    assert totals is not None
    n_recv, received, n_spent, spent = totals
    txs = ds.sql(
        "WITH ev AS ("
        "  SELECT tx_id, value AS recv, 0::BIGINT AS sent FROM outputs WHERE addr_id = ?"
        "  UNION ALL SELECT tx_id, 0, value FROM inputs WHERE addr_id = ?)"
        " SELECT t.txid, t.height, t.time, sum(ev.recv)::BIGINT, sum(ev.sent)::BIGINT"
        " FROM ev JOIN txs t USING (tx_id) GROUP BY t.tx_id, t.txid, t.height, t.time"
        " ORDER BY t.tx_id DESC",
        [addr_id, addr_id],
    ).fetchall()
    return {
        "address": info[0],
        "addr_id": addr_id,
        "script_type": info[1],
        "first_height": info[2],
        "last_height": max((t[1] for t in txs), default=None),
        "n_outputs_received": n_recv,
        "received": int(received),
        "n_outputs_spent": n_spent,
        "spent": int(spent),
        "balance": int(received) - int(spent),
        "n_txs": len(txs),
        "txs": [
            {
                "txid": bytes(t[0]).hex(),
                "height": t[1],
                "time": _iso(t[2]),
                "received": t[3],
                "sent": t[4],
            }
            for t in txs[:limit]
        ],
    }


def block_profile(ds: Dataset, height_or_hash: str) -> dict[str, Any]:
    """A block summary by height or hash, with its largest transactions by output value."""
    param: list[Any]
    if height_or_hash.isdigit():
        where, param = "height = ?", [int(height_or_hash)]
    else:
        where, param = "hash = ?", [_parse_hash(height_or_hash, "block hash")]
    row = ds.sql(
        "SELECT height, hash, prev_hash, time, version, bits, nonce, n_tx, size, stripped_size,"
        f" weight, first_tx_id FROM blocks WHERE {where}",
        param,
    ).fetchone()
    if row is None:
        raise NotFoundError(f"block not in dataset: {height_or_hash}")
    height, bhash, prev, t, version, bits, nonce, n_tx, size, stripped, weight, first = row
    stats = ds.sql(
        "SELECT sum(out_value), sum(fee), sum(n_in), sum(n_out) FROM txs WHERE height = ?",
        [height],
    ).fetchone()
    assert stats is not None
    top = ds.sql(
        "SELECT txid, n_in, n_out, out_value, fee FROM txs WHERE height = ?"
        " ORDER BY out_value DESC, tx_id LIMIT 10",
        [height],
    ).fetchall()
    return {
        "height": height,
        "hash": bytes(bhash).hex(),
        "prev_hash": bytes(prev).hex(),
        "time": _iso(t),
        "version": version,
        "bits": f"{bits:08x}",
        "nonce": nonce,
        "n_tx": n_tx,
        "size": size,
        "stripped_size": stripped,
        "weight": weight,
        "first_tx_id": first,
        "total_out": int(stats[0] or 0),
        "total_fee": int(stats[1] or 0),
        "n_inputs": int(stats[2] or 0),
        "n_outputs": int(stats[3] or 0),
        "top_txs": [
            {"txid": bytes(r[0]).hex(), "n_in": r[1], "n_out": r[2], "out_value": r[3], "fee": r[4]}
            for r in top
        ],
    }
