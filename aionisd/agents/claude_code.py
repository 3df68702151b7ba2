"""Claude Code transcripts: `~/.claude/projects/<encoded-cwd>/<session>.jsonl`.

Covers 1.0.x (sub-agent lines inline with `isSidechain`), 2.x (sub-agent files `agent-*.jsonl`
or `<session>/subagents/`, whose lines carry the parent's sessionId), `agent_progress` mirrors
of sub-agent calls, compaction, hook/bash progress and queue lines (none of them steps).

State kept per file: sessions already announced, the last model, whether a goal was found,
tool calls awaiting their result (id -> kind) and recent usage per message id.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator, Mapping
from functools import lru_cache
from pathlib import Path, PurePath
from typing import Any

from aionisd.model import Event, RunEvent, StepEvent, StepKind, StepStatus

from . import install
from .base import (
    Agent,
    Framing,
    ParseContext,
    as_int,
    goal_text,
    head_objects,
    ts_of,
    usage_events,
    words,
)
from .install import Change, Installer

RUN_AGENT = "claude-code"

_EXIT_RE = re.compile(r"(?:Error: )?Exit code (-?\d+)\n?")
_COMMAND_NAME_RE = re.compile(r"<command-name>\s*([^<]*?)\s*</command-name>")
_COMMAND_ARGS_RE = re.compile(r"<command-args>(.*?)</command-args>", re.S)

# A tool_result with one of these texts means the tool never ran (rejected, cancelled...).
_NOT_RUN_MARKERS = (
    "<tool_use_error>",
    "User rejected tool use",
    "The user doesn't want to proceed with this tool use",
    "Permission for this tool use was denied",
    "[Request interrupted by user for tool use]",
    "Sibling tool call errored",
    "Cancelled: parallel tool call",
)
_SKIP_PROMPT_PREFIXES = (
    "Caveat:",
    "[Request interrupted",
    "Operation stopped by hook",
    "This session is being continued from a previous conversation",
)
_CLAUDE_TYPES = frozenset(
    {
        "user",
        "assistant",
        "system",
        "summary",
        "progress",
        "file-history-snapshot",
        "queue-operation",
        "last-prompt",
        "mode",
        "permission-mode",
        "attachment",
        "ai-title",
        "pr-link",
        "custom-title",
    }
)
_PENDING_KEEP = 4096


def _kind_and_input(name: str, inp: Any) -> tuple[StepKind, str | None, dict[str, Any]]:
    """Map a Claude tool call to (kind, command, input) in the shared vocabulary."""
    if not isinstance(inp, dict):
        return "tool", None, {"value": inp}
    if name == "Bash":
        cmd = inp.get("command")
        return "command", cmd if isinstance(cmd, str) else None, inp
    if name == "Write":
        return "file_write", None, {"path": inp.get("file_path"), "content": inp.get("content")}
    if name == "Edit":
        edit = {
            "path": inp.get("file_path"),
            "old": inp.get("old_string"),
            "new": inp.get("new_string"),
        }
        if inp.get("replace_all"):
            edit["replace_all"] = True
        return "file_edit", None, edit
    if name == "MultiEdit":
        edits = []
        for e in inp.get("edits") or ():
            if isinstance(e, dict):
                one = {"old": e.get("old_string"), "new": e.get("new_string")}
                if e.get("replace_all"):
                    one["replace_all"] = True
                edits.append(one)
        return "file_edit", None, {"path": inp.get("file_path"), "edits": edits}
    return "tool", None, inp


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            b["text"]
            for b in content
            if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
        )
    return ""


def _prompt_goal(text: str) -> str | None:
    """The goal a user line states, or None for injected / local-command text."""
    text = text.strip()
    if not text or text.startswith(_SKIP_PROMPT_PREFIXES):
        return None
    if text.startswith("<"):
        name = _COMMAND_NAME_RE.search(text)
        args = _COMMAND_ARGS_RE.search(text)
        if name and args and args.group(1).strip():
            return goal_text(f"{name.group(1)} {args.group(1)}")
        return None
    return goal_text(text)


class ClaudeCodeAdapter:
    """Claude Code JSONL transcripts."""

    name = "claude_code"
    agent = RUN_AGENT
    framing: Framing = "jsonl"

    def wants(self, path: str) -> bool:
        return path.endswith(".jsonl")

    def detect(self, head: bytes) -> bool:
        for obj in head_objects(head):
            if "payload" in obj or "run_id" in obj:
                return False
            t = obj.get("type")
            if not isinstance(t, str):
                continue
            if t in _CLAUDE_TYPES and ("sessionId" in obj or "parentUuid" in obj):
                return True
            if t == "file-history-snapshot" or (t == "summary" and "leafUuid" in obj):
                return True
        first = head.lstrip()[:300]
        return first.startswith((b'{"parentUuid":', b'{"type":"file-history-snapshot"')) or (
            b'"isSidechain":' in first and b'"sessionId":' in head
        )

    def parse_document(self, doc: Any, ctx: ParseContext) -> Iterator[Event]:
        return iter(())

    def parse_record(self, rec: Any, ctx: ParseContext) -> Iterator[Event]:
        t = rec.get("type")
        if t not in ("user", "assistant", "progress", "system"):
            return
        sid = rec.get("sessionId")
        if not isinstance(sid, str) or not sid:
            return
        st = ctx.state
        ts = ts_of(rec.get("timestamp"))
        sessions = st.setdefault("sessions", {})
        if sid not in sessions:
            sessions[sid] = 1
            yield RunEvent(sid, RUN_AGENT, cwd=rec.get("cwd"), git_branch=rec.get("gitBranch") or None, ts=ts)
        sub = bool(rec.get("isSidechain")) or _is_subagent_path(ctx.path)
        cwd = rec.get("cwd")
        emitted = False
        if t == "assistant":
            emitted = yield from self._assistant(rec, sid, ts, cwd, sub, st)
        elif t == "user":
            emitted = yield from self._user(rec, rec.get("toolUseResult"), sid, ts, sub, st)
        elif t == "progress":
            emitted = yield from self._progress(rec, sid, ts, cwd, st)
        if not emitted and ts and t != "progress":
            yield RunEvent(sid, RUN_AGENT, ts=ts)

    def _assistant(
        self,
        rec: dict[str, Any],
        sid: str,
        ts: str | None,
        cwd: Any,
        sub: bool,
        st: dict[str, Any],
        mirrored: bool = False,
    ) -> Generator[Event, None, bool]:
        msg = rec.get("message")
        if not isinstance(msg, dict):
            return False
        emitted = False
        if not mirrored:
            model = msg.get("model")
            if (
                not sub  # a sub-agent's model is not the session's
                and isinstance(model, str)
                and model
                and not model.startswith("<")
                and model != st.get("model")
            ):
                st["model"] = model
                emitted = True
                yield RunEvent(sid, RUN_AGENT, ts=ts, model=model)
            usage = msg.get("usage")
            mid = msg.get("id")
            if isinstance(usage, dict) and isinstance(mid, str):
                vals = (
                    as_int(usage.get("input_tokens")),
                    as_int(usage.get("output_tokens")),
                    as_int(usage.get("cache_creation_input_tokens")),
                    as_int(usage.get("cache_read_input_tokens")),
                )
                yield from usage_events(st, sid, mid, vals)
        content = msg.get("content")
        if not isinstance(content, list):
            return emitted
        pending = st.setdefault("pending", {})
        for block in content:
            if not isinstance(block, dict) or block.get("type") != "tool_use":
                continue
            key = block.get("id")
            name = block.get("name")
            if not isinstance(key, str) or not isinstance(name, str):
                continue
            kind, command, inp = _kind_and_input(name, block.get("input"))
            pending[key] = kind
            if len(pending) > _PENDING_KEEP:
                del pending[next(iter(pending))]
            emitted = True
            yield StepEvent(
                sid,
                key,
                kind=kind,
                tool=name,
                command=command,
                input=inp,
                cwd=cwd if isinstance(cwd, str) else None,
                status="running",
                started_at=ts,
                subagent=sub,
            )
        return emitted

    def _user(
        self,
        rec: dict[str, Any],
        tur: Any,
        sid: str,
        ts: str | None,
        sub: bool,
        st: dict[str, Any],
        mirrored: bool = False,
    ) -> Generator[Event, None, bool]:
        msg = rec.get("message")
        if not isinstance(msg, dict):
            return False
        content = msg.get("content")
        results = (
            [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
            if isinstance(content, list)
            else []
        )
        emitted = False
        if results:
            pending = st.setdefault("pending", {})
            for block in results:
                key = block.get("tool_use_id")
                if not isinstance(key, str):
                    continue
                kind = pending.pop(key, None)
                emitted = True
                yield _result_event(sid, key, kind, block, tur if len(results) == 1 else None, ts, sub)
            return emitted
        if mirrored or sub or rec.get("isMeta") or rec.get("isCompactSummary"):
            return False
        goals = st.setdefault("goals", {})
        if sid in goals:
            return False
        goal = _prompt_goal(_text_of(content))
        if goal is None:
            return False
        goals[sid] = 1
        yield RunEvent(sid, RUN_AGENT, goal=goal, ts=ts)
        return True

    def _progress(
        self, rec: dict[str, Any], sid: str, ts: str | None, cwd: Any, st: dict[str, Any]
    ) -> Generator[Event, None, bool]:
        """`agent_progress` mirrors a sub-agent's calls and results: record them as sub-agent
        steps keyed by their own tool_use ids (the sub-agent's file, if read too, dedupes)."""
        data = rec.get("data")
        if not isinstance(data, dict) or data.get("type") != "agent_progress":
            return False
        inner = data.get("message")
        if not isinstance(inner, dict):
            return False
        its = ts_of(inner.get("timestamp")) or ts
        if inner.get("type") == "assistant":
            return (yield from self._assistant(inner, sid, its, cwd, True, st, mirrored=True))
        if inner.get("type") == "user":
            return (yield from self._user(inner, inner.get("toolUseResult"), sid, its, True, st, True))
        return False


@lru_cache(maxsize=256)
def _is_subagent_path(path: str) -> bool:
    p = PurePath(path)
    return p.name.startswith("agent-") or p.parent.name == "subagents"


def _result_event(
    sid: str,
    key: str,
    kind: str | None,
    block: dict[str, Any],
    tur: Any,
    ts: str | None,
    sub: bool,
) -> StepEvent:
    """A tool_result as the second event of its step (status, exit code, output)."""
    text = _text_of(block.get("content"))
    if kind is None and isinstance(tur, dict) and "stdout" in tur and "interrupted" in tur:
        kind = "command"
    is_command = kind == "command"
    status: StepStatus
    exit_code: int | None = None
    stdout: str | None = None
    stderr: str | None = None
    if text.startswith(_NOT_RUN_MARKERS) or (
        isinstance(tur, str)
        and tur.startswith(("User rejected tool use", "Error: The user doesn't want to proceed"))
    ):
        status = "not_run"
        stderr = text
    elif block.get("is_error"):
        status = "failed"
        m = _EXIT_RE.match(text)
        if m:
            exit_code = int(m.group(1))
            text = text[m.end() :]
        stderr = text
    else:
        status = "succeeded"
        if isinstance(tur, dict) and isinstance(tur.get("stdout"), str):
            stdout = tur["stdout"]
            err = tur.get("stderr")
            stderr = err if isinstance(err, str) else None
        else:
            stdout = text
        if is_command:
            # Claude reports some non-zero exits as success ("No matches found"): code unknown.
            exit_code = None if isinstance(tur, dict) and tur.get("returnCodeInterpretation") else 0
            if isinstance(tur, dict) and tur.get("interrupted") is True:
                status, exit_code = "failed", None
    return StepEvent(
        sid,
        key,
        status=status,
        exit_code=exit_code,
        ended_at=ts,
        stdout=stdout,
        stderr=stderr,
        subagent=sub or None,
    )


ADAPTER = ClaudeCodeAdapter()

# -- install: the MCP server and hooks in the project, the paragraph in CLAUDE.md -----------------

HOOK_TIMEOUT_S = 5
PARAGRAPH = install.paragraph(
    "Claude Code's log",
    "\n\nWhen a hook message starting with `aionis:` lists playbooks, treat it as the result of\n"
    "`find_playbooks` for this task.",
)


def mcp_settings() -> dict[str, Any]:
    """`.mcp.json`: the aionis MCP server over stdio."""
    return {
        "mcpServers": {install.SERVER: {"type": "stdio", "command": "aionis", "args": ["mcp"], "env": {}}}
    }


def hook_settings() -> dict[str, Any]:
    """`.claude/settings.json`: `aionis hook` at session start and on each prompt."""

    def hook(event: str) -> dict[str, Any]:
        return {"type": "command", "command": f"aionis hook {event}", "timeout": HOOK_TIMEOUT_S}

    return {"hooks": {
        "SessionStart": [{"matcher": "startup|clear|compact", "hooks": [hook("session-start")]}],
        "UserPromptSubmit": [{"hooks": [hook("prompt")]}],
    }}  # fmt: skip


def snippets() -> dict[str, str]:
    return {
        ".mcp.json": install.to_json(mcp_settings()),
        "settings.json": install.to_json(hook_settings()),
        "CLAUDE.md": PARAGRAPH,
    }


def plan(project: Path, home: Path, env: Mapping[str, str]) -> list[Change]:
    """Everything lives in the project: its MCP servers, its hooks and its CLAUDE.md."""
    md = project / "CLAUDE.md"
    return [
        install.plan_json(project / ".mcp.json", lambda d: install.merge_mcp_server(d, mcp_settings())),
        install.plan_paragraph(md, install.read(md), PARAGRAPH),
        install.plan_json(
            project / ".claude" / "settings.json", lambda d: install.merge_hooks(d, hook_settings())
        ),
    ]


AGENT = Agent(
    name="claude-code",
    title="Claude Code",
    run_agent=RUN_AGENT,
    watch_key="claude_code",
    log_dir="~/.claude/projects",
    adapters=(ADAPTER,),
    installer=Installer(plan, snippets),
    read_only_tools=words(
        """Read Grep Glob LS WebFetch WebSearch TodoWrite TodoRead TaskOutput NotebookRead ToolSearch
        AskUserQuestion ExitPlanMode EnterPlanMode Skill Agent Task BashOutput KillShell KillBash
        ListMcpResourcesTool ReadMcpResourceTool"""
    ),
    read_only_prefixes=("Task",),
)
