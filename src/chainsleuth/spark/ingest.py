"""``chainsleuth ingest --engine spark``: block files → the same dataset, built on Spark.

The stages (``docs/spark.md`` has the sizing):

1. **scan** (driver): the block files' records and the most-work chain, with the embedded
   engine's scanner and header code (:class:`~chainsleuth.ingest.sources.FileSource`); the chain
   is cut into :class:`~chainsleuth.spark.parse.RangeTask` s of a few MiB each.
2. **count** (executors): transactions, outputs and inputs per block (the numba walker alone);
   the driver turns them into each block's first ``tx_id`` / ``out_id`` by prefix sums.
3. **parse** (executors): every range parsed and checked by the embedded engine's state-free
   half (:func:`~chainsleuth.ingest.batch.prepare_batch`) into staging files under
   ``DATASET/_tmp/spark-<pid>-*``; no task shares state with another.
4. **addresses**: the first output of each script key (group by key, min ``out_id``); per
   partition counts, prefix sums on the driver and a row number inside each partition give the
   ``addr_id`` s in order of first appearance, as the embedded dictionary assigns them.
5. **link**: inputs join outputs on ``(prev_txid, prev_vout) = (txid, vout)`` among outputs of
   earlier transactions, the latest one winning — the output Bitcoin Core's UTXO set holds
   when a BIP30 duplicate coinbase txid overwrote an older one, as the embedded index keeps the
   newer. An input with no such output, or an output spent twice, stops the run naming it.
6. **write** (executors): every table's rows, sorted by (partition, id), streamed into the
   contract's parts with the embedded :class:`~chainsleuth.store.parts.PartWriter`; then each
   partition's lookup index files (:func:`~chainsleuth.store.lookup.build_partition_indexes`).
7. **manifest** (driver), written last: partitions, counts, tip, the sha256 of every file, and
   ``state: {"engine": "spark"}`` — no saved index state. An embedded run that continues the
   dataset (``--engine local``) rebuilds its indexes from the parts
   (:mod:`chainsleuth.ingest.rebuild`) and carries on; ``--engine spark`` writes new datasets
   and refuses one that already holds blocks below the target.

The dataset directory (and the block files) must be reachable at the same path from the
driver and every executor: a local disk with ``local[N]``, a shared file system on a cluster.
A bad block stops the run before any part is written, with the embedded engine's one-line
error naming it.
"""

from __future__ import annotations

import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chainsleuth.chain.network import get_network
from chainsleuth.errors import BlockDataError, ChainsleuthError, DatasetError, InputError
from chainsleuth.ingest.blkfiles import find_blocks_dir
from chainsleuth.ingest.rebuild import binary_column_buffer
from chainsleuth.ingest.sources import FileSource
from chainsleuth.interrupt import Interrupted
from chainsleuth.scratch import make_scratch_folder
from chainsleuth.spark.parse import (
    NO_ADDRESS_CODES,
    NULLDATA,
    BlockCounts,
    RangeTask,
    count_range,
    parse_range,
    range_tasks,
)
from chainsleuth.spark.parts import PART_COLUMN, SORT_KEYS, WRITTEN_DDL, part_writer
from chainsleuth.spark.session import (
    check_master,
    spark_available,
    spark_session,
)
from chainsleuth.store.catalog import write_catalog
from chainsleuth.store.lookup import build_partition_indexes
from chainsleuth.store.manifest import MANIFEST_NAME, Manifest, Partition
from chainsleuth.store.parts import PartWriter, part_name, sha256_file
from chainsleuth.store.schema import STORED_TABLES, TABLES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["ENGINE_STATE", "SparkIngestReport", "ingest_spark"]

DEFAULT_PARTITION_SPAN = 1000
"""The embedded engine's default (``ingest/runner.py``)."""
MAX_TASK_BYTES = 16 << 20
MIN_TASK_BYTES = 1 << 20
SHUFFLE_BYTES = 64 << 20
"""Block bytes per shuffle partition when ``spark.sql.shuffle.partitions`` is not given."""
ENGINE_STATE = {"engine": "spark"}
"""The manifest's ``state`` after a Spark ingest: no saved index state (an embedded run
rebuilds it from the parts)."""


