"""Reading clustering runs back: list them, pick the latest, load address → cluster.

>>> # latest_run(ds) -> 'default'
>>> # load_address_cluster(ds, "default")[1042] -> 17
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow.parquet as pq
from numpy.typing import NDArray

from chainsleuth.errors import NotFoundError

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

__all__ = ["latest_run", "list_runs", "load_address_cluster", "run_dir", "run_params"]


def _runs_root(ds: Dataset) -> Path:
    return Path(ds.path) / "derived" / "clusters"


def list_runs(ds: Dataset) -> list[str]:
    """Names of complete runs (those with a ``params.json``), oldest first.

    >>> # list_runs(ds) -> ['multi-input', 'default']
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

    >>> # latest_run(ds) -> 'default'
    """
    runs = list_runs(ds)
    if not runs:
        raise NotFoundError(f"no clustering run in {ds.path} (run: chainsleuth cluster)")
    return runs[-1]


def run_dir(ds: Dataset, name: str | None = None) -> Path:
    """Directory of run ``name`` (the latest when None); NotFoundError if it does not exist.

    >>> # run_dir(ds, "default").name -> 'default'
    """
    chosen = latest_run(ds) if name is None else name
    path = _runs_root(ds) / chosen
    if not (path / "params.json").is_file():
        raise NotFoundError(f"no clustering run named {chosen!r} in {ds.path}")
    return path


def run_params(ds: Dataset, name: str | None = None) -> dict[str, Any]:
    """The run's ``params.json`` as a dict.

    >>> # run_params(ds, "default")["heuristics"][0] -> 'multi-input'
    """
    data: dict[str, Any] = json.loads((run_dir(ds, name) / "params.json").read_text())
    return data


def load_address_cluster(ds: Dataset, name: str | None = None) -> NDArray[np.int64]:
    """Cluster id of every addr_id (array indexed by addr_id).

    >>> # load_address_cluster(ds, "default")[:3].tolist() -> [0, 1, 1]
    """
    # ParquetFile reads one file without pyarrow.dataset (which would load pandas)
    table = pq.ParquetFile(run_dir(ds, name) / "address_cluster.parquet").read()
    addr = np.asarray(table.column("addr_id").to_numpy(), dtype=np.int64)
    cluster = np.asarray(table.column("cluster_id").to_numpy(), dtype=np.int64)
    out = np.arange(int(addr.max(initial=-1)) + 1, dtype=np.int64)
    out[addr] = cluster
    return out
