"""The ingest's index state saved at checkpoints, so a resume loads it instead of rebuilding.

The state is the UTXO index and the address dictionary as of the end of a partition boundary
height ``h`` (the last height of a complete partition). It is written under
``DATASET/state/`` with the boundary in each file name; the manifest's ``state`` entry says
which files, and ``files`` holds their sha256 like any part. Files of an older boundary are
deleted only after a manifest naming the newer ones is in place, so a run killed at any moment
resumes from a consistent pair of manifest and state.

File format: the index's slot arrays written back to back as raw little-endian bytes (the
dtypes and the capacity are in the manifest), so saving is one sequential write and loading
one ``np.fromfile`` per array: no pickles, no per-entry work.

>>> import tempfile
>>> from chainsleuth.ingest.batch import IndexState
>>> from chainsleuth.store.hashindex import UtxoIndex
>>> d = Path(tempfile.mkdtemp())
>>> st = IndexState(UtxoIndex(), new_address_index(d, 8 << 20))
>>> meta, files = save_state(d, st, 99)
>>> loaded = load_state(d, meta, 8 << 20)
>>> bool((loaded.utxo.out_ids == st.utxo.out_ids).all()), sorted(files)[-1][:11]
(True, 'state/utxo-')
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chainsleuth.errors import DatasetError
from chainsleuth.store.hashindex import AddressIndex, UtxoIndex

__all__ = ["STATE_DIR", "load_state", "new_address_index", "remove_unreferenced", "save_state"]

STATE_DIR = "state"

if TYPE_CHECKING:
    from chainsleuth.ingest.batch import IndexState


def new_address_index(data: Path, memory_bytes: int) -> AddressIndex:
    """An empty address dictionary for a dataset (``memory_bytes`` is its RAM share)."""
    return AddressIndex()


def _write_arrays(path: Path, arrays: list[np.ndarray]) -> str:
    """Write arrays back to back through a temp file + rename; returns the sha256."""
    h = hashlib.sha256()
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as fh:
        for a in arrays:
            view = np.ascontiguousarray(a).view(np.uint8).data
            h.update(view)
            fh.write(view)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    return h.hexdigest()


def _read_arrays(path: Path, dtypes: list[str], n: int) -> list[np.ndarray]:
    if not path.exists():
        raise DatasetError(f"saved ingest state missing: {path} (delete the dataset's manifest "
                           "state entry or re-ingest)")  # fmt: skip
    out = []
    with open(path, "rb") as fh:
        for dt in dtypes:
            out.append(np.fromfile(fh, dtype=np.dtype(dt), count=n))
    if any(a.shape[0] != n for a in out):
        raise DatasetError(f"saved ingest state truncated: {path}")
    return out


_UTXO_DTYPES = ["<u8", "<u8", "<u4", "<i8", "<i8", "<i8", "u1"]
_ADDR_DTYPES = ["<u8", "<u8", "<i8"]


def save_state(
    data: Path, state: IndexState, boundary: int
) -> tuple[dict[str, Any], dict[str, str]]:
    """Write ``state`` as of boundary height ``boundary``; returns (manifest entry, files)."""
    files: dict[str, str] = {}
    utxo_rel = f"{STATE_DIR}/utxo-h{boundary:09d}.bin"
    files[utxo_rel] = _write_arrays(data / utxo_rel, list(state.utxo.arrays))
    addr_rel = f"{STATE_DIR}/addresses-h{boundary:09d}.bin"
    a = state.addrs
    files[addr_rel] = _write_arrays(data / addr_rel, [a.keys0, a.keys1, a.vals])
    meta: dict[str, Any] = {
        "height": boundary,
        "next_tx_id": state.next_tx_id,
        "next_out_id": state.next_out_id,
        "utxo": {"file": utxo_rel, "capacity": int(state.utxo.out_ids.shape[0]),
                 "count": int(state.utxo.count)},
        "addresses": {"file": addr_rel, "capacity": int(a.vals.shape[0]), "count": int(a.count)},
    }  # fmt: skip
    return meta, files


def load_state(data: Path, meta: dict[str, Any], memory_bytes: int) -> IndexState:
    """The state a manifest's ``state`` entry names (DatasetError if a file is missing)."""
    from chainsleuth.ingest.batch import IndexState

    try:
        u, ad = meta["utxo"], meta["addresses"]
        utxo = UtxoIndex()
        arrays = _read_arrays(data / u["file"], _UTXO_DTYPES, int(u["capacity"]))
        (utxo.keys0, utxo.keys1, utxo.vouts, utxo.out_ids, utxo.values, utxo.addr_ids,
         utxo.types) = arrays  # fmt: skip
        utxo.count = int(u["count"])
        addrs = AddressIndex()
        addrs.keys0, addrs.keys1, addrs.vals = _read_arrays(
            data / ad["file"], _ADDR_DTYPES, int(ad["capacity"])
        )
        addrs.count = int(ad["count"])
        return IndexState(utxo, addrs, int(meta["next_tx_id"]), int(meta["next_out_id"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"malformed ingest state in manifest ({exc})") from None


def remove_unreferenced(data: Path, keep: dict[str, str]) -> None:
    """Delete files under ``state/`` that ``keep`` (manifest files) does not name."""
    folder = data / STATE_DIR
    if not folder.exists():
        return
    for f in folder.iterdir():
        if f"{STATE_DIR}/{f.name}" not in keep:
            f.unlink()
