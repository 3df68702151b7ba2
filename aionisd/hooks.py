"""`aionis hook session-start|prompt`: what an agent's hook runs to learn, before it starts
reasoning, that a recorded playbook may already do the job.

A hook sits in the agent's critical path, so this never fails and never waits long: exit 0
always, and no output at all on any error (no daemon, bad input, slow daemon). It imports only
the stdlib and the blocking client, so it starts as fast as `aionis status`.
"""

from __future__ import annotations

import json
import os
import select
import shlex
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from aionisd.client import Client
from aionisd.matching import words

EVENTS = ("session-start", "prompt")
CALL_TIMEOUT_S = 0.5  # per socket operation
DEADLINE_S = 1.5  # for the whole hook, stdin included
MAX_INPUT = 1 << 20
SHOWN = 3


class _Deadline(BaseException):
    """Raised by SIGALRM: a BaseException so no `except Exception` on the way swallows it."""


def read_input(stream: Any, timeout: float) -> dict[str, Any]:
    """The hook JSON from stdin; {} when there is none, it is not JSON, or it does not end in time."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return {}
    if os.isatty(fd):
        return {}
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_INPUT:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return {}
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    else:
        return {}
    try:
        data = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def repo_root(cwd: Path) -> Path:
    """The enclosing git work tree, else `cwd` itself."""
    for d in (cwd, *cwd.parents):
        if (d / ".git").exists():
            return d
    return cwd


def within(path: str, root: Path) -> bool:
    p = os.path.normpath(path)
    r = os.path.normpath(str(root))
    return p == r or p.startswith(r.rstrip("/") + "/")


def matched_words(why: list[str]) -> set[str]:
    """Words a search hit matched, from its `why` lines ("goal: python, venv")."""
    out: set[str] = set()
    for line in why:
        field, _, words = line.partition(":")
        if words and field in ("name", "goal", "commands", "files"):
            out |= {w.strip() for w in words.split(",")}
    return out


def strong(hit: dict[str, Any], query: set[str]) -> set[str]:
    """The query's significant words the hit matched; the prompt hook stays quiet below two, so
    a shared 'python' alone does not add noise to every prompt (find_playbooks is still there)."""
    got = matched_words(hit.get("why") or []) & query
    return got if len(got) >= 2 else set()


def render(title: str, items: list[tuple[dict[str, Any], str]], workdir: Path) -> str:
    """A few lines an agent can act on: which playbook, why, and the commands to check and run it."""
    if not items:
        return ""
    wd = shlex.quote(str(workdir))
    lines = [title]
    for pb, why in items:
        status = "" if pb.get("status") in (None, "active") else f", {pb['status']}"
        steps = pb.get("steps")
        lines.append(f"- {pb['id']} \"{pb.get('name', '')}\" v{pb.get('version', '?')}"
                     f" ({steps} steps{status}): {why}")  # fmt: skip
        lines.append(f"    check:  aionis replay {pb['id']} --mode simulate --workdir {wd}")
        lines.append(f"    replay: aionis replay {pb['id']} --mode strict --workdir {wd}")
    lines.append("(or the aionis MCP tools simulate_playbook and replay_playbook; "
                 "if a replay diverges, carry on by hand from that step)")  # fmt: skip
    return "\n".join(lines) + "\n"


def session_start(c: Client, cwd: Path) -> str:
    """Active (and shadow) playbooks recorded in this repository."""
    root = repo_root(cwd)
    cwds = {r["id"]: r.get("cwd") for r in c.call("runs.list", limit=2000)["runs"]}
    found = []
    for status in ("active", "shadow"):
        for pb in c.call("playbooks.list", status=status, limit=200)["playbooks"]:
            src = cwds.get(pb.get("run_id"))
            if src and within(src, root):
                found.append(pb)
    found.sort(key=lambda pb: (-(pb.get("replays_succeeded") or 0), pb.get("created_at") or ""))
    items = [(pb, f"recorded in this repository; goal: {pb.get('goal') or '-'}") for pb in found[:SHOWN]]
    return render(f"aionis: playbooks recorded in {root} (replay one instead of redoing its work):",
                  items, cwd)  # fmt: skip


def prompt(c: Client, cwd: Path, text: str) -> str:
    """Playbooks that match the prompt clearly enough to be worth the agent's attention."""
    query = set(words(text))
    if not query:
        return ""
    hits = c.call("playbooks.search", text=text[:2000], cwd=str(cwd), limit=SHOWN)["playbooks"]
    items = []
    for hit in hits:
        matched = strong(hit, query)
        if matched:
            why = "matches " + ", ".join(sorted(matched))
            if "same repository" in (hit.get("why") or []):
                why += "; recorded in this repository"
            items.append((hit, why))
    return render("aionis: recorded playbooks that may already do this (replaying is faster and "
                  "repeatable):", items, cwd)  # fmt: skip


def produce(event: str, data: dict[str, Any], socket: str | None) -> str:
    cwd = Path(str(data.get("cwd") or os.getcwd()))
    if event not in EVENTS or not cwd.is_absolute():
        return ""
    with Client(socket, timeout=CALL_TIMEOUT_S) as c:
        if event == "session-start":
            return session_start(c, cwd)
        return prompt(c, cwd, str(data.get("prompt") or ""))


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _Deadline


def main(event: str, socket: str | None = None) -> int:
    """Print what the agent should know, or nothing; always exit 0."""
    try:
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, DEADLINE_S)
        try:
            text = produce(event, read_input(sys.stdin, DEADLINE_S), socket)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except BaseException:  # a hook must never fail the agent
        return 0
    if text:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BaseException:  # e.g. the agent closed the pipe
            _silence_stdout()
    return 0


def _silence_stdout() -> None:
    """So a half-written, unflushable stdout cannot complain at interpreter exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
