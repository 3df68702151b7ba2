"""Abuse of the real daemon: a crowd of clients beside a subscriber that never reads, a replayed
step printing 200 MB, a signed playbook whose file step climbs out of the workdir.

A client of another uid is refused by SO_PEERCRED: tests/e2e/test_daemon.py::
test_peer_of_another_uid_is_refused covers it (it needs root to become another uid).
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import apsw
import pytest

from aionisd import errors
from aionisd.api.server import MAX_CONNECTIONS
from aionisd.canonical import canonical_bytes
from aionisd.client import ApiError, Client
from aionisd.playbook import PAYLOAD_TYPE
from aionisd.signing import TrustStore, generate, sign
from tests.conftest import Daemon, Xdg, aionis
from tests.support.e2e import compiled, synthetic_trace, wait_replay
from tests.support.rpc import Raw
from tests.support.trace_writer import TraceWriter

pytestmark = pytest.mark.slow
MB = 1024 * 1024
EXEC_ON = "[replay]\nallow_local_exec = true\n"


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (the peak so far) of a process, in kB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def pid_of(d: Daemon) -> int:
    assert d.proc is not None and d.proc.poll() is None, "the daemon must be up"
    return d.proc.pid


def _line(id_: int, method: str, **params: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": id_, "method": method, "params": params}).encode() + b"\n"


@pytest.fixture
def exec_daemon(xdg: Xdg, start_daemon: Any) -> Daemon:
    xdg.write_config(EXEC_ON)
    d: Daemon = start_daemon()
    return d


# -- 100 clients and a subscriber that never reads -----------------------------------------------

CLIENTS = 100
STEPS = 2500
COMMAND_PAD = "x" * 8192  # every step.recorded event carries its command: an unbounded queue shows


def client_session(sock: Path, ingest_done: threading.Event) -> int:
    """Initialize, then status / runs.list until the ingest is over (at least 3 calls)."""
    c = Raw(sock, timeout=120).init()
    try:
        calls = 0
        while calls < 3 or (not ingest_done.is_set() and calls < 40):
            method, params = ("status", {}) if calls % 2 else ("runs.list", {"limit": 5})
            answer = c.call(method, **params)
            assert "result" in answer, answer
            calls += 1
        return calls
    finally:
        c.close()


def test_hundred_clients_and_a_stalled_subscriber(daemon: Daemon, tmp_path: Path) -> None:
    pid = pid_of(daemon)
    cmds = [f"echo {i} {COMMAND_PAD}" for i in range(STEPS)]
    warm = synthetic_trace(tmp_path / "warm.jsonl", tmp_path, cmds, run_id="warm")
    big = synthetic_trace(tmp_path / "big.jsonl", tmp_path, cmds, run_id="big")
    loader = Raw(daemon.socket, timeout=120).init()
    # One ingest of the same size first: the peak it costs is the daemon's working set, not a leak.
    assert loader.call("ingest", paths=[str(warm)])["result"]["runs"][0]["steps"] == STEPS
    seq0 = loader.call("status")["result"]["last_seq"]
    before = memory_kb(pid)

    stalled = Raw(daemon.socket).init()
    stalled.send(_line(1, "events.subscribe", since_seq=0))
    seqs: list[int] = []  # history may overtake the answer; then it never reads again
    while "id" not in (msg := stalled.read()):
        seqs.append(msg["params"]["seq"])
    assert "result" in msg, msg
    ingest_done = threading.Event()

    def ingest() -> dict[str, Any]:
        try:
            return loader.call("ingest", paths=[str(big)])
        finally:
            ingest_done.set()

    with ThreadPoolExecutor(CLIENTS + 1) as pool:
        clients = [pool.submit(client_session, daemon.socket, ingest_done) for _ in range(CLIENTS)]
        loaded = pool.submit(ingest)
        calls = [f.result() for f in clients]
        assert loaded.result()["result"]["runs"][0]["steps"] == STEPS

    after = memory_kb(pid)
    status = loader.call("status")["result"]
    assert status["last_seq"] - seq0 >= 2 * STEPS, "the test must generate thousands of events"
    assert len(calls) == CLIENTS and min(calls) >= 3
    assert after["VmHWM"] - before["VmHWM"] < 40 * 1024, (before, after)
    assert after["VmRSS"] - before["VmRSS"] < 40 * 1024, (before, after)
    assert pid_of(daemon) == status["pid"]
    # Read at last, the stalled subscriber gets every event in order, up to the end or an overflow
    # telling it where to re-subscribe: bounded memory lost it nothing.
    while not seqs or seqs[-1] < status["last_seq"]:
        msg = stalled.read()
        if msg.get("method") == "events.overflow":
            assert msg["params"]["last_seq"] == seqs[-1]
            break
        seqs.append(msg["params"]["seq"])
    assert seqs == list(range(1, len(seqs) + 1))
    stalled.close()
    loader.close()


def test_event_published_right_after_subscribe_is_delivered(daemon: Daemon) -> None:
    """subscribe and a write in one packet: the write's event lands before the pump's first run."""
    start = {"agent": "t", "goal": "g", "cwd": "/w"}
    for i in range(12):
        c = Raw(daemon.socket).init()
        c.send(
            _line(1, "events.subscribe", since_seq=0, kinds=["run.started"])
            + _line(2, "traces.append", run_id=f"race-{i}", events=[], start=start)
        )
        got: list[str] = []
        answered: set[int] = set()
        while len(answered) < 2:
            msg = c.read()
            if "id" in msg:
                answered.add(msg["id"])
                assert "result" in msg, msg
            elif msg["method"] == "events.notify":
                got.append(msg["params"]["data"]["session_id"])
        c.send(_line(3, "traces.append", run_id=f"race-{i}-end", events=[], start=start))
        while f"race-{i}-end" not in got:
            msg = c.read()
            if msg.get("method") == "events.notify":
                got.append(msg["params"]["data"]["session_id"])
        assert f"race-{i}" in got, f"round {i}: the event right after subscribe was lost: {got}"
        c.close()


# -- every connection slot taken -----------------------------------------------------------------


def closed_with(c: Raw) -> int:
    """The code of the error the daemon sent as it closed the connection (then end of stream)."""
    msg = c.read()
    with pytest.raises(EOFError):
        c.read()
    c.close()
    assert msg["id"] is None, msg
    return int(msg["error"]["code"])


def test_idle_clients_in_every_slot_do_not_lock_out_status(daemon: Daemon, xdg: Xdg) -> None:
    idle = [Raw(daemon.socket).init() for _ in range(MAX_CONNECTIONS)]
    try:
        status = aionis(xdg, "status", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["socket"] == str(daemon.socket)
        # The longest idle made room, and said why; the others still answer.
        assert closed_with(idle[0]) == errors.IDLE_CLOSED
        assert "result" in idle[-1].call("runs.list")
    finally:
        for c in idle:
            c.close()


def test_busy_clients_in_every_slot_leave_room_for_status(daemon: Daemon, xdg: Xdg) -> None:
    """Subscribers are not idle: none is closed, and the reserve answers status, and only that."""
    subscribers = [Raw(daemon.socket).init() for _ in range(MAX_CONNECTIONS)]
    try:
        for c in subscribers:
            assert "result" in c.call("events.subscribe")
        status = aionis(xdg, "status", "--json")
        assert status.returncode == 0, status.stderr
        subscribers.append(extra := Raw(daemon.socket).init())
        assert extra.call("status")["result"]["pid"] == pid_of(daemon)
        assert extra.call("runs.list")["error"]["code"] == errors.TOO_MANY_CONNECTIONS
    finally:
        for c in subscribers:
            c.close()


def test_idle_connection_is_closed_after_the_idle_timeout(start_daemon: Any) -> None:
    d: Daemon = start_daemon("--idle-timeout", "0.5")
    subscriber = Raw(d.socket).init()
    assert "result" in subscriber.call("events.subscribe")
    silent = Raw(d.socket)  # connected, never sends a byte
    initialized = Raw(d.socket).init()
    assert closed_with(silent) == errors.IDLE_CLOSED
    assert closed_with(initialized) == errors.IDLE_CLOSED
    # Subscribed before both, idle as long: still open, since it waits for events.
    assert subscriber.call("status")["result"]["pid"] == pid_of(d)
    subscriber.close()


# -- a replayed step that prints 200 MB ----------------------------------------------------------

HUGE = 200_000_000


def test_huge_stdout_of_a_replayed_step_stays_bounded(exec_daemon: Daemon, xdg: Xdg, tmp_path: Path) -> None:
    pid = pid_of(exec_daemon)
    trace = synthetic_trace(
        tmp_path / "t.jsonl", tmp_path / "rec", [f"yes x | head -c {HUGE}; touch done"], run_id="loud"
    )
    pb = compiled(exec_daemon.socket, trace, name="loud")
    assert pb["steps"] == 1, pb
    work = tmp_path / "w"
    before = memory_kb(pid)
    with Client(exec_daemon.socket, timeout=120) as c:
        rid = c.call("replay.start", id=pb["id"], mode="strict", workdir=str(work))["replay_id"]
        state = wait_replay(c, rid)
        run = c.call("runs.get", id=state["run_id"], output=True)
    after = memory_kb(pid)
    assert state["status"] == "succeeded", state
    assert (work / "done").exists()
    step = state["steps"][0]
    assert step["stdout_size"] == HUGE, "the whole output was read, only not kept"
    assert len(step["stdout"]) <= 4096 and len(step.get("stderr", "")) <= 4096
    assert all(len(s.get("stdout") or "") <= 256 * 1024 for s in run["steps"])
    assert after["VmHWM"] - before["VmHWM"] < 60 * 1024, (before, after)
    exec_daemon.stop()
    conn = apsw.Connection(str(xdg.db), flags=apsw.SQLITE_OPEN_READONLY)
    texts = [
        json.loads(data) for (data,) in conn.execute("SELECT data FROM events WHERE kind = 'replay.output'")
    ]
    result = conn.execute("SELECT length(result) FROM replays WHERE id = ?", (rid,)).fetchone()
    stored = conn.execute(
        "SELECT COALESCE(SUM(length(stdout) + length(stderr)), 0) FROM steps WHERE run_id = ?",
        (state["run_id"],),
    ).fetchone()
    conn.close()
    assert texts and all(t["replay_id"] == rid for t in texts)
    assert sum(len(t["text"]) for t in texts) <= 2 * 64 * 1024
    assert result is not None and result[0] < 64 * 1024
    assert stored is not None and stored[0] <= 2 * 256 * 1024


# -- a trusted playbook whose file step leaves the workdir ---------------------------------------


def _escaping_envelope(doc: dict[str, Any], path: str, xdg: Xdg) -> dict[str, Any]:
    """The compiled document with its file step pointed at `path`, signed by a newly trusted key."""
    doc = json.loads(json.dumps(doc))
    doc["name"] = f"escape {path}"
    (step,) = [s for s in doc["steps"] if s["kind"] == "file_write"]
    step["path"] = path
    key = generate("mallory@test")
    TrustStore.in_dir(xdg.config_dir).add("mallory@test", key.public)
    return sign(canonical_bytes(doc), PAYLOAD_TYPE, key)


@pytest.mark.parametrize("path", ["../../etc/aionis-escape", "${workdir}/../../etc/aionis-escape"])
def test_signed_path_traversal_is_refused(exec_daemon: Daemon, xdg: Xdg, tmp_path: Path, path: str) -> None:
    rec = tmp_path / "rec"
    w = TraceWriter(tmp_path / "t.jsonl", "esc", agent="t", goal="write notes", cwd=rec)
    rec.mkdir()
    w.bash("touch first")
    w.write_file("notes.txt", "hello\n")
    w.end()
    pb = compiled(exec_daemon.socket, tmp_path / "t.jsonl", name="notes")
    work = tmp_path / "a" / "w"
    outside = tmp_path / "etc" / "aionis-escape"
    with Client(exec_daemon.socket) as c:
        doc = c.call("playbooks.get", id=pb["id"])["document"]
        imported = c.call("playbooks.import", envelope=_escaping_envelope(doc, path, xdg))
        assert c.call("playbooks.verify", id=imported["id"])["ok"], "the signature itself is good"
        with pytest.raises(ApiError) as refused:
            c.call("replay.start", id=imported["id"], mode="strict", workdir=str(work))
        assert refused.value.code == -32016, refused.value
        assert "escapes the workdir" in str(refused.value)
        # Guided is refused the same way, and the untouched original still replays.
        with pytest.raises(ApiError) as guided:
            c.call("replay.start", id=imported["id"], mode="guided", workdir=str(work))
        assert guided.value.code == -32016
        assert not outside.exists() and not (work / "first").exists()
        rid = c.call("replay.start", id=pb["id"], mode="strict", workdir=str(work))["replay_id"]
        assert wait_replay(c, rid)["status"] == "succeeded"
    assert (work / "notes.txt").read_text() == "hello\n" and (work / "first").exists()
    assert not outside.exists() and not outside.parent.exists()
