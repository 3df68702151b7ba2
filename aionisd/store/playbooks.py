"""Playbook lineages and their immutable, signed versions; FTS5 over what a task would mention."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from aionisd import errors
from aionisd.errors import AionisError
from aionisd.model import now
from aionisd.store.db import Database, dumps, like

STATUSES = ("draft", "shadow", "active", "disabled")
AMBIGUOUS_SHOWN = 20  # the lineages an ambiguous ref's error lists
_COLS = (
    "v.playbook_id, p.name, v.version, v.digest, v.status, v.signer, v.keyid, v.envelope, "
    "v.run_id, v.repaired_from, v.created_at"
)


def _row(r: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "id": r[0],
        "name": r[1],
        "version": r[2],
        "digest": r[3],
        "status": r[4],
        "signer": r[5],
        "keyid": r[6],
        "envelope": json.loads(r[7]),
        "run_id": r[8],
        "repaired_from": r[9],
        "created_at": r[10],
    }


def document(row: dict[str, Any]) -> dict[str, Any]:
    """The playbook document inside a stored (already verified-at-write) envelope."""
    doc: dict[str, Any] = json.loads(base64.b64decode(row["envelope"]["payload"]))
    return doc


def insert(
    db: Database,
    *,
    playbook_id: str,
    name: str,
    version: int,
    digest: str,
    status: str,
    signer: str | None,
    keyid: str | None,
    envelope: dict[str, Any],
    doc: dict[str, Any],
    run_id: str | None,
    repaired_from: str | None = None,
) -> None:
    db.conn.execute(
        "INSERT OR IGNORE INTO playbooks(id, name, created_at) VALUES (?,?,?)",
        (playbook_id, name, now()),
    )
    db.conn.execute(
        "INSERT INTO playbook_versions(playbook_id, version, digest, status, signer, keyid, "
        "envelope, run_id, repaired_from, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            playbook_id,
            version,
            digest,
            status,
            signer,
            keyid,
            dumps(envelope),
            run_id,
            repaired_from,
            now(),
        ),
    )
    commands = " ".join(
        s.get("run") or s.get("tool") or "" for s in [*doc.get("steps", []), *doc.get("success", [])]
    )
    files = " ".join(s.get("path", "") for s in doc.get("steps", []) if s.get("path"))
    db.conn.execute(
        "INSERT INTO playbook_fts(playbook_id, version, name, goal, commands, files) VALUES (?,?,?,?,?,?)",
        (
            playbook_id,
            version,
            _words(name),
            doc.get("goal") or "",
            _words(commands),
            _words(files),
        ),
    )


def _words(text: str) -> str:
    """Split identifiers so 'setup-python_project/pyproject.toml' matches 'python project'."""
    return text + " " + re.sub(r"[^0-9A-Za-z]+", " ", text)


def resolve(db: Database, ref: str, version: int | None = None) -> dict[str, Any] | None:
    """A version by lineage id (or unique prefix), unique name, or digest; default the latest
    version. An empty ref names nothing (as a prefix it would name the only playbook); a ref naming
    several lineages is a CONFLICT (see `_lineage`)."""
    if not ref:
        return None
    row = None
    if ref.startswith("sha256:") or re.fullmatch(r"[0-9a-f]{12,64}", ref):
        digest = like(ref if ref.startswith("sha256:") else f"sha256:{ref}")
        rows = db.conn.execute(
            f"SELECT {_COLS} FROM playbook_versions v JOIN playbooks p ON p.id = v.playbook_id "
            "WHERE v.digest LIKE ? ESCAPE '\\' LIMIT 2",
            (digest,),
        ).fetchall()
        if len(rows) == 1:
            return _row(rows[0])
    pid = _lineage(db, ref)
    if pid is None:
        return None
    q = (
        f"SELECT {_COLS} FROM playbook_versions v JOIN playbooks p ON p.id = v.playbook_id "
        "WHERE v.playbook_id = ?"
    )
    if version is not None:
        row = db.conn.execute(q + " AND v.version = ?", (pid, version)).fetchone()
    else:
        row = db.conn.execute(q + " ORDER BY v.version DESC LIMIT 1", (pid,)).fetchone()
    return _row(row) if row else None


def _lineage(db: Database, ref: str) -> str | None:
    """The one lineage `ref` names: an exact id, else the only one whose name is `ref` or whose id
    starts with it. More than one is a CONFLICT listing them, never a quiet pick."""
    if db.one("SELECT 1 FROM playbooks WHERE id = ?", (ref,)) is not None:
        return ref
    rows = db.conn.execute(
        "SELECT p.id, p.name, MAX(v.version) FROM playbooks p JOIN playbook_versions v "
        "ON v.playbook_id = p.id WHERE p.name = ? OR p.id LIKE ? ESCAPE '\\' "
        "GROUP BY p.id ORDER BY p.created_at, p.id LIMIT ?",
        (ref, like(ref), AMBIGUOUS_SHOWN + 1),
    ).fetchall()
    if len(rows) <= 1:
        return str(rows[0][0]) if rows else None
    matches = [{"id": str(i), "name": str(n), "version": int(v)} for i, n, v in rows[:AMBIGUOUS_SHOWN]]  # type: ignore[arg-type]
    listed = ", ".join(f"{m['id']} ({m['name']} v{m['version']})" for m in matches)
    count = f"more than {AMBIGUOUS_SHOWN}" if len(rows) > AMBIGUOUS_SHOWN else str(len(rows))
    raise AionisError(
        errors.CONFLICT,
        f"{ref!r} matches {count} playbooks: {listed}; name one by its id",
        {"ambiguous": ref, "matches": matches},
    )


def by_version(db: Database, playbook_id: str, version: int) -> dict[str, Any] | None:
    """The exact version, by primary key (the hot path of search and list)."""
    row = db.conn.execute(
        f"SELECT {_COLS} FROM playbook_versions v JOIN playbooks p ON p.id = v.playbook_id "
        "WHERE v.playbook_id = ? AND v.version = ?",
        (playbook_id, version),
    ).fetchone()
    return _row(row) if row else None


def replay_default(db: Database, playbook_id: str) -> dict[str, Any] | None:
    """What a replay runs without --version: the latest active version, else the latest draft."""
    for status in ("active", "draft"):
        row = db.conn.execute(
            f"SELECT {_COLS} FROM playbook_versions v JOIN playbooks p ON p.id = v.playbook_id "
            "WHERE v.playbook_id = ? AND v.status = ? ORDER BY v.version DESC LIMIT 1",
            (playbook_id, status),
        ).fetchone()
        if row:
            return _row(row)
    return None


def versions(db: Database, playbook_id: str) -> list[dict[str, Any]]:
    return db.rows(
        "SELECT version, status, digest, signer, keyid, run_id, repaired_from, created_at "
        "FROM playbook_versions WHERE playbook_id = ? ORDER BY version",
        (playbook_id,),
    )


def next_version(db: Database, playbook_id: str) -> int:
    return int(
        db.one(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM playbook_versions WHERE playbook_id = ?",
            (playbook_id,),
        )
    )


def latest(db: Database, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The newest version of each lineage (optionally: the newest with that status)."""
    cond = "WHERE v.status = ?" if status else ""
    params: tuple[Any, ...] = (status, limit) if status else (limit,)
    rows = db.conn.execute(
        f"SELECT {_COLS} FROM playbook_versions v JOIN playbooks p ON p.id = v.playbook_id "
        f"JOIN (SELECT playbook_id, MAX(version) AS mv FROM playbook_versions v {cond} "
        "GROUP BY playbook_id) m ON m.playbook_id = v.playbook_id AND m.mv = v.version "
        "ORDER BY v.created_at DESC LIMIT ?",
        params,
    ).fetchall()
    return [_row(r) for r in rows]


