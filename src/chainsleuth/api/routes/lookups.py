"""Lookup endpoints (role viewer): health, me, blocks, transactions, addresses, clusters and
their members / neighbours / transactions, search.

Profiles are those of ``chainsleuth show --json`` (the same library functions: ``store/
profiles.py`` annotated as ``report/annotate.py`` does), plus the field names the API contract
gives: an address's ``cluster`` is the cluster id (or null; the CLI's object is
``cluster_summary``), a transaction's inputs and outputs carry ``value_sats``, ``cluster`` and
``labels``, a cluster carries ``labels``, ``category`` and ``conflicts``. Each request takes a
dataset of its own from the server's pool (:mod:`~chainsleuth.api.state`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path as FsPath
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import APIRouter, Depends, Path, Query

from chainsleuth import __version__
from chainsleuth.api.annotations import (
    annotate_tx,
    cluster_view,
    tag_dict,
    tag_index,
    tags_stamp,
)
from chainsleuth.api.auth import Principal, current_principal, requires
from chainsleuth.api.clusterdata import cluster_members, cluster_txs, neighbours
from chainsleuth.api.examples import example_responses, path_example
from chainsleuth.api.pagination import Page, PageParams, encode_cursor
from chainsleuth.api.problems import PROBLEMS
from chainsleuth.api.search import PREFIX_MAX_ADDRESSES, search
from chainsleuth.api.state import ServerState, get_state
from chainsleuth.errors import InputError, NotFoundError
from chainsleuth.store.dataset import Dataset

__all__ = ["router"]

router = APIRouter(tags=["lookups"], responses=PROBLEMS)
VIEWER = [requires("viewer")]
State = Annotated[ServerState, Depends(get_state)]
Pages = Annotated[PageParams, Depends()]

HeightOrHash = Annotated[
    str,
    Path(
        description="Block height or block hash (64 hex digits).",
        pattern=r"^([0-9]{1,10}|[0-9a-fA-F]{64})$",
        openapi_examples=path_example("height_or_hash"),
    ),
]
Txid = Annotated[
    str,
    Path(
        description="Transaction id, 64 hex digits.",
        pattern=r"^[0-9a-fA-F]{64}$",
        openapi_examples=path_example("txid"),
    ),
]
Address = Annotated[
    str,
    Path(
        description="An address as Bitcoin Core prints it (or a pk:/ms: pseudo-address).",
        min_length=1,
        max_length=200,
        openapi_examples=path_example("address"),
    ),
]
ClusterId = Annotated[
    int,
    Path(
        description="Cluster id in the served clustering run.",
        ge=0,
        le=2**62,
        openapi_examples=path_example("cluster_id"),
    ),
]


def _run(state: ServerState, ds: Dataset) -> str:
    run = state.clustering(ds)
    if run is None:
        raise NotFoundError("no clustering run in this dataset: run `chainsleuth cluster` first")
    return run


# -- service ------------------------------------------------------------------------------------
@router.get("/health", responses=example_responses("health"))
def health(state: State) -> dict[str, Any]:
    """Liveness and the dataset's tip (no token needed)."""
    with state.dataset() as ds:
        return {
            "status": "ok",
            "version": __version__,
            "network": ds.network.name,
            "tip_height": ds.tip_height,
            "tip_hash": ds.tip_hash,
        }


@router.get("/me", dependencies=VIEWER, responses=example_responses("me"))
def me(principal: Annotated[Principal, Depends(current_principal)]) -> dict[str, Any]:
    """The caller's user name and role."""
    return {"name": principal.name, "role": principal.role}


# -- blocks and transactions --------------------------------------------------------------------
@router.get(
    "/blocks/{height_or_hash}", dependencies=VIEWER, responses=example_responses("get_block")
)
def get_block(height_or_hash: HeightOrHash, state: State) -> dict[str, Any]:
    """A block: header fields, totals, its largest transactions (as `show HEIGHT --json`)."""
    from chainsleuth.store.profiles import block_profile

    with state.dataset() as ds:
        return {"kind": "block", **block_profile(ds, height_or_hash.lower())}


@router.get(
    "/transactions/{txid}", dependencies=VIEWER, responses=example_responses("get_transaction")
)
def get_transaction(txid: Txid, state: State) -> dict[str, Any]:
    """A transaction with inputs and outputs, each with address, value, cluster and labels (as
    `show TXID --json`, plus `fee_sats`, `value_sats`, `cluster`, `labels`)."""
    from chainsleuth.store.profiles import tx_profile

    with state.dataset() as ds:
        run = state.clustering(ds)
        prof = tx_profile(ds, txid.lower())
        annotate_tx(state, ds, prof, run)
        return {"kind": "tx", **prof}


