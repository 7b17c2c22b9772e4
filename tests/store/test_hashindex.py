"""The UTXO index (store/hashindex.py ``UtxoIndex``): linear probing keyed by ``(txid[:12],
vout)``, backward-shift deletion (no tombstones), doubling growth, the canonical saved form.

The index is driven through the same kernel helpers the ingest uses (``utxo_insert``,
``utxo_find``, ``utxo_delete``; ``load_utxos`` for bulk loads), with ``count`` kept as the
ingest keeps it.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from chainsleuth.ingest.resolve import load_utxos
from chainsleuth.store.hashindex import (
    AddressIndex,
    UtxoIndex,
    _utxo_slot,
    utxo_delete,
    utxo_find,
    utxo_insert,
)

GOLDEN = 0x9E3779B97F4A7C15
LOW32 = 0xFFFFFFFF

Key = tuple[int, int, int]  # (k0, k1, vout): k1's low 32 bits count, as txid bytes 8-11
Entry = tuple[int, int, int, int]  # (out_id, value, addr_id, script type)


def insert(idx: UtxoIndex, key: Key, entry: Entry) -> bool:
    """Insert one output (growing first, as the resolver does); return whether it was new."""
    idx.reserve(1)
    k0, k1, vout = key
    oid, value, aid, typ = entry
    added = bool(
        utxo_insert(
            *idx.arrays,
            np.uint64(k0),
            np.uint64(k1),
            np.uint32(vout),
            np.int64(oid),
            np.int64(value),
            np.int64(aid),
            np.uint8(typ),
        )
    )
    idx.count += added
    return added


def find(idx: UtxoIndex, key: Key) -> int:
    k0, k1, vout = key
    return int(
        utxo_find(
            idx.keys0,
            idx.keys1,
            idx.vouts,
            idx.out_ids,
            np.uint64(k0),
            np.uint64(k1),
            np.uint32(vout),
        )
    )


def get(idx: UtxoIndex, key: Key) -> Entry | None:
    slot = find(idx, key)
    if slot < 0:
        return None
    return (
        int(idx.out_ids[slot]),
        int(idx.values[slot]),
        int(idx.addr_ids[slot]),
        int(idx.types[slot]),
    )


def delete(idx: UtxoIndex, key: Key) -> bool:
    slot = find(idx, key)
    if slot < 0:
        return False
    utxo_delete(*idx.arrays, np.int64(slot))
    idx.count -= 1
    return True


def occupied(idx: UtxoIndex) -> int:
    """Slots holding an entry: equals ``count`` when deletion leaves no tombstones."""
    return int((idx.out_ids != -1).sum())


def home(idx: UtxoIndex, key: Key) -> int:
    mask = idx.out_ids.shape[0] - 1
    return int(_utxo_slot(np.uint64(key[0]), np.uint32(key[2]), np.int64(mask)))


def capacity(idx: UtxoIndex) -> int:
    return int(idx.out_ids.shape[0])


def entry_for(i: int) -> Entry:
    return (i, 1000 + i, 7 * i, i % 11)


def same_home_keys(cap: int, n: int, slot: int = 5, vout: int = 0) -> list[Key]:
    """``n`` distinct keys whose home slot is ``slot`` in a table of ``cap`` slots (they differ
    only in k0 bits above the mask, and in k1)."""
    base = (slot ^ (vout * GOLDEN)) & (cap - 1)
    return [(base + (j + 1) * cap, j, vout) for j in range(n)]


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


def test_keys_sharing_a_bucket_are_probed_linearly() -> None:
    idx = UtxoIndex()
    cap = capacity(idx)
    keys = same_home_keys(cap, 200)
    assert {home(idx, k) for k in keys} == {5}
    for i, key in enumerate(keys):
        assert insert(idx, key, entry_for(i))
    # one contiguous run of slots from the shared home
    assert sorted(find(idx, k) for k in keys) == list(range(5, 205))
    for i, key in enumerate(keys):
        assert get(idx, key) == entry_for(i)
    # an unrelated key homed inside the run lands after it
    other = same_home_keys(cap, 1, slot=6)[0]
    assert insert(idx, other, entry_for(999))
    assert find(idx, other) == 205


def test_probe_runs_wrap_around_the_end_of_the_table() -> None:
    idx = UtxoIndex()
    cap = capacity(idx)
    keys = same_home_keys(cap, 6, slot=cap - 2)
    late = same_home_keys(cap, 1, slot=0)[0]  # homed at 0, displaced by the wrapped run
    for i, key in enumerate(keys):
        insert(idx, key, entry_for(i))
    insert(idx, late, entry_for(99))
    assert [find(idx, k) for k in keys] == [cap - 2, cap - 1, 0, 1, 2, 3]
    assert find(idx, late) == 4
    # deleting across the wrap shifts the rest back, the displaced key towards its home
    assert delete(idx, keys[0]) and delete(idx, keys[3])
    assert [find(idx, k) for k in (keys[1], keys[2], keys[4], keys[5])] == [cap - 2, cap - 1, 0, 1]
    assert find(idx, late) == 2
    for key in keys[1:3] + keys[4:]:
        assert delete(idx, key)
    assert find(idx, late) == 0 and get(idx, late) == entry_for(99)
    assert idx.count == occupied(idx) == 1


# -- deletion ------------------------------------------------------------------------------------


def test_delete_leaves_no_tombstones() -> None:
    idx = UtxoIndex()
    keys = same_home_keys(capacity(idx), 50)
    for i, key in enumerate(keys):
        insert(idx, key, entry_for(i))
    for key in keys[::2]:
        assert delete(idx, key)
    assert idx.count == occupied(idx) == 25
    # the survivors closed the gaps: the run is contiguous from the home slot again
    assert sorted(find(idx, k) for k in keys[1::2]) == list(range(5, 30))
    for key in keys[1::2]:
        assert delete(idx, key)
    assert occupied(idx) == idx.count == 0
    assert not delete(idx, keys[0])


def test_insert_delete_reinsert() -> None:
    idx = UtxoIndex()
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
    idx = UtxoIndex()
    # a few crowded buckets plus random keys
    keys = [k for s in (3, 4, 900) for k in same_home_keys(1024, 40, slot=s)]
    keys += [
        (int(a), int(b), int(c))
        for a, b, c in zip(
            rng.integers(0, 2**63, 700),
            rng.integers(0, 2**32, 700),
            rng.integers(0, 5, 700),
            strict=True,
        )
    ]
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
    idx = UtxoIndex()
    cap = capacity(idx)
    live: list[Key] = []
    next_id = 0
    for _round in range(40):
        while len(live) < 700:  # load ~0.68 of 1024
            key = (next_id * 0x100000001 + 17, next_id, next_id % 3)
            insert(idx, key, entry_for(next_id))
            live.append(key)
            next_id += 1
        for key in live[:350]:
            assert delete(idx, key)
        live = live[350:]
    assert next_id > 10 * cap
    assert capacity(idx) == cap
    assert idx.count == occupied(idx) == len(live)
    for key in live:
        assert get(idx, key) is not None


# -- growth --------------------------------------------------------------------------------------


def test_reserve_grows_only_past_the_load_limit() -> None:
    idx = UtxoIndex()
    assert capacity(idx) == 1024
    bulk(idx, [(i, i, 0) for i in range(819)])  # 819 <= 0.8 * 1024
    assert capacity(idx) == 1024
    idx.reserve(0)
    assert capacity(idx) == 1024
    idx.reserve(1)  # 820 > 819.2
    assert capacity(idx) == 2048
    assert UtxoIndex(820).out_ids.shape[0] == 2048
    assert UtxoIndex(819).out_ids.shape[0] == 1024


def test_growth_across_resizes_keeps_every_entry() -> None:
    rng = np.random.default_rng(7)
    idx = UtxoIndex()
    expected: dict[Key, int] = {}
    caps = set()
    total = 0
    while total < 60_000:
        n = int(rng.integers(1, 100 + total // 4))  # several batches per table size
        keys = [
            (int(a), int(b), int(c))
            for a, b, c in zip(
                rng.integers(0, 2**64, n, dtype=np.uint64),
                rng.integers(0, 2**32, n),
                rng.integers(0, 4, n),
                strict=True,
            )
        ]
        keys = [k for k in dict.fromkeys(keys) if k not in expected]
        bulk(idx, keys, first_oid=total)
        for i, key in enumerate(keys):
            expected[key] = total + i
        total += len(keys)
        caps.add(capacity(idx))
        assert idx.count == occupied(idx) == len(expected)
        assert idx.count <= 0.8 * capacity(idx)
    assert {1024, 2048, 4096, 8192, 16384, 32768, 65536} <= caps  # every doubling seen
    assert all(c & (c - 1) == 0 for c in caps)
    for key, oid in expected.items():
        assert get(idx, key) == entry_for(oid)
    # a missing key is still a miss after all the rehashing
    assert get(idx, (123, 456, 7)) is None or (123, 456, 7) in expected


# -- saved form ----------------------------------------------------------------------------------


def test_entries_round_trip_and_are_canonical() -> None:
    rng = np.random.default_rng(3)
    keys = [k for s in (0, 1023) for k in same_home_keys(1024, 30, slot=s)]
    keys += [
        (int(a), int(b), 1)
        for a, b in zip(rng.integers(0, 2**63, 3000), rng.integers(0, 2**32, 3000), strict=True)
    ]
    a = UtxoIndex()
    for i, key in enumerate(keys):
        insert(a, key, entry_for(i))
    for key in keys[::3]:
        delete(a, key)
    b = UtxoIndex(4 * len(keys))  # another slot layout: larger table, other insertion order
    for i in reversed(range(len(keys))):
        if i % 3:
            insert(b, keys[i], entry_for(i))
    ea, eb = a.entries(), b.entries()
    assert capacity(a) != capacity(b)
    assert len(ea) == 7
    for x, y in zip(ea, eb, strict=True):
        np.testing.assert_array_equal(x, y)
    assert np.all(np.diff(ea[3]) > 0)  # sorted by out_id
    assert [x.dtype for x in ea] == [x.dtype for x in a.arrays]
    c = UtxoIndex.from_entries(ea)
    assert c.count == a.count == occupied(c)
    for x, y in zip(c.entries(), ea, strict=True):
        np.testing.assert_array_equal(x, y)
    for i, key in enumerate(keys):
        assert get(c, key) == (None if i % 3 == 0 else entry_for(i))
    # the loaded index keeps working: deletes and inserts after the round trip
    assert delete(c, keys[1]) and insert(c, keys[0], entry_for(0))
    assert get(c, keys[1]) is None and get(c, keys[0]) == entry_for(0)


def test_empty_round_trip() -> None:
    idx = UtxoIndex.from_entries(UtxoIndex().entries())
    assert idx.count == 0 and occupied(idx) == 0 and capacity(idx) == 1024


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

# A small key universe so that collisions, shared buckets, duplicates and wrap-around are common:
# k0 low bits pick one of a few home slots (near both ends of the table), high bits vary.
K0 = st.builds(
    lambda low, high: low | high << 20,
    st.sampled_from([0, 1, 2, 1021, 1022, 1023, 4095]),
    st.integers(0, 3),
)
KEYS = st.tuples(K0, st.integers(0, 2).map(lambda k: k | (0xABCD << 32)), st.integers(0, 2))


class UtxoIndexModel(RuleBasedStateMachine):
    """The index against a plain dict keyed by (k0, k1 low 32 bits, vout)."""

    def __init__(self) -> None:
        super().__init__()
        self.index = UtxoIndex()
        self.model: dict[Key, Entry] = {}
        self.next_oid = 0

    @staticmethod
    def norm(key: Key) -> Key:
        return (key[0], key[1] & LOW32, key[2])

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
        assert self.index.count + extra <= 0.8 * capacity(self.index)

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
        self.index = UtxoIndex.from_entries(self.index.entries())

    @invariant()
    def agrees_with_model(self) -> None:
        idx = self.index
        assert idx.count == len(self.model) == occupied(idx)
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


@pytest.mark.parametrize("slot", [0, 1023])
def test_home_slot_helper(slot: int) -> None:
    idx = UtxoIndex()
    assert {home(idx, k) for k in same_home_keys(1024, 10, slot=slot, vout=3)} == {slot}
