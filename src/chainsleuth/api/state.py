"""What a running server holds: the dataset (read-only), limits, users, audit log.

Thread safety. FastAPI runs sync endpoints in a thread pool, and a DuckDB connection (like the
part readers a :class:`~chainsleuth.store.dataset.Dataset`'s lookups keep open) must not be
used by two threads at once. The server therefore keeps a small **pool of opened datasets**:
``with state.dataset() as ds:`` checks one out for the calling thread alone and returns it
afterwards; at most ``pool_size`` are open and a request finding all of them busy waits for
one. Nothing else is shared between threads but the users file (re-read under a lock) and the
audit log (appends under a lock).

Read-only, and a dataset being ingested. A pooled dataset is opened at the manifest that was on
disk when it was opened, and its views name exactly that manifest's parts, so a part an ingest
is still writing is never read. At check-out the manifest's modification time and size are
compared with the pooled copy's; a newer manifest (an ingest's checkpoint) retires the old
connection and opens a new one, so the server moves to the next tip between requests, never
inside one. The server writes nothing to ``tables/`` or ``manifest.json``: only ``audit.log``,
its head file, and DuckDB spill files under ``_tmp/``.

Signatures other modules use::

    ServerState(data: Path, limits: ApiLimits, users: UserStore, audit: AuditLog,
                run: str | None = None, allow_stale: bool = False, pool_size: int = 4,
                budget: MemoryBudget | None = None)
      .dataset() -> ContextManager[Dataset]        # read-only, at the last manifest
      .clustering(ds) -> str | None                # the served clustering run (None: none)
      .memo(key: tuple, make: Callable[[], T]) -> T   # shared read-only values, made once
    get_state(request: Request) -> ServerState     # a dependency

>>> from chainsleuth.api.limits import ApiLimits
>>> st = ServerState.for_dataset(ds.path, ApiLimits())  # ds: the regtest chain
>>> with st.dataset() as d:
...     d.tip_height
473
>>> st.close()
"""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Request

from chainsleuth.api.audit import AuditLog, audit_path
from chainsleuth.api.auth import UserStore, users_path
from chainsleuth.api.limits import ApiLimits
from chainsleuth.budget import MemoryBudget
from chainsleuth.store.dataset import Dataset
from chainsleuth.store.manifest import MANIFEST_NAME

__all__ = ["DatasetPool", "ServerState", "get_state"]

DEFAULT_POOL = 4
MEMO_MAX = 16
"""Values kept per kind of cached value, unless :data:`MEMO_LIMITS` says otherwise."""
MEMO_LIMITS = {"cluster_view": 2048, "members": 8}
"""Cluster views are small (a few KiB); member tables can hold 100,000 rows each."""
T = TypeVar("T")


def _stamp(path: Path) -> tuple[int, int]:
    st = (path / MANIFEST_NAME).stat()
    return st.st_mtime_ns, st.st_size


class DatasetPool:
    """At most ``size`` opened datasets, each used by one thread at a time; reopened when the
    manifest on disk changes."""

    def __init__(
        self, data: Path, size: int = DEFAULT_POOL, budget: MemoryBudget | None = None
    ) -> None:
        if size < 1:
            raise ValueError("pool size must be at least 1")
        self.data = Path(data)
        self.size = size
        self.budget = budget
        self._idle: queue.LifoQueue[tuple[tuple[int, int], Dataset]] = queue.LifoQueue()
        self._opened = 0
        self._lock = threading.Lock()
        self._closed = False

    def _take(self) -> tuple[tuple[int, int], Dataset]:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            may_open = self._opened < self.size
            if may_open:
                self._opened += 1
        if may_open:
            try:
                stamp = _stamp(self.data)
                return stamp, self._open()
            except BaseException:
                with self._lock:
                    self._opened -= 1
                raise
        return self._idle.get()

    def _open(self) -> Dataset:
        """Open the dataset; with a budget, its DuckDB connection gets an equal share of half
        of it (and spills to ``DATASET/_tmp/duckdb``)."""
        ds = Dataset.open(self.data)
        if self.budget is not None:
            self.budget.apply(ds.con, self.data, fraction=0.5 / self.size)
        return ds

    @contextmanager
    def checkout(self) -> Iterator[Dataset]:
        """A dataset for this thread alone, at the newest manifest."""
        stamp, ds = self._take()
        try:
            now = _stamp(self.data)
            if now != stamp:  # an ingest checkpointed: serve the new tip from now on
                ds.close()
                stamp, ds = now, self._open()
        except BaseException:
            with self._lock:
                self._opened -= 1
            raise
        try:
            yield ds
        finally:
            if self._closed:
                ds.close()
            else:
                self._idle.put((stamp, ds))

    def close(self) -> None:
        """Close the idle datasets (checked-out ones close when returned)."""
        self._closed = True
        while True:
            try:
                _, ds = self._idle.get_nowait()
            except queue.Empty:
                return
            ds.close()


