"""Numbered schema migrations. Append only: never edit a migration that has shipped.

A migration is SQL, or a function of the connection when rows must be rewritten in Python.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw


def _redact_at_rest(conn: apsw.Connection) -> bool:
    """Secrets recorded before ingest redacted them: rewrite every run's steps, goal and events
    the way ingest now writes them, and keep each name's keyed fingerprint. True if it did."""
    from aionisd.secrets import Vault, install_key, redact

    conn.execute(
        """
        CREATE TABLE run_secrets (
            run_id TEXT NOT NULL,
            name TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            PRIMARY KEY (run_id, name)
        ) WITHOUT ROWID;
        """
    )
    runs: list[tuple[str, str | None]] = [
        (str(r[0]), r[1]) for r in conn.execute("SELECT id, goal FROM runs")
    ]
    if not runs and not conn.execute("SELECT 1 FROM ingest_errors LIMIT 1").fetchone():
        return False
    key = install_key(Path(conn.filename).parent)
    for rid, goal in runs:
        vault = Vault(key=key)
        rows: list[tuple[Any, ...]] = conn.execute(
            "SELECT key, command, input, cwd, stdout, stderr FROM steps WHERE run_id = ? ORDER BY seq",
            (rid,),
        ).fetchall()
        for text in [goal, *(t for r in rows for t in r[1:])]:
            vault.collect(text or "")
        if not vault.names:
            continue
        conn.execute("UPDATE runs SET goal = ? WHERE id = ?", (goal and vault.redact(goal), rid))
        conn.executemany(
            "UPDATE steps SET command = ?, input = ?, cwd = ?, stdout = ?, stderr = ? "
            "WHERE run_id = ? AND key = ?",
            [(*(t if t is None else vault.redact(t) for t in r[1:]), rid, r[0]) for r in rows],
        )
        conn.executemany(
            "INSERT INTO run_secrets VALUES (?,?,?)", [(rid, n, fp) for fp, n in vault.prints.items()]
        )
        _redact_events(conn, "data LIKE ?", (f'%"{rid}"%',), vault.redact)
    for rowid, reason in conn.execute("SELECT id, reason FROM ingest_errors").fetchall():
        conn.execute("UPDATE ingest_errors SET reason = ? WHERE id = ?", (redact(str(reason)), rowid))
    _redact_events(conn, "kind = 'ingest.error'", (), redact)
    return True


def _redact_events(
    conn: apsw.Connection, where: str, args: tuple[Any, ...], fn: Callable[[str], str]
) -> None:
    from aionisd.params import walk_strings

    for seq, data in conn.execute(f"SELECT seq, data FROM events WHERE {where}", args).fetchall():
        fixed = json.dumps(walk_strings(json.loads(str(data)), fn), separators=(",", ":"), ensure_ascii=False)
        if fixed != data:
            conn.execute("UPDATE events SET data = ? WHERE seq = ?", (fixed, seq))


Migration = str | Callable[[apsw.Connection], bool]  # a function says whether it rewrote rows


def _codex_patches_as_file_steps(conn: apsw.Connection) -> bool:
    """Codex patches recorded before the adapter parsed them (`{patch, paths}` edits, or an
    `apply_patch <<EOF` command) become the file steps the adapter now records, so old runs
    compile as new ones do (the compiler reads one normalised shape)."""
    from aionisd.agents.codex import RUN_AGENT, is_patch, patch_step

    rows = conn.execute(
        "SELECT s.run_id, s.key, s.kind, s.command, s.input FROM steps s JOIN runs r ON r.id = s.run_id "
        "WHERE r.agent = ? AND (s.input LIKE '%\"patch\"%' OR s.command LIKE '%*** Begin Patch%')",
        (RUN_AGENT,),
    ).fetchall()
    for run_id, key, kind, command, raw in rows:
        old = json.loads(str(raw or "{}"))
        if kind == "file_edit" and isinstance(old.get("patch"), str):
            new_kind, new = patch_step(old["patch"])
        elif kind == "command" and isinstance(command, str) and is_patch(command):
            new_kind, new = patch_step(command)
        else:
            continue
        conn.execute(
            "UPDATE steps SET kind = ?, input = ?, command = NULL WHERE run_id = ? AND key = ?",
            (new_kind, json.dumps(new, ensure_ascii=False), run_id, key),
        )
    return False


