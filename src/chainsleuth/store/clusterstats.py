"""Cluster and member summaries of a clustering run, computed out of core by DuckDB.

:func:`write_cluster_stats` reads a run's ``address_cluster.parquet`` and the dataset's
``outputs`` and ``inputs`` views and writes ``members.parquet`` and ``clusters.parquet`` with
exactly the rows, column names, Arrow types and order that
:func:`~chainsleuth.cluster.stats.member_stats` and
:func:`~chainsleuth.cluster.stats.cluster_stats` give on the whole chain view, without loading
that view: no whole-chain column is ever held in Python. Results are streamed from DuckDB to a
``.tmp`` file through a :class:`pyarrow.parquet.ParquetWriter` (row groups of 131,072 rows,
like the run's other files) in record batches, then renamed into place.

Two queries do the work:

1. **members** — one hash aggregate of every output and input with an address into per-address
   ``received``, ``sent`` and ``n_outputs`` (≈ 90 B per address: key, hash, three sum states),
   a full outer join with ``address_cluster`` (≈ 40 B per address: the join's hash table), then a
   sort by (cluster_id, received descending, addr_id) of the n_addr result rows (≈ 48 B each).
2. **clusters** — ``size``, ``total_received`` and ``total_sent`` are aggregated from the members
   file just written (≈ 70 B per cluster); ``n_txs`` and the heights from the distinct
   (cluster_id, tx_id, height) triples of every output and input joined with
   ``address_cluster`` (≈ 40 B per address for the join, ≈ 50 B per distinct triple — at most one
   per output or input — then ≈ 40 B per cluster); the final rows (≈ 56 B per cluster) are sorted
   by cluster_id.

DuckDB holds all of this to its share of the budget (``fraction`` of ``budget``, default half:
``memory_limit``) and spills what does not fit to ``DATASET/_tmp/duckdb``; Python holds one
record batch (131,072 rows, ≈ 5 MiB) at a time. Without a budget the connection's current
settings are used. The connection's ``memory_limit`` is restored afterwards; DuckDB cannot
switch its temporary directory once spill files were written, so a connection that already
spills elsewhere keeps doing so.

Amounts: DuckDB sums integers exactly, while ``cluster_stats`` adds each cluster's output and
input values as float64 (in chain order) and rounds the total with ``np.rint``. The two agree
whenever every partial sum stays below 2**53 satoshi (≈ 90 million BTC); a cluster whose total
received or sent exceeds that may differ by the float rounding error, and the value written
here is the exact one. Per-address sums (``members.parquet``) are exact integers in both.

Semantics kept from ``cluster_stats``: clusters are listed by ascending cluster_id; ``size`` is
the number of addresses with that cluster_id; ``n_txs`` counts the distinct transactions paying
or spending any member (a transaction doing both counts once); first/last height are the
min/max height of those transactions; a cluster never seen in a transaction has heights -1 and
``n_txs`` 0. An address id beyond ``address_cluster`` is an IndexError, as there.

>>> import pyarrow.parquet as pq
>>> run = ds.path / "derived" / "clusters" / "default"
>>> write_cluster_stats(ds, run / "address_cluster.parquet", tmp / "c.parquet", tmp / "m.parquet")
2141
>>> pq.read_table(tmp / "c.parquet").equals(pq.read_table(run / "clusters.parquet"))
True
>>> pq.read_table(tmp / "m.parquet").equals(pq.read_table(run / "members.parquet"))
True
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chainsleuth.errors import InputError

if TYPE_CHECKING:
    from chainsleuth.budget import MemoryBudget
    from chainsleuth.store.dataset import Dataset

__all__ = ["CLUSTERS_SCHEMA", "MEMBERS_SCHEMA", "write_cluster_stats"]

ROW_GROUP = 1 << 17

CLUSTERS_SCHEMA = pa.schema(
    [
        ("cluster_id", pa.int64()),
        ("size", pa.int64()),
        ("first_height", pa.int32()),
        ("last_height", pa.int32()),
        ("n_txs", pa.int64()),
        ("total_received", pa.int64()),
        ("total_sent", pa.int64()),
        ("balance", pa.int64()),
    ]
)
"""``clusters.parquet``: the columns and types of
:func:`~chainsleuth.cluster.stats.cluster_stats`."""

MEMBERS_SCHEMA = pa.schema(
    [
        ("cluster_id", pa.int64()),
        ("addr_id", pa.int64()),
        ("received", pa.int64()),
        ("sent", pa.int64()),
        ("n_outputs", pa.int64()),
    ]
)
"""``members.parquet``: the columns and types of
:func:`~chainsleuth.cluster.stats.member_stats`."""

Progress = Callable[[str], None]

_CHECK_SQL = """
SELECT count(*), coalesce(min(addr_id), 0), coalesce(max(addr_id), -1), count(cluster_id)
FROM read_parquet(?)
"""

# Every output and input that has an address, with the amount on its side.
_MEMBERS_SQL = """
WITH ac AS (
    SELECT addr_id::BIGINT AS addr_id, cluster_id::BIGINT AS cluster_id FROM read_parquet(?)
),
sums AS (
    SELECT addr_id, sum(received) AS received, sum(sent) AS sent, sum(n_out) AS n_outputs
    FROM (
        SELECT addr_id, value AS received, 0::BIGINT AS sent, 1::BIGINT AS n_out
        FROM outputs WHERE addr_id IS NOT NULL
        UNION ALL
        SELECT addr_id, 0::BIGINT, coalesce(value, 0), 0::BIGINT
        FROM inputs WHERE addr_id IS NOT NULL
    )
    GROUP BY addr_id
),
rows AS (
    SELECT
        ac.cluster_id AS cluster_id,
        coalesce(ac.addr_id, sums.addr_id) AS addr_id,
        coalesce(sums.received, 0)::BIGINT AS received,
        coalesce(sums.sent, 0)::BIGINT AS sent,
        coalesce(sums.n_outputs, 0)::BIGINT AS n_outputs
    FROM ac FULL OUTER JOIN sums ON ac.addr_id = sums.addr_id
)
SELECT cluster_id, addr_id, received, sent, n_outputs
FROM rows
ORDER BY cluster_id ASC NULLS LAST, received DESC, addr_id ASC
"""

# Parameters: address_cluster.parquet, then members.parquet (written by _MEMBERS_SQL).
_CLUSTERS_SQL = """
WITH ac AS (
    SELECT addr_id::BIGINT AS addr_id, cluster_id::BIGINT AS cluster_id FROM read_parquet(?)
),
money AS (
    SELECT cluster_id, count(*) AS size, sum(received) AS received, sum(sent) AS sent
    FROM read_parquet(?)
    GROUP BY cluster_id
),
touched AS (
    SELECT DISTINCT ac.cluster_id AS cluster_id, e.tx_id AS tx_id, e.height AS height
    FROM (
        SELECT tx_id, addr_id, height FROM outputs WHERE addr_id IS NOT NULL
        UNION ALL
        SELECT tx_id, addr_id, height FROM inputs WHERE addr_id IS NOT NULL
    ) AS e
    JOIN ac ON ac.addr_id = e.addr_id
),
activity AS (
    SELECT cluster_id, count(*) AS n_txs, min(height) AS first_height, max(height) AS last_height
    FROM touched
    GROUP BY cluster_id
)
SELECT
    money.cluster_id AS cluster_id,
    money.size::BIGINT AS size,
    coalesce(activity.first_height, -1)::INTEGER AS first_height,
    coalesce(activity.last_height, -1)::INTEGER AS last_height,
    coalesce(activity.n_txs, 0)::BIGINT AS n_txs,
    money.received::BIGINT AS total_received,
    money.sent::BIGINT AS total_sent,
    (money.received - money.sent)::BIGINT AS balance
