"""Codex CLI rollouts: `~/.codex/sessions/YYYY/MM/DD/rollout-<local-time>-<uuid>.jsonl`.

Every line is `{timestamp, type, payload}`. Shell tools across versions: `shell` (argv, often
`["bash", "-lc", script]`), `shell_command` (a string), `exec_command` (`{cmd, workdir}`, with
`write_stdin` feeding or polling a process it left running) and `local_shell_call`. Outputs are
a JSON string with `metadata.exit_code`/`duration_seconds` (0.5x), text headed `Exit code: N` or
`Process exited with code N` (later), or content-item objects/arrays; `event_msg/exec_command_end`
also reports exit code and duration.

`apply_patch` (as its own tool, as `["apply_patch", patch]` or as a shell script that pipes a
patch into it) is parsed here, once, into the file-step input every adapter emits (see
`base.Agent`): a patch that only adds one file is a `file_write` `{path, content}`; any other is a
`file_edit` of its files' edits, deletes and moves.
A `write_stdin` that sends characters is a `tool` step of its own; a poll (no characters) is not
a step; when either reports that the process exited, that ends the `exec_command` step.

State kept per file: session id (+ whether it is a sub-agent thread), current cwd, last model,
whether a goal was found, calls awaiting output, running processes by session id.

Records before the first `session_meta` (a resumed rollout, or rollouts concatenated as Entire
CLI's checkpoints store them) belong to the file's session too. A rollout's file name carries its
session id, so they are read under it at once. Otherwise they are held, raw and in order, in the
state (so a restart between them and the `session_meta` loses nothing) and read under its id once
it comes; at the end of the file (`finish`), or when more than `_EARLY_KEEP` records or
`_EARLY_BYTES` wait, they are read under an id derived from the file's first record instead.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
import uuid
from collections.abc import Generator, Iterator, Mapping
from pathlib import Path
from typing import Any

from aionisd.canonical import canonical_bytes
from aionisd.model import Event, RunEvent, StepEvent, StepKind, StepStatus, UsageEvent

from . import install
from .base import Agent, Framing, ParseContext, as_int, goal_text, head_objects, parse_records, ts_of
from .install import Change, Installer

RUN_AGENT = "codex"

_UUID_RE = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.jsonl$")
_EXIT_RE = re.compile(r"^(?:Exit code:|Process exited with code) (-?\d+)\s*$", re.M)
_WALL_RE = re.compile(r"^Wall time: ([\d.]+) seconds?\s*$", re.M)
_RUNNING_RE = re.compile(r"^Process running with session ID (\S+)", re.M)
_PATCH_FILE_RE = re.compile(r"^\*\*\* (Add|Update|Delete) File: (.+?)\s*$")
_PATCH_PROGRAMS = ("apply_patch", "applypatch")
_PATCH_START = "*** Begin Patch"
_SHELLS = ("bash", "sh", "zsh", "/bin/bash", "/bin/sh", "/bin/zsh", "/usr/bin/bash", "/usr/bin/zsh")
_SHELL_TOOLS = ("shell", "container.exec", "shell_command", "exec_command", "local_shell")
_CALL_TYPES = ("function_call", "custom_tool_call", "local_shell_call")
_OUTPUT_TYPES = ("function_call_output", "custom_tool_call_output", "local_shell_call_output")
_RESPONSE_TYPES = frozenset({"message", "reasoning", *_CALL_TYPES, *_OUTPUT_TYPES})
_PENDING_KEEP = 4096
_EARLY_KEEP = 2048  # records held before session_meta; more are read under a derived id
_EARLY_BYTES = 8 * 1024 * 1024
_DERIVED_NS = uuid.UUID("5b0c6a52-8f0e-4f5e-9d0a-61e7c0de5e55")
_WRAPPER_TYPES = ("session_meta", "response_item", "event_msg", "turn_context", "compacted")
# Records whose time counts as session activity (for started/ended); others would only churn.
_ACTIVITY = frozenset(
    {"message", "user_message", "agent_message", "task_started", "task_complete", "turn_aborted"}
)
_WANTED = _ACTIVITY | {
    *_CALL_TYPES,
    *_OUTPUT_TYPES,
    "web_search_call",
    "token_count",
    "exec_command_end",
    "patch_apply_end",
    "mcp_tool_call_end",
}
_NOT_RUN_TEXTS = ("rejected by user", "aborted by user", "declined by user", "was not run")
_FAILED_PREFIXES = (
    "execution error",
    "failed in sandbox",
    "sandbox error",
    "error:",
    "command timed out",
    "failed to parse function arguments",
)


def argv_command(argv: list[Any]) -> tuple[str, str | None]:
    """An argv as (command text, shell): `["bash", "-lc", s]` is `s` run by `bash -lc`."""
    parts = [str(a) for a in argv]
    if len(parts) == 3 and parts[0] in _SHELLS and parts[1] in ("-lc", "-c"):
        return parts[2], f"{parts[0].rsplit('/', 1)[-1]} {parts[1]}"
    return shlex.join(parts), None


def parse_patch(text: str) -> list[tuple[str, str, list[str], str]]:
    """`apply_patch` text: (op, path, body lines, move-to path) per file."""
    files: list[tuple[str, str, list[str], str]] = []
    op = path = move = ""
    body: list[str] = []
    for line in text.splitlines():
        m = _PATCH_FILE_RE.match(line)
        if m:
            if op:
                files.append((op, path, body, move))
            op, path, body, move = m.group(1), m.group(2), [], ""
        elif line.startswith("*** Move to: ") and op:
            move = line[len("*** Move to: ") :].strip()
        elif line.startswith("*** End Patch"):
            break  # what follows (a heredoc's terminator) is not the patch's
        elif line.startswith((_PATCH_START, "*** End of File")):
            continue
        elif op:
            body.append(line)
    if op:
        files.append((op, path, body, move))
    return files


def _hunks(body: list[str]) -> list[dict[str, str]]:
    """An Update's body as edits: each `@@` hunk's old text (context and `-`) and new text."""
    edits: list[dict[str, str]] = []
    old: list[str] = []
    new: list[str] = []

    def flush() -> None:
        if old or new:
            edits.append({"old": "".join(x + "\n" for x in old), "new": "".join(x + "\n" for x in new)})
        old.clear()
        new.clear()

    for line in body:
        if line.startswith("@@"):
            flush()
        elif line.startswith("-"):
            old.append(line[1:])
        elif line.startswith("+"):
            new.append(line[1:])
        else:
            ctx = line[1:] if line.startswith(" ") else line
            old.append(ctx)
            new.append(ctx)
    flush()
    return edits


def patch_step(patch: str) -> tuple[StepKind, dict[str, Any]]:
    """An apply_patch body as a file step (see the module docstring)."""
    files: list[dict[str, Any]] = []
    for op, path, body, move in parse_patch(patch):
        if op == "Add":
            files.append({"path": path, "content": "".join(x[1:] + "\n" for x in body if x.startswith("+"))})
        elif op == "Delete":
            files.append({"path": path, "delete": True})
        else:
            files.append({"path": path, "edits": _hunks(body), **({"move_to": move} if move else {})})
    if len(files) == 1 and "content" in files[0]:
        return "file_write", files[0]
    return "file_edit", files[0] if len(files) == 1 else {"files": files}


def is_patch(command: str) -> bool:
    """A shell script that feeds a patch to apply_patch (`apply_patch <<'EOF' ...`)."""
    words = command.split(None, 1)
    return bool(words) and words[0] in _PATCH_PROGRAMS and _PATCH_START in command


def _output_text(out: Any) -> str:
    """Output payloads (string, content item, list of items, object) as plain text."""
    if isinstance(out, str):
        return out
    if isinstance(out, dict):
        for k in ("text", "content", "output"):
            if isinstance(out.get(k), str | list):
                return _output_text(out[k])
        return ""
    if isinstance(out, list):
        return "\n".join(_output_text(x) for x in out if isinstance(x, dict | str))
    return ""


def _parse_output(out: Any) -> tuple[str, int | None, int | None, str | None, bool | None]:
    """(text, exit code, duration ms, running process id, success flag) of a call's output."""
    success = out.get("success") if isinstance(out, dict) else None
    text = _output_text(out)
    exit_code: int | None = None
    dur: int | None = None
    if text.startswith("{") and '"metadata"' in text:
        try:
            j = json.loads(text)
        except ValueError:
            j = None
        if isinstance(j, dict) and isinstance(j.get("metadata"), dict):
            md = j["metadata"]
            if isinstance(md.get("exit_code"), int):
                exit_code = md["exit_code"]
            if isinstance(md.get("duration_seconds"), int | float):
                dur = round(md["duration_seconds"] * 1000)
            output = j.get("output")
            text = output if isinstance(output, str) else ""
            return text, exit_code, dur, None, success
    head, sep, body = text.partition("\nOutput:\n")
    if not sep:
        head = text[:400]
    m = _EXIT_RE.search(head)
    if m:
        exit_code = int(m.group(1))
    w = _WALL_RE.search(head)
    if w:
        dur = round(float(w.group(1)) * 1000)
    r = _RUNNING_RE.search(head) if exit_code is None else None
    if sep and (m or w or r):
        text = body
    return text, exit_code, dur, r.group(1) if r else None, success


