"""Profiles of dataset objects (transaction, address, block) as plain JSON-able dicts.

These back ``chainsleuth show`` and the API; amounts are satoshis, hashes hex. With lookup
indexes (:mod:`chainsleuth.store.lookup`) a profile reads only the rows it shows, from the
parts of the partitions that hold them; without them it falls back to SQL over the views.
Both give the same profile.

>>> genesis_coinbase = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
>>> tx_profile(ds, genesis_coinbase)["n_out"]  # ds: the regtest chain
1
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainsleuth.errors import NotFoundError
from chainsleuth.store.dataset import Dataset, _parse_hash
from chainsleuth.store.rows import as_dicts, numpy_of

__all__ = ["address_profile", "block_profile", "tx_profile"]

_TX_LIMIT = 50
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _iso(ts: Any) -> str | None:
    """ISO 8601 of a timestamp: a datetime (SQL) or microseconds since the epoch (parts)."""
    if isinstance(ts, int):
        ts = _EPOCH + timedelta(microseconds=ts)
    return None if ts is None else ts.isoformat()


_TX_KEYS = [
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
_IN_COLS = [
    "vin",
    "out_id",
    "prev_txid",
    "prev_vout",
    "value",
    "addr_id",
    "script_type",
    "sequence",
]


def tx_profile(ds: Dataset, txid_hex: str) -> dict[str, Any]:
    """A transaction with its inputs (spent address, value) and outputs (address, spender)."""
    tx_id = ds.tx_id(txid_hex)
    lk = ds.lookup
    if not lk.indexed:
        return _tx_profile_sql(ds, tx_id)
    rows = lk.rows
    row = as_dicts(rows.by_id("txs", np.array([tx_id]), [*_TX_KEYS, "first_out_id"]))[0]
    prof = {k: row[k] for k in _TX_KEYS}
    prof["txid"] = bytes(prof["txid"]).hex()
    prof["time"] = _iso(prof["time"])
    prof["tx_id"] = tx_id
    part = int(rows.part_of("txs", np.array([tx_id]))[0])
    ins = rows.where_between("inputs", part, "tx_id", tx_id, tx_id, _IN_COLS)
    ins = ins.sort_by("vin")
    out_ids = np.arange(row["first_out_id"], row["first_out_id"] + row["n_out"], dtype=np.int64)
    outs = rows.by_id("outputs", out_ids, ["vout", "value", "addr_id", "script_type"])
    addr_ids = np.concatenate([_present(ins.column("addr_id")), _present(outs.column("addr_id"))])
    names = dict(zip(addr_ids.tolist(), lk.addresses_of(addr_ids), strict=True))
    spender = lk.spenders(out_ids)
    spender_txid = dict(zip(spender.tolist(), lk.txids_of(spender), strict=True))
    prof["inputs"] = [
        {
            "vin": r["vin"],
            "prev_txid": None if r["out_id"] is None else bytes(r["prev_txid"]).hex(),
            "prev_vout": r["prev_vout"],
            "value": r["value"],
            "address": None if r["addr_id"] is None else names[r["addr_id"]],
            "script_type": r["script_type"],
            "sequence": r["sequence"],
        }
        for r in ins.to_pylist()
    ]
    prof["outputs"] = [
        {
            "vout": r["vout"],
            "value": r["value"],
            "address": None if r["addr_id"] is None else names[r["addr_id"]],
            "script_type": r["script_type"],
            "spent_by": None if sb < 0 else spender_txid[sb],
        }
        for r, sb in zip(outs.to_pylist(), spender.tolist(), strict=True)
    ]
    return prof


def _present(col: pa.ChunkedArray) -> np.ndarray:
    """The non-null values of an int64 column."""
    return numpy_of(col.drop_null())


def _tx_profile_sql(ds: Dataset, tx_id: int) -> dict[str, Any]:
    """:func:`tx_profile` by SQL over the views (a dataset without lookup indexes)."""
    row = ds.sql(
        "SELECT txid, height, block_pos, time, version, locktime, size, vsize, weight, n_in, n_out,"
        " is_coinbase, has_witness, in_value, out_value, fee FROM txs WHERE tx_id = ?",
        [tx_id],
    ).fetchone()
    assert row is not None
    prof = dict(zip(_TX_KEYS, row, strict=True))
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
    lk = ds.lookup
    if not lk.indexed:
        return _address_profile_sql(ds, addr_id, limit)
    rows = lk.rows
    info = rows.by_id("addresses", np.array([addr_id]), ["address", "script_type", "first_height"])
    outs = rows.by_id("outputs", lk.outputs_of_addr(addr_id), ["tx_id", "value", "height"])
    spends = [
        rows.take("inputs", p, r, ["tx_id", "value", "height"])
        for p, r in lk.inputs_of_addr(addr_id)
    ]
    ins = pa.concat_tables(spends) if spends else outs.slice(0, 0)
    out_value = numpy_of(outs.column("value"))
    in_value = numpy_of(ins.column("value"))
    tx = np.concatenate([numpy_of(outs.column("tx_id")), numpy_of(ins.column("tx_id"))])
    heights = np.concatenate([numpy_of(outs.column("height")), numpy_of(ins.column("height"))])
    uniq, inv = np.unique(tx, return_inverse=True)
    recv = np.zeros(uniq.size, dtype=np.int64)
    sent = np.zeros(uniq.size, dtype=np.int64)
    np.add.at(recv, inv[: out_value.size], out_value)
    np.add.at(sent, inv[out_value.size :], in_value)
    newest = np.arange(uniq.size)[::-1][:limit]
    top = as_dicts(rows.by_id("txs", uniq[newest], ["txid", "height", "time"]))
    received, spent = int(out_value.sum()), int(in_value.sum())
    return {
        "address": info.column("address")[0].as_py(),
        "addr_id": addr_id,
        "script_type": info.column("script_type")[0].as_py(),
        "first_height": info.column("first_height")[0].as_py(),
        "last_height": int(heights.max()) if heights.size else None,
        "n_outputs_received": int(out_value.size),
        "received": received,
        "n_outputs_spent": int(in_value.size),
        "spent": spent,
        "balance": received - spent,
        "n_txs": int(uniq.size),
        "txs": [
            {
                "txid": bytes(t["txid"]).hex(),
                "height": t["height"],
                "time": _iso(t["time"]),
                "received": int(recv[i]),
                "sent": int(sent[i]),
            }
            for i, t in zip(newest.tolist(), top, strict=True)
        ],
    }


def _address_profile_sql(ds: Dataset, addr_id: int, limit: int) -> dict[str, Any]:
    """:func:`address_profile` by SQL over the views (a dataset without lookup indexes)."""
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


_BLOCK_KEYS = [
    "height",
    "hash",
    "prev_hash",
    "time",
    "version",
    "bits",
    "nonce",
    "n_tx",
    "size",
    "stripped_size",
    "weight",
    "first_tx_id",
]


def block_profile(ds: Dataset, height_or_hash: str) -> dict[str, Any]:
    """A block summary by height or hash, with its largest transactions by output value.

    Reads the block's row and its transactions' rows from its partition's parts only (a block
    hash is first turned into a height by SQL over the small ``blocks`` table).
    """
    if height_or_hash.isdigit():
        height = int(height_or_hash)
    else:
        found = ds.sql(
            "SELECT height FROM blocks WHERE hash = ?", [_parse_hash(height_or_hash, "block hash")]
        ).fetchone()
        if found is None:
            raise NotFoundError(f"block not in dataset: {height_or_hash}")
        height = int(found[0])
    rows = ds.lookup.rows
    block = rows.block(height, _BLOCK_KEYS)
    if block is None:
        raise NotFoundError(f"block not in dataset: {height_or_hash}")
    first, n_tx = block["first_tx_id"], block["n_tx"]
    txs = rows.by_id(
        "txs",
        np.arange(first, first + n_tx, dtype=np.int64),
        ["tx_id", "txid", "n_in", "n_out", "out_value", "fee"],
    )
    top = txs.sort_by([("out_value", "descending"), ("tx_id", "ascending")]).slice(0, 10)
    return {
        **{k: block[k] for k in _BLOCK_KEYS},
        "hash": bytes(block["hash"]).hex(),
        "prev_hash": bytes(block["prev_hash"]).hex(),
        "time": _iso(block["time"]),
        "bits": f"{block['bits']:08x}",
        "total_out": int(pc.sum(txs.column("out_value")).as_py() or 0),
        "total_fee": int(pc.sum(txs.column("fee")).as_py() or 0),
        "n_inputs": int(pc.sum(txs.column("n_in")).as_py() or 0),
        "n_outputs": int(pc.sum(txs.column("n_out")).as_py() or 0),
        "top_txs": [
            {
                "txid": bytes(r["txid"]).hex(),
                "n_in": r["n_in"],
                "n_out": r["n_out"],
                "out_value": r["out_value"],
                "fee": r["fee"],
            }
            for r in top.to_pylist()
        ],
    }
