"""`aionis replay`, `replays`, `cancel`: run a playbook (simulate, strict or guided) and follow it
step by step; list and stop replays."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from aionisd.cli.command import Commands, assignments, call, connect
from aionisd.cli.output import MARK, emit, error, table, trim
from aionisd.events import MODES, outcome_line, repair_heading, replay_story, review_hint
from aionisd.repair import repair_summary


class _Progress:
    """Follows one replay's events: prints each step as it ends (when stderr is a terminal) and
    notices the end. Events may arrive before `replay.start` names the replay: they wait."""

    def __init__(self, live: bool) -> None:
        self.live = live
        self.replay_id: str | None = None
        self.finished = False
        self._early: list[tuple[str, dict[str, Any]]] = []

    def on_notify(self, method: str, params: dict[str, Any]) -> None:
        if method != "events.notify":
            return
        d = params.get("data") or {}
        if self.replay_id is None:
            self._early.append((params["kind"], d))
        elif d.get("replay_id") == self.replay_id:
            self._show(params["kind"], d)

    def started(self, replay_id: str) -> None:
        self.replay_id = replay_id
        for kind, d in self._early:
            if d.get("replay_id") == replay_id:
                self._show(kind, d)
        self._early.clear()

    def _show(self, kind: str, d: dict[str, Any]) -> None:
        if kind == "replay.step.finished" and self.live:
            label = "check" if d.get("phase") == "success" else f"step {d['index'] + 1}"
            why = f" — {d['reason']}" if d.get("reason") and d.get("status") != "succeeded" else ""
            print(
                f"  {MARK.get(d.get('status', ''), '?')} {label} ({d.get('id')}) {d.get('status')} "
                f"in {d.get('duration_ms') or 0} ms{why}",
                file=sys.stderr,
            )
        elif kind == "replay.step.started" and self.live and d.get("attempt", 1) > 1:
            print(f"  ↻ retry {d['attempt']} of {d.get('id')}", file=sys.stderr)
        elif kind == "replay.finished":
            self.finished = True


def _summary(res: dict[str, Any]) -> dict[str, Any]:
    """The replay's result without step output: what --json prints."""
    return {
        "replay_id": res["replay_id"],
        "playbook": {"id": res["playbook"]["id"], "version": res["playbook"]["version"]},
        "mode": res["mode"],
        "status": res["status"],
        "reason": res["reason"],
        "steps": [
            {
                "index": s["index"],
                "status": s["status"],
                "exit_code": s.get("exit_code"),
                "duration_ms": s.get("duration_ms"),
                **({"reason": s["reason"]} if s.get("reason") else {}),
            }
            for s in res["steps"]
        ],
        "divergence": res["divergence"],
        "repairs": [repair_summary(r) for r in res["repairs"]],
        "story": replay_story(res),
    }


def _simulation_lines(sim: dict[str, Any]) -> list[str]:
    """What simulate found: notes, failed preconditions, and per step would-run/would-skip/blocked."""
    lines = [f"  note: {note}" for note in sim.get("notes", [])]
    lines += [f"  precondition failed: {c['reason']}" for c in sim.get("preconditions", []) if not c["ok"]]
    for group in ("steps", "checks"):
        for plan in sim.get(group, []):
            label = f"{plan['index'] + 1:>3}." if group == "steps" else "  ✓ "
            why = "; ".join(plan.get("reasons") or [])
            lines.append(f"  {label} {plan['status'].replace('_', ' '):<10} {plan['id']} {why}".rstrip())
    return lines


def repair_lines(repairs: list[dict[str, Any]]) -> list[str]:
    """Per failing step handed to repair: what was decided, each source's outcome and why, and
    how to review the repair it recorded."""
    lines = []
    for r in repairs:
        lines.append(repair_heading(r))
        lines.extend(f"  {outcome_line(o)}" for o in r.get("sources", []))
        rid = (r.get("record") or {}).get("repair_id")
        if rid:
            lines.append(f"  {review_hint(rid)}")
    return lines


