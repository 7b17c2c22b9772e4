"""Lookup indexes: built per partition of the real regtest chain, they give the answers of the
SQL scans for every txid, address and output; prefix collisions are confirmed against the full
txid; the files are deterministic; the profiles are those of the SQL path; datasets without
indexes keep working."""

from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsleuth.errors import NotFoundError
from chainsleuth.store.dataset import Dataset
from chainsleuth.store.lookup import (
    INDEX_KINDS,
    MAGIC,
    IndexFile,
    address_key,
    build_partition_indexes,
    lower_bound,
    pack_keys,
    script_key,
    txid_prefixes,
)
from chainsleuth.store.manifest import Manifest
from chainsleuth.store.parts import part_name, sha256_file
from chainsleuth.store.profiles import (
    _address_profile_sql,
    _tx_profile_sql,
    address_profile,
    tx_profile,
)


def _index(path: Path) -> dict[str, str]:
    """Build every partition's indexes and list them in the manifest (as the ingest will)."""
    manifest = Manifest.load(path)
    files: dict[str, str] = {}
    for p in manifest.partitions:
        files.update(build_partition_indexes(path, part_name(p.lo, manifest.partition_span)))
    manifest.files.update(files)
    manifest.save(path)
    return files


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, regtest_dataset: Path) -> Path:
    path = tmp_path_factory.mktemp("lookup") / "ds"
    shutil.copytree(regtest_dataset, path, ignore=shutil.ignore_patterns("derived", "index"))
    _index(path)
    return path


@pytest.fixture(scope="module")
def ds(indexed: Path) -> Dataset:
    d = Dataset.open(indexed)
    assert d.lookup.indexed
    return d


def test_every_partition_gets_every_kind(indexed: Path) -> None:
    m = Manifest.load(indexed)
    listed = {f for f in m.files if f.startswith("index/")}
    assert len(listed) == len(m.partitions) * len(INDEX_KINDS) == 5 * 5
    for rel in listed:
        words = np.load(indexed / rel)
        assert words.dtype == np.dtype("<u8") and int(words[0]) == MAGIC
        keys = words[4 : 4 + int(words[3])]
        assert (np.diff(keys.astype(np.float64)) >= 0).all() and len(
            set(keys.tolist())
        ) == keys.size


def test_build_is_deterministic(indexed: Path, tmp_path: Path) -> None:
    again = tmp_path / "ds"
    shutil.copytree(indexed, again, ignore=shutil.ignore_patterns("index"))
    first = {
        rel: sha256_file(indexed / rel)
        for rel in Manifest.load(indexed).files
        if rel.startswith("index/")
    }
    assert _index(again) == first
    assert _index(again) == first  # rebuilding over existing files: same bytes


@pytest.mark.slow
def test_every_txid(ds: Dataset) -> None:
    txids, ids = ds.sql("SELECT txid, tx_id FROM txs").fetchnumpy().values()
    for txid, tx_id in zip(txids.tolist(), ids.tolist(), strict=True):
        assert ds.lookup.tx_id(bytes(txid)) == tx_id
        assert ds.tx_id(bytes(txid).hex()) == tx_id
    assert ds.lookup.txids_of(ids) == [bytes(t).hex() for t in txids.tolist()]


def test_every_address(ds: Dataset) -> None:
    rows = ds.sql("SELECT address, addr_id FROM addresses").fetchall()
    assert len(rows) == ds.manifest.counts["addresses"]
    kinds: dict[str, int] = defaultdict(int)
    for address, addr_id in rows:
        ds.lookup.known.clear()
        assert ds.lookup.addr_id(address) == addr_id, address
        kinds[address[:3]] += 1
    assert kinds["pk:"] > 0  # P2PK coinbase outputs of the regtest miner
    ids = np.array([a for _, a in rows])
    assert ds.lookup.addresses_of(ids) == [a for a, _ in rows]