@dataclass
class ServerState:
    """The state of one server (``app.state.server``)."""

    data: Path
    limits: ApiLimits
    users: UserStore
    audit: AuditLog
    run: str | None = None
    allow_stale: bool = False
    pool_size: int = DEFAULT_POOL
    budget: MemoryBudget | None = None
    pool: DatasetPool = field(init=False)
    _memo: OrderedDict[Hashable, Any] = field(init=False, default_factory=OrderedDict)
    _memo_lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _making: dict[Hashable, threading.Lock] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.pool = DatasetPool(self.data, self.pool_size, self.budget)

    def memo(self, key: tuple[Hashable, ...], make: Callable[[], T]) -> T:
        """A value shared by all requests (read-only memmaps, tag indexes, cluster views),
        made once per ``key`` — a tuple whose first item names the kind of value and whose
        others name the files it depends on (their mtimes, the dataset tip). Of each kind the
        most recently used are kept (:data:`MEMO_LIMITS`, else :data:`MEMO_MAX`), so memory
        stays bounded. Two requests never make the same value at once; different values are
        made in parallel."""
        with self._memo_lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                hit: T = self._memo[key]
                return hit
            making = self._making.setdefault(key, threading.Lock())
        with making:
            with self._memo_lock:
                if key in self._memo:
                    done: T = self._memo[key]
                    return done
            value = make()
            with self._memo_lock:
                self._memo[key] = value
                self._evict(key[0])
                self._making.pop(key, None)
            return value

    def _evict(self, kind: Hashable) -> None:
        """Drop the least recently used values of ``kind`` beyond its limit (memo lock held)."""
        limit = MEMO_LIMITS.get(str(kind), MEMO_MAX)
        same = [k for k in self._memo if isinstance(k, tuple) and k[:1] == (kind,)]
        for old in same[: max(0, len(same) - limit)]:
            del self._memo[old]

    @classmethod
    def for_dataset(
        cls,
        data: Path,
        limits: ApiLimits,
        *,
        run: str | None = None,
        allow_stale: bool = False,
        pool_size: int = DEFAULT_POOL,
        budget: MemoryBudget | None = None,
    ) -> ServerState:
        """The state for serving ``data`` (checks it opens; DatasetError when it is not a
        dataset)."""
        data = Path(data)
        Dataset.open(data).close()
        return cls(
            data,
            limits,
            UserStore(users_path(data)),
            AuditLog(audit_path(data)),
            run=run,
            allow_stale=allow_stale,
            pool_size=pool_size,
            budget=budget,
        )

    @contextmanager
    def dataset(self) -> Iterator[Dataset]:
        """``with state.dataset() as ds:`` — a read-only dataset for this thread alone."""
        with self.pool.checkout() as ds:
            yield ds

    def clustering(self, ds: Dataset) -> str | None:
        """The clustering run served: the one named at start, else the newest (None when the
        dataset has none); a stale one is refused (StaleRunError, 409) unless allowed."""
        from chainsleuth.report.annotate import resolve_run

        root = self.data / "derived" / "clusters"
        runs = root.stat().st_mtime_ns if root.is_dir() else None
        key = ("clustering", self.run, runs, ds.tip_hash, _tags_stamp(self.data))
        return self.memo(key, lambda: resolve_run(ds, self.run, allow_stale=self.allow_stale))

    def close(self) -> None:
        """Close the pooled datasets."""
        self.pool.close()


def _tags_stamp(data: Path) -> tuple[int, int] | None:
    try:
        st = (data / "derived" / "tags" / "tags.parquet").stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size


def get_state(request: Request) -> ServerState:
    """The server's state (a dependency: ``state: Annotated[ServerState, Depends(get_state)]``)."""
    state: ServerState = request.app.state.server
    return state