# -- addresses ----------------------------------------------------------------------------------
@router.get("/addresses/{address}", dependencies=VIEWER, responses=example_responses("get_address"))
def get_address(address: Address, state: State) -> dict[str, Any]:
    """An address: totals, balance, latest transactions, labels and its cluster (as `show
    ADDRESS --json`; `cluster` is the cluster id or null, the CLI's cluster object is
    `cluster_summary`)."""
    from chainsleuth.cluster.runs import load_address_cluster
    from chainsleuth.store.profiles import address_profile

    with state.dataset() as ds:
        run = state.clustering(ds)
        prof = address_profile(ds, address)
        addr_id = prof["addr_id"]
        prof["labels"] = [tag_dict(t) for t in tag_index(state, ds).by_addr.get(addr_id, [])]
        prof["cluster"] = None
        if run is not None:
            mapping = load_address_cluster(ds, run)
            if addr_id < mapping.shape[0]:
                cid = int(mapping[addr_id])
                view = cluster_view(state, ds, run, cid)
                prof["cluster"] = cid
                prof["cluster_summary"] = {
                    "run": run,
                    "cluster_id": cid,
                    "size": view["size"],
                    "label": view["label"],
                    "conflict": view["conflict"],
                }
        return {"kind": "address", **prof}


@router.get(
    "/addresses/{address}/transactions",
    dependencies=VIEWER,
    responses=example_responses("address_transactions"),
)
def address_transactions(address: Address, page: Pages, state: State) -> Page[dict[str, Any]]:
    """The address's transactions, newest first, with what it received and sent in each."""
    from chainsleuth.store.rows import numpy_of

    pos = page.position()
    before = _int_field(pos, "before") if pos is not None else None
    with state.dataset() as ds:
        addr_id = ds.addr_id(address)
        lk = ds.lookup
        if not lk.indexed:
            raise InputError("this dataset has no lookup indexes: run `chainsleuth index`")
        rows = lk.rows
        outs = rows.by_id("outputs", lk.outputs_of_addr(addr_id), ["tx_id", "value"])
        spent = [
            rows.take("inputs", p, r, ["tx_id", "value"]) for p, r in lk.inputs_of_addr(addr_id)
        ]
        out_tx, out_v = numpy_of(outs.column("tx_id")), numpy_of(outs.column("value"))
        in_tx = np.concatenate(
            [numpy_of(t.column("tx_id")) for t in spent] or [np.zeros(0, np.int64)]
        )
        in_v = np.concatenate(
            [numpy_of(t.column("value")) for t in spent] or [np.zeros(0, np.int64)]
        )
        txs, inv = np.unique(np.concatenate([out_tx, in_tx]), return_inverse=True)
        recv = np.zeros(txs.size, dtype=np.int64)
        sent = np.zeros(txs.size, dtype=np.int64)
        np.add.at(recv, inv[: out_tx.size], out_v)
        np.add.at(sent, inv[out_tx.size :], in_v)
        order = np.arange(txs.size)[::-1]
        if before is not None:
            order = order[txs[order] < before]
        chosen = order[: page.limit]
        info = rows.by_id("txs", txs[chosen], ["tx_id", "txid", "height", "time"]).to_pylist()
        by_id = {r["tx_id"]: r for r in info}
        items = []
        for i in chosen.tolist():
            r = by_id[int(txs[i])]
            items.append(
                {
                    "txid": bytes(r["txid"]).hex(),
                    "height": r["height"],
                    "time": _iso(r["time"]),
                    "received_sats": int(recv[i]),
                    "sent_sats": int(sent[i]),
                }
            )
        more = order.size > chosen.size
        cursor = encode_cursor({"before": int(txs[chosen[-1]])}) if more else None
        return Page(items=items, next_cursor=cursor, total=int(txs.size))


def _iso(ts: Any) -> str | None:
    from chainsleuth.store.profiles import _iso as iso

    return iso(ts)


def _int_field(pos: dict[str, Any], key: str) -> int:
    value = pos.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputError("bad cursor: it was not issued by this server")
    return value


# -- clusters -----------------------------------------------------------------------------------
@router.get(
    "/clusters/{cluster_id}", dependencies=VIEWER, responses=example_responses("get_cluster")
)
def get_cluster(cluster_id: ClusterId, state: State) -> dict[str, Any]:
    """A cluster: size, totals, first/last activity, labels, category and conflicts (as `show
    cluster:ID --json`, plus `labels`, `category`, `conflicts`)."""
    with state.dataset() as ds:
        run = _run(state, ds)
        prof = cluster_view(state, ds, run, cluster_id)
        prof["labels"] = prof["tags"]
        prof["conflicts"] = prof["actors"] if prof["conflict"] else []
        return {"kind": "cluster", **prof}


