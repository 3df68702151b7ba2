"""Audit: the hash-chained log of every state change, whether it holds, filtered by action."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static

from aionis_tui import format as f
from aionis_tui.screens.base import AionisScreen
from aionis_tui.widgets.table import LiveTable

QUIET_KINDS = ("step.recorded", "replay.output", "run.updated", "replay.step.")


def verify_text(v: dict[str, Any] | None) -> Text:
    if v is None:
        return Text("chain not verified yet (v)", style="bright_black")
    if v.get("ok"):
        return Text(f"✓ chain intact: {v.get('entries')} entries verified", style="bold green")
    return Text(
        f"✗ chain BROKEN at seq {v.get('first_bad')} ({v.get('entries')} entries checked)",
        style="bold red",
    )


def entry_text(e: dict[str, Any]) -> Text:
    out = Text()
    out.append(f"#{e.get('seq')} {e.get('action')}", style="bold")
    out.append(f"  {e.get('subject')}\n")
    out.append(f"{e.get('ts')}  by {e.get('actor')}\n", style="bright_black")
    out.append(f"hash {e.get('hash')}\n", style="bright_black")
    out.append(json.dumps(e.get("data"), indent=2, sort_keys=True, ensure_ascii=False))
    return out


class AuditScreen(AionisScreen):
    MODE = "audit"
    RELOAD_DELAY = 0.5
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("v", "verify", "Verify chain"),
        Binding("slash", "focus_filter", "Filter"),
        Binding("r", "refresh", "Refresh"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[dict[str, Any]] = []
        self.action = ""
        self.verification: dict[str, Any] | None = None
        self.actions: Counter[str] = Counter()
        self._filter_timer: Timer | None = None

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="audit-top"):
            yield Static(verify_text(None), id="audit-verify")
            yield Input(placeholder="filter by action (/)", id="audit-filter", compact=True)
        table: DataTable[Text] = LiveTable(id="audit-table", cursor_type="row", classes="main")
        yield table
        with VerticalScroll(id="audit-entry"):
            yield Static(id="audit-entry-text")

    def on_mount(self) -> None:
        table = self.query_one("#audit-table", DataTable)
        for c in ("seq", "time", "actor", "action", "subject", "hash"):
            table.add_column(c, key=c)
        table.border_title = "audit log"
        self.query_one("#audit-entry").border_title = "entry"
        super().on_mount()
        table.focus()

    async def load(self) -> None:
        action = self.action
        params: dict[str, Any] = {"limit": 500}
        if action:
            params["action"] = action
        res = await self.call("audit.list", **params)
        if action != self.action:
            return
        self.entries = res.get("entries") or []
        if not action:
            self.actions = Counter(str(e.get("action")) for e in self.entries)
        table = self.query_one("#audit-table", DataTable)
        table.clear()
        for e in self.entries:
            table.add_row(
                f.text(e.get("seq"), "bright_black"),
                f.text(str(e.get("ts") or "")[:19].replace("T", " ")),
                f.text(e.get("actor"), "cyan"),
                f.text(e.get("action"), "bold"),
                f.text(f.short(str(e.get("subject") or ""), 30)),
                f.text(f.short(str(e.get("hash") or ""), 12), "bright_black"),
                key=str(e.get("seq")),
            )
        shown = f"{len(self.entries)} entries" + (f" matching {action!r}" if action else "")
        if self.actions and not action:
            shown += "  ·  " + " ".join(f"{a}({n})" for a, n in self.actions.most_common(4))
        table.border_subtitle = shown
        self.show_entry()
        self.verification = await self.call("audit.verify")
        self.query_one("#audit-verify", Static).update(verify_text(self.verification))

    def show_entry(self) -> None:
        table = self.query_one("#audit-table", DataTable)
        row = table.cursor_row
        text = self.query_one("#audit-entry-text", Static)
        if 0 <= row < len(self.entries):
            text.update(entry_text(self.entries[row]))
        else:
            text.update(Text("no entries", style="bright_black"))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_entry()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.action = event.value.strip()
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(0.25, self.reload)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#audit-table", DataTable).focus()

    def action_focus_filter(self) -> None:
        self.query_one("#audit-filter", Input).focus()

    def action_clear_filter(self) -> None:
        self.query_one("#audit-filter", Input).value = ""
        self.query_one("#audit-table", DataTable).focus()

    def action_refresh(self) -> None:
        self.reload()

    def action_verify(self) -> None:
        async def go() -> None:
            self.verification = await self.call("audit.verify")
            self.query_one("#audit-verify", Static).update(verify_text(self.verification))
            ok = self.verification.get("ok")
            self.notify(
                "chain intact" if ok else "chain broken",
                title="audit.verify",
                severity="information" if ok else "error",
            )

        self.spawn(go)

    def apply_events(self, events: list[dict[str, Any]]) -> None:
        if any(not str(ev.get("kind", "")).startswith(QUIET_KINDS) for ev in events):
            self.schedule_reload()
