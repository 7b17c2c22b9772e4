"""DuckDB connection settings: the memory limit and spill directory a stage's budget gives.

:meth:`chainsleuth.budget.MemoryBudget.duckdb_settings` says what the values are; this module
is where they are set on a connection. Only the settings named in :data:`SETTINGS` are set,
and their values go in as query parameters.

>>> import duckdb, tempfile
>>> con = duckdb.connect()
>>> apply_settings(con, {"memory_limit": "512MiB", "temp_directory": tempfile.mkdtemp()})
>>> current_setting(con, "memory_limit")
'512.0 MiB'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

__all__ = ["SETTINGS", "apply_settings", "current_setting"]

SETTINGS = ("memory_limit", "temp_directory")
"""The DuckDB settings a memory budget sets (the only names :func:`apply_settings` takes)."""


def _checked(name: str) -> str:
    if name not in SETTINGS:
        raise ValueError(f"not a budget setting: {name!r} (valid: {', '.join(SETTINGS)})")
    return name


def apply_settings(con: duckdb.DuckDBPyConnection, settings: Mapping[str, str]) -> None:
    """``SET name = value`` on ``con`` for every entry, in order (names from :data:`SETTINGS`).

    >>> import duckdb
    >>> con = duckdb.connect()
    >>> apply_settings(con, {"memory_limit": "64MiB"})
    >>> current_setting(con, "memory_limit")
    '64.0 MiB'
    >>> apply_settings(con, {"threads": "1"})
    Traceback (most recent call last):
    ValueError: not a budget setting: 'threads' (valid: memory_limit, temp_directory)
    """
    for name, value in settings.items():
        con.execute(f"SET {_checked(name)} = ?", [value]).fetchall()


def current_setting(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """The value ``con`` shows for a setting of :data:`SETTINGS` (DuckDB's own spelling).

    >>> import duckdb
    >>> current_setting(duckdb.connect(), "temp_directory") is not None
    True
    """
    row = con.execute(f"SELECT current_setting('{_checked(name)}')").fetchone()
    assert row is not None
    return str(row[0])