def test_address_outputs_inputs_and_spenders(ds: Dataset) -> None:
    outs = ds.sql(
        "SELECT out_id, addr_id, coalesce(spent_by_tx, -1) FROM outputs ORDER BY out_id"
    ).fetchall()
    out_id = np.array([o for o, _, _ in outs])
    assert ds.lookup.spenders(out_id).tolist() == [s for _, _, s in outs]
    assert [ds.lookup.spender_of(o) for o, _, _ in outs[:300]] == [
        None if s < 0 else s for _, _, s in outs[:300]
    ]
    by_addr: dict[int, list[int]] = defaultdict(list)
    for o, a, _ in outs:
        if a is not None:  # addressless outputs (OP_RETURN) have no addr_id
            by_addr[a].append(o)
    inputs_by_addr: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for part in range(len(ds.manifest.partitions)):  # (partition, row) of every input
        owner = pq.read_table(ds.lookup.rows.path("inputs", part), columns=["addr_id"])
        for row, a in enumerate(owner.column("addr_id").to_pylist()):
            if a is not None:
                inputs_by_addr[a].append((part, row))
    n_inputs = 0
    for a in range(ds.manifest.counts["addresses"]):
        assert ds.lookup.outputs_of_addr(a).tolist() == by_addr[a]
        got = [(p, r) for p, rows in ds.lookup.inputs_of_addr(a) for r in rows.tolist()]
        assert got == inputs_by_addr[a]
        n_inputs += len(got)
    assert n_inputs == ds.sql("SELECT count(addr_id) FROM inputs").fetchone()[0]  # type: ignore[index]


def test_profiles_match_the_sql_path(ds: Dataset) -> None:
    txs = ds.sql("SELECT txid, tx_id FROM txs ORDER BY n_in + n_out DESC, tx_id").fetchall()
    sample = txs[:15] + txs[15::100]  # the largest transactions, then a spread
    for txid, tx_id in sample:
        assert tx_profile(ds, bytes(txid).hex()) == _tx_profile_sql(ds, tx_id)
    addrs = ds.sql(
        "SELECT a.address, a.addr_id FROM addresses a JOIN (SELECT addr_id, count(*) n FROM outputs"
        " GROUP BY addr_id) o USING (addr_id) ORDER BY n DESC, addr_id"
    ).fetchall()
    for address, addr_id in addrs[:8] + addrs[8::400]:
        for limit in (50, 3):
            assert address_profile(ds, address, limit) == _address_profile_sql(ds, addr_id, limit)


def test_unknown_values_are_not_found(ds: Dataset) -> None:
    missing = "ab" * 32
    assert ds.lookup.tx_id(bytes.fromhex(missing)) is None
    with pytest.raises(NotFoundError, match=f"transaction not in dataset: {missing}"):
        ds.tx_id(missing)
    fresh = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
    for address in (fresh, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "pk:zz", "ms:1-of-1:00", "x"):
        assert ds.lookup.addr_id(address) is None
        with pytest.raises(NotFoundError, match=f"address not in dataset: {address}"):
            ds.addr_id(address)
    with pytest.raises(NotFoundError, match="tx_id not in dataset: 99999999"):
        ds.txid_of(99_999_999)
    assert ds.address_of(99_999_999) is None
    assert ds.lookup.spenders(np.array([99_999_999])).tolist() == [-1]


def test_upper_case_bech32_finds_the_address(ds: Dataset) -> None:
    address = "bcrt1q5308qu3ejczty83g4ghe2n23kzulh66wz4wnm2"
    assert ds.addr_id(address.upper()) == ds.addr_id(address)


