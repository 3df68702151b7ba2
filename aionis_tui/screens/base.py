"""What every screen shares: chrome, loading through the backend, live events, error notices."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual.app import ComposeResult, SystemCommand
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Static
from textual.worker import Worker

from aionis_tui.backend import ApiError, ConnState, DaemonNotRunning, NotAvailable
from aionis_tui.widgets.chrome import ConnectionBanner, NavBar

if TYPE_CHECKING:
    from aionis_tui.app import AionisApp


def describe_error(e: BaseException) -> Text:
    """One readable line for what went wrong, as a user would want to read it."""
    if isinstance(e, NotAvailable):
        return Text(f"{e.message} in this aionisd", style="yellow")
    if isinstance(e, DaemonNotRunning):
        return Text(str(e), style="red")
    if isinstance(e, ApiError):
        return Text(f"{e.message} (code {e.code})", style="red")
    return Text(f"{type(e).__name__}: {e}", style="red")


class AionisScreen(Screen[None]):
    """A screen fed by the daemon: `load()` fetches, `apply_events()` follows live events."""

    MODE: ClassVar[str] = ""
    RELOAD_DELAY: ClassVar[float] = 0.3

    def __init__(self) -> None:
        super().__init__()
        self.stale = False
        self._reload_timer: Timer | None = None

    @property
    def aionis(self) -> AionisApp:
        return cast("AionisApp", self.app)

    def compose(self) -> ComposeResult:
        yield NavBar(self.MODE)
        yield ConnectionBanner()
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield Static()

    def on_mount(self) -> None:
        self.aionis.listeners.add(self)
        if self.aionis.conn.connected:
            self.reload()

    def on_unmount(self) -> None:
        self.aionis.listeners.discard(self)

    def on_screen_resume(self) -> None:
        if self.stale:
            self.reload()

    async def call(self, method: str, /, **params: Any) -> Any:
        return await self.aionis.backend.call(method, **params)

    def reload(self) -> None:
        self.stale = False
        self.spawn_exclusive(self.load, group="load")

    def schedule_reload(self) -> None:
        """Coalesce bursts of events into one fetch; off-screen screens just remember to refetch."""
        if not self.is_current:
            self.stale = True
            return
        if self._reload_timer is None:
            self._reload_timer = self.set_timer(self.RELOAD_DELAY, self._timed_reload)

    def _timed_reload(self) -> None:
        self._reload_timer = None
        self.reload()

    def _work(self, fn: Callable[[], Awaitable[None]]) -> Callable[[], Coroutine[None, None, None]]:
        """A worker body made only when the worker starts (no orphan coroutine if it never does)."""

        async def work() -> None:
            await self._guarded(fn)

        return work

    async def _guarded(self, fn: Callable[[], Awaitable[None]]) -> None:
        try:
            await fn()
        except (ApiError, DaemonNotRunning) as e:
            self.show_error(describe_error(e), on_pane=isinstance(e, NotAvailable))
        except Exception as e:
            self.log.error(f"{type(self).__name__}: {e!r}")
            self.aionis.errors.append(e)
            self.show_error(Text(f"internal error: {type(e).__name__}: {e}", style="red"))

    def spawn(self, fn: Callable[[], Awaitable[None]], group: str = "action") -> None:
        """Run an API action off the UI loop, with its errors shown instead of raised."""
        self._start(fn, group, exclusive=False)

    def spawn_exclusive(self, fn: Callable[[], Awaitable[None]], group: str) -> None:
        """Like `spawn`, but a newer request in `group` cancels the older one."""
        self._start(fn, group, exclusive=True)

    def _start(self, fn: Callable[[], Awaitable[None]], group: str, *, exclusive: bool) -> None:
        _: Worker[None] = self.run_worker(
            self._work(fn), group=group, exclusive=exclusive, exit_on_error=False
        )

    def show_error(self, message: Text, *, on_pane: bool = False) -> None:
        """A toast; with `on_pane` also on the main pane, so "not available yet" stays in view."""
        self.notify(message.plain, severity="warning" if message.style == "yellow" else "error")
        if on_pane:
            for pane in self.query(".main"):
                pane.border_subtitle = message.plain

    async def load(self) -> None:
        """Fetch what the screen shows."""

    def commands(self) -> Iterable[SystemCommand]:
        """Screen-specific entries for the command palette."""
        return ()

    def apply_events(self, events: list[dict[str, Any]]) -> None:
        """A frame's batch of `events.notify` params, oldest first."""

    def on_connection(self, state: ConnState) -> None:
        if state.connected:
            self.reload()