def _loads_args(raw: Any) -> Any:
    if isinstance(raw, str):
        s = raw.strip()
        if s.startswith("{"):
            try:
                return json.loads(s)
            except ValueError:
                return {"raw": raw}
        return raw
    return raw


class CodexAdapter:
    """Codex CLI JSONL rollouts (0.5x to 0.14x; pre-0.4x files without the wrapper too)."""

    name = "codex"
    agent = RUN_AGENT
    framing: Framing = "jsonl"

    def wants(self, path: str) -> bool:
        name = path.rsplit("/", 1)[-1]
        return name.startswith("rollout-") and name.endswith(".jsonl")

    def detect(self, head: bytes) -> bool:
        objs = head_objects(head, 1)
        if objs:
            obj = objs[0]
            if "payload" in obj:
                return obj.get("type") in _WRAPPER_TYPES
            return "instructions" in obj and "id" in obj and "timestamp" in obj and "type" not in obj
        first = head.lstrip()[:200]
        return b'"type":"session_meta","payload":' in first or (
            first.startswith(b'{"timestamp":') and b'"payload":{' in first
        )

    def parse_document(self, doc: Any, ctx: ParseContext) -> Iterator[Event]:
        return iter(())

    def parse_record(self, rec: Any, ctx: ParseContext) -> Iterator[Event]:
        t = _str_or_none(rec.get("type"))
        payload = rec.get("payload")
        if not isinstance(payload, dict):
            if t in _RESPONSE_TYPES:  # legacy rollouts: bare response items
                t, payload = "response_item", rec
            elif "instructions" in rec and "id" in rec and t is None:
                t, payload = "session_meta", rec
            else:
                return
        pt = _str_or_none(payload.get("type"))
        if pt not in _WANTED and t not in ("session_meta", "turn_context"):
            return
        st = ctx.state
        ts = ts_of(rec.get("timestamp"))
        if t == "session_meta":
            yield from self._session_meta(payload, ts, st)
            if "sid" in st and "early" in st:
                yield from self._release(ctx)
            return
        sid = st.get("sid")
        if sid is None:
            sid = _session_from_path(ctx.path)
            if sid is None:
                yield from self._hold(rec, ctx)
                return
            st["sid"], st["provisional"] = sid, True
            yield RunEvent(sid, RUN_AGENT, ts=ts)
        emitted = False
        if t == "turn_context":
            cwd = _abs_path(payload.get("cwd"))
            if cwd:
                st["cwd"] = cwd
            model = payload.get("model")
            if isinstance(model, str) and model != st.get("model") and not st.get("sub"):
                st["model"] = model
                emitted = True
                yield RunEvent(sid, RUN_AGENT, ts=ts, model=model)
        elif t == "response_item":
            if pt in _CALL_TYPES:
                emitted = True
                yield from self._call(payload, sid, ts, ctx)
            elif pt in _OUTPUT_TYPES:
                emitted = True
                yield from self._output(payload, sid, ts, st)
            elif pt == "web_search_call":
                emitted = True
                key = payload.get("id") or payload.get("call_id") or f"@{ctx.offset}"
                yield StepEvent(
                    sid,
                    str(key),
                    kind="tool",
                    tool="web_search",
                    input=_dict(payload.get("action")),
                    status="succeeded" if payload.get("status") == "completed" else "running",
                    started_at=ts,
                    ended_at=ts,
                    subagent=st.get("sub") or None,
                )
        elif t == "event_msg":
            emitted = yield from self._event(payload, pt, sid, ts, st)
        if not emitted and ts and (pt in _ACTIVITY or t == "turn_context"):
            yield RunEvent(sid, RUN_AGENT, ts=ts)

    def finish(self, ctx: ParseContext) -> Iterator[Event]:
        """End of the file: records still held for a session_meta that never came are read now."""
        early = ctx.state.get("early")
        if early:
            yield from self._release(ctx, _derived_session(early[0][1]))

    def _hold(self, rec: dict[str, Any], ctx: ParseContext) -> Iterator[Event]:
        """Keep a record seen before any session id, until session_meta (or a bound) names it."""
        st = ctx.state
        early: list[list[Any]] = st.setdefault("early", [])
        early.append([ctx.offset, rec])
        st["early_bytes"] = st.get("early_bytes", 0) + len(json.dumps(rec))
        if len(early) > _EARLY_KEEP or st["early_bytes"] > _EARLY_BYTES:
            yield from self._release(ctx, _derived_session(early[0][1]))

    def _release(self, ctx: ParseContext, derived: str | None = None) -> Iterator[Event]:
        """Read the held records, in file order, under the session now known (or `derived`)."""
        st = ctx.state
        early = st.pop("early")
        del st["early_bytes"]
        if derived is not None:
            st["sid"], st["provisional"] = derived, True
            yield RunEvent(derived, RUN_AGENT, ts=ts_of(early[0][1].get("timestamp")))
        at = ctx.offset
        yield from parse_records(self, ((off, r) for off, r in early), ctx)
        ctx.offset = at

    def _session_meta(self, p: dict[str, Any], ts: str | None, st: dict[str, Any]) -> Iterator[Event]:
        """The first session_meta names the run; later ones (forks, sub-agent echoes) do not.

        When the run was already named by the file (provisionally), its cwd and branch still count.
        """
        if "sid" in st and not st.get("provisional"):
            return
        own = p.get("id") or p.get("session_id")
        if not isinstance(own, str) or not own:
            return
        if st.pop("provisional", None) is None:
            parent = p.get("parent_thread_id")
            source = p.get("source")
            st["sid"] = parent if isinstance(parent, str) and parent else own
            if (isinstance(parent, str) and bool(parent)) or (
                isinstance(source, dict) and "subagent" in source
            ):
                st["sub"] = True
                st["own"] = own
        sid: str = st["sid"]
        is_sub = bool(st.get("sub"))
        cwd = _abs_path(p.get("cwd"))
        if cwd:
            st["cwd"] = cwd
        git = p.get("git")
        branch = git.get("branch") if isinstance(git, dict) else None
        yield RunEvent(
            sid,
            RUN_AGENT,
            cwd=None if is_sub else cwd,
            git_branch=None if is_sub else branch,
            ts=ts or ts_of(p.get("timestamp")),
        )

    def _call(self, p: dict[str, Any], sid: str, ts: str | None, ctx: ParseContext) -> Iterator[Event]:
        st = ctx.state
        key = p.get("call_id") or p.get("id") or f"@{ctx.offset}"
        key = str(key)
        pt = p.get("type")
        name = p.get("name") if isinstance(p.get("name"), str) else None
        raw = p.get("input") if pt == "custom_tool_call" else p.get("arguments")
        args = _loads_args(raw)
        if pt == "local_shell_call":
            name = "local_shell"
            args = p.get("action") if isinstance(p.get("action"), dict) else {}
        name = name or "tool"
        cwd = st.get("cwd")
        kind: StepKind = "tool"
        command: str | None = None
        shell: str | None = None
        inp: dict[str, Any] = args if isinstance(args, dict) else {"input": args}
        pending = st.setdefault("pending", {})
        if name in _SHELL_TOOLS and isinstance(args, dict):
            cmd = args.get("command", args.get("cmd"))
            if isinstance(cmd, list) and cmd:
                command, shell = argv_command(cmd)
                kind = "command"
                if cmd[0] == "apply_patch" and len(cmd) == 2 and isinstance(cmd[1], str):
                    kind, inp = patch_step(cmd[1])
                    command = shell = None
            elif isinstance(cmd, str):
                kind, command = "command", cmd
            if command is not None and is_patch(command):
                kind, inp = patch_step(command)
                command = shell = None
            wd = args.get("workdir") or args.get("working_directory")
            if isinstance(wd, str) and wd:
                cwd = wd if _abs_path(wd) or not cwd else f"{cwd.rstrip('/')}/{wd}"
        elif name == "apply_patch":
            body = args.get("input") if isinstance(args, dict) else args
            if isinstance(body, str):
                kind, inp = patch_step(body)
        elif name == "write_stdin" and isinstance(args, dict):
            proc = str(args.get("session_id"))
            chars = args.get("chars")
            pending[key] = ["stdin", proc, bool(chars)]
            if chars:
                yield StepEvent(
                    sid,
                    key,
                    kind="tool",
                    tool=name,
                    input=inp,
                    cwd=cwd,
                    status="running",
                    started_at=ts,
                    subagent=st.get("sub") or None,
                )
            return
        pending[key] = [kind]
        if len(pending) > _PENDING_KEEP:
            del pending[next(iter(pending))]
        yield StepEvent(
            sid,
            key,
            kind=kind,
            tool=name,
            command=command,
            input=inp,
            cwd=cwd,
            status="running",
            started_at=ts,
            subagent=st.get("sub") or None,
            shell=shell,
        )

    def _output(self, p: dict[str, Any], sid: str, ts: str | None, st: dict[str, Any]) -> Iterator[Event]:
        key = str(p.get("call_id") or p.get("id"))
        pending = st.setdefault("pending", {})
        info = pending.pop(key, None) or ["tool"]
        text, exit_code, dur, running, success = _parse_output(p.get("output"))
        procs = st.setdefault("procs", {})
        if info[0] == "stdin":
            target = procs.get(info[1])
            if target is not None and exit_code is not None:
                del procs[info[1]]
                yield StepEvent(
                    sid,
                    target,
                    status="succeeded" if exit_code == 0 else "failed",
                    exit_code=exit_code,
                    ended_at=ts,
                )
            if info[2]:
                yield StepEvent(sid, key, status="succeeded", ended_at=ts, stdout=text, duration_ms=dur)
            return
        if running is not None:
            procs[running] = key
            yield StepEvent(sid, key, stdout=text)
            return
        status = _status(exit_code, success, text)
        yield StepEvent(
            sid,
            key,
            status=status,
            exit_code=exit_code if info[0] == "command" else None,
            ended_at=ts,
            duration_ms=dur,
            stdout=text,
        )

    def _event(
        self, p: dict[str, Any], pt: Any, sid: str, ts: str | None, st: dict[str, Any]
    ) -> Generator[Event, None, bool]:
        sub = st.get("sub") or None
        if pt == "user_message":
            msg = p.get("message")
            if "goal" not in st and isinstance(msg, str) and msg.strip() and not st.get("sub"):
                st["goal"] = 1
                yield RunEvent(sid, RUN_AGENT, goal=goal_text(msg), ts=ts)
                return True
            return False
        if pt == "token_count":
            info = p.get("info")
            tot = info.get("total_token_usage") if isinstance(info, dict) else None
            if not isinstance(tot, dict) or not (
                as_int(tot.get("input_tokens")) or as_int(tot.get("output_tokens"))
            ):
                return False
            cached = as_int(tot.get("cached_input_tokens"))
            yield UsageEvent(
                sid,
                "codex-total" if not st.get("sub") else f"codex-total:{st.get('own', '')}",
                input_tokens=max(0, as_int(tot.get("input_tokens")) - cached),
                output_tokens=as_int(tot.get("output_tokens")),
                cache_creation_tokens=as_int(tot.get("cache_write_input_tokens")),
                cache_read_tokens=cached,
                cumulative=True,
            )
            return False
        if pt == "exec_command_end":
            key = p.get("call_id")
            if not isinstance(key, str):
                return False
            exit_code = p.get("exit_code") if isinstance(p.get("exit_code"), int) else None
            cmd = p.get("command")
            command, shell = argv_command(cmd) if isinstance(cmd, list) and cmd else (None, None)
            kind: StepKind = "command"
            inp: dict[str, Any] | None = None
            if command is not None and is_patch(command):
                kind, inp = patch_step(command)
                command = shell = None
            cwd = _abs_path(p.get("cwd"))
            status: StepStatus | None = None
            if exit_code is not None:
                status = "succeeded" if exit_code == 0 else "failed"
            out = p.get("stdout")
            err = p.get("stderr")
            yield StepEvent(
                sid,
                key,
                kind=kind,
                command=command,
                input=inp,
                cwd=cwd,
                status=status,
                exit_code=exit_code,
                ended_at=ts,
                duration_ms=_duration(p.get("duration")),
                stdout=out if isinstance(out, str) else None,
                stderr=err if isinstance(err, str) and err else None,
                shell=shell,
                subagent=sub,
            )
            return True
        if pt == "patch_apply_end":
            key = p.get("call_id")
            if not isinstance(key, str):
                return False
            ok = p.get("success")
            out = p.get("stdout")
            err = p.get("stderr")
            yield StepEvent(
                sid,
                key,
                status="succeeded" if ok is not False else "failed",
                ended_at=ts,
                stdout=out if isinstance(out, str) else None,
                stderr=err if isinstance(err, str) and err else None,
            )
            return True
        if pt == "mcp_tool_call_end":
            key = p.get("call_id")
            inv = p.get("invocation")
            if not isinstance(key, str) or not isinstance(inv, dict):
                return False
            res = p.get("result")
            failed = (
                not isinstance(res, dict)
                or "Err" in res
                or (isinstance(res.get("Ok"), dict) and res["Ok"].get("isError") is True)
            )
            yield StepEvent(
                sid,
                key,
                kind="tool",
                tool=f"mcp__{inv.get('server')}__{inv.get('tool')}",
                input=_dict(inv.get("arguments")),
                cwd=st.get("cwd"),
                status="failed" if failed else "succeeded",
                ended_at=ts,
                duration_ms=_duration(p.get("duration")),
                subagent=sub,
            )
            return True
        return False


