"""The append-only events table: its rowid is the `seq` subscribers see."""

from __future__ import annotations

import json
from typing import Any

from aionisd.model import now
from aionisd.store.db import Database, dumps


def append(db: Database, kind: str, data: dict[str, Any]) -> int:
    db.conn.execute("INSERT INTO events(kind, ts, data) VALUES (?, ?, ?)", (kind, now(), dumps(data)))
    return int(db.conn.last_insert_rowid())


def since(
    db: Database, since_seq: int, kinds: list[str] | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Events after `since_seq`, oldest first; `kinds` match exactly or by prefix ("replay.").
    The filter runs in SQL, so a rare kind far behind many others is still found."""
    where, params = _kind_filter(kinds)
    return [
        {"seq": seq, "kind": kind, "ts": ts, "data": json.loads(data)}
        for seq, kind, ts, data in db.conn.execute(
            f"SELECT seq, kind, ts, data FROM events WHERE seq > ? {where} ORDER BY seq LIMIT ?",
            (since_seq, *params, limit),
        )
    ]


def _kind_filter(kinds: list[str] | None) -> tuple[str, list[Any]]:
    if not kinds or "*" in kinds:
        return "", []
    exact = [k for k in kinds if not k.endswith(".")]
    prefixes = [k for k in kinds if k.endswith(".")]
    parts = [f"kind IN ({','.join('?' * len(exact))})"] if exact else []
    parts += ["substr(kind, 1, ?) = ?"] * len(prefixes)
    params: list[Any] = [*exact]
    for k in prefixes:
        params += [len(k), k]
    return f"AND ({' OR '.join(parts)})", params


def last_seq(db: Database) -> int:
    return int(db.one("SELECT COALESCE(MAX(seq), 0) FROM events"))


def matches(kind: str, kinds: list[str]) -> bool:
    return any(kind == k or (k.endswith(".") and kind.startswith(k)) or k == "*" for k in kinds)
