"""`aionis agents install` and `aionis hook`: wire aionis into Claude Code, Codex CLI and Gemini
CLI so agents find and replay playbooks without a person in between.

The snippets are defined here once; share/agents/ holds the same text for people who copy them
by hand (a test keeps the two equal). Installing merges into the agent's own files and never
rewrites what it does not understand: an unparsable file is reported and left alone.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import os
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AGENTS = ("claude-code", "codex", "gemini")
SERVER = "aionis"
BEGIN = "<!-- aionis:begin (managed by `aionis agents install`) -->"
END = "<!-- aionis:end -->"
HOOK_TIMEOUT_S = 5
REPLAY_TIMEOUT_S = 900  # a strict replay answers when it ends; agents' default tool timeouts are short

_BODY = """\
## Execution memory (aionis)

This machine runs aionis, which records coding-agent sessions as signed, replayable playbooks.
Before working out how to do a multi-step task (set up an environment, build, test, release,
bootstrap a service), call the `find_playbooks` tool of the `aionis` MCP server with the task in
your own words and your working directory as `cwd`.

- If a playbook matches (read its `why`; prefer `status` active and `signature` trusted), call
  `simulate_playbook` for your working directory. If no step is `blocked`, call `replay_playbook`
  (mode `strict`) instead of redoing the work, then check its `status` and `divergence`. If it
  diverges, carry on by hand from the diverging step and say so.
- If it is refused (local execution off, untrusted signer, missing parameter), tell the user the
  `reason` and `what_to_do`, and do the work yourself.
- If nothing matches, do the work as usual: aionisd records this session from {log}, so
  next time there is a playbook.{extra}
"""
_LOG = {"claude-code": "Claude Code's log", "codex": "Codex's log", "gemini": "Gemini CLI's log"}
_EXTRA = {
    "claude-code": "\n\nWhen a hook message starting with `aionis:` lists playbooks, treat it as the "
    "result of\n`find_playbooks` for this task.",
}


def paragraph(agent: str) -> str:
    """The block added to CLAUDE.md / AGENTS.md / GEMINI.md, between markers so it is added once."""
    return f"{BEGIN}\n{_BODY.format(log=_LOG[agent], extra=_EXTRA.get(agent, ''))}{END}\n"


def claude_mcp() -> dict[str, Any]:
    return {"mcpServers": {SERVER: {"type": "stdio", "command": "aionis", "args": ["mcp"], "env": {}}}}


def claude_hooks() -> dict[str, Any]:
    def hook(event: str) -> dict[str, Any]:
        return {"type": "command", "command": f"aionis hook {event}", "timeout": HOOK_TIMEOUT_S}

    return {"hooks": {
        "SessionStart": [{"matcher": "startup|clear|compact", "hooks": [hook("session-start")]}],
        "UserPromptSubmit": [{"hooks": [hook("prompt")]}],
    }}  # fmt: skip


def gemini_settings() -> dict[str, Any]:
    return {"mcpServers": {SERVER: {"command": "aionis", "args": ["mcp"],
                                    "timeout": REPLAY_TIMEOUT_S * 1000}}}  # fmt: skip


def codex_toml() -> str:
    return (
        f"[mcp_servers.{SERVER}]\n"
        'command = "aionis"\n'
        'args = ["mcp"]\n'
        "# replay_playbook answers when the replay ends\n"
        f"tool_timeout_sec = {REPLAY_TIMEOUT_S}\n"
    )


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def snippets() -> dict[str, str]:
    """share/agents/, relative path -> text."""
    return {
        "claude-code/.mcp.json": _json(claude_mcp()),
        "claude-code/settings.json": _json(claude_hooks()),
        "claude-code/CLAUDE.md": paragraph("claude-code"),
        "codex/config.toml": codex_toml(),
        "codex/AGENTS.md": paragraph("codex"),
        "gemini/settings.json": _json(gemini_settings()),
        "gemini/GEMINI.md": paragraph("gemini"),
    }


# -- planning: pure functions from a file's current text to its new text -------------------------


@dataclass(slots=True)
class Change:
    """One file: its text now (None: absent) and after install (None: leave it alone)."""

    path: Path
    before: str | None
    after: str | None
    error: str | None = None

    @property
    def changed(self) -> bool:
        return self.error is None and self.after is not None and self.after != self.before

    @property
    def status(self) -> str:
        if self.error:
            return "error"
        if not self.changed:
            return "unchanged"
        return "created" if self.before is None else "updated"

    def diff(self) -> str:
        if not self.changed:
            return ""
        a = (self.before or "").splitlines(keepends=True)
        b = (self.after or "").splitlines(keepends=True)
        src = "/dev/null" if self.before is None else str(self.path)
        return "".join(difflib.unified_diff(a, b, src, str(self.path)))


class Unmergeable(Exception):
    """The file's structure is not what the agent documents (e.g. mcpServers is not an object)."""


