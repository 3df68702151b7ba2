"""`aionis audit`: the audit log of every governance transition; --verify recomputes its chain."""

from __future__ import annotations

import argparse

from aionisd.cli.command import Commands, call
from aionisd.cli.output import emit, table, trim


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
    header = ["SEQ", "TIME", "ACTOR", "ACTION", "SUBJECT"]
    emit(
        args,
        res,
        lambda r: (
            table(
                [
                    [str(e["seq"]), e["ts"], e["actor"], e["action"], trim(e["subject"], 40)]
                    for e in r["entries"]
                ],
                header,
            )
            or "audit log is empty"
        ),
    )
    return 0


def register(commands: Commands) -> None:
    p = commands.add("audit", cmd_audit, "the audit log; --verify recomputes its hash chain")
    p.add_argument("--verify", action="store_true")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--action", help="only actions starting with this")
