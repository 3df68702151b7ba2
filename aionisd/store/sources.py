"""Watched files: (inode, committed offset, adapter state), written with the events read to it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aionisd.model import now
from aionisd.store.db import Database, dumps

PAGE_MAX = 1000  # sources.list pages at most this many files


@dataclass(slots=True)
class SourceState:
    path: str
    adapter: str
    inode: int | None = None
    offset: int = 0
    size: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    errors: int = 0
    fingerprint: str | None = None  # of the bytes read before `offset` (see watch.Fingerprint)
    skip_from: int | None = None  # where the over-long line being skipped began


def get(db: Database, path: str) -> SourceState | None:
    row = db.conn.execute(
        "SELECT path, adapter, inode, offset, size, state, errors, fingerprint, skip_from "
        "FROM sources WHERE path = ?",
        (path,),
    ).fetchone()
    if row is None:
        return None
    return SourceState(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[6], row[7], row[8])


def save(db: Database, s: SourceState) -> None:
    db.conn.execute(
        "INSERT OR REPLACE INTO sources(path, adapter, inode, offset, size, state, errors, "
        "fingerprint, skip_from, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            s.path,
            s.adapter,
            s.inode,
            s.offset,
            s.size,
            dumps(s.state),
            s.errors,
            s.fingerprint,
            s.skip_from,
            now(),
        ),
    )


def list_sources(db: Database, limit: int = 100, after: str | None = None) -> list[dict[str, Any]]:
    """One page of sources in path order; the next page starts after the last path of this one
    (a cursor, so files updated while a client pages are neither skipped nor repeated)."""
    return db.rows(
        "SELECT path, adapter, offset, size, errors, updated_at FROM sources WHERE path > ? "
        "ORDER BY path LIMIT ?",
        (after or "", max(1, min(limit, PAGE_MAX))),
    )


def summary(db: Database, dirs: list[str]) -> dict[str, Any]:
    """Counts for `status`, whose size must not grow with the number of files watched."""
    row = db.conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(offset < size), 0), COALESCE(SUM(errors > 0), 0) FROM sources"
    ).fetchone()
    assert row is not None  # an aggregate always returns a row
    files, reading, failing = row
    by_dir = {}
    for d in dirs:
        prefix = d.rstrip("/") + "/"
        # A range on the primary key: paths that start with `prefix` ('0' follows '/').
        by_dir[d] = int(
            db.one("SELECT COUNT(*) FROM sources WHERE path >= ? AND path < ?", (prefix, prefix[:-1] + "0"))
        )
    return {"files": int(files), "reading": int(reading), "with_errors": int(failing), "by_dir": by_dir}


def ingest_errors(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    return db.rows("SELECT path, offset, reason, ts FROM ingest_errors ORDER BY id DESC LIMIT ?", (limit,))
