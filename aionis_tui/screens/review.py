"""Review queue: pending repairs with their failure, the patch as a diff, and the shadow run."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Static

from aionis_tui import format as f
from aionis_tui.screens.base import AionisScreen
from aionis_tui.widgets.modals import ConfirmModal, NoteModal
from aionis_tui.widgets.table import LiveTable

LIVE_KINDS = (
    "repair.proposed",
    "repair.shadow_finished",
    "review.decided",
    "playbook.status_changed",
)


def tail(text: str | None, lines: int = 6) -> str:
    return "\n".join((text or "").rstrip().splitlines()[-lines:])


def shadow_text(shadow: Any) -> Text:
    if not isinstance(shadow, dict) or not shadow:
        return Text("◌ not validated yet (shadow run pending)", style="yellow")
    status = shadow.get("status")
    out = f.status_text(status)
    if shadow.get("sandbox"):
        out.append(f"  in {shadow.get('sandbox')} sandbox", style="bright_black")
    steps = shadow.get("steps") or []
    if steps:
        ok = sum(1 for s in steps if isinstance(s, dict) and s.get("status") == "succeeded")
        out.append(f"  {ok}/{len(steps)} steps succeeded", style="bright_black")
    if shadow.get("reason"):
        out.append(f"\n  {f.one_line(str(shadow.get('reason')), 200)}", style="bright_black")
    for s in steps if isinstance(steps, list) else []:
        if not isinstance(s, dict):
            continue
        out.append("\n  ")
        out.append_text(f.glyph(s.get("status")))
        out.append(f" step {int(s.get('index') or 0) + 1} {s.get('id')} {s.get('status')}")
        if s.get("reason") and s.get("status") != "succeeded":
            out.append(f"  {f.one_line(str(s.get('reason')), 120)}", style="bright_black")
    return out


def repair_detail(r: dict[str, Any]) -> Text:
    out = Text()
    out.append(f"{r.get('id')}", style="bold")
    out.append("  ")
    out.append_text(f.state_text(r.get("state")))
    out.append(f"  {r.get('created_at') or ''}\n", style="bright_black")
    name = r.get("playbook_name") or r.get("playbook_id")
    step = r.get("step_index")
    out.append(f"playbook {name} v{r.get('version')}", style="bold")
    if step is not None:
        out.append(f"  step {int(step) + 1}")
    out.append(f"  ({r.get('playbook_id')})\n", style="bright_black")
    out.append("source ", style="bright_black")
    out.append(f"{r.get('source') or '?'}", style="cyan")
    if r.get("replay_id"):
        out.append(f"  from replay {r.get('replay_id')}", style="bright_black")
    out.append("\nwhy    ", style="bright_black")
    out.append(f"{r.get('rationale') or '(no rationale given)'}\n")
    if r.get("reviewer"):
        out.append("note   ", style="bright_black")
        out.append(f"{r.get('note') or '(no note)'}", style="bold")
        out.append(f"  — {r.get('reviewer')}\n", style="bright_black")

    failure = r.get("failure") or {}
    if failure:
        out.append("\nfailure that prompted it\n", style="bold red")
        if failure.get("exit_code") is not None:
            out.append(f"  exit {failure.get('exit_code')}\n", style="red")
        for stream, style in (("stdout", ""), ("stderr", "red")):
            t = tail(failure.get(stream))
            if t:
                out.append("\n".join(f"  {ln}" for ln in t.splitlines()) + "\n", style=style)

    out.append("\npatch (before → after)\n", style="bold")
    diff = r.get("review_diff") or []
    if diff:
        out.append_text(f.review_diff(diff))
        out.append("\n")
    else:
        out.append("  (no step changes: the patch does not apply)\n", style="red")

    out.append("\nshadow validation  ", style="bold")
    out.append_text(shadow_text(r.get("shadow")))
    return out


def approved_line(pb: dict[str, Any]) -> str:
    """What an approval left behind: live now, or saved and waiting for `p`."""
    if pb.get("status") == "active":
        return f"approved: v{pb.get('version')} is now active"
    return f"approved: v{pb.get('version')} saved as {pb.get('status')}; promote it with p"


class ReviewScreen(AionisScreen):
    MODE = "review"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "approve", "Approve"),
        Binding("r", "reject", "Reject"),
        Binding("p", "promote", "Promote"),
        Binding("t", "toggle_all", "Pending/all"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.repairs: list[dict[str, Any]] = []
        self.show_all = False
        self.approved: dict[str, dict[str, Any]] = {}
        self.wanted: str | None = None  # a repair to select once loaded (opened from a replay)

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="review-body"):
            table: DataTable[Text] = LiveTable(id="repairs-table", cursor_type="row", classes="main")
            yield table
            with VerticalScroll(id="repair-detail"):
                yield Static(Text("no repair selected", "bright_black"), id="repair-text")

    def on_mount(self) -> None:
        table = self.query_one("#repairs-table", DataTable)
        for c in ("status", "shadow", "playbook", "step", "source"):
            table.add_column(c, key=c)
        table.border_title = "review queue"
        self.query_one("#repair-detail").border_title = "repair"
        super().on_mount()

    async def load(self) -> None:
        params: dict[str, Any] = {} if self.show_all else {"status": "pending_review"}
        res = await self.call("repairs.list", **params)
        keep = self.wanted or self.selected_id()
        self.wanted = None
        self.repairs = res.get("repairs") or []
        table = self.query_one("#repairs-table", DataTable)
        table.clear()
        for r in self.repairs:
            shadow = (r.get("shadow") or {}).get("status") if r.get("shadow") else None
            step = r.get("step_index")
            name = r.get("playbook_name") or r.get("playbook_id")
            table.add_row(
                f.state_text(r.get("state")),
                f.status_text(shadow) if shadow else f.text("not run", "bright_black"),
                f.text(f"{f.short(name, 22)} v{r.get('version')}"),
                f.text("" if step is None else int(step) + 1),
                f.text(r.get("source"), "cyan"),
                key=str(r.get("id")),
            )
        what = "repairs" if self.show_all else "pending review"
        table.border_subtitle = f"{len(self.repairs)} {what}"
        ids = [str(r.get("id")) for r in self.repairs]
        if keep in ids:
            table.move_cursor(row=ids.index(keep))
        self.show_selected()

    def selected(self) -> dict[str, Any] | None:
        table = self.query_one("#repairs-table", DataTable)
        row = table.cursor_row
        return self.repairs[row] if 0 <= row < len(self.repairs) else None

    def selected_id(self) -> str | None:
        r = self.selected()
        return str(r.get("id")) if r else None

    def show_selected(self) -> None:
        r = self.selected()
        text = self.query_one("#repair-text", Static)
        if r is None:
            text.update(
                Text(
                    "nothing waits for review" if not self.show_all else "no repairs",
                    style="bright_black",
                )
            )
            return
        out = repair_detail(r)
        decided = self.approved.get(str(r.get("id")))
        if decided:
            out.append(f"\n\n{approved_line(decided)}", style="bold green")
        text.update(out)

    def open_repair(self, repair_id: str) -> None:
        """Show all repairs with `repair_id` selected: where a replay's `o` key lands."""
        self.show_all = True
        self.wanted = repair_id
        self.reload()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_selected()

    def apply_events(self, events: list[dict[str, Any]]) -> None:
        if any(ev.get("kind") in LIVE_KINDS for ev in events):
            self.schedule_reload()

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self.reload()

    def action_approve(self) -> None:
        self._decide("approve")

    def action_reject(self) -> None:
        self._decide("reject")

    def _decide(self, decision: str) -> None:
        r = self.selected()
        if r is None or r.get("status") not in ("pending_review", "shadow_failed"):
            self.notify("select a repair awaiting review (pending or shadow failed)", severity="warning")
            return
        rid = str(r["id"])

        async def go() -> None:
            if decision == "approve":
                modal = NoteModal(
                    "Approve repair",
                    f"Approve {rid}: a new signed version of "
                    f"{r.get('playbook_name') or r.get('playbook_id')}. Note (optional):",
                )
            else:
                modal = NoteModal("Reject repair", f"Reject {rid}: say why (required).", required=True)
            note = await self.app.push_screen_wait(modal)
            if note is None:
                return
            params: dict[str, Any] = {"repair_id": rid, "decision": decision}
            if note:
                params["note"] = note
            res = await self.call("reviews.decide", **params)
            pb = res.get("playbook") or {}
            if decision == "reject":
                self.notify(f"{rid} rejected", title="review")
            else:
                self.approved[rid] = pb
                if pb.get("status") != "active":
                    await self.promote(pb)
                self.notify(approved_line(pb), title=rid)
            self.reload()

        self.spawn(go)

    async def promote(self, pb: dict[str, Any]) -> None:
        body = Text(
            f"Make v{pb.get('version')} of {pb.get('id')} the active version now?\n"
            "Replays without a version will use it."
        )
        if not await self.app.push_screen_wait(ConfirmModal("Promote", body, yes="Promote")):
            return
        res = await self.call("playbooks.promote", id=pb["id"], version=pb["version"], status="active")
        pb.update(res)

    def action_promote(self) -> None:
        r = self.selected()
        pb = self.approved.get(str(r.get("id"))) if r else None
        if pb is None and self.approved:
            pb = list(self.approved.values())[-1]
        if pb is None:
            self.notify("approve a repair first (a), then promote its version", severity="warning")
            return
        target = pb

        async def go() -> None:
            await self.promote(target)
            self.notify(approved_line(target), title="promote")
            self.reload()

        self.spawn(go)
