"""Canonical digests of a dataset, a clustering run and a case folder, for golden comparisons.

The engine may change how it stores things (file layout, Arrow types, extra columns); these
digests look only at values: each column of the contract-v1 tables read in id order through the
dataset's views, the clustering's ``address_cluster`` rows, and the case files' rows with their
run-dependent fields (times, paths, versions) removed.

Run as a script to (re)record ``tests/data/golden/regtest-core-a.json`` — only ever from an engine
whose results are known good::

    python -m tests.golden.digest
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

V1_COLUMNS: dict[str, tuple[str, list[str]]] = {
    "blocks": ("height", ["height", "hash", "prev_hash", "merkle_root", "time", "version", "bits",
                          "nonce", "n_tx", "size", "stripped_size", "weight", "first_tx_id"]),
    "txs": ("tx_id", ["tx_id", "txid", "wtxid", "height", "block_pos", "time", "version",
                      "locktime", "n_in", "n_out", "size", "vsize", "weight", "is_coinbase",
                      "has_witness", "in_value", "out_value", "fee", "first_out_id"]),
    "outputs": ("out_id", ["out_id", "tx_id", "vout", "value", "script_type", "addr_id",
                           "script", "spent_by_tx", "spent_by_vin"]),
    "inputs": ("tx_id, vin", ["tx_id", "vin", "out_id", "prev_txid", "prev_vout", "sequence",
                              "value", "addr_id", "script_type", "script_sig_size",
                              "witness_count", "witness_size"]),
    "addresses": ("addr_id", ["addr_id", "address", "script_type", "first_height",
                              "first_out_id"]),
}  # fmt: skip

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"


def _digest_values(values: list[Any]) -> str:
    h = hashlib.sha256()
    for v in values:
        h.update((v.hex() if isinstance(v, bytes) else repr(v)).encode())
        h.update(b"\x00")
    return h.hexdigest()


def dataset_digest(path: Path) -> dict[str, dict[str, str]]:
    """{table: {column: sha256 of its values in id order}} over the v1 columns."""
    from chainsleuth.store.dataset import Dataset

    out: dict[str, dict[str, str]] = {}
    with Dataset.open(path) as ds:
        for table, (order, cols) in V1_COLUMNS.items():
            listing = ", ".join(f'"{c}"' for c in cols)
            tbl = ds.sql(f"SELECT {listing} FROM {table} ORDER BY {order}").arrow()
            out[table] = {c: _digest_values(tbl.column(c).to_pylist()) for c in cols}
            out[table]["rows"] = str(tbl.num_rows)
    return out


def clustering_digest(path: Path, run: str) -> dict[str, str]:
    """Digests of a clustering run's address → cluster map and its evidence rows."""
    from chainsleuth.store.dataset import Dataset

    base = path / "derived" / "clusters" / run
    with Dataset.open(path) as ds:
        ac = ds.sql(
            f"SELECT addr_id, cluster_id FROM read_parquet('{base}/address_cluster*') ORDER BY 1"
        ).arrow()
        ev = ds.sql(
            f"SELECT addr_a, addr_b, tx_id, rule::VARCHAR AS rule FROM "
            f"read_parquet('{base}/evidence*') ORDER BY 3, 1, 2, 4"
        ).arrow()
    return {
        "address_cluster": _digest_values(list(zip(*(ac.column(i).to_pylist() for i in range(2)),
                                                   strict=True))),
        "evidence": _digest_values(list(zip(*(ev.column(i).to_pylist() for i in range(4)),
                                            strict=True))),
        "n_evidence": str(ev.num_rows),
    }  # fmt: skip


def case_digest(case_dir: Path) -> dict[str, str]:
    """Digests of a case folder's rows (leads.csv, requests.csv) and case.json's summary."""
    out: dict[str, str] = {}
    for name in ("leads.csv", "requests.csv"):
        with open(case_dir / name, newline="") as fh:
            rows = [tuple(r) for r in csv.reader(fh)]
        out[name] = _digest_values(rows)
    case = json.loads((case_dir / "case.json").read_text())
    for key in ("seeds", "parameters", "service", "customers", "findings"):
        out[f"case.{key}"] = _digest_values([json.dumps(case.get(key), sort_keys=True)])
    return out


def record(work: Path) -> dict[str, Any]:
    """Ingest, cluster and investigate the regtest fixture; every digest."""
    from chainsleuth.cli import main
    from chainsleuth.cluster.run import cluster_dataset
    from chainsleuth.ingest import ingest_blocks
    from chainsleuth.store.dataset import Dataset
    from chainsleuth.tags.store import import_tag_files

    data = Path(__file__).resolve().parents[1] / "data"
    result: dict[str, Any] = {}
    for span in (100, 7):
        ds_path = work / f"ds{span}"
        ingest_blocks(data / "regtest-core-a" / "blocks", ds_path, "regtest",
                      partition_span=span)  # fmt: skip
        result[f"dataset_span{span}"] = dataset_digest(ds_path)
    ds_path = work / "ds100"
    with Dataset.open(ds_path) as ds:
        cluster_dataset(ds, "default")
        import_tag_files(ds, [data / "tagpacks" / "exchange-1-deposits.yaml",
                              data / "tagpacks" / "exchange-2-deposits.yaml"])  # fmt: skip
    result["clustering_default"] = clustering_digest(ds_path, "default")
    with open(data / "regtest-core-a" / "truth" / "service_customers.csv", newline="") as fh:
        seed = list(csv.DictReader(fh))[100]["deposit_address"]
    code = main(["investigate", "service", "--data", str(ds_path), "--seed", seed,
                 "--out", str(work / "case")])  # fmt: skip
    assert code == 0
    result["case"] = case_digest(work / "case")
    return result


if __name__ == "__main__":
    import tempfile

    GOLDEN.mkdir(parents=True, exist_ok=True)
    rec = record(Path(tempfile.mkdtemp()))
    (GOLDEN / "regtest-core-a.json").write_text(json.dumps(rec, indent=1, sort_keys=True) + "\n")
    sys.stdout.write(f"recorded {GOLDEN / 'regtest-core-a.json'}\n")
