"""Reviews: the signed statement of a person's decision on a repair."""

from __future__ import annotations

from typing import Any

from aionisd.model import now
from aionisd.store.db import Database, dumps


def insert(
    db: Database,
    review_id: str,
    *,
    repair_id: str,
    decision: str,
    reviewer: str,
    note: str | None,
    envelope: dict[str, Any],
    new_version: int | None,
) -> None:
    db.conn.execute(
        "INSERT INTO reviews(id, repair_id, decision, reviewer, note, envelope, new_version, "
        "created_at) VALUES (?,?,?,?,?,?,?,?)",
        (review_id, repair_id, decision, reviewer, note, dumps(envelope), new_version, now()),
    )


def latest(db: Database, repair_id: str) -> dict[str, Any] | None:
    """The newest decision on a repair (decision, reviewer, note, new_version, created_at), if any."""
    rows = db.rows(
        "SELECT decision, reviewer, note, new_version, created_at FROM reviews WHERE repair_id = ? "
        "ORDER BY created_at DESC, rowid DESC LIMIT 1",
        (repair_id,),
    )
    return rows[0] if rows else None
