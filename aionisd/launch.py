"""`make run`: start aionisd on the default store (unless one already answers), open the TUI,
stop the daemon we started when the TUI exits."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aionisd.paths import answers, default_socket


class DaemonFailed(Exception):
    """aionisd exited, or stayed silent, before it said it was ready."""


def start_daemon(
    args: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    stderr: Any = subprocess.DEVNULL,
    timeout: float = 30,
    new_session: bool = False,
) -> subprocess.Popen[bytes]:
    """Start aionisd; return once it says READY=1 (systemd's notify protocol). Waits on that
    datagram and on the process's pidfd together, so an early exit is seen at once."""
    with (
        tempfile.TemporaryDirectory(prefix="aionis-notify-") as d,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as ns,
    ):
        notify = Path(d) / "n.sock"
        ns.bind(str(notify))
        proc = subprocess.Popen(
            [sys.executable, "-m", "aionisd.daemon", *args],
            env={**(os.environ if env is None else env), "NOTIFY_SOCKET": str(notify)},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=new_session,
        )
        pidfd = os.pidfd_open(proc.pid)
        try:
            while True:
                ready, _, _ = select.select([ns.fileno(), pidfd], [], [], timeout)
                if not ready:
                    proc.terminate()
                    proc.wait()
                    raise DaemonFailed(f"aionisd did not become ready within {timeout:g}s")
                if ns.fileno() in ready and b"READY=1" in ns.recv(4096):
                    return proc
                if pidfd in ready:
                    proc.wait()
                    raise DaemonFailed(f"aionisd exited with {proc.returncode}")
        finally:
            os.close(pidfd)


def main() -> int:
    sock = default_socket()
    proc = None
    if not answers(sock):
        from aionisd.paths import data_dir

        data_dir().mkdir(parents=True, exist_ok=True)
        log = data_dir() / "aionisd.log"
        print(f"starting aionisd (log: {log}) ...", flush=True)
        try:
            proc = start_daemon(stderr=log.open("ab"), new_session=True)
        except DaemonFailed as e:
            raise SystemExit(f"{e}; see {log}") from None
    try:
        from aionis_tui.app import main as tui_main

        return tui_main(["--socket", str(sock)])
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    sys.exit(main())
