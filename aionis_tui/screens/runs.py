"""Runs: recorded sessions as they arrive, their steps, and what a step printed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from aionis_tui import format as f
from aionis_tui.backend import ApiError
from aionis_tui.screens.base import AionisScreen, describe_error
from aionis_tui.widgets.table import LiveTable
from aionisd import errors

RUN_COLUMNS = ("", "run", "agent", "goal", "steps", "tokens", "started", "playbook")
STEP_COLUMNS = ("#", "", "kind", "command", "exit", "took", "by")


def run_row(run: dict[str, Any], now: Any) -> list[Text]:
    tokens = (run.get("tokens") or {}).get("total")
    pb = run.get("playbook_id")
    return [
        f.glyph({"success": "succeeded"}.get(run.get("status") or "", run.get("status"))),
        f.text(f.short(run.get("id"), 18)),
        f.text(run.get("agent"), "cyan"),
        f.text(f.one_line(run.get("goal"), 32) or "—"),
        f.text(run.get("steps"), "bold"),
        f.text(f.count(tokens) if tokens else "—"),
        f.text(f.ago(run.get("started_at"), now), "bright_black"),
        f.text(f"{f.short(pb, 10)} v{run.get('playbook_version')}" if pb else ""),
    ]


def step_row(step: dict[str, Any]) -> list[Text]:
    command = step.get("command") or step.get("tool") or ""
    sub = step.get("subagent")
    code = step.get("exit_code")
    return [
        f.text(step.get("seq"), "bright_black"),
        f.glyph(step.get("status")),
        f.text(step.get("kind") if step.get("kind") != "tool" else step.get("tool"), "cyan"),
        f.text(f.one_line(command, 200)),
        f.text("" if code is None else code, "red" if code not in (None, 0) else ""),
        f.text(f.duration(step.get("duration_ms")) if step.get("duration_ms") else ""),
        Text(f"⤷ {sub}" if isinstance(sub, str) else "⤷ sub", style="magenta")
        if sub
        else Text("agent", style="bright_black"),
    ]


def run_header(run: dict[str, Any]) -> Text:
    out = Text()
    out.append(f"{run.get('id')}", style="bold")
    out.append(f"  {run.get('agent')}", style="cyan")
    out.append(f"  {run.get('status') or ''}")
    if run.get("cwd"):
        out.append(f"  {run.get('cwd')}", style="bright_black")
    if run.get("git_branch"):
        out.append(f"  ⎇ {run.get('git_branch')}", style="bright_black")
    tok = run.get("tokens") or {}
    if tok.get("total"):
        out.append(
            f"  tokens {f.count(tok.get('total'))} (in {f.count(tok.get('input'))}, "
            f"out {f.count(tok.get('output'))})",
            style="bright_black",
        )
    if run.get("goal"):
        out.append(f"\n{f.one_line(run.get('goal'), 300)}")
    return out


def output_text(step: dict[str, Any]) -> Text:
    out = Text()
    out.append(f"$ {step.get('command') or step.get('tool') or ''}\n", style="bold")
    if step.get("cwd"):
        out.append(f"  in {step.get('cwd')}\n", style="bright_black")
    stdout, stderr = step.get("stdout") or "", step.get("stderr") or ""
    if stdout:
        out.append(stdout.rstrip("\n") + "\n")
    if stderr:
        out.append(stderr.rstrip("\n") + "\n", style="red")
    if not stdout and not stderr:
        inp = step.get("input")
        if inp and step.get("kind") != "command":
            out.append(f.one_line(str(inp), 2000) + "\n", style="bright_black")
        else:
            out.append("(no output)\n", style="bright_black")
    code = step.get("exit_code")
    if code is not None:
        out.append(f"exit {code}", style="red" if code else "green")
    out.rstrip()
    return out


class RunsScreen(AionisScreen):
    MODE = "runs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "compile", "Compile run"),
        Binding("r", "refresh", "Refresh"),
        Binding("tab", "app.focus_next", "Next pane", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.runs: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.selected: str | None = None
        self.steps: dict[str, dict[str, Any]] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self.loading_run: str | None = None
        self.pending_steps: list[dict[str, Any]] = []

    def compose_body(self) -> ComposeResult:
        with Vertical(id="runs-body"):
            table: DataTable[Text] = LiveTable(id="runs-table", cursor_type="row", classes="main")
            yield table
            yield Static(id="run-head")
            steps: DataTable[Text] = LiveTable(id="steps-table", cursor_type="row")
            yield steps
            with VerticalScroll(id="output-pane"):
                yield Static(Text("select a step to see its output", "bright_black"), id="output")

    def on_mount(self) -> None:
        runs = self.query_one("#runs-table", DataTable)
        for c in RUN_COLUMNS:
            runs.add_column(c, key=c or "status")
        steps = self.query_one("#steps-table", DataTable)
        for c in STEP_COLUMNS:
            steps.add_column(c, key=c or "status")
        self.query_one("#output-pane").border_title = "output"
        runs.border_title = "runs"
        steps.border_title = "steps"
        super().on_mount()

    def commands(self) -> Iterable[SystemCommand]:
        if self.selected:
            yield SystemCommand("Compile the selected run", "playbooks.compile", self.action_compile)

    async def load(self) -> None:
        res = await self.call("runs.list", limit=200)
        listed = {r["id"]: r for r in reversed(res.get("runs") or [])}
        live = [rid for rid in self.order if rid not in listed]  # arrived while we fetched
        self.runs = {**listed, **{rid: self.runs[rid] for rid in live}}
        self.order = [*listed, *live]
        self.rebuild_runs()
        if self.selected in self.runs:
            await self.load_run(self.selected)

    def rebuild_runs(self) -> None:
        """Oldest at the top, newest at the bottom (a live log): new runs append, cheaply."""
        table = self.query_one("#runs-table", LiveTable)
        follow = table.row_count == 0 or table.cursor_row >= table.row_count - 1
        table.clear()
        now = self.aionis.clock()
        for rid in self.order:
            table.add_row(*run_row(self.runs[rid], now), key=rid)
        self.count_runs()
        if self.order:
            keep = self.selected if self.selected in self.runs and not follow else self.order[-1]
            table.move_cursor(row=self.order.index(keep), animate=False)

    def count_runs(self) -> None:
        table = self.query_one("#runs-table", LiveTable)
        n = len(self.order)
        table.border_subtitle = f"{n} runs, newest last" if n else "no runs recorded yet"

    def add_runs(self, rids: list[str]) -> None:
        """Append new runs; the cursor follows them if it was on the newest run."""
        table = self.query_one("#runs-table", LiveTable)
        follow = table.row_count == 0 or table.cursor_row >= table.row_count - 1
        now = self.aionis.clock()
        for rid in rids:
            table.add_row(*run_row(self.runs[rid], now), key=rid)
        self.count_runs()
        if follow:
            table.move_cursor(row=table.row_count - 1, animate=False)

    def update_run_row(self, rid: str) -> None:
        table = self.query_one("#runs-table", LiveTable)
        for key, cell in zip(RUN_COLUMNS, run_row(self.runs[rid], self.aionis.clock()), strict=True):
            table.set_cell(rid, key or "status", cell)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "runs-table":
            rid = getattr(event.row_key, "value", None)
            if rid and rid != self.selected:
                self.selected = rid
                self.spawn_exclusive(lambda: self.load_run(rid), group="run")
        elif event.data_table.id == "steps-table":
            key = getattr(event.row_key, "value", None)
            if key:
                self.show_output(key)

    async def load_run(self, rid: str) -> None:
        """Fetch a run's steps; steps that arrive live meanwhile are replayed on top after."""
        self.loading_run, self.pending_steps = rid, []
        try:
            run = await self.call("runs.get", id=rid)
        finally:
            if self.loading_run == rid:
                self.loading_run = None
        if rid != self.selected:
            return
        self.runs[rid] = {
            **self.runs.get(rid, {}),
            **{k: v for k, v in run.items() if k != "steps"},
        }
        self.query_one("#run-head", Static).update(run_header(run))
        self.steps = {}
        table = self.query_one("#steps-table", LiveTable)
        table.clear()
        self.add_steps(run.get("steps") or [])
        pending, self.pending_steps = self.pending_steps, []
        if pending:
            self.add_steps(pending)

    def add_steps(self, steps: list[dict[str, Any]]) -> None:
        """Steps arrive twice (started, then finished): the second updates the first's row."""
        table = self.query_one("#steps-table", LiveTable)
        follow = table.row_count == 0 or table.cursor_row >= table.row_count - 1
        added = False
        for st in steps:
            key = str(st.get("key") or st.get("seq"))
            if key in self.steps:
                self.steps[key].update(st)
                for col, cell in zip(STEP_COLUMNS, step_row(self.steps[key]), strict=True):
                    table.set_cell(key, col or "status", cell)
            else:
                self.steps[key] = dict(st)
                table.add_row(*step_row(self.steps[key]), key=key)
                added = True
        if added and follow and table.row_count > 1:
            table.move_cursor(row=table.row_count - 1, animate=False)
        table.border_subtitle = f"{len(self.steps)} steps"

    def show_output(self, key: str) -> None:
        rid = self.selected
        if rid is None:
            return
        cached = self.outputs.get(rid, {}).get(key)
        if cached is not None:
            self.query_one("#output", Static).update(output_text(cached))
            return
        step = self.steps.get(key, {})
        self.query_one("#output", Static).update(output_text({**step, "stdout": "…"}))

        async def fetch() -> None:
            run = await self.call("runs.get", id=rid, output=True)
            self.outputs[rid] = {str(s.get("key") or s.get("seq")): s for s in run["steps"]}
            got = self.outputs[rid].get(key)
            if rid == self.selected and got is not None:
                self.query_one("#output", Static).update(output_text(got))

        self.spawn_exclusive(fetch, group="output")

    def apply_events(self, events: list[dict[str, Any]]) -> None:
        started: list[str] = []
        touched: set[str] = set()
        steps: list[dict[str, Any]] = []
        for ev in events:
            kind, data = ev.get("kind"), ev.get("data") or {}
            if kind in ("run.started", "run.updated") and data.get("id"):
                rid = data["id"]
                if rid not in self.runs:
                    self.order.append(rid)
                    started.append(rid)
                else:
                    touched.add(rid)
                self.runs[rid] = {**self.runs.get(rid, {}), **data}
            elif kind == "step.recorded" and data.get("run_id") == self.selected:
                self.outputs.pop(data["run_id"], None)
                if self.loading_run == self.selected:
                    self.pending_steps.append(data.get("step") or {})
                else:
                    steps.append(data.get("step") or {})
        for rid in touched - set(started):
            self.update_run_row(rid)
        if started:
            self.add_runs(started)
        if steps and self.selected:
            self.add_steps(steps)

    def action_refresh(self) -> None:
        self.reload()

    def action_compile(self) -> None:
        rid = self.selected
        if rid is None:
            self.notify("no run selected", severity="warning")
            return

        async def go() -> None:
            try:
                res = await self.call("playbooks.compile", run_id=rid)
            except ApiError as e:
                if e.code == errors.NOTHING_TO_REPLAY:
                    self.notify(f"{rid}: {e.message}", title="nothing to compile", severity="warning")
                    return
                self.show_error(describe_error(e))
                return
            self.notify(
                f"{res.get('name')} v{res.get('version')}: {f.compile_report(res)}",
                title="compiled",
            )

        self.spawn(go)
