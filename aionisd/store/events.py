"""The append-only events table: its rowid is the `seq` subscribers see."""

from __future__ import annotations

import json
from typing import Any

from aionisd.store.db import Database, dumps, now


def append(db: Database, kind: str, data: dict[str, Any]) -> int:
    db.conn.execute("INSERT INTO events(kind, ts, data) VALUES (?, ?, ?)", (kind, now(), dumps(data)))
    return int(db.conn.last_insert_rowid())


def since(
    db: Database, since_seq: int, kinds: list[str] | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Events after `since_seq`, oldest first; `kinds` match exactly or by prefix ("replay.")."""
    out = []
    for seq, kind, ts, data in db.conn.execute(
        "SELECT seq, kind, ts, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
        (since_seq, limit if not kinds else limit * 50),
    ):
        if kinds and not matches(kind, kinds):
            continue
        out.append({"seq": seq, "kind": kind, "ts": ts, "data": json.loads(data)})
        if len(out) >= limit:
            break
    return out


def last_seq(db: Database) -> int:
    return int(db.one("SELECT COALESCE(MAX(seq), 0) FROM events"))


def matches(kind: str, kinds: list[str]) -> bool:
    return any(kind == k or (k.endswith(".") and kind.startswith(k)) or k == "*" for k in kinds)
