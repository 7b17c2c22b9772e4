"""Reading clustering runs back: list them, pick the latest, load address → cluster, and
check that a run still describes the dataset (:func:`check_fresh`).

A run records the tip it was made at (``tip_height``, ``tip_hash`` in ``params.json``). Only a
newer dataset tip makes it stale (addresses and transactions it never saw), as does a tip block
no longer on the dataset's chain (a reorg); every command that uses a run refuses a stale one
with :class:`~chainsleuth.errors.StaleRunError` unless the caller allows it (``--allow-stale``:
a :class:`~chainsleuth.errors.StaleRunWarning` instead). Tags imported after a run was made
are named in an :class:`~chainsleuth.errors.UnseenTagsWarning`.

>>> latest_run(ds), int(load_address_cluster(ds, "default")[9])
('default', 9)
>>> stale_reason({"tip_height": 300, "tip_hash": "aa"}, 473, "bb")
'made at tip 300, dataset tip is 473'
>>> stale_reason({"tip_height": 473, "tip_hash": "bb"}, 473, "bb") is None
True
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow.parquet as pq
from numpy.typing import NDArray

from chainsleuth.errors import NotFoundError, StaleRunError, StaleRunWarning, UnseenTagsWarning

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

__all__ = [
    "check_fresh",
    "latest_run",
    "list_runs",
    "load_address_cluster",
    "run_dir",
    "run_params",
    "stale_reason",
]


def _runs_root(ds: Dataset) -> Path:
    return Path(ds.path) / "derived" / "clusters"


def list_runs(ds: Dataset) -> list[str]:
    """Names of complete runs (those with a ``params.json``), oldest first.

    >>> list_runs(ds)
    ['default']
    """
    root = _runs_root(ds)
    if not root.is_dir():
        return []
    runs: list[tuple[str, str]] = []
    for params in root.glob("*/params.json"):
        created = str(json.loads(params.read_text()).get("created", ""))
        runs.append((created, params.parent.name))
    return [name for _, name in sorted(runs)]


def latest_run(ds: Dataset) -> str:
    """The most recently created run (NotFoundError when the dataset has none).

    >>> latest_run(ds)
    'default'
    """
    runs = list_runs(ds)
    if not runs:
        raise NotFoundError(f"no clustering run in {ds.path} (run: chainsleuth cluster)")
    return runs[-1]


def run_dir(ds: Dataset, name: str | None = None) -> Path:
    """Directory of run ``name`` (the latest when None); NotFoundError if it does not exist.

    >>> run_dir(ds, "default").name
    'default'
    """
    chosen = latest_run(ds) if name is None else name
    path = _runs_root(ds) / chosen
    if not (path / "params.json").is_file():
        raise NotFoundError(f"no clustering run named {chosen!r} in {ds.path}")
    return path


def run_params(ds: Dataset, name: str | None = None) -> dict[str, Any]:
    """The run's ``params.json`` as a dict.

    >>> run_params(ds, "default")["heuristics"][0]
    'multi-input'
    """
    data: dict[str, Any] = json.loads((run_dir(ds, name) / "params.json").read_text())
    return data


def load_address_cluster(ds: Dataset, name: str | None = None) -> NDArray[np.int64]:
    """Cluster id of every addr_id (array indexed by addr_id), read-only.

    Memory-mapped from the run's ``address_cluster.npy`` (int64, 8 B per address on disk;
    RAM holds only the pages read), which is derived from ``address_cluster.parquet`` on
    first use and renamed into place; a run folder that cannot be written to (or a Parquet
    file that is not dense in addr_id order) is read into RAM instead.

    >>> load_address_cluster(ds, "default")[:3].tolist()
    [0, 1, 2]
    """
    folder = run_dir(ds, name)
    npy = folder / "address_cluster.npy"
    if not npy.exists():
        try:
            if not _derive_npy(folder / "address_cluster.parquet", npy):
                return _read_into_ram(folder / "address_cluster.parquet")
        except PermissionError:
            return _read_into_ram(folder / "address_cluster.parquet")
    mapped: NDArray[np.int64] = np.load(npy, mmap_mode="r")
    return mapped


def _read_into_ram(path: Path) -> NDArray[np.int64]:
    # ParquetFile reads one file without pyarrow.dataset (which would load pandas)
    table = pq.ParquetFile(path).read()
    addr = np.asarray(table.column("addr_id").to_numpy(), dtype=np.int64)
    cluster = np.asarray(table.column("cluster_id").to_numpy(), dtype=np.int64)
    out = np.arange(int(addr.max(initial=-1)) + 1, dtype=np.int64)
    out[addr] = cluster
    return out


def _derive_npy(parquet: Path, npy: Path) -> bool:
    """Write ``npy`` from ``parquet`` batch by batch; False (nothing written) when the rows
    are not addr_id 0, 1, 2, … in order."""
    f = pq.ParquetFile(parquet)
    n = f.metadata.num_rows
    if n == 0:
        return False
    tmp = npy.with_name(f"{npy.name}.{os.getpid()}.tmp")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.int64, shape=(n,))
    try:
        lo = 0
        for batch in f.iter_batches(columns=["addr_id", "cluster_id"], batch_size=1 << 20):
            addr = np.asarray(batch.column(0).to_numpy(), dtype=np.int64)
            if not np.array_equal(addr, np.arange(lo, lo + len(addr))):
                del out
                tmp.unlink()
                return False
            out[lo : lo + len(addr)] = batch.column(1).to_numpy()
            lo += len(addr)
        out.flush()
        del out
        os.replace(tmp, npy)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True


def stale_reason(params: dict[str, Any], tip_height: int, tip_hash: str) -> str | None:
    """Why a run (its ``params``) does not describe a dataset at this tip; None when it does.

    >>> print(stale_reason({"tip_height": 5, "tip_hash": "aa"}, 5, "cc"))
    its tip block 5 aa is not on the dataset's chain (dataset tip 5 cc)
    """
    height = int(params.get("tip_height", -1))
    run_hash = str(params.get("tip_hash", ""))
    if height == tip_height and run_hash == tip_hash:
        return None
    if height < tip_height:
        return f"made at tip {height}, dataset tip is {tip_height}"
    if height > tip_height:
        return f"made at tip {height}, dataset tip is {tip_height} (block {height} is not in it)"
    return (
        f"its tip block {height} {run_hash} is not on the dataset's chain "
        f"(dataset tip {tip_height} {tip_hash})"
    )


def check_fresh(
    ds: Dataset, name: str | None = None, *, allow_stale: bool = False
) -> dict[str, Any]:
    """The run's params after checking it still describes the dataset (see the module
    docstring): StaleRunError naming both tips, or with ``allow_stale`` a StaleRunWarning;
    an UnseenTagsWarning when tags that could have held its links apart came later.

    >>> check_fresh(ds, "default")["tip_height"]
    473
    """
    directory = run_dir(ds, name)
    params = run_params(ds, directory.name)
    reason = stale_reason(params, int(ds.tip_height), str(ds.tip_hash))
    if reason is not None:
        message = f"clustering run {directory.name!r} is stale: {reason}"
        if not allow_stale:
            raise StaleRunError(f"{message} (re-run cluster --force, or pass --allow-stale)")
        warnings.warn(StaleRunWarning(f"{message} (used anyway: --allow-stale)"), stacklevel=2)
    from chainsleuth.tags.guard import unseen_tags_message

    unseen = unseen_tags_message(ds, directory, params)
    if unseen is not None:
        warnings.warn(UnseenTagsWarning(unseen), stacklevel=2)
    return params
