"""The UTXO index (store/hashindex.py ``UtxoIndex``): 32-byte packed slots in shards chosen by
the key's hash, linear probing keyed by ``(txid[:12], vout)``, backward-shift deletion (no
tombstones), per-shard growth by 1.125x at load 0.9, the canonical saved form.

The index is driven through the same kernel helpers the ingest uses (``utxo_insert``,
``utxo_find``, ``utxo_entry``, ``utxo_delete``; ``load_utxos`` for bulk loads). Most layout
tests use one shard (``shard_bits=0``) so that home slots are easy to aim at.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from chainsleuth.errors import ChainsleuthError
from chainsleuth.ingest.resolve import load_utxos
from chainsleuth.store.hashindex import (
    ADDR_ID_LIMIT,
    ERR_ADDR_ID,
    ERR_FULL,
    ERR_OUT_ID,
    ERR_VALUE,
    ERR_VOUT,
    OUT_ID_LIMIT,
    SLOT_BYTES,
    SLOT_RAM_BYTES,
    UTXO_GROWTH,
    UTXO_MAX_LOAD,
    VALUE_LIMIT,
    VOUT_LIMIT,
    AddressIndex,
    UtxoIndex,
    _hash,
    _home,
    _shard_of,
    utxo_delete,
    utxo_entry,
    utxo_find,
    utxo_insert,
)

GOLDEN = 0x9E3779B97F4A7C15
LOW32 = 0xFFFFFFFF
M64 = (1 << 64) - 1

Key = tuple[int, int, int]  # (k0, k1, vout): k1's low 32 bits count, as txid bytes 8-11
Entry = tuple[int, int, int, int]  # (out_id, value, addr_id, script type)


def raw_insert(idx: UtxoIndex, key: Key, entry: Entry) -> int:
    """The kernel's status for one insert, without reserving first."""
    k0, k1, vout = key
    oid, value, aid, typ = entry
    return int(
        utxo_insert(
            idx.handle,
            np.uint64(k0),
            np.uint64(k1),
            np.uint32(vout),
            np.int64(oid),
            np.int64(value),
            np.int64(aid),
            np.uint8(typ),
        )
    )


def insert(idx: UtxoIndex, key: Key, entry: Entry) -> bool:
    """Insert one output (reserving first, as the resolver does); return whether it was new."""
    idx.reserve_keys(np.array([key[0]], np.uint64), np.array([key[2]], np.uint32))
    status = raw_insert(idx, key, entry)
    assert status >= 0
    return status == 1


def find(idx: UtxoIndex, key: Key) -> int:
    k0, k1, vout = key
    return int(utxo_find(idx.handle, np.uint64(k0), np.uint64(k1), np.uint32(vout)))


def slot_of(idx: UtxoIndex, key: Key) -> int:
    pos = find(idx, key)
    return -1 if pos < 0 else pos & ((1 << 40) - 1)


def get(idx: UtxoIndex, key: Key) -> Entry | None:
    pos = find(idx, key)
    if pos < 0:
        return None
    oid, value, aid, typ = utxo_entry(idx.handle, np.int64(pos))
    return int(oid), int(value), int(aid), int(typ)


def delete(idx: UtxoIndex, key: Key) -> bool:
    pos = find(idx, key)
    if pos < 0:
        return False
    utxo_delete(idx.handle, np.int64(pos))
    return True


def occupied(idx: UtxoIndex) -> int:
    """Slots holding an entry: equals ``count`` when deletion leaves no tombstones."""
    return sum(int((idx.shard(s)[:, 2] != 0).sum()) for s in range(1 << idx.shard_bits))


def check_distance_bytes(idx: UtxoIndex) -> None:
    """Each slot's distance byte: 0 where empty, else 1 + its entry's distance from home
    (255 from a distance of 254 on)."""
    for s in range(1 << idx.shard_bits):
        t, d = idx.shard(s), idx._dists[s]
        cap = t.shape[0]
        assert d.shape == (cap,)
        for slot in range(cap):
            if t[slot, 2] == 0:
                assert d[slot] == 0
                continue
            key = (int(t[slot, 0]), int(t[slot, 1]) & LOW32, (int(t[slot, 1]) >> 32) & 0xFFFFFF)
            dist = (slot - home(idx, key)) % cap
            assert d[slot] == min(dist, 254) + 1


