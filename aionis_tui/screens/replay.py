"""Replay: choose a playbook, a mode and parameters, confirm, then watch it run step by step."""

from __future__ import annotations

import json
import os
import tempfile
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, ProgressBar, RichLog, Select, Static

from aionis_tui import format as f
from aionis_tui.backend import ApiError
from aionis_tui.screens.base import AionisScreen, describe_error
from aionis_tui.screens.review import ReviewScreen
from aionis_tui.widgets.modals import ConfirmModal
from aionis_tui.widgets.table import LiveTable
from aionisd import errors
from aionisd.events import MODES, SAFE_ENV, outcome_line, repair_heading, replay_story

MODE_HELP = {
    "simulate": "runs nothing: checks parameters and preconditions, says what each step would do",
    "strict": "runs each step as recorded, stops at the first divergence (needs local exec)",
    "guided": "runs like strict; a failing step asks for a repair (needs local exec)",
}
DONE = {"succeeded", "failed", "skipped"}
FINAL = {"succeeded", "failed", "refused", "partial", "cancelled", "interrupted"}
EARLY_LIMIT = 2000  # events kept per replay not yet watched (replay.get fills in the rest)


def exec_state(allowed: bool | None, mode: str, config: str | None, *, full: bool = False) -> Text:
    """Whether this mode may run here, said before anyone presses start (`full`: where to fix it)."""
    out = Text()
    out.append(f"{mode}: ", style="bold")
    out.append(MODE_HELP.get(mode, ""), style="bright_black")
    out.append("\n")
    if allowed is None:
        out.append("local exec: unknown (daemon not reached yet)", style="bright_black")
    elif allowed:
        out.append("local exec: allowed", style="green")
        out.append(" ([replay] allow_local_exec = true)", style="bright_black")
    else:
        out.append("local exec: OFF", style="bold red" if mode != "simulate" else "yellow")
        out.append(
            " — strict and guided refuse; set allow_local_exec = true under [replay]",
            style="red" if mode != "simulate" else "bright_black",
        )
        if full and config:
            out.append(f" in {config}", style="red" if mode != "simulate" else "bright_black")
    return out


def row_key(data: dict[str, Any]) -> str:
    """A repair may run several steps in place of one, so its rows are keyed by id too."""
    phase = data.get("phase") or "step"
    if phase == "repair":
        return f"repair:{data.get('index')}:{data.get('id')}"
    return f"{phase}:{data.get('index')}"


def run_order(rows: dict[str, dict[str, Any]]) -> list[str]:
    """Row keys in the order the steps ran: a repair's steps right after the step they replaced,
    the success checks last."""
    rank = {"step": 0, "repair": 1}
    keys = list(rows)
    return sorted(
        keys,
        key=lambda k: (
            rows[k].get("phase") == "success",
            int(rows[k].get("index") or 0),
            rank.get(str(rows[k].get("phase")), 0),
            keys.index(k),
        ),
    )