def merge_mcp_server(data: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """Add our server beside the user's; an existing `aionis` entry is the user's choice and stays."""
    servers = data.setdefault("mcpServers", {})
    if not isinstance(servers, dict):
        raise Unmergeable("mcpServers is not an object")
    servers.setdefault(SERVER, entry["mcpServers"][SERVER])
    return data


def merge_hooks(data: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """Append our hook groups to each event unless a hook already runs the same command."""
    hooks = data.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise Unmergeable("hooks is not an object")
    for event, groups in ours["hooks"].items():
        present = hooks.setdefault(event, [])
        if not isinstance(present, list):
            raise Unmergeable(f"hooks.{event} is not an array")
        commands = {
            h.get("command")
            for g in present if isinstance(g, dict)
            for h in g.get("hooks") or [] if isinstance(h, dict)
        }  # fmt: skip
        for group in groups:
            if not {h["command"] for h in group["hooks"]} & commands:
                present.append(copy.deepcopy(group))
    return data


def plan_json(path: Path, before: str | None, merge: Callable[[dict[str, Any]], dict[str, Any]]) -> Change:
    if before is None or not before.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(before)
        except ValueError as e:
            return Change(path, before, None, f"not valid JSON ({e}); left unchanged")
    if not isinstance(data, dict):
        return Change(path, before, None, "not a JSON object; left unchanged")
    try:
        new = merge(copy.deepcopy(data))
    except Unmergeable as e:
        return Change(path, before, None, f"{e}; left unchanged")
    if new == data and before is not None and before.strip():
        return Change(path, before, before)
    return Change(path, before, _json(new))


def plan_paragraph(path: Path, before: str | None, agent: str) -> Change:
    if before is not None and BEGIN in before:
        return Change(path, before, before)
    if not before:
        return Change(path, before, paragraph(agent))
    sep = "\n" if before.endswith("\n") else "\n\n"
    return Change(path, before, before + sep + paragraph(agent))


def plan_codex(path: Path, before: str | None) -> Change:
    text = before or ""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        return Change(path, before, None, f"not valid TOML ({e}); left unchanged")
    servers = data.get("mcp_servers", {})
    if isinstance(servers, dict) and SERVER in servers:
        return Change(path, before, before)
    sep = "" if not text else ("\n" if text.endswith("\n") else "\n\n")
    after = text + sep + codex_toml()
    try:
        tomllib.loads(after)
    except tomllib.TOMLDecodeError as e:
        return Change(path, before, None, f"cannot add [mcp_servers.{SERVER}] here ({e}); left unchanged")
    return Change(path, before, after)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def codex_home(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    value = env.get("CODEX_HOME")
    return Path(value).expanduser() if value else Path.home() / ".codex"


def plan(agent: str, project: Path, home: Path, codex_dir: Path) -> list[Change]:
    """Every file `agent` needs, with what it holds now and what install would write."""
    if agent == "claude-code":
        mcp, md, settings = (
            project / ".mcp.json",
            project / "CLAUDE.md",
            project / ".claude" / "settings.json",
        )
        return [
            plan_json(mcp, _read(mcp), lambda d: merge_mcp_server(d, claude_mcp())),
            plan_paragraph(md, _read(md), agent),
            plan_json(settings, _read(settings), lambda d: merge_hooks(d, claude_hooks())),
        ]
    if agent == "codex":
        toml, md = codex_dir / "config.toml", project / "AGENTS.md"
        return [plan_codex(toml, _read(toml)), plan_paragraph(md, _read(md), agent)]
    if agent == "gemini":
        settings, md = home / ".gemini" / "settings.json", project / "GEMINI.md"
        return [
            plan_json(settings, _read(settings), lambda d: merge_mcp_server(d, gemini_settings())),
            plan_paragraph(md, _read(md), agent),
        ]
    raise ValueError(f"unknown agent {agent!r} (one of {', '.join(AGENTS)})")


def write(change: Change) -> None:
    """Replace the file in one rename, keeping its mode."""
    assert change.after is not None
    change.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = change.path.with_name(f".{change.path.name}.aionis-tmp")
    tmp.write_text(change.after, encoding="utf-8")
    if change.before is not None:
        os.chmod(tmp, change.path.stat().st_mode & 0o7777)
    os.replace(tmp, change.path)


# -- commands -----------------------------------------------------------------------------------


def cmd_install(args: argparse.Namespace) -> int:
    project = Path(args.project or os.getcwd()).expanduser().resolve()
    changes = plan(args.agent, project, Path.home(), codex_home())
    for ch in changes:
        if ch.changed and not args.dry_run:
            write(ch)
    failed = [ch for ch in changes if ch.error]
    if args.json:
        print(json.dumps({"agent": args.agent, "dry_run": args.dry_run, "files": [
            {"path": str(ch.path), "status": ch.status, "diff": ch.diff(), "error": ch.error}
            for ch in changes]}, indent=2))  # fmt: skip
    else:
        for ch in changes:
            sys.stdout.write(ch.diff())
        verb = {"created": "would create" if args.dry_run else "created",
                "updated": "would update" if args.dry_run else "updated",
                "unchanged": "already set up:"}  # fmt: skip
        for ch in changes:
            if not ch.error:
                print(f"{verb[ch.status]} {ch.path}")
        if args.dry_run:
            print("dry run: nothing written")
    for ch in failed:
        print(f"aionis: {ch.path}: {ch.error}", file=sys.stderr)
    return 1 if failed else 0


def cmd_hook(args: argparse.Namespace) -> int:
    from aionisd import hooks

    return hooks.main(args.event or "", args.socket)


def register(add: Any, common: argparse.ArgumentParser) -> None:
    p = add("agents", lambda a: a.agents_parser.print_help() or 2,
            "wire aionis into a coding agent: `aionis agents install claude-code|codex|gemini`")  # fmt: skip
    p.set_defaults(agents_parser=p)
    sub = p.add_subparsers(dest="agents_command", metavar="install")
    q = sub.add_parser("install", parents=[common], help="add the MCP server, hooks and instructions "
                       "to the agent's files (shows a diff of each)")  # fmt: skip
    q.add_argument("agent", choices=AGENTS)
    q.add_argument("--dry-run", action="store_true", help="show the diffs, write nothing")
    q.add_argument("--project", metavar="DIR", help="the project to set up (default: the current directory)")
    q.set_defaults(fn=cmd_install)
    p = add("hook", cmd_hook, "for agent hooks: print playbooks matching the session's repository "
            "or the prompt (hook JSON on stdin); silent and exit 0 on any problem")  # fmt: skip
    p.add_argument("event", nargs="?", metavar="session-start|prompt")