def hash_of(key: Key) -> np.uint64:
    return np.uint64(_hash(np.uint64(key[0]), np.uint32(key[2])))


def home(idx: UtxoIndex, key: Key) -> int:
    hv = hash_of(key)
    s = int(_shard_of(hv, idx.shard_bits))
    return int(_home(hv, idx.shard_bits, int(idx.shard_capacities[s])))


def capacity(idx: UtxoIndex) -> int:
    return idx.capacity


def one_shard(expected: int = 0) -> UtxoIndex:
    return UtxoIndex(expected, shard_bits=0)


def entry_for(i: int) -> Entry:
    return (i, 1000 + i, 7 * i, i % 11)


def same_home_keys(cap: int, n: int, slot: int = 5, vout: int = 0) -> list[Key]:
    """``n`` distinct keys whose home slot is ``slot`` in a one-shard table of ``cap`` slots
    (the top 32 hash bits pick the home; the keys differ in the low 32 bits and in k1)."""
    y = -(-slot * (1 << 32) // cap)  # the smallest top word scaled to ``slot``
    mix = (vout * GOLDEN) & M64
    return [(((y << 32) | (j + 1)) ^ mix, j, vout) for j in range(n)]


def bulk(idx: UtxoIndex, keys: list[Key], first_oid: int = 0) -> None:
    n = len(keys)
    arr = np.array(keys, dtype=np.uint64).reshape(-1, 3)
    oid = np.arange(first_oid, first_oid + n, dtype=np.int64)
    load_utxos(
        idx,
        arr[:, 0].copy(),
        arr[:, 1].copy(),
        arr[:, 2].astype(np.uint32),
        oid,
        oid + 1000,
        oid * 7,
        (oid % 11).astype(np.uint8),
    )


def random_keys(rng: np.random.Generator, n: int, vouts: int = 4) -> list[Key]:
    return list(
        dict.fromkeys(
            (int(a), int(b), int(c))
            for a, b, c in zip(
                rng.integers(0, 2**64, n, dtype=np.uint64),
                rng.integers(0, 2**32, n),
                rng.integers(0, vouts, n),
                strict=True,
            )
        )
    )


# -- collisions ----------------------------------------------------------------------------------


def test_outputs_of_one_txid_are_distinct_entries() -> None:
    idx = UtxoIndex()
    keys = [(0xAB, 0xCD, vout) for vout in range(300)]
    for i, key in enumerate(keys):
        assert insert(idx, key, entry_for(i))
    assert idx.count == occupied(idx) == 300
    for i, key in enumerate(keys):
        assert get(idx, key) == entry_for(i)
    assert get(idx, (0xAB, 0xCD, 300)) is None


def test_the_key_is_the_96_bit_prefix_and_the_vout() -> None:
    """k1 carries txid bytes 8-11 only: keys differing above them are the same output (a
    duplicate txid, BIP30), replaced in place; keys differing within them are not."""
    idx = UtxoIndex()
    assert insert(idx, (1, 0x0000_0000_2222_2222, 0), entry_for(1))
    assert not insert(idx, (1, 0xFFFF_FFFF_2222_2222, 0), entry_for(2))
    assert idx.count == occupied(idx) == 1
    assert get(idx, (1, 0x2222_2222, 0)) == entry_for(2)
    assert insert(idx, (1, 0x2222_2223, 0), entry_for(3))
    assert insert(idx, (1 | 1 << 63, 0x2222_2222, 0), entry_for(4))  # k0's top bit counts
    assert idx.count == occupied(idx) == 3
    assert get(idx, (1, 0x2222_2222, 0)) == entry_for(2)


def test_a_vout_past_24_bits_never_aliases_a_stored_one() -> None:
    """Lookups with any 32-bit vout (an input's prev_vout) miss unless the vout is stored."""
    idx = one_shard()
    insert(idx, (77, 5, 3), entry_for(1))
    for vout in (3 + (1 << 24), 3 + (1 << 31), 0xFFFFFFFF):
        assert get(idx, (77, 5, vout)) is None
    assert get(idx, (77, 5, 3)) == entry_for(1)


def test_keys_sharing_a_home_are_probed_linearly() -> None:
    idx = one_shard()
    cap = capacity(idx)
    keys = same_home_keys(cap, 40)
    assert {home(idx, k) for k in keys} == {5}
    for i, key in enumerate(keys):
        assert insert(idx, key, entry_for(i))
    assert capacity(idx) == cap  # 40 of 64 slots: under the load limit
    # one contiguous run of slots from the shared home
    assert sorted(slot_of(idx, k) for k in keys) == list(range(5, 45))
    for i, key in enumerate(keys):
        assert get(idx, key) == entry_for(i)
    # an unrelated key homed inside the run lands after it
    other = same_home_keys(cap, 1, slot=6, vout=1)[0]
    assert home(idx, other) == 6
    assert insert(idx, other, entry_for(999))
    assert slot_of(idx, other) == 45


def test_entries_far_from_their_home_are_found_and_shifted_back() -> None:
    # 600 keys sharing one home: distances past 254 are stored as 255 and read from the key
    idx = one_shard(1000)
    cap = capacity(idx)
    keys = same_home_keys(cap, 600, slot=cap - 100)
    others = same_home_keys(cap, 50, slot=cap - 50, vout=1)  # homed inside the run
    for i, key in enumerate(keys + others):
        assert insert(idx, key, entry_for(i))
    assert capacity(idx) == cap
    check_distance_bytes(idx)
    assert int(idx._dists[0].max()) == 255
    rng = np.random.default_rng(7)
    order = rng.permutation(len(keys + others))
    gone = set()
    for n, i in enumerate(order[:500].tolist()):
        assert delete(idx, (keys + others)[i])
        gone.add(i)
        if n % 50 == 0:
            check_distance_bytes(idx)
            for j, key in enumerate(keys + others):
                assert get(idx, key) == (None if j in gone else entry_for(j))
    check_distance_bytes(idx)
    assert idx.count == occupied(idx) == 150
    for j, key in enumerate(keys + others):
        assert get(idx, key) == (None if j in gone else entry_for(j))


def test_probe_runs_wrap_around_the_end_of_the_table() -> None:
    idx = one_shard()
    cap = capacity(idx)
    keys = same_home_keys(cap, 6, slot=cap - 2)
    late = same_home_keys(cap, 1, slot=0, vout=2)[0]  # homed at 0, displaced by the wrapped run
    for i, key in enumerate(keys):
        insert(idx, key, entry_for(i))
    insert(idx, late, entry_for(99))
    assert [slot_of(idx, k) for k in keys] == [cap - 2, cap - 1, 0, 1, 2, 3]
    assert slot_of(idx, late) == 4
    # deleting across the wrap shifts the rest back, the displaced key towards its home
    assert delete(idx, keys[0]) and delete(idx, keys[3])
    assert [slot_of(idx, k) for k in (keys[1], keys[2], keys[4], keys[5])] == [
        cap - 2,
        cap - 1,
        0,
        1,
    ]
    assert slot_of(idx, late) == 2
    for key in keys[1:3] + keys[4:]:
        assert delete(idx, key)
    assert slot_of(idx, late) == 0 and get(idx, late) == entry_for(99)
    assert idx.count == occupied(idx) == 1


def test_shards_split_the_keys_by_their_top_hash_bits() -> None:
    rng = np.random.default_rng(1)
    idx = UtxoIndex(shard_bits=4)
    keys = random_keys(rng, 4000)
    bulk(idx, keys)
    per_shard = [int((idx.shard(s)[:, 2] != 0).sum()) for s in range(16)]
    assert sum(per_shard) == idx.count == len(keys)
    assert min(per_shard) > 150  # ~250 each
    for key in keys[:200]:
        s = int(_shard_of(hash_of(key), 4))
        assert find(idx, key) >> 40 == s


# -- fields --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vout", "entry"),
    [
        (0, (0, 0, -1, 0)),
        (VOUT_LIMIT - 1, (OUT_ID_LIMIT - 1, VALUE_LIMIT, ADDR_ID_LIMIT - 1, 255)),
        (1 << 23, (1 << 39, (1 << 50) + 1, (1 << 24) - 1, 128)),  # addr_id + 1 = 2^24
        (65_535, (123_456_789_012, 2_099_999_997_690_000, 1 << 24, 9)),
    ],
)
def test_packed_fields_round_trip_at_their_bounds(vout: int, entry: Entry) -> None:
    idx = UtxoIndex()
    key = (0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF, vout)
    assert insert(idx, key, entry)
    assert get(idx, key) == entry
    assert UtxoIndex.from_entries(idx.entries()).get(*key) == entry
    cols = idx.entries()
    assert [int(c[0]) for c in cols] == [key[0], key[1], vout, *entry]
    assert [c.dtype for c in cols] == [
        np.uint64,
        np.uint32,
        np.uint32,
        np.int64,
        np.int64,
        np.int64,
        np.uint8,
    ]


