"""Profiles of many addresses at once, for ``POST /bulk/addresses``.

One row per address asked about, in the order given: the totals of ``chainsleuth show
ADDRESS`` (received, spent, balance, outputs, transactions, first and last height), the cluster
of the served clustering run with its best label, and the address's own tags. An address the
dataset does not hold (or that is not an address of its network) gets a row with ``error`` set,
so one bad line does not fail the batch.

With the dataset's lookup indexes every address's outputs and inputs are found in the index
files, and the rows they name are read in one batch per partition (never a scan of a table);
a dataset without indexes falls back to one :func:`~chainsleuth.store.profiles.address_profile`
per address.

>>> rows = address_rows(ds, ["bcrt1q5308qu3ejczty83g4ghe2n23kzulh66wz4wnm2", "nope"], "default")
>>> rows[0]["received"] > 0, rows[0]["cluster"] is not None, rows[1]["error"]
(True, True, 'address not in dataset: nope')
>>> to_csv(rows).splitlines()[0][:40]
'address,error,addr_id,script_type,first_'
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from chainsleuth.errors import UserError
from chainsleuth.store.rows import as_dicts, numpy_of

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

__all__ = ["COLUMNS", "address_rows", "to_csv"]

I64 = NDArray[np.int64]

COLUMNS: tuple[str, ...] = (
    "address",
    "error",
    "addr_id",
    "script_type",
    "first_height",
    "last_height",
    "n_txs",
    "n_outputs_received",
    "received",
    "n_outputs_spent",
    "spent",
    "balance",
    "cluster",
    "cluster_label",
    "labels",
)
"""Fields of a row, in the CSV's column order (``labels`` there ``;``-separated)."""


def _empty_row(address: str, error: str | None) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row["address"], row["error"], row["labels"] = address, error, []
    return row


def _resolve(ds: Dataset, addresses: Sequence[str]) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """Rows with errors filled in, and addr_id → first row asking about it."""
    rows: list[dict[str, Any]] = []
    ids: dict[int, int] = {}
    for i, address in enumerate(addresses):
        try:
            addr_id = ds.addr_id(address)
        except UserError as err:
            rows.append(_empty_row(address, str(err)))
            continue
        rows.append(_empty_row(address, None))
        rows[-1]["addr_id"] = addr_id
        ids.setdefault(addr_id, i)
    return rows, ids


def _totals_indexed(ds: Dataset, addr_ids: I64) -> dict[int, dict[str, Any]]:
    """Totals of each address (``addr_ids`` sorted, distinct) from the index files, the rows
    they name read in one batch per partition, summed per address with numpy."""
    lk = ds.lookup
    rows = lk.rows
    info = as_dicts(rows.by_id("addresses", addr_ids, ["addr_id", "script_type", "first_height"]))
    out_ids: list[I64] = []
    out_owner: list[I64] = []
    in_parts: dict[int, tuple[list[I64], list[I64]]] = {}
    for k, a in enumerate(addr_ids.tolist()):
        o = lk.outputs_of_addr(a)
        out_ids.append(o)
        out_owner.append(np.full(o.size, k, dtype=np.int64))
        for part, r in lk.inputs_of_addr(a):
            pos, who = in_parts.setdefault(part, ([], []))
            pos.append(r)
            who.append(np.full(r.size, k, dtype=np.int64))
    cols = ["value", "tx_id", "height"]
    tables = [(rows.by_id("outputs", np.concatenate(out_ids), cols), np.concatenate(out_owner))]
    n_out = len(tables[0][1])
    tables += [
        (rows.take("inputs", part, np.concatenate(pos), cols), np.concatenate(who))
        for part, (pos, who) in sorted(in_parts.items())
    ]
    value, tx, height = (
        np.concatenate([numpy_of(t.column(c)).astype(np.int64) for t, _ in tables]) for c in cols
    )
    owner = np.concatenate([o for _, o in tables])
    n = addr_ids.size
    received = np.bincount(owner[:n_out], value[:n_out], n).astype(np.int64)
    spent = np.bincount(owner[n_out:], value[n_out:], n).astype(np.int64)
    n_received = np.bincount(owner[:n_out], minlength=n)
    n_spent = np.bincount(owner[n_out:], minlength=n)
    last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last, owner, height)
    pairs = np.unique(np.stack([owner, tx]), axis=1) if owner.size else np.zeros((2, 0), np.int64)
    n_txs = np.bincount(pairs[0], minlength=n)
    result: dict[int, dict[str, Any]] = {}
    for row in info:
        a = int(row["addr_id"])
        k = int(np.searchsorted(addr_ids, a))
        result[a] = {
            "script_type": row["script_type"],
            "first_height": row["first_height"],
            "last_height": int(last[k]) if last[k] >= 0 else None,
            "n_txs": int(n_txs[k]),
            "n_outputs_received": int(n_received[k]),
            "received": int(received[k]),
            "n_outputs_spent": int(n_spent[k]),
            "spent": int(spent[k]),
            "balance": int(received[k] - spent[k]),
        }
    return result


