"""Watched files: (inode, committed offset, adapter state), written with the events read to it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aionisd.store.db import Database, dumps, now


@dataclass(slots=True)
class SourceState:
    path: str
    adapter: str
    inode: int | None = None
    offset: int = 0
    size: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    errors: int = 0


def get(db: Database, path: str) -> SourceState | None:
    row = db.conn.execute(
        "SELECT path, adapter, inode, offset, size, state, errors FROM sources WHERE path = ?",
        (path,),
    ).fetchone()
    if row is None:
        return None
    return SourceState(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[6])


def save(db: Database, s: SourceState) -> None:
    db.conn.execute(
        "INSERT OR REPLACE INTO sources(path, adapter, inode, offset, size, state, errors, "
        "updated_at) VALUES (?,?,?,?,?,?,?,?)",
        (s.path, s.adapter, s.inode, s.offset, s.size, dumps(s.state), s.errors, now()),
    )


def list_sources(db: Database) -> list[dict[str, Any]]:
    return db.rows(
        "SELECT path, adapter, offset, size, errors, updated_at FROM sources ORDER BY updated_at DESC"
    )


def ingest_errors(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    return db.rows("SELECT path, offset, reason, ts FROM ingest_errors ORDER BY id DESC LIMIT ?", (limit,))
