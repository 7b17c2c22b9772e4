"""Cluster and member summaries of a clustering run, computed out of core by DuckDB.

:func:`write_cluster_stats` reads a run's ``address_cluster.parquet`` and the dataset's outputs
and inputs and writes ``members.parquet`` and ``clusters.parquet`` with exactly the rows,
column names, Arrow types and order that :func:`~chainsleuth.cluster.stats.member_stats` and
:func:`~chainsleuth.cluster.stats.cluster_stats` give on the whole chain view, without loading
that view: no whole-chain column is ever held in Python. The two results are streamed from
DuckDB in record batches through a :class:`pyarrow.parquet.ParquetWriter` (row groups of
131,072 rows, like the run's other files) to a ``.tmp`` file that is then renamed into place.

Outputs and inputs are read from the Parquet parts the manifest lists (the files of the
views, read directly: the ``outputs`` view's join with ``spends`` makes a scan five times
slower). Four statements, each alone in memory, pass their results on in Parquet files under
``DATASET/_tmp/`` (deleted at the end): an aggregate and a sort sharing one statement's memory
limit ran four times slower than the two apart. Sizes per row are approximate (DuckDB's own
layouts):

1. **addresses** — one hash aggregate of every ``address_cluster`` row and every output and
   input with an address into per-address ``cluster_id``, ``received``, ``sent`` and
   ``n_outputs`` (≈ 120 B per address in the hash table; a file of ≈ 17 B per address).
2. **members** — that file sorted by (cluster_id, received descending, addr_id) (≈ 70 B per
   address in the sort).
3. **activity** — every output and input with an address joined with ``address_cluster``
   (≈ 50 B per address in the join's hash table, probe rows streamed), the distinct
   (cluster_id, tx_id, height) triples (≈ 50 B each; at most one per output or input), then
   per cluster ``n_txs`` and first/last height (≈ 60 B per cluster; a file of ≈ 20 B each).
4. **clusters** — the addresses file aggregated per cluster (``size``, amounts: ≈ 100 B per
   cluster), joined with the activity file (≈ 50 B per cluster) and sorted by cluster_id
   (≈ 80 B per cluster).

Steps 1 and 3 have a faster path for what the clustering engines write (dense cluster ids
that are addr_ids, Parquet parts in chain order):
:func:`~chainsleuth.store.addresssums.address_sums` computes both in one numba pass over
the parts (48 B per address, memory-mapped beyond the share), and DuckDB runs only steps 2
and 4 (1.7× faster in all on a 2 M-transaction chain, ``docs/benchmarks.md``); other inputs
take the four statements, and so do arrays beyond the share whose mapped rest the page cache
(:func:`~chainsleuth.budget.mappable_bytes`: available memory, or what a memory cgroup still
allows) cannot hold twice over: randomly accessed, they would thrash.

DuckDB holds each statement to its share of the budget (``fraction`` of ``budget``, default
half: ``memory_limit``) and spills what does not fit to ``DATASET/_tmp/duckdb``; Python holds
one record batch (131,072 rows, ≈ 5 MiB) at a time. Without a budget the connection's current
settings are used. The connection's ``memory_limit`` is restored afterwards; DuckDB cannot
switch its temporary directory once spill files were written, so a connection that already
spills elsewhere keeps doing so. On a generated chain of 30 M transactions (150 M outputs and
inputs with an address, 58 M addresses, 17 M multi-input clusters) a 2 GiB budget peaked at
1.4 GiB RSS, where the in-memory ``cluster_stats`` and ``member_stats`` needed 18 GiB.

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
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from chainsleuth.budget import TMP_DIR, mappable_bytes
from chainsleuth.errors import InputError
from chainsleuth.store.addresssums import BYTES_PER_ADDRESS, address_sums
from chainsleuth.store.catalog import _files

if TYPE_CHECKING:
    from chainsleuth.budget import MemoryBudget
    from chainsleuth.store.dataset import Dataset

__all__ = ["CLUSTERS_SCHEMA", "MEMBERS_SCHEMA", "write_cluster_stats"]

ROW_GROUP = 1 << 15
"""Rows per row group of ``clusters.parquet`` and ``members.parquet``. A cluster's profile
reads the groups holding its id: one 32 Ki-row group of members decodes in ~1–2 ms, a 128
Ki-row one in ~7 ms (measured on the demo through the API)."""

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
FROM read_parquet($ac)
"""

