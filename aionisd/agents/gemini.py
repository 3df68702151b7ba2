"""Gemini CLI chat recordings under `~/.gemini/tmp/<project>/chats/`.

Two framings: `session-*.json` (to v0.38) is one JSON document rewritten whole on each change,
so the watcher re-parses it; `*.jsonl` (v0.39+) is a header line, then message lines that are
re-appended with the same id whenever they change (an upsert), `{"$set": {...}}` metadata
patches and `{"$rewindTo": id}` markers. Events are keyed by message and tool-call ids, so
re-reading either form converges and never duplicates; a rewind keeps the steps already
recorded (they ran). Sub-agent recordings (`chats/<parent id>/<id>.jsonl`, header kind not
"main") belong to the parent's run.

The logs hold no cwd except a header's `directories`; when a file tool was given a relative
path and its output names the absolute one, the prefix is taken as the cwd.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
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

RUN_AGENT = "gemini-cli"

_EXIT_RE = re.compile(r"^Exit Code: (-?\d+)\s*$", re.M)
_SECTION_ENDS = (
    "\nError: ",
    "\nExit Code: ",
    "\nSignal: ",
    "\nBackground PIDs: ",
    "\nProcess Group PGID: ",
)
_STATUS: dict[str, StepStatus] = {
    "success": "succeeded",
    "error": "failed",
    "cancelled": "not_run",
    "canceled": "not_run",
}
_FILE_TOOLS = ("write_file", "replace", "read_file", "edit")


def _output(tc: dict[str, Any]) -> str:
    """A tool call's output text, from its functionResponse."""
    res = tc.get("result")
    if isinstance(res, list):
        for item in res:
            fr = item.get("functionResponse") if isinstance(item, dict) else None
            resp = fr.get("response") if isinstance(fr, dict) else None
            if isinstance(resp, dict):
                for k in ("output", "error", "llmContent"):
                    if isinstance(resp.get(k), str):
                        return str(resp[k])
    disp = tc.get("resultDisplay")
    return disp if isinstance(disp, str) else ""


def _section(text: str, label: str) -> str | None:
    start = text.find(label)
    if start < 0:
        return None
    start += len(label)
    end = min((i for i in (text.find(m, start) for m in _SECTION_ENDS) if i >= 0), default=len(text))
    return text[start:end]


def shell_result(text: str) -> tuple[int | None, str, str]:
    """(exit code, stdout, stderr) of a run_shell_command output text."""
    m = _EXIT_RE.search(text)
    out = _section(text, "Output: ")
    err = _section(text, "\nError: ")
    stdout = text if out is None else ("" if out.strip() == "(empty)" else out)
    stderr = "" if err is None or err.strip() == "(none)" else err
    return (int(m.group(1)) if m else None), stdout, stderr


def _kind(name: str, args: dict[str, Any]) -> tuple[StepKind, str | None, dict[str, Any]]:
    if name == "run_shell_command":
        cmd = args.get("command")
        return "command", cmd if isinstance(cmd, str) else None, args
    if name == "write_file":
        return "file_write", None, {"path": args.get("file_path"), "content": args.get("content")}
    if name == "replace":
        return (
            "file_edit",
            None,
            {
                "path": args.get("file_path"),
                "old": args.get("old_string"),
                "new": args.get("new_string"),
            },
        )
    return "tool", None, args


def infer_cwd(calls: list[dict[str, Any]]) -> str | None:
    """The cwd implied by a relative file path whose absolute form a tool's output names."""
    for tc in calls:
        args = tc.get("args")
        if tc.get("name") not in _FILE_TOOLS or not isinstance(args, dict):
            continue
        rel = args.get("file_path")
        if not isinstance(rel, str) or not rel or rel.startswith(("/", "~")):
            continue
        rel = rel.removeprefix("./")
        out = _output(tc)
        pos = out.find("/" + rel)
        if pos <= 0:
            continue
        start = out.rfind(" ", 0, pos) + 1
        prefix = out[start:pos]
        if prefix.startswith("/"):
            return prefix
    return None


def _user_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text")) for p in content if isinstance(p, dict) and p.get("text"))
    return ""


