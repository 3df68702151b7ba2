"""Subcommands for replay, governance and audit."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from aionisd.cli import CliError, _connect, _trim, call, emit, table
from aionisd.cli_more import _kv
from aionisd.events import outcome_line, repair_heading
from aionisd.repair import repair_summary

_MARK = {"succeeded": "✓", "failed": "✗", "skipped": "↷", "not_run": "·", "cancelled": "⊘"}


def cmd_replay(args: argparse.Namespace) -> int:
    workdir = str(Path(args.workdir or os.getcwd()).resolve())
    live = sys.stderr.isatty() and not args.json
    state: dict[str, Any] = {"rid": None, "finished": False, "early": []}

    def show(kind: str, d: dict[str, Any]) -> None:
        if kind == "replay.step.finished" and live:
            mark = _MARK.get(d.get("status", ""), "?")
            ms = d.get("duration_ms") or 0
            label = "check" if d.get("phase") == "success" else f"step {d['index'] + 1}"
            print(
                f"  {mark} {label} ({d.get('id')}) {d.get('status')} in {ms} ms"
                + (f" — {d['reason']}" if d.get("reason") and d.get("status") != "succeeded" else ""),
                file=sys.stderr,
            )
        elif kind == "replay.step.started" and live and d.get("attempt", 1) > 1:
            print(f"  ↻ retry {d['attempt']} of {d.get('id')}", file=sys.stderr)
        elif kind == "replay.finished":
            state["finished"] = True

    def on_notify(method: str, params: dict[str, Any]) -> None:
        if method != "events.notify":
            return
        d = params.get("data") or {}
        if state["rid"] is None:
            state["early"].append((params["kind"], d))
        elif d.get("replay_id") == state["rid"]:
            show(params["kind"], d)

    with _connect(args, timeout=None, on_notify=on_notify) as c:
        c.call("events.subscribe", kinds=["replay."])
        start = c.call(
            "replay.start",
            id=args.id,
            version=args.version,
            mode=args.mode,
            workdir=workdir,
            params=_kv(args.param, "--param") or {},
            env=dict(os.environ),
        )
        state["rid"] = start["replay_id"]
        if live:
            pb = start["playbook"]
            print(
                f"replay {start['replay_id']}: {pb['name']} v{pb['version']} ({args.mode}) in {workdir}",
                file=sys.stderr,
            )
        for kind, d in state["early"]:
            if d.get("replay_id") == state["rid"]:
                show(kind, d)
        try:
            while not state["finished"]:
                c.read()
        except KeyboardInterrupt:
            if args.mode != "simulate":
                with _connect(args) as stop:
                    stop.call("replay.cancel", replay_id=state["rid"])
                print(f"aionis: cancelled replay {state['rid']}", file=sys.stderr)
            return 130
        res = c.call("replay.get", replay_id=state["rid"])
    out = {
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
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        if args.mode == "simulate" and res.get("simulation"):
            sim = res["simulation"]
            for note in sim.get("notes", []):
                print(f"  note: {note}")
            for c in sim.get("preconditions", []):
                if not c["ok"]:
                    print(f"  precondition failed: {c['reason']}")
            for group in ("steps", "checks"):
                for plan in sim.get(group, []):
                    label = f"{plan['index'] + 1:>3}." if group == "steps" else "  ✓ "
                    why = "; ".join(plan.get("reasons") or [])
                    print(f"  {label} {plan['status'].replace('_', ' '):<10} {plan['id']} {why}".rstrip())
        print(f"{res['status']}: {res['reason']}")
        div = res["divergence"]
        if div:
            print(f"diverged at step {div['step_index'] + 1} ({div['step_id']}): {div['reason']}")
            print(f"  expected {json.dumps(div['expected'])}, got {json.dumps(div['got'])}")
            if div.get("output_tail"):
                print("  " + div["output_tail"].rstrip().replace("\n", "\n  "))
        for line in repair_lines(res["repairs"]):
            print(line)
    return 0 if res["status"] == "succeeded" else 1


def repair_lines(repairs: list[dict[str, Any]]) -> list[str]:
    """Per failing step handed to repair: what was decided, then each source's outcome and why."""
    lines = []
    for r in repairs:
        lines.append(repair_heading(r))
        lines.extend(f"  {outcome_line(o)}" for o in r.get("sources", []))
    return lines


def cmd_replays(args: argparse.Namespace) -> int:
    res = call(args, "replay.list", limit=args.limit)
    emit(
        args,
        res,
        lambda r: (
            table(
                [
                    [
                        x["replay_id"],
                        _trim(x["name"], 30),
                        f"v{x['version']}",
                        x["mode"],
                        x["status"],
                        _trim(x["reason"], 50),
                    ]
                    for x in r["replays"]
                ],
                ["ID", "PLAYBOOK", "VER", "MODE", "STATUS", "REASON"],
            )
            or "no replays yet"
        ),
    )
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    res = call(args, "replay.cancel", replay_id=args.replay_id)
    emit(args, res, lambda r: f"cancelled {args.replay_id}")
    return 0


