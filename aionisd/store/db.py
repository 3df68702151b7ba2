"""The one SQLite file: opened 0600, WAL, migrated on open."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import apsw

from aionisd.store.migrations import migrate


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


LIKE_MAX = 1024  # characters: longer than any id, name or action we store


def like(text: str, *, before: str = "", after: str = "%") -> str | None:
    """A LIKE pattern (use with ESCAPE '\\') matching `text` literally between the wildcards
    `before` and `after`; None for an empty or overlong text, which matches nothing (an empty one
    would match everything, an overlong one is past SQLite's pattern limit)."""
    if not text or len(text) > LIKE_MAX:
        return None
    return before + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + after


class StoreError(Exception):
    """The database file cannot be used: one line naming it and what to do."""


_CORRUPT = (apsw.NotADBError, apsw.CorruptError)


class Database:
    """A connection plus the transaction helper every aggregate module uses."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not path.exists():
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
                os.close(fd)
            self.conn = apsw.Connection(str(path))
            try:
                self.conn.setbusytimeout(5000)
                self.conn.execute("PRAGMA journal_mode = WAL")
                self.conn.execute("PRAGMA synchronous = NORMAL")
                self.conn.execute("PRAGMA foreign_keys = ON")
                migrate(self.conn)
            except BaseException:
                self.conn.close()
                raise
        except _CORRUPT as e:
            raise self._corrupt(str(e)) from None
        except (apsw.Error, OSError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise StoreError(
                f"cannot open the database {path} ({reason}); check the path and its permissions, "
                "or give another with --db"
            ) from None

    def _corrupt(self, detail: str) -> StoreError:
        detail = " ".join(detail.split())  # SQLite's reports span lines; the user gets one
        return StoreError(
            f"{self.path} is corrupt ({detail}); move it aside and restart, or restore a backup"
        )

    def quick_check(self) -> None:
        """SQLite's own check of every page (not of the indexes' contents): run once at start, so
        a damaged file is reported before it is written to, not at some later query."""
        try:
            problems = [r[0] for r in self.conn.execute("PRAGMA quick_check(3)")]
        except _CORRUPT as e:
            raise self._corrupt(f"quick_check: {e}") from None
        if problems != ["ok"]:
            raise self._corrupt("quick_check: " + "; ".join(str(x) for x in problems))

    @contextmanager
    def tx(self) -> Iterator[apsw.Connection]:
        """A write transaction (BEGIN IMMEDIATE: writers queue on the busy timeout, not fail midway)."""
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            if self.conn.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def one(self, sql: str, params: Any = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def rows(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, params)
        try:
            names = [d[0] for d in cur.getdescription()]
        except apsw.ExecutionCompleteError:
            return []
        return [dict(zip(names, r, strict=True)) for r in cur]

    def close(self) -> None:
        self.conn.close()