class _GeminiBase:
    agent = RUN_AGENT

    def _session(self, header: dict[str, Any], ctx: ParseContext) -> Iterator[Event]:
        st = ctx.state
        own = header.get("sessionId")
        if not isinstance(own, str) or not own:
            return
        sid = own
        p = PurePath(ctx.path)
        kind = header.get("kind")
        if kind is not None and kind != "main" and p.parent.parent.name == "chats":
            sid, st["sub"] = p.parent.name, True
        st["sid"] = sid
        dirs = header.get("directories")
        cwd = dirs[0] if isinstance(dirs, list) and dirs and isinstance(dirs[0], str) else None
        if cwd and not st.get("sub"):
            st["cwd"] = cwd
        cwd = cwd or st.get("cwd")
        yield RunEvent(
            sid, RUN_AGENT, cwd=cwd if not st.get("sub") else None, ts=ts_of(header.get("startTime"))
        )
        last = ts_of(header.get("lastUpdated"))
        if last:
            yield RunEvent(sid, RUN_AGENT, ts=last)

    def _message(self, msg: dict[str, Any], ctx: ParseContext) -> Iterator[Event]:
        st = ctx.state
        sid = st.get("sid")
        if not isinstance(sid, str):
            return
        ts = ts_of(msg.get("timestamp"))
        t = msg.get("type")
        mid = msg.get("id")
        sub = st.get("sub") or None
        if t == "user":
            if "goal" not in st and not sub:
                text = _user_text(msg.get("content")).strip()
                if text and not text.startswith("/"):
                    st["goal"] = 1
                    yield RunEvent(sid, RUN_AGENT, goal=goal_text(text), ts=ts)
                    return
        elif t == "gemini":
            model = msg.get("model")
            if not sub and isinstance(model, str) and model and model != st.get("model"):
                st["model"] = model
                yield RunEvent(sid, RUN_AGENT, ts=ts, model=model)
            tok = msg.get("tokens")
            if isinstance(tok, dict) and isinstance(mid, str):
                cached = as_int(tok.get("cached"))
                vals = (
                    max(0, as_int(tok.get("input")) - cached),
                    as_int(tok.get("output")) + as_int(tok.get("thoughts")),
                    0,
                    cached,
                )
                yield from usage_events(st, sid, mid, vals, keep=None)
            calls = msg.get("toolCalls")
            if isinstance(calls, list):
                calls = [c for c in calls if isinstance(c, dict) and isinstance(c.get("id"), str)]
                if "cwd" not in st and not sub:
                    cwd = infer_cwd(calls)
                    if cwd:
                        st["cwd"] = cwd
                        yield RunEvent(sid, RUN_AGENT, cwd=cwd)
                for tc in calls:
                    yield self._step(tc, sid, ts, st)
                if calls:
                    return
        if ts:
            yield RunEvent(sid, RUN_AGENT, ts=ts)

    def _step(self, tc: dict[str, Any], sid: str, ts: str | None, st: dict[str, Any]) -> StepEvent:
        name = str(tc.get("name") or "tool")
        raw_args = tc.get("args")
        args: dict[str, Any] = raw_args if isinstance(raw_args, dict) else {}
        kind, command, inp = _kind(name, args)
        raw_status = tc.get("status")
        status: StepStatus = (
            _STATUS.get(raw_status, "running") if isinstance(raw_status, str) else ("running")
        )
        done = status != "running"
        text = _output(tc) if done else ""
        exit_code: int | None = None
        stdout: str | None = text if done else None
        stderr: str | None = None
        if kind == "command" and done:
            exit_code, stdout, stderr = shell_result(text)
            if exit_code is None and status == "succeeded":
                exit_code = 0
            elif exit_code is not None and status != "not_run":
                status = "succeeded" if exit_code == 0 else "failed"
        cwd = st.get("cwd")
        sub_dir = args.get("dir_path") or args.get("directory")
        if isinstance(sub_dir, str) and sub_dir:
            cwd = sub_dir if sub_dir.startswith("/") or not cwd else f"{cwd.rstrip('/')}/{sub_dir}"
        return StepEvent(
            sid,
            tc["id"],
            kind=kind,
            tool=name,
            command=command,
            input=inp,
            cwd=cwd,
            status=status,
            exit_code=exit_code,
            started_at=ts,
            ended_at=ts_of(tc.get("timestamp")) if done else None,
            stdout=stdout,
            stderr=stderr or None,
            subagent=st.get("sub") or None,
        )