def story_lines(res: dict[str, Any]) -> list[str]:
    """The steps in the order they ran, a repair's steps right after the one they replaced."""
    lines = []
    for s in replay_story(res):
        label = {"step": f"{s['index'] + 1:>3}.", "repair": "  +", "success": "  ✓"}[s["phase"]]
        mark = MARK.get(s.get("status") or "", "?")
        why = f" — {s['reason']}" if s.get("reason") and s.get("status") != "succeeded" else ""
        own = f"  [repair {s['repair_id']}]" if s.get("repair_id") else ""
        lines.append(f"  {label} {mark} {s['id']} {s.get('status')}{why}{own}")
    return lines


def _report(mode: str, res: dict[str, Any]) -> str:
    """The replay's outcome for a person: the simulation, the status, the divergence, repairs."""
    lines = _simulation_lines(res["simulation"]) if mode == "simulate" and res.get("simulation") else []
    lines.append(f"{res['status']}: {res['reason']}")
    div = res["divergence"]
    if div:
        lines.append(f"diverged at step {div['step_index'] + 1} ({div['step_id']}): {div['reason']}")
        lines.append(f"  expected {json.dumps(div['expected'])}, got {json.dumps(div['got'])}")
        if div.get("output_tail"):
            lines.append("  " + div["output_tail"].rstrip().replace("\n", "\n  "))
    story = story_lines(res) if res["repairs"] else []
    return "\n".join(lines + story + repair_lines(res["repairs"]))


def cmd_replay(args: argparse.Namespace) -> int:
    workdir = str(Path(args.workdir or os.getcwd()).resolve())
    progress = _Progress(live=sys.stderr.isatty() and not args.json)
    with connect(args, timeout=None, on_notify=progress.on_notify) as c:
        c.call("events.subscribe", kinds=["replay."])
        start = c.call(
            "replay.start",
            id=args.id,
            version=args.version,
            mode=args.mode,
            workdir=workdir,
            params=assignments(args.param, "--param") or {},
            env=dict(os.environ),
        )
        if progress.live:
            pb = start["playbook"]
            print(
                f"replay {start['replay_id']}: {pb['name']} v{pb['version']} ({args.mode}) in {workdir}",
                file=sys.stderr,
            )
        progress.started(start["replay_id"])
        try:
            while not progress.finished:
                c.read()
        except KeyboardInterrupt:
            if args.mode != "simulate":
                with connect(args) as stop:
                    stop.call("replay.cancel", replay_id=start["replay_id"])
            error(f"cancelled replay {start['replay_id']}")
            raise
        res = c.call("replay.get", replay_id=start["replay_id"])
    emit(args, _summary(res), lambda _: _report(args.mode, res))
    return 0 if res["status"] == "succeeded" else 1


def cmd_replays(args: argparse.Namespace) -> int:
    res = call(args, "replay.list", limit=args.limit)
    header = ["ID", "PLAYBOOK", "VER", "MODE", "STATUS", "REASON"]
    emit(
        args,
        res,
        lambda r: (
            table(
                [
                    [
                        x["replay_id"],
                        trim(x["name"], 30),
                        f"v{x['version']}",
                        x["mode"],
                        x["status"],
                        trim(x["reason"], 50),
                    ]
                    for x in r["replays"]
                ],
                header,
            )
            or "no replays yet"
        ),
    )
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    res = call(args, "replay.cancel", replay_id=args.replay_id)
    emit(args, res, lambda r: f"cancelled {args.replay_id}")
    return 0


def register(commands: Commands) -> None:
    p = commands.add("replay", cmd_replay, "replay a playbook: simulate (runs nothing), strict, or guided")
    p.add_argument("id", metavar="ID")
    p.add_argument("--version", type=int, help="default: the latest active, else the latest draft")
    p.add_argument("--mode", required=True, choices=MODES)
    p.add_argument("--workdir", metavar="DIR", help="where to replay (default: the current directory)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="a playbook parameter")
    p = commands.add("replays", cmd_replays, "recent replays")
    p.add_argument("--limit", type=int, default=30)
    p = commands.add("cancel", cmd_cancel, "cancel a running replay")
    p.add_argument("replay_id", metavar="REPLAY_ID")