@router.get(
    "/clusters/{cluster_id}/members",
    dependencies=VIEWER,
    responses=example_responses("cluster_members_page"),
)
def cluster_members_page(cluster_id: ClusterId, page: Pages, state: State) -> Page[dict[str, Any]]:
    """The cluster's addresses, biggest receiver first."""
    from chainsleuth.cluster.runs import run_dir

    pos = page.position()
    with state.dataset() as ds:
        run = _run(state, ds)
        folder = run_dir(ds, run)
        key = ("members", run, (folder / "params.json").stat().st_mtime_ns, cluster_id)
        table = state.memo(key, lambda: _members_with_names(ds, folder, cluster_id))
        if table.num_rows == 0:
            raise NotFoundError(f"cluster not in run {run!r}: {cluster_id}")
        received = table.column("received").to_numpy()
        addr = table.column("addr_id").to_numpy()
        start = 0
        if pos is not None:
            r, a = _int_field(pos, "received"), _int_field(pos, "addr_id")
            # rows sort by (-received, addr_id): the first row after (r, a)
            after = (received < r) | ((received == r) & (addr > a))
            start = int(np.argmax(after)) if after.any() else table.num_rows
        rows = table.slice(start, page.limit).to_pylist()
        if "address" in table.column_names:
            names = [x["address"] for x in rows]
        else:
            names = ds.lookup.addresses_of(np.array([x["addr_id"] for x in rows], dtype=np.int64))
        items = [
            {
                "address": name,
                "addr_id": x["addr_id"],
                "received_sats": x["received"],
                "sent_sats": x["sent"],
                "balance_sats": x["received"] - x["sent"],
                "n_outputs": x["n_outputs"],
            }
            for x, name in zip(rows, names, strict=True)
        ]
        cursor = None
        if start + len(rows) < table.num_rows:
            last = rows[-1]
            cursor = encode_cursor({"received": last["received"], "addr_id": last["addr_id"]})
        return Page(items=items, next_cursor=cursor, total=table.num_rows)


MEMBER_NAMES_MAX = 100_000
"""Clusters up to this size keep their members' address strings in the server's cache (one
read of the addresses for all pages); larger ones read each page's addresses."""


def _members_with_names(ds: Dataset, folder: FsPath, cluster_id: int) -> pa.Table:
    table = cluster_members(folder, cluster_id)
    if 0 < table.num_rows <= MEMBER_NAMES_MAX:
        ids = table.column("addr_id").to_numpy()
        table = table.append_column("address", pa.array(ds.lookup.addresses_of(ids), pa.string()))
    return table


def _graph(state: ServerState, ds: Dataset, run: str) -> Any:
    from chainsleuth.cluster.runs import run_dir
    from chainsleuth.trace.diskgraph import disk_flow_graph

    params = run_dir(ds, run) / "params.json"
    key = ("flowgraph", run, params.stat().st_mtime_ns, ds.tip_hash)
    return state.memo(key, lambda: disk_flow_graph(ds, run))


def _cluster_labels(state: ServerState, ds: Dataset, run: str) -> dict[int, dict[str, Any]]:
    from chainsleuth.tags.attribution import cluster_labels

    stamp = tags_stamp(ds)

    def make() -> dict[int, dict[str, Any]]:
        if stamp is None:
            return {}
        return {int(r["cluster_id"]): r for r in cluster_labels(ds, run).to_pylist()}

    return state.memo(("cluster_labels", run, stamp, ds.tip_hash), make)


def _known_cluster(run: str, cluster_id: int, graph: Any) -> None:
    if cluster_id >= graph.n_node or int(graph.node_size[cluster_id]) == 0:
        raise NotFoundError(f"cluster not in run {run!r}: {cluster_id}")