# {outputs} and {inputs} are FROM items chosen by _sources (constant text, never user values).
_ADDRESSES_SQL = """
COPY (
    SELECT
        addr_id,
        max(cluster_id) AS cluster_id,
        count(cluster_id) AS labels,
        sum(received)::BIGINT AS received,
        sum(sent)::BIGINT AS sent,
        sum(n_out)::BIGINT AS n_outputs
    FROM (
        SELECT addr_id::BIGINT AS addr_id, cluster_id::BIGINT AS cluster_id,
            0::BIGINT AS received, 0::BIGINT AS sent, 0::BIGINT AS n_out
        FROM read_parquet($ac)
        UNION ALL
        SELECT addr_id, NULL, value, 0, 1 FROM {outputs} WHERE addr_id IS NOT NULL
        UNION ALL
        SELECT addr_id, NULL, 0, coalesce(value, 0), 0 FROM {inputs} WHERE addr_id IS NOT NULL
    )
    GROUP BY addr_id
) TO $out (FORMAT parquet)
"""

# labels = 0: an address of the chain missing from address_cluster; > 1: a repeated addr_id.
_LABELS_SQL = """
SELECT count(*) FILTER (labels = 0), max(addr_id) FILTER (labels = 0), count(*) FILTER (labels > 1)
FROM read_parquet($addresses)
"""

_MEMBERS_SQL = """
SELECT cluster_id, addr_id, received, sent, n_outputs
FROM read_parquet($addresses)
ORDER BY cluster_id, received DESC, addr_id
"""

_ACTIVITY_SQL = """
COPY (
    SELECT cluster_id, count(*) AS n_txs, min(height) AS first_height, max(height) AS last_height
    FROM (
        SELECT DISTINCT ac.cluster_id AS cluster_id, e.tx_id AS tx_id, e.height AS height
        FROM (
            SELECT tx_id, addr_id, height FROM {outputs} WHERE addr_id IS NOT NULL
            UNION ALL
            SELECT tx_id, addr_id, height FROM {inputs} WHERE addr_id IS NOT NULL
        ) AS e
        JOIN (
            SELECT addr_id::BIGINT AS addr_id, cluster_id::BIGINT AS cluster_id
            FROM read_parquet($ac)
        ) AS ac ON ac.addr_id = e.addr_id
    )
    GROUP BY cluster_id
) TO $out (FORMAT parquet)
"""

_CLUSTERS_SQL = """
WITH money AS (
    SELECT cluster_id, count(*) AS size, sum(received) AS received, sum(sent) AS sent
    FROM read_parquet($addresses)
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
FROM money LEFT JOIN read_parquet($activity) AS activity
    ON money.cluster_id = activity.cluster_id
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


def _sources(ds: Dataset) -> tuple[dict[str, str], dict[str, Any]]:
    """FROM items for ``{outputs}`` / ``{inputs}`` and the parameters they take: the table's
    Parquet parts when the manifest lists any, else the view of that name."""
    items: dict[str, str] = {}
    params: dict[str, Any] = {}
    for table in ("outputs", "inputs"):
        files = _files(Path(ds.path), ds.manifest, table)
        if files:
            items[table] = f"read_parquet(${table})"
            params[table] = files
        else:
            items[table] = table
    return items, params


def _named(query: str, params: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``params`` that ``query`` names as ``$name`` (DuckDB refuses others).

    >>> _named("SELECT $ac, $activity", {"ac": 1, "activity": 2, "out": 3})
    {'ac': 1, 'activity': 2}
    """
    return {k: v for k, v in params.items() if re.search(rf"\${k}\b", query)}


