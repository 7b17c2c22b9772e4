"""The package's layout: SQL and DuckDB live in ``store/`` only.

Every module under ``src/chainsleuth`` outside ``store/`` reaches the data through the store's
named query functions: none imports duckdb or calls ``.execute(``/``.sql(``/``.query(`` (on a
connection, a cursor or a :class:`~chainsleuth.store.dataset.Dataset`), and none holds SQL
text. The source is read with ``ast``, so docstrings and comments do not count.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "chainsleuth"
SQL_METHODS = frozenset({"execute", "sql", "query"})
SQL_TEXT = re.compile(
    r"^\s*(SELECT|WITH|CREATE|INSERT|UPDATE|DELETE|COPY|SET|PRAGMA|ATTACH|DROP|ALTER)\s"
)
# Modules that still compose SQL text (run through ``store.tagtables.query_arrow``); they are
# to move into ``store/tagtables.py``. Shrink this set as they move; never grow it.
SQL_TEXT_PENDING: frozenset[str] = frozenset()


def _outside_store() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] != "store")


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def database_uses(source: str) -> list[str]:
    """``line: what`` for every duckdb import and every ``.execute``/``.sql``/``.query`` call.

    >>> database_uses("import duckdb\\nrows = ds.sql('SELECT 1').fetchall()\\nx.sqlite()")
    ['1: import duckdb', '2: .sql()']
    """
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        if any(n == "duckdb" or n.startswith("duckdb.") for n in names):
            found.append(f"{node.lineno}: import duckdb")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SQL_METHODS
        ):
            found.append(f"{node.lineno}: .{node.func.attr}()")
    return sorted(found, key=lambda s: int(s.split(":")[0]))


def sql_texts(source: str) -> list[str]:
    """``line: text`` for every string constant (docstrings aside) that starts like SQL.

    >>> sql_texts("'''SELECT in a docstring.'''\\nq = 'SELECT a FROM t'\\nhelp = 'Select one'")
    ['2: SELECT a FROM t']
    """
    tree = ast.parse(source)
    skip = _docstrings(tree)
    return [
        f"{node.lineno}: {node.value.strip()[:60]}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in skip
        and SQL_TEXT.match(node.value)
    ]


def test_the_checks_see_what_they_look_for() -> None:
    source = (
        "from duckdb import connect\n"
        "import duckdb.typing as t\n"
        "def f(ds, con):\n"
        "    '''SELECT in a docstring is fine.'''\n"
        "    con.cursor().execute('SET memory_limit = ?', ['1GB'])\n"
        "    ds.con.query('SELECT 1')\n"
        "    return ds.sql(f'SELECT {1}').fetchall()\n"
    )
    assert database_uses(source) == [
        "1: import duckdb",
        "2: import duckdb",
        "5: .execute()",
        "6: .query()",
        "7: .sql()",
    ]
    assert [t.split(":")[0] for t in sql_texts(source)] == ["5", "6", "7"]


def test_only_store_imports_duckdb_or_runs_sql() -> None:
    found = [
        f"{path.relative_to(PACKAGE)}:{use}"
        for path in _outside_store()
        for use in database_uses(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "move these into a query function in store/:\n" + "\n".join(found)


def test_only_store_holds_sql_text() -> None:
    found: dict[str, list[str]] = {}
    for path in _outside_store():
        texts = sql_texts(path.read_text(encoding="utf-8"))
        if texts:
            found[path.relative_to(PACKAGE).as_posix()] = texts
    new = {k: v for k, v in found.items() if k not in SQL_TEXT_PENDING}
    assert new == {}, "move this SQL into a query function in store/"
    moved = SQL_TEXT_PENDING - set(found)
    assert not moved, f"no SQL left in {sorted(moved)}: remove them from SQL_TEXT_PENDING"
