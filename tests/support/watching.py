"""A Service on a real store, native trace lines, and ways to wait on the watcher."""

from __future__ import annotations

import json
from pathlib import Path

import trio

from aionisd.config import Config, WatchConfig
from aionisd.paths import Paths
from aionisd.service import Service
from aionisd.store.db import Database
from aionisd.watch import Watcher

TS = "2026-11-24T10:00:00Z"


def start_line(session: str) -> bytes:
    rec = {"type": "run.start", "run_id": session, "agent": "t", "goal": "g", "cwd": "/w", "ts": TS}
    return json.dumps(rec).encode() + b"\n"


def step_line(session: str, key: str) -> bytes:
    rec = {"type": "step.before", "run_id": session, "step_id": key, "tool": "bash",
           "input": {"command": f"echo {key}"}, "cwd": "/w", "ts": TS}  # fmt: skip
    return json.dumps(rec).encode() + b"\n"


def make_service(root: Path, max_line_bytes: int = 16 * 1024 * 1024) -> Service:
    """A Service on a real SQLite file, as the daemon builds it."""
    paths = Paths(
        config_file=root / "config.toml",
        db=root / "data" / "aionis.db",
        socket=root / "aionisd.sock",
        keys_dir=root / "keys",
        allowed_signers=root / "allowed_signers",
        revoked_keys=root / "revoked_keys",
        traces_dir=root / "traces",
    )
    config = Config(watch=WatchConfig(max_line_bytes=max_line_bytes))
    return Service(config=config, paths=paths, db=Database(paths.db))


def recorded(service: Service) -> dict[str, set[str]]:
    """Step keys per session, as stored."""
    out: dict[str, set[str]] = {}
    for sid, key in service.db.conn.execute(
        "SELECT r.session_id, s.key FROM steps s JOIN runs r ON r.id = s.run_id"
    ):
        out.setdefault(sid, set()).add(key)
    return out


def counts_agree(service: Service) -> bool:
    """Each run's step_count is the number of its stored steps: every step counted once."""
    rows = service.db.conn.execute(
        "SELECT r.step_count, (SELECT COUNT(*) FROM steps s WHERE s.run_id = r.id) FROM runs r"
    ).fetchall()
    return all(a == b for a, b in rows)


async def drain(watcher: Watcher, deadline: float = 20) -> None:
    """Run the watcher's worker until its queue is empty."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watcher.work)
        with trio.fail_after(deadline):
            await watcher.idle.wait()
        nursery.cancel_scope.cancel()
