"""The store: migrations from blank, idempotent migration, 0600 file, merge by key."""

from __future__ import annotations

import stat
from pathlib import Path

import apsw

from aionisd.model import RunEvent, StepEvent, UsageEvent
from aionisd.store import runs
from aionisd.store.db import Database
from aionisd.store.migrations import LATEST, migrate

EXPECTED_TABLES = {
    "audit",
    "events",
    "ingest_errors",
    "playbook_fts",
    "playbook_versions",
    "playbooks",
    "repairs",
    "replays",
    "reviews",
    "run_secrets",
    "runs",
    "sources",
    "steps",
    "usage",
}


def schema(conn: apsw.Connection) -> dict[str, list[str]]:
    out = {}
    for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name NOT LIKE 'playbook_fts_%'"
    ):
        out[name] = [r[1] for r in conn.execute(f"PRAGMA table_info('{name}')")]
    return out


def test_blank_database_migrates_to_the_expected_schema(tmp_path: Path) -> None:
    conn = apsw.Connection(str(tmp_path / "blank.db"))
    assert migrate(conn) == list(range(1, LATEST + 1))
    s = schema(conn)
    assert set(s) == EXPECTED_TABLES
    assert s["events"] == ["seq", "kind", "ts", "data"]
    assert s["sources"][:4] == ["path", "adapter", "inode", "offset"]
    assert s["sources"][-2:] == ["fingerprint", "skip_from"]  # migration 2: rewrites, over-long lines
    assert {"run_id", "key", "seq", "status", "exit_code", "subagent"} <= set(s["steps"])
    assert {"prev_hash", "hash"} <= set(s["audit"])
    assert s["run_secrets"] == ["run_id", "name", "fingerprint"]
    assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST


def test_migrating_twice_is_a_no_op(tmp_path: Path) -> None:
    conn = apsw.Connection(str(tmp_path / "x.db"))
    migrate(conn)
    before = schema(conn)
    assert migrate(conn) == []
    assert schema(conn) == before


def test_database_file_is_private_and_wal(tmp_path: Path) -> None:
    db = Database(tmp_path / "d" / "a.db")
    assert stat.S_IMODE((tmp_path / "d" / "a.db").stat().st_mode) == 0o600
    assert db.one("PRAGMA journal_mode") == "wal"


def test_events_merge_by_key_and_usage_dedupes(tmp_path: Path) -> None:
    db = Database(tmp_path / "a.db")
    evs = [
        RunEvent("s", "claude-code", cwd="/w", ts="2026-01-01T00:00:00Z"),
        StepEvent("s", "k", kind="command", tool="Bash", command="make", status="running"),
        UsageEvent("s", "m1", input_tokens=10, output_tokens=1),
        UsageEvent("s", "m1", input_tokens=10, output_tokens=1),
    ]
    runs.record(db, evs)
    runs.record(db, evs)  # read twice: nothing doubles
    runs.record(db, [StepEvent("s", "k", status="failed", exit_code=2, stderr="x" * 300_000)])
    run = runs.get_run(db, "claude-code:s")
    assert run is not None and len(run.steps) == 1
    st = run.steps[0]
    assert (st.status, st.exit_code, st.command) == ("failed", 2, "make")
    assert st.stderr_size == 300_000 and len(st.stderr) < 140_000
    assert run.tokens.input == 10 and run.tokens.output == 1
    kinds = [k for (k,) in db.conn.execute("SELECT kind FROM events ORDER BY seq")]
    assert kinds.count("run.started") == 1 and kinds.count("step.recorded") == 2


def test_history_with_kinds_finds_a_rare_kind_far_behind(tmp_path: Path) -> None:
    from aionisd.store import events

    db = Database(tmp_path / "e.db")
    with db.tx():
        for _ in range(30_000):
            events.append(db, "step.recorded", {})
        events.append(db, "review.decided", {"x": 1})
    found = events.since(db, 0, ["review."], limit=100)  # a page as small as the pump asks for
    assert [e["kind"] for e in found] == ["review.decided"] and found[0]["seq"] == 30_001
    assert len(events.since(db, 29_990, ["step.recorded", "review.decided"])) == 11
