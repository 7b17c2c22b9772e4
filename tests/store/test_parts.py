"""Parts written by ingest: hashes stored raw without statistics, ids delta-encoded with their
min/max (which ``verify``, lookups and the flow graph read), amounts without, the rows
unchanged."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq


def _chunks(path: Path) -> dict[str, tuple[str, bool]]:
    md = pq.ParquetFile(path).metadata
    rg = md.row_group(0)
    out = {}
    for i in range(rg.num_columns):
        col = rg.column(i)
        out[col.path_in_schema] = (col.compression, col.statistics is not None)
    return out


def _encodings(path: Path) -> dict[str, tuple[str, ...]]:
    rg = pq.ParquetFile(path).metadata.row_group(0)
    return {rg.column(i).path_in_schema: rg.column(i).encodings for i in range(rg.num_columns)}


def test_hash_columns_raw_integer_columns_with_statistics(regtest_dataset: Path) -> None:
    txs = next((regtest_dataset / "tables" / "txs").glob("*.parquet"))
    got = _chunks(txs)
    assert got["txid"] == ("UNCOMPRESSED", False)
    assert got["tx_id"] == ("ZSTD", True)
    outs = _chunks(next((regtest_dataset / "tables" / "outputs").glob("*.parquet")))
    assert outs["script_key"] == ("UNCOMPRESSED", False)
    assert outs["script"] == ("SNAPPY", False)
    assert outs["value"] == ("ZSTD", False)
    assert (
        "BYTE_STREAM_SPLIT"
        in _encodings(next((regtest_dataset / "tables" / "outputs").glob("*.parquet")))["value"]
    )
    assert outs["out_id"] == outs["addr_id"] == ("ZSTD", True)
    assert "DELTA_BINARY_PACKED" in _encodings(txs)["tx_id"]
    assert "DELTA_BINARY_PACKED" not in _encodings(txs)["fee"]
    assert "BYTE_STREAM_SPLIT" in _encodings(txs)["fee"]
    ins = _chunks(next((regtest_dataset / "tables" / "inputs").glob("*.parquet")))
    assert ins["prev_txid"] == ("ZSTD", False)  # repeats side by side: zstd finds them
    table = pq.read_table(txs, columns=["txid"])
    assert all(len(v) == 32 for v in table.column("txid").to_pylist())
