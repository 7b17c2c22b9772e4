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
    "parse_size",
    "peak_rss_bytes",
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
                return cls(max(parse_size(env), MIN_BUDGET), "env")
            return cls(max(int(_machine_ram() * DEFAULT_FRACTION), MIN_BUDGET), "default")
        return cls(max(parse_size(text), MIN_BUDGET), "option")

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
        """One line for the log: the peak RSS so far against the budget.

        >>> MemoryBudget(1 << 30, "option").report().startswith("peak memory ")
        True
        """
        return (
            f"peak memory {peak_rss_bytes() / (1 << 20):,.0f} MiB "
            f"(budget {self.bytes / (1 << 20):,.0f} MiB, {self.source})"
        )

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
