"""Daemon RSS idle with 1,000,000 steps stored (goal <= 80 MB): the store stays on disk, not in
the daemon's memory. The rows are written with plain SQL (fixture set-up, not what is measured)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from bench.common import daemon, figure, main, rss_mb, socket_path, xdg_tree

STEPS = int(os.environ.get("AIONIS_BENCH_STEPS", "1000000"))
PER_RUN = 1000


def populate(env: dict[str, str]) -> None:
    from aionisd.paths import Paths
    from aionisd.store.db import Database

    os.environ.update(env)
    db = Database(Paths.default().db)
    inp = json.dumps({"command": "make build"})
    for r in range(STEPS // PER_RUN):
        rid = f"bench:run-{r}"
        with db.tx():
            db.conn.execute(
                "INSERT INTO runs(id, agent, session_id, cwd, status, started_at, ended_at, step_count) "
                "VALUES (?, 'bench', ?, '/w', 'succeeded', '2026-01-01T00:00:00Z', "
                "'2026-01-01T01:00:00Z', ?)",
                (rid, f"run-{r}", PER_RUN),
            )
            db.conn.executemany(
                "INSERT INTO steps(run_id, key, seq, kind, tool, command, input, cwd, status, exit_code, "
                "duration_ms, stdout, stdout_size) VALUES (?,?,?,'command','Bash',?,?,'/w','succeeded',0,"
                "12,?,?)",
                [(rid, f"k{i}", i + 1, f"make build-{i}", inp, "ok\n" * 20, 60) for i in range(PER_RUN)],
            )
    db.close()


def figures() -> list[dict[str, Any]]:
    from aionisd.client import Client

    with xdg_tree() as env:
        t = time.perf_counter()
        populate(env)
        took = time.perf_counter() - t
        with daemon(env) as proc:
            with Client(socket_path(env)) as c:
                counts = c.call("status")["counts"]
                c.call("runs.list", limit=200)
                c.call("runs.get", id="bench:run-7")
            rss = rss_mb(proc.pid)
    assert counts["steps"] == STEPS, counts
    return [
        figure(f"daemon_rss_{STEPS // 1000}k_steps", rss, "MB", floor=None, goal="<= 80 MB", ok=rss <= 80)
        | {"populate_s": round(took, 1)}
    ]


if __name__ == "__main__":
    main(figures)
