"""A clustering run: links → union-find (with collapse guard) → files in ``derived/clusters/``.

Files written to ``DATASET/derived/clusters/<name>/`` (each via a temporary file and a rename,
``params.json`` last, all in a folder under ``derived/clusters/.tmp/`` renamed into place at
the end, so an interrupted run leaves nothing; an existing run is replaced only with ``force``):

- ``address_cluster.parquet`` (addr_id, cluster_id) — cluster id = smallest addr_id in it;
- ``clusters.parquet`` (cluster_id, size, first_height, last_height, n_txs, total_received,
  total_sent, balance);
- ``evidence.parquet`` (addr_a, addr_b, tx_id, rule, probability) — one row per union that
  changed something; ``probability`` is the change model's (NaN for rule-based links);
- ``held.parquet`` (addr_a, addr_b, tx_id, rule, reason) — links the collapse guard held back
  (reason ``actor-guard`` when the two sides carry tags of different actors, else
  ``collapse-guard``: both sides too large);
- ``tags.parquet`` (addr_id, actor, confidence, pack) — the tags the actor guard used;
- ``members.parquet`` (cluster_id, addr_id, received, sent, n_outputs) sorted by cluster, for
  fast profiles;
- ``params.json`` (name, heuristics, thresholds, tip_height, tip_hash, tags, chainsleuth_version,
  created, counts); ``tags`` is the snapshot of the actor table the run was given
  (:meth:`~chainsleuth.cluster.actors.ActorTable.params`).

The actor table comes from the caller (the ``cluster`` verb builds it from the tag store with
:func:`chainsleuth.tags.guard.actor_table`), so the tags that may hold links apart are chosen
there (``--tag-min-confidence``) and clustering does not depend on the tag store.

>>> import shutil
>>> from chainsleuth.store.dataset import Dataset
>>> _ = shutil.copytree(ds.path, tmp / "d", ignore=shutil.ignore_patterns("derived"))
>>> run = cluster_dataset(Dataset.open(tmp / "d"), "default")  # the regtest chain
>>> (run.name, run.n_clusters, run.n_unions)
('default', 2141, 7034)
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

import chainsleuth
from chainsleuth.budget import MemoryBudget
from chainsleuth.cluster import DEFAULT_MAX_MERGE_SIZE
from chainsleuth.cluster.actors import ActorTable
from chainsleuth.cluster.links import (
    Links,
    change_links,
    concat_links,
    multi_input_links,
)
from chainsleuth.cluster.spec import HeuristicSpec, parse_heuristics
from chainsleuth.cluster.stats import cluster_stats, member_stats
from chainsleuth.cluster.stream import HELD_REASONS, StreamedCounts, cluster_streamed
from chainsleuth.errors import InputError
from chainsleuth.graph.unionfind import NO_GUARD, new_parent, roots_to_min_ids, union_links
from chainsleuth.heuristics.change import ChangeContext, changeless_txs, signals_of
from chainsleuth.heuristics.coinjoin import detect_coinjoins
from chainsleuth.heuristics.consensus import ChangeLinks, consensus_change
from chainsleuth.heuristics.selftransfer import self_transfers
from chainsleuth.heuristics.view import ChainView
from chainsleuth.interrupt import deferred
from chainsleuth.store.chainview import load_chain_view

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

__all__ = [
    "DEFAULT_MAX_MERGE_SIZE",
    "ClusterRun",
    "build_links",
    "cluster_dataset",
    "cluster_stats",
    "run_target",
]

I64 = NDArray[np.int64]
Progress = Callable[[str], None]
ENGINES = ("stream", "memory")
"""Clustering engines: windows within a memory budget, or the whole chain view in RAM."""
TMP_DIR = ".tmp"
"""Folder of ``derived/clusters/`` holding runs being written (never a run itself)."""


@dataclass(frozen=True, slots=True)
class ClusterRun:
    """Summary of a finished run."""

    name: str
    path: Path
    n_addresses: int
    n_clusters: int
    n_links: int
    n_unions: int
    n_held: int
    n_coinjoins: int
    seconds: float


def _name_ok(name: str) -> bool:
    return bool(name) and all(ch.isalnum() or ch in "-_.+" for ch in name) and name[0] != "."


def _vetoed(links: ChangeLinks, keep_tx: NDArray[np.bool_] | None) -> ChangeLinks:
    """``links`` without those in transactions ``keep_tx`` marks False."""
    if keep_tx is None or not len(links.tx):
        return links
    keep = keep_tx[links.tx]
    prob = links.probability[keep] if links.probability is not None else None
    rules = [r for r, k in zip(links.rules, keep.tolist(), strict=True) if k]
    return ChangeLinks(links.tx[keep], links.out[keep], rules, prob)


def build_links(
    view: ChainView,
    spec: HeuristicSpec,
    *,
    coinjoin: NDArray[np.bool_] | None = None,
    facts: dict[str, Any] | None = None,
) -> tuple[Links, int]:
    """All links a spec asks for, in chain order; also returns the number of CoinJoins.

    A view of a part of the chain passes the facts it cannot see itself as ``facts``
    (keyword arguments of :meth:`~chainsleuth.heuristics.change.ChangeContext.of`: co-spend
    clusters, spenders, address history); ``coinjoin`` when already detected.

    >>> from chainsleuth.cluster.spec import parse_heuristics
    >>> from chainsleuth.heuristics.view import ChainView
    >>> v = ChainView.from_columns(
    ...     tx_id=[0], height=[1], version=[2], locktime=[0], is_coinbase=[False], n_in=[2],
    ...     n_out=[1], in_addr=[0, 1], in_value=[5, 5], in_type=[2, 2], in_sequence=[0, 0],
    ...     in_prev_out=[-1, -1], out_value=[9], out_addr=[2], out_type=[2],
    ...     out_spent_by=[-1])
    >>> links, n_cj = build_links(v, parse_heuristics("multi-input"))
    >>> (len(links), n_cj)
    (1, 0)
    """
    if coinjoin is None:
        coinjoin = detect_coinjoins(view).mask
    parts: list[Links] = []
    if spec.multi_input:
        parts.append(multi_input_links(view, skip=coinjoin))
    if spec.needs_change_context:
        ctx = ChangeContext.of(view, coinjoin, **(facts or {}))
        keep = ~changeless_txs(ctx) if spec.changeless_veto else None
        if spec.change:
            signals = signals_of(ctx, list(spec.change))
            parts.append(change_links(view, _vetoed(consensus_change(signals), keep)))
        if spec.change_model is not None:
            from chainsleuth.heuristics.changemodel import load_change_model, model_change

            model = load_change_model(spec.change_model or None)
            parts.append(change_links(view, _vetoed(model_change(ctx, model), keep)))
        if spec.self_transfer:
            parts.append(change_links(view, self_transfers(ctx)))
    return concat_links(parts), int(coinjoin.sum())


def _held_reasons(links: Links, held: I64, cluster: I64, codes: I64 | None) -> NDArray[np.int32]:
    """Per held link: 1 (actor-guard) when its two final clusters carry different actors."""
    reasons = np.zeros(len(held), dtype=np.int32)
    if codes is None or not len(held):
        return reasons
    # a cluster never holds two actors (the guard keeps them apart): its actor is its max code
    cluster_actor = np.zeros(len(cluster), dtype=np.int64)
    np.maximum.at(cluster_actor, cluster, codes)
    xa = cluster_actor[cluster[links.a[held]]]
    xb = cluster_actor[cluster[links.b[held]]]
    reasons[(xa != 0) & (xb != 0) & (xa != xb)] = 1
    return reasons


def _write_parquet(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, row_group_size=1 << 17)
    os.replace(tmp, path)


def _evidence(view: ChainView, links: Links, idx: I64) -> dict[str, Any]:
    # rule names stay dictionary-encoded: int32 codes per row (4 B) plus one small dictionary,
    # so no 32-bit string offsets grow with the number of links (Parquet stores it the same way)
    codes = pa.array(links.rule[idx].astype(np.int32), type=pa.int32())
    rule = pa.DictionaryArray.from_arrays(codes, pa.array(links.rules, type=pa.string()))
    # the change model's probability: float32 (4 B per row), NaN for rule-based links
    prob = links.probability
    return {
        "addr_a": links.a[idx],
        "addr_b": links.b[idx],
        "tx_id": view.tx_id[links.tx[idx]],
        "rule": rule,
        "probability": (
            prob[idx] if prob is not None else np.full(len(idx), np.nan, dtype=np.float32)
        ),
    }


def run_target(
    ds: Dataset, heuristics: str, name: str | None, *, force: bool
) -> tuple[HeuristicSpec, str, Path]:
    """The parsed heuristics, the run's name (default: the heuristics) and its folder; an
    InputError, before any work, for a bad name or an existing run without ``force``.

    >>> run_target(ds, "multi-input", "a b", force=False)
    Traceback (most recent call last):
    ...
    chainsleuth.errors.InputError: bad run name: 'a b' (letters, digits, - _ . + only)
    """
    spec = parse_heuristics(heuristics)
    run_name = name if name is not None else heuristics.replace(",", "+")
    if not _name_ok(run_name):
        raise InputError(f"bad run name: {run_name!r} (letters, digits, - _ . + only)")
    final_dir = Path(ds.path) / "derived" / "clusters" / run_name
    if final_dir.exists() and not force:
        raise InputError(
            f"clustering run {run_name!r} already exists: {final_dir} (--force overwrites, "
            "or choose another --name)"
        )
    return spec, run_name, final_dir


def cluster_dataset(
    ds: Dataset,
    heuristics: str = "default",
    name: str | None = None,
    *,
    actors: ActorTable | None = None,
    max_merge_size: int = DEFAULT_MAX_MERGE_SIZE,
    progress: Progress | None = None,
    force: bool = False,
    budget: MemoryBudget | None = None,
    engine: str = "stream",
    window_rows: int | None = None,
) -> ClusterRun:
    """Cluster a dataset's addresses and write the run (see the module docstring).

    ``engine="stream"`` (the default) reads the chain one window at a time within ``budget``
    (default: the machine's, see :class:`~chainsleuth.budget.MemoryBudget`);
    ``engine="memory"`` loads the whole chain view at once (the reference the streamed engine
    is tested against; only for small chains). Both write the same rows. ``window_rows``
    overrides the rows per window the budget gives (tests and benches use tiny windows).

    ``heuristics`` is ``multi-input``, ``default`` or a list (see
    :func:`~chainsleuth.cluster.spec.parse_heuristics`); ``name`` defaults to it. ``actors``
    (with the collapse guard) holds back links between addresses of different actors; None
    means no tags (the run records an empty tag snapshot). An existing run of that name is
    refused (InputError, before any work) unless ``force``, which replaces it. The files are
    written into a folder of their own under ``derived/clusters/.tmp/`` that is renamed into
    place at the end: an interrupted or failed run leaves no half run (and a forced one leaves
    the old run as it was).

    >>> import shutil
    >>> from chainsleuth.store.dataset import Dataset
    >>> _ = shutil.copytree(ds.path, tmp / "d", ignore=shutil.ignore_patterns("derived"))
    >>> cluster_dataset(Dataset.open(tmp / "d"), "multi-input").n_unions
    5947
    """
    started = time.perf_counter()
    say = progress or (lambda _msg: None)
    spec, run_name, final_dir = run_target(ds, heuristics, name, force=force)
    if engine not in ENGINES:
        raise InputError(f"unknown clustering engine: {engine!r} ({', '.join(ENGINES)})")
    run_dir = _temp_run_dir(final_dir)
    try:
        if engine == "memory":
            result = _cluster_into(ds, spec, run_name, run_dir, actors, max_merge_size, say)
        else:
            result = _cluster_streamed_into(
                ds, spec, run_name, run_dir, actors, max_merge_size, say,
                budget or MemoryBudget.from_option(None), window_rows,
            )  # fmt: skip
        say("publishing run")
        _publish(run_dir, final_dir)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return ClusterRun(
        name=run_name,
        path=final_dir,
        n_addresses=result.n_addresses,
        n_clusters=result.n_clusters,
        n_links=result.n_links,
        n_unions=result.n_unions,
        n_held=result.n_held,
        n_coinjoins=result.n_coinjoins,
        seconds=time.perf_counter() - started,
    )


def _temp_run_dir(final_dir: Path) -> Path:
    """A fresh folder for a run being written: ``derived/clusters/.tmp/<name>@<pid>`` (runs
    are listed one level deep, so it is never mistaken for one); leftovers of killed runs of
    this name go first."""
    tmp_root = final_dir.parent / TMP_DIR
    tmp_root.mkdir(parents=True, exist_ok=True)
    for old in tmp_root.glob(f"{final_dir.name}@*"):
        shutil.rmtree(old, ignore_errors=True)
    path = tmp_root / f"{final_dir.name}@{os.getpid()}"
    path.mkdir()
    return path


def _publish(run_dir: Path, final_dir: Path) -> None:
    """Rename the finished run into place; a replaced run is moved aside first, then deleted.
    Signals wait until the folders are consistent again."""
    with deferred():
        old = run_dir.with_name(run_dir.name + ".old")
        if final_dir.exists():
            os.replace(final_dir, old)
        os.replace(run_dir, final_dir)
    shutil.rmtree(old, ignore_errors=True)


def _cluster_into(
    ds: Dataset,
    spec: HeuristicSpec,
    run_name: str,
    run_dir: Path,
    actors: ActorTable | None,
    max_merge_size: int,
    say: Progress,
) -> ClusterRun:
    """The run's work: links, union-find and every file, written into ``run_dir``."""
    started = time.perf_counter()
    say("loading transactions")
    view = load_chain_view(ds)
    say("finding links")
    links, n_coinjoins = build_links(view, spec)
    table = actors if actors is not None else ActorTable.from_rows([], None)
    codes = table.codes(view.n_addr) if spec.collapse_guard else None
    actor = codes.copy() if codes is not None else None  # union_links updates it in place
    guard = max_merge_size if spec.collapse_guard else NO_GUARD
    say(f"union-find over {len(links):,} links")
    parent = new_parent(view.n_addr)
    merged, held = union_links(parent, links.a, links.b, actor=actor, max_merge_size=guard)
    cluster = roots_to_min_ids(parent)
    say("writing run")
    addr = np.arange(view.n_addr, dtype=np.int64)
    _write_parquet(
        pa.table({"addr_id": addr, "cluster_id": cluster}), run_dir / "address_cluster.parquet"
    )
    stats = cluster_stats(view, cluster)
    _write_parquet(pa.table(stats), run_dir / "clusters.parquet")
    _write_parquet(pa.table(_evidence(view, links, merged)), run_dir / "evidence.parquet")
    held_cols = _evidence(view, links, held)
    held_cols["reason"] = pa.DictionaryArray.from_arrays(
        pa.array(_held_reasons(links, held, cluster, codes)), pa.array(HELD_REASONS, pa.string())
    )
    _write_parquet(pa.table(held_cols), run_dir / "held.parquet")
    _write_parquet(table.to_arrow(), run_dir / "tags.parquet")
    _write_parquet(member_stats(view, cluster), run_dir / "members.parquet")
    counts = StreamedCounts(
        int(view.n_addr), len(stats["cluster_id"]), len(links), len(merged), len(held),
        n_coinjoins, 1,
    )  # fmt: skip
    _write_params(ds, spec, run_name, run_dir, table, guard, actor is not None, counts)
    return _summary(run_name, run_dir, counts, started)


def _cluster_streamed_into(
    ds: Dataset,
    spec: HeuristicSpec,
    run_name: str,
    run_dir: Path,
    actors: ActorTable | None,
    max_merge_size: int,
    say: Progress,
    budget: MemoryBudget,
    window_rows: int | None,
) -> ClusterRun:
    """The run's work, streamed window by window (:mod:`chainsleuth.cluster.stream`)."""
    started = time.perf_counter()
    table = actors if actors is not None else ActorTable.from_rows([], None)
    n_addr = int(ds.manifest.counts.get("addresses", 0))
    # the guard's actor per root: int32 (4 B per address), updated in place by the unions
    codes = table.codes(n_addr, np.int32) if spec.collapse_guard else None
    guard = max_merge_size if spec.collapse_guard else NO_GUARD
    counts = cluster_streamed(
        ds, spec, run_dir, actor_codes=codes, guard=guard, budget=budget, say=say,
        max_rows=window_rows,
    )  # fmt: skip
    _write_parquet(table.to_arrow(), run_dir / "tags.parquet")
    _write_params(ds, spec, run_name, run_dir, table, guard, codes is not None, counts)
    return _summary(run_name, run_dir, counts, started)


def _write_params(
    ds: Dataset,
    spec: HeuristicSpec,
    run_name: str,
    run_dir: Path,
    table: ActorTable,
    guard: int,
    actor_guard: bool,
    counts: StreamedCounts,
) -> None:
    params = {
        "name": run_name,
        "heuristics": spec.names(),
        "thresholds": {
            "max_merge_size": int(guard) if spec.collapse_guard else None,
            "actor_guard": actor_guard,
            "min_agree": 2,
        },
        "tip_height": int(ds.tip_height),
        "tip_hash": ds.tip_hash,
        "tags": table.params(),
        "chainsleuth_version": chainsleuth.__version__,
        "created": datetime.now(UTC).isoformat(timespec="microseconds"),
        "counts": {
            "addresses": counts.n_addresses,
            "clusters": counts.n_clusters,
            "links": counts.n_links,
            "unions": counts.n_unions,
            "held": counts.n_held,
            "coinjoins": counts.n_coinjoins,
        },
    }
    tmp = run_dir / "params.json.tmp"
    tmp.write_text(json.dumps(params, indent=2) + "\n")
    os.replace(tmp, run_dir / "params.json")


def _summary(run_name: str, run_dir: Path, counts: StreamedCounts, started: float) -> ClusterRun:
    return ClusterRun(
        name=run_name,
        path=run_dir,
        n_addresses=counts.n_addresses,
        n_clusters=counts.n_clusters,
        n_links=counts.n_links,
        n_unions=counts.n_unions,
        n_held=counts.n_held,
        n_coinjoins=counts.n_coinjoins,
        seconds=time.perf_counter() - started,
    )
