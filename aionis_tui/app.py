"""The aionis TUI: six screens over the daemon's socket API, live through events.subscribe.

Events are not applied as they arrive: they are collected and flushed once per frame (30 Hz), so a
flood of a thousand events a second costs a few dozen screen updates, not a thousand.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import var
from textual.screen import Screen

from aionis_tui.backend import Backend, ConnState
from aionis_tui.format import now_utc, parse_ts
from aionis_tui.screens.audit import AuditScreen
from aionis_tui.screens.base import AionisScreen
from aionis_tui.screens.dashboard import DashboardScreen
from aionis_tui.screens.playbooks import PlaybooksScreen
from aionis_tui.screens.replay import ReplayScreen
from aionis_tui.screens.review import ReviewScreen
from aionis_tui.screens.runs import RunsScreen
from aionis_tui.widgets.chrome import SCREENS

FRAME_S = 1 / 30


@dataclass
class FrameStats:
    """What the bench reads: how many events were shown, in how many frames, how late.

    `lags`: from arrival at the client to the refresh that shows it; `stored_lags`: from the
    daemon storing the event (its `ts`, wall clock) to that refresh.
    """

    events: int = 0
    flushes: int = 0
    max_batch: int = 0
    lags: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    stored_lags: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))

    last_shown: float = 0.0

    def shown(self, arrived: float, stored: datetime | None) -> None:
        self.last_shown = time.monotonic()
        self.lags.append(self.last_shown - arrived)
        if stored is not None:
            self.stored_lags.append(time.time() - stored.timestamp())


class AionisApp(App[None]):
    """The developer's window into aionis."""

    CSS_PATH = "aionis.tcss"
    TITLE = "aionis"
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        "dashboard": DashboardScreen,
        "runs": RunsScreen,
        "playbooks": PlaybooksScreen,
        "replay": ReplayScreen,
        "review": ReviewScreen,
        "audit": AuditScreen,
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(str(i), f"goto('{mode}')", label, show=False)
            for i, (mode, label) in enumerate(SCREENS, 1)
        ),
        Binding("q", "quit", "Quit"),
    ]

    conn: var[ConnState] = var(ConnState(False, "connecting to aionisd"), init=False)

    def __init__(
        self,
        socket: str | Path | None = None,
        *,
        backend: Backend | None = None,
        clock: Callable[[], datetime] = now_utc,
        start_mode: str = "dashboard",
    ) -> None:
        super().__init__()
        self.backend = backend or Backend(socket)
        self.clock = clock
        self.start_mode = start_mode
        self.errors: list[Exception] = []
        self.listeners: set[AionisScreen] = set()
        self.frames = FrameStats()
        self._inbox: list[dict[str, Any]] = []
        self._inbox_since = 0.0
        self._was_connected = False
        self.conn = self.backend.state

    def on_mount(self) -> None:
        self.backend.on_event = self._receive
        self.backend.on_state = self._state_changed
        self.run_worker(self.backend.run(), name="backend", group="backend", exit_on_error=False)
        self.set_interval(FRAME_S, self.flush_events, name="frame")
        self.switch_mode(self.start_mode)

    def _receive(self, event: dict[str, Any]) -> None:
        if not self._inbox:
            self._inbox_since = time.monotonic()
        self._inbox.append(event)

    def flush_events(self) -> None:
        """Hand the frame's batch to every screen at once, then note when it reached the screen."""
        if not self._inbox:
            return
        batch, self._inbox = self._inbox, []
        arrived = self._inbox_since
        for screen in list(self.listeners):
            try:
                screen.apply_events(batch)
            except Exception as e:
                self.errors.append(e)
                self.log.error(f"{type(screen).__name__}.apply_events: {e!r}")
                screen.reload()
        self.frames.events += len(batch)
        self.frames.flushes += 1
        self.frames.max_batch = max(self.frames.max_batch, len(batch))
        self.call_after_refresh(self.frames.shown, arrived, parse_ts(batch[0].get("ts")))

    def _state_changed(self, state: ConnState) -> None:
        was = self.conn.connected
        self.conn = state
        if state.connected == was:
            return
        if not state.connected:
            self.notify(state.message, title="aionisd went away", severity="error", timeout=6)
        elif self._was_connected:
            self.clear_notifications()
            self.notify("reconnected; caught up from the last event seen", title="aionisd is back")
        self._was_connected = self._was_connected or state.connected
        for screen in list(self.listeners):
            screen.on_connection(state)

    def action_goto(self, mode: str) -> None:
        if self.current_mode != mode:
            self.switch_mode(mode)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for i, (mode, label) in enumerate(SCREENS, 1):
            yield SystemCommand(
                f"Go to {label}",
                f"Show the {label} screen (key {i})",
                lambda m=mode: self.action_goto(m),
            )
        if isinstance(screen, AionisScreen):
            yield from screen.commands()
        yield from super().get_system_commands(screen)

    def screen_of(self, mode: str) -> AionisScreen | None:
        """The mode's base screen, once it has been shown."""
        stack = self._screen_stacks.get(mode) or []
        return stack[0] if stack and isinstance(stack[0], AionisScreen) else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="aionis-tui",
        description="The aionis TUI: runs, playbooks, live replays, the review queue and the audit "
        "log of a running aionisd (start one with `aionisd`, or use `make run`).",
    )
    parser.add_argument("--socket", help="aionisd socket (default: $XDG_RUNTIME_DIR/aionis/...)")
    parser.add_argument(
        "--screen",
        choices=[m for m, _ in SCREENS],
        default="dashboard",
        help="the screen to open first",
    )
    args = parser.parse_args(argv)
    AionisApp(socket=args.socket, start_mode=args.screen).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