class GeminiDocumentAdapter(_GeminiBase):
    """`session-*.json`: the whole conversation in one document, rewritten on every change."""

    name = "gemini"
    framing: Framing = "document"

    def wants(self, path: str) -> bool:
        name = path.rsplit("/", 1)[-1]
        return name.startswith("session-") and name.endswith(".json")

    def detect(self, head: bytes) -> bool:
        s = head.lstrip()
        if s.split(b"\n", 1)[0].strip() != b"{":  # written pretty-printed: "{" alone first
            return False
        return b'"sessionId"' in s[:2048] and (b'"projectHash"' in s or b'"messages"' in s)

    def parse_record(self, rec: Any, ctx: ParseContext) -> Iterator[Event]:
        return iter(())

    def parse_document(self, doc: Any, ctx: ParseContext) -> Iterator[Event]:
        if not isinstance(doc, dict):
            return
        msgs = doc.get("messages")
        msgs = [m for m in msgs if isinstance(m, dict)] if isinstance(msgs, list) else []
        if "cwd" not in ctx.state and not doc.get("directories"):
            calls = [
                c
                for m in msgs
                if isinstance(m.get("toolCalls"), list)
                for c in m["toolCalls"]
                if isinstance(c, dict)
            ]
            cwd = infer_cwd(calls)
            if cwd:
                ctx.state["cwd"] = cwd
        yield from self._session(doc, ctx)
        for m in msgs:
            yield from self._message(m, ctx)


class GeminiJsonlAdapter(_GeminiBase):
    """`*.jsonl` (v0.39+): header, upserted message lines, `$set` and `$rewindTo` lines."""

    name = "gemini_jsonl"
    framing: Framing = "jsonl"

    def wants(self, path: str) -> bool:
        return path.endswith(".jsonl") and "/chats/" in path

    def detect(self, head: bytes) -> bool:
        objs = head_objects(head, 1)
        if not objs:
            first = head.lstrip()[:300]
            return first.startswith(b'{"sessionId":') and b'"projectHash":' in first
        h = objs[0]
        return (
            isinstance(h.get("sessionId"), str)
            and "type" not in h
            and ("projectHash" in h or "startTime" in h)
        )

    def parse_document(self, doc: Any, ctx: ParseContext) -> Iterator[Event]:
        return iter(())

    def parse_record(self, rec: Any, ctx: ParseContext) -> Iterator[Event]:
        if "$set" in rec:
            patch = rec["$set"]
            if not isinstance(patch, dict) or not isinstance(ctx.state.get("sid"), str):
                return
            sid = ctx.state["sid"]
            last = ts_of(patch.get("lastUpdated"))
            if last:
                yield RunEvent(sid, RUN_AGENT, ts=last)
            msgs = patch.get("messages")
            for m in msgs if isinstance(msgs, list) else ():
                if isinstance(m, dict):
                    yield from self._message(m, ctx)
            return
        if "$rewindTo" in rec:
            return
        if "sessionId" in rec and "type" not in rec:
            yield from self._session(rec, ctx)
            msgs = rec.get("messages")
            for m in msgs if isinstance(msgs, list) else ():
                if isinstance(m, dict):
                    yield from self._message(m, ctx)
            return
        if isinstance(rec.get("id"), str) and "type" in rec:
            yield from self._message(rec, ctx)


DOCUMENT_ADAPTER = GeminiDocumentAdapter()
JSONL_ADAPTER = GeminiJsonlAdapter()

# -- install: the MCP server in ~/.gemini/settings.json, the paragraph in the project's GEMINI.md ---

PARAGRAPH = install.paragraph("Gemini CLI's log")


def mcp_settings() -> dict[str, Any]:
    """The aionis MCP server, with a timeout long enough for a replay (Gemini counts in ms)."""
    return {"mcpServers": {install.SERVER: {"command": "aionis", "args": ["mcp"],
                                            "timeout": install.REPLAY_TIMEOUT_S * 1000}}}  # fmt: skip


def snippets() -> dict[str, str]:
    return {"settings.json": install.to_json(mcp_settings()), "GEMINI.md": PARAGRAPH}


def plan(project: Path, home: Path, env: Mapping[str, str]) -> list[Change]:
    """The server goes in the user's settings, the paragraph in the project."""
    md = project / "GEMINI.md"
    return [
        install.plan_json(
            home / ".gemini" / "settings.json", lambda d: install.merge_mcp_server(d, mcp_settings())
        ),
        install.plan_paragraph(md, install.read(md), PARAGRAPH),
    ]


AGENT = Agent(
    name="gemini",
    title="Gemini CLI",
    run_agent=RUN_AGENT,
    watch_key="gemini",
    log_dir="~/.gemini/tmp",
    adapters=(JSONL_ADAPTER, DOCUMENT_ADAPTER),
    installer=Installer(plan, snippets),
    read_only_tools=words(
        """read_file read_many_files list_directory glob search_file_content grep google_web_search
        web_fetch save_memory"""
    ),
)
