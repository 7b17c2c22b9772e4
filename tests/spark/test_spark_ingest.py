"""Parity of ``ingest --engine spark`` with the embedded engine, on Spark ``local[2]``.

For the same block files both engines must write the same rows: every table is compared as
Parquet content (column names, Arrow types, rows sorted by their ids), the manifests' partitions,
counts and tip too, and — since the Spark engine writes its parts with the embedded
``PartWriter`` — every part and index file byte for byte. One SparkSession serves the module.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from tests.chain.blockcraft import REGTEST_TARGET, grind
from tests.spark.parity import assert_same_dataset
from tests.spark.parity import sorted_table as _table

from chainsleuth.chain.block import Block, BlockHeader
from chainsleuth.chain.hashes import merkle_root
from chainsleuth.chain.network import get_network
from chainsleuth.chain.tx import Tx, TxIn, TxOut
from chainsleuth.errors import BlockDataError, DatasetError
from chainsleuth.ingest import ingest_blocks
from chainsleuth.spark import ingest_spark, spark_available, spark_session
from chainsleuth.store.manifest import Manifest

pytestmark = pytest.mark.skipif(
    spark_available() is not None,
    reason=f"Spark parity tests need pyspark and Java: {spark_available()}",
)

DATA = Path(__file__).resolve().parents[1] / "data"
MAIN = get_network("main")
REGTEST = get_network("regtest")
SPAN = 100


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One local[2] session for the module (small shuffles: the chains here are small)."""
    conf = {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"}
    with spark_session("local[2]", conf) as session:
        yield session


@pytest.fixture(scope="module")
def spark_regtest(spark: Any, regtest_blocks_dir: Path, tmp_path_factory: Any) -> Path:
    """The regtest chain ingested on Spark with the span of the ``regtest_dataset`` fixture."""
    path = tmp_path_factory.mktemp("spark") / "dataset"
    ingest_spark(regtest_blocks_dir, path, "regtest", partition_span=SPAN)
    return path


def test_regtest_same_rows_as_embedded(regtest_dataset: Path, spark_regtest: Path) -> None:
    assert_same_dataset(regtest_dataset, spark_regtest)
    assert Manifest.load(spark_regtest).state == {"engine": "spark"}


def test_embedded_verbs_read_the_spark_dataset(
    regtest_dataset: Path, spark_regtest: Path, cli_run: Any, tmp_path: Path
) -> None:
    code, out, err = cli_run("verify", "--data", str(spark_regtest), "--deep")
    assert code == 0, err
    txid = pq.read_table(regtest_dataset / "tables" / "txs", columns=["txid"])["txid"][777]
    # copies without derived results (other tests may have clustered the shared fixture)
    copies = []
    for name, ds in (("embedded", regtest_dataset), ("spark", spark_regtest)):
        copies.append(tmp_path / name)
        shutil.copytree(ds, copies[-1], ignore=shutil.ignore_patterns("derived"))
    shown = []
    for copy in copies:
        code, out, err = cli_run("show", "--data", str(copy), txid.as_py().hex(), "--json")
        assert code == 0, err
        shown.append(json.loads(out))
    assert shown[0] == shown[1]
    runs = []
    for copy in copies:
        code, _, err = cli_run("cluster", "--data", str(copy), "--name", "mi")
        assert code == 0, err
        run = copy / "derived" / "clusters" / "mi"
        runs.append({p.name: pq.read_table(p).to_pandas() for p in run.glob("*.parquet")})
    assert "address_cluster.parquet" in runs[0]
    assert runs[1].keys() == runs[0].keys()
    for name, frame in runs[0].items():  # the evidence's NaN probabilities compare equal
        pd.testing.assert_frame_equal(runs[1][name], frame, obj=name)


def test_embedded_ingest_continues_a_spark_dataset(
    spark: Any, regtest_blocks_dir: Path, regtest_dataset: Path, tmp_path: Path
) -> None:
    """Spark stops mid-partition; the embedded engine rebuilds its indexes from the parts and
    continues to the tip: the dataset a single embedded run writes."""
    ds = tmp_path / "ds"
    report = ingest_spark(regtest_blocks_dir, ds, "regtest", partition_span=SPAN, to_height=250)
    assert (report.tip_height, report.up_to_date) == (250, False)
    assert Manifest.load(ds).partitions[-1].last_height == 250
    with pytest.raises(DatasetError, match=r"already holds heights 0\.\.250: .*--engine local"):
        ingest_spark(regtest_blocks_dir, ds, "regtest")
    again = ingest_spark(regtest_blocks_dir, ds, "regtest", to_height=200)
    assert again.up_to_date and again.tip_height == 250
    ingest_blocks(regtest_blocks_dir, ds, "regtest")
    assert_same_dataset(regtest_dataset, ds)
    assert "engine" not in Manifest.load(ds).state  # the embedded run saved its own state


def _blk(directory: Path, raws: list[bytes], magic: bytes) -> Path:
    directory.mkdir(parents=True)
    body = b"".join(magic + len(r).to_bytes(4, "little") + r for r in raws)
    (directory / "blk00000.dat").write_bytes(body)
    return directory


def test_mainnet_genesis_chain_through_the_cli(spark: Any, cli_run: Any, tmp_path: Path) -> None:
    """The fixture's linkable mainnet blocks (genesis and block 1) on the main network, the
    Spark side through ``chainsleuth ingest --engine spark --json``."""
    raws = [(DATA / "mainnet-blocks" / f"{h}.bin").read_bytes() for h in (0, 1)]
    blocks = _blk(tmp_path / "blocks", raws, MAIN.magic)
    ingest_blocks(blocks, tmp_path / "embedded", "main")
    code, out, err = cli_run(
        "ingest", str(blocks), "--data", str(tmp_path / "spark"), "--engine", "spark", "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert (report["tip_height"], report["engine"], report["master"]) == (1, "spark", "local[2]")
    assert report["tip_hash"] == Block.parse(raws[1]).hash.hex()
    assert set(report["stages"]) >= {"count", "parse", "link", "write", "index"}
    assert_same_dataset(tmp_path / "embedded", tmp_path / "spark")


def _mine(prev: bytes, txs: list[Tx], time: int) -> bytes:
    root = merkle_root([t.txid[::-1] for t in txs])[::-1]
    header = BlockHeader(0x20000000, prev, root, time, REGTEST.pow_limit_bits, 0)
    raw = Block(header, tuple(txs)).serialize()
    return grind(raw, lambda h: h <= REGTEST_TARGET)


def _no_witness(tx: Tx) -> Tx:
    inputs = tuple(TxIn(i.prev_txid, i.prev_vout, i.script_sig, i.sequence) for i in tx.inputs)
    return Tx(tx.version, inputs, tx.outputs, tx.locktime)


def test_bip30_duplicate_coinbase_spends_the_newer_output(
    spark: Any, regtest_raw: list[bytes], tmp_path: Path
) -> None:
    """Block 30 repeats block 25's coinbase (same txid, its outputs still unspent); block 31
    spends output 0 of that txid: both engines link it to the newer copy, as Core's UTXO set
    (overwritten by the duplicate) does, and leave the older one unspent."""
    chain = regtest_raw[:30]
    tip = Block.parse(chain[-1])
    dup = _no_witness(Block.parse(chain[25]).txs[0])
    b30 = _mine(tip.hash, [dup], tip.header.time + 1)
    coinbase = Tx(
        2,
        (TxIn(bytes(32), 0xFFFFFFFF, b"\x01\x1f\x00", 0xFFFFFFFF),),
        (TxOut(0, b"\x51"),),
        0,
    )
    spend = Tx(
        2, (TxIn(dup.txid, 0, b"\x51", 0xFFFFFFFF),), (TxOut(1000, b"\x00\x14" + bytes(20)),), 0
    )
    b31 = _mine(Block.parse(b30).hash, [coinbase, spend], tip.header.time + 2)
    blocks = _blk(tmp_path / "blocks", [*chain, b30, b31], REGTEST.magic)
    ingest_blocks(blocks, tmp_path / "embedded", "regtest", partition_span=SPAN)
    ingest_spark(blocks, tmp_path / "spark", "regtest", partition_span=SPAN)
    assert_same_dataset(tmp_path / "embedded", tmp_path / "spark")
    outputs = _table(tmp_path / "spark", "outputs")
    txs = _table(tmp_path / "spark", "txs")
    dup_tx_ids = txs.filter(pc.equal(txs["txid"], pa.scalar(dup.txid, pa.binary(32))))["tx_id"]
    assert len(dup_tx_ids) == 2
    newer = outputs.filter(
        pc.and_(pc.equal(outputs["tx_id"], dup_tx_ids[1]), pc.equal(outputs["vout"], 0))
    )["out_id"].to_pylist()
    spends = _table(tmp_path / "spark", "spends")
    spent_by_last = spends.filter(pc.equal(spends["height"], 31))
    assert spent_by_last["out_id"].to_pylist() == newer


def test_bad_block_gives_the_embedded_engines_error(
    spark: Any, regtest_blocks_dir: Path, tmp_path: Path
) -> None:
    """A flipped byte in block 300: the same one-line error; Spark writes no part."""
    blocks = tmp_path / "blocks"
    shutil.copytree(regtest_blocks_dir, blocks)
    from chainsleuth.ingest.blkfiles import BlockFiles

    target = BlockFiles.open(blocks, REGTEST).scan()[300]
    blk = blocks / "blk00000.dat"
    data = bytearray(blk.read_bytes())
    data[target.offset + 82] ^= 0x01
    blk.write_bytes(bytes(data))
    errors = []
    for engine in (ingest_blocks, ingest_spark):
        with pytest.raises(BlockDataError) as caught:
            engine(blocks, tmp_path / engine.__name__, "regtest", partition_span=SPAN)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]
    assert "at height 300" in errors[1] and "merkle root mismatch" in errors[1]
    assert not (tmp_path / "ingest_spark" / "tables").exists()


def test_spend_of_an_unknown_output_is_named_like_the_embedded_engine(
    spark: Any, regtest_raw: list[bytes], tmp_path: Path
) -> None:
    chain = regtest_raw[:30]
    tip = Block.parse(chain[-1])
    coinbase = Tx(
        2, (TxIn(bytes(32), 0xFFFFFFFF, b"\x01\x1e\x00", 0xFFFFFFFF),), (TxOut(0, b"\x51"),), 0
    )
    orphan = Tx(2, (TxIn(b"\x42" * 32, 3, b"\x51", 0xFFFFFFFF),), (TxOut(1, b"\x51"),), 0)
    b30 = _mine(tip.hash, [coinbase, orphan], tip.header.time + 1)
    blocks = _blk(tmp_path / "blocks", [*chain, b30], REGTEST.magic)
    errors = []
    for engine in (ingest_blocks, ingest_spark):
        with pytest.raises(BlockDataError) as caught:
            engine(blocks, tmp_path / engine.__name__, "regtest", partition_span=SPAN)
        errors.append(str(caught.value))
    head = f"block {Block.parse(b30).hash.hex()} at height 30 (blk00000.dat offset "
    tail = f": tx {orphan.txid.hex()} input 0 spends unknown output {'42' * 32}:3"
    for error in errors:
        assert error.startswith(head) and error.endswith(tail), error
