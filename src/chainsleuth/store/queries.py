"""Small lookups over the dataset's views that the verbs need beyond :mod:`~chainsleuth.store.
lookup`: is a hash a block, txids of tx_ids, block times, and what named transactions spend,
pay and have spent (scoring an investigation).

Every query is fixed text; what the caller asks about goes in as parameters. Each runs on a
cursor of its own (:meth:`~chainsleuth.store.dataset.Dataset.sql`), so a half-read result
elsewhere on the connection is never disturbed.

>>> is_block_hash(ds, bytes.fromhex(ds.block(0)["hash"]))  # ds: the regtest chain
True
>>> txids_by_tx_id(ds, [0]) == {0: ds.txid_of(0)}
True
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

__all__ = [
    "block_times",
    "is_block_hash",
    "output_addresses_of_txids",
    "spent_outputs_of_txids",
    "spent_txids_of_txids",
    "txids_by_tx_id",
]


def is_block_hash(ds: Dataset, block_hash: bytes) -> bool:
    """Is ``block_hash`` (display byte order) the hash of a block of the dataset? (A scan of
    the ``blocks`` view.)

    >>> is_block_hash(ds, bytes(32))
    False
    """
    return ds.sql("SELECT 1 FROM blocks WHERE hash = ?", [block_hash]).fetchone() is not None


def txids_by_tx_id(ds: Dataset, tx_ids: Sequence[int]) -> dict[int, str]:
    """txid (hex) of each tx_id, in one join of the ``txs`` view; ids not in the dataset are
    left out.

    >>> txids_by_tx_id(ds, [0, 10**9])
    {0: '4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b'}
    """
    wanted = pa.table({"tx_id": pa.array([int(i) for i in tx_ids], pa.int64())})
    cur = ds.con.cursor()
    try:
        cur.register("_trace_wanted_tx", wanted)
        rows = cur.execute(
            "SELECT t.tx_id, t.txid FROM txs t JOIN _trace_wanted_tx w USING (tx_id)"
        ).fetchall()
    finally:
        cur.close()
    return {int(i): bytes(h).hex() for i, h in rows}


def block_times(ds: Dataset, heights: Sequence[int]) -> dict[int, datetime]:
    """Time of the blocks at ``heights`` (heights beyond the tip are left out).

    >>> {h: t.isoformat() for h, t in block_times(ds, [0, 10**9]).items()}
    {0: '2011-02-02T23:16:42+00:00'}
    """
    rows = ds.sql(
        "SELECT height, time FROM blocks WHERE height IN (SELECT unnest(?))",
        [[int(h) for h in heights]],
    ).fetchall()
    return {int(h): t for h, t in rows}


def spent_txids_of_txids(ds: Dataset, txids: Sequence[str]) -> list[tuple[Any, Any]]:
    """(txid, txid of the transaction whose output it spends) for every non-coinbase input of
    the transactions named by hex ``txids`` (lower case); both as stored (bytes).

    >>> t = ds.txid_of(212)  # the regtest chain's first spend: 7 inputs
    >>> pairs = spent_txids_of_txids(ds, [t])
    >>> len(pairs), {bytes(a).hex() for a, _ in pairs} == {t}
    (7, True)
    """
    return ds.sql(
        "SELECT t.txid, p.txid FROM inputs i JOIN txs t ON t.tx_id = i.tx_id "
        "JOIN outputs o ON o.out_id = i.out_id JOIN txs p ON p.tx_id = o.tx_id "
        "WHERE lower(hex(t.txid)) IN (SELECT unnest(?))",
        [list(txids)],
    ).fetchall()


def output_addresses_of_txids(ds: Dataset, txids: Sequence[str]) -> list[tuple[Any, Any]]:
    """(address, value) of every output with an address of the transactions named by hex
    ``txids`` (lower case).

    >>> output_addresses_of_txids(ds, [ds.txid_of(1)])
    [('bcrt1q5308qu3ejczty83g4ghe2n23kzulh66wz4wnm2', 5000000000)]
    """
    return ds.sql(
        "SELECT a.address, o.value FROM outputs o JOIN txs t ON t.tx_id = o.tx_id "
        "JOIN addresses a ON a.addr_id = o.addr_id "
        "WHERE lower(hex(t.txid)) IN (SELECT unnest(?))",
        [list(txids)],
    ).fetchall()


def spent_outputs_of_txids(ds: Dataset, txids: Sequence[str]) -> list[tuple[Any, Any]]:
    """(txid hex, vout) of the outputs of the transactions named by hex ``txids`` (lower case)
    that are spent by the tip.

    >>> (ds.txid_of(10), 0) in spent_outputs_of_txids(ds, [ds.txid_of(10)])
    True
    >>> spent_outputs_of_txids(ds, [ds.txid_of(1)])  # a coinbase not spent yet
    []
    """
    return ds.sql(
        "SELECT lower(hex(t.txid)), o.vout FROM outputs o JOIN txs t ON t.tx_id = o.tx_id "
        "WHERE lower(hex(t.txid)) IN (SELECT unnest(?)) AND o.spent_by_tx IS NOT NULL",
        [list(txids)],
    ).fetchall()
