"""`aionis ingest`, `runs`, `run show`: the recorded agent sessions."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from aionisd.cli.command import Commands, call
from aionisd.cli.output import MARK, CliError, emit, table, trim


def cmd_ingest(args: argparse.Namespace) -> int:
    paths = [str(Path(f).resolve()) for f in args.files]
    for f in paths:
        if not Path(f).is_file():
            raise CliError(f"no such file: {f}")
    res = call(args, "ingest", paths=paths)

    def human(r: dict[str, Any]) -> str:
        lines = [f"{x['id']}  {x['agent']}  {x['steps']} steps" for x in r["runs"]]
        lines += [f"error: {e['path']}@{e['offset']}: {e['reason']}" for e in r["errors"]]
        return "\n".join(lines) or "nothing recorded"

    emit(args, res, human)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    res = call(args, "runs.list", limit=args.limit, agent=args.agent)
    header = ["ID", "AGENT", "STEPS", "STARTED", "GOAL"]
    emit(
        args,
        res,
        lambda r: (
            table(
                [
                    [x["id"], x["agent"], str(x["steps"]), x["started_at"] or "", trim(x["goal"], 50)]
                    for x in r["runs"]
                ],
                header,
            )
            or "no runs recorded yet"
        ),
    )
    return 0


def cmd_run_show(args: argparse.Namespace) -> int:
    res = call(args, "runs.get", id=args.id, output=args.output)

    def human(r: dict[str, Any]) -> str:
        t = r["tokens"]
        head = [
            f"run {r['id']} ({r['agent']})",
            f"cwd {r['cwd']}   branch {r.get('git_branch') or '-'}",
            f"{r['started_at']} → {r['ended_at']}   tokens {t['total']:,}",
        ]
        rows = [
            [
                str(s["seq"]),
                MARK.get(s["status"], "?"),
                s["kind"],
                "" if s["exit_code"] is None else str(s["exit_code"]),
                "" if s["duration_ms"] is None else f"{s['duration_ms']}ms",
                ("↳ " if s["subagent"] else "") + trim(s["command"] or s["tool"], 80),
            ]
            for s in r["steps"]
        ]
        return "\n".join(head) + "\n" + table(rows, ["#", "", "KIND", "EXIT", "TIME", "STEP"])

    emit(args, res, human)
    return 0


def register(commands: Commands) -> None:
    p = commands.add("ingest", cmd_ingest, "import agent log files once (adapter chosen by content)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p = commands.add("runs", cmd_runs, "list recorded runs, newest first")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--agent", help="only runs of this agent (claude-code, codex, gemini-cli, ...)")

    run = commands.group("run", "a run: `aionis run show ID`")
    p = run.add("show", cmd_run_show, "a run's steps")
    p.add_argument("id", metavar="ID")
    p.add_argument("--output", action="store_true", help="include each step's stdout/stderr")
