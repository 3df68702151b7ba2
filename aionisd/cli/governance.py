"""`aionis repairs`, `repair show|propose`, `review`: the repair queue and its signed decisions."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from aionisd.cli.command import Commands, call
from aionisd.cli.output import MARK, CliError, emit, table, trim
from aionisd.events import review_lines


def cmd_repairs(args: argparse.Namespace) -> int:
    res = call(args, "repairs.list", status=args.status)
    header = ["ID", "PLAYBOOK", "VER", "SOURCE", "STATUS", "SHADOW", "NOTE / RATIONALE"]
    emit(
        args,
        res,
        lambda r: (
            table(
                [
                    [
                        x["id"],
                        x.get("playbook_name") or x["playbook_id"],
                        f"v{x['version']}",
                        x["source"],
                        x["state"],
                        (x.get("shadow") or {}).get("status", "-"),
                        trim(x.get("note") or x["rationale"], 40),
                    ]
                    for x in r["repairs"]
                ],
                header,
            )
            or "no repairs"
        ),
    )
    return 0


def repair_text(r: dict[str, Any]) -> str:
    """One repair as a reviewer reads it: state, note, the patch with its neighbours, the shadow
    run step by step."""
    lines = [
        f"{r['id']}  {r['state']}  {r.get('playbook_name') or r['playbook_id']} v{r['version']}"
        + ("" if r.get("step_index") is None else f"  step {r['step_index'] + 1}"),
        f"source     {r['source']}" + (f" (from replay {r['replay_id']})" if r.get("replay_id") else ""),
        f"rationale  {r['rationale']}",
    ]
    if r.get("reviewer"):
        lines.append(f"decided by {r['reviewer']}: {r.get('note') or '(no note)'}")
    if r.get("invalid_reason"):
        lines.append(f"invalid    {r['invalid_reason']}")
    lines.append("patch")
    lines += [f"  {mark} {text}" for mark, text in review_lines(r.get("review_diff") or [])]
    shadow = r.get("shadow") or {}
    lines.append(
        f"shadow     {shadow.get('status', 'not run yet')}"
        + (f" in {shadow['sandbox']} sandbox" if shadow.get("sandbox") else "")
        + (f": {shadow['reason']}" if shadow.get("reason") else "")
    )
    for s in shadow.get("steps") or []:
        why = f" — {s['reason']}" if s.get("reason") and s.get("status") != "succeeded" else ""
        lines.append(
            f"  {MARK.get(s.get('status', ''), '?')} step {s['index'] + 1} ({s.get('id')}) "
            f"{s.get('status')}{why}"
        )
    return "\n".join(lines)


def cmd_repair_show(args: argparse.Namespace) -> int:
    emit(args, call(args, "repairs.get", id=args.id), repair_text)
    return 0


def cmd_repair_propose(args: argparse.Namespace) -> int:
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


def cmd_review(args: argparse.Namespace) -> int:
    decision = "approve" if args.approve else "reject"
    res = call(args, "reviews.decide", repair_id=args.repair_id, decision=decision, note=args.note)
    pb = res["playbook"]
    todo = ""
    if decision == "approve" and pb["status"] != "active":
        todo = f"; promote it with: aionis promote {pb['id']} --version {pb['version']} --status active"
    emit(
        args,
        {k: res[k] for k in ("repair_id", "decision", "playbook", "summary")},
        lambda r: f"{r['repair_id']} {r['summary']}{todo}",
    )
    return 0


def register(commands: Commands) -> None:
    p = commands.add("repairs", cmd_repairs, "the repair queue")
    p.add_argument("--status", choices=["pending_review", "approved", "rejected", "shadow_failed", "invalid"])

    repair = commands.group("repair", "show or propose a repair", "show|propose")
    p = repair.add("show", cmd_repair_show, "one repair in full")
    p.add_argument("id", metavar="ID")
    p = repair.add("propose", cmd_repair_propose, "propose an RFC 6902 patch of a playbook")
    p.add_argument("id", metavar="PLAYBOOK_ID")
    p.add_argument("--patch", required=True, metavar="FILE", help="JSON file with the patch operations")
    p.add_argument("--version", type=int)
    p.add_argument("--rationale", default="")
    p.add_argument("--workdir", metavar="DIR", help="directory the shadow run copies")

    p = commands.add("review", cmd_review, "approve or reject a repair (signed with your key)")
    p.add_argument("repair_id", metavar="REPAIR_ID")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--approve", action="store_true")
    g.add_argument("--reject", action="store_true")
    p.add_argument("--note", help="why")