FROM money LEFT JOIN activity ON money.cluster_id = activity.cluster_id
ORDER BY money.cluster_id
"""


@contextmanager
def _budgeted(
    con: duckdb.DuckDBPyConnection, data: Path, budget: MemoryBudget | None, fraction: float
) -> Iterator[None]:
    """Run the body with ``fraction`` of ``budget`` as DuckDB's memory limit (and spill files
    under ``DATASET/_tmp/duckdb``); the previous memory limit is set back afterwards."""
    if budget is None:
        yield
        return
    settings = budget.duckdb_settings(data, fraction)
    [(old_limit, old_tmp)] = con.execute(
        "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
    ).fetchall()
    con.execute("SET memory_limit = ?", [settings["memory_limit"]]).fetchall()
    if old_tmp != settings["temp_directory"]:
        # once spill files were written elsewhere, DuckDB keeps that directory
        with suppress(duckdb.NotImplementedException):
            con.execute("SET temp_directory = ?", [settings["temp_directory"]]).fetchall()
    try:
        yield
    finally:
        con.execute("SET memory_limit = ?", [_limit_text(old_limit)]).fetchall()


def _limit_text(shown: str) -> str:
    """A ``memory_limit`` value that DuckDB shows as ``shown`` again.

    DuckDB prints the limit truncated to a tenth of a unit, so setting the printed text back
    would lower it by up to that much each time; the middle of the tenth keeps it put. An
    unlimited connection (shown in PiB, which SET does not take) is set back to -1.

    >>> _limit_text("18.8 GiB"), _limit_text("16383.9 PiB")
    ('18.85 GiB', '-1')
    """
    m = re.fullmatch(r"(\d+(?:\.\d+)?) (KiB|MiB|GiB|TiB)", shown)
    if m:
        return f"{float(m[1]) + 0.05:.2f} {m[2]}"
    return "-1" if shown.endswith("PiB") else shown


def _stream(
    ds: Dataset, query: str, params: list[Any], schema: pa.Schema, path: Path, n_addr: int
) -> int:
    """Write the rows of ``query`` to ``path`` (via ``.tmp``) with ``schema``; the row count.

    The query runs on a cursor of its own, closed however the writing ends.

    A row without a cluster (sorted last by the members query) is an address id beyond
    ``address_cluster``: IndexError naming the largest, and nothing is written.
    """
    tmp = path.with_name(path.name + ".tmp")
    rows = 0
    beyond = -1
    con = ds.con.cursor()
    try:
        reader = con.sql(query, params=params).to_arrow_reader(ROW_GROUP)
        with pq.ParquetWriter(tmp, schema) as writer:
            for batch in reader:
                if batch.column(0).null_count:
                    beyond = max(beyond, pc.max(batch.column(1)).as_py())
                    continue
                if batch.num_rows:
                    writer.write_batch(
                        pa.RecordBatch.from_arrays(batch.columns, schema=schema),
                        row_group_size=ROW_GROUP,
                    )
                    rows += batch.num_rows
        if beyond >= 0:
            raise IndexError(f"addr_id {beyond} out of range for {n_addr} addresses")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    return rows


def write_cluster_stats(
    ds: Dataset,
    address_cluster: str | Path,
    clusters_out: str | Path,
    members_out: str | Path,
    *,
    budget: MemoryBudget | None = None,
    fraction: float = 0.5,
    progress: Progress | None = None,
) -> int:
    """Write ``members.parquet`` and ``clusters.parquet`` of a run; the number of clusters.

    ``address_cluster`` holds one row (addr_id int64, cluster_id int64) per addr_id
    0..n-1. Both outputs equal what :func:`~chainsleuth.cluster.stats.member_stats` and
    :func:`~chainsleuth.cluster.stats.cluster_stats` give on the dataset's whole chain view
    (see the module docstring for the one amount caveat). DuckDB gets ``fraction`` of
    ``budget``. InputError when ``address_cluster`` is not dense; IndexError when the chain
    names an address beyond it. ``members_out`` is written (renamed into place) first.
    """
    say = progress or (lambda _msg: None)
    source = str(address_cluster)
    members_path, clusters_path = Path(members_out), Path(clusters_out)
    con = ds.con.cursor()
    try:
        with _budgeted(con, Path(ds.path), budget, fraction):
            [row] = con.execute(_CHECK_SQL, [source]).fetchall()
            n, lo, hi, labelled = (int(v) for v in row)
            if lo != 0 or hi != n - 1 or labelled != n:
                raise InputError(
                    f"{source}: want one labelled row per addr_id 0..{n - 1}, found ids "
                    f"{lo}..{hi} and {n - labelled} without a cluster"
                )
            say(f"member stats of {n:,} addresses")
            _stream(ds, _MEMBERS_SQL, [source], MEMBERS_SCHEMA, members_path, n)
            say("cluster stats")
            sources = [source, str(members_path)]
            return _stream(ds, _CLUSTERS_SQL, sources, CLUSTERS_SCHEMA, clusters_path, n)
    finally:
        con.close()
