"""Whole-chain side arrays of one pass: in RAM while they fit, memory-mapped files beyond.

A streamed pass over the chain keeps a few fixed-width arrays sized per address or per
transaction (the union-find's parent, outputs per address, transaction codes, …). Their bytes
are known before the pass starts: :class:`SideArrays` is told that total and the share of the
memory budget it may take, and then hands out every array either as an ordinary numpy array
(the total fits) or as a view of a memory-mapped file under ``DATASET/_tmp/arrays-<pid>-…/``
(it does not). Memory-mapped pages are the kernel's to evict: resident while there is room,
written back and dropped under pressure, so a chain whose side arrays outgrow the machine
still runs (slower, at the disk's pace) instead of being killed. The numba kernels take either
kind unchanged; the files are deleted by :meth:`SideArrays.close` (or the ``with`` block), and
those of a killed process by the next pass that maps arrays (:mod:`chainsleuth.scratch`).

Bytes per item are the caller's (each array's dtype); the files add nothing to them.

>>> import numpy as np
>>> with SideArrays(tmp, planned_bytes=800, ram_bytes=0) as side:
...     parent = side.full(100, np.int64, -1)
...     side.on_disk, parent[:3].tolist(), type(parent).__name__
(True, [-1, -1, -1], 'ndarray')
>>> with SideArrays(tmp, planned_bytes=800, ram_bytes=1 << 20) as side:
...     side.on_disk, side.full(4, np.uint16, 0).tolist()
(False, [0, 0, 0, 0])
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from chainsleuth.scratch import make_scratch_folder

__all__ = ["SideArrays"]


class SideArrays:
    """Arrays of one pass, in RAM or memory-mapped under ``tmp_root`` (module docstring).

    ``planned_bytes`` is the most the pass holds at once; ``ram_bytes`` what it may hold in
    RAM. ``tmp_root`` is created if needed (e.g. ``DATASET/_tmp``).
    """

    def __init__(self, tmp_root: Path | str, *, planned_bytes: int, ram_bytes: int) -> None:
        self.planned_bytes = int(planned_bytes)
        self.on_disk = self.planned_bytes > int(ram_bytes)
        self._root = Path(tmp_root)
        self._dir: Path | None = None
        self._maps: list[np.memmap[Any, Any]] = []
        self._names = itertools.count()

    def empty(self, n: int, dtype: DTypeLike) -> NDArray[Any]:
        """An uninitialised array of ``n`` items (zeros when on disk)."""
        if not self.on_disk or n == 0:
            return np.empty(n, dtype=dtype)
        if self._dir is None:
            self._dir = make_scratch_folder(self._root, "arrays")
        path = self._dir / f"{next(self._names)}.bin"
        mm: np.memmap[Any, Any] = np.memmap(path, dtype=dtype, mode="w+", shape=(n,))
        self._maps.append(mm)
        return mm.view(np.ndarray)

    def full(self, n: int, dtype: DTypeLike, fill: int) -> NDArray[Any]:
        """An array of ``n`` items set to ``fill``."""
        out = self.empty(n, dtype)
        if fill != 0 or not self.on_disk:
            out[:] = fill
        return out

    def close(self) -> None:
        """Drop the mappings and delete the files (arrays handed out must not be used after)."""
        self._maps.clear()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> SideArrays:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
