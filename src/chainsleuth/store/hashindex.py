"""Compact open-addressing hash indexes in numpy arrays, driven by numba kernels.

Two indexes grow with the chain and nothing else does:

* :class:`AddressIndex` maps a 128-bit script key to a dense ``addr_id`` (24 bytes per slot,
  load factor ≤ 0.6, so ~40 bytes per address).
* :class:`UtxoIndex` maps an unspent output ``(txid[:12], vout)`` to its ``out_id``, value,
  ``addr_id`` and script type: 41 bytes per slot (txid bytes 0–7 and 8–11, vout, out_id, value,
  addr_id, type), load ≤ 0.8, so 51–102 bytes per *unspent* output (63 on average between
  doublings); spent entries are removed with backward-shift deletion, so its size follows the
  UTXO set, not the chain. Saved at checkpoints as its occupied entries sorted by ``out_id``
  (41 bytes per entry on disk), a canonical form whatever the slot layout.

Both use linear probing; keys are already uniformly distributed (hashes), so the slot is the
key's low bits.

>>> import numpy as np
>>> idx = AddressIndex(16)
>>> ids, new = idx.assign(np.array([7, 9, 7], np.uint64), np.array([1, 2, 1], np.uint64),
...                       np.array([True, True, True]))
>>> ids.tolist(), new.tolist()
([0, 1, 0], [True, True, False])
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["AddressIndex", "UtxoIndex"]

_EMPTY = -1
_MAX_LOAD = 0.6
_UTXO_MAX_LOAD = 0.8
_LOW32 = 0xFFFFFFFF


def _capacity_for(n: int, load: float = _MAX_LOAD) -> int:
    cap = 1024
    while cap * load < n:
        cap *= 2
    return cap


@njit(cache=True)
def _addr_assign(keys0, keys1, vals, k0, k1, want, next_id):  # type: ignore[no-untyped-def]
    mask = keys0.shape[0] - 1
    n = k0.shape[0]
    ids = np.full(n, -1, dtype=np.int64)
    new = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        if not want[i]:
            continue
        slot = np.int64(k0[i] & np.uint64(mask))
        while True:
            v = vals[slot]
            if v == -1:
                vals[slot] = next_id
                keys0[slot] = k0[i]
                keys1[slot] = k1[i]
                ids[i] = next_id
                new[i] = True
                next_id += 1
                break
            if keys0[slot] == k0[i] and keys1[slot] == k1[i]:
                ids[i] = v
                break
            slot = (slot + 1) & mask
    return ids, new, next_id


@njit(cache=True)
def _addr_rehash(keys0, keys1, vals, new_keys0, new_keys1, new_vals):  # type: ignore[no-untyped-def]
    mask = new_keys0.shape[0] - 1
    for s in range(keys0.shape[0]):
        v = vals[s]
        if v == -1:
            continue
        slot = np.int64(keys0[s] & np.uint64(mask))
        while new_vals[slot] != -1:
            slot = (slot + 1) & mask
        new_vals[slot] = v
        new_keys0[slot] = keys0[s]
        new_keys1[slot] = keys1[s]


class AddressIndex:
    """Script key → dense ``addr_id``; ids are handed out in order of first appearance."""

    def __init__(self, expected: int = 0) -> None:
        cap = _capacity_for(expected)
        self.keys0 = np.zeros(cap, dtype=np.uint64)
        self.keys1 = np.zeros(cap, dtype=np.uint64)
        self.vals = np.full(cap, _EMPTY, dtype=np.int64)
        self.count = 0

    def reserve(self, extra: int) -> None:
        """Grow so that ``extra`` more keys fit under the load limit."""
        need = self.count + extra
        if need <= self.vals.shape[0] * _MAX_LOAD:
            return
        cap = _capacity_for(need)
        k0 = np.zeros(cap, dtype=np.uint64)
        k1 = np.zeros(cap, dtype=np.uint64)
        vals = np.full(cap, _EMPTY, dtype=np.int64)
        _addr_rehash(self.keys0, self.keys1, self.vals, k0, k1, vals)
        self.keys0, self.keys1, self.vals = k0, k1, vals

    def assign(
        self, k0: np.ndarray, k1: np.ndarray, want: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Look up or insert each wanted key; returns (addr_id or -1, is_new)."""
        self.reserve(int(want.sum()))
        ids, new, self.count = _addr_assign(
            self.keys0, self.keys1, self.vals, k0, k1, want, self.count
        )
        return ids, new

    @property
    def nbytes(self) -> int:
        """Bytes held by the table."""
        return int(self.keys0.nbytes + self.keys1.nbytes + self.vals.nbytes)


@njit(cache=True)
def _utxo_slot(k0: np.uint64, vout: int, mask: int) -> np.int64:
    return np.int64((k0 ^ (np.uint64(vout) * np.uint64(0x9E3779B97F4A7C15))) & np.uint64(mask))


@njit(cache=True)
def _utxo_insert(  # type: ignore[no-untyped-def]
    keys0, keys1, vouts, out_ids, values, addr_ids, types, k0, k1, vout, oid, value, aid, typ
):
    mask = keys0.shape[0] - 1
    k1 = np.uint32(np.uint64(k1) & np.uint64(_LOW32))
    slot = _utxo_slot(k0, vout, mask)
    while out_ids[slot] != -1:
        if keys0[slot] == k0 and keys1[slot] == k1 and vouts[slot] == vout:
            break  # duplicate txid (BIP30): the newer output replaces the older one
        slot = (slot + 1) & mask
    added = out_ids[slot] == -1
    keys0[slot] = k0
    keys1[slot] = k1
    vouts[slot] = vout
    out_ids[slot] = oid
    values[slot] = value
    addr_ids[slot] = aid
    types[slot] = typ
    return added