def test_txid_prefix_collision_is_confirmed_on_the_full_txid(tmp_path: Path) -> None:
    """Two txids sharing their first 8 bytes (built by hand) both land on one key range; the
    full txid read from the part tells them apart, in either order of the rows."""
    prefix = bytes.fromhex("00112233445566ff")
    a = prefix + bytes(range(24))
    b = prefix + bytes(range(1, 25))
    ds_path = _hand_dataset(tmp_path, [b"\x01" * 32, a, b"\x02" * 32, b])
    manifest = Manifest.load(ds_path)
    f = IndexFile.open(ds_path / "index/txid/h000000000-000000009.npy", False)
    start, end = f.find(np.array([int.from_bytes(prefix, "big") >> f.bits], dtype=np.uint64))
    assert end[0] - start[0] == 2
    with Dataset.open(ds_path) as ds:
        assert ds.lookup.indexed
        assert ds.lookup.tx_id(a) == 11 and ds.lookup.tx_id(b) == 13
        assert ds.lookup.tx_id(prefix + b"\x09" * 24) is None
    assert manifest.partitions[0].first_tx_id == 10


def _hand_dataset(
    tmp_path: Path, txids: list[bytes], addresses: tuple[tuple[str, str, bytes], ...] = ()
) -> Path:
    """A one-partition dataset whose parts hold only what the index builder reads: txs
    (tx_id from 10) and, per ``(address, script_type, script)``, an output and an address."""
    from chainsleuth.store.manifest import Partition
    from chainsleuth.store.parts import write_table_atomic
    from chainsleuth.store.schema import TABLES

    path = tmp_path / "hand"
    name = part_name(0, 10)
    n, m = len(txids), len(addresses)
    keys = [script_key(script) for _, _, script in addresses]
    cols: dict[str, dict[str, pa.Array]] = {
        "txs": {
            "tx_id": pa.array(range(10, 10 + n), pa.int64()),
            "txid": pa.array(txids, pa.binary(32)),
        },
        "outputs": {
            "out_id": pa.array(range(m), pa.int64()),
            "addr_id": pa.array(range(m), pa.int64()),
            "script_key": pa.array(
                [a.to_bytes(8, "little") + b.to_bytes(8, "little") for a, b in keys], pa.binary(16)
            ),
        },
        "addresses": {
            "addr_id": pa.array(range(m), pa.int64()),
            "address": pa.array([a for a, _, _ in addresses], pa.large_string()),
            "script_type": pa.array([t for _, t, _ in addresses], pa.string()),
            "first_out_id": pa.array(range(m), pa.int64()),
        },
    }
    manifest = Manifest.new("regtest", 10)
    for table, schema in TABLES.items():
        rows = {"txs": n, "outputs": m, "addresses": m}.get(table, 0)
        data = {f.name: cols.get(table, {}).get(f.name, pa.nulls(rows, f.type)) for f in schema}
        write_table_atomic(pa.table(data, schema=schema), path / "tables" / table / name)
        manifest.files[f"tables/{table}/{name}"] = sha256_file(path / "tables" / table / name)
    manifest.partitions = [Partition(0, 9, 9, 10, n, 0, m, 0, 0, m)]
    manifest.tip_height = 9
    manifest.files.update(build_partition_indexes(path, name))
    manifest.save(path)
    return path


def test_every_kind_of_address_string_is_found(tmp_path: Path) -> None:
    """Base58/bech32 addresses through their script, ``pk:`` through the P2PK script it names,
    ``ms:`` (script not recoverable from the name) through the hash of the string."""
    from chainsleuth.chain.address import address_to_script, pseudo_address
    from chainsleuth.chain.network import get_network

    net = get_network("regtest")
    key = bytes.fromhex("02" + "11" * 32)
    p2pk = bytes((33,)) + key + b"\xac"
    bare = bytes.fromhex("51") + bytes((33,)) + key + bytes.fromhex("51ae")
    wpkh = "bcrt1q5308qu3ejczty83g4ghe2n23kzulh66wz4wnm2"
    ms = pseudo_address(bare, "multisig")
    assert ms is not None and ms.startswith("ms:1-of-1:")
    addresses = (
        (wpkh, "witness_v0_keyhash", address_to_script(wpkh, net)),
        ("pk:" + key.hex(), "pubkey", p2pk),
        (ms, "multisig", bare),
    )
    with Dataset.open(_hand_dataset(tmp_path, [b"\x01" * 32], addresses)) as ds:
        assert ds.lookup.indexed
        assert [ds.lookup.addr_id(a) for a, _, _ in addresses] == [0, 1, 2]
        assert ds.lookup.addr_id(ms.replace("ms:1-of-1", "ms:1-of-2")) is None
        assert ds.lookup.outputs_of_addr(2).tolist() == [2]


