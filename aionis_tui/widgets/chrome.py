"""The chrome every screen shares: the one-line navigation bar and the connection banner."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.widgets import Static

from aionis_tui.backend import ConnState

if TYPE_CHECKING:
    from aionis_tui.app import AionisApp

SCREENS: tuple[tuple[str, str], ...] = (
    ("dashboard", "Dashboard"),
    ("runs", "Runs"),
    ("playbooks", "Playbooks"),
    ("replay", "Replay"),
    ("review", "Review"),
    ("audit", "Audit"),
)


def nav_text(active: str, state: ConnState, width: int) -> Text:
    """`aionis  1 Dashboard  2 Runs …  ● live`; when narrow only the active label is spelled out."""
    dot = Text("● live", style="green") if state.connected else Text("○ offline", style="red")
    for compact in (False, True):
        out = Text(" aionis ", style="bold reverse")
        out.append(" ")
        for i, (mode, label) in enumerate(SCREENS, 1):
            if mode == active:
                out.append(f" {i} {label} ", style="bold reverse")
            else:
                out.append(f" {i}", style="bold cyan")
                if not compact:
                    out.append(f" {label}")
            out.append(" ")
        if out.cell_len + dot.cell_len + 1 <= width:
            break
    pad = width - out.cell_len - dot.cell_len - 1
    out.append(" " * max(pad, 1))
    out.append_text(dot)
    return out


class NavBar(Static):
    """Which screen is shown, how to reach the others, and whether the daemon is live."""

    DEFAULT_CSS = "NavBar { height: 1; background: $panel; }"

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    @property
    def aionis(self) -> AionisApp:
        return cast("AionisApp", self.app)

    def on_mount(self) -> None:
        self.watch(self.app, "conn", self._redraw)

    def on_resize(self) -> None:
        self._redraw(self.aionis.conn)

    def _redraw(self, state: ConnState) -> None:
        self.update(nav_text(self.mode, state, self.size.width or 80))


class ConnectionBanner(Static):
    """Says plainly that the daemon is gone and that the app is reconnecting by itself."""

    DEFAULT_CSS = """
    ConnectionBanner {
        height: auto; background: $error; color: $text; padding: 0 1; display: none;
    }
    ConnectionBanner.-offline { display: block; }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "conn", self._redraw)

    def _redraw(self, state: ConnState) -> None:
        self.set_class(not state.connected, "-offline")
        self.update(Text(f"⚠ {state.message}"))
