"""The memory budget every stage honours (``--memory-limit`` / ``CHAINSLEUTH_MEMORY_LIMIT``).

A budget is a byte count. The user gives it as a size (``512M``, ``2G``, ``1.5GiB``); without
one it is :data:`DEFAULT_FRACTION` of the machine's RAM. Any size from 64 MiB up is accepted: a
small budget means more spilling to disk, never a refusal. Stages split their budget between
the structures they keep in RAM and hand DuckDB its share (``memory_limit`` plus a temporary
directory under ``DATASET/_tmp/``, which Spark and DuckDB globbing ignore).

>>> parse_size("2G")
2147483648
>>> parse_size("1.5GiB") == 3 * 512 * 1024 * 1024
True
>>> MemoryBudget.from_option("64M").bytes
67108864
"""

from __future__ import annotations

import os
import re
import resource
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainsleuth.errors import InputError
from chainsleuth.store.duck import apply_settings

__all__ = [
    "DEFAULT_FRACTION",
    "ENV_VAR",
    "MIN_BUDGET",
    "MemoryBudget",
    "anon_peak_bytes",
    "mappable_bytes",
    "parse_size",
    "peak_rss_bytes",
    "sample_anon_peak",
]

ENV_VAR = "CHAINSLEUTH_MEMORY_LIMIT"
DEFAULT_FRACTION = 0.6
MIN_BUDGET = 64 << 20
TMP_DIR = "_tmp"

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes in a size such as ``"2G"``, ``"512MiB"``, ``"64m"`` or ``"1048576"``.

    Units are powers of 1024. InputError names the text when it is not a size.

    >>> parse_size("512MiB") == 512 << 20
    True
    """
    m = _SIZE.match(text)
    if m is None:
        raise InputError(f"not a size (use e.g. 512M or 2G): {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def _machine_ram() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 << 30


@dataclass(frozen=True, slots=True)
class MemoryBudget:
    """A stage's RAM budget in bytes, and how it was chosen (``option``, ``env`` or ``default``).

    >>> b = MemoryBudget.from_option("1G")
    >>> (b.bytes, b.source, b.share(0.25))
    (1073741824, 'option', 268435456)
    """

    bytes: int
    source: str

    @classmethod
    def from_option(cls, text: str | None) -> MemoryBudget:
        """The budget from ``--memory-limit`` text, else the environment, else the default."""
        if text is None:
            env = os.environ.get(ENV_VAR)
            if env:
                sample_anon_peak()
                return cls(max(parse_size(env), MIN_BUDGET), "env")
            budget = cls(max(int(_machine_ram() * DEFAULT_FRACTION), MIN_BUDGET), "default")
        else:
            budget = cls(max(parse_size(text), MIN_BUDGET), "option")
        sample_anon_peak()
        return budget

    def share(self, fraction: float) -> int:
        """``fraction`` of the budget, in whole bytes."""
        return int(self.bytes * fraction)

    def duckdb_settings(self, data: Path, fraction: float = 0.5) -> dict[str, Any]:
        """DuckDB settings that keep a connection inside ``fraction`` of the budget.

        Spill files go to ``DATASET/_tmp/duckdb`` (created).

        >>> s = MemoryBudget(1 << 30, "option").duckdb_settings(Path("/tmp/x"))
        >>> s["memory_limit"], s["temp_directory"].endswith("_tmp/duckdb")
        ('512MiB', True)
        """
        tmp = data / TMP_DIR / "duckdb"
        tmp.mkdir(parents=True, exist_ok=True)
        limit_mib = max(self.share(fraction) >> 20, 32)
        return {"memory_limit": f"{limit_mib}MiB", "temp_directory": str(tmp)}

    def apply(self, con: Any, data: Path, fraction: float = 0.5) -> None:
        """Set :meth:`duckdb_settings` on a DuckDB connection (``fraction`` of the budget;
        :func:`chainsleuth.store.duck.apply_settings` sets them).

        >>> from chainsleuth.store.dataset import Dataset
        >>> from chainsleuth.store.duck import current_setting
        >>> with Dataset.open(ds.path) as d:  # ds: the regtest chain
        ...     MemoryBudget(1 << 30, "option").apply(d.con, tmp)
        ...     current_setting(d.con, "memory_limit")
        '512.0 MiB'
        """
        apply_settings(con, self.duckdb_settings(data, fraction))

    def report(self) -> str:
        """One line for the log: the peak RSS so far (and the anonymous peak, where sampled)
        against the budget.

        >>> MemoryBudget(1 << 30, "option").report().startswith("peak memory ")
        True
        """
        limit = f"{self.bytes / (1 << 20):,.0f} MiB"
        return f"peak memory {peak_text()} (budget {limit}, {self.source})"

    def __str__(self) -> str:
        return f"{self.bytes / (1 << 30):.2f} GiB ({self.source})"


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far: ``VmHWM`` of ``/proc/self/status`` where
    there is one (``ru_maxrss`` also keeps the high-water mark of the process it was forked
    from, before ``exec``: a child of a large parent would report the parent's size), else
    ``ru_maxrss`` (Linux reports KiB).

    >>> peak_rss_bytes() > 0
    True
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def peak_text() -> str:
    """The peak RSS in MiB and, where sampled, the anonymous part of it: the process's own
    memory, the rest being pages of memory-mapped files the kernel writes back and drops when
    memory is short (an RSS above the budget with an anonymous peak inside it is not a breach).

    >>> peak_text().endswith(" MiB") or "anonymous" in peak_text()
    True
    """
    text = f"{peak_rss_bytes() / (1 << 20):,.0f} MiB"
    anon = anon_peak_bytes()
    if anon is not None:
        text += f", of which {anon / (1 << 20):,.0f} MiB anonymous"
    return text


def _rss_anon() -> int | None:
    """``RssAnon`` of ``/proc/self/status`` in bytes (None where there is none)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class _AnonSampler(threading.Thread):
    """Reads ``RssAnon`` every ``interval`` seconds and keeps the largest (the kernel keeps a
    high-water mark of the whole RSS only). One daemon thread per process; a few µs a read."""

    def __init__(self, interval: float) -> None:
        super().__init__(name="chainsleuth-anon-peak", daemon=True)
        self.interval = interval
        self.peak = _rss_anon() or 0
        self.pid = os.getpid()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            now = _rss_anon()
            if now is not None and now > self.peak:
                self.peak = now