@router.get(
    "/clusters/{cluster_id}/neighbours",
    dependencies=VIEWER,
    responses=example_responses("cluster_neighbours"),
)
def cluster_neighbours(
    cluster_id: ClusterId,
    page: Pages,
    state: State,
    direction: Annotated[
        str,
        Query(
            pattern="^(in|out)$",
            description="`out`: clusters this one pays; `in`: clusters paying it.",
        ),
    ] = "out",
) -> Page[dict[str, Any]]:
    """The clusters this one pays (or is paid by), largest value first: the expansion a graph
    view needs. An edge A → B sums, over the transactions where A spends, their outputs to B;
    ``first_txid`` / ``last_txid`` name its first and last transaction."""
    pos = page.position()
    with state.dataset() as ds:
        run = _run(state, ds)
        graph = _graph(state, ds, run)
        _known_cluster(run, cluster_id, graph)
        nb = neighbours(graph, cluster_id, direction)
        start = 0
        if pos is not None:
            v, c = _int_field(pos, "value"), _int_field(pos, "cluster_id")
            after = (nb.value < v) | ((nb.value == v) & (nb.cluster_id > c))
            start = int(np.argmax(after)) if after.any() else int(nb.value.size)
        end = min(start + page.limit, int(nb.value.size))
        labels = _cluster_labels(state, ds, run)
        ends = np.concatenate([nb.first_tx[start:end], nb.last_tx[start:end]])
        txids = ds.lookup.txids_of(np.asarray(graph.tx_id[ends], dtype=np.int64))
        first_txid, last_txid = txids[: end - start], txids[end - start :]
        items = []
        for i in range(start, end):
            cid = int(nb.cluster_id[i])
            lab = labels.get(cid)
            items.append(
                {
                    "cluster_id": cid,
                    "value_sats": int(nb.value[i]),
                    "tx_count": int(nb.tx_count[i]),
                    "first_time": _time_of(graph, int(nb.first_tx[i])),
                    "last_time": _time_of(graph, int(nb.last_tx[i])),
                    "first_txid": first_txid[i - start],
                    "last_txid": last_txid[i - start],
                    "labels": [] if lab is None else [lab["label"]],
                    "category": None if lab is None else lab["category"],
                    "size": int(graph.node_size[cid]),
                }
            )
        cursor = None
        if end < nb.value.size:
            cursor = encode_cursor(
                {"value": int(nb.value[end - 1]), "cluster_id": int(nb.cluster_id[end - 1])}
            )
        return Page(items=items, next_cursor=cursor, total=int(nb.value.size))


def _time_of(graph: Any, tx: int) -> str:
    """ISO 8601 time of a graph transaction (the graph keeps block times in seconds)."""
    return datetime.fromtimestamp(int(graph.tx_time[tx]), UTC).isoformat()


@router.get(
    "/clusters/{cluster_id}/transactions",
    dependencies=VIEWER,
    responses=example_responses("cluster_transactions"),
)
def cluster_transactions(cluster_id: ClusterId, page: Pages, state: State) -> Page[dict[str, Any]]:
    """The cluster's transactions in chain order (oldest first): what it received and sent in
    each; `direction` is `in` when it received more than it sent, else `out`, and
    `value_sats` the difference."""
    pos = page.position()
    after = _int_field(pos, "after") if pos is not None else -1
    with state.dataset() as ds:
        run = _run(state, ds)
        graph = _graph(state, ds, run)
        _known_cluster(run, cluster_id, graph)
        txs = cluster_txs(graph, cluster_id)
        start = int(np.searchsorted(txs.tx, after, side="right"))
        chosen = np.arange(start, min(start + page.limit, txs.tx.size))
        tx_ids = np.asarray(graph.tx_id[txs.tx[chosen]], dtype=np.int64)
        txids = ds.lookup.txids_of(tx_ids)
        items = []
        for i, txid in zip(chosen.tolist(), txids, strict=True):
            t = int(txs.tx[i])
            net = int(txs.received[i]) - int(txs.sent[i])
            items.append(
                {
                    "txid": txid,
                    "height": int(graph.tx_height[t]),
                    "time": _time_of(graph, t),
                    "value_sats": abs(net),
                    "direction": "in" if net > 0 else "out",
                    "received_sats": int(txs.received[i]),
                    "sent_sats": int(txs.sent[i]),
                }
            )
        more = start + chosen.size < txs.tx.size
        cursor = encode_cursor({"after": int(txs.tx[chosen[-1]])}) if more else None
        return Page(items=items, next_cursor=cursor, total=int(txs.tx.size))


# -- search -------------------------------------------------------------------------------------
@router.get("/search", dependencies=VIEWER, responses=example_responses("search_endpoint"))
def search_endpoint(
    state: State,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=200,
            description="Address (or prefix), txid (or prefix of 6+ hex digits), block "
            "height or hash, `cluster:N`, or tag text.",
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=100, description="At most this many hits.")] = 20,
) -> dict[str, Any]:
    """What `q` could mean: addresses, transactions, blocks, clusters and tags."""
    with state.dataset() as ds:
        run = state.clustering(ds)
        n_addr = int(ds.manifest.counts.get("addresses", 0))
        table = None
        if n_addr <= PREFIX_MAX_ADDRESSES:

            def table() -> np.ndarray:
                return _sorted_addresses(state, ds)

        index = tag_index(state, ds)
        hits = search(ds, q, run=run, limit=limit, addresses=table, tags=index.search)
        return {"items": hits}


def _sorted_addresses(state: ServerState, ds: Dataset) -> np.ndarray:
    files = sorted(f for f in ds.manifest.files if f.startswith("tables/addresses/"))

    def make() -> np.ndarray:
        parts = [
            pq.read_table(ds.path / f, columns=["address"]).column("address").to_pylist()
            for f in files
        ]
        return np.array(sorted(a for p in parts for a in p if a is not None), dtype=object)

    return state.memo(("addresses", ds.tip_hash, len(files)), make)
