"""Ground-truth address files read with DuckDB and matched to the dataset's addresses.

A truth ``addresses.csv`` names each address's owner: Bitcoin Core truth calls the column
``wallet``, the simulator's ``entity``. The owner column is one of those two fixed names, never
text taken from the file.

>>> t = read_truth_addresses(truth / "addresses.csv")  # truth: regtest-core-a's
>>> t.column_names, t.num_rows
(['address', 'wallet'], 9174)
>>> joined, n_addr = match_truth_addresses(ds, t)  # ds: the regtest chain
>>> joined.column_names, n_addr
(['addr_id', 'wallet'], 9175)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from chainsleuth.errors import InputError

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

__all__ = ["OWNER_COLUMNS", "match_truth_addresses", "read_truth_addresses"]

OWNER_COLUMNS = ("wallet", "entity")
"""Names of a truth file's owner column, in the order they are looked for."""


def read_truth_addresses(csv: Path) -> pa.Table:
    """(address, wallet) of every row of a truth ``addresses.csv``, all as text.

    InputError naming the file when it lacks ``address`` or an owner column.

    >>> import tempfile
    >>> bad = Path(tempfile.mkdtemp()) / "addresses.csv"
    >>> _ = bad.write_text("address,owner\\nx,y\\n")
    >>> try:
    ...     read_truth_addresses(bad)
    ... except InputError as e:
    ...     print(str(e).endswith("addresses.csv: needs columns address and wallet (or entity)"))
    True
    """
    con = duckdb.connect()
    try:
        raw = con.sql("SELECT * FROM read_csv(?, header=true, all_varchar=true)", params=[str(csv)])
        owner = next((c for c in OWNER_COLUMNS if c in raw.columns), None)
        if owner is None or "address" not in raw.columns:
            raise InputError(f"{csv}: needs columns address and wallet (or entity)")
        return con.sql(
            f'SELECT address, "{owner}" AS wallet FROM read_csv(?, header=true, all_varchar=true)',
            params=[str(csv)],
        ).to_arrow_table()
    finally:
        con.close()


def match_truth_addresses(ds: Dataset, truth: pa.Table) -> tuple[pa.Table, int]:
    """The rows of ``truth`` (address, wallet) whose address is in the dataset, as
    (addr_id, wallet), and the number of addr_ids (max addr_id + 1).

    >>> joined, n = match_truth_addresses(ds, pa.table({"address": ["x"], "wallet": ["w"]}))
    >>> joined.num_rows, n
    (0, 9175)
    """
    addresses = ds.con.sql("SELECT addr_id, address FROM addresses").to_arrow_table()
    con = duckdb.connect()
    try:
        con.register("t", truth)
        con.register("a", addresses)
        joined = con.sql(
            "SELECT a.addr_id, t.wallet FROM a JOIN t ON a.address = t.address"
        ).to_arrow_table()
        n_addr_rows = con.sql("SELECT coalesce(max(addr_id), -1) + 1 FROM a").fetchall()
    finally:
        con.close()
    return joined, int(n_addr_rows[0][0])
