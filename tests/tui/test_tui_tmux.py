"""Smoke test: `aionis-tui` in a real terminal (tmux, 100x32) against the real daemon."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon, Xdg, need

pytestmark = pytest.mark.slow


class Tmux:
    """A private tmux server (its own socket), so a developer's sessions are never touched."""

    def __init__(self, name: str) -> None:
        self.base = ["tmux", "-L", name]
        self.session = name

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.base, *args], capture_output=True, text=True, check=check,
                              timeout=10)  # fmt: skip

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.session, check=False).stdout

    def alive(self) -> bool:
        return self.run("has-session", "-t", self.session, check=False).returncode == 0

    def wait(self, cond: Callable[[], bool], what: str, timeout: float = 20) -> None:
        """Poll the terminal until `cond` holds (a terminal has no event to wait on)."""
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}; the terminal shows:\n{self.screen()}")
            time.sleep(0.05)


def tui_command() -> list[str]:
    script = Path(sys.executable).parent / "aionis-tui"
    return [str(script)] if script.exists() else [sys.executable, "-m", "aionis_tui.app"]


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    need("tmux")
    t = Tmux(f"aionis-tui-test-{os.getpid()}")
    yield t
    t.run("kill-server", check=False)


def test_aionis_tui_in_a_real_terminal(xdg: Xdg, start_daemon: Any, tmux: Tmux) -> None:
    daemon: Daemon = start_daemon()
    env = {**xdg.env, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    cmd = ["env", *(f"{k}={v}" for k, v in env.items()), *tui_command(), "--socket",
           str(daemon.socket)]  # fmt: skip
    tmux.run("new-session", "-d", "-s", tmux.session, "-x", "100", "-y", "32",
             shlex.join(cmd))  # fmt: skip
    tmux.wait(lambda: "● live" in tmux.screen() and "Daemon" in tmux.screen(), "the dashboard")
    assert "aionis" in tmux.screen() and str(daemon.proc.pid if daemon.proc else "") in tmux.screen()
    tmux.run("send-keys", "-t", tmux.session, "2")
    tmux.wait(lambda: "─ runs ─" in tmux.screen(), "the runs screen")
    tmux.run("send-keys", "-t", tmux.session, "6")
    tmux.wait(lambda: "chain intact" in tmux.screen(), "the audit screen")
    tmux.run("send-keys", "-t", tmux.session, "q")
    tmux.wait(lambda: not tmux.alive(), "aionis-tui to quit")
