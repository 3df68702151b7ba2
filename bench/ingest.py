"""Ingest throughput on the real samples repeated to >= 100 MB, vs the floor measured in the same
run (json.loads of the same lines + a batched apsw insert of one row per line); and the latency
from an append to a watched file to the step.recorded event reaching a subscriber."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import apsw

from bench.common import SAMPLES, daemon, figure, main, median, pct, socket_path, xdg_tree

SOURCES = [
    SAMPLES / "claude-code" / "entire-1a8a83a35a9b-v2.1.33-bash-failures.head.jsonl",
    SAMPLES / "claude-code" / "entire-37995ebed6e4-v2.1.12-concatenated-json-objects.window.jsonl",
    SAMPLES / "codex" / "rollout-2025-11-17T15-30-28-019a93b9-f380-7600-98ff-940e6b99603c.head.jsonl",
]
TARGET = int(os.environ.get("AIONIS_BENCH_MB", "100")) * 1024 * 1024


def build_corpus(d: Path) -> list[Path]:
    """Copies of the samples, each a distinct session (ids rewritten), to TARGET bytes."""
    originals = []
    for src in SOURCES:
        raw = src.read_bytes()
        sid = None
        for line in raw.splitlines()[:40]:
            try:
                o = json.loads(line)
            except ValueError:
                continue
            sid = o.get("sessionId") or (o.get("payload") or {}).get("id")
            if sid:
                break
        assert sid, src
        originals.append((src.name, raw, sid.encode()))
    files, total, k = [], 0, 0
    while total < TARGET:
        for name, raw, sid in originals:
            p = d / f"{k:04d}-{name}"
            p.write_bytes(raw.replace(sid, sid[:-6] + f"{k:06d}".encode()))
            files.append(p)
            total += len(raw)
        k += 1
    return files


def floor(files: list[Path]) -> float:
    """json.loads every line and insert one row per line in batches, into a fresh WAL database."""
    with tempfile.TemporaryDirectory() as t:
        conn = apsw.Connection(str(Path(t) / "floor.db"))
        conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL")
        conn.execute("CREATE TABLE rows (f TEXT, n INTEGER, kind TEXT, data TEXT)")
        t0 = time.perf_counter()
        for f in files:
            batch = []
            for n, line in enumerate(f.read_bytes().splitlines()):
                try:
                    o = json.loads(line)
                except ValueError:
                    continue
                batch.append((f.name, n, o.get("type") if isinstance(o, dict) else None, line))
            with conn:
                conn.executemany("INSERT INTO rows VALUES (?,?,?,?)", batch)
        return time.perf_counter() - t0


def ingest(files: list[Path]) -> tuple[float, int]:
    from aionisd.client import Client

    with xdg_tree() as env, daemon(env):
        os.environ.update(env)
        t0 = time.perf_counter()
        with Client(socket_path(env), timeout=None) as c:
            for i in range(0, len(files), 20):
                c.call("ingest", paths=[str(p) for p in files[i : i + 20]])
            steps = c.call("status")["counts"]["steps"]
        return time.perf_counter() - t0, steps


def latency(n: int = 60) -> list[float]:
    """Append one native step at a time to a watched file; time until step.recorded arrives."""
    from aionisd.client import Client

    with xdg_tree() as env, tempfile.TemporaryDirectory() as w:
        watched = Path(w)
        with daemon(env, "--no-watch", "--watch", str(watched)):
            trace = watched / "t.jsonl"
            ts = "2026-11-24T10:00:00Z"
            with trace.open("a") as f:
                f.write(
                    json.dumps(
                        {
                            "type": "run.start",
                            "run_id": "lat",
                            "agent": "b",
                            "goal": "g",
                            "cwd": "/w",
                            "ts": ts,
                        }
                    )
                    + "\n"
                )
            out: list[float] = []
            got: dict[str, float] = {}

            def on(method: str, params: dict[str, Any]) -> None:
                step = (params.get("data") or {}).get("step") or {}
                if step.get("status") == "succeeded":
                    got[step["key"]] = time.perf_counter()

            with Client(socket_path(env), on_notify=on) as c:
                c.call("events.subscribe", kinds=["step.recorded"])
                for i in range(n):
                    before = {
                        "type": "step.before",
                        "run_id": "lat",
                        "step_id": f"s{i}",
                        "tool": "bash",
                        "input": {"command": f"echo {i}"},
                        "cwd": "/w",
                        "ts": ts,
                    }
                    after = {
                        "type": "step.after",
                        "run_id": "lat",
                        "step_id": f"s{i}",
                        "status": "success",
                        "exit_code": 0,
                        "ts": ts,
                    }
                    t = time.perf_counter()
                    with trace.open("a") as f:
                        f.write(json.dumps(before) + "\n" + json.dumps(after) + "\n")
                    while f"s{i}" not in got:
                        c.read()
                    out.append(got[f"s{i}"] - t)
            return out


def figures() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as d:
        files = build_corpus(Path(d))
        size = sum(p.stat().st_size for p in files)
        lines = sum(p.read_bytes().count(b"\n") for p in files)
        fl = floor(files)
        took, steps = ingest(files)
    lat = latency()
    mb = size / 1024 / 1024
    print(
        f"ingest: {mb:.0f} MB, {lines} lines, {steps} steps in {took:.1f}s (floor {fl:.1f}s)",
        file=sys.stderr,
    )
    return [
        figure(
            "ingest_throughput",
            mb / took,
            "MB/s",
            floor=mb / fl,
            goal="floor/ingest time <= 2.5",
            ok=took / fl <= 2.5,
        )
        | {"ratio": round(took / fl, 3), "lines_per_s": round(lines / took)},
        figure(
            "append_to_event_p50",
            median(lat) * 1000,
            "ms",
            floor=None,
            goal="p95 <= 100 ms",
            ok=True,
        ),
        figure(
            "append_to_event_p95",
            pct(lat, 0.95) * 1000,
            "ms",
            floor=None,
            goal="<= 100 ms",
            ok=pct(lat, 0.95) <= 0.1,
        ),
    ]


if __name__ == "__main__":
    main(figures)
