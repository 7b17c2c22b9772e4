"""Arrow schemas of the stored dataset tables (DESIGN §3, contract v2) and the schema version.

Contract v2 (whole-chain scale): a written part is never rewritten. ``outputs`` parts carry no
spender; spends live in the append-only ``spends`` table (one row per non-coinbase input,
partitioned by the spending height, sorted by ``out_id`` within a part) and the catalog's
``outputs`` view derives ``spent_by_tx`` / ``spent_by_vin`` from it (:data:`VIEW_EXTRA`).
Outputs carry a fixed-width 128-bit ``script_key`` (the address dictionary's key) and the
``height`` of their transaction; inputs the ``height`` of theirs. Variable-length columns use
64-bit offsets (``large_binary`` / ``large_string``).

>>> TABLES["txs"].field("txid").type
FixedSizeBinaryType(fixed_size_binary[32])
>>> STORED_TABLES[-1], "spent_by_tx" in TABLES["outputs"].names
('spends', False)
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["SCHEMA_VERSION", "STORED_TABLES", "TABLES", "TABLE_NAMES", "VIEW_EXTRA"]

SCHEMA_VERSION = 2

_HASH = pa.binary(32)
_TIME = pa.timestamp("us", tz="UTC")

TABLES: dict[str, pa.Schema] = {
    "blocks": pa.schema(
        [
            ("height", pa.int32()),
            ("hash", _HASH),
            ("prev_hash", _HASH),
            ("merkle_root", _HASH),
            ("time", _TIME),
            ("version", pa.int32()),
            ("bits", pa.uint32()),
            ("nonce", pa.uint32()),
            ("n_tx", pa.int32()),
            ("size", pa.int32()),
            ("stripped_size", pa.int32()),
            ("weight", pa.int32()),
            ("first_tx_id", pa.int64()),
        ]
    ),
    "txs": pa.schema(
        [
            ("tx_id", pa.int64()),
            ("txid", _HASH),
            ("wtxid", _HASH),
            ("height", pa.int32()),
            ("block_pos", pa.int32()),
            ("time", _TIME),
            ("version", pa.uint32()),
            ("locktime", pa.uint32()),
            ("n_in", pa.int32()),
            ("n_out", pa.int32()),
            ("size", pa.int32()),
            ("vsize", pa.int32()),
            ("weight", pa.int32()),
            ("is_coinbase", pa.bool_()),
            ("has_witness", pa.bool_()),
            ("in_value", pa.int64()),
            ("out_value", pa.int64()),
            ("fee", pa.int64()),
            ("first_out_id", pa.int64()),
        ]
    ),
    "outputs": pa.schema(
        [
            ("out_id", pa.int64()),
            ("tx_id", pa.int64()),
            ("vout", pa.int32()),
            ("value", pa.int64()),
            ("script_type", pa.string()),
            ("addr_id", pa.int64()),
            ("script", pa.large_binary()),
            ("height", pa.int32()),
            ("script_key", pa.binary(16)),
        ]
    ),
    "inputs": pa.schema(
        [
            ("tx_id", pa.int64()),
            ("vin", pa.int32()),
            ("out_id", pa.int64()),
            ("prev_txid", _HASH),
            ("prev_vout", pa.uint32()),
            ("sequence", pa.uint32()),
            ("value", pa.int64()),
            ("addr_id", pa.int64()),
            ("script_type", pa.string()),
            ("script_sig_size", pa.int32()),
            ("witness_count", pa.int32()),
            ("witness_size", pa.int32()),
            ("height", pa.int32()),
        ]
    ),
    "addresses": pa.schema(
        [
            ("addr_id", pa.int64()),
            ("address", pa.large_string()),
            ("script_type", pa.string()),
            ("first_height", pa.int32()),
            ("first_out_id", pa.int64()),
        ]
    ),
    "spends": pa.schema(
        [
            ("out_id", pa.int64()),
            ("tx_id", pa.int64()),
            ("vin", pa.int32()),
            ("height", pa.int32()),
        ]
    ),
}

STORED_TABLES: tuple[str, ...] = tuple(TABLES)
"""Tables stored as Parquet parts under ``tables/<name>/``."""

TABLE_NAMES: tuple[str, ...] = STORED_TABLES
"""Tables the catalog exposes as views (the same names)."""

VIEW_EXTRA: dict[str, list[tuple[str, pa.DataType]]] = {
    "outputs": [("spent_by_tx", pa.int64()), ("spent_by_vin", pa.int32())],
}
"""Columns a view derives on top of the stored ones (``outputs`` joins ``spends``)."""
