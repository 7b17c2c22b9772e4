"""The explorer's search box: what could the user mean by ``q``?

Tried in order, each answered from an index, never from a scan of a chain table:

- ``cluster:N`` — the cluster, if the served run has it (one row group of ``clusters.parquet``);
- a number — the block at that height;
- 64 hex digits — the transaction (``txid`` index) or the block with that hash;
- 6 to 63 hex digits — transactions whose txid starts with them (the per-partition ``txid``
  index files, searched for the prefix's key range; each hit is confirmed on its full txid);
- an address — exactly (the ``addr_key`` index, any spelling of the same script); by prefix
  when the dataset has at most :data:`PREFIX_MAX_ADDRESSES` addresses (a sorted list kept in
  memory per manifest: the index is hashed, so it cannot answer prefixes);
- tag text — tags whose label, actor, category, source, … contain ``q``.

>>> kinds = [hit["kind"] for hit in search(ds, "cluster:92", run="default", limit=5)]
>>> kinds  # ds: the regtest chain, clustered
['cluster']
>>> search(ds, "0", run=None, limit=5)[0]["id"]
'0'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from chainsleuth.errors import UserError
from chainsleuth.store.dataset import Dataset
from chainsleuth.store.lookup import IndexFile, index_file_name
from chainsleuth.store.parts import part_name
from chainsleuth.store.queries import is_block_hash
from chainsleuth.store.runtables import cluster_row
from chainsleuth.tags.model import Tag

__all__ = ["PREFIX_MAX_ADDRESSES", "search"]

PREFIX_MAX_ADDRESSES = 2_000_000
MIN_TXID_PREFIX = 6
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_CLUSTER = re.compile(r"^cluster:(\d{1,18})$", re.IGNORECASE)

Hit = dict[str, Any]


def _hit(kind: str, ident: str, text: str) -> Hit:
    return {"kind": kind, "id": ident, "text": text}


def search(
    ds: Dataset,
    q: str,
    *,
    run: str | None,
    limit: int,
    addresses: Callable[[], np.ndarray] | None = None,
    tags: Callable[[str], list[Tag]] | None = None,
) -> list[Hit]:
    """Up to ``limit`` hits for ``q`` (see the module docstring). ``addresses`` gives the
    sorted address strings for prefix search (None: exact addresses only); ``tags`` searches
    tag text (default: ``tags.store.search_tags`` on ``ds``)."""
    q = q.strip()
    hits: list[Hit] = []
    m = _CLUSTER.match(q)
    if m is not None:
        cid = int(m.group(1))
        if run is not None:
            from chainsleuth.cluster.runs import run_dir

            row = cluster_row(run_dir(ds, run) / "clusters.parquet", cid)
            if row is not None:
                hits.append(_hit("cluster", str(cid), f"cluster {cid}: {int(row[1])} addresses"))
        return hits[:limit]
    if q.isdigit() and len(q) <= 10 and int(q) <= ds.tip_height:
        hits.append(_hit("block", q, f"block {q}"))
    if _HEX.match(q) and len(q) == 64:
        txid = bytes.fromhex(q)
        if ds.lookup.indexed and ds.lookup.tx_id(txid) is not None:
            hits.append(_hit("tx", q.lower(), f"transaction {q.lower()}"))
        elif is_block_hash(ds, txid):
            hits.append(_hit("block", q.lower(), f"block {q.lower()}"))
    elif _HEX.match(q) and MIN_TXID_PREFIX <= len(q) < 64:
        hits += [_hit("tx", t, f"transaction {t}") for t in _txid_prefix(ds, q.lower(), limit)]
    hits += _addresses(ds, q, limit, addresses)
    if len(hits) < limit and len(q) >= 2:
        hits += _tags(ds, q, limit - len(hits), tags)
    return hits[:limit]


def _txid_prefix(ds: Dataset, prefix: str, limit: int) -> list[str]:
    """Txids starting with ``prefix`` (hex, lower case), from the ``txid`` index files."""
    lk = ds.lookup
    if not lk.indexed:
        return []
    head = prefix[:16]
    shift = 64 - 4 * len(head)
    lo = int(head, 16) << shift
    hi = lo + (1 << shift)  # exclusive
    found: list[str] = []
    for p in ds.manifest.partitions:
        name = part_name(p.lo, ds.manifest.partition_span)
        f = IndexFile.open(ds.path / index_file_name("txid", name), False)
        k_lo = (lo >> f.bits) << f.bits
        k_hi = ((hi - 1) >> f.bits) << f.bits | f.mask
        start = int(np.searchsorted(f.keys, np.uint64(k_lo), side="left"))
        end = int(np.searchsorted(f.keys, np.uint64(k_hi), side="right"))
        if end <= start:
            continue
        cands = f.base + f.offsets(start, min(end, start + 4 * limit))
        for txid in lk.txids_of(cands):
            if txid is not None and txid.startswith(prefix):
                found.append(txid)
        if len(found) >= limit:
            break
    return sorted(found)[:limit]


def _addresses(
    ds: Dataset, q: str, limit: int, addresses: Callable[[], np.ndarray] | None
) -> list[Hit]:
    if len(q) < 3 or len(q) > 200:
        return []
    try:
        addr_id = ds.addr_id(q)
    except (UserError, ValueError):
        addr_id = None
    exact = None if addr_id is None else ds.address_of(addr_id)
    hits = [] if exact is None else [_hit("address", exact, f"address {exact}")]
    if addresses is None:
        return hits
    table = addresses()
    start = int(np.searchsorted(table, q, side="left"))
    for a in table[start : start + limit].tolist():
        if not a.startswith(q):
            break
        if a != exact:
            hits.append(_hit("address", a, f"address {a}"))
    return hits[:limit]


def _tags(ds: Dataset, q: str, limit: int, tags: Callable[[str], list[Tag]] | None) -> list[Hit]:
    from chainsleuth.tags.store import search_tags

    found = tags(q) if tags is not None else search_tags(ds, q)
    hits: list[Hit] = []
    for tag in found[:limit]:
        where = f"{tag.target_kind} {tag.target}"
        hits.append(_hit("label", tag.target, f"{tag.label} ({tag.category or '-'}): {where}"))
    return hits