def _status(exit_code: int | None, success: bool | None, text: str) -> StepStatus:
    """A call's outcome; without an exit code, Codex's own error texts decide."""
    if exit_code is not None:
        return "succeeded" if exit_code == 0 else "failed"
    if success is False:
        return "failed"
    low = text[:200].lower()
    if any(m in low for m in _NOT_RUN_TEXTS):
        return "not_run"
    if low.startswith(_FAILED_PREFIXES):
        return "failed"
    return "succeeded"


def _session_from_path(path: str) -> str | None:
    """A rollout's file name ends with its session id (used if session_meta was never seen)."""
    m = _UUID_RE.search(path)
    return m.group(1) if m else None


def _derived_session(first: Any) -> str:
    """A session id for a file that names none: from its first record, so the same bytes read
    from another path land in the same run."""
    return str(uuid.uuid5(_DERIVED_NS, canonical_bytes(first).decode()))


def _str_or_none(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _abs_path(v: Any) -> str | None:
    if isinstance(v, str) and (v.startswith("/") or (len(v) > 2 and v[1] == ":")):
        return v
    return None


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _duration(d: Any) -> int | None:
    """Codex durations: `{secs, nanos}` objects, or seconds."""
    if isinstance(d, dict):
        return round(as_int(d.get("secs")) * 1000 + as_int(d.get("nanos")) / 1_000_000)
    if isinstance(d, int | float) and not isinstance(d, bool):
        return round(d * 1000)
    return None


ADAPTER = CodexAdapter()

# -- install: the MCP server in Codex's config.toml, the paragraph in the project's AGENTS.md -----

PARAGRAPH = install.paragraph("Codex's log")


def config_toml() -> str:
    """Our `[mcp_servers.aionis]` table, appended to the user's config.toml as text."""
    return (
        f"[mcp_servers.{install.SERVER}]\n"
        'command = "aionis"\n'
        'args = ["mcp"]\n'
        "# replay_playbook answers when the replay ends\n"
        f"tool_timeout_sec = {install.REPLAY_TIMEOUT_S}\n"
    )


def snippets() -> dict[str, str]:
    return {"config.toml": config_toml(), "AGENTS.md": PARAGRAPH}


def codex_home(env: Mapping[str, str], home: Path) -> Path:
    """Where Codex keeps its config: `$CODEX_HOME`, else ~/.codex."""
    value = env.get("CODEX_HOME")
    return Path(value).expanduser() if value else home / ".codex"


def plan_toml(path: Path) -> Change:
    """config.toml with our server table appended, unless it has one (TOML cannot be merged
    without losing the user's comments, so it is appended as text and checked)."""
    before = install.read(path)
    text = before or ""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        return Change(path, before, None, f"not valid TOML ({e}); left unchanged")
    servers = data.get("mcp_servers", {})
    if isinstance(servers, dict) and install.SERVER in servers:
        return Change(path, before, before)
    sep = "" if not text else ("\n" if text.endswith("\n") else "\n\n")
    after = text + sep + config_toml()
    try:
        tomllib.loads(after)
    except tomllib.TOMLDecodeError as e:
        return Change(
            path, before, None, f"cannot add [mcp_servers.{install.SERVER}] here ({e}); left unchanged"
        )
    return Change(path, before, after)


def plan(project: Path, home: Path, env: Mapping[str, str]) -> list[Change]:
    """The server goes in Codex's own config, the paragraph in the project."""
    md = project / "AGENTS.md"
    return [
        plan_toml(codex_home(env, home) / "config.toml"),
        install.plan_paragraph(md, install.read(md), PARAGRAPH),
    ]


AGENT = Agent(
    name="codex",
    title="Codex",
    run_agent=RUN_AGENT,
    watch_key="codex",
    log_dir="~/.codex/sessions",
    adapters=(ADAPTER,),
    installer=Installer(plan, snippets),
    read_only_tools=frozenset({"update_plan", "view_image", "web_search"}),
)
