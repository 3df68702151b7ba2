"""Playbooks: find one (search or list), see whether its signature holds, open its detail."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static

from aionis_tui import format as f
from aionis_tui.screens.base import AionisScreen
from aionis_tui.screens.replay import ReplayScreen
from aionis_tui.widgets.modals import ConfirmModal
from aionis_tui.widgets.table import LiveTable

LIST_COLUMNS = ("status", "name", "ver", "signature", "steps", "checks", "replays", "about")


def playbook_row(pb: dict[str, Any]) -> list[Text]:
    replays = int(pb.get("replays") or 0)
    ok = int(pb.get("replays_succeeded") or 0)
    about = "; ".join(pb.get("why") or []) if pb.get("why") else (pb.get("goal") or "")
    return [
        f.status_text(pb.get("status")),
        f.text(pb.get("name"), "bold"),
        f.text(f"v{pb.get('version')}"),
        f.signature(pb.get("signature")),
        f.text(pb.get("steps")),
        f.text(pb.get("checks")),
        f.text(f"{ok}/{replays}" if replays else "—", "green" if replays and ok == replays else ""),
        f.text(f.one_line(about, 34), "bright_black"),
    ]


def precondition_text(pre: Any) -> str:
    if not isinstance(pre, dict):
        return str(pre)
    kind = pre.get("type") or pre.get("kind") or "?"
    args = ", ".join(f"{v}" for k, v in pre.items() if k not in ("type", "kind"))
    return f"{kind} {args}".strip()


def expect_text(step: dict[str, Any]) -> str:
    exp = step.get("expect") or {}
    parts = []
    if exp.get("exit_code") is not None:
        parts.append(f"exit {exp['exit_code']}")
    if exp.get("creates"):
        parts.append(f"creates {exp['creates']}")
    if exp.get("stdout_contains"):
        parts.append(f"stdout ∋ {exp['stdout_contains']!r}")
    return ", ".join(parts)


def summary_text(pb: dict[str, Any]) -> Text:
    doc = pb.get("document") or {}
    v = pb.get("verification") or {}
    ver = Text()
    if v.get("ok"):
        ver.append(f"✓ valid, signed by {v.get('signer')}", style="green")
    else:
        ver.append_text(f.signature(pb.get("signature")))
        if v.get("reason"):
            ver.append(f"  {v.get('reason')}", style="red")
    src = doc.get("source") or {}
    return f.kv(
        [
            ("name", Text(str(pb.get("name")), style="bold")),
            ("id", pb.get("id")),
            ("version", f"v{pb.get('version')}"),
            ("status", f.status_text(pb.get("status"))),
            ("signature", ver),
            ("signer", f"{pb.get('signer')}  {pb.get('keyid') or ''}"),
            ("digest", pb.get("digest")),
            ("goal", doc.get("goal") or pb.get("goal")),
            ("compiled from", f"run {src.get('run_id') or pb.get('run_id')} ({src.get('agent')})"),
            ("created", pb.get("created_at")),
        ]
    )


def params_text(doc: dict[str, Any]) -> Text:
    params = doc.get("params") or []
    if not params:
        return Text("no parameters", style="bright_black")
    out = Text()
    for i, prm in enumerate(params):
        if i:
            out.append("\n")
        out.append(f"${{{prm.get('name')}}}", style="bold cyan")
        if prm.get("secret"):
            out.append("  secret", style="yellow")
        elif prm.get("default") is not None:
            out.append(f"  = {prm.get('default')}")
        if prm.get("description"):
            out.append(f"  {prm.get('description')}", style="bright_black")
    return out


def preconditions_text(doc: dict[str, Any]) -> Text:
    pres = doc.get("preconditions") or []
    checks = doc.get("success") or []
    out = Text()
    if not pres:
        out.append("no preconditions", style="bright_black")
    for i, pre in enumerate(pres):
        if i:
            out.append("\n")
        out.append("• ", style="cyan")
        out.append(precondition_text(pre))
    if checks:
        out.append("\n\nsuccess checks\n", style="bold")
        for i, c in enumerate(checks):
            if i:
                out.append("\n")
            out.append("✓ ", style="green")
            out.append(f.step_summary(c) if isinstance(c, dict) else str(c))
    return out


def lineage_text(pb: dict[str, Any]) -> Text:
    """Versions oldest first, each saying where it came from: a run, or a repair of a version."""
    out = Text()
    versions = pb.get("versions") or []
    for i, v in enumerate(versions):
        if i:
            out.append("\n")
        current = v.get("version") == pb.get("version")
        out.append("▶ " if current else "  ", style="bold")
        out.append(f"v{v.get('version')} ", style="bold" if current else "")
        out.append_text(f.status_text(v.get("status")))
        out.append(f"  {f.short(v.get('digest'), 19)}  {v.get('signer') or ''}", style="bright_black")
        origin = v.get("repaired_from")
        if origin:
            out.append(f"  ← repair {origin}", style="magenta")
        elif v.get("run_id"):
            out.append(f"  ← run {v.get('run_id')}", style="bright_black")
    return out or Text("no versions", style="bright_black")


class PlaybooksScreen(AionisScreen):
    MODE = "playbooks"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_search", "Search"),
        Binding("o", "open", "Open"),
        Binding("p", "replay", "Replay"),
        Binding("r", "refresh", "Refresh"),
        Binding("escape", "clear_search", "Clear", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.playbooks: list[dict[str, Any]] = []
        self.query_text = ""
        self._search_timer: Timer | None = None

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="/ search playbooks by task", id="pb-search", compact=True)
        table: DataTable[Text] = LiveTable(id="pb-table", cursor_type="row", classes="main")
        yield table

    def on_mount(self) -> None:
        table = self.query_one("#pb-table", DataTable)
        for c in LIST_COLUMNS:
            table.add_column(c, key=c)
        table.border_title = "playbooks"
        super().on_mount()
        table.focus()

    def commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Search playbooks", "playbooks.search", self.action_focus_search)

    async def load(self) -> None:
        text = self.query_text
        if text:
            res = await self.call("playbooks.search", text=text, all=True, limit=50)
        else:
            res = await self.call("playbooks.list", limit=200)
        if text != self.query_text:
            return
        self.playbooks = res.get("playbooks") or []
        table = self.query_one("#pb-table", DataTable)
        table.clear()
        for pb in self.playbooks:
            table.add_row(*playbook_row(pb), key=f"{pb.get('id')}")
        if self.playbooks:
            table.border_subtitle = f"{len(self.playbooks)} " + ("found" if text else "playbooks")
        else:
            table.border_subtitle = (
                f"nothing matches {text!r}" if text else "none yet: compile a run (2, then c)"
            )

    def selected(self) -> dict[str, Any] | None:
        table = self.query_one("#pb-table", DataTable)
        if not self.playbooks or table.cursor_row < 0 or table.cursor_row >= len(self.playbooks):
            return None
        return self.playbooks[table.cursor_row]

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value.strip()
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(0.25, self.reload)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#pb-table", DataTable).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_focus_search(self) -> None:
        self.query_one("#pb-search", Input).focus()

    def action_clear_search(self) -> None:
        search = self.query_one("#pb-search", Input)
        if search.value:
            search.value = ""
        self.query_one("#pb-table", DataTable).focus()

    def action_refresh(self) -> None:
        self.reload()

    def action_open(self) -> None:
        pb = self.selected()
        if pb is not None:
            self.app.push_screen(PlaybookDetailScreen(str(pb["id"]), pb.get("version")))

    def action_replay(self) -> None:
        pb = self.selected()
        if pb is not None:
            self.spawn(lambda: open_replay(self, str(pb["id"]), pb.get("version")))

    def apply_events(self, events: list[dict[str, Any]]) -> None:
        if any(
            str(ev.get("kind", "")).startswith(("playbook.", "replay.finished", "review.")) for ev in events
        ):
            self.schedule_reload()


async def open_replay(screen: AionisScreen, playbook: str, version: int | None) -> None:
    """Switch to the Replay screen with this playbook chosen (the user confirms there)."""
    await screen.app.switch_mode("replay")
    replay = screen.aionis.screen_of("replay")
    if isinstance(replay, ReplayScreen):
        await replay.prepare(playbook, version=version)


class PlaybookDetailScreen(AionisScreen):
    """One version: what it needs, what it does, how it was signed, where it came from."""

    MODE = "playbooks"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("p", "replay", "Replay"),
        Binding("v", "verify", "Verify"),
        Binding("a", "activate", "Activate"),
        Binding("left_square_bracket", "version(-1)", "Older"),
        Binding("right_square_bracket", "version(1)", "Newer"),
    ]

    def __init__(self, playbook_id: str, version: int | None = None) -> None:
        super().__init__()
        self.playbook_id = playbook_id
        self.version = version
        self.pb: dict[str, Any] = {}

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="pb-detail-body"):
            yield Static(Text("loading…"), id="pb-summary", classes="panel")
            yield Static(id="pb-params", classes="panel")
            yield Static(id="pb-pre", classes="panel")
            steps: DataTable[Text] = LiveTable(id="pb-steps", cursor_type="row")
            yield steps
            yield Static(id="pb-versions", classes="panel")

    def on_mount(self) -> None:
        titles = {
            "pb-summary": "Playbook",
            "pb-params": "Parameters",
            "pb-pre": "Preconditions",
            "pb-versions": "Versions and lineage",
        }
        for wid, title in titles.items():
            self.query_one(f"#{wid}").border_title = title
        steps = self.query_one("#pb-steps", DataTable)
        steps.border_title = "Steps"
        for c in ("#", "id", "kind", "does", "expect", "risk"):
            steps.add_column(c, key=c)
        super().on_mount()

    async def load(self) -> None:
        params: dict[str, Any] = {"id": self.playbook_id}
        if self.version is not None:
            params["version"] = self.version
        pb = await self.call("playbooks.get", **params)
        self.pb = pb
        self.version = pb.get("version")
        doc = pb.get("document") or {}
        self.query_one("#pb-summary", Static).update(summary_text(pb))
        self.query_one("#pb-params", Static).update(params_text(doc))
        self.query_one("#pb-pre", Static).update(preconditions_text(doc))
        self.query_one("#pb-versions", Static).update(lineage_text(pb))
        table = self.query_one("#pb-steps", DataTable)
        table.clear()
        for i, st in enumerate(doc.get("steps") or [], 1):
            risk = st.get("risk")
            table.add_row(
                f.text(i, "bright_black"),
                f.text(st.get("id")),
                f.text(st.get("kind"), "cyan"),
                f.text(f.one_line(f.step_summary(st), 120)),
                f.text(expect_text(st), "bright_black"),
                f.text(risk or "", "red" if risk in ("high", "destructive") else "yellow"),
            )
        table.border_subtitle = f"{table.row_count} steps"

    def action_back(self) -> None:
        self.dismiss()

    def action_version(self, delta: int) -> None:
        versions = [int(v["version"]) for v in self.pb.get("versions") or []]
        if self.version is None or self.version not in versions:
            return
        i = versions.index(self.version) + delta
        if 0 <= i < len(versions):
            self.version = versions[i]
            self.reload()

    def action_replay(self) -> None:
        self.spawn(lambda: open_replay(self, self.playbook_id, self.version))

    def action_verify(self) -> None:
        async def go() -> None:
            v = await self.call("playbooks.verify", id=self.playbook_id, version=self.version)
            if v.get("ok"):
                self.notify(f"signature valid, signer {v.get('signer')} is trusted", title="verified")
            else:
                self.notify(str(v.get("reason")), title="verification failed", severity="error")

        self.spawn(go)

    def action_activate(self) -> None:
        pb = self.pb
        if not pb:
            return

        async def go() -> None:
            body = Text(
                f"Make {pb.get('name')} v{pb.get('version')} the active version?\n"
                "Replays without a version use the active one."
            )
            if not await self.app.push_screen_wait(ConfirmModal("Activate version", body)):
                return
            res = await self.call(
                "playbooks.promote", id=self.playbook_id, version=pb.get("version"), status="active"
            )
            self.notify(f"v{res.get('version')} is {res.get('status')}", title="promoted")
            self.reload()

        self.spawn(go)

    def apply_events(self, events: list[dict[str, Any]]) -> None:
        if any(str(ev.get("kind", "")).startswith(("playbook.", "review.")) for ev in events):
            self.schedule_reload()


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
