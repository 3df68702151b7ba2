"""Shared fixtures: a temporary XDG tree and the real aionisd process on it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from aionisd import launch

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples"
DATA = Path(__file__).resolve().parent / "data"
# Tests that read the real sessions in ../shared/samples skip on a checkout without them.
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"samples not found at {SAMPLES}")


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


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return {"PATH": os.environ["PATH"], "HOME": str(home)}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    wd = tmp_path / "work"
    wd.mkdir()
    return wd


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
        try:
            self.proc = launch.start_daemon(
                self.args, env={**os.environ, **self.xdg.env}, stderr=self.log.open("ab"), timeout=timeout
            )
        except launch.DaemonFailed as e:
            raise RuntimeError(f"{e}:\n{self.log.read_text()}") from None
        return self

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