def _totals_by_profile(ds: Dataset, addr_ids: I64) -> dict[int, dict[str, Any]]:
    """Totals of each address by :func:`address_profile` (a dataset without indexes)."""
    from chainsleuth.store.profiles import address_profile

    result: dict[int, dict[str, Any]] = {}
    for a in addr_ids.tolist():
        address = ds.address_of(a)
        if address is None:
            continue
        p = address_profile(ds, address, limit=0)
        result[a] = {
            "script_type": p["script_type"],
            "first_height": p["first_height"],
            "last_height": p["last_height"],
            "n_txs": p["n_txs"],
            "n_outputs_received": p["n_outputs_received"],
            "received": p["received"],
            "n_outputs_spent": p["n_outputs_spent"],
            "spent": p["spent"],
            "balance": p["balance"],
        }
    return result


def address_rows(ds: Dataset, addresses: Sequence[str], run: str | None) -> list[dict[str, Any]]:
    """One row per address (see the module docstring); ``run`` is the clustering run whose
    clusters and labels are shown (None: no cluster columns)."""
    from chainsleuth.report.annotate import label_text
    from chainsleuth.tags.store import labels_for_addresses

    rows, first = _resolve(ds, addresses)
    ids = np.array(sorted(first), dtype=np.int64)
    if not ids.size:
        return rows
    totals = _totals_indexed(ds, ids) if ds.lookup.indexed else _totals_by_profile(ds, ids)
    tags = labels_for_addresses(ds, ids.tolist())
    cluster_of: dict[int, int] = {}
    cluster_label: dict[int, str] = {}
    if run is not None:
        from chainsleuth.cluster.runs import load_address_cluster
        from chainsleuth.tags.attribution import cluster_labels

        mapping = load_address_cluster(ds, run)
        inside = ids[ids < mapping.shape[0]]
        cluster_of = dict(zip(inside.tolist(), mapping[inside].tolist(), strict=True))
        wanted = set(cluster_of.values())
        for lab in cluster_labels(ds, run).to_pylist():
            if int(lab["cluster_id"]) in wanted:
                cluster_label[int(lab["cluster_id"])] = str(lab["label"])
    for row in rows:
        a = row["addr_id"]
        if a is None:
            continue
        row.update(totals.get(a, {}))
        cid = cluster_of.get(a)
        row["cluster"] = cid
        row["cluster_label"] = cluster_label.get(cid) if cid is not None else None
        row["labels"] = [label_text([t]) for t in tags.get(a, [])]
    return rows


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as CSV (header :data:`COLUMNS`; empty cells for nulls, labels ``;``-joined)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        cells = []
        for name in COLUMNS:
            value = row.get(name)
            if name == "labels":
                value = ";".join(value or [])
            cells.append("" if value is None else value)
        writer.writerow(cells)
    return out.getvalue()
