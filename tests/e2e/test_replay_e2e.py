"""Replay with the real daemon: the gates, strict replay of a real recorded workflow, cancel."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import apsw
import pytest

from aionisd.client import ApiError, Client
from tests.conftest import Daemon, Xdg, aionis
from tests.support.e2e import compiled, synthetic_trace, wait_replay
from tests.support.workflow import record_python_project, tree

pytestmark = pytest.mark.slow
EXEC_ON = "[replay]\nallow_local_exec = true\n"


@pytest.fixture
def exec_daemon(xdg: Xdg, start_daemon: Any) -> Daemon:
    xdg.write_config(EXEC_ON)
    return start_daemon()  # type: ignore[no-any-return]


def test_strict_replay_of_a_recorded_workflow_into_an_empty_directory(
    exec_daemon: Daemon, xdg: Xdg, tmp_path: Path
) -> None:
    first, second = tmp_path / "first-project", tmp_path / "second"
    trace = record_python_project(first, tmp_path / "trace.jsonl")
    pb = compiled(exec_daemon.socket, trace, name="python project")
    assert pb["steps"] >= 6
    second.mkdir()
    r = aionis(xdg, "replay", pb["id"], "--mode", "strict", "--workdir", str(second), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["status"] == "succeeded" and out["divergence"] is None
    assert all(s["status"] == "succeeded" for s in out["steps"])
    assert tree(second) == tree(first)
    test = subprocess.run(
        [str(second / ".venv/bin/python"), "-m", "unittest", "discover", "-s", "tests"],
        cwd=second,
        capture_output=True,
        text=True,
    )
    assert test.returncode == 0 and "OK" in test.stderr
    for p in second.rglob("*"):
        if p.is_file() and not p.is_symlink():
            assert str(first).encode() not in p.read_bytes(), f"{p} mentions the first directory"
    # The replay is itself a recorded run, linked to the playbook.
    with Client(exec_daemon.socket) as c:
        run = c.call("runs.get", id=f"aionis:{out['replay_id']}")
    assert run["agent"] == "aionis" and run["playbook_id"] == pb["id"]
    assert [s["status"] for s in run["steps"]].count("succeeded") >= pb["steps"]


def test_exec_is_refused_until_allowed(daemon: Daemon, xdg: Xdg, tmp_path: Path) -> None:
    pb = compiled(daemon.socket, synthetic_trace(tmp_path / "t.jsonl", tmp_path, ["touch made"]))
    for mode in ("strict", "guided"):
        r = aionis(xdg, "replay", pb["id"], "--mode", mode, "--workdir", str(tmp_path / "w"))
        assert r.returncode == 1
        assert r.stderr.count("\n") == 1 and "allow_local_exec = true" in r.stderr
    assert not (tmp_path / "w" / "made").exists()
    sim = aionis(xdg, "replay", pb["id"], "--mode", "simulate", "--workdir", str(tmp_path), "--json")
    assert sim.returncode == 0, sim.stderr
    assert json.loads(sim.stdout)["status"] == "succeeded"


def _code(sock: Path, pb_id: str, workdir: Path, **kw: Any) -> int:
    with Client(sock) as c:
        try:
            c.call("replay.start", id=pb_id, mode="strict", workdir=str(workdir), **kw)
        except ApiError as e:
            return e.code
    return 0


def test_strict_refusals_each_have_their_own_code(exec_daemon: Daemon, xdg: Xdg, tmp_path: Path) -> None:
    trace = synthetic_trace(tmp_path / "t.jsonl", tmp_path / "rec", ["echo $DEPLOY_TOKEN > out"])
    pb = compiled(exec_daemon.socket, trace)
    wd = tmp_path / "w"
    with Client(exec_daemon.socket) as c:
        c.call("playbooks.promote", id=pb["id"], version=1, status="disabled")
        assert _code(exec_daemon.socket, pb["id"], wd, version=1) == -32008
        c.call("playbooks.promote", id=pb["id"], version=1, status="draft")
    # Tampered: one byte of the stored payload changed.
    conn = apsw.Connection(str(xdg.db))
    (raw,) = conn.execute(
        "SELECT envelope FROM playbook_versions WHERE playbook_id = ?", (pb["id"],)
    ).fetchone()
    envelope = json.loads(raw)
    payload = base64.b64decode(envelope["payload"]).replace(b"${workdir}", b"${workdiR}", 1)
    bad = {**envelope, "payload": base64.b64encode(payload).decode()}
    conn.execute(
        "UPDATE playbook_versions SET envelope = ? WHERE playbook_id = ?",
        (json.dumps(bad), pb["id"]),
    )
    assert _code(exec_daemon.socket, pb["id"], wd) == -32003
    conn.execute("UPDATE playbook_versions SET envelope = ? WHERE playbook_id = ?", (raw, pb["id"]))
    conn.close()
    # Untrusted: the signer's line removed from allowed_signers.
    signers = xdg.config_dir / "allowed_signers"
    kept = signers.read_text()
    signers.write_text("")
    assert _code(exec_daemon.socket, pb["id"], wd) == -32004
    signers.write_text(kept)


def test_missing_secret_and_path_escape_refused(exec_daemon: Daemon, tmp_path: Path) -> None:
    trace = synthetic_trace(
        tmp_path / "t.jsonl",
        tmp_path / "rec",
        ["export GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789 && touch x"],
    )
    pb = compiled(exec_daemon.socket, trace)
    assert _code(exec_daemon.socket, pb["id"], tmp_path / "w", env={"PATH": os.environ["PATH"]}) == -32007


def test_cancel_kills_the_running_step_within_a_second(exec_daemon: Daemon, tmp_path: Path) -> None:
    trace = synthetic_trace(tmp_path / "t.jsonl", tmp_path / "rec", ["sleep 300 & sleep 300; touch never"])
    pb = compiled(exec_daemon.socket, trace)
    started: list[dict[str, Any]] = []

    def on(method: str, params: dict[str, Any]) -> None:
        if params.get("kind") == "replay.step.started":
            started.append(params["data"])

    with Client(exec_daemon.socket, on_notify=on) as c:
        c.call("events.subscribe", kinds=["replay.step.started"])
        rid = c.call("replay.start", id=pb["id"], mode="strict", workdir=str(tmp_path / "w"))["replay_id"]
        while not started:
            c.read()
        sleepers = _sleepers()
        assert sleepers, "the step should be running"
        t = time.monotonic()
        c.call("replay.cancel", replay_id=rid)
        elapsed = time.monotonic() - t
        state = wait_replay(c, rid)
    assert state["status"] == "cancelled"
    assert elapsed < 1.5
    assert not (set(_sleepers()) & set(sleepers)), "the step's process group must be gone"


def _sleepers() -> list[int]:
    return _pids("^sleep 300$")


def test_daemon_killed_during_replay_marks_it_interrupted(
    exec_daemon: Daemon, start_daemon: Any, tmp_path: Path
) -> None:
    trace = synthetic_trace(tmp_path / "t.jsonl", tmp_path / "r", ["sleep 301 & sleep 302; touch x"])
    pb = compiled(exec_daemon.socket, trace)
    started: list[Any] = []
    with Client(exec_daemon.socket, on_notify=lambda m, p: started.append(p)) as c:
        c.call("events.subscribe", kinds=["replay.step.started"])
        rid = c.call("replay.start", id=pb["id"], mode="strict", workdir=str(tmp_path / "w"))["replay_id"]
        while not started:
            c.read()
    assert _pids("^sleep 30[12]$")
    exec_daemon.kill()
    assert _pids("^sleep 30[12]$"), "SIGKILL of the daemon leaves the step running..."
    d2 = start_daemon()
    assert not _pids("^sleep 30[12]$"), "...until the restarted daemon finds and kills it"
    with Client(d2.socket) as c:
        state = c.call("replay.get", replay_id=rid)
        run = c.call("runs.get", id=f"aionis:{rid}")
    assert state["status"] == "interrupted" and run["status"] == "interrupted"


def _pids(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def test_simulate_into_a_directory_that_does_not_exist_yet(daemon: Daemon, xdg: Xdg, tmp_path: Path) -> None:
    pb = compiled(daemon.socket, synthetic_trace(tmp_path / "t.jsonl", tmp_path / "rec", ["touch made"]))
    target = tmp_path / "not-yet"
    r = aionis(xdg, "replay", pb["id"], "--mode", "simulate", "--workdir", str(target))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "does not exist yet: a replay creates it" in r.stdout and "would run" in r.stdout
    assert not target.exists(), "simulate changes nothing"