def set_status(db: Database, playbook_id: str, version: int, status: str) -> None:
    db.conn.execute(
        "UPDATE playbook_versions SET status = ? WHERE playbook_id = ? AND version = ?",
        (status, playbook_id, version),
    )


def by_digest(db: Database, digest: str) -> tuple[str, int] | None:
    """(playbook_id, version) of the stored version with this digest, if any."""
    row = db.conn.execute(
        "SELECT playbook_id, version FROM playbook_versions WHERE digest = ?", (digest,)
    ).fetchone()
    return None if row is None else (str(row[0]), int(row[1]))


def has_version(db: Database, playbook_id: str, version: int) -> bool:
    return (
        db.one(
            "SELECT 1 FROM playbook_versions WHERE playbook_id = ? AND version = ?", (playbook_id, version)
        )
        is not None
    )


def ids_named(db: Database, name: str) -> list[str]:
    """Lineages with this name (an import joins one of them when its source matches)."""
    return [str(r[0]) for r in db.conn.execute("SELECT id FROM playbooks WHERE name = ?", (name,))]


def search(
    db: Database, text: str, *, statuses: tuple[str, ...] | None, limit: int = 20
) -> list[tuple[str, int, float]]:
    """(playbook_id, version, bm25 rank) best first; any word may match (OR), ranked by BM25
    with name > goal > commands > files. Ranking runs on the FTS index alone (a join there
    doubles the cost); statuses are filtered afterwards in one keyed lookup."""
    from aionisd.matching import concepts, fts_query

    groups = concepts(text)
    if not groups:
        return []
    query = fts_query(text)
    rows = db.conn.execute(
        "SELECT playbook_id, version, bm25(playbook_fts, 0, 0, 4.0, 3.0, 1.5, 1.0) AS r "
        "FROM playbook_fts WHERE playbook_fts MATCH ? ORDER BY r LIMIT ?",
        (query, max(limit * 5, 50)),
    ).fetchall()
    best: dict[str, tuple[str, int, float]] = {}
    for r in rows:
        key, v, rank = str(r[0]), int(r[1]), float(r[2])  # type: ignore[arg-type]
        if key in best and v <= best[key][1]:
            continue
        if statuses:
            status = db.one(
                "SELECT status FROM playbook_versions WHERE playbook_id = ? AND version = ?", (key, v)
            )
            if status not in statuses:
                continue
        best[key] = (key, v, min(rank, best[key][2]) if key in best else rank)
    return sorted(best.values(), key=lambda x: x[2])[:limit]


def lineage_of_run(db: Database, run_id: str) -> str | None:
    """The lineage first compiled from this run, if any: compiling it again returns that one."""
    pid = db.one(
        "SELECT playbook_id FROM playbook_versions WHERE run_id = ? ORDER BY created_at, version LIMIT 1",
        (run_id,),
    )
    return None if pid is None else str(pid)
