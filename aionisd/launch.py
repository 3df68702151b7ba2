"""`make run`: start aionisd on the default store (unless one already answers), open the TUI,
stop the daemon we started when the TUI exits."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from aionisd.client import answers
from aionisd.paths import default_socket


def start_daemon(log: Path) -> subprocess.Popen[bytes]:
    """Start aionisd and wait for its READY=1 (the systemd notify protocol), not for a timer."""
    notify = Path(tempfile.mkdtemp(prefix="aionis-notify-")) / "n.sock"
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(str(notify))
    ns.settimeout(30)
    env = {**os.environ, "NOTIFY_SOCKET": str(notify)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "aionisd.daemon"],
        env=env,
        stderr=log.open("ab"),
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while b"READY=1" not in ns.recv(4096):
            pass
    except TimeoutError:
        proc.terminate()
        raise SystemExit(f"aionisd did not start; see {log}") from None
    finally:
        ns.close()
        notify.unlink(missing_ok=True)
        notify.parent.rmdir()
    return proc


def main() -> int:
    sock = default_socket()
    proc = None
    if not answers(sock):
        from aionisd.paths import data_dir

        data_dir().mkdir(parents=True, exist_ok=True)
        log = data_dir() / "aionisd.log"
        print(f"starting aionisd (log: {log}) ...", flush=True)
        proc = start_daemon(log)
    try:
        from aionis_tui.app import main as tui_main

        return tui_main(["--socket", str(sock)])
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    sys.exit(main())
