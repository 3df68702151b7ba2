"""`aionis tui`, `mcp`, `agents install`, `hook`: the ways in for people and coding agents.

The MCP server and the TUI pull in an event loop, so they are imported only when run."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aionisd import hooks
from aionisd.cli.command import Commands
from aionisd.cli.output import emit, error


def cmd_tui(args: argparse.Namespace) -> int:
    from aionis_tui.app import main as tui_main

    return tui_main(["--socket", args.socket] if args.socket else [])


def cmd_mcp(args: argparse.Namespace) -> int:
    from aionisd.mcp import main as mcp_main

    return mcp_main(socket=args.socket)


class _Installable:
    """The names `agents install` takes, read from the registry only when argparse checks or
    shows them: every `aionis` call builds the parser (`aionis hook` runs on every prompt), and
    the registry imports every agent's adapters."""

    def _names(self) -> tuple[str, ...]:
        from aionisd.agents import installable

        return installable()

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())


def cmd_install(args: argparse.Namespace) -> int:
    from aionisd.agents import AGENTS
    from aionisd.agents.install import write

    project = Path(args.project or os.getcwd()).expanduser().resolve()
    installer = AGENTS[args.agent].installer
    assert installer is not None  # argparse offers only installable agents
    changes = installer.plan(project, Path.home(), os.environ)
    for ch in changes:
        if ch.changed and not args.dry_run:
            write(ch)
    result = {
        "agent": args.agent,
        "dry_run": args.dry_run,
        "files": [
            {"path": str(ch.path), "status": ch.status, "diff": ch.diff(), "error": ch.error}
            for ch in changes
        ],
    }

    def human(_: Any) -> str:
        verb = {
            "created": "would create" if args.dry_run else "created",
            "updated": "would update" if args.dry_run else "updated",
            "unchanged": "already set up:",
        }
        lines = [f"{verb[ch.status]} {ch.path}" for ch in changes if not ch.error]
        lines += ["dry run: nothing written"] if args.dry_run else []
        return "".join(ch.diff() for ch in changes) + "\n".join(lines)

    emit(args, result, human)
    failed = [ch for ch in changes if ch.error]
    for ch in failed:
        error(f"{ch.path}: {ch.error}")
    return 1 if failed else 0


def cmd_hook(args: argparse.Namespace) -> int:
    return hooks.main(args.event or "", args.socket)


def register(commands: Commands) -> None:
    commands.add("tui", cmd_tui, "open the terminal UI")
    commands.add("mcp", cmd_mcp, "serve MCP on stdio (tools: find_playbooks, replay_playbook, ...)")
    agents = commands.group(
        "agents", "wire aionis into a coding agent: `aionis agents install NAME`", "install"
    )
    p = agents.add(
        "install",
        cmd_install,
        "add the MCP server, hooks and instructions to the agent's files (shows a diff of each)",
    )
    # A metavar, so argparse does not list the choices (and load the registry) while building.
    p.add_argument("agent", choices=_Installable(), metavar="NAME", help="the agent: %(choices)s")
    p.add_argument("--dry-run", action="store_true", help="show the diffs, write nothing")
    p.add_argument("--project", metavar="DIR", help="the project to set up (default: the current directory)")
    p = commands.add(
        "hook",
        cmd_hook,
        "for agent hooks: print playbooks matching the session's repository "
        "or the prompt (hook JSON on stdin); silent and exit 0 on any problem",
    )
    p.add_argument("event", nargs="?", metavar="session-start|prompt")
