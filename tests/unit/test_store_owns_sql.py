"""Every SQL statement lives in aionisd/store/: a scan of the rest of the code finds none.

The scan is by syntax (ast), not by grep, so a statement in a comment or docstring-like prose does
not count and one split across an f-string does.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests import conftest

ROOT = conftest.ROOT
KEYWORDS = ("SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "PRAGMA",
            "BEGIN", "COMMIT", "ROLLBACK", "WITH")  # fmt: skip
SQL_START = re.compile(rf"\s*({'|'.join(KEYWORDS)})\s")
DB_CALLS = {"execute", "executemany", "fetchone", "fetchall", "one", "rows", "last_insert_rowid"}


def offences(source: str) -> list[tuple[int, str]]:
    """(line, what) for each database call and each string that starts like an SQL statement."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in DB_CALLS:
            found.append((node.lineno, f".{node.func.attr}() call"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_START.match(node.value):
            found.append((node.lineno, f"SQL text {node.value[:40]!r}"))
    return found


def _outside_store() -> list[Path]:
    files = [*ROOT.joinpath("aionisd").rglob("*.py"), *ROOT.joinpath("aionis_tui").rglob("*.py")]
    return [f for f in files if "store" not in f.relative_to(ROOT).parts[1:-1]]


def test_no_sql_outside_the_store() -> None:
    files = _outside_store()
    assert len(files) > 20  # the scan reads the tree, not an empty glob
    bad = [f"{f.relative_to(ROOT)}:{line}: {what}" for f in files for line, what in offences(f.read_text())]
    assert not bad, "SQL outside aionisd/store/ (move it into a store function):\n" + "\n".join(bad)


def test_the_store_is_where_the_sql_is() -> None:
    """The same scan over store/ finds statements: it would see them elsewhere too."""
    store = ROOT / "aionisd" / "store"
    assert sum(len(offences(f.read_text())) for f in store.glob("*.py")) > 50


@given(
    keyword=st.sampled_from(KEYWORDS),
    case=st.sampled_from([str.upper, str.lower, str.title]),
    lead=st.sampled_from(["", " ", "\n    "]),
    rest=st.text(alphabet="abcdefghij_ ,*?()=", min_size=1, max_size=30),
    form=st.sampled_from(["db.conn.execute({q})", "x = {q}", "f({q}, ())", "f(f{q})", "rows = {q}"]),
)
def test_any_statement_is_seen(
    keyword: str, case: Callable[[str], str], lead: str, rest: str, form: str
) -> None:
    """Written as the code base writes SQL (upper case), in any expression, a statement is found;
    lower-case prose ("update the key") is not SQL to the scan."""
    text = lead + case(keyword) + " " + rest
    source = form.format(q=repr(text))
    found = offences(source)
    if case is str.upper or form.startswith("db."):
        assert found, source
    else:
        assert not found, source
