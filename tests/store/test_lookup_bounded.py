"""Lookup indexes built under a byte budget: a tiny budget (batches of a few rows, sorted runs
spilled to ``_tmp/`` and merged back) writes the same bytes as the in-RAM build, on every
partition of the real regtest chain and on a partition of bare-multisig pseudo-addresses whose
first outputs are spread over several row groups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chainsleuth.store import lookup
from chainsleuth.store.lookup import (
    MAGIC,
    build_partition_indexes,
    index_file_name,
    pack_keys,
    script_key,
)
from chainsleuth.store.manifest import Manifest
from chainsleuth.store.parts import part_name, sha256_file
from chainsleuth.store.schema import TABLES

TINY = 2048
"""Bytes: batches of 4 rows, runs of 192 keys (96 for ``addr_key``), merge windows of 85."""


def _linked(src: Path, dst: Path) -> Path:
    """A dataset folder sharing ``src``'s parts (the index files are written apart)."""
    dst.mkdir(parents=True)
    (dst / "tables").symlink_to(src / "tables")
    return dst


def _count_runs(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    runs: list[Path] = []
    new = lookup._Spill.new

    def counted(self: lookup._Spill) -> Path:
        runs.append(new(self))
        return runs[-1]

    monkeypatch.setattr(lookup._Spill, "new", counted)
    return runs


def test_a_tiny_budget_writes_the_ingests_files(
    regtest_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = Manifest.load(regtest_dataset)
    runs = _count_runs(monkeypatch)
    data = _linked(regtest_dataset, tmp_path / "tiny")
    for p in manifest.partitions:
        name = part_name(p.lo, manifest.partition_span)
        files = build_partition_indexes(data, name, TINY)
        for rel, digest in files.items():
            assert digest == manifest.files[rel] == sha256_file(regtest_dataset / rel), rel
    assert len(runs) >= 50  # the larger partitions' kinds are each merged from several runs
    assert all(not run.exists() for run in runs)
    assert not list((data / "_tmp").glob("lookup-*"))  # the scratch folders are removed


def _multisig_partition(path: Path, m: int) -> tuple[str, list[tuple[int, int]]]:
    """One partition of ``m`` addresses (every 5th a bare-multisig ``ms:`` pseudo-address),
    address ``i``'s first output at row ``3 i + 1`` of 5-row output row groups; returns the
    part name and each address's expected script key."""
    name = part_name(0, 10)
    scripts = [b"\x00\x14" + i.to_bytes(20, "little") for i in range(m)]
    texts = [f"ms:1-of-1:{i:040x}" if i % 5 == 0 else f"bcrt1addr{i}" for i in range(m)]
    expected = [
        script_key(t.encode()) if t.startswith("ms:") else script_key(s)
        for t, s in zip(texts, scripts, strict=True)
    ]
    n_out = 3 * m
    out_key = [b"\xff" * 16] * n_out
    for i, s in enumerate(scripts):
        k0, k1 = script_key(s)
        out_key[3 * i + 1] = k0.to_bytes(8, "little") + k1.to_bytes(8, "little")
    cols: dict[str, dict[str, pa.Array]] = {
        "outputs": {
            "out_id": pa.array(range(100, 100 + n_out), pa.int64()),
            "addr_id": pa.array([i // 3 + 7 for i in range(n_out)], pa.int64()),
            "script_key": pa.array(out_key, pa.binary(16)),
        },
        "addresses": {
            "addr_id": pa.array(range(7, 7 + m), pa.int64()),
            "address": pa.array(texts, pa.large_string()),
            "script_type": pa.array(
                ["multisig" if t.startswith("ms:") else "witness_v0_keyhash" for t in texts]
            ),
            "first_out_id": pa.array([100 + 3 * i + 1 for i in range(m)], pa.int64()),
        },
    }
    for table, schema in TABLES.items():
        rows = {"outputs": n_out, "addresses": m}.get(table, 0)
        data = {f.name: cols.get(table, {}).get(f.name, pa.nulls(rows, f.type)) for f in schema}
        (path / "tables" / table).mkdir(parents=True)
        pq.write_table(
            pa.table(data, schema=schema), path / "tables" / table / name, row_group_size=5
        )
    return name, expected


def test_multisig_keys_and_row_groups_under_a_tiny_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = 400
    name, expected = _multisig_partition(tmp_path / "src", m)
    runs = _count_runs(monkeypatch)
    big = build_partition_indexes(_linked(tmp_path / "src", tmp_path / "big"), name)
    assert not runs
    tiny = build_partition_indexes(_linked(tmp_path / "src", tmp_path / "tiny"), name, TINY)
    assert tiny == big and len(runs) >= 3 * 4  # addr_key, addr_out, addr_in (empty: none)
    # addr_key as the in-RAM builder defines it: k0 | row sorted, then k1 in key order
    k0 = np.array([k for k, _ in expected], dtype=np.uint64)
    k1 = np.array([k for _, k in expected], dtype=np.uint64)
    bits = max(1, m.bit_length())
    keys = pack_keys(k0 >> np.uint64(bits), np.arange(m), bits)
    extra = k1[(keys & np.uint64((1 << bits) - 1)).astype(np.int64)]
    words = np.load(tmp_path / "tiny" / index_file_name("addr_key", name))
    assert words[:4].tolist() == [MAGIC, bits, 7, m]
    assert words[4:].tolist() == keys.tolist() + extra.tolist()
    owners = np.load(tmp_path / "tiny" / index_file_name("addr_out", name))
    assert owners[:4].tolist() == [MAGIC, (3 * m).bit_length(), 100, 3 * m]
    rows = np.arange(3 * m)
    assert (
        owners[4:].tolist()
        == pack_keys((rows // 3 + 7).astype(np.uint64), rows, (3 * m).bit_length()).tolist()
    )
