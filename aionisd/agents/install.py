"""What `aionis agents install` writes into an agent's own files, planned as pure text-to-text
changes so a dry run shows exactly the diff that install would apply.

Each agent module holds its snippets and its plan; this module holds what they share. Installing
merges into the agent's files and never rewrites what it does not understand: an unparsable file
is reported and left alone. share/agents/ holds the same snippets for people who copy them by hand.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVER = "aionis"
BEGIN = "<!-- aionis:begin (managed by `aionis agents install`) -->"
END = "<!-- aionis:end -->"
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


@dataclass(frozen=True, slots=True)
class Installer:
    """How one agent is wired: `plan(project, home, env)` lists every file it needs, and
    `snippets` are the same texts as share/agents/<agent>/ holds them (relative path -> text)."""

    plan: Callable[[Path, Path, Mapping[str, str]], list[Change]]
    snippets: Callable[[], dict[str, str]]


def paragraph(log: str, extra: str = "") -> str:
    """The block added to CLAUDE.md / AGENTS.md / GEMINI.md, between markers so it is added once."""
    return f"{BEGIN}\n{_BODY.format(log=log, extra=extra)}{END}\n"


def to_json(data: Any) -> str:
    """JSON as the agents' settings files are written (and as share/agents/ holds them)."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


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


def plan_json(path: Path, merge: Callable[[dict[str, Any]], dict[str, Any]]) -> Change:
    """A JSON settings file with our part merged in; anything unparsable is left alone."""
    before = read(path)
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
    return Change(path, before, to_json(new))


def plan_paragraph(path: Path, before: str | None, text: str) -> Change:
    """`text` (a `paragraph`) appended to an instructions file unless its markers are there."""
    if before is not None and BEGIN in before:
        return Change(path, before, before)
    if not before:
        return Change(path, before, text)
    sep = "\n" if before.endswith("\n") else "\n\n"
    return Change(path, before, before + sep + text)


def read(path: Path) -> str | None:
    """A file's text, or None when it does not exist."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def write(change: Change) -> None:
    """Replace the file in one rename, keeping its mode."""
    assert change.after is not None
    change.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = change.path.with_name(f".{change.path.name}.aionis-tmp")
    tmp.write_text(change.after, encoding="utf-8")
    if change.before is not None:
        os.chmod(tmp, change.path.stat().st_mode & 0o7777)
    os.replace(tmp, change.path)