@dataclass(slots=True)
class SparkIngestReport:
    """What a Spark ingest did; ``stages`` holds the seconds of each stage, ``master`` the
    master it ran on."""

    tip_height: int
    tip_hash: str
    master: str
    blocks_added: int = 0
    txs_added: int = 0
    stale_blocks: int = 0
    unconnected_blocks: int = 0
    truncated: list[str] = field(default_factory=list)
    seconds: float = 0.0
    up_to_date: bool = False
    stages: dict[str, float] = field(default_factory=dict)


def ingest_spark(
    source: Path | str,
    data: Path | str,
    network: str = "main",
    *,
    to_height: int | None = None,
    partition_span: int | None = None,
    master: str | None = None,
    conf: dict[str, str] | None = None,
    task_bytes: int | None = None,
) -> SparkIngestReport:
    """Ingest the blocks of ``source`` (a ``blocks/`` directory or datadir) into the new
    dataset ``data`` on Spark, writing the rows the embedded engine writes.

    Uses the active SparkSession when there is one, else starts one on ``master`` (default:
    ``spark-submit``'s, else ``local[2]``) with ``conf`` (``spark.*`` settings) and stops it
    at the end. ``task_bytes`` sizes the parse tasks (default: the block bytes over four tasks
    per core, 1–16 MiB). Raises :class:`~chainsleuth.errors.UserError` subclasses naming the
    bad value.
    """
    started = time.monotonic()
    # executors run in their worker's folder: hand them absolute paths
    source, data = Path(source).resolve(), Path(data).resolve()
    if master is not None:
        check_master(master)
    problem = spark_available()
    if problem is not None:
        raise InputError(problem)
    if str(source).startswith("rpc://"):
        raise InputError(
            f"--engine spark reads block files, not an RPC node: {source} (use --engine local)"
        )
    net = get_network(network)
    data = Path(data)
    src = FileSource(find_blocks_dir(Path(source), net), net)
    try:
        n_blocks = len(src.hashes)
        target = n_blocks - 1 if to_height is None else min(to_height, n_blocks - 1)
        report = SparkIngestReport(
            tip_height=-1,
            tip_hash="",
            master=master or "",
            stale_blocks=src.n_stale,
            unconnected_blocks=src.n_unconnected,
            truncated=list(src.truncated),
        )
        manifest = _new_manifest(data, net.name, partition_span, src.hashes, target)
        if manifest.tip_height >= 0:
            report.tip_height, report.tip_hash = manifest.tip_height, manifest.tip_hash
            report.up_to_date = True
            if not (data / "chainsleuth.duckdb").exists():
                write_catalog(data, manifest)
        else:
            try:
                with _quiet(), spark_session(master, conf) as spark:
                    report.master = str(spark.sparkContext.master)
                    _run(spark, src, data, manifest, target, task_bytes, report)
            except Interrupted as stop:
                raise stop.keeping(
                    f"ingest stopped; a Spark run writes its manifest at the end: dataset {data} "
                    "holds no block (re-run to start again)"
                ) from None
        report.seconds = time.monotonic() - started
        return report
    finally:
        src.close()


@contextmanager
def _quiet() -> Iterator[None]:
    """Without PySpark's notice that it has not been certified on this pandas (the engine
    hands Spark Arrow batches, never pandas frames)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "PySpark does not yet fully support", FutureWarning)
        yield


def _new_manifest(
    data: Path, network: str, span: int | None, hashes: list[bytes], target: int
) -> Manifest:
    """The manifest the run fills in: a new one, an empty one a killed run left, or — when the
    dataset already reaches ``target`` on this chain — the dataset's own (up to date)."""
    if span is not None and span < 1:
        raise DatasetError(f"partition span must be positive, got {span}")
    if (data / MANIFEST_NAME).exists():
        manifest = Manifest.load(data)
        if manifest.network != network:
            raise DatasetError(
                f"dataset {data} is {manifest.network}, not {network} "
                f"(use --network {manifest.network})"
            )
        tip = manifest.tip_height
        if tip < 0:
            return manifest
        if target <= tip < len(hashes) and hashes[tip].hex() == manifest.tip_hash:
            return manifest
        raise DatasetError(
            f"dataset {data} already holds heights 0..{tip}: --engine spark writes new "
            "datasets; continue this one with --engine local (it rebuilds its indexes from "
            "the parts)"
        )
    if data.exists() and not data.is_dir():
        raise DatasetError(f"{data} is a file, not a dataset directory")
    if data.exists() and any(data.iterdir()) and not (data / "tables").exists():
        raise DatasetError(f"{data} is not empty and not a chainsleuth dataset")
    data.mkdir(parents=True, exist_ok=True)
    return Manifest.new(network, span or DEFAULT_PARTITION_SPAN)


