"""The ingest's index state saved at checkpoints, so a resume loads it instead of rebuilding.

The state is the UTXO index and the address dictionary as of the end of a partition boundary
height ``h`` (the last height of a complete partition). It is written under
``DATASET/state/``; the manifest's ``state`` entry says which files, and ``files`` holds their
sha256 like any part. Files of an older checkpoint are deleted only after a manifest naming the
newer ones is in place, so a run killed at any moment resumes from a consistent pair of
manifest and state.

- UTXO index: ``state/utxo-h<h>.bin``, its saved form
  (:meth:`~chainsleuth.store.hashindex.UtxoIndex.records`: the packed 32-byte slots, shard by
  shard, each shard sorted by ``out_id``; count, format and shard bits in the manifest),
  written one shard at a time and read back in chunks of 1 M entries, so neither side holds
  more than one shard's copy beside the index. The form does not depend on the shards' sizes,
  so a resumed run saves the same bytes. A state of an older format (format 1: 41-byte
  columns) is not loaded: :func:`utxo_state_current` says so and the runner rebuilds the
  indexes from the parts instead.
- Address dictionary (:class:`~chainsleuth.store.addrdict.AddressDictionary`, bounded RAM,
  spilling sorted runs to disk): ``state/addresses/`` (its hot table per checkpoint plus its
  immutable runs). A dictionary rebuilt from the parts lives in a folder of its own, so the
  files an older manifest names are never overwritten.

>>> import tempfile
>>> from chainsleuth.ingest.batch import IndexState
>>> from chainsleuth.store.hashindex import UtxoIndex
>>> d = Path(tempfile.mkdtemp())
>>> utxo = UtxoIndex()
>>> utxo.insert(0xABC, 0xDEF, 1, 7, 5000, 3, 4)
True
>>> st = IndexState(utxo, new_address_index(d, 8 << 20))
>>> meta, files = save_state(d, st, 99)
>>> loaded = load_state(d, meta, 8 << 20)
>>> loaded.utxo.get(0xABC, 0xDEF, 1), sorted(files)[-1][:11], meta["utxo"]["format"]
((7, 5000, 3, 4), 'state/utxo-', 2)
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chainsleuth.budget import TMP_DIR
from chainsleuth.errors import DatasetError
from chainsleuth.store.addrdict import AddressDictionary
from chainsleuth.store.hashindex import UTXO_FORMAT, UtxoIndex

__all__ = [
    "STATE_DIR",
    "load_state",
    "new_address_index",
    "new_utxo_index",
    "remove_unreferenced",
    "save_state",
    "utxo_spill_dir",
    "utxo_state_current",
]

STATE_DIR = "state"

if TYPE_CHECKING:
    from chainsleuth.ingest.batch import IndexState


def utxo_spill_dir(data: Path) -> Path:
    """Where the UTXO index's shards beyond its RAM share live: ``DATASET/_tmp/utxo`` (files
    unlinked as soon as they are mapped: nothing is left there after a crash)."""
    return data / TMP_DIR / "utxo"


def new_utxo_index(data: Path, ram_bytes: int | None) -> UtxoIndex:
    """An empty UTXO index holding at most ``ram_bytes`` of slots in RAM (None: no limit), the
    shards beyond on file under :func:`utxo_spill_dir`.

    >>> idx = new_utxo_index(tmp, 64 << 10)
    >>> idx.spilled_nbytes > 0, idx.anon_nbytes <= 64 << 10
    (True, True)
    """
    if ram_bytes is None:
        return UtxoIndex()
    return UtxoIndex(ram_bytes=ram_bytes, spill_dir=utxo_spill_dir(data))


def new_address_index(
    data: Path, memory_bytes: int, folder: str = "addresses", expected_keys: int | None = None
) -> AddressDictionary:
    """An empty address dictionary in ``state/<folder>/`` (``memory_bytes``: its RAM share;
    ``expected_keys``: an upper estimate of the addresses to come, which sizes its hot table).

    Whatever the folder held is deleted first: a new dictionary starts from nothing.
    """
    directory = data / STATE_DIR / folder
    if directory.exists():
        shutil.rmtree(directory)
    with small_pages():
        return AddressDictionary.create(
            directory, memory_bytes=memory_bytes, expected_keys=expected_keys
        )


@contextmanager
def small_pages() -> Iterator[None]:
    """Allocate numpy arrays on 4 KiB pages inside the block (numpy asks for 2 MiB pages).

    The address dictionary's small arrays (run indexes, Bloom filters, buffers) are filled
    sparsely: on huge pages the first key in each 2 MiB costs a 2 MiB zero fill. Its hot table
    is the exception and asks for huge pages itself (``store/addrdict.zeroed_slots``): it is
    sized for the addresses to come, so it fills densely and huge pages save its TLB misses.

    >>> with small_pages():
    ...     a = np.zeros(1 << 24)
    >>> int(a.sum())
    0
    """
    toggle = _hugepage_switch()
    if toggle is None:  # a numpy without the switch: nothing to change
        yield
        return
    before = toggle(False)
    try:
        yield
    finally:
        toggle(before)


def _hugepage_switch() -> Any:
    """numpy's private ``_set_madvise_hugepage`` (``numpy._core`` from 2.0, ``numpy.core``
    before), or None."""
    for name in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        return getattr(module, "_set_madvise_hugepage", None)
    return None


def _write_arrays(path: Path, arrays: Iterable[np.ndarray]) -> str:
    """Write arrays back to back through a temp file + rename; returns the sha256."""
    h = hashlib.sha256()
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as fh:
        for a in arrays:
            view = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).view(np.uint8).data
            h.update(view)
            fh.write(view)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    return h.hexdigest()


_CHUNK = 1 << 20  # entries per read while loading the UTXO index (32 MiB)


def _read_records(path: Path, n: int) -> Iterator[np.ndarray]:
    """The saved UTXO slots of ``path`` in chunks of (≤ _CHUNK, 4) uint64."""
    if not path.exists():
        raise DatasetError(f"saved ingest state missing: {path} (delete the dataset's manifest "
                           "state entry or re-ingest)")  # fmt: skip
    with open(path, "rb") as fh:
        left = n
        while left:
            rec = np.fromfile(fh, dtype="<u8", count=4 * min(left, _CHUNK))
            if rec.shape[0] != 4 * min(left, _CHUNK):
                raise DatasetError(f"saved ingest state truncated: {path}")
            left -= rec.shape[0] // 4
            yield rec.reshape(-1, 4)
        if fh.read(1):
            raise DatasetError(f"saved ingest state longer than its count: {path}")


def utxo_state_current(meta: dict[str, Any]) -> bool:
    """Whether a manifest's ``state`` entry holds a UTXO index this version loads (format 2;
    older ones are rebuilt from the parts instead).

    >>> utxo_state_current({"utxo": {"file": "state/utxo-h000000099.bin", "count": 3}})
    False
    """
    u = meta.get("utxo")
    return (
        isinstance(u, dict)
        and u.get("format") == UTXO_FORMAT
        and isinstance(u.get("shard_bits"), int)
    )


def save_state(
    data: Path, state: IndexState, boundary: int
) -> tuple[dict[str, Any], dict[str, str]]:
    """Write ``state`` as of boundary height ``boundary``; returns (manifest entry, files)."""
    files: dict[str, str] = {}
    utxo_rel = f"{STATE_DIR}/utxo-h{boundary:09d}.bin"
    files[utxo_rel] = _write_arrays(data / utxo_rel, state.utxo.records())
    a = state.addrs
    folder = a.directory.relative_to(data).as_posix()
    for name, digest in a.checkpoint(boundary + 1).items():
        files[f"{folder}/{name}"] = digest
    meta: dict[str, Any] = {
        "height": boundary,
        "next_tx_id": state.next_tx_id,
        "next_out_id": state.next_out_id,
        "utxo": {"file": utxo_rel, "count": int(state.utxo.count), **state.utxo.saved_format},
        "addresses": {"folder": folder, "count": int(a.count), "state": a.state()},
    }  # fmt: skip
    return meta, files


def load_state(
    data: Path,
    meta: dict[str, Any],
    memory_bytes: int,
    utxo_bytes: int | None = None,
    expected_keys: int | None = None,
) -> IndexState:
    """The state a manifest's ``state`` entry names (DatasetError if a file is missing or the
    UTXO index is of another format: check :func:`utxo_state_current` first).

    ``memory_bytes`` is the address dictionary's RAM share, ``utxo_bytes`` the UTXO index's
    (None: all in RAM; else the shards beyond it are loaded on file, :func:`new_utxo_index`);
    ``expected_keys``: an upper estimate of the addresses still to come."""
    from chainsleuth.ingest.batch import IndexState

    try:
        u, ad = meta["utxo"], meta["addresses"]
        if not utxo_state_current(meta):
            raise DatasetError(
                f"saved UTXO index {u['file']} is of an older format (rebuild it from the parts)"
            )
        n = int(u["count"])
        utxo = UtxoIndex.from_records(
            _read_records(data / u["file"], n),
            n,
            shard_bits=int(u["shard_bits"]),
            ram_bytes=utxo_bytes,
            spill_dir=None if utxo_bytes is None else utxo_spill_dir(data),
        )
        if utxo.count != n:
            raise DatasetError(f"saved UTXO index {u['file']} holds duplicate entries")
        with small_pages():
            addrs = AddressDictionary.open(
                data / ad["folder"],
                ad["state"],
                memory_bytes=memory_bytes,
                expected_keys=expected_keys,
            )
        addrs.remove_unreferenced(ad["state"])
        return IndexState(utxo, addrs, int(meta["next_tx_id"]), int(meta["next_out_id"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"malformed ingest state in manifest ({exc})") from None


def remove_unreferenced(data: Path, keep: dict[str, str]) -> None:
    """Delete files under ``state/`` that ``keep`` (the manifest's files) does not name.

    Called after a checkpoint's manifest is saved (older checkpoints' files) and before a run
    continues (a killed run's spills); folders nothing in ``keep`` names go entirely.
    """
    folder = data / STATE_DIR
    if not folder.exists():
        return
    for f in folder.iterdir():
        rel = f"{STATE_DIR}/{f.name}"
        if f.is_dir():
            if not any(k.startswith(rel + "/") for k in keep):
                shutil.rmtree(f)
                continue
            for g in f.iterdir():
                if f"{rel}/{g.name}" not in keep and g.is_file():
                    g.unlink()
        elif rel not in keep:
            f.unlink()
