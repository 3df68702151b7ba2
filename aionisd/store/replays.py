"""Replays: one row per replay started or refused, closed with its result when it ends."""

from __future__ import annotations

import json
from typing import Any

from aionisd.model import now
from aionisd.store.db import Database, dumps


def start(
    db: Database, replay_id: str, *, playbook_id: str, version: int, mode: str, workdir: str, run_id: str
) -> None:
    db.conn.execute(
        "INSERT INTO replays(id, playbook_id, version, mode, status, workdir, run_id, started_at) "
        "VALUES (?,?,?,?,?,?,?,?)",
        (replay_id, playbook_id, version, mode, "running", workdir, run_id, now()),
    )


def refuse(
    db: Database,
    replay_id: str,
    *,
    playbook_id: str,
    version: int,
    mode: str,
    workdir: str,
    reason: str,
    code: int,
) -> None:
    """A replay refused before its first step: started and ended at once, with the error code."""
    ts = now()
    db.conn.execute(
        "INSERT INTO replays(id, playbook_id, version, mode, status, reason, workdir, result, "
        "started_at, ended_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (replay_id, playbook_id, version, mode, "refused", reason, workdir, dumps({"code": code}), ts, ts),
    )


def finish(db: Database, replay_id: str, status: str, reason: str, result: dict[str, Any]) -> str | None:
    """Close the row; returns the replay's mode (None for an unknown id)."""
    db.conn.execute(
        "UPDATE replays SET status = ?, reason = ?, result = ?, ended_at = ? WHERE id = ?",
        (status, reason, dumps(result), now(), replay_id),
    )
    mode = db.one("SELECT mode FROM replays WHERE id = ?", (replay_id,))
    return None if mode is None else str(mode)


def running_ids(db: Database) -> list[str]:
    """Replays still marked running: at start, the ones a stopped daemon left behind."""
    return [str(r[0]) for r in db.conn.execute("SELECT id FROM replays WHERE status = 'running'")]


def workdir(db: Database, replay_id: str) -> str | None:
    wd = db.one("SELECT workdir FROM replays WHERE id = ?", (replay_id,))
    return None if wd is None else str(wd)


def get(db: Database, replay_id: str) -> dict[str, Any] | None:
    """The row with its playbook's name and its result decoded."""
    rows = db.rows(
        "SELECT r.*, p.name FROM replays r LEFT JOIN playbooks p ON p.id = r.playbook_id WHERE r.id = ?",
        (replay_id,),
    )
    if not rows:
        return None
    row = rows[0]
    row["result"] = json.loads(row["result"] or "{}")
    return row


def recent(db: Database, limit: int = 50) -> list[dict[str, Any]]:
    return db.rows(
        "SELECT r.id AS replay_id, r.playbook_id, r.version, p.name, r.mode, r.status, r.reason, "
        "r.workdir, r.started_at, r.ended_at FROM replays r LEFT JOIN playbooks p "
        "ON p.id = r.playbook_id ORDER BY r.started_at DESC LIMIT ?",
        (limit,),
    )


def stats(db: Database, playbook_id: str) -> tuple[int, int]:
    """(replays run, replays succeeded) of a lineage; simulations are not runs."""
    row = db.conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(status = 'succeeded'), 0) FROM replays "
        "WHERE playbook_id = ? AND mode != 'simulate'",
        (playbook_id,),
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def per_playbook(db: Database) -> list[dict[str, Any]]:
    """Per lineage: its first version's source run, replays run and succeeded, and the mean
    duration of the successful ones (ms)."""
    return db.rows(
        "SELECT p.id, p.name, v.run_id, COUNT(r.id) AS replays, "
        "COALESCE(SUM(r.status = 'succeeded'), 0) AS succeeded, "
        "AVG(CASE WHEN r.status = 'succeeded' THEN "
        "(julianday(r.ended_at) - julianday(r.started_at)) * 86400000 END) AS replay_mean_ms "
        "FROM playbooks p JOIN playbook_versions v ON v.playbook_id = p.id AND v.version = 1 "
        "LEFT JOIN replays r ON r.playbook_id = p.id AND r.mode != 'simulate' "
        "GROUP BY p.id ORDER BY replays DESC, p.created_at DESC"
    )