class ReplayScreen(AionisScreen):
    MODE = "replay"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s,f5", "start", "Start", priority=True),
        Binding("x", "cancel_replay", "Cancel replay"),
        Binding("n", "new_replay", "New replay"),
        Binding("ctrl+t", "new_workdir", "Temp workdir"),
        Binding("escape", "leave_form", "Leave form", show=False),
        Binding("o", "open_repair", "Open repair"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.playbooks: list[dict[str, Any]] = []
        self.version: int | None = None
        self.doc: dict[str, Any] = {}
        self.doc_for: tuple[str, int | None] | None = None
        self.allow_exec: bool | None = None
        self.config_path: str | None = None
        self.replay_id: str | None = None
        self.replay_status: str | None = None
        self.rows: dict[str, dict[str, Any]] = {}
        self.total = 0
        self.partial: dict[str, str] = {}
        self.early: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self.starting = False
        self.auto_workdir: str | None = None
        self.watch_mode = ""
        self.repair_ids: list[str] = []  # the watched replay's recorded repairs, in order

    def compose_body(self) -> ComposeResult:
        with Vertical(id="replay-form"):
            with Horizontal(classes="form-row"):
                yield Label("playbook")
                yield Select[str](
                    [], prompt="choose a playbook", id="replay-playbook", compact=True, type_to_search=False
                )
            with Horizontal(classes="form-row"):
                yield Label("mode")
                yield Select[str](
                    [(m, m) for m in MODES],
                    value="simulate",
                    allow_blank=False,
                    id="replay-mode",
                    compact=True,
                    type_to_search=False,
                )
            with Horizontal(classes="form-row"):
                yield Label("workdir")
                yield Input(
                    placeholder="empty: a new temporary directory for each replay",
                    id="replay-workdir",
                    compact=True,
                )
            yield Vertical(id="replay-params")
            yield Static(id="exec-state")
        with Vertical(id="replay-watch"):
            yield Static(
                Text("no replay yet: choose a playbook, then ctrl+s", "bright_black"),
                id="replay-head",
            )
            yield ProgressBar(id="replay-progress", show_eta=False)
            steps: DataTable[Text] = LiveTable(id="replay-steps", cursor_type="row", classes="main")
            yield steps
            yield Static(id="divergence")
            yield RichLog(id="replay-log", wrap=False, markup=False, max_lines=5000)

    def on_mount(self) -> None:
        steps = self.query_one("#replay-steps", DataTable)
        for c in ("", "#", "step", "does", "exit", "took", "note"):
            steps.add_column(c, key=c or "status")
        steps.border_title = "steps"
        self.query_one("#replay-log", RichLog).border_title = "output"
        self.query_one("#divergence").border_title = "divergence"
        super().on_mount()

    @property
    def mode(self) -> str:
        value = self.query_one("#replay-mode", Select).value
        return value if isinstance(value, str) else "simulate"

    @property
    def playbook(self) -> str | None:
        value = self.query_one("#replay-playbook", Select).value
        return value if isinstance(value, str) else None

    async def load(self) -> None:
        status = await self.call("status")
        self.allow_exec = bool(status.get("allow_local_exec"))
        self.config_path = status.get("config") or "config.toml"
        self.render_exec_state()
        res = await self.call("playbooks.list", limit=200)
        self.playbooks = res.get("playbooks") or []
        select = self.query_one("#replay-playbook", Select)
        current = self.playbook
        options = [
            (
                f"{pb.get('name')}  v{pb.get('version')}  {pb.get('status')}  {pb.get('signature')}",
                str(pb.get("id")),
            )
            for pb in self.playbooks
        ]
        with self.prevent(Select.Changed):
            select.set_options(options)
            if current and any(v == current for _, v in options):
                select.value = current
        if not options:
            select.prompt = "no playbooks yet: compile a run first (2, then c)"

    def render_exec_state(self) -> None:
        self.query_one("#exec-state", Static).update(exec_state(self.allow_exec, self.mode, self.config_path))

    async def prepare(
        self,
        playbook: str,
        *,
        version: int | None = None,
        mode: str | None = None,
        workdir: str | None = None,
        start: bool = False,
    ) -> None:
        """Fill the form (from another screen); `start` runs at once without asking (simulate)."""
        self.remove_class("-watching")
        await self.load()
        select = self.query_one("#replay-playbook", Select)
        with self.prevent(Select.Changed):
            if not any(str(pb.get("id")) == playbook for pb in self.playbooks):
                select.set_options([(playbook, playbook)])
            select.value = playbook
            if mode:
                self.query_one("#replay-mode", Select).value = mode
        if workdir:
            self.query_one("#replay-workdir", Input).value = workdir
        self.version = version
        await self.load_playbook(playbook, version)
        self.render_exec_state()
        if start:
            await self.start(confirm=False)

    async def load_playbook(self, playbook: str, version: int | None) -> None:
        params: dict[str, Any] = {"id": playbook}
        if version is not None:
            params["version"] = version
        pb = await self.call("playbooks.get", **params)
        self.doc = pb.get("document") or {}
        self.doc_for = (playbook, version)
        box = self.query_one("#replay-params", Vertical)
        await box.remove_children()
        rows = []
        for prm in self.doc.get("params") or []:
            name = str(prm.get("name"))
            if name in ("workdir",):
                continue
            default = prm.get("default")
            row = Horizontal(
                Label(name),
                Input(
                    value="" if default is None or prm.get("secret") else str(default),
                    placeholder=(
                        "secret: sent as environment, never stored"
                        if prm.get("secret")
                        else str(prm.get("description") or "")
                    ),
                    password=bool(prm.get("secret")),
                    id=f"param-{name}",
                    compact=True,
                ),
                classes="form-row",
            )
            rows.append(row)
        if rows:
            await box.mount_all(rows)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "replay-mode":
            self.render_exec_state()
        elif event.select.id == "replay-playbook" and isinstance(event.value, str):
            self.version = None
            pid = event.value
            self.spawn_exclusive(lambda: self.load_playbook(pid, None), group="doc")

    def gather(self) -> tuple[dict[str, str], dict[str, str]]:
        """(params, secrets) from the form; secrets travel as the replay's environment."""
        params: dict[str, str] = {}
        secrets: dict[str, str] = {}
        for prm in self.doc.get("params") or []:
            name = str(prm.get("name"))
            try:
                value = self.query_one(f"#param-{name}", Input).value
            except Exception:
                continue
            if value == "":
                continue
            (secrets if prm.get("secret") else params)[name] = value
        return params, secrets

    def action_new_workdir(self) -> None:
        """A fresh temporary directory; replays started from it get a new one each time."""
        self.auto_workdir = tempfile.mkdtemp(prefix="aionis-replay-")
        self.query_one("#replay-workdir", Input).value = self.auto_workdir

    def action_start(self) -> None:
        self.spawn(lambda: self.start(confirm=True), group="start")

    async def start(self, *, confirm: bool) -> None:
        playbook, mode = self.playbook, self.mode
        if playbook is None:
            self.notify("choose a playbook first", severity="warning")
            return
        if mode != "simulate" and self.allow_exec is False:
            self.refused(
                f"{mode} replay refused: local execution is off. Set allow_local_exec = true "
                f"under [replay] in {self.config_path or 'config.toml'} and restart aionisd."
            )
            return
        if self.doc_for is None or self.doc_for[0] != playbook:
            await self.load_playbook(playbook, self.version)
        workdir_input = self.query_one("#replay-workdir", Input)
        workdir = workdir_input.value.strip()
        if not workdir or workdir == self.auto_workdir:
            workdir = self.auto_workdir = tempfile.mkdtemp(prefix="aionis-replay-")
            workdir_input.value = workdir
        params, secrets = self.gather()
        if confirm:
            body = Text()
            body.append(f"{self.doc.get('name') or playbook}", style="bold")
            body.append(f" v{self.doc.get('version') or self.version or '?'}  ")
            body.append(f"{mode}\n", style="bold cyan")
            body.append(f"in {workdir}\n")
            for k, v in params.items():
                body.append(f"  {k} = {v}\n", style="bright_black")
            for k in secrets:
                body.append(f"  {k} = ***\n", style="bright_black")
            body.append("\n")
            body.append_text(exec_state(self.allow_exec, mode, self.config_path, full=True))
            if mode != "simulate":
                body.append(
                    f"\n\nThis runs {len(self.doc.get('steps') or [])} steps on this machine.",
                    style="bold",
                )
            yes = "Simulate" if mode == "simulate" else "Run"
            if not await self.app.push_screen_wait(ConfirmModal("Start replay?", body, yes=yes)):
                return
        request: dict[str, Any] = {
            "id": playbook,
            "mode": mode,
            "workdir": workdir,
            "params": params,
        }
        if self.version is not None:
            request["version"] = self.version
        if secrets:
            request["env"] = {**{k: os.environ[k] for k in SAFE_ENV if k in os.environ}, **secrets}
        self.reset_watch()
        self.starting = True
        try:
            res = await self.call("replay.start", **request)
        except ApiError as e:
            if e.code == errors.EXEC_NOT_ALLOWED:
                self.allow_exec = False
                self.render_exec_state()
            self.refused(f"{mode} replay refused: {describe_error(e).plain}")
            return
        finally:
            self.starting = False
        self.query_one("#replay-steps", LiveTable).focus()
        await self.attach(res["replay_id"], {**res, "workdir": workdir})

    def refused(self, message: str) -> None:
        self.query_one("#replay-head", Static).update(Text(f"⊘ {message}", style="bold red"))
        self.notify(message, title="refused", severity="error")

    def reset_watch(self) -> None:
        self.replay_id = None
        self.replay_status = None
        self.rows = {}
        self.repair_ids = []
        self.partial = {}
        self.total = 0
        self.query_one("#replay-steps", DataTable).clear()
        self.query_one("#replay-log", RichLog).clear()
        self.query_one("#replay-progress", ProgressBar).update(total=None, progress=0)
        self.query_one("#replay-progress").remove_class("-shown")
        div = self.query_one("#divergence", Static)
        div.remove_class("-shown")
        div.update("")

    async def attach(self, replay_id: str, info: dict[str, Any]) -> None:
        """Watch `replay_id`: lay out its steps, apply what already arrived, then sync with get.

        Events for it that arrive meanwhile wait in `early` until the rows exist.
        """
        if self.replay_id == replay_id:
            await self._final_sync()
            return
        self.early.setdefault(replay_id, [])
        pb = info.get("playbook") or {}
        doc = self.doc
        same = self.doc_for is not None and self.doc_for[0] == pb.get("id")
        if pb.get("id") and not (same and doc.get("version") == pb.get("version")):
            try:
                got = await self.call("playbooks.get", id=pb["id"], version=pb.get("version"))
                doc = got.get("document") or {}
            except ApiError:
                doc = {}
        if self.replay_id == replay_id:
            return
        self.reset_watch()
        self.add_class("-watching")
        self.replay_id = replay_id
        self.watch_mode = str(info.get("mode") or "")
        self.replay_status = info.get("status") or "running"
        table = self.query_one("#replay-steps", LiveTable)
        steps = doc.get("steps") or []
        checks = doc.get("success") or []
        for phase, group in (("step", steps), ("success", checks)):
            for i, st in enumerate(group):
                key = f"{phase}:{i}"
                self.rows[key] = {
                    "index": i,
                    "phase": phase,
                    "id": st.get("id") or f"check {i + 1}",
                    "status": "pending",
                    "action": f.step_summary(st),
                }
                table.add_row(*self.row_cells(self.rows[key]), key=key)
        self.total = len(steps) + len(checks)
        self.query_one("#replay-progress").add_class("-shown")
        self.render_head(info)
        self.update_progress()
        for ev in self.early.pop(replay_id, []):
            self.apply_replay_event(ev)
        await self._final_sync()

    def sync(self, got: dict[str, Any]) -> None:
        """Fold replay.get into the view: it is the truth for anything the events did not say."""
        for s in replay_story(got):
            self.upsert(s)
        self.repair_ids = [
            rid for r in got.get("repairs") or [] if (rid := (r.get("record") or {}).get("repair_id"))
        ]
        status = got.get("status")
        if status:
            self.replay_status = status
        self.render_head(got)
        if got.get("divergence") or got.get("repairs"):
            self.show_divergence(got.get("divergence"), got.get("repairs") or [])
        sim = got.get("simulation")
        if isinstance(sim, dict):
            self.show_simulation(sim)
        self.update_progress()

    def row_cells(self, r: dict[str, Any]) -> list[Text]:
        code = r.get("exit_code")
        status = r.get("status")
        if self.watch_mode == "simulate" and status == "not_run":
            status = "would-run" if r.get("reason") in (None, "would run") else "blocked"
        label = {"step": f"{r['index'] + 1}", "repair": f"{r['index'] + 1}+"}.get(
            str(r.get("phase")), f"✓{r['index'] + 1}"
        )
        note = f.one_line(r.get("reason"), 80)
        if r.get("phase") == "repair":
            note = " ".join(x for x in (f"repair {r.get('repair_id') or ''}".strip(), note) if x)
        return [
            f.glyph(status),
            f.text(label, "bright_black"),
            f.text(f.short(str(r.get("id")), 24)),
            f.text(f.one_line(r.get("action"), 120)),
            f.text("" if code is None else code, "red" if code not in (None, 0) else ""),
            f.text(f.duration(r.get("duration_ms")) if r.get("duration_ms") else ""),
            f.text(note, "yellow" if r.get("phase") == "repair" else "bright_black"),
        ]

    def upsert(self, data: dict[str, Any]) -> None:
        key = row_key(data)
        table = self.query_one("#replay-steps", LiveTable)
        row = self.rows.get(key)
        fields = {k: v for k, v in data.items() if v is not None and k != "replay_id"}
        if "exit_code" in data:
            fields["exit_code"] = data["exit_code"]
        if row is None:
            row = {
                "index": data.get("index", 0),
                "phase": data.get("phase") or "step",
                "id": data.get("id"),
                "status": "pending",
                "action": "",
            }
            row.update(fields)
            self.rows[key] = row
            table.add_row(*self.row_cells(row), key=key)
            if row["phase"] == "repair":
                self.relayout()
            return
        row.update(fields)
        for col, cell in zip(
            ("status", "#", "step", "does", "exit", "took", "note"),
            self.row_cells(row),
            strict=True,
        ):
            table.set_cell(key, col, cell)

    def relayout(self) -> None:
        """Lay the rows out again in run order (a table only appends; a repair's rows belong
        right after the step they replaced), keeping the cursor on the same row."""
        table = self.query_one("#replay-steps", LiveTable)
        keep = table.cursor_row
        table.clear()
        for key in run_order(self.rows):
            table.add_row(*self.row_cells(self.rows[key]), key=key)
        table.move_cursor(row=keep)

    def render_head(self, info: dict[str, Any]) -> None:
        pb = info.get("playbook") or {}
        status = self.replay_status or "running"
        out = Text()
        out.append(f"replay {self.replay_id}", style="bold")
        out.append(f"  {pb.get('name') or pb.get('id') or ''} v{pb.get('version')}")
        out.append(f"  {info.get('mode') or ''}", style="cyan")
        out.append("  ")
        out.append_text(f.status_text(status))
        if info.get("reason"):
            out.append(f"  {f.one_line(info.get('reason'), 120)}", style="bright_black")
        if info.get("workdir"):
            out.append(f"\nin {info.get('workdir')}", style="bright_black")
        self.query_one("#replay-head", Static).update(out)

    def update_progress(self) -> None:
        done = sum(1 for r in self.rows.values() if r.get("status") in DONE)
        total = max(self.total, len(self.rows))
        if self.replay_status == "succeeded" or self.watch_mode == "simulate":
            done = total
        self.query_one("#replay-progress", ProgressBar).update(total=total or None, progress=done)

    def show_divergence(self, div: dict[str, Any] | None, repairs: Sequence[dict[str, Any]] = ()) -> None:
        """Where the replay diverged, then what each repair source said about each failing step."""
        out = Text()
        if div:
            where = "success check" if div.get("phase") == "success" else "step"
            out.append(
                f"{where} {int(div.get('step_index') or 0) + 1} ({div.get('step_id')}): ",
                style="bold red",
            )
            out.append(f"{div.get('reason')}\n")
            out.append("expected ", style="bright_black")
            out.append(f"{f.one_line(json.dumps(div.get('expected')), 100)}\n", style="green")
            out.append("got      ", style="bright_black")
            out.append(f"{f.one_line(json.dumps(div.get('got')), 100)}", style="red")
            tail = (div.get("output_tail") or "").strip()
            if tail:
                out.append("\n")
                out.append("\n".join(tail.splitlines()[-4:]), style="bright_black")
        for r in repairs:
            out.append("\n" if out else "")
            out.append(repair_heading(r), style="bold yellow")
            for o in r.get("sources") or []:
                bad = o.get("outcome") in ("rejected", "error")
                out.append(f"\n  {outcome_line(o)}", style="red" if bad else "bright_black")
            rid = (r.get("record") or {}).get("repair_id")
            if rid:
                out.append(f"\n  press o to review {rid}", style="bold")
        panel = self.query_one("#divergence", Static)
        panel.border_title = " · ".join(
            t for t, shown in (("divergence", div), ("repairs", repairs)) if shown
        )
        panel.update(out)
        panel.add_class("-shown")

    def show_simulation(self, sim: dict[str, Any]) -> None:
        log = self.query_one("#replay-log", RichLog)
        log.clear()
        log.write(Text("simulation: nothing was run", style="bold"))
        for pre in sim.get("preconditions") or []:
            ok = pre.get("ok")
            line = Text("  ✓ " if ok else "  ✗ ", style="green" if ok else "red")
            p = pre.get("precondition") or {}
            line.append(f"{p.get('type')} {p.get('path') or p.get('name') or p.get('port') or ''}")
            if not ok and pre.get("reason"):
                line.append(f": {pre.get('reason')}", style="red")
            log.write(line)
        for name in sim.get("missing_params") or []:
            log.write(Text(f"  missing parameter {name}", style="red"))
        for problem in sim.get("problems") or []:
            log.write(Text(f"  {problem}", style="red"))

    def write_output(self, data: dict[str, Any]) -> None:
        """Whole lines only: chunks split lines anywhere, the log should not."""
        stream = str(data.get("stream") or "stdout")
        key = f"{row_key(data)}:{stream}"
        buf = self.partial.get(key, "") + str(data.get("text") or "")
        *lines, rest = buf.split("\n")
        self.partial[key] = rest
        log = self.query_one("#replay-log", RichLog)
        style = "red" if stream == "stderr" else ""
        for line in lines:
            log.write(Text(line, style=style))

    def flush_output(self, data: dict[str, Any]) -> None:
        log = self.query_one("#replay-log", RichLog)
        for stream in ("stdout", "stderr"):
            rest = self.partial.pop(f"{row_key(data)}:{stream}", "")
            if rest:
                log.write(Text(rest, style="red" if stream == "stderr" else ""))

    def apply_replay_event(self, ev: dict[str, Any]) -> None:
        kind, data = ev.get("kind"), ev.get("data") or {}
        if kind == "replay.step.started":
            self.upsert({**data, "status": "running"})
            head = Text(f"▶ {int(data.get('index') or 0) + 1} {data.get('id')}: ", style="bold cyan")
            head.append(str(data.get("action") or ""), style="bold")
            self.query_one("#replay-log", RichLog).write(head)
        elif kind == "replay.output":
            self.write_output(data)
        elif kind == "replay.step.finished":
            self.flush_output(data)
            self.upsert(data)
        elif kind == "replay.finished":
            self.replay_status = data.get("status")
            if data.get("divergence"):
                self.show_divergence(data["divergence"])
            self.render_head({**data, "playbook": {}, "mode": ""})
            self.spawn_exclusive(self._final_sync, group="sync")
        self.update_progress()

    async def _final_sync(self) -> None:
        rid = self.replay_id
        if rid is not None:
            got = await self.call("replay.get", replay_id=rid)
            if rid == self.replay_id:
                self.sync(got)

    def apply_events(self, events: list[dict[str, Any]]) -> None:
        for ev in events:
            kind = str(ev.get("kind") or "")
            if not kind.startswith("replay."):
                continue
            rid = (ev.get("data") or {}).get("replay_id")
            if rid is None:
                continue
            if rid == self.replay_id:
                self.apply_replay_event(ev)
            elif (
                kind == "replay.started"
                and not self.starting
                and (self.replay_id is None or self.replay_status in FINAL)
            ):
                self.follow(rid, ev.get("data") or {})
            else:
                kept = self.early.setdefault(rid, [])
                if len(kept) < EARLY_LIMIT:
                    kept.append(ev)
                while len(self.early) > 4:
                    self.early.popitem(last=False)

    def action_leave_form(self) -> None:
        """Out of the form's fields, so number keys switch screens again."""
        self.query_one("#replay-steps", LiveTable).focus()

    def action_new_replay(self) -> None:
        """Show the form again (it folds away while a replay is watched, to give steps room)."""
        self.remove_class("-watching")
        self.query_one("#replay-playbook", Select).focus()

    def follow(self, rid: str, data: dict[str, Any]) -> None:
        """A replay started elsewhere (CLI, an agent) while this screen was idle: watch it."""
        self.early.setdefault(rid, [])
        self.spawn_exclusive(lambda: self.attach(rid, data), group="follow")

    def action_open_repair(self) -> None:
        """Open the watched replay's latest repair in the review screen."""
        if not self.repair_ids:
            self.notify("this replay recorded no repair", severity="warning")
            return
        rid = self.repair_ids[-1]

        async def go() -> None:
            await self.app.switch_mode("review")
            review = self.aionis.screen_of("review")
            if isinstance(review, ReviewScreen):
                review.open_repair(rid)

        self.spawn(go)

    def action_cancel_replay(self) -> None:
        rid = self.replay_id
        if rid is None or self.replay_status in FINAL:
            self.notify("no replay is running", severity="warning")
            return

        async def go() -> None:
            await self.call("replay.cancel", replay_id=rid)
            self.notify(f"cancelled {rid}", title="replay")

        self.spawn(go)
