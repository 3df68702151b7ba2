"""Write the native aionis trace (JSONL) for agents that record themselves.

Each line is flushed as it is written: the daemon tails the file and a crash loses nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any


def _ts() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TraceWriter:
    """One run: `start` on creation, a `step.before`/`step.after` pair per step, `end`."""

    def __init__(self, path: Path, run_id: str, *, agent: str, goal: str, cwd: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id
        self.cwd = str(cwd)
        self._n = 0
        self._f: IO[str] = self.path.open("a", encoding="utf-8")
        self._line({"type": "run.start", "agent": agent, "goal": goal, "cwd": self.cwd})

    def _line(self, obj: dict[str, Any]) -> None:
        obj = {"type": obj.pop("type"), "run_id": self.run_id, **obj, "ts": _ts()}
        self._f.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self._f.flush()

    def before(self, tool: str, input: dict[str, Any], cwd: str | None = None) -> str:
        self._n += 1
        sid = f"s-{self._n}"
        self._line(
            {
                "type": "step.before",
                "step_id": sid,
                "tool": tool,
                "input": input,
                "cwd": cwd or self.cwd,
            }
        )
        return sid

    def after(self, sid: str, status: str, **fields: Any) -> None:
        self._line({"type": "step.after", "step_id": sid, "status": status, **fields})

    def bash(self, command: str, cwd: str | None = None, env: dict[str, str] | None = None) -> int:
        """Run `command` with bash for real and record it."""
        sid = self.before("bash", {"command": command}, cwd)
        t = time.monotonic()
        p = subprocess.run(
            ["bash", "-c", command], cwd=cwd or self.cwd, capture_output=True, text=True, env=env
        )
        self.after(
            sid,
            "success" if p.returncode == 0 else "failed",
            exit_code=p.returncode,
            stdout=p.stdout[-65536:],
            stderr=p.stderr[-65536:],
            duration_ms=int((time.monotonic() - t) * 1000),
        )
        return p.returncode

    def write_file(self, path: str, content: str) -> None:
        """Write a file (path relative to the run's cwd or absolute) and record it."""
        full = os.path.join(self.cwd, path)
        sid = self.before("write_file", {"path": full, "content": content})
        Path(full).parent.mkdir(parents=True, exist_ok=True)
        Path(full).write_text(content)
        self.after(sid, "success")

    def end(self, status: str = "success") -> None:
        self._line({"type": "run.end", "status": status})
        self._f.close()
