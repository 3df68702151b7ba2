"""`aionis status`: is the daemon up, what it watches, what it holds. Kept light: it starts fast."""

from __future__ import annotations

import argparse

from aionisd.cli.command import Commands, call
from aionisd.cli.output import emit


def cmd_status(args: argparse.Namespace) -> int:
    res = call(args, "status")
    if args.json:
        emit(args, {k: res[k] for k in ("version", "socket", "db", "sources", "counts")})
        return 0
    c = res["counts"]
    lines = [
        f"aionisd {res['version']} (pid {res['pid']}, up {res['uptime_s']}s)",
        f"socket   {res['socket']}",
        f"database {res['db']}",
        f"exec     {'allowed' if res['allow_local_exec'] else 'not allowed (allow_local_exec = false)'}",
        "watching " + (", ".join(f"{k}={v}" for k, v in res["watch"].items()) or "nothing"),
        f"sources  {res['sources']['files']} files ({res['sources']['reading']} being read, "
        f"{res['sources']['with_errors']} with errors)",
        f"counts   {c['runs']} runs, {c['steps']} steps, {c['playbooks']} playbooks, "
        f"{c['repairs_pending']} repairs pending",
    ]
    print("\n".join(lines))
    return 0


def register(commands: Commands) -> None:
    commands.add("status", cmd_status, "daemon status: version, socket, database, sources, counts")
