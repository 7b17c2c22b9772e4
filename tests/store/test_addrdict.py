"""The disk-spilling address dictionary gives the ids of the in-RAM AddressIndex, batch by
batch, through spills, merges, checkpoints, restarts and killed runs; its numba kernels agree
with their plain-Python twins."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsleuth.errors import DatasetError
from chainsleuth.store import addrdict as fast
from chainsleuth.store import addrdict_ref as slow
from chainsleuth.store.addrdict import (
    HINT_LOAD,
    MIN_MEMORY_BYTES,
    AddressDictionary,
    zeroed_slots,
)
from chainsleuth.store.hashindex import AddressIndex

TINY = 64 << 10  # 1,890 hot keys per spill: many spills and merges on small streams
Batch = tuple[np.ndarray, np.ndarray, np.ndarray]


def _key_pool(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 2**64, n, dtype=np.uint64, endpoint=False),
        rng.integers(0, 2**64, n, dtype=np.uint64, endpoint=False),
    )


def _stream(n_batches: int, batch: int, pool: int, seed: int) -> list[Batch]:
    """Batches drawing from a growing prefix of a key pool: reuse of recent and old keys,
    repeats inside a batch, and a tenth of the outputs not wanted."""
    p0, p1 = _key_pool(pool, seed)
    rng = np.random.default_rng(seed + 1)
    out = []
    for b in range(n_batches):
        reach = min(pool, (b + 1) * batch)
        idx = rng.integers(0, reach, batch)
        recent = rng.random(batch) < 0.3
        idx[recent] = reach - 1 - rng.integers(0, min(reach, 500), int(recent.sum()))
        out.append((p0[idx], p1[idx], rng.random(batch) < 0.9))
    return out


def _run(d: AddressDictionary | AddressIndex, batches: list[Batch]) -> list[Batch]:
    return [(*d.assign(k0, k1, want), np.array([d.count])) for k0, k1, want in batches]


def _assert_same(a: list[Batch], b: list[Batch]) -> None:
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        for u, v in zip(x, y, strict=True):
            np.testing.assert_array_equal(u, v, err_msg=f"batch {i}")


@pytest.fixture(scope="module")
def stream() -> list[Batch]:
    return _stream(n_batches=40, batch=4000, pool=60_000, seed=7)


@pytest.fixture(scope="module")
def expected(stream: list[Batch]) -> list[Batch]:
    return _run(AddressIndex(), stream)


def test_equals_address_index_batch_by_batch_under_a_tiny_budget(
    tmp_path: Path, stream: list[Batch], expected: list[Batch]
) -> None:
    d = AddressDictionary.create(tmp_path / "addr", memory_bytes=TINY)
    _assert_same(_run(d, stream), expected)
    levels = [r.level for r in d._runs]
    assert max(levels) >= 2, levels  # spills were merged, and merged runs merged again
    assert len(levels) < 12
    assert sum(d.run_sizes) + d.hot_count == d.count
    assert d.nbytes <= TINY


def test_a_big_hot_table_in_huge_page_memory(
    tmp_path: Path, stream: list[Batch], expected: list[Batch]
) -> None:
    """Past 64 MiB the hot table is anonymous memory advised for huge pages: zeroed, writable,
    and the dictionary answers as the reference does."""
    d = AddressDictionary.create(tmp_path / "addr", memory_bytes=512 << 20)
    assert d._table.nbytes >= 64 << 20 and d._table.base is not None  # a view of the mapping
    assert not d._table.any()
    _assert_same(_run(d, stream), expected)
    assert d.hot_count == d.count  # everything fitted the big table: no spill
    t = zeroed_slots(3_000_000)
    assert t.flags.writeable and t.shape == (3_000_000, 3) and not t.any()
    t[-1] = 7
    assert int(t.sum()) == 21


def test_expected_keys_size_the_hot_table_and_a_low_estimate_costs_one_spill(
    tmp_path: Path, stream: list[Batch], expected: list[Batch]
) -> None:
    d = AddressDictionary.create(tmp_path / "addr", memory_bytes=512 << 20, expected_keys=10_000)
    assert d.slots == int(10_000 / HINT_LOAD)  # not the 256 MiB the budget allows
    _assert_same(_run(d, stream), expected)  # ~60,000 keys: more than expected
    assert len(d.run_sizes) == 1 and d.expected_keys is None
    assert d.slots > 1_000_000  # after the spill: the budget's share
    roomy = AddressDictionary.create(tmp_path / "b", memory_bytes=512 << 20, expected_keys=80_000)
    _assert_same(_run(roomy, stream), expected)
    assert roomy.run_sizes == [] and roomy.slots == int(80_000 / HINT_LOAD)


def test_eight_mebibytes_and_lookup(tmp_path: Path, stream: list[Batch]) -> None:
    d = AddressDictionary.create(tmp_path / "addr", memory_bytes=8 << 20)
    ref = AddressIndex()
    _assert_same(_run(d, stream), _run(ref, stream))
    occupied = ref.vals >= 0
    k0, k1, ids = ref.keys0[occupied], ref.keys1[occupied], ref.vals[occupied]
    absent0, absent1 = _key_pool(1000, seed=99)
    before = d.count
    got = d.lookup(np.concatenate([k0, absent0]), np.concatenate([k1, absent1]))
    np.testing.assert_array_equal(got, np.concatenate([ids, np.full(1000, -1)]))
    assert d.count == before


def test_lookup_reads_runs_and_hot_table(tmp_path: Path, stream: list[Batch]) -> None:
    d = AddressDictionary.create(tmp_path / "addr", memory_bytes=TINY)
    ref = AddressIndex()
    _run(d, stream)
    _run(ref, stream)
    occupied = ref.vals >= 0
    assert d.run_sizes and d.hot_count
    k0, k1 = ref.keys0[occupied], ref.keys1[occupied]
    np.testing.assert_array_equal(d.lookup(k0, k1), ref.vals[occupied])
    np.testing.assert_array_equal(d.lookup(k0[:0], k1[:0]), np.zeros(0, np.int64))


@settings(max_examples=40, deadline=None)
@given(
    keys=st.lists(st.integers(0, 400), min_size=0, max_size=1500),
    cuts=st.lists(st.integers(0, 1500), max_size=6),
    unwanted=st.sets(st.integers(0, 1500), max_size=100),
    reopen=st.booleans(),
)
def test_property_small_streams(
    keys: list[int], cuts: list[int], unwanted: set[int], reopen: bool
) -> None:
    p0, p1 = _key_pool(401, seed=3)
    p0[:50] = p0[0]  # some keys share k0 and differ in k1 only
    idx = np.array(keys, dtype=np.int64)
    want = np.array([i not in unwanted for i in range(len(keys))], dtype=np.bool_)
    bounds = sorted({0, len(keys), *(c for c in cuts if c <= len(keys))})
    batches = [(p0[idx[a:b]], p1[idx[a:b]], want[a:b]) for a, b in itertools.pairwise(bounds)]
    with tempfile.TemporaryDirectory() as tmp:
        d = AddressDictionary.create(Path(tmp), memory_bytes=MIN_MEMORY_BYTES)
        got = []
        for n, batch in enumerate(batches):
            got += _run(d, [batch])
            if reopen:
                d.checkpoint(n)
                d = AddressDictionary.open(Path(tmp), d.state(), memory_bytes=MIN_MEMORY_BYTES)
        _assert_same(got, _run(AddressIndex(), batches))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_checkpoint_open_continue_is_uninterrupted(
    tmp_path: Path, stream: list[Batch], expected: list[Batch]
) -> None:
    directory = tmp_path / "addr"
    d = AddressDictionary.create(directory, memory_bytes=TINY)
    got = []
    for n, batch in enumerate(stream):
        got += _run(d, [batch])
        if n % 7 == 3:
            files = d.checkpoint(n)
            state = json.loads(json.dumps(d.state()))  # what a manifest stores
            assert {k: _sha(directory / k) for k in files} == files
            assert f"hot-{n:06d}.npy" in files
            removed = d.remove_unreferenced(state)
            assert all((directory / k).is_file() for k in files)
            assert not any(name in files for name in removed)
            d.close()
            d = AddressDictionary.open(directory, state, memory_bytes=TINY)
            assert d.count == state["count"]
    _assert_same(got, expected)
    leftovers = {p.name for p in directory.iterdir()}
    assert len([n for n in leftovers if n.startswith("hot-")]) <= 2


class _MergeAtOnce(AddressDictionary):
    """Merges finished before the spill returns: the order merging had before the thread."""

    def _start_merges(self) -> None:
        super()._start_merges()
        self._finish_merges()


def test_merges_in_a_thread_leave_the_same_files_as_merging_at_once(
    tmp_path: Path, stream: list[Batch], expected: list[Batch], monkeypatch: pytest.MonkeyPatch
) -> None:
    # slow merges: lookups, inserts and further spills happen while they run
    merge = AddressDictionary._merge

    def slow_merge(self: AddressDictionary, *args: object) -> object:
        time.sleep(0.02)
        return merge(self, *args)  # type: ignore[arg-type]

    states, files = [], []
    for kind in (_MergeAtOnce, AddressDictionary):
        with monkeypatch.context() as m:
            if kind is AddressDictionary:
                m.setattr(AddressDictionary, "_merge", slow_merge)
            directory = tmp_path / kind.__name__
            d = kind.create(directory, memory_bytes=TINY)
            got, saved = [], []
            for n, batch in enumerate(stream):
                got += _run(d, [batch])
                if n % 9 == 4:
                    saved.append(d.checkpoint(n))
            _assert_same(got, expected)
            states.append(d.state())
            files.append(saved)
            d.close()
    assert states[0] == states[1]
    assert files[0] == files[1]  # every file named, with the same sha256
    assert max(r["level"] for r in states[0]["runs"]) >= 2  # merged runs were merged again


def test_open_with_another_budget(
    tmp_path: Path, stream: list[Batch], expected: list[Batch]
) -> None:
    d = AddressDictionary.create(tmp_path / "addr", memory_bytes=8 << 20)
    got = _run(d, stream[:20])
    d.checkpoint(0)
    small = AddressDictionary.open(tmp_path / "addr", d.state(), memory_bytes=TINY)
    assert small.run_sizes  # the big hot table did not fit: it spilled on open
    got += _run(small, stream[20:])
    _assert_same(got, expected)


def test_killed_run_resumes_from_the_older_state(
    tmp_path: Path, stream: list[Batch], expected: list[Batch]
) -> None:
    directory = tmp_path / "addr"
    d = AddressDictionary.create(directory, memory_bytes=TINY)
    got = _run(d, stream[:15])
    d.checkpoint(1)
    state = d.state()
    referenced = set(d.checkpoint(1))
    _run(d, stream[15:30])  # work after the checkpoint: new runs, merges ...
    d.checkpoint(2)  # ... and a checkpoint the caller never recorded, then the kill
    (directory / "run-999999.npy.tmp").write_bytes(b"half a file")
    assert {p.name for p in directory.iterdir()} - referenced

    resumed = AddressDictionary.open(directory, state, memory_bytes=TINY)
    removed = resumed.remove_unreferenced(state)
    assert "hot-000002.npy" in removed and "run-999999.npy.tmp" in removed
    assert {p.name for p in directory.iterdir()} == referenced
    got += _run(resumed, stream[15:])
    _assert_same(got, expected)


def test_missing_or_truncated_file_is_a_dataset_error(tmp_path: Path, stream: list[Batch]) -> None:
    directory = tmp_path / "addr"
    d = AddressDictionary.create(directory, memory_bytes=TINY)
    _run(d, stream[:12])
    files = d.checkpoint(5)
    state = d.state()
    d.close()
    run = next(name for name in files if name.startswith("run-") and "index" not in name)
    (directory / run).rename(directory / "moved")
    with pytest.raises(DatasetError, match=re.escape(run)):
        AddressDictionary.open(directory, state, memory_bytes=TINY)
    (directory / "moved").rename(directory / run)
    with open(directory / "hot-000005.npy", "r+b") as fh:
        fh.truncate(200)
    with pytest.raises(DatasetError, match=re.escape("hot-000005.npy")):
        AddressDictionary.open(directory, state, memory_bytes=TINY)
    with pytest.raises(DatasetError, match="format"):
        AddressDictionary.open(directory, {**state, "format": 99}, memory_bytes=TINY)


def _run_file(path: Path, rows: np.ndarray) -> tuple[int, int]:
    """Write sorted rows as a run file; (fd, header bytes) to read it by offset."""
    np.save(path, rows)
    return fast._npy_open(path, rows.shape)


def _sorted(rows: np.ndarray) -> np.ndarray:
    return rows[np.lexsort((rows[:, 1], rows[:, 0]))]


def test_bloom_filter_false_positive_rate(tmp_path: Path) -> None:
    k0, k1 = _key_pool(200_000, seed=11)
    n = 100_000
    words = int(10 * n / 512) * 8  # 10 bits per key
    bloom = np.zeros(words, np.uint64)
    rows = np.stack([k0[:n], k1[:n], np.arange(n, dtype=np.uint64)], axis=1)
    fast.bloom_fill(bloom, 7, rows)
    srt = _sorted(rows)
    fd, header = _run_file(tmp_path / "run.npy", srt)
    found = np.full(2 * n, -1, np.int64)
    buf = np.empty((128, 3), np.uint64)
    probes = fast.runs_lookup(
        fd, header, n, srt[::128, 0].copy(), 128, bloom, 7, k0, k1, found, buf
    )
    os.close(fd)
    # the members are all found (no false negatives), the others only cost false positives
    np.testing.assert_array_equal(found[:n], np.arange(n))
    assert (found[n:] == -1).all()
    assert (probes - n) / n < 0.015, (probes - n) / n


# -- numba kernels against their plain-Python twins -----------------------------------------


def _filled_table(cap: int, rows: np.ndarray, limit: int) -> tuple[np.ndarray, int]:
    table = np.zeros((cap, 3), np.uint64)
    twin = table.copy()
    a = fast.hot_insert(table, rows, 0, limit, 0)
    b = slow.hot_insert(twin, rows, 0, limit, 0)
    assert a == b
    np.testing.assert_array_equal(table, twin)
    return table, a[1]


def _rows(n: int, seed: int, first_id: int = 0) -> np.ndarray:
    k0, k1 = _key_pool(n, seed)
    return np.stack([k0, k1, np.arange(first_id, first_id + n, dtype=np.uint64)], axis=1)


def test_kernels_insert_probe_resolve_match_twins() -> None:
    rows = _rows(3000, seed=1)
    table, filled = _filled_table(2048, rows, 1400)
    assert filled == 1400
    k0 = np.concatenate([rows[:1800, 0], rows[::3, 0], rows[:10, 0] + np.uint64(1)])
    k1 = np.concatenate([rows[:1800, 1], rows[::3, 1], rows[:10, 1]])
    want = np.random.default_rng(2).random(k0.shape[0]) < 0.8
    a = fast.hot_probe(table, k0, k1, want)
    b = slow.hot_probe(table, k0, k1, want)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    ids, miss_of, uniq = a
    found = np.where(np.arange(uniq.shape[0]) % 3 == 0, 10**6 + np.arange(uniq.shape[0]), -1)
    args = (miss_of, uniq)
    q0, q1 = k0[uniq], k1[uniq]
    fa, fb = found.copy(), found.copy()
    ia, ib = ids.copy(), ids.copy()
    ra = fast.resolve(ia, *args, fa, q0, q1, 1400)
    rb = slow.resolve(ib, *args, fb, q0, q1, 1400)
    for x, y in zip((*ra[:2], ia, fa), (*rb[:2], ib, fb), strict=True):
        np.testing.assert_array_equal(x, y)
    assert ra[2] == rb[2]


def test_key_order_matches_twin() -> None:
    for n in (0, 1, 5, 1000, 150_000):
        k0, _ = _key_pool(n, seed=n)
        if n > 10:
            k0[::7] = k0[3]  # repeats keep their relative order (stable)
        a = fast.key_order(k0)
        np.testing.assert_array_equal(a, slow.key_order(k0))
        np.testing.assert_array_equal(np.sort(a), np.arange(n))
        bits = max(1, min(16, n.bit_length() - 1))  # the buckets: ~1 key each, 65,536 at most
        top = (k0[a] >> np.uint64(64 - bits)).astype(np.int64)
        assert (np.diff(top) >= 0).all()


def test_kernels_drain_and_gather_match_twins() -> None:
    rows = _rows(700, seed=4)
    table, _ = _filled_table(1000, rows, 700)
    out_a, out_b = np.zeros((64, 3), np.uint64), np.zeros((64, 3), np.uint64)
    gathered_a, gathered_b, slot_a, slot_b = [], [], 0, 0
    while slot_a < 1000:
        slot_a, m = fast.hot_gather(table, slot_a, out_a)
        gathered_a.append(out_a[:m].copy())
        slot_b, m = slow.hot_gather(table, slot_b, out_b)
        gathered_b.append(out_b[:m].copy())
        assert slot_a == slot_b
    np.testing.assert_array_equal(np.concatenate(gathered_a), np.concatenate(gathered_b))
    # a table whose last cluster wraps around, and one of clustered (non-uniform) keys
    wrap = _rows(60, seed=5)
    wrap[:, 0] |= np.uint64(0xFFFFFF00 << 32)
    bad = _rows(400, seed=6)
    bad[:, 0] = np.uint64(77 << 32) + np.arange(400, 0, -1, dtype=np.uint64)
    for cap, r in ((1000, rows), (64, wrap), (512, bad)):
        t, _ = _filled_table(cap, r, len(r))
        ta, tb = t.copy(), t.copy()
        n = fast.hot_drain(ta)
        assert n == slow.hot_drain(tb) == len(r)
        np.testing.assert_array_equal(ta[:n], tb[:n])
        order = np.lexsort((r[:, 1], r[:, 0]))
        np.testing.assert_array_equal(ta[:n], r[order])


def test_kernels_bloom_lookup_merge_match_twins(tmp_path: Path) -> None:
    inputs = [_sorted(_rows(500 + 200 * s, seed=20 + s, first_id=5000 * s)) for s in range(3)]
    opened = [_run_file(tmp_path / f"in{s}.npy", r) for s, r in enumerate(inputs)]
    fds = np.array([fd for fd, _ in opened], np.int64)
    headers = np.array([h for _, h in opened], np.int64)
    sizes = np.array([r.shape[0] for r in inputs], np.int64)
    n = int(sizes.sum())
    words = 8 * (6 * n // 512)
    outputs = []
    for kernels in (fast, slow):
        bloom = np.zeros(words, np.uint64)
        fences = np.zeros(-(-n // 16), np.uint64)
        cursors = np.zeros(3, np.int64)
        bufs = np.zeros((3, 37, 3), np.uint64)
        first, length = np.zeros(3, np.int64), np.zeros(3, np.int64)
        out = np.zeros((97, 3), np.uint64)
        merged: list[list[int]] = []
        while True:
            m = kernels.merge_step(
                fds, headers, sizes, cursors, bufs, first, length,
                out, bloom, 4, fences, 16, len(merged),
            )  # fmt: skip
            if m == 0:
                break
            merged.extend(out[:m].tolist())
        outputs.append((np.array(merged, np.uint64), bloom, fences, cursors))
    for x, y in zip(*outputs, strict=True):
        np.testing.assert_array_equal(x, y)
    for fd in fds:
        os.close(int(fd))
    merged_rows, bloom, fences, _ = outputs[0]
    allrows = np.concatenate(inputs)
    np.testing.assert_array_equal(merged_rows, _sorted(allrows))
    filled = np.zeros(words, np.uint64)
    fast.bloom_fill(filled, 4, allrows)
    twin = np.zeros(words, np.uint64)
    slow.bloom_fill(twin, 4, allrows)
    np.testing.assert_array_equal(filled, bloom)
    np.testing.assert_array_equal(twin, bloom)

    # lookups in the merged run; a copy where many keys share one k0 (narrowing row by row)
    crowded = merged_rows.copy()
    crowded[100:700, 0] = crowded[100, 0]
    crowded = _sorted(crowded)
    absent = _rows(600, seed=30)
    for name, run in (("merged", merged_rows), ("crowded", crowded)):
        fd, header = _run_file(tmp_path / f"{name}.npy", run)
        q0 = np.concatenate([run[::2, 0], absent[:, 0]])
        q1 = np.concatenate([run[::2, 1], absent[:, 1]])
        expect = np.concatenate([run[::2, 2].astype(np.int64), np.full(600, -1)])
        expect[::7] = 123
        fen = run[::16, 0].copy()
        for bl in (bloom if name == "merged" else bloom[:0], bloom[:0]):
            results = []
            for kernels in (fast, slow):
                found = np.full(q0.shape[0], -1, np.int64)
                found[::7] = 123
                buf = np.zeros((16, 3), np.uint64)
                probes = kernels.runs_lookup(
                    fd, header, len(run), fen, 16, bl, 4, q0, q1, found, buf
                )
                results.append((probes, found))
            assert results[0][0] == results[1][0]
            np.testing.assert_array_equal(results[0][1], results[1][1])
            np.testing.assert_array_equal(results[0][1], expect)
        os.close(fd)


def _longest_shift(d: AddressDictionary) -> int:
    """The farthest any hot key sits from its home slot."""
    table = d._table
    occupied = table[:, 2] != 0
    home = ((table[:, 0] >> np.uint64(32)) * np.uint64(table.shape[0])) >> np.uint64(32)
    shift = (np.arange(table.shape[0]) - home.astype(np.int64)) % table.shape[0]
    return int(shift[occupied].max())


def test_spills_keep_hot_clusters_short(tmp_path: Path) -> None:
    """A batch that overflows the hot table is split into strided subsets, not prefixes in key
    order (a prefix would overfill one stretch of the table into clusters of thousands); so is
    a saved hot table reopened into a smaller one."""
    d = AddressDictionary.create(tmp_path / "addr", memory_bytes=1 << 20)
    k0, k1 = _key_pool(200_000, seed=8)
    worst = 0
    for a in range(0, 200_000, 25_000):
        d.assign(k0[a : a + 25_000], k1[a : a + 25_000], np.ones(25_000, np.bool_))
        worst = max(worst, _longest_shift(d))
    assert d.run_sizes and worst < 200, worst
    big = AddressDictionary.create(tmp_path / "big", memory_bytes=16 << 20)
    big.assign(k0, k1, np.ones(200_000, np.bool_))
    big.checkpoint(0)
    small = AddressDictionary.open(tmp_path / "big", big.state(), memory_bytes=1 << 20)
    assert len(small.run_sizes) >= 3 and _longest_shift(small) < 200
    np.testing.assert_array_equal(small.lookup(k0, k1), np.arange(200_000))
