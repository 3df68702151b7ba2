"""End to end: the real aionisd process on a temporary XDG tree, over its real socket."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon, Xdg, aionis
from tests.support.e2e import echo_trace
from tests.support.rpc import Raw

pytestmark = pytest.mark.slow


def test_socket_and_directory_modes(daemon: Daemon) -> None:
    assert stat.S_IMODE(daemon.socket.stat().st_mode) == 0o600
    assert stat.S_IMODE(daemon.socket.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(daemon.xdg.db.stat().st_mode) == 0o600


def test_status_cli_human_and_json(daemon: Daemon, xdg: Xdg) -> None:
    r = aionis(xdg, "status", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"version", "socket", "db", "sources", "counts"}
    assert out["socket"] == str(daemon.socket)
    assert out["db"] == str(xdg.db)
    assert out["counts"] == {
        "runs": 0,
        "steps": 0,
        "playbooks": 0,
        "repairs_pending": 0,
        "ingest_errors": 0,
    }
    human = aionis(xdg, "status")
    assert human.returncode == 0 and "aionisd" in human.stdout and str(xdg.db) in human.stdout


def test_no_daemon_is_one_line_and_exit_2(xdg: Xdg) -> None:
    for args in (["status"], ["runs", "--json"], ["run", "show", "x"]):
        r = aionis(xdg, *args)
        assert r.returncode == 2
        assert r.stderr.count("\n") == 1 and "not running" in r.stderr


def test_bad_input_never_kills_the_connection(daemon: Daemon) -> None:
    c = Raw(daemon.socket)
    c.send(b"this is not json\n")
    assert c.read()["error"]["code"] == -32700
    c.send(b'{"jsonrpc": "2.0", "id": 1, "method": "status"}\n')
    assert c.read()["error"]["code"] == -32011  # initialize first
    c.init()
    c.send(b"[1, 2]\n")  # a batch of two invalid requests: one error each
    assert [e["error"]["code"] for e in c.read_any()] == [-32600, -32600]
    c.send(b'{"id": 7, "method": "status"}\n')
    msg = c.read()
    assert msg["error"]["code"] == -32600 and msg["id"] == 7
    assert c.call("no.such.method")["error"]["code"] == -32601
    bad = c.call("runs.get", id=5)
    assert bad["error"]["code"] == -32602 and "'id'" in bad["error"]["message"]
    missing = c.call("runs.get")
    assert missing["error"]["code"] == -32602 and "'id'" in missing["error"]["message"]
    unknown = c.call("status", bogus=1)
    assert unknown["error"]["code"] == -32602 and "bogus" in unknown["error"]["message"]
    assert "result" in c.call("status")
    c.close()


def test_oversized_line_closes_only_that_connection(daemon: Daemon) -> None:
    other = Raw(daemon.socket).init()
    big = Raw(daemon.socket).init()
    payload = b'{"jsonrpc":"2.0","id":1,"method":"status","params":{"x":"' + b"a" * (1 << 20)
    big.send(payload + b'"}}\n')
    assert big.read()["error"]["code"] == -32012
    with pytest.raises((EOFError, ConnectionResetError, BrokenPipeError)):
        big.read()
    assert "result" in other.call("status")
    other.close()


def test_second_daemon_refused(daemon: Daemon, start_daemon: Any) -> None:
    with pytest.raises(RuntimeError):
        start_daemon()
    assert "another aionisd already answers" in daemon.log.read_text()
    assert "result" in Raw(daemon.socket).init().call("status")


def test_stale_socket_is_replaced(xdg: Xdg, start_daemon: Any) -> None:
    xdg.socket.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(xdg.socket))
    s.close()  # bound, never listening: a dead daemon's leftover
    d = start_daemon()
    assert "result" in Raw(d.socket).init().call("status")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_clean_exit_on_signal(daemon: Daemon, sig: int) -> None:
    assert daemon.stop(sig) == 0
    assert not daemon.socket.exists()


def test_bad_config_refuses_to_start(xdg: Xdg, start_daemon: Any) -> None:
    xdg.write_config("[replay]\nallow_local_exec = 'yes'\n")
    with pytest.raises(RuntimeError):
        start_daemon()
    log = (xdg.root / "aionisd.log").read_text().strip().splitlines()
    assert log[-1] == (
        f"aionisd: {xdg.config_file}: 'replay.allow_local_exec' must be true or false, got 'yes'"
    )


def test_peer_of_another_uid_is_refused(start_daemon: Any) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to connect as another uid")
    # A socket another user can reach (the test tree is private): open the 0700 directory and
    # the 0600 socket so that only the SO_PEERCRED check stands in the way.
    sock = Path(tempfile.mkdtemp(prefix="aionis-peer-")) / "run" / "aionisd.sock"
    os.chmod(sock.parent.parent, 0o755)
    daemon = start_daemon("--socket", str(sock))
    os.chmod(sock.parent, 0o755)
    os.chmod(sock, 0o666)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(r)
        try:
            os.setgid(65534)
            os.setuid(65534)
            c = Raw(daemon.socket)
            msg = c.read()
            os.write(w, json.dumps(msg).encode())
        except BaseException as e:
            os.write(w, json.dumps({"exc": repr(e)}).encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    msg = json.loads(os.read(r, 65536))
    assert msg.get("error", {}).get("code") == -32014, msg


def test_overflow_then_resubscribe_loses_nothing(daemon: Daemon, tmp_path: Path) -> None:
    trace = echo_trace(tmp_path / "big.jsonl", 1500)
    sub = Raw(daemon.socket).init()
    first = sub.call("events.subscribe", since_seq=0)["result"]
    assert first["subscription"] > 0
    # The subscriber does not read while ~3000 events are stored: its queue must overflow.
    r = Raw(daemon.socket, timeout=60).init().call("ingest", paths=[str(trace)])
    assert r["result"]["runs"][0]["steps"] == 1500
    seen: list[int] = []
    last = None
    while last is None:
        msg = sub.read()
        if msg.get("method") == "events.notify":
            seen.append(msg["params"]["seq"])
        elif msg.get("method") == "events.overflow":
            last = msg["params"]["last_seq"]
    assert seen == list(range(1, len(seen) + 1)) and last == seen[-1]
    end = Raw(daemon.socket).init().call("status")["result"]["last_seq"]
    assert end > last, "the test must overflow before the end"
    sub.call("events.subscribe", since_seq=last)
    while seen[-1] < end:
        msg = sub.read()
        if msg.get("method") == "events.notify":
            seen.append(msg["params"]["seq"])
    assert seen == list(range(1, end + 1))


def test_subscribe_live_with_kinds(daemon: Daemon, tmp_path: Path) -> None:
    sub = Raw(daemon.socket).init()
    sub.call("events.subscribe", kinds=["run."])
    Raw(daemon.socket).init().call("ingest", paths=[str(echo_trace(tmp_path / "t.jsonl", 2))])
    msg = sub.read()
    assert msg["method"] == "events.notify" and msg["params"]["kind"] == "run.started"
    assert sub.call("events.unsubscribe", subscription=msg["params"]["subscription"])["result"]
    assert sub.call("events.unsubscribe", subscription=999)["error"]["code"] == -32001


def test_client_refuses_a_socket_served_by_another_uid(tmp_path: Path) -> None:
    """Another user could plant a socket in a shared /tmp first: our env must not go to it."""
    if os.getuid() != 0:
        pytest.skip("needs root to listen as another uid")
    from aionisd.client import Client, DaemonNotRunning

    d = Path(tempfile.mkdtemp(prefix="aionis-planted-"))
    os.chmod(d, 0o777)
    path = d / "aionisd.sock"
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child: the impostor
        os.close(r)
        os.setgid(65534)
        os.setuid(65534)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(path))
        s.listen()
        os.write(w, b"ready")
        conn, _ = s.accept()
        conn.recv(65536)
        os._exit(0)
    os.close(w)
    assert os.read(r, 5) == b"ready"
    try:
        with pytest.raises(DaemonNotRunning, match="served by uid 65534"):
            Client(path)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
