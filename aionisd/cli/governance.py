"""`aionis repairs`, `repair show|propose`, `review`: the repair queue and its signed decisions."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from aionisd.cli.command import Commands, call
from aionisd.cli.output import CliError, emit, table, trim


def cmd_repairs(args: argparse.Namespace) -> int:
    res = call(args, "repairs.list", status=args.status)
    header = ["ID", "PLAYBOOK", "VER", "SOURCE", "STATUS", "SHADOW", "RATIONALE"]
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
                        trim(x["rationale"], 40),
                    ]
                    for x in r["repairs"]
                ],
                header,
            )
            or "no repairs"
        ),
    )
    return 0


def cmd_repair_show(args: argparse.Namespace) -> int:
    emit(args, call(args, "repairs.get", id=args.id), lambda r: json.dumps(r, indent=2))
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
    after = f": {pb['id']} v{pb['version']} is {pb['status']}" if decision == "approve" else ""
    emit(
        args,
        {k: res[k] for k in ("repair_id", "decision", "playbook")},
        lambda r: f"{decision}d {r['repair_id']}{after}",
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
