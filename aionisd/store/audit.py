"""The audit log: append-only, each entry hash-chained to the one before it.

hash = sha256(prev_hash || canonical JSON of the entry), so editing any stored entry breaks
every hash from it on, and `verify` names the first entry that no longer matches.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aionisd.canonical import canonical_bytes
from aionisd.model import now
from aionisd.store.db import Database, dumps, like

GENESIS = "0" * 64
DAEMON = "aionisd"  # the actor of what the daemon does on its own


def _hash(prev: str, seq: int, ts: str, actor: str, action: str, subject: str, data: str) -> str:
    body = canonical_bytes([seq, ts, actor, action, subject, json.loads(data)])
    return hashlib.sha256(prev.encode() + body).hexdigest()


def append(db: Database, action: str, subject: str, data: dict[str, Any], actor: str = DAEMON) -> int:
    """Add an entry (inside the caller's transaction, so it commits with the change it records)."""
    row = db.conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    prev = row[1] if row else GENESIS
    seq = (row[0] if row else 0) + 1
    ts = now()
    text = dumps(data)
    h = _hash(prev, seq, ts, actor, action, subject, text)
    db.conn.execute(
        "INSERT INTO audit(seq, ts, actor, action, subject, data, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?)",
        (seq, ts, actor, action, subject, text, prev, h),
    )
    return seq


def last_data(db: Database, action: str) -> dict[str, Any] | None:
    """The data of the newest entry with exactly this action, if any."""
    text = db.one("SELECT data FROM audit WHERE action = ? ORDER BY seq DESC LIMIT 1", (action,))
    return None if text is None else dict(json.loads(text))


def entries(db: Database, limit: int = 200, action: str | None = None) -> list[dict[str, Any]]:
    where, params = ("WHERE action LIKE ? ESCAPE '\\'", (like(action), limit)) if action else ("", (limit,))
    out = db.rows(
        f"SELECT seq, ts, actor, action, subject, data, hash FROM audit {where} ORDER BY seq DESC LIMIT ?",
        params,
    )
    for e in out:
        e["data"] = json.loads(e["data"])
    return out


def verify(db: Database) -> dict[str, Any]:
    """Recompute the chain from the start: {ok, entries, first_bad}."""
    prev = GENESIS
    n = 0
    for seq, ts, actor, action, subject, data, prev_hash, h in db.conn.execute(
        "SELECT seq, ts, actor, action, subject, data, prev_hash, hash FROM audit ORDER BY seq"
    ):
        n += 1
        try:
            good = prev_hash == prev and h == _hash(prev, seq, ts, actor, action, subject, data)
        except ValueError:
            good = False
        if not good or seq != n:
            return {"ok": False, "entries": n, "first_bad": seq}
        prev = h
    return {"ok": True, "entries": n, "first_bad": None}
