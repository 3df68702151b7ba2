"""Shared fixtures: a temporary XDG tree and the real aionisd process on it."""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples"
DATA = Path(__file__).resolve().parent / "data"


@dataclass
class Xdg:
    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def config_dir(self) -> Path:
        return self.root / "config" / "aionis"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def socket(self) -> Path:
        return self.root / "run" / "aionis" / "aionisd.sock"

    @property
    def db(self) -> Path:
        return self.root / "data" / "aionis" / "aionis.db"

    def write_config(self, text: str) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(text)


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Xdg:
    root = tmp_path / "xdg"
    (root / "run").mkdir(parents=True, mode=0o700)
    home = root / "home"
    home.mkdir()
    env = {
        "XDG_CONFIG_HOME": str(root / "config"),
        "XDG_DATA_HOME": str(root / "data"),
        "XDG_RUNTIME_DIR": str(root / "run"),
        "HOME": str(home),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AIONIS_SOCKET", raising=False)
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    return Xdg(root, env)


class Daemon:
    """The real aionisd process; started when systemd-style READY=1 arrives, not after a sleep."""

    def __init__(self, xdg: Xdg, args: list[str]) -> None:
        self.xdg = xdg
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = xdg.root / "aionisd.log"

    @property
    def socket(self) -> Path:
        if "--socket" in self.args:
            return Path(self.args[self.args.index("--socket") + 1])
        return self.xdg.socket

    def start(self, timeout: float = 20) -> Daemon:
        notify_path = self.xdg.root / f"notify-{os.getpid()}-{id(self)}.sock"
        notify_path.unlink(missing_ok=True)
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(str(notify_path))
        env = {**os.environ, **self.xdg.env, "NOTIFY_SOCKET": str(notify_path)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aionisd.daemon", *self.args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
        )
        pidfd = os.pidfd_open(self.proc.pid)
        try:
            while True:
                ready, _, _ = select.select([ns, pidfd], [], [], timeout)
                if not ready:
                    raise RuntimeError(f"aionisd did not become ready:\n{self.log.read_text()}")
                if ns in ready and b"READY=1" in ns.recv(4096):
                    return self
                if pidfd in ready:  # it exited before saying READY
                    self.proc.wait()
                    raise RuntimeError(f"aionisd exited with {self.proc.returncode}:\n{self.log.read_text()}")
        finally:
            os.close(pidfd)
            ns.close()
            notify_path.unlink(missing_ok=True)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def start_daemon(xdg: Xdg) -> Iterator[object]:
    started: list[Daemon] = []

    def start(*args: str, watch: bool = False) -> Daemon:
        d = Daemon(xdg, [*args] if watch else ["--no-watch", *args])
        started.append(d)
        return d.start()

    yield start
    for d in started:
        if d.proc and d.proc.poll() is None:
            d.kill()


@pytest.fixture
def daemon(start_daemon: object) -> Daemon:
    return start_daemon()  # type: ignore[operator,no-any-return]


def aionis(xdg: Xdg, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "aionisd.cli", *args],
        env={**os.environ, **xdg.env},
        capture_output=True,
        text=True,
        input=input,
        timeout=120,
    )


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (make system-deps installs it)")