@pytest.mark.parametrize(
    ("vout", "entry", "status"),
    [
        (VOUT_LIMIT, (1, 1, 1, 1), ERR_VOUT),
        (0, (1, -1, 1, 1), ERR_VALUE),
        (0, (1, VALUE_LIMIT + 1, 1, 1), ERR_VALUE),
        (0, (OUT_ID_LIMIT, 1, 1, 1), ERR_OUT_ID),
        (0, (-1, 1, 1, 1), ERR_OUT_ID),
        (0, (1, 1, ADDR_ID_LIMIT, 1), ERR_ADDR_ID),
        (0, (1, 1, -2, 1), ERR_ADDR_ID),
    ],
)
def test_fields_past_their_bounds_are_refused(vout: int, entry: Entry, status: int) -> None:
    idx = UtxoIndex()
    assert raw_insert(idx, (5, 6, vout), entry) == status
    assert idx.count == occupied(idx) == 0
    with pytest.raises(ChainsleuthError, match="UTXO index entry 1: "):
        idx.insert_many(
            np.array([5, 5], np.uint64),
            np.array([6, 6], np.uint64),
            np.array([vout ^ 1 if vout < VOUT_LIMIT else 0, vout], np.uint32),
            np.array([0, entry[0]], np.int64),
            np.array([0, entry[1]], np.int64),
            np.array([0, entry[2]], np.int64),
            np.array([0, entry[3]], np.uint8),
        )
    assert idx.count == 1  # the rows before the bad one are in