MIGRATIONS: list[tuple[int, Migration]] = [
    (
        1,
        """
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            ts TEXT NOT NULL,
            data TEXT NOT NULL
        );
        CREATE INDEX events_kind ON events(kind, seq);

        CREATE TABLE sources (
            path TEXT PRIMARY KEY,
            adapter TEXT NOT NULL,
            inode INTEGER,
            offset INTEGER NOT NULL DEFAULT 0,
            size INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL DEFAULT '{}',
            errors INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT
        );
        CREATE TABLE ingest_errors (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL,
            offset INTEGER NOT NULL,
            reason TEXT NOT NULL,
            ts TEXT NOT NULL
        );

        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            agent TEXT NOT NULL,
            session_id TEXT NOT NULL,
            cwd TEXT,
            git_branch TEXT,
            goal TEXT,
            model TEXT,
            status TEXT NOT NULL DEFAULT 'running',
            started_at TEXT,
            ended_at TEXT,
            tokens_input INTEGER NOT NULL DEFAULT 0,
            tokens_output INTEGER NOT NULL DEFAULT 0,
            tokens_cache_creation INTEGER NOT NULL DEFAULT 0,
            tokens_cache_read INTEGER NOT NULL DEFAULT 0,
            source_path TEXT,
            playbook_id TEXT,
            playbook_version INTEGER,
            step_count INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX runs_started ON runs(started_at);
        CREATE TABLE steps (
            run_id TEXT NOT NULL REFERENCES runs(id),
            key TEXT NOT NULL,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            tool TEXT NOT NULL,
            command TEXT,
            input TEXT NOT NULL DEFAULT '{}',
            cwd TEXT,
            status TEXT NOT NULL,
            exit_code INTEGER,
            started_at TEXT,
            ended_at TEXT,
            duration_ms INTEGER,
            stdout TEXT NOT NULL DEFAULT '',
            stderr TEXT NOT NULL DEFAULT '',
            stdout_size INTEGER NOT NULL DEFAULT 0,
            stderr_size INTEGER NOT NULL DEFAULT 0,
            subagent INTEGER NOT NULL DEFAULT 0,
            shell TEXT,
            PRIMARY KEY (run_id, key)
        ) WITHOUT ROWID;
        CREATE INDEX steps_seq ON steps(run_id, seq);
        CREATE TABLE usage (
            run_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            input INTEGER NOT NULL,
            output INTEGER NOT NULL,
            cache_creation INTEGER NOT NULL,
            cache_read INTEGER NOT NULL,
            cumulative INTEGER NOT NULL,
            PRIMARY KEY (run_id, message_id)
        ) WITHOUT ROWID;

        CREATE TABLE playbooks (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE playbook_versions (
            playbook_id TEXT NOT NULL REFERENCES playbooks(id),
            version INTEGER NOT NULL,
            digest TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL,
            signer TEXT,
            keyid TEXT,
            envelope TEXT NOT NULL,
            run_id TEXT,
            repaired_from TEXT,
            created_at TEXT NOT NULL,
            PRIMARY KEY (playbook_id, version)
        );
        CREATE VIRTUAL TABLE playbook_fts USING fts5(
            playbook_id UNINDEXED, version UNINDEXED, name, goal, commands, files,
            tokenize = 'porter unicode61'
        );

        CREATE TABLE replays (
            id TEXT PRIMARY KEY,
            playbook_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            mode TEXT NOT NULL,
            status TEXT NOT NULL,
            reason TEXT,
            workdir TEXT,
            run_id TEXT,
            result TEXT NOT NULL DEFAULT '{}',
            started_at TEXT NOT NULL,
            ended_at TEXT
        );
        CREATE INDEX replays_playbook ON replays(playbook_id, status);

        CREATE TABLE repairs (
            id TEXT PRIMARY KEY,
            playbook_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            replay_id TEXT,
            step_index INTEGER,
            source TEXT NOT NULL,
            rationale TEXT NOT NULL DEFAULT '',
            patch TEXT NOT NULL,
            failure TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL,
            invalid_reason TEXT,
            shadow TEXT,
            usage TEXT,
            created_at TEXT NOT NULL,
            decided_at TEXT
        );
        CREATE INDEX repairs_status ON repairs(status, created_at);
        CREATE TABLE reviews (
            id TEXT PRIMARY KEY,
            repair_id TEXT NOT NULL REFERENCES repairs(id),
            decision TEXT NOT NULL,
            reviewer TEXT,
            note TEXT,
            envelope TEXT NOT NULL,
            new_version INTEGER,
            created_at TEXT NOT NULL
        );

        CREATE TABLE audit (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT NOT NULL,
            data TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        """,
    ),
    (
        2,
        """
        -- What was read of a watched file, to tell an append from a rewrite in place (same inode),
        -- and where an over-long line being skipped began (NULL when not skipping).
        ALTER TABLE sources ADD COLUMN fingerprint TEXT;
        ALTER TABLE sources ADD COLUMN skip_from INTEGER;
        """,
    ),
    (3, _redact_at_rest),
    (4, _codex_patches_as_file_steps),
]

LATEST = MIGRATIONS[-1][0]


def migrate(conn: apsw.Connection) -> list[int]:
    """Apply every migration above the database's user_version, each in its own transaction."""
    applied = []
    rewrote = False
    row = conn.execute("PRAGMA user_version").fetchone()
    current = int(row[0]) if row else 0
    for number, step in MIGRATIONS:
        if number <= current:
            continue
        with conn:
            if isinstance(step, str):
                conn.execute(step)
            else:
                rewrote = step(conn) or rewrote
            conn.execute(f"PRAGMA user_version = {int(number)}")
        applied.append(number)
    if rewrote:
        _forget_old_pages(conn)
    return applied


def _forget_old_pages(conn: apsw.Connection) -> None:
    """Rows rewritten by a migration may leave their old bytes in free pages and the WAL:
    rebuild the file and empty the WAL, so what was redacted is gone from the disk too."""
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # a no-op without a WAL
