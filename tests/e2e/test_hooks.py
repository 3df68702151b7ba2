"""`aionis hook session-start|prompt`: prints playbooks an agent should know about, and never
fails, blocks or imports anything heavy on the way."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from aionisd import hooks
from aionisd.matching import words
from tests.conftest import Daemon, Xdg, aionis
from tests.support.e2e import synthetic_trace

BOUND_S = 5.0  # behaviour, not a benchmark: the hook's own deadline is 1.5 s
HEAVY = {"trio", "anyio", "asyncio", "textual", "apsw", "cryptography", "mcp"}


def hook(
    xdg: Xdg, event: str, stdin: bytes | str, *extra: str
) -> tuple[subprocess.CompletedProcess[bytes], float]:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    t = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "aionisd.cli", "hook", event, *extra], input=data,
                       env={**os.environ, **xdg.env}, capture_output=True, timeout=30)  # fmt: skip
    return r, time.monotonic() - t


def payload(cwd: Path, **kw: Any) -> str:
    return json.dumps({"session_id": "s-1", "transcript_path": "/nonexistent.jsonl", "cwd": str(cwd),
                       "hook_event_name": "UserPromptSubmit", **kw})  # fmt: skip


def active(xdg: Xdg, tmp_path: Path, cwd: Path, goal: str, cmds: list[str], name: str, i: int = 0) -> str:
    trace = synthetic_trace(tmp_path / f"t{i}.jsonl", cwd, cmds, run_id=f"h-{i}", goal=goal)
    r = aionis(xdg, "ingest", str(trace), "--json")
    run = json.loads(r.stdout)["runs"][0]["id"]
    pb = json.loads(aionis(xdg, "compile", run, "--name", name, "--json").stdout)
    assert aionis(xdg, "promote", pb["id"], "--version", "1", "--status", "active").returncode == 0
    return str(pb["id"])


# -- never fails, never blocks --------------------------------------------------------------------


@pytest.mark.parametrize("event", ["session-start", "prompt", "bogus", ""])
def test_no_daemon_exits_zero_silently_and_fast(xdg: Xdg, tmp_path: Path, event: str) -> None:
    r, took = hook(xdg, event, payload(tmp_path, prompt="set up the python project"))
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    assert took < BOUND_S


def test_bad_input_is_silent(daemon: Daemon, xdg: Xdg, tmp_path: Path) -> None:
    active(xdg, tmp_path, tmp_path / "rec", "set up the python project", ["touch x"], "python project")
    for stdin in (b"", b"not json", b"[1, 2]", b"\xff\xfe\x00garbage", b'{"cwd": 5}', b"{" * 5000,
                  b'{"cwd": "relative/dir", "prompt": "python project"}'):  # fmt: skip
        r, _ = hook(xdg, "prompt", stdin)
        assert (r.returncode, r.stdout, r.stderr) == (0, b"", b""), stdin
    r, _ = hook(xdg, "prompt", payload(tmp_path, prompt="set up the python project"))
    assert b"python project" in r.stdout, "the same daemon does answer good input"


def test_stdin_that_never_ends_does_not_block(xdg: Xdg, daemon: Daemon, tmp_path: Path) -> None:
    t = time.monotonic()
    p = subprocess.Popen([sys.executable, "-m", "aionisd.cli", "hook", "prompt"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env={**os.environ, **xdg.env})  # fmt: skip
    assert p.stdin is not None
    p.stdin.write(b'{"prompt": "set up the')
    p.stdin.flush()
    try:
        rc = p.wait(BOUND_S)  # stdin still open: the hook must give up on it by itself
    finally:
        p.stdin.close()
        if p.poll() is None:
            p.kill()
    assert p.stdout is not None and p.stderr is not None
    out, err = p.stdout.read(), p.stderr.read()
    assert (rc, out, err) == (0, b"", b"")
    assert time.monotonic() - t < BOUND_S


def test_a_daemon_that_never_answers_is_a_silent_timeout(xdg: Xdg, tmp_path: Path) -> None:
    path = tmp_path / "hung.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(4)  # accepts connections into the backlog, never replies
    try:
        r, took = hook(xdg, "prompt", payload(tmp_path, prompt="python project setup"), "--socket", str(path))
    finally:
        srv.close()
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    assert took < BOUND_S


# -- says something useful when there is something to say ------------------------------------------


def test_session_start_lists_playbooks_recorded_in_this_repository(
    daemon: Daemon, xdg: Xdg, tmp_path: Path
) -> None:
    repo, other = tmp_path / "repo", tmp_path / "elsewhere"
    (repo / ".git").mkdir(parents=True)
    other.mkdir()
    here = active(xdg, tmp_path, repo, "bootstrap the dev database", ["touch db"], "dev database", 0)
    active(xdg, tmp_path, other, "build the docs site", ["touch site"], "docs site", 1)
    r, _ = hook(xdg, "session-start", payload(repo / "src", hook_event_name="SessionStart", source="startup"))
    out = r.stdout.decode()
    assert r.returncode == 0 and r.stderr == b""
    assert here in out and "dev database" in out and "docs site" not in out
    assert f"aionis replay {here} --mode strict --workdir {repo / 'src'}" in out
    assert f"aionis replay {here} --mode simulate" in out
    r, _ = hook(xdg, "session-start", payload(tmp_path / "unrelated", hook_event_name="SessionStart"))
    assert (r.returncode, r.stdout) == (0, b"")


def test_prompt_lists_clear_matches_only(daemon: Daemon, xdg: Xdg, tmp_path: Path) -> None:
    pb = active(xdg, tmp_path, tmp_path / "rec", "set up a python project with a venv and run its tests",
                ["python3 -m venv .venv", "touch ok"], "python project")  # fmt: skip
    r, _ = hook(xdg, "prompt", payload(tmp_path / "new", prompt="Please set up the python project venv"))
    out = r.stdout.decode()
    assert r.returncode == 0 and pb in out and "python project" in out
    assert "matches " in out and "python" in out and f"aionis replay {pb} --mode strict" in out
    for quiet in ("fix the typo in the readme", "python", "what does this python function do"):
        r, _ = hook(xdg, "prompt", payload(tmp_path / "new", prompt=quiet))
        assert (r.returncode, r.stdout) == (0, b""), quiet


# -- starts light -------------------------------------------------------------------------------


@pytest.mark.parametrize("with_daemon", [False, True])
def test_hook_path_imports_no_event_loop_db_or_mcp(
    xdg: Xdg, start_daemon: Any, tmp_path: Path, with_daemon: bool
) -> None:
    sock = str(start_daemon().socket) if with_daemon else str(tmp_path / "none.sock")
    code = (
        "import sys, aionisd.cli as c\n"
        f"c.main(['hook', 'prompt', '--socket', {sock!r}])\n"
        "print('MODULES', ' '.join(sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], input=payload(tmp_path, prompt="python project venv"),
                       capture_output=True, text=True, env={**os.environ, **xdg.env}, check=True)  # fmt: skip
    mods = set(r.stdout.split("MODULES", 1)[1].split())
    assert "aionisd.hooks" in mods
    assert not HEAVY & {m.split(".")[0] for m in mods}


# -- pure parts -------------------------------------------------------------------------------------


def test_strong_needs_two_significant_words() -> None:
    hit = {"why": ["name: python", "goal: and, python, the, venv", "same repository"]}
    assert hooks.strong(hit, set(words("make a python venv please"))) == {"python", "venv"}
    assert hooks.strong(hit, set(words("explain this python function"))) == set()
    assert hooks.strong(hit, set(words("python"))) == set()
    assert hooks.strong({"why": []}, set(words("python venv"))) == set()


def test_repo_root_and_within(tmp_path: Path) -> None:
    (tmp_path / "r" / ".git").mkdir(parents=True)
    assert hooks.repo_root(tmp_path / "r" / "a" / "b") == tmp_path / "r"
    assert hooks.repo_root(tmp_path / "x") == tmp_path / "x"
    assert hooks.within(str(tmp_path / "r" / "a"), tmp_path / "r")
    assert not hooks.within(str(tmp_path / "rr"), tmp_path / "r")


def test_read_input_from_a_pipe(tmp_path: Path) -> None:
    r, w = os.pipe()
    os.write(w, b'{"prompt": "hi", "cwd": "/x"}')
    os.close(w)
    with os.fdopen(r, "rb") as f:
        assert hooks.read_input(f, 1.0) == {"prompt": "hi", "cwd": "/x"}
    r, w = os.pipe()
    os.write(w, b'{"prompt": ')
    try:
        with os.fdopen(r, "rb") as f:
            assert hooks.read_input(f, 0.05) == {}
    finally:
        os.close(w)
