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
