"""Numbered schema migrations. Append only: never edit a migration that has shipped."""

from __future__ import annotations

import apsw

MIGRATIONS: list[tuple[int, str]] = [
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
]

LATEST = MIGRATIONS[-1][0]


def migrate(conn: apsw.Connection) -> list[int]:
    """Apply every migration above the database's user_version, each in its own transaction."""
    applied = []
    row = conn.execute("PRAGMA user_version").fetchone()
    current = int(row[0]) if row else 0
    for number, sql in MIGRATIONS:
        if number <= current:
            continue
        with conn:
            conn.execute(sql)
            conn.execute(f"PRAGMA user_version = {int(number)}")
        applied.append(number)
    return applied
