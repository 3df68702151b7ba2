"""Dashboard: is the daemon alive, what does it watch, what has it recorded, what has it saved."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from aionis_tui import format as f
from aionis_tui.backend import ConnState, NotAvailable
from aionis_tui.examples import example_session
from aionis_tui.screens.base import AionisScreen, describe_error
from aionis_tui.screens.replay import ReplayScreen


def daemon_panel(status: dict[str, Any], width: int = 60) -> Text:
    exec_on = bool(status.get("allow_local_exec"))
    w = max(16, width - 12)
    return f.kv(
        [
            ("version", status.get("version")),
            ("pid", status.get("pid")),
            ("uptime", f.uptime(status.get("uptime_s"))),
            ("socket", f.path(status.get("socket"), w)),
            ("database", f.path(status.get("db"), w)),
            ("config", f.path(status.get("config"), w) if status.get("config") else "(defaults)"),
            (
                "local exec",
                Text("allowed", style="green")
                if exec_on
                else Text("off (strict/guided refuse)", style="yellow"),
            ),
            ("last event", status.get("last_seq")),
        ],
        width=12,
    )


def counts_panel(counts: dict[str, Any]) -> Text:
    pending = int(counts.get("repairs_pending") or 0)
    errors = int(counts.get("ingest_errors") or 0)
    return f.kv(
        [
            ("runs", counts.get("runs", 0)),
            ("steps", counts.get("steps", 0)),
            ("playbooks", counts.get("playbooks", 0)),
            ("to review", Text(str(pending), style="bold yellow" if pending else "")),
            ("ingest errors", Text(str(errors), style="bold red" if errors else "")),
        ],
        width=14,
    )


def sources_panel(
    status: dict[str, Any], sources: list[dict[str, Any]], errors: list[dict[str, Any]], width: int = 96
) -> Text:
    """Watched places first (the first question is "where does it look?"), then the first page
    of their files (`status` only counts them)."""
    out = Text()
    pw = max(20, width - 24)
    watch: dict[str, str] = status.get("watch") or {}
    counts: dict[str, Any] = status.get("sources") or {}
    by_dir: dict[str, int] = counts.get("by_dir") or {}
    if not watch:
        out.append("not watching any directory (aionisd --no-watch); use ingest\n", style="yellow")
    for d, adapter in sorted(watch.items()):
        n = by_dir.get(d, 0)
        here = Path(d).is_dir()
        out.append("✓ " if here else "○ ", style="green" if here else "bright_black")
        out.append(f.path(d, pw), style="" if here else "bright_black")
        out.append(f"  {adapter}", style="cyan")
        out.append(f"  {n} files\n" if here else "  (not found yet)\n", style="bright_black")
    for s in sources[:8]:
        errs = int(s.get("errors") or 0)
        off, size = int(s.get("offset") or 0), int(s.get("size") or 0)
        if errs:
            out.append(f"⚠ {errs:>3} err ", style="red")
        elif size and off < size:
            out.append("◐ reading  ", style="yellow")
        else:
            out.append("✓ read     ", style="green")
        out.append(f"{s.get('adapter') or '?':<12}", style="cyan")
        out.append(f"{f.path(str(s.get('path')), width - 23)}\n")
    total = int(counts.get("files") or 0)
    if total > 8:
        out.append(f"… and {total - 8} more\n", style="bright_black")
    for e in errors[:3]:
        where = f"⚠ {Path(str(e.get('path'))).name}:{e.get('offset')}  "
        out.append(where, style="red")
        out.append(f"{f.one_line(str(e.get('reason')), max(10, width - len(where)))}\n")
    out.rstrip()
    return out


def savings_panel(ledger: list[f.Saving], width: int) -> Text:
    """Per playbook: what the agent spent once, what a replay costs (0 tokens), the difference."""
    out = Text()
    if not ledger:
        out.append(
            "no playbook yet: compile a run, replay it, and the savings show here",
            style="bright_black",
        )
        return out
    tokens = sum(s.tokens_saved for s in ledger)
    ms = sum(s.ms_saved for s in ledger)
    runs = sum(s.succeeded for s in ledger)
    out.append(
        f"saved {f.count(tokens)} tokens and {f.duration(ms)} over {runs} successful replays "
        "(a replay spends 0 tokens)\n",
        style="bold green" if runs else "bright_black",
    )
    cw = 11 if width >= 78 else 10
    nw = max(12, min(28, width - 6 * cw))
    cols = ("replays", "agent tok", "agent t", "replay t", "saved tok", "saved t")
    out.append(f"{'playbook':<{nw}}" + "".join(f"{c:>{cw}}" for c in cols) + "\n", style="bold")
    top = max(max(s.source_ms, s.replay_ms) for s in ledger) or 1
    bar_w = max(10, width - 20)
    for i, s in enumerate(ledger[:8]):
        out.append(f"{f.short(s.name, nw):<{nw}}")
        out.append(f"{s.replays:>{cw - 4}}" + (f" {s.succeeded:>2}✓" if s.replays else "    "))
        out.append(f"{f.count(s.source_tokens) if s.source_tokens else '—':>{cw}}")
        out.append(f"{f.duration(s.source_ms) if s.source_ms else '—':>{cw}}")
        out.append(f"{f.duration(s.replay_ms) if s.replays else '—':>{cw}}", style="green")
        if s.succeeded:
            saved = f"{f.count(s.tokens_saved):>{cw}}{f.duration(s.ms_saved):>{cw}}"
            out.append(saved, style="bold")
        else:
            out.append(f"{'—':>{cw}}{'—':>{cw}}", style="bright_black")
        out.append("\n")
        if i < 2 and s.replays:
            out.append("  agent  ", style="bright_black")
            out.append(f.bar(s.source_ms, top, bar_w), style="magenta")
            out.append(f" {f.duration(s.source_ms)}\n", style="bright_black")
            out.append("  replay ", style="bright_black")
            out.append(f.bar(s.replay_ms, top, bar_w) or "▏", style="green")
            out.append(f" {f.duration(s.replay_ms)}\n", style="bright_black")
    out.rstrip()
    return out


class DashboardScreen(AionisScreen):
    MODE = "dashboard"
    RELOAD_DELAY = 0.5
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh", "Refresh"),
        Binding("i", "import_example", "Import example"),
        Binding("c", "compile_example", "Compile it"),
        Binding("s", "simulate_example", "Simulate it"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.status: dict[str, Any] = {}
        self.ingest_errors: list[dict[str, Any]] = []
        self.sources: list[dict[str, Any]] = []
        self.ledger: list[f.Saving] | Text = []
        self.example_run: str | None = None
        self.example_playbook: str | None = None
        self.tour_note = Text()

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="dash"):
            yield Static(id="welcome", classes="panel")
            with Horizontal(id="dash-top"):
                yield Static(Text("connecting…"), id="daemon", classes="panel")
                yield Static(id="counts", classes="panel")
            yield Static(id="sources", classes="panel")
            yield Static(id="savings", classes="panel")

    def on_mount(self) -> None:
        for wid, title in (
            ("welcome", "First minute"),
            ("daemon", "Daemon"),
            ("counts", "Counts"),
            ("sources", "Watched sources"),
            ("savings", "Savings ledger"),
        ):
            self.query_one(f"#{wid}").border_title = title
        self.query_one("#welcome").display = False
        super().on_mount()

    def commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand(
            "Import the example session",
            "ingest " + (str(example_session() or "share/examples/")),
            self.action_import_example,
        )

    async def load(self) -> None:
        status = await self.call("status")
        errors: list[dict[str, Any]] = []
        sources: list[dict[str, Any]] = []
        if (status.get("counts") or {}).get("ingest_errors") or (status.get("sources") or {}).get("files"):
            page = await self.call("sources.list", limit=8)
            errors, sources = page.get("errors") or [], page.get("sources") or []
        ledger: list[f.Saving] | Text
        try:
            ledger = f.savings(await self.call("stats.savings"))
        except NotAvailable as e:
            ledger = describe_error(e)
        self.status, self.sources, self.ingest_errors, self.ledger = status, sources, errors, ledger
        self.render_panels()

    def render_panels(self) -> None:
        """Draw from the last fetch at the current width (also on resize: paths shorten to fit)."""
        if not self.status:
            return
        width = self.query_one("#sources").size.width or (self.size.width - 4)
        daemon = self.query_one("#daemon", Static)
        daemon.update(daemon_panel(self.status, daemon.size.width or 60))
        self.query_one("#counts", Static).update(counts_panel(self.status.get("counts") or {}))
        panel = sources_panel(self.status, self.sources, self.ingest_errors, width)
        self.query_one("#sources", Static).update(panel)
        ledger = self.ledger
        savings = self.query_one("#savings", Static)
        savings.update(ledger if isinstance(ledger, Text) else savings_panel(ledger, width))
        self.render_welcome()

    def on_resize(self) -> None:
        self.call_after_refresh(self.render_panels)

    def on_connection(self, state: ConnState) -> None:
        if not state.connected:
            self.query_one("#daemon", Static).update(Text(state.message, style="red"))
        super().on_connection(state)

    def render_welcome(self) -> None:
        counts = self.status.get("counts") or {}
        welcome = self.query_one("#welcome", Static)
        first = not counts.get("runs")
        welcome.display = first or self.example_run is not None
        if not welcome.display:
            return
        out = Text()
        if first:
            out.append("No agent session recorded yet.", style="bold")
            watch = self.status.get("watch") or {}
            if watch:
                out.append(" aionis looks for agent logs in:\n")
                for d, adapter in sorted(watch.items()):
                    out.append(f"  {f.path(d, 60)}", style="cyan")
                    out.append(f"  ({adapter})\n", style="bright_black")
            else:
                out.append(" This aionisd watches no directory (--no-watch).\n")
        example = example_session()
        steps = [
            ("i", "import the example session", self.example_run, "run"),
            ("c", "compile it into a signed playbook", self.example_playbook, "playbook"),
            ("s", "simulate a replay in a temporary directory", None, ""),
        ]
        if example is None:
            out.append("The example session is not installed (share/examples/).", style="yellow")
        else:
            out.append("Try the example session, a minute end to end:\n")
            for key, what, done, noun in steps:
                out.append(f"  [{key}] ", style="bold cyan")
                out.append(what)
                if done:
                    out.append(f"  ✓ {noun} {f.short(done, 32)}", style="green")
                out.append("\n" if key != "s" else "")
        if self.tour_note:
            out.append("\n")
            out.append_text(self.tour_note)
        welcome.update(out)

    def apply_events(self, events: list[dict[str, Any]]) -> None:
        self.schedule_reload()

    def action_refresh(self) -> None:
        self.reload()

    def _note(self, note: Text) -> None:
        self.tour_note = note
        self.render_welcome()

    def action_import_example(self) -> None:
        path = example_session()
        if path is None:
            self.notify("the example session is not installed", severity="error")
            return

        async def go() -> None:
            res = await self.call("ingest", paths=[str(path)])
            runs = res.get("runs") or []
            if runs:
                self.example_run = runs[0]["id"]
                self._note(Text(f"imported {path.name}: {runs[0].get('steps')} steps", "green"))
            else:
                listed = await self.call("runs.list", limit=200)
                mine = [r for r in listed.get("runs") or [] if r.get("goal")]
                self.example_run = mine[0]["id"] if mine else None
                self._note(Text(f"{path.name} was already imported", "bright_black"))
            self.reload()

        self.spawn(go)

    def action_compile_example(self) -> None:
        if self.example_run is None:
            self.notify("press i to import the example session first", severity="warning")
            return
        run_id = self.example_run

        async def go() -> None:
            res = await self.call("playbooks.compile", run_id=run_id)
            self.example_playbook = res.get("id")
            self._note(Text(f"compiled {res.get('name')} v{res.get('version')}: "
                            f"{f.compile_report(res)}"))  # fmt: skip

        self.spawn(go)

    def action_simulate_example(self) -> None:
        if self.example_playbook is None:
            self.notify("press c to compile the example first", severity="warning")
            return
        playbook = self.example_playbook

        async def go() -> None:
            workdir = tempfile.mkdtemp(prefix="aionis-try-")
            await self.app.switch_mode("replay")
            replay = self.aionis.screen_of("replay")
            self._note(Text(f"simulated in {workdir}; to run it for real choose strict on the "
                            "Replay screen (4) once [replay] allow_local_exec = true"))  # fmt: skip
            if isinstance(replay, ReplayScreen):
                await replay.prepare(playbook, mode="simulate", workdir=workdir, start=True)

        self.spawn(go)
