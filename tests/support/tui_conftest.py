"""Helpers for the TUI tests: one real daemon per module, and Pilot waits on conditions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from textual.pilot import Pilot

from tests.conftest import Daemon, Xdg
from tests.support.e2e import native_trace
from tests.support.rpc import Raw

T = TypeVar("T")
SIZE = (100, 32)


def make_xdg(root: Path) -> Xdg:
    (root / "run").mkdir(parents=True, mode=0o700)
    home = root / "home"
    home.mkdir()
    return Xdg(
        root,
        {
            "XDG_CONFIG_HOME": str(root / "config"),
            "XDG_DATA_HOME": str(root / "data"),
            "XDG_RUNTIME_DIR": str(root / "run"),
            "HOME": str(home),
        },
    )


@pytest.fixture(scope="module")
def module_xdg(tmp_path_factory: pytest.TempPathFactory) -> Xdg:
    return make_xdg(tmp_path_factory.mktemp("tui") / "xdg")


@pytest.fixture(scope="module")
def shared_daemon(module_xdg: Xdg) -> Iterator[Daemon]:
    """One real aionisd for a whole module: tests use their own run ids, so they do not collide."""
    d = Daemon(module_xdg, ["--no-watch"]).start()
    yield d
    if d.proc and d.proc.poll() is None:
        d.kill()


def rpc(daemon: Daemon, method: str, **params: Any) -> Any:
    c = Raw(daemon.socket, timeout=60).init()
    try:
        msg = c.call(method, **params)
    finally:
        c.close()
    assert "result" in msg, msg
    return msg["result"]


def run(coro: Awaitable[T]) -> T:
    """Textual runs on asyncio; pytest-trio owns `async def` tests, so Pilot tests are sync."""
    return asyncio.run(coro)  # type: ignore[arg-type]


async def until(pilot: Pilot[Any], cond: Callable[[], object], what: str, timeout: float = 15) -> None:
    """Let the app run until `cond()` holds; fail naming `what` if it never does."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            app: Any = pilot.app
            notes = [f"{n.title}: {n.message}" for n in app._notifications]
            pytest.fail(
                f"timed out waiting for {what}; the screen shows:\n{screen_text(pilot)}\n"
                f"notifications: {notes}\nerrors: {getattr(app, 'errors', None)}"
            )
        await pilot.pause(0.02)


def screen_text(pilot: Pilot[Any]) -> str:
    """Everything the screen shows, as plain text lines (what a user reads)."""
    strips = pilot.app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)


def trace(
    path: Path, run_id: str, commands: list[str], *, cwd: str = "/home/me/proj", goal: str = ""
) -> Path:
    """A native trace of an agent that ran `commands`, each succeeding and printing `ok <i>`."""
    return native_trace(
        path, commands, run_id=run_id, cwd=cwd, goal=goal or f"goal of {run_id}", agent="claude"
    )