def _first_error(errors: list[tuple[int, str | None]]) -> None:
    """Raise the error of the lowest range that failed, if any."""
    bad = sorted((lo, e) for lo, e in errors if e is not None)
    if bad:
        raise BlockDataError(bad[0][1])


def _run(
    spark: SparkSession,
    src: FileSource,
    data: Path,
    manifest: Manifest,
    target: int,
    task_bytes: int | None,
    report: SparkIngestReport,
) -> None:
    from pyspark.sql import functions as F

    span = manifest.partition_span
    sc = spark.sparkContext
    if sc.getConf().get("spark.speculation", "false").lower() == "true":
        raise InputError(
            "spark.speculation=true: the engine writes each part from one task attempt; "
            "leave speculation off"
        )
    clock = time.monotonic()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.monotonic()
        report.stages[stage] = round(now - clock, 3)
        clock = now

    total = sum(int(r.size) for r in src.records[: target + 1])
    if task_bytes is None:
        per_task = total // max(1, 4 * sc.defaultParallelism)
        task_bytes = min(MAX_TASK_BYTES, max(MIN_TASK_BYTES, per_task))
    tasks = range_tasks(src, 0, target, span, task_bytes)
    if not sc.getConf().contains("spark.sql.shuffle.partitions"):
        # not set by --conf or spark-submit: ~64 MiB of blocks per shuffle partition
        wanted = max(sc.defaultParallelism, -(-total // SHUFFLE_BYTES))
        spark.conf.set("spark.sql.shuffle.partitions", str(wanted))
    lap("scan")

    counted: list[BlockCounts] = sc.parallelize(tasks, len(tasks)).map(count_range).collect()
    _first_error([(t.lo, c.error) for t, c in zip(tasks, counted, strict=True)])
    n_tx = np.concatenate([c.n_tx for c in counted])
    n_out = np.concatenate([c.n_out for c in counted])
    n_in = np.concatenate([c.n_in for c in counted])
    first_tx = np.concatenate([[0], np.cumsum(n_tx)]).astype(np.int64)
    first_out = np.concatenate([[0], np.cumsum(n_out)]).astype(np.int64)
    tasks = [
        replace(t, first_tx_id=int(first_tx[t.lo]), first_out_id=int(first_out[t.lo]))
        for t in tasks
    ]
    lap("count")

    scratch = make_scratch_folder(data / "_tmp", "spark")
    try:
        parse = partial(_parse_task, staging=str(scratch))
        _first_error(sc.parallelize(tasks, len(tasks)).map(parse).collect())
        lap("parse")

        def staged(table: str) -> DataFrame:
            return spark.read.parquet(str(scratch / table))

        n_parts = target // span + 1
        part_of = partial(_part_column, span=span)
        outs = staged("outputs")
        addresses = _addresses(spark, outs, span, str(scratch / "addresses"), manifest.network)
        keyed = addresses.select("script_key", "addr_id")
        outs.join(keyed, "script_key", "left").write.parquet(str(scratch / "keyed"))
        outputs = spark.read.parquet(str(scratch / "keyed"))  # linked, then written
        linked_path = str(scratch / "linked")
        _link(staged("inputs"), outputs).write.parquet(linked_path)
        inputs = spark.read.parquet(linked_path)
        _check_links(inputs, staged("txs"), staged("blocks"), partial(_where, src))
        lap("link")

        sums = (
            inputs.where(~F.col("is_coinbase"))
            .groupBy("tx_id")
            .agg(F.sum("value").alias("in_value"))
        )
        txs = (
            staged("txs")
            .join(sums, "tx_id", "left")
            .withColumn("in_value", F.coalesce(F.col("in_value"), F.lit(0).cast("long")))
            .withColumn(
                "fee",
                F.when(F.col("is_coinbase"), F.lit(None).cast("long")).otherwise(
                    F.col("in_value") - F.col("out_value")
                ),
            )
        )
        spends = inputs.where(~F.col("is_coinbase")).select("out_id", "tx_id", "vin", "height")
        frames = {
            "blocks": part_of(staged("blocks"), "height"),
            "txs": part_of(txs, "height"),
            "outputs": part_of(outputs, "height"),
            "inputs": part_of(inputs, "height"),
            "addresses": addresses,
            "spends": part_of(spends, "height"),
        }
        written: dict[tuple[str, int], tuple[int, str]] = {}
        for table in STORED_TABLES:
            written.update(_write_table(frames[table], table, data, span, n_parts))
        _empty_parts(data, span, n_parts, written)
        lap("write")

        names = [part_name(p * span, span) for p in range(n_parts)]
        index_files: dict[str, str] = {}
        build = partial(build_partition_indexes, str(data))
        for files in sc.parallelize(names, len(names)).map(build).collect():
            index_files.update(files)
        lap("index")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    _check_counts(manifest.partition_span, target, written, first_tx, first_out, n_in)
    addr_rows = [written[("addresses", p)][0] for p in range(n_parts)]
    first_addr = np.concatenate([[0], np.cumsum(addr_rows)]).astype(np.int64)
    manifest.partitions = []
    for p in range(n_parts):
        lo = p * span
        last = min(lo + span - 1, target)
        manifest.partitions.append(
            Partition(
                lo=lo,
                hi=lo + span - 1,
                last_height=last,
                first_tx_id=int(first_tx[lo]),
                n_txs=int(first_tx[last + 1] - first_tx[lo]),
                first_out_id=int(first_out[lo]),
                n_outputs=int(first_out[last + 1] - first_out[lo]),
                n_inputs=int(n_in[lo : last + 1].sum()),
                first_addr_id=int(first_addr[p]),
                n_addresses=int(addr_rows[p]),
            )
        )
    manifest.files = {
        f"tables/{t}/{part_name(p * span, span)}": sha
        for (t, p), (_, sha) in sorted(written.items())
    }
    manifest.files.update(index_files)
    manifest.state = dict(ENGINE_STATE)
    manifest.tip_height = target
    manifest.tip_hash = src.hashes[target].hex()
    manifest.counts = {
        "blocks": target + 1,
        "txs": int(first_tx[target + 1]),
        "outputs": int(first_out[target + 1]),
        "inputs": int(n_in[: target + 1].sum()),
        "addresses": int(first_addr[-1]),
    }
    manifest.save(data)
    write_catalog(data, manifest)
    lap("manifest")
    report.tip_height = manifest.tip_height
    report.tip_hash = manifest.tip_hash
    report.blocks_added = target + 1
    report.txs_added = manifest.counts["txs"]


def _check_counts(
    span: int,
    target: int,
    written: dict[tuple[str, int], tuple[int, str]],
    first_tx: np.ndarray,
    first_out: np.ndarray,
    n_in: np.ndarray,
) -> None:
    """The rows written per partition add up to the walker's counts (an internal check: a
    lost or repeated task would break it)."""
    for (table, p), (rows, _) in sorted(written.items()):
        lo, last = p * span, min(p * span + span - 1, target)
        want = {
            "blocks": last - lo + 1,
            "txs": int(first_tx[last + 1] - first_tx[lo]),
            "outputs": int(first_out[last + 1] - first_out[lo]),
            "inputs": int(n_in[lo : last + 1].sum()),
        }.get(table)
        if want is not None and rows != want:
            raise ChainsleuthError(
                f"spark ingest wrote {rows} {table} rows for heights {lo}..{last}, expected {want}"
            )


def _parse_task(task: RangeTask, staging: str) -> tuple[int, str | None]:
    return task.lo, parse_range(task, staging)


def _part_column(df: DataFrame, height: str, span: int) -> DataFrame:
    """``df`` with the partition index of its ``height`` column."""
    from pyspark.sql import functions as F

    return df.withColumn(PART_COLUMN, F.floor(F.col(height) / F.lit(span)).cast("long"))


def _addresses(
    spark: SparkSession, outs: DataFrame, span: int, path: str, network: str
) -> DataFrame:
    """One row per script key with an address: its first output, ``addr_id`` in order of
    first appearance and the address string; staged at ``path``.

    The ids come from per-range counts: first outputs are counted per parse range (a few MiB of
    blocks each, ``range_lo``), the driver's prefix sums give each range its first id, and a
    row number within the range (ordered by ``out_id``) the rest — many small windows, none
    holding more than one range's new addresses."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    want = ~F.col("code").isin(*NO_ADDRESS_CODES)
    first = F.struct(  # ordered by out_id first: the minimum is the earliest output
        F.col("out_id").alias("first_out_id"),
        F.col("height").alias("first_height"),
        F.col("range_lo").alias("range_lo"),
        F.col("code").alias("code"),
        F.col("script").alias("script"),
    )
    firsts = outs.where(want).groupBy("script_key").agg(F.min(first).alias("f"))
    firsts = _part_column(firsts.select("script_key", "f.*"), "first_height", span)
    firsts.write.parquet(path + "-firsts")  # read twice below: counted, then numbered
    firsts = spark.read.parquet(path + "-firsts")
    counts = sorted(
        (int(r["range_lo"]), int(r["count"])) for r in firsts.groupBy("range_lo").count().collect()
    )
    bases, running = [], 0
    for lo, n in counts:
        bases.append((lo, running))
        running += n
    base_df = spark.createDataFrame(bases or [(0, 0)], "range_lo int, addr_base long")
    order = Window.partitionBy("range_lo").orderBy("first_out_id")
    numbered = firsts.join(F.broadcast(base_df), "range_lo").withColumn(
        "addr_id", F.col("addr_base") + F.row_number().over(order) - F.lit(1)
    )
    encoded = numbered.select(
        "addr_id", "script_key", "script", "code", "first_height", "first_out_id", PART_COLUMN
    ).mapInArrow(
        partial(_encode_addresses, network=network),
        "addr_id long, script_key binary, address string, code int, first_height int, "
        f"first_out_id long, {PART_COLUMN} long",
    )
    encoded.write.parquet(path)
    return spark.read.parquet(path)


def _encode_addresses(batches: Any, network: str) -> Any:
    """``mapInArrow``: the address strings of first outputs (the embedded numba encoder)."""
    import pyarrow as pa

    from chainsleuth.ingest.addresses import encode_addresses

    net = get_network(network)
    for batch in batches:
        buf, offs, lens = binary_column_buffer(batch.column("script"))
        codes = batch.column("code").to_numpy().astype(np.uint8)
        addresses = encode_addresses(buf, offs, lens, codes, net)
        yield pa.record_batch(
            [
                batch.column("addr_id"),
                batch.column("script_key"),
                addresses.cast(pa.string()),
                batch.column("code"),
                batch.column("first_height"),
                batch.column("first_out_id"),
                batch.column(PART_COLUMN),
            ],
            names=[
                "addr_id",
                "script_key",
                "address",
                "code",
                "first_height",
                "first_out_id",
                PART_COLUMN,
            ],
        )


_SPENT = "struct<out_id:bigint,value:bigint,addr_id:bigint,code:int>"
_INPUT_COLUMNS = (
    "sequence", "script_sig_size", "witness_count", "witness_size", "height", "is_coinbase"
)  # fmt: skip


def _link(inputs: DataFrame, outputs: DataFrame) -> DataFrame:
    """Inputs with the output each spends: among outputs of earlier transactions with their
    ``(prev_txid, prev_vout)``, the latest (BIP30: a duplicate txid's newer outputs).

    The aggregation groups by the join keys and the input's ids, so it reuses the join's
    partitioning (no second shuffle of the inputs); coinbase inputs, which all share the null
    outpoint, bypass the join."""
    from pyspark.sql import functions as F

    spendable = outputs.where(F.col("code") != NULLDATA).select(
        F.col("txid").alias("o_txid"),
        F.col("vout").cast("long").alias("o_vout"),
        F.col("tx_id").alias("o_tx"),
        F.struct(
            F.col("out_id").alias("out_id"),
            F.col("value").alias("value"),
            F.col("addr_id").alias("addr_id"),
            F.col("code").alias("code"),
        ).alias("spent"),
    )
    spenders = inputs.where(~F.col("is_coinbase"))
    cond = (
        (spenders["prev_txid"] == spendable["o_txid"])
        & (spenders["prev_vout"] == spendable["o_vout"])
        & (spendable["o_tx"] < spenders["tx_id"])
    )
    keys = ("prev_txid", "prev_vout", "tx_id", "vin")
    linked = (
        spenders.join(spendable, cond, "left")
        .groupBy(*keys)
        .agg(
            *(F.first(c).alias(c) for c in _INPUT_COLUMNS),
            F.max("spent").alias("spent"),  # the struct orders by out_id first
        )
    )
    coinbase = inputs.where(F.col("is_coinbase")).select(
        *keys, *_INPUT_COLUMNS, F.lit(None).cast(_SPENT).alias("spent")
    )
    return linked.unionByName(coinbase).select(
        "tx_id",
        "vin",
        F.col("spent.out_id").alias("out_id"),
        "prev_txid",
        "prev_vout",
        "sequence",
        F.col("spent.value").alias("value"),
        F.col("spent.addr_id").alias("addr_id"),
        F.col("spent.code").alias("code"),
        "script_sig_size",
        "witness_count",
        "witness_size",
        "height",
        "is_coinbase",
    )


def _where(src: FileSource, height: int) -> str:
    """Where the block at ``height`` lies: ``blk00000.dat offset 1234``."""
    rec = src.records[height]
    return f"{src.files.paths[rec.file_index].name} offset {rec.offset}"


def _check_links(
    inputs: DataFrame, txs: DataFrame, blocks: DataFrame, where: Callable[[int], str]
) -> None:
    """Stop at the first input that spends no known unspent output, naming it as the embedded
    engine does (the block's file offset rather than the transaction's), or at an output two
    inputs spend."""
    from pyspark.sql import functions as F

    missing = (
        inputs.where(~F.col("is_coinbase") & F.col("out_id").isNull())
        .orderBy("tx_id", "vin")
        .limit(1)
        .collect()
    )

    def located(tx_id: int) -> str:
        """``block HASH at height H (file offset): tx TXID`` of a transaction."""
        tx = txs.where(F.col("tx_id") == tx_id).select("txid", "height").collect()[0]
        block = blocks.where(F.col("height") == tx["height"]).select("hash").collect()[0]
        return (
            f"block {bytes(block['hash']).hex()} at height {tx['height']} "
            f"({where(tx['height'])}): tx {bytes(tx['txid']).hex()}"
        )

    if missing:
        row = missing[0]
        raise BlockDataError(
            f"{located(row['tx_id'])} input {row['vin']} spends "
            f"unknown output {bytes(row['prev_txid']).hex()}:{row['prev_vout']}"
        )
    twice = (
        inputs.where(F.col("out_id").isNotNull())
        .groupBy("out_id")
        .agg(F.count(F.lit(1)).alias("n"), F.max("tx_id").alias("tx_id"))
        .where(F.col("n") > 1)
        .orderBy("tx_id")
        .limit(1)
        .collect()
    )
    if twice:
        row = twice[0]
        raise BlockDataError(
            f"{located(row['tx_id'])} spends output {row['out_id']}, which an earlier input spent"
        )


def _write_table(
    df: DataFrame, table: str, data: Path, span: int, n_parts: int
) -> dict[tuple[str, int], tuple[int, str]]:
    """Write ``table``'s parts (executors); returns {(table, partition): (rows, sha256)}."""
    from pyspark.sql import functions as F

    wanted = [f.name for f in TABLES[table] if f.name != "script_type"]
    if "script_type" in TABLES[table].names:
        wanted.append("code")
    keys = [PART_COLUMN, *SORT_KEYS[table]]
    rows = (
        df.select(*wanted, PART_COLUMN)
        .repartition(max(1, n_parts), F.col(PART_COLUMN))
        .sortWithinPartitions(*keys)
        .mapInArrow(part_writer(table, str(data), span), WRITTEN_DDL)
        .collect()
    )
    return {(table, int(r["part"])): (int(r["rows"]), str(r["sha256"])) for r in rows}


def _empty_parts(
    data: Path, span: int, n_parts: int, written: dict[tuple[str, int], tuple[int, str]]
) -> None:
    """Write the parts no row went to (a partition without spends or new addresses), as the
    embedded engine writes them: empty, with the table's schema."""
    for table in STORED_TABLES:
        for p in range(n_parts):
            if (table, p) not in written:
                path = data / "tables" / table / part_name(p * span, span)
                PartWriter(path, TABLES[table]).close()
                written[(table, p)] = (0, sha256_file(path))
