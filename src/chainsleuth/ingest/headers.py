"""Build the header tree from prev-hash links and pick the most-work chain.

Blocks in ``blk*.dat`` are stored in arrival order: out of height order, with stale branches and
duplicates. :func:`best_chain` links every record to its parent, accumulates proof of work from
the genesis block and returns the records of the most-work chain in height order, plus the number
of stale records (on no best-chain path).

>>> best_chain([], "00" * 32).records
[]
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from chainsleuth.chain.checks import block_work
from chainsleuth.errors import BlockDataError
from chainsleuth.ingest.blkfiles import BlockRecord

__all__ = ["ChainSelection", "best_chain", "header_hash"]


def header_hash(header: bytes) -> bytes:
    """Block hash of an 80-byte header in display byte order.

    >>> header_hash(bytes(80)).hex()[:8]
    '14508459'
    """
    return hashlib.sha256(hashlib.sha256(header).digest()).digest()[::-1]


@dataclass(frozen=True, slots=True)
class ChainSelection:
    """The best chain's records (index = height), their hashes, and the stale count."""

    records: list[BlockRecord]
    hashes: list[bytes]
    n_stale: int
    n_unconnected: int


def best_chain(records: list[BlockRecord], genesis_hash_hex: str) -> ChainSelection:
    """Select the most-work chain rooted at the network's genesis block.

    Ties keep the first-seen tip, as Bitcoin Core does. Records whose ancestry does not reach
    genesis (e.g. a parent missing from the files) are counted as unconnected.
    """
    genesis = bytes.fromhex(genesis_hash_hex)
    by_hash: dict[bytes, int] = {}
    parent: list[bytes] = []
    hashes: list[bytes] = []
    for i, rec in enumerate(records):
        h = header_hash(rec.header)
        hashes.append(h)
        parent.append(rec.header[4:36][::-1])
        by_hash.setdefault(h, i)  # a duplicate record of the same block keeps the first copy
    if genesis not in by_hash:
        if not records:
            return ChainSelection([], [], 0, 0)
        raise BlockDataError(
            f"the block files do not contain this network's genesis block {genesis.hex()}"
        )
    work: dict[int, int] = {}
    height: dict[int, int] = {}
    unconnected = 0
    for i in range(len(records)):
        if by_hash[hashes[i]] != i or i in work:
            continue
        # Walk up to a block with known work, then assign on the way back down.
        path = [i]
        cur = i
        ok = True
        while True:
            if hashes[cur] == genesis:
                work[cur] = _block_work(records[cur])
                height[cur] = 0
                path.pop()
                break
            p = by_hash.get(parent[cur])
            if p is None:
                ok = False
                break
            if p in work:
                break
            path.append(p)
            cur = p
        if not ok:
            unconnected += len(path)
            for j in path:
                work[j] = -1
            continue
        for j in reversed(path):
            p = by_hash[parent[j]]
            if work[p] < 0:
                work[j] = -1
                unconnected += 1
                continue
            work[j] = work[p] + _block_work(records[j])
            height[j] = height[p] + 1
    best = max((i for i in work if work[i] >= 0), key=lambda i: (work[i], -i))
    chain: list[int] = []
    cur = best
    while True:
        chain.append(cur)
        if hashes[cur] == genesis:
            break
        cur = by_hash[parent[cur]]
    chain.reverse()
    distinct = sum(1 for i in range(len(records)) if by_hash[hashes[i]] == i)
    n_stale = distinct - len(chain) - unconnected
    return ChainSelection(
        [records[i] for i in chain], [hashes[i] for i in chain], n_stale, unconnected
    )


def _block_work(rec: BlockRecord) -> int:
    return block_work(int.from_bytes(rec.header[72:76], "little"))
