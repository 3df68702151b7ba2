"""The TUI under an event flood: ~2,000 events/s from real ingests while the app (headless,
100x32, on the live Runs screen) is subscribed. Reports events shown per second, frame rate,
longest stall, event lag and key latency, each against a floor measured in the same run: a bare
`AsyncClient` subscriber for throughput and lag, the same app idle for frames, stalls and keys.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import anyio

from bench.common import daemon, figure, main, median, pct, socket_path, xdg_tree

RATE = int(os.environ.get("AIONIS_BENCH_TUI_RATE", "2000"))  # events/s offered
SECONDS = 3.0
STEPS = 100  # per trace: 2 events per step, plus run.started and run.updated
HEARTBEAT_S = 1 / 60


def trace(path: Path, run_id: str, steps: int) -> Path:
    lines: list[dict[str, Any]] = [{"type": "run.start", "run_id": run_id, "agent": "bench", "goal": "flood",
              "cwd": "/w", "ts": "2026-11-24T10:00:00Z"}]  # fmt: skip
    for i in range(steps):
        lines.append({"type": "step.before", "run_id": run_id, "step_id": f"s{i}", "tool": "bash",
                      "input": {"command": f"make part-{i}"}, "cwd": "/w",
                      "ts": "2026-11-24T10:00:01Z"})  # fmt: skip
        lines.append({"type": "step.after", "run_id": run_id, "step_id": f"s{i}",
                      "status": "success", "exit_code": 0, "stdout": f"built {i}\n",
                      "ts": "2026-11-24T10:00:02Z"})  # fmt: skip
    lines.append({"type": "run.end", "run_id": run_id, "status": "success",
                  "ts": "2026-11-24T10:00:05Z"})  # fmt: skip
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def flood(sock: Path, workdir: Path, tag: str) -> tuple[threading.Thread, dict[str, float]]:
    """Ingest traces paced to RATE events/s for SECONDS, in a thread (the blocking client)."""
    from aionisd.client import Client

    per_trace = 2 * STEPS + 2
    n = max(1, round(RATE * SECONDS / per_trace))
    paths = [trace(workdir / f"{tag}-{i}.jsonl", f"{tag}-{i}", STEPS) for i in range(n)]
    out: dict[str, float] = {}

    def go() -> None:
        with Client(sock, timeout=60) as c:
            out["start"] = time.monotonic()
            for i, p in enumerate(paths):
                due = out["start"] + i * per_trace / RATE
                time.sleep(max(0.0, due - time.monotonic()))
                c.call("ingest", paths=[str(p)])
            out["end"] = time.monotonic()
            out["last_seq"] = c.call("status")["last_seq"]

    return threading.Thread(target=go), out


def stored_lag(ev: dict[str, Any]) -> float | None:
    from aionis_tui.format import parse_ts

    ts = parse_ts(ev.get("ts"))
    return None if ts is None else time.time() - ts.timestamp()


async def bare_client(sock: Path, workdir: Path) -> dict[str, Any]:
    """The floor: the same flood read by an AsyncClient that only counts (and resubscribes)."""
    from aionis_tui.backend import Backend

    backend = Backend(sock)
    lags: list[float] = []
    got: list[float] = []

    def on_event(ev: dict[str, Any]) -> None:
        got.append(time.monotonic())
        lag = stored_lag(ev)
        if lag is not None:
            lags.append(lag)

    backend.on_event = on_event
    async with anyio.create_task_group() as tg:
        tg.start_soon(backend.run)
        while not backend.state.connected:
            await anyio.sleep(0.01)
        thread, info = flood(sock, workdir, "floor")
        thread.start()
        deadline = time.monotonic() + 60
        while thread.is_alive() or backend.last_seq != info.get("last_seq"):
            if time.monotonic() > deadline:
                raise RuntimeError("the bare client never caught up")
            await anyio.sleep(0.01)
        thread.join()
        tg.cancel_scope.cancel()
    return {"events": len(got), "seconds": got[-1] - info["start"], "lags": lags,
            "resubscribes": backend.resubscribes}  # fmt: skip


async def tui(sock: Path, workdir: Path) -> dict[str, Any]:
    from textual import events
    from textual.widgets import DataTable

    from aionis_tui.app import AionisApp

    app = AionisApp(socket=sock, start_mode="runs")
    beats: list[float] = []
    out: dict[str, Any] = {}
    async with app.run_test(size=(100, 32)) as pilot:
        while not app.conn.connected:
            await pilot.pause(0.01)
        app.set_interval(HEARTBEAT_S, lambda: beats.append(time.monotonic()))
        table = app.screen.query_one("#runs-table", DataTable)
        table.focus()

        async def keys(n: int) -> list[float]:
            """Key press to cursor moved, as a terminal would deliver it (not Pilot's settle)."""
            times = []
            for _ in range(n):
                before = table.cursor_row
                key = "down" if before < table.row_count - 1 else "up"
                t = time.monotonic()
                app.post_message(events.Key(key, None))
                while table.cursor_row == before and time.monotonic() - t < 5:
                    await asyncio.sleep(0.001)
                times.append(time.monotonic() - t)
                await asyncio.sleep(0.02)
            return times

        rows = trace(workdir / "seed.jsonl", "seed", 3)
        for i in range(3):
            path = rows.with_name(f"seed-{i}.jsonl")
            path.write_text(rows.read_text().replace('"seed"', f'"seed-{i}"'))
            await app.backend.call("ingest", paths=[str(path)])
        while table.row_count < 3:
            await pilot.pause(0.01)
        t0 = time.monotonic()
        idle_keys = await keys(10)
        await pilot.pause(1.0)
        idle = [b for b in beats if b >= t0]
        beats.clear()
        events0, flushes0 = app.frames.events, app.frames.flushes
        app.frames.stored_lags.clear()
        thread, info = flood(sock, workdir, "tui")
        thread.start()
        flood_keys: list[float] = []
        while thread.is_alive():
            flood_keys += await keys(2)
            await pilot.pause(0.1)
        thread.join()
        while app.backend.last_seq != info["last_seq"] or app._inbox:
            await pilot.pause(0.01)
        await pilot.pause(0.1)
        busy = list(beats)
        out = {
            "events": app.frames.events - events0,
            "flushes": app.frames.flushes - flushes0,
            "seconds": app.frames.last_shown - info["start"],
            "flood_s": info["end"] - info["start"],
            "lags": list(app.frames.stored_lags),
            "idle_beats": idle,
            "busy_beats": [b for b in busy if b <= info["end"]],
            "idle_keys": idle_keys,
            "flood_keys": flood_keys,
            "resubscribes": app.backend.resubscribes,
            "errors": list(app.errors),
        }
    return out


def rate(beats: list[float]) -> float:
    return (len(beats) - 1) / (beats[-1] - beats[0]) if len(beats) > 1 else 0.0


def stall(beats: list[float]) -> float:
    return max((b - a for a, b in itertools.pairwise(beats)), default=0.0)


def figures() -> list[dict[str, Any]]:
    import tempfile

    with xdg_tree() as env, daemon(env):
        import os

        os.environ.update(env)
        sock = socket_path(env)
        with tempfile.TemporaryDirectory(prefix="aionis-bench-tui-") as d:
            floor = asyncio.run(bare_client(sock, Path(d)))
            app = asyncio.run(tui(sock, Path(d)))
    floor_rate = floor["events"] / floor["seconds"]
    app_rate = app["events"] / app["seconds"]
    idle_fps, busy_fps = rate(app["idle_beats"]), rate(app["busy_beats"])
    idle_stall, busy_stall = stall(app["idle_beats"]) * 1e3, stall(app["busy_beats"]) * 1e3
    floor_lag = pct(floor["lags"], 0.95) * 1e3
    app_lag = pct(app["lags"], 0.95) * 1e3 if app["lags"] else float("nan")
    idle_key = median(app["idle_keys"]) * 1e3
    flood_key = median(app["flood_keys"]) * 1e3 if app["flood_keys"] else float("nan")
    frames = app["flushes"] / app["flood_s"]
    return [
        figure("tui_events_shown_per_s", app_rate, "events/s", floor=floor_rate,
               goal=">= 1000 events/s and ratio >= 0.9",
               ok=app_rate >= 1000 and app_rate >= 0.9 * floor_rate and not app["errors"]),
        figure("tui_key_latency_flood", flood_key, "ms", floor=idle_key,
               goal="<= 50 ms", ok=flood_key <= 50),
        figure("tui_frame_rate_flood", busy_fps, "fps", floor=idle_fps,
               goal=">= 20 fps", ok=busy_fps >= 20),
        figure("tui_max_stall_flood", busy_stall, "ms", floor=idle_stall,
               goal="<= 200 ms", ok=busy_stall <= 200),
        figure("tui_event_lag_p95", app_lag, "ms", floor=floor_lag,
               goal="<= 250 ms stored-to-screen", ok=app_lag <= 250),
        figure("tui_event_batches_per_s", frames, "batches/s", floor=None,
               goal="<= 31 (one batch per frame at most)", ok=frames <= 31),
    ]  # fmt: skip


if __name__ == "__main__":
    main(figures)