def _run(ds: Dataset, query: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """All rows of ``query`` on a cursor of its own, given the parameters it names."""
    con = ds.con.cursor()
    try:
        named = _named(query, params)
        return con.execute(query, named).fetchall()
    finally:
        con.close()


def _stream(ds: Dataset, query: str, params: dict[str, Any], schema: pa.Schema, path: Path) -> int:
    """Write the rows of ``query`` to ``path`` (via ``.tmp``) with ``schema``; the row count.

    The query runs on a cursor of its own, closed however the writing ends.
    """
    tmp = path.with_name(path.name + ".tmp")
    rows = 0
    con = ds.con.cursor()
    try:
        named = _named(query, params)
        reader = con.sql(query, params=named).to_arrow_reader(ROW_GROUP)
        with pq.ParquetWriter(tmp, schema) as writer:
            for batch in reader:
                if batch.num_rows:
                    writer.write_batch(
                        pa.RecordBatch.from_arrays(batch.columns, schema=schema),
                        row_group_size=ROW_GROUP,
                    )
                    rows += batch.num_rows
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    return rows


def _fits(planned: int, ram: int) -> bool:
    """Whether the streamed sums' arrays (``planned`` bytes, random access) fit: in RAM, or
    mapped beyond ``ram`` where the page cache has room for the rest twice over. Otherwise
    DuckDB's sequential spilling is faster than a thrashing mapping (measured at 60 M
    addresses in a 2.2 GB memory cgroup: the mapped pass did not finish in 30 min).

    >>> _fits(100, 1 << 30), _fits(1 << 62, 0)
    (True, False)
    """
    return planned <= ram or 2 * (planned - ram) <= mappable_bytes()


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
    ``budget``. InputError when ``address_cluster`` is not one labelled row per addr_id
    0..n-1; IndexError when the chain names an address beyond it (nothing is written then).
    ``members_out`` is renamed into place first.
    """
    say = progress or (lambda _msg: None)
    data = Path(ds.path)
    source = str(address_cluster)
    items, params = _sources(ds)
    params["ac"] = source
    scratch = data / TMP_DIR
    scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="clusterstats-", dir=scratch))
    params["addresses"] = str(work / "addresses.parquet")
    params["activity"] = str(work / "activity.parquet")
    con = ds.con.cursor()
    try:
        with _budgeted(con, data, budget, fraction):
            [(n, lo, hi, labelled)] = _run(ds, _CHECK_SQL, params)
            if lo != 0 or hi != n - 1 or labelled != n:
                raise InputError(
                    f"{source}: want one labelled row per addr_id 0..{n - 1}, found ids "
                    f"{lo}..{hi} and {n - labelled} without a cluster"
                )
            say(f"address sums of {n:,} addresses")
            ram = budget.share(fraction) if budget is not None else 1 << 62
            streamed = _fits(n * BYTES_PER_ADDRESS, ram) and address_sums(
                ds, Path(source), Path(params["addresses"]), Path(params["activity"]),
                ram_bytes=ram,
            )  # fmt: skip
            if not streamed:
                _run(ds, _ADDRESSES_SQL.format(**items), {**params, "out": params["addresses"]})
                [(missing, top, repeated)] = _run(ds, _LABELS_SQL, params)
                if repeated:
                    raise InputError(f"{source}: {repeated:,} addr_ids appear more than once")
                if missing:
                    raise IndexError(f"addr_id {top} out of range for {n} addresses")
            say("writing members")
            _stream(ds, _MEMBERS_SQL, params, MEMBERS_SCHEMA, Path(members_out))
            say("cluster activity")
            if not streamed:
                _run(ds, _ACTIVITY_SQL.format(**items), {**params, "out": params["activity"]})
            say("writing clusters")
            return _stream(ds, _CLUSTERS_SQL, params, CLUSTERS_SCHEMA, Path(clusters_out))
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)