@njit(cache=True)
def _utxo_delete(keys0, keys1, vouts, out_ids, values, addr_ids, types, slot):  # type: ignore[no-untyped-def]
    mask = keys0.shape[0] - 1
    hole = slot
    nxt = (hole + 1) & mask
    while out_ids[nxt] != -1:
        home = _utxo_slot(keys0[nxt], vouts[nxt], mask)
        # Move the entry back if its home is not in the cyclic range (hole, nxt].
        if (nxt > hole and (home <= hole or home > nxt)) or (
            nxt < hole and home <= hole and home > nxt
        ):
            keys0[hole] = keys0[nxt]
            keys1[hole] = keys1[nxt]
            vouts[hole] = vouts[nxt]
            out_ids[hole] = out_ids[nxt]
            values[hole] = values[nxt]
            addr_ids[hole] = addr_ids[nxt]
            types[hole] = types[nxt]
            hole = nxt
        nxt = (nxt + 1) & mask
    out_ids[hole] = -1


@njit(cache=True)
def _utxo_find(keys0, keys1, vouts, out_ids, k0, k1, vout):  # type: ignore[no-untyped-def]
    mask = keys0.shape[0] - 1
    k1 = np.uint32(np.uint64(k1) & np.uint64(_LOW32))
    slot = _utxo_slot(k0, vout, mask)
    while out_ids[slot] != -1:
        if keys0[slot] == k0 and keys1[slot] == k1 and vouts[slot] == vout:
            return slot
        slot = (slot + 1) & mask
    return -1


@njit(cache=True)
def _utxo_rehash(src, dst):  # type: ignore[no-untyped-def]
    keys0, keys1, vouts, out_ids, values, addr_ids, types = src
    d0, d1, dv, doid, dval, daid, dtyp = dst
    for s in range(keys0.shape[0]):
        if out_ids[s] == -1:
            continue
        _utxo_insert(
            d0,
            d1,
            dv,
            doid,
            dval,
            daid,
            dtyp,
            keys0[s],
            keys1[s],
            vouts[s],
            out_ids[s],
            values[s],
            addr_ids[s],
            types[s],
        )


class UtxoIndex:
    """Unspent outputs keyed by ``(txid[:12], vout)`` holding out_id, value, addr_id, type.

    A 96-bit txid prefix plus the vout: two unspent outputs collide only if their txids share
    12 bytes (about 2^-40 for 170 M unspent transactions).
    """

    def __init__(self, expected: int = 0) -> None:
        self._alloc(_capacity_for(expected, _UTXO_MAX_LOAD))
        self.count = 0

    def _alloc(self, cap: int) -> None:
        self.keys0 = np.zeros(cap, dtype=np.uint64)
        self.keys1 = np.zeros(cap, dtype=np.uint32)
        self.vouts = np.zeros(cap, dtype=np.uint32)
        self.out_ids = np.full(cap, _EMPTY, dtype=np.int64)
        self.values = np.zeros(cap, dtype=np.int64)
        self.addr_ids = np.zeros(cap, dtype=np.int64)
        self.types = np.zeros(cap, dtype=np.uint8)

    @property
    def arrays(self) -> tuple[np.ndarray, ...]:
        """The seven slot arrays, in kernel argument order."""
        return (
            self.keys0,
            self.keys1,
            self.vouts,
            self.out_ids,
            self.values,
            self.addr_ids,
            self.types,
        )

    def reserve(self, extra: int) -> None:
        """Grow so that ``extra`` more entries fit under the load limit."""
        need = self.count + extra
        if need <= self.out_ids.shape[0] * _UTXO_MAX_LOAD:
            return
        old = self.arrays
        self._alloc(_capacity_for(need, _UTXO_MAX_LOAD))
        _utxo_rehash(old, self.arrays)

    def entries(self) -> tuple[np.ndarray, ...]:
        """The occupied entries sorted by ``out_id`` (the canonical form that is saved)."""
        live = np.flatnonzero(self.out_ids != _EMPTY)
        live = live[np.argsort(self.out_ids[live], kind="stable")]
        return tuple(a[live] for a in self.arrays)

    @classmethod
    def from_entries(cls, entries: tuple[np.ndarray, ...]) -> UtxoIndex:
        """An index holding ``entries`` (as :meth:`entries` returns them)."""
        k0, k1, vout, oid, value, aid, typ = entries
        index = cls(int(k0.shape[0]))
        rehash_src = (k0, k1, vout, oid, value, aid, typ)
        _utxo_rehash(rehash_src, index.arrays)
        index.count = int(k0.shape[0])
        return index

    @property
    def nbytes(self) -> int:
        """Bytes held by the table."""
        return int(sum(a.nbytes for a in self.arrays))


# Kernel-level helpers re-exported for the ingest resolver (same module keeps them inlined).
utxo_insert = _utxo_insert
utxo_delete = _utxo_delete
utxo_find = _utxo_find