def test_a_full_shard_refuses_instead_of_probing_forever() -> None:
    idx = one_shard()
    cap = capacity(idx)
    rng = np.random.default_rng(4)
    keys = random_keys(rng, cap + 5)
    statuses = [raw_insert(idx, key, entry_for(i)) for i, key in enumerate(keys)]
    assert statuses[: cap - 1] == [1] * (cap - 1)  # one slot always stays empty
    assert set(statuses[cap - 1 :]) == {ERR_FULL}
    assert idx.count == cap - 1
    for key in keys[: cap - 1]:
        assert get(idx, key) is not None


# -- deletion ------------------------------------------------------------------------------------


def test_delete_leaves_no_tombstones() -> None:
    idx = one_shard()
    keys = same_home_keys(capacity(idx), 50)
    for i, key in enumerate(keys):
        insert(idx, key, entry_for(i))
    for key in keys[::2]:
        assert delete(idx, key)
    assert idx.count == occupied(idx) == 25
    # the survivors closed the gaps: the run is contiguous from the home slot again
    home_slot = home(idx, keys[0])
    assert sorted(slot_of(idx, k) for k in keys[1::2]) == list(range(home_slot, home_slot + 25))
    for key in keys[1::2]:
        assert delete(idx, key)
    assert occupied(idx) == idx.count == 0
    assert not delete(idx, keys[0])
    assert not idx.shard(0).any()  # deleted slots are all-zero words