_SAMPLER: _AnonSampler | None = None
_SAMPLER_LOCK = threading.Lock()


def sample_anon_peak(interval: float = 0.2) -> None:
    """Start sampling this process's anonymous memory (once per process; a no-op where
    ``/proc`` has no ``RssAnon``). Every stage's budget starts it.

    >>> sample_anon_peak(); anon_peak_bytes() is None or anon_peak_bytes() > 0
    True
    """
    global _SAMPLER
    with _SAMPLER_LOCK:
        if _SAMPLER is not None and _SAMPLER.pid == os.getpid() and _SAMPLER.is_alive():
            return
        if _rss_anon() is None:
            return
        _SAMPLER = _AnonSampler(interval)
        _SAMPLER.start()


def anon_peak_bytes() -> int | None:
    """The largest ``RssAnon`` sampled so far in this process, including now (None when not
    sampling).

    >>> sample_anon_peak(); (anon_peak_bytes() or 1) > 0
    True
    """
    sampler = _SAMPLER
    if sampler is None or sampler.pid != os.getpid():
        return None
    now = _rss_anon() or 0
    sampler.peak = max(sampler.peak, now)
    return sampler.peak


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _cgroup_room() -> int | None:
    """Bytes left under this process's memory cgroup limit (v2 ``memory.max``, v1
    ``memory.limit_in_bytes``; page cache is charged to it), None without a limit."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _id, controllers, path = line.split(":", 2)
        if controllers == "":
            base = Path("/sys/fs/cgroup") / path.lstrip("/")
            limit_file, usage_file = base / "memory.max", base / "memory.current"
        elif "memory" in controllers.split(","):
            base = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            limit_file, usage_file = base / "memory.limit_in_bytes", base / "memory.usage_in_bytes"
        else:
            continue
        try:
            limit_text = limit_file.read_text().strip()
            usage = int(usage_file.read_text().strip())
        except (OSError, ValueError):
            continue
        if limit_text == "max" or int(limit_text) >= 1 << 60:
            continue
        return max(int(limit_text) - usage, 0)
    return None


def mappable_bytes() -> int:
    """How many bytes of memory-mapped scratch the page cache can hold now: the machine's
    ``MemAvailable``, less what this process's memory cgroup still allows where that is
    smaller (a cgroup charges page cache to the limit). Randomly accessed mapped arrays larger
    than this thrash; a stage then takes its sequential, spilling path instead.

    >>> mappable_bytes() >= 0
    True
    """
    room = [r for r in (_meminfo_available(), _cgroup_room()) if r is not None]
    return min(room) if room else 0
