"""Strict replay of a 200-step playbook of trivial commands vs the same 200 commands spawned
directly with `bash -c` in the same run, their output captured as a replay must (signature
check, recording and events included); and simulate of the same playbook."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import daemon, figure, main, median, socket_path, xdg_tree

N = 200


def trace(path: Path, cwd: Path) -> None:
    ts = "2026-11-24T10:00:00Z"
    lines = [
        {
            "type": "run.start",
            "run_id": "b",
            "agent": "bench",
            "goal": "touch files",
            "cwd": str(cwd),
            "ts": ts,
        }
    ]
    for i in range(N):
        lines.append(
            {
                "type": "step.before",
                "run_id": "b",
                "step_id": f"s{i}",
                "tool": "bash",
                "input": {"command": f"touch f{i}"},
                "cwd": str(cwd),
                "ts": ts,
            }
        )
        lines.append(
            {
                "type": "step.after",
                "run_id": "b",
                "step_id": f"s{i}",
                "status": "success",
                "exit_code": 0,
                "ts": ts,
            }
        )
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))


def direct(workdir: Path) -> float:
    t = time.perf_counter()
    for i in range(N):
        subprocess.run(["bash", "-c", f"touch f{i}"], cwd=workdir, check=True, capture_output=True)
    return time.perf_counter() - t


def figures() -> list[dict[str, Any]]:
    from aionisd.client import Client

    with (
        xdg_tree("[replay]\nallow_local_exec = true\n") as env,
        tempfile.TemporaryDirectory() as d,
        daemon(env),
    ):
        root = Path(d)
        trace(root / "t.jsonl", root / "rec")
        sock = socket_path(env)
        with Client(sock) as c:
            run = c.call("ingest", paths=[str(root / "t.jsonl")])["runs"][0]["id"]
            pb = c.call("playbooks.compile", run_id=run)["id"]
        strict, floor, sim = [], [], []
        for k in range(3):
            wd = root / f"w{k}"
            wd.mkdir()
            done: set[str] = set()

            def on(method: str, p: dict[str, Any], done: set[str] = done) -> None:
                if p.get("kind") == "replay.finished":
                    done.add(p["data"]["replay_id"])

            with Client(sock, on_notify=on) as c:
                c.call("events.subscribe", kinds=["replay.finished"])
                t = time.perf_counter()
                rid = c.call("replay.start", id=pb, mode="strict", workdir=str(wd))["replay_id"]
                while rid not in done:
                    c.read()
                strict.append(time.perf_counter() - t)
                assert c.call("replay.get", replay_id=rid)["status"] == "succeeded"
                fd = root / f"floor{k}"
                fd.mkdir()
                floor.append(direct(fd))
                t = time.perf_counter()
                c.call("replay.start", id=pb, mode="simulate", workdir=str(root / f"s{k}"))
                sim.append(time.perf_counter() - t)
    s, f = median(strict), median(floor)
    return [
        figure(
            "replay_strict_200",
            s * 1000,
            "ms",
            floor=f * 1000,
            goal="ratio <= 1.25",
            ok=s / f <= 1.25,
        ),
        figure(
            "replay_simulate_200",
            median(sim) * 1000,
            "ms",
            floor=None,
            goal="< 50 ms",
            ok=median(sim) < 0.05,
        ),
    ]


if __name__ == "__main__":
    main(figures)