def test_dataset_without_indexes_uses_sql(indexed: Path) -> None:
    manifest = Manifest.load(indexed)
    manifest.files = {k: v for k, v in manifest.files.items() if not k.startswith("index/")}
    with Dataset(indexed, manifest) as ds:
        assert not ds.lookup.indexed
        address = "bcrt1q5308qu3ejczty83g4ghe2n23kzulh66wz4wnm2"
        addr_id = ds.addr_id(address)
        assert ds.address_of(addr_id) == address
        txid = ds.txid_of(1)
        assert ds.tx_id(txid) == 1
        assert address_profile(ds, address)["addr_id"] == addr_id
        assert tx_profile(ds, txid)["tx_id"] == 1


def test_script_key_twin_matches_the_kernel_and_the_stored_keys(ds: Dataset) -> None:
    from chainsleuth.ingest.kernels import script_keys

    rng = np.random.default_rng(3)
    for n in range(0, 70):
        data = rng.integers(0, 256, n, dtype=np.uint8)
        k0, k1 = script_keys(data, np.array([0]), np.array([n]))
        assert script_key(data.tobytes()) == (int(k0[0]), int(k1[0]))
    part = ds.lookup.rows.path("outputs", 2)
    t = pq.read_table(part, columns=["script", "script_key"]).to_pylist()
    for row in t:
        w0, w1 = script_key(row["script"])
        assert row["script_key"] == w0.to_bytes(8, "little") + w1.to_bytes(8, "little")


def test_address_key_of_pseudo_addresses(ds: Dataset) -> None:
    key = "02" + "11" * 32
    assert address_key("pk:" + key, ds.network) == script_key(bytes.fromhex("21" + key + "ac"))
    assert address_key("pk:" + key[:-2], ds.network) is None
    assert address_key("ms:1-of-1:ab", ds.network) == script_key(b"ms:1-of-1:ab")


def test_pack_and_prefix_helpers() -> None:
    assert pack_keys(np.array([3, 1], np.uint64), np.array([1, 0]), 1).tolist() == [2, 7]
    with pytest.raises(Exception, match="does not fit"):
        pack_keys(np.array([2**63], np.uint64), np.array([0]), 2)
    col = pa.chunked_array([pa.array([bytes([i] * 32) for i in range(3)], pa.binary(32))])
    assert txid_prefixes(col.slice(1)).tolist() == [0x0101010101010101, 0x0202020202020202]


@pytest.mark.slow
def test_block_profiles_read_only_their_partition(ds: Dataset) -> None:
    from chainsleuth.store.profiles import block_profile

    expected = ds.sql(
        "SELECT b.height, b.hash, b.n_tx, sum(t.out_value), coalesce(sum(t.fee), 0), sum(t.n_in),"
        " sum(t.n_out), arg_max(t.txid, t.out_value) FROM blocks b JOIN txs t USING (height)"
        " GROUP BY ALL ORDER BY b.height"
    ).fetchall()
    assert len(expected) == ds.tip_height + 1
    for height, bhash, n_tx, out, fee, n_in, n_out, _ in expected:
        prof = block_profile(ds, str(height))
        assert prof == block_profile(ds, bytes(bhash).hex())
        assert (prof["height"], prof["n_tx"], prof["total_out"], prof["total_fee"]) == (
            height,
            n_tx,
            out,
            fee,
        )
        assert (prof["n_inputs"], prof["n_outputs"]) == (n_in, n_out)
        top = prof["top_txs"]
        assert [t["out_value"] for t in top] == sorted((t["out_value"] for t in top), reverse=True)
    with pytest.raises(NotFoundError, match="block not in dataset: 100000"):
        block_profile(ds, "100000")


