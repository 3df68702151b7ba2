"""Repairs: patches proposed for a playbook version, with the failure, shadow result and status."""

from __future__ import annotations

import json
from typing import Any

from aionisd.canonical import canonical_bytes
from aionisd.model import now
from aionisd.store.db import Database, dumps


def insert(
    db: Database,
    repair_id: str,
    *,
    playbook_id: str,
    version: int,
    replay_id: str | None,
    step_index: int | None,
    source: str,
    rationale: str,
    patch: list[dict[str, Any]],
    failure: dict[str, Any],
    status: str,
    invalid_reason: str | None,
    usage: dict[str, Any] | None,
) -> None:
    db.conn.execute(
        "INSERT INTO repairs(id, playbook_id, version, replay_id, step_index, source, rationale, "
        "patch, failure, status, invalid_reason, usage, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            repair_id,
            playbook_id,
            version,
            replay_id,
            step_index,
            source,
            rationale,
            dumps(patch),
            dumps(failure),
            status,
            invalid_reason,
            dumps(usage) if usage else None,
            now(),
        ),
    )


def get(db: Database, repair_id: str) -> dict[str, Any] | None:
    """The row with its JSON columns decoded (failure {} and the others None when empty)."""
    rows = db.rows("SELECT * FROM repairs WHERE id = ?", (repair_id,))
    if not rows:
        return None
    r = rows[0]
    for k in ("patch", "failure", "shadow", "usage"):
        r[k] = json.loads(r[k]) if r[k] else ({} if k == "failure" else None)
    return r


def status(db: Database, repair_id: str) -> str | None:
    s = db.one("SELECT status FROM repairs WHERE id = ?", (repair_id,))
    return None if s is None else str(s)


def set_shadow(db: Database, repair_id: str, shadow: dict[str, Any], status: str | None = None) -> None:
    """Store a shadow result (and the status it leads to, when it changes one)."""
    if status is None:
        db.conn.execute("UPDATE repairs SET shadow = ? WHERE id = ?", (dumps(shadow), repair_id))
    else:
        db.conn.execute(
            "UPDATE repairs SET shadow = ?, status = ? WHERE id = ?", (dumps(shadow), status, repair_id)
        )


def decided(db: Database, repair_id: str, status: str) -> None:
    db.conn.execute("UPDATE repairs SET status = ?, decided_at = ? WHERE id = ?", (status, now(), repair_id))


def ids(db: Database, status: str | None, limit: int = 100) -> list[str]:
    """Newest first, optionally only those with `status`."""
    where, params = ("WHERE status = ?", (status, limit)) if status else ("", (limit,))
    return [
        str(r[0])
        for r in db.conn.execute(f"SELECT id FROM repairs {where} ORDER BY created_at DESC LIMIT ?", params)
    ]


def identical(
    db: Database, playbook_id: str, version: int, step_index: int, patch: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The latest repair of this version and failing step with the same patch (compared as
    canonical JSON) that is pending or was decided, with its review note: a repeat is not proposed."""
    key = canonical_bytes(patch)
    for rid, raw in db.conn.execute(
        "SELECT id, patch FROM repairs WHERE playbook_id = ? AND version = ? AND step_index = ? "
        "AND status IN ('pending_review', 'shadow_failed', 'approved', 'rejected') "
        "ORDER BY created_at DESC, id DESC",
        (playbook_id, version, step_index),
    ):
        if canonical_bytes(json.loads(str(raw))) == key:
            found = get(db, str(rid))
            assert found is not None
            found["decision_note"] = db.one(
                "SELECT note FROM reviews WHERE repair_id = ? ORDER BY created_at DESC LIMIT 1", (rid,)
            )
            return found
    return None