def cmd_repairs(args: argparse.Namespace) -> int:
    res = call(args, "repairs.list", status=args.status)
    emit(
        args,
        res,
        lambda r: (
            table(
                [
                    [
                        x["id"],
                        x["playbook_id"],
                        f"v{x['version']}",
                        x["source"],
                        x["status"],
                        (x.get("shadow") or {}).get("status", "-"),
                        _trim(x["rationale"], 40),
                    ]
                    for x in r["repairs"]
                ],
                ["ID", "PLAYBOOK", "VER", "SOURCE", "STATUS", "SHADOW", "RATIONALE"],
            )
            or "no repairs"
        ),
    )
    return 0


def cmd_repair(args: argparse.Namespace) -> int:
    if args.repair_command == "show":
        res = call(args, "repairs.get", id=args.id)
        emit(args, res, lambda r: json.dumps(r, indent=2))
        return 0
    if args.repair_command == "propose":
        try:
            patch = json.loads(Path(args.patch).read_text())
        except (OSError, ValueError) as e:
            raise CliError(f"cannot read patch {args.patch}: {e}") from None
        res = call(
            args,
            "repairs.propose",
            playbook_id=args.id,
            version=args.version,
            patch=patch,
            rationale=args.rationale,
            workdir=str(Path(args.workdir).resolve()) if args.workdir else None,
            env=dict(os.environ),
        )
        emit(args, res, lambda r: f"proposed {r['id']} ({r['status']})")
        return 0
    raise CliError("usage: aionis repair show ID | propose ID --patch FILE", 2)


def cmd_review(args: argparse.Namespace) -> int:
    decision = "approve" if args.approve else "reject"
    res = call(args, "reviews.decide", repair_id=args.repair_id, decision=decision, note=args.note)
    out = {k: res[k] for k in ("repair_id", "decision", "playbook")}
    emit(
        args,
        out,
        lambda r: (
            f"{decision}d {r['repair_id']}"
            + (
                f": {r['playbook']['id']} v{r['playbook']['version']} is {r['playbook']['status']}"
                if decision == "approve"
                else ""
            )
        ),
    )
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    if args.verify:
        res = call(args, "audit.verify")
        emit(
            args,
            res,
            lambda r: (
                f"audit chain intact: {r['entries']} entries"
                if r["ok"]
                else f"audit chain BROKEN at entry {r['first_bad']} ({r['entries']} read)"
            ),
        )
        return 0 if res["ok"] else 1
    res = call(args, "audit.list", limit=args.limit, action=args.action)
    emit(
        args,
        res,
        lambda r: (
            table(
                [
                    [str(e["seq"]), e["ts"], e["actor"], e["action"], _trim(e["subject"], 40)]
                    for e in r["entries"]
                ],
                ["SEQ", "TIME", "ACTOR", "ACTION", "SUBJECT"],
            )
            or "audit log is empty"
        ),
    )
    return 0


def cmd_tui(args: argparse.Namespace) -> int:
    from aionis_tui.app import main as tui_main

    return tui_main(["--socket", args.socket] if args.socket else [])


def cmd_mcp(args: argparse.Namespace) -> int:
    from aionisd.mcp import main as mcp_main

    return mcp_main(socket=args.socket)


def register(add: Any, common: argparse.ArgumentParser) -> None:
    p = add("replay", cmd_replay, "replay a playbook: simulate (runs nothing), strict, or guided")
    p.add_argument("id", metavar="ID")
    p.add_argument("--version", type=int, help="default: the latest active, else the latest draft")
    p.add_argument("--mode", required=True, choices=["simulate", "strict", "guided"])
    p.add_argument("--workdir", metavar="DIR", help="where to replay (default: the current directory)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="a playbook parameter")
    p = add("replays", cmd_replays, "recent replays")
    p.add_argument("--limit", type=int, default=30)
    p = add("cancel", cmd_cancel, "cancel a running replay")
    p.add_argument("replay_id", metavar="REPLAY_ID")

    p = add("repairs", cmd_repairs, "the repair queue")
    p.add_argument("--status", choices=["pending_review", "approved", "rejected", "shadow_failed", "invalid"])
    p = add("repair", lambda a: a.rp_parser.print_help() or 2, "show or propose a repair")
    p.set_defaults(rp_parser=p)
    sub = p.add_subparsers(dest="repair_command", metavar="show|propose")
    q = sub.add_parser("show", help="one repair in full", parents=[common])
    q.add_argument("id", metavar="ID")
    q.set_defaults(fn=cmd_repair)
    q = sub.add_parser("propose", help="propose an RFC 6902 patch of a playbook", parents=[common])
    q.add_argument("id", metavar="PLAYBOOK_ID")
    q.add_argument("--patch", required=True, metavar="FILE", help="JSON file with the patch operations")
    q.add_argument("--version", type=int)
    q.add_argument("--rationale", default="")
    q.add_argument("--workdir", metavar="DIR", help="directory the shadow run copies")
    q.set_defaults(fn=cmd_repair)

    p = add("review", cmd_review, "approve or reject a repair (signed with your key)")
    p.add_argument("repair_id", metavar="REPAIR_ID")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--approve", action="store_true")
    g.add_argument("--reject", action="store_true")
    p.add_argument("--note", help="why")

    p = add("audit", cmd_audit, "the audit log; --verify recomputes its hash chain")
    p.add_argument("--verify", action="store_true")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--action", help="only actions starting with this")

    add("tui", cmd_tui, "open the terminal UI")
    add("mcp", cmd_mcp, "serve MCP on stdio (tools: find_playbooks, replay_playbook, ...)")
    __import__("aionisd.agents").agents.register(add, common)