@given(
    st.lists(st.integers(0, 2**64 - 1), min_size=0, max_size=3000, unique=True),
    st.lists(st.integers(0, 2**64), min_size=1, max_size=20),
    st.booleans(),
)
@settings(max_examples=150, deadline=None)
def test_lower_bound_agrees_with_searchsorted(
    keys: list[int], targets: list[int], skew: bool
) -> None:
    arr = np.array(sorted(keys), dtype=np.uint64)
    if skew and arr.size:  # packed ids: dense low values and a long tail
        arr = np.unique((arr >> np.uint64(40)) ** np.uint64(2))
    for t in targets + [int(k) for k in arr[:: max(1, arr.size // 7)]]:
        expected = int(np.searchsorted(arr, np.uint64(t))) if t < 2**64 else arr.size
        assert lower_bound(arr, t) == expected


@pytest.mark.parametrize("pyarrow_rows", [0, 64 * 1024])
def test_duckdb_and_pyarrow_row_reads_agree(
    ds: Dataset, pyarrow_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Few rows in big row groups go through DuckDB's row-number filter (forced here by a
    threshold of 0 rows), rows in small groups and many rows through pyarrow row groups, and a
    reader without a connection always uses pyarrow: same rows, same order, same values."""
    from chainsleuth.store import rows as rows_module
    from chainsleuth.store.rows import PartRows

    monkeypatch.setattr(rows_module, "_PYARROW_ROWS", pyarrow_rows)
    queries: list[str] = []
    sql = PartRows._sql

    def counted(self: PartRows, table: str, *args: Any, **kwargs: Any) -> Any:
        queries.append(table)
        return sql(self, table, *args, **kwargs)

    monkeypatch.setattr(PartRows, "_sql", counted)
    plain = PartRows(ds.path, ds.manifest)
    rng = np.random.default_rng(5)
    for table, cols in (
        ("txs", ["tx_id", "txid", "time", "fee", "is_coinbase"]),
        ("outputs", ["out_id", "value", "addr_id", "script_type", "script"]),
        ("addresses", ["addr_id", "address", "first_height"]),
    ):
        n = ds.manifest.counts[table]
        for size in (1, 3, 40):
            ids = rng.integers(0, n, size)
            fast = ds.lookup.rows.by_id(table, ids, cols)
            slow = plain.by_id(table, ids, cols)
            assert fast.to_pylist() == slow.to_pylist()
            assert fast.column(0).to_pylist() == ids.tolist()
    for part in range(len(ds.manifest.partitions)):
        tx = ds.lookup.rows.first_id("txs", part) + 7
        fast = ds.lookup.rows.where_between("inputs", part, "tx_id", tx, tx + 2, ["tx_id", "vin"])
        slow = plain.where_between("inputs", part, "tx_id", tx, tx + 2, ["tx_id", "vin"])
        assert fast.to_pylist() == slow.to_pylist()
    # the regtest parts' row groups are small: DuckDB only when the threshold forces it
    assert bool(queries) == (pyarrow_rows == 0)


@given(
    st.integers(1, 6),
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 63)), max_size=200, unique=True),
)
@settings(max_examples=150, deadline=None)
def test_find_one_agrees_with_searchsorted(bits: int, rows: list[tuple[int, int]]) -> None:
    """Key ranges of one high value, including runs longer than a gallop step."""
    keys = np.unique(np.array([(h << bits) | (o % (1 << bits)) for h, o in rows], np.uint64))
    f = IndexFile(bits, 0, keys, None)
    for high in range(42):
        lo, hi = np.uint64(high << bits), np.uint64((high << bits) | ((1 << bits) - 1))
        assert f.find_one(high) == (
            int(np.searchsorted(keys, lo)),
            int(np.searchsorted(keys, hi, side="right")),
        )