def test_insert_delete_reinsert() -> None:
    idx = one_shard()
    keys = same_home_keys(capacity(idx), 20)
    for i, key in enumerate(keys):
        insert(idx, key, entry_for(i))
    assert delete(idx, keys[7])
    assert get(idx, keys[7]) is None
    assert insert(idx, keys[7], entry_for(700))  # new again, with its new values
    assert get(idx, keys[7]) == entry_for(700)
    assert idx.count == occupied(idx) == 20
    for i, key in enumerate(keys):
        assert get(idx, key) == (entry_for(700) if i == 7 else entry_for(i))


def test_lookups_after_many_deletes() -> None:
    rng = np.random.default_rng(12)
    idx = one_shard(1000)
    cap = capacity(idx)
    # a few crowded homes plus random keys
    keys = [k for s in (3, 4, cap - 3) for k in same_home_keys(cap, 40, slot=s)]
    keys += random_keys(rng, 700, vouts=5)
    keys = list(dict.fromkeys(keys))
    for i, key in enumerate(keys):
        insert(idx, key, entry_for(i))
    order = rng.permutation(len(keys))
    keep = set(order[:10].tolist())
    for j in order[10:].tolist():
        assert delete(idx, keys[j])
    assert idx.count == occupied(idx) == 10
    for j, key in enumerate(keys):
        assert get(idx, key) == (entry_for(j) if j in keep else None)


def test_churn_at_a_steady_size_does_not_grow_the_table() -> None:
    """Deleted slots are reused: a UTXO set of stable size keeps its table size however many
    outputs pass through it (a tombstone scheme would fill up and have to grow or rehash)."""
    idx = UtxoIndex(shard_bits=2)
    idx.reserve(3000)
    caps = idx.shard_capacities
    live: list[Key] = []
    next_id = 10_000
    for _round in range(50):
        while len(live) < 1800:  # ~450 of ~900 slots per shard
            key = ((next_id * 0xD1B54A32D192ED03) & M64, next_id, next_id % 3)
            insert(idx, key, entry_for(next_id))
            live.append(key)
            next_id += 1
        for key in live[:900]:
            assert delete(idx, key)
        live = live[900:]
    assert next_id - 10_000 > 10 * capacity(idx)
    assert (idx.shard_capacities == caps).all()
    assert idx.count == occupied(idx) == len(live)
    for key in live:
        assert get(idx, key) is not None


# -- growth --------------------------------------------------------------------------------------


def test_reserve_grows_only_the_shards_past_the_load_limit() -> None:
    idx = one_shard()
    cap = capacity(idx)
    limit = int(cap * UTXO_MAX_LOAD)  # 57 of 64 slots
    bulk(idx, random_keys(np.random.default_rng(2), limit))
    assert idx.count == limit and capacity(idx) == cap
    idx.reserve(0)
    assert capacity(idx) == cap
    before = idx.nbytes
    idx.reserve(1)
    assert capacity(idx) == int(cap * UTXO_GROWTH)  # 80
    # the spike: the old shard and the new one at once
    assert idx.peak_nbytes == before + capacity(idx) * SLOT_RAM_BYTES
    assert idx.grows == 1

    sharded = UtxoIndex(shard_bits=3)
    caps = sharded.shard_capacities
    k0 = np.uint64(0x1234_5678 << 32) + np.arange(60, dtype=np.uint64)  # same top bits
    sharded.reserve_keys(k0, np.zeros(60, np.uint32))  # 60 keys, all in one shard
    grown = np.flatnonzero(sharded.shard_capacities != caps)
    s = int(_shard_of(hash_of((int(k0[0]), 0, 0)), 3))
    assert grown.tolist() == [s]
    assert sharded.shard_capacities[s] >= 60 / UTXO_MAX_LOAD


