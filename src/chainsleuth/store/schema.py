"""Arrow schemas of the five dataset tables (DESIGN §3) and the schema version.

>>> TABLES["txs"].field("txid").type
FixedSizeBinaryType(fixed_size_binary[32])
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["SCHEMA_VERSION", "TABLES", "TABLE_NAMES"]

SCHEMA_VERSION = 1

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
            ("script", pa.binary()),
            ("spent_by_tx", pa.int64()),
            ("spent_by_vin", pa.int32()),
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
        ]
    ),
    "addresses": pa.schema(
        [
            ("addr_id", pa.int64()),
            ("address", pa.string()),
            ("script_type", pa.string()),
            ("first_height", pa.int32()),
            ("first_out_id", pa.int64()),
        ]
    ),
}

TABLE_NAMES: tuple[str, ...] = tuple(TABLES)
