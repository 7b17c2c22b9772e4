"""Ground truth of a simulated economy, streamed to Parquet and CSV as the chain is generated.

Tables (each as ``DIR/truth/<table>.parquet`` and ``<table>.csv``):

- ``addresses``: address, entity, role, is_change, script_type, address_type, first_seen_height
- ``txs``: txid, block_height, time, kind, senders, receivers, n_inputs, n_outputs, fee,
  change_vout (-1: none), profile (the building wallet's profile), note
- ``service_payments``: service, customer, txid, vout, amount (sats), time, deposit_address,
  block_height, address_reused, test_purchase
- ``entities``: name, role, wallet_behaviour, receive_type, change_rule, home_exchange,
  customer_of, mixer, maker

Rows are buffered and written in batches, so memory stays bounded however long the chain is.
Addresses are rendered for regtest.

>>> rec = TruthRecorder(None)
>>> rec.n_txs
0
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from chainsleuth.chain.network import Network, get_network
from chainsleuth.simulate.addresses import encode_addresses
from chainsleuth.simulate.keys import ADDRESS_TYPES, Key

__all__ = ["SCHEMAS", "TruthRecorder"]

_TS = pa.timestamp("us", tz="UTC")
SCHEMAS: dict[str, pa.Schema] = {
    "addresses": pa.schema(
        [
            ("address", pa.string()),
            ("entity", pa.string()),
            ("role", pa.string()),
            ("is_change", pa.bool_()),
            ("script_type", pa.string()),
            ("address_type", pa.string()),
            ("first_seen_height", pa.int32()),
        ]
    ),
    "txs": pa.schema(
        [
            ("txid", pa.string()),
            ("block_height", pa.int32()),
            ("time", _TS),
            ("kind", pa.string()),
            ("senders", pa.string()),
            ("receivers", pa.string()),
            ("n_inputs", pa.int32()),
            ("n_outputs", pa.int32()),
            ("fee", pa.int64()),
            ("change_vout", pa.int32()),
            ("profile", pa.string()),
            ("note", pa.string()),
        ]
    ),
    "service_payments": pa.schema(
        [
            ("service", pa.string()),
            ("customer", pa.string()),
            ("txid", pa.string()),
            ("vout", pa.int32()),
            ("amount", pa.int64()),
            ("time", _TS),
            ("deposit_address", pa.string()),
            ("block_height", pa.int32()),
            ("address_reused", pa.bool_()),
            ("test_purchase", pa.bool_()),
        ]
    ),
    "entities": pa.schema(
        [
            ("name", pa.string()),
            ("role", pa.string()),
            ("wallet_behaviour", pa.string()),
            ("receive_type", pa.string()),
            ("change_rule", pa.string()),
            ("home_exchange", pa.string()),
            ("customer_of", pa.string()),
            ("mixer", pa.bool_()),
            ("maker", pa.bool_()),
        ]
    ),
}
"""Arrow schema of every truth table."""

_SCRIPT_TYPES = ("pubkeyhash", "scripthash", "witness_v0_keyhash", "witness_v1_taproot")
_FLUSH_ROWS = 200_000


class _TableSink:
    """Column buffers of one table, flushed to a Parquet and a CSV writer."""

    def __init__(self, directory: Path | None, name: str) -> None:
        self.schema = SCHEMAS[name]
        self.columns: dict[str, list[Any]] = {f.name: [] for f in self.schema}
        self.directory = directory
        self.name = name
        self._parquet: pq.ParquetWriter | None = None
        self._csv: pacsv.CSVWriter | None = None
        self.rows = 0

    def flush(self, network: Network | None = None) -> None:
        if network is not None and "deposit_address" in self.columns:
            keys = self.columns["deposit_address"]
            self.columns["deposit_address"] = encode_addresses(
                [k.script_pubkey for k in keys], [k.kind for k in keys], network
            )
        batch = pa.record_batch(
            [pa.array(self.columns[f.name], f.type) for f in self.schema], schema=self.schema
        )
        for values in self.columns.values():
            values.clear()
        if self.directory is None:
            return
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(
                self.directory / f"{self.name}.parquet", self.schema, compression="zstd"
            )
            self._csv = pacsv.CSVWriter(self.directory / f"{self.name}.csv", self.schema)
        self._parquet.write_batch(batch)
        assert self._csv is not None
        self._csv.write_batch(batch)

    def close(self, network: Network) -> None:
        pending = self.columns[self.schema.names[0]]
        if self.directory is not None and (self._parquet is None or pending):
            self.flush(network)
        if self._parquet is not None:
            self._parquet.close()
        if self._csv is not None:
            self._csv.close()


class TruthRecorder:
    """Collects truth rows; ``directory`` None keeps nothing on disk (for dry runs and tests)."""

    def __init__(self, directory: Path | None, network: str = "regtest") -> None:
        self.directory = directory
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        self.network = get_network(network)
        self.tables = {name: _TableSink(directory, name) for name in SCHEMAS}
        self._new_keys: list[Key] = []
        self._new_key_heights: list[int] = []
        self.n_txs = 0
        self.n_addresses = 0

    def record_tx(
        self,
        txid: bytes,
        height: int,
        time: int,
        kind: str,
        input_keys: list[Key],
        output_keys: list[Key],
        fee: int | None,
        change_vout: int,
        profile: str,
        note: str,
    ) -> None:
        """One transaction: who sent (input owners), who received (output owners)."""
        senders = sorted({k.entity for k in input_keys})
        receivers = sorted({k.entity for k in output_keys})
        for key in output_keys:
            if not key.seen:
                key.seen = True
                self._new_keys.append(key)
                self._new_key_heights.append(height)
        cols = self.tables["txs"].columns
        cols["txid"].append(txid.hex())
        cols["block_height"].append(height)
        cols["time"].append(time * 1_000_000)
        cols["kind"].append(kind)
        cols["senders"].append(";".join(senders))
        cols["receivers"].append(";".join(receivers))
        cols["n_inputs"].append(len(input_keys))
        cols["n_outputs"].append(len(output_keys))
        cols["fee"].append(fee)
        cols["change_vout"].append(change_vout)
        cols["profile"].append(profile)
        cols["note"].append(note)
        self.n_txs += 1
        if len(cols["txid"]) >= _FLUSH_ROWS:
            self._flush_txs()

    def record_service_payment(
        self,
        service: str,
        customer: str,
        txid: bytes,
        vout: int,
        amount: int,
        time: int,
        deposit_key: Key,
        height: int,
        reused: bool,
        test_purchase: bool,
    ) -> None:
        """One payment into a service's deposit address."""
        cols = self.tables["service_payments"].columns
        cols["service"].append(service)
        cols["customer"].append(customer)
        cols["txid"].append(txid.hex())
        cols["vout"].append(vout)
        cols["amount"].append(amount)
        cols["time"].append(time * 1_000_000)
        cols["deposit_address"].append(deposit_key)  # rendered in batch when written
        cols["block_height"].append(height)
        cols["address_reused"].append(reused)
        cols["test_purchase"].append(test_purchase)

    def record_entities(self, columns: dict[str, list[Any]]) -> None:
        """Entity rows, given column-wise (names as in the ``entities`` schema)."""
        for name, values in self.tables["entities"].columns.items():
            values.extend(columns[name])

    def addresses(self, keys: list[Key]) -> list[str]:
        """The address strings of ``keys`` on the recorder's network."""
        scripts = [k.script_pubkey for k in keys]
        return encode_addresses(scripts, [k.kind for k in keys], self.network)

    def _flush_addresses(self) -> None:
        cols = self.tables["addresses"].columns
        keys = self._new_keys
        kinds = [k.kind for k in keys]
        cols["address"].extend(
            encode_addresses([k.script_pubkey for k in keys], kinds, self.network)
        )
        cols["entity"].extend([k.entity for k in keys])
        cols["role"].extend([k.role for k in keys])
        cols["is_change"].extend([k.is_change for k in keys])
        cols["script_type"].extend([_SCRIPT_TYPES[k] for k in kinds])
        cols["address_type"].extend([ADDRESS_TYPES[k] for k in kinds])
        cols["first_seen_height"].extend(self._new_key_heights)
        self.n_addresses += len(keys)
        self._new_keys = []
        self._new_key_heights = []
        self.tables["addresses"].flush()

    def _flush_txs(self) -> None:
        self.tables["txs"].flush()
        self._flush_addresses()

    def close(self) -> None:
        """Write every buffered row and close the files."""
        self._flush_addresses()
        for sink in self.tables.values():
            sink.close(self.network)