def test_pre_sized_index_does_not_grow_while_filled_to_its_size() -> None:
    rng = np.random.default_rng(8)
    keys = random_keys(rng, 50_000)
    idx = UtxoIndex(len(keys))
    bulk(idx, keys)
    assert idx.grows == 0 and idx.count == len(keys)
    assert idx.peak_nbytes == idx.nbytes


def test_growth_across_resizes_keeps_every_entry() -> None:
    rng = np.random.default_rng(7)
    idx = UtxoIndex(shard_bits=4)
    expected: dict[Key, int] = {}
    caps = []
    total = 0
    while total < 60_000:
        n = int(rng.integers(1, 100 + total // 4))  # several batches per table size
        keys = [k for k in random_keys(rng, n) if k not in expected]
        bulk(idx, keys, first_oid=total)
        for i, key in enumerate(keys):
            expected[key] = total + i
        total += len(keys)
        caps.append(idx.shard_capacities)
        assert idx.count == occupied(idx) == len(expected)
        for s in range(16):
            assert (idx.shard(s)[:, 2] != 0).sum() <= UTXO_MAX_LOAD * idx.shard_capacities[s]
    assert idx.grows > 16 * 10  # every shard grew many times, by small steps
    steps = [b[s] / a[s] for a, b in itertools.pairwise(caps) for s in range(16) if b[s] != a[s]]
    assert max(steps) < 2  # no doubling: 1.125x unless a batch needs more
    assert np.median(steps) == pytest.approx(UTXO_GROWTH, abs=0.02)
    for key, oid in expected.items():
        assert get(idx, key) == entry_for(oid)
    assert get(idx, (123, 456, 7)) is None or (123, 456, 7) in expected
    # load 0.8-0.9 after growth: 33 B slots (with the distance byte) give 36.7-41.3 B per entry
    stats = idx.probe_stats()
    assert UTXO_MAX_LOAD / UTXO_GROWTH - 0.01 <= stats["load"] <= UTXO_MAX_LOAD
    assert SLOT_RAM_BYTES / 0.9 <= stats["bytes_per_entry"] <= SLOT_RAM_BYTES / 0.79
    assert stats["hit_probes_mean"] < 8 and stats["miss_probes_mean"] < 80


def test_probe_stats_count_displacements() -> None:
    idx = one_shard()
    cap = capacity(idx)
    keys = same_home_keys(cap, 4, slot=cap - 2)  # slots cap-2, cap-1, 0, 1
    for i, key in enumerate(keys):
        insert(idx, key, entry_for(i))
    stats = idx.probe_stats()
    assert stats["entries"] == 4 and stats["slots"] == cap
    assert stats["hit_probes_mean"] == 1 + (0 + 1 + 2 + 3) / 4
    assert stats["hit_probes_max"] == 4
    # a miss at cap-2 probes 5 slots, cap-1: 4, 0: 3, 1: 2, anywhere else 1
    assert stats["miss_probes_mean"] == (5 + 4 + 3 + 2 + (cap - 4)) / cap


# -- saved form ----------------------------------------------------------------------------------


def test_records_are_canonical_and_round_trip() -> None:
    rng = np.random.default_rng(3)
    keys = [k for s in (0, 40, 63) for k in same_home_keys(64, 30, slot=s)]
    keys += random_keys(rng, 3000, vouts=2)
    keys = list(dict.fromkeys(keys))
    a = UtxoIndex()
    for i, key in enumerate(keys):
        insert(a, key, entry_for(i))
    for key in keys[::3]:
        delete(a, key)
    b = UtxoIndex(4 * len(keys))  # other shard sizes, other insertion order
    for i in reversed(range(len(keys))):
        if i % 3:
            insert(b, keys[i], entry_for(i))
    assert (a.shard_capacities != b.shard_capacities).any()
    ra, rb = list(a.records()), list(b.records())
    assert len(ra) == 256
    for x, y in zip(ra, rb, strict=True):
        assert x.shape[1] == 4 and x.dtype == np.uint64
        np.testing.assert_array_equal(x, y)
        oid = x[:, 2] & np.uint64((1 << 40) - 1)
        assert np.all(np.diff(oid.astype(np.int64)) > 0)  # sorted by out_id within the shard
    assert sum(len(x) for x in ra) * SLOT_BYTES == 32 * a.count
    # any chunking loads the same index
    flat = np.concatenate(ra)
    c = UtxoIndex.from_records([flat[:1000], flat[1000:1001], flat[1001:]], a.count)
    assert c.count == a.count == occupied(c)
    for x, y in zip(c.records(), ra, strict=True):
        np.testing.assert_array_equal(x, y)
    ea = a.entries()
    for x, y in zip(c.entries(), ea, strict=True):
        np.testing.assert_array_equal(x, y)
    assert np.all(np.diff(ea[3]) > 0)  # entries() are sorted by out_id overall
    for i, key in enumerate(keys):
        assert get(c, key) == (None if i % 3 == 0 else entry_for(i))
    # the loaded index keeps working: deletes and inserts after the round trip
    assert delete(c, keys[1]) and insert(c, keys[0], entry_for(0))
    assert get(c, keys[1]) is None and get(c, keys[0]) == entry_for(0)


def test_empty_round_trip() -> None:
    idx = UtxoIndex.from_records(UtxoIndex().records())
    assert idx.count == 0 and occupied(idx) == 0 and capacity(idx) == 256 * 64
    assert [len(x) for x in UtxoIndex.from_entries(idx.entries()).records()] == [0] * 256


def test_address_index_assigns_dense_ids_across_growth() -> None:
    idx = AddressIndex()
    rng = np.random.default_rng(5)
    k0 = rng.integers(0, 2**64, 5000, dtype=np.uint64)
    k0[100:200] = k0[:100] ^ np.uint64(1 << 40)  # same low bits: same bucket
    k1 = np.arange(5000, dtype=np.uint64)
    ids, new = idx.assign(k0, k1, np.ones(5000, dtype=np.bool_))
    assert ids.tolist() == list(range(5000)) and new.all()
    again, new2 = idx.assign(k0[::-1].copy(), k1[::-1].copy(), np.ones(5000, dtype=np.bool_))
    assert again.tolist() == list(range(4999, -1, -1)) and not new2.any()
    assert idx.count == 5000
    assert idx.count <= 0.6 * idx.vals.shape[0] and idx.vals.shape[0] & (idx.vals.shape[0] - 1) == 0


# -- model-based ---------------------------------------------------------------------------------

# A small key universe so that collisions, shared homes, duplicates and wrap-around are common:
# the top hash bits pick one of a few home slots (near both ends of the table), low bits vary.
K0 = st.builds(
    lambda top, low: top << 32 | low,
    st.sampled_from([0, 1, 0x8000_0000, 0xFFFF_FFFE, 0xFFFF_FFFF]),
    st.integers(0, 3),
)
KEYS = st.tuples(K0, st.integers(0, 2).map(lambda k: k | (0xABCD << 32)), st.integers(0, 2))


class UtxoIndexModel(RuleBasedStateMachine):
    """The index against a plain dict keyed by (k0, k1 low 32 bits, vout)."""

    def __init__(self) -> None:
        super().__init__()
        self.shard_bits = 0
        self.index = UtxoIndex(shard_bits=0)
        self.model: dict[Key, Entry] = {}
        self.next_oid = 0

    @staticmethod
    def norm(key: Key) -> Key:
        return (key[0], key[1] & LOW32, key[2])

    @rule(bits=st.sampled_from([0, 1, 2]))
    def reshard(self, bits: int) -> None:
        """Same entries in an index of another shard count (its own saved form)."""
        self.shard_bits = bits
        self.index = UtxoIndex.from_records(self.index.records(), shard_bits=bits)

    @rule(key=KEYS)
    def insert(self, key: Key) -> None:
        entry = entry_for(self.next_oid)
        self.next_oid += 1
        added = insert(self.index, key, entry)
        assert added == (self.norm(key) not in self.model)
        self.model[self.norm(key)] = entry

    @rule(key=KEYS)
    def delete(self, key: Key) -> None:
        assert delete(self.index, key) == (self.model.pop(self.norm(key), None) is not None)

    @rule(key=KEYS)
    def lookup(self, key: Key) -> None:
        assert get(self.index, key) == self.model.get(self.norm(key))

    @rule(extra=st.integers(0, 3000))
    def reserve(self, extra: int) -> None:
        self.index.reserve(extra)
        k = 1 << self.shard_bits
        assert (self.index.shard_capacities * UTXO_MAX_LOAD >= extra / k).all()

    @precondition(lambda self: len(self.model) < 60)
    @rule(data=st.data())
    def bulk_insert(self, data: st.DataObject) -> None:
        keys = data.draw(st.lists(KEYS, max_size=20, unique_by=self.norm))
        fresh = [k for k in keys if self.norm(k) not in self.model]
        bulk(self.index, fresh, first_oid=self.next_oid)
        for i, key in enumerate(fresh):
            self.model[self.norm(key)] = entry_for(self.next_oid + i)
        self.next_oid += len(fresh)

    @rule()
    def save_and_load(self) -> None:
        self.index = UtxoIndex.from_records(
            list(self.index.records()), self.index.count, shard_bits=self.shard_bits
        )

    @invariant()
    def agrees_with_model(self) -> None:
        idx = self.index
        assert idx.count == len(self.model) == occupied(idx)
        check_distance_bytes(idx)
        entries = idx.entries()
        saved = {
            (int(k0), int(k1), int(v)): (int(o), int(val), int(a), int(t))
            for k0, k1, v, o, val, a, t in zip(*entries, strict=True)
        }
        assert saved == self.model
        for key, entry in self.model.items():
            assert get(idx, key) == entry


TestUtxoIndexModel = UtxoIndexModel.TestCase
TestUtxoIndexModel.settings = settings(
    max_examples=60, stateful_step_count=40, derandomize=True, database=None, deadline=None
)


@pytest.mark.parametrize("slot", [0, 63])
def test_home_slot_helper(slot: int) -> None:
    idx = one_shard()
    assert {home(idx, k) for k in same_home_keys(64, 10, slot=slot, vout=3)} == {slot}


def test_spilled_shards_hold_the_same_entries(tmp_path: Path) -> None:
    """Past ``spill_beyond``'s bytes the shards live in unlinked file mappings: anonymous
    slots stay within the limit while the table grows, and every entry, lookup and the saved
    form are the same as in an index held in RAM."""
    rng = np.random.default_rng(7)
    n = 120_000
    k0 = rng.integers(0, 2**63, n, dtype=np.uint64)
    k1 = rng.integers(0, 2**32, n, dtype=np.uint64)
    vout = rng.integers(0, 5, n).astype(np.uint32)
    cols = (k0, k1, vout, np.arange(n, dtype=np.int64), rng.integers(0, 10**8, n),
            rng.integers(-1, 10**6, n), rng.integers(0, 9, n).astype(np.uint8))  # fmt: skip
    ram, spilled = UtxoIndex(), UtxoIndex()
    limit = 512 << 10
    spilled.spill_beyond(limit, tmp_path / "spill")
    for lo in range(0, n, n // 4):
        part = tuple(c[lo : lo + n // 4] for c in cols)
        assert ram.insert_many(*part) == spilled.insert_many(*part)
        for i in range(lo, lo + n // 4, 3):  # spend a third of them again
            assert ram.delete(int(k0[i]), int(k1[i]), int(vout[i]))
            assert spilled.delete(int(k0[i]), int(k1[i]), int(vout[i]))
        assert spilled.anon_nbytes <= limit
    assert spilled.spilled_nbytes > spilled.nbytes // 2 and ram.spilled_nbytes == 0
    assert spilled.count == ram.count
    for a, b in zip(ram.records(), spilled.records(), strict=True):
        assert np.array_equal(a, b)
    for i in range(1, n, 997):
        assert spilled.get(int(k0[i]), int(k1[i]), int(vout[i])) == ram.get(
            int(k0[i]), int(k1[i]), int(vout[i])
        )
    assert list((tmp_path / "spill").iterdir()) == []  # unlinked at once
