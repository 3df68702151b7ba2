"""Compile a recorded run into a playbook document (pure: a Run in, a dict out).

Keeps what changed the world, in order; turns verdicts into success checks run at the end;
drops reads, superseded failed attempts and repeats; replaces machine paths and secrets by
parameters. The same run and `now` always give the same bytes, so a signature is reproducible.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aionisd import model
from aionisd.agents import read_only_tools
from aionisd.canonical import canonical_bytes
from aionisd.params import HOME, WORKDIR, Substituter, infer_home, norm, strings_in, walk_strings
from aionisd.playbook import SCHEMA
from aionisd.preconditions import Use, changed_paths, infer
from aionisd.secrets import Vault
from aionisd.shell import CHANGE, CHECK, PROBE, Cls, classify, idempotence, intent_key, parse
from aionisd.shell import risk as command_risk

NOTHING = "nothing to replay: the run changed nothing"
DROP_REASONS = ("probe", "duplicate", "superseded", "not_run", "failed")
DEFAULT_TIMEOUT_S = 600  # when the recording has no duration
MIN_TIMEOUT_S, MAX_TIMEOUT_S = 60, 3600


# tools that only read or plan, in any agent's vocabulary: they go, like shell probes
READ_ONLY_TOOLS, READ_ONLY_PREFIXES = read_only_tools()


class NothingToReplay(ValueError):
    """The run changed nothing: there is no playbook to make."""


@dataclass
class CompileReport:
    steps_in: int = 0
    commands_in: int = 0
    kept: int = 0
    checks: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    secrets_found: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps_in": self.steps_in,
            "commands_in": self.commands_in,
            "kept": self.kept,
            "checks": self.checks,
            "dropped": dict(self.dropped),
            "secrets_found": self.secrets_found,
        }


@dataclass
class Compiled:
    doc: dict[str, Any]
    report: CompileReport


@dataclass(slots=True)
class _Action:
    """One replayable unit of a recorded step (a patch may hold several)."""

    step: model.Step
    kind: str  # command | file_write | file_edit | tool
    cls: Cls = CHANGE
    command: str = ""
    path: str = ""
    content: str = ""
    edits: list[tuple[str, str, bool]] = field(default_factory=list)
    tool: str = ""
    input: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    optional: bool = False
    attempts: int = 0

    @property
    def failed(self) -> bool:
        st = self.step
        if st.status == "failed":
            return True
        return (
            self.kind == "command"
            and st.exit_code is not None
            and st.exit_code != 0
            and st.status != "running"
        )

    @property
    def norm_command(self) -> str:
        return " ".join(self.command.split())

    def identity(self) -> str:
        """What makes two successful actions the same action (for duplicates)."""
        if self.kind == "command":
            return self.norm_command
        if self.kind == "file_write":
            return f"{self.path}\0{self.content}"
        if self.kind == "file_edit":
            return f"{self.path}\0{self.edits!r}"
        return f"{self.tool}\0{sorted(self.input.items())!r}"

    def match_keys(self) -> list[str]:
        """What a later success must share with this failure to supersede it."""
        if self.kind == "command":
            return [f"cmd:{self.norm_command}", f"intent:{intent_key(self.command)}"]
        if self.kind == "tool":
            return [f"tool:{self.tool}"]
        return [f"file:{self.path}"]


# ---------------------------------------------------------------- reading steps


def _first(d: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for k in keys:
        if k in d and d[k] is not None:
            return d[k]
    return None


def _command_text(step: model.Step) -> str:
    if step.command:
        return step.command
    raw = _first(step.input or {}, ("command", "cmd"))
    if isinstance(raw, list):
        if len(raw) >= 3 and raw[0] in ("bash", "sh", "zsh") and raw[1] in ("-c", "-lc"):
            return str(raw[2])
        return shlex.join(str(x) for x in raw)
    return str(raw) if raw else ""


def _actions(step: model.Step) -> list[_Action]:
    """A recorded step as replayable units. File steps come in the one input shape adapters
    emit (`agents.base.Agent`); a tool call that touched several files lists them in `files`."""
    inp = step.input or {}
    if step.kind == "command":
        cmd = _command_text(step)
        return [_Action(step, "command", command=cmd, cls=classify(cmd) if cmd.strip() else PROBE)]
    if step.kind in ("file_write", "file_edit"):
        files = inp.get("files")
        out = [a for f in (files if isinstance(files, list) else [inp]) for a in _file_actions(step, f)]
        if out:
            return out
    tool = step.tool or "tool"
    cls = PROBE if tool in READ_ONLY_TOOLS or tool.startswith(READ_ONLY_PREFIXES) else CHANGE
    return [_Action(step, "tool", cls=cls, tool=tool, input=dict(inp))]


def _file_actions(step: model.Step, f: Any) -> list[_Action]:
    """One file's write, edits, deletion or move."""
    path = f.get("path") if isinstance(f, dict) else None
    if not isinstance(path, str) or not path:
        return []
    if f.get("delete") is True:
        rm = f"rm -f -- {shlex.quote(path)}"
        return [_Action(step, "command", command=rm, note=f"file deleted by {step.tool or 'the agent'}")]
    out: list[_Action] = []
    edits = _edits(f)
    content = f.get("content")
    if step.kind == "file_edit" and edits:
        out.append(_Action(step, "file_edit", path=path, edits=edits))
    elif isinstance(content, str):
        out.append(_Action(step, "file_write", path=path, content=content))
    move = f.get("move_to")
    if isinstance(move, str) and move:
        out.append(
            _Action(
                step,
                "command",
                command=f"mv -- {shlex.quote(path)} {shlex.quote(move)}",
                note=f"file moved by {step.tool or 'the agent'}",
            )
        )
    return out


def _edits(inp: dict[str, Any]) -> list[tuple[str, str, bool]]:
    raw = inp.get("edits")
    items = raw if isinstance(raw, list) else [inp]
    out: list[tuple[str, str, bool]] = []
    for e in items:
        if not isinstance(e, dict):
            continue
        old, new = e.get("old"), e.get("new")
        if isinstance(old, str) and isinstance(new, str):
            out.append((old, new, bool(e.get("replace_all"))))
    return out


# ---------------------------------------------------------------- selecting


def _select(
    actions: list[_Action], base: str, keep_probes: bool, report: CompileReport
) -> tuple[list[_Action], list[_Action]]:
    """Split live actions into kept steps and success checks, counting what goes and why."""
    live: list[_Action] = []
    for a in actions:
        if a.step.status == "not_run":
            report.dropped["not_run"] += 1
        else:
            live.append(a)
    last_ok: dict[str, int] = {}
    last_check: dict[tuple[str, str], int] = {}
    for i, a in enumerate(live):
        if a.cls == CHANGE and not a.failed:
            for k in a.match_keys():
                last_ok[k] = i
        elif a.cls == CHECK:
            last_check[(a.norm_command, a.step.cwd or base)] = i

    kept: list[_Action] = []
    checks: list[_Action] = []
    seen: dict[tuple[str, str, str], int] = {}
    pending: dict[str, int] = {}
    last_required = -1
    for i, a in enumerate(live):
        if a.cls == PROBE:
            if keep_probes and a.kind == "command":
                a.optional = True
                a.note = "read-only probe, kept on request (optional)"
                kept.append(a)
            else:
                report.dropped["probe"] += 1
            continue
        if a.cls == CHECK:
            if last_check[(a.norm_command, a.step.cwd or base)] != i:
                report.dropped["superseded" if a.failed else "duplicate"] += 1
            elif a.failed:
                report.dropped["failed"] += 1
            elif a.step.status == "running":
                report.dropped["not_run"] += 1
            else:
                checks.append(a)
            continue
        if a.failed:
            if any(last_ok.get(k, -1) > i for k in a.match_keys()):
                report.dropped["superseded"] += 1
                for k in a.match_keys():
                    pending[k] = pending.get(k, 0) + 1
            else:
                report.dropped["failed"] += 1
            continue
        a.attempts = max((pending.pop(k, 0) for k in a.match_keys()), default=0)
        dup = (a.kind, a.identity(), a.step.cwd or base)
        if dup in seen and _repeatable(a):
            consecutive = last_required == seen[dup]
            mode = idempotence(a.command) if a.kind == "command" else "content"
            if mode == "state" or (mode == "content" and consecutive):
                report.dropped["duplicate"] += 1
                continue
        seen[dup] = last_required = len(kept)
        kept.append(a)
    return kept, checks


def _repeatable(a: _Action) -> bool:
    """Only commands and whole-file writes can collapse; an edit or a tool call that
    succeeded twice did something twice."""
    return a.kind in ("command", "file_write")


# ---------------------------------------------------------------- building the document


def _timeout(step: model.Step) -> int:
    if step.duration_ms is None:
        return DEFAULT_TIMEOUT_S
    return min(MAX_TIMEOUT_S, max(MIN_TIMEOUT_S, math.ceil(4 * step.duration_ms / 1000)))


def _shell(step: model.Step) -> str:
    return "bash -lc" if step.shell and "-l" in step.shell else "bash -c"


def _exit_code(step: model.Step) -> int:
    code = step.exit_code
    return code if code is not None and code >= 0 else 0


def _note(a: _Action) -> str:
    if a.note:
        return a.note
    base = {
        "command": "recorded change",
        "file_write": "recorded file write",
        "file_edit": "recorded file edit",
        "tool": f"recorded {a.tool} call: not replayable, strict replay refuses it",
    }[a.kind]
    if a.attempts:
        base += f" (succeeded after {a.attempts} failed attempt{'s' * (a.attempts > 1)})"
    if a.step.status == "running":
        base += " (no result was recorded)"
    return base


def _creates(a: _Action, cwd: str, sub: Substituter) -> tuple[str, bool] | None:
    """A path the command certainly leaves behind, for `expect.creates`, and whether strict may
    skip the step when that path was there before the replay began.

    Only a lone creator of that one path that the tool table calls idempotent whatever happened
    in between (`mkdir -p DIR`) may be skipped: it would change nothing. A redirect, `cp`, `mv` or
    `sed -i` always runs, and so does `touch`, whose effect (a new mtime) is never already there.
    """
    parsed = parse(a.command)
    if any(s.words and s.words[0] in ("cd", "pushd", "rm", "mv", "rmdir") for s in parsed.commands):
        return None
    for s in parsed.commands:
        w = s.words
        targets: list[str] = []
        if w and w[0] in ("mkdir", "touch"):
            targets = [x for x in w[1:] if not x.startswith("-")]
        elif w and w[0] in ("go", "gcc", "cc", "clang") and "-o" in w:
            i = w.index("-o")
            targets = [w[i + 1]] if i + 1 < len(w) else []
        targets += [t for op, t in s.redirects if op in (">", ">>") and t and not t.startswith("/dev/")]
        for t in targets:
            if t and not re.search(r"[*?\[\]{}$`~]", t):
                lone = parsed.exact and len(parsed.commands) == 1 and len(targets) == 1
                skippable = lone and w[0] == "mkdir" and not s.redirects and idempotence(a.command) == "state"
                return sub.resolve(t, cwd), skippable
    return None


def _last_writes(kept: list[_Action], cwds: list[str], sub: Substituter) -> set[int]:
    """Kept file steps whose result is their file's content at the end of the run: no later step
    can have changed that file (later commands' effects are enumerable and miss it)."""
    finals: set[int] = set()
    touched: set[str] = set()
    opaque = False
    for i in range(len(kept) - 1, -1, -1):
        a, cwd = kept[i], cwds[i]
        if a.optional:
            continue
        if a.kind in ("file_write", "file_edit"):
            path = sub.resolve(a.path, cwd or None)
            if not opaque and not any(path == t or path.startswith(t.rstrip("/") + "/") for t in touched):
                finals.add(i)
            touched.add(path)
        elif a.kind == "command":
            paths = changed_paths(a.command, cwd or sub.workdir or "/", sub)
            opaque = opaque or paths is None
            touched |= paths or set()
        else:
            opaque = True
    return finals


_STEP_FIELDS = tuple(f.name for f in dataclasses.fields(model.Step))


def _step_record(step: model.Step) -> dict[str, Any]:
    """`model.to_dict(step)` without its generic recursion (a Step holds plain data)."""
    return {name: getattr(step, name) for name in _STEP_FIELDS}


def _tokens(run: model.Run) -> dict[str, int]:
    t = run.tokens
    return {
        "input": t.input,
        "output": t.output,
        "cache_creation": t.cache_creation,
        "cache_read": t.cache_read,
        "total": t.total,
    }


def _duration(run: model.Run) -> int | None:
    if run.started_at and run.ended_at:
        d = model.duration_ms(run.started_at, run.ended_at)
        if d is not None:
            return d
    known = [s.duration_ms for s in run.steps if s.duration_ms is not None]
    return sum(known) if known else None


def _now(now: str | None) -> str:
    return now or model.now("seconds")


def compile_run(
    run: model.Run,
    *,
    name: str | None = None,
    params: dict[str, str] | None = None,
    keep_probes: bool = False,
    home: str | None = None,
    now: str | None = None,
) -> Compiled:
    """Compile `run` into a playbook document; raise NothingToReplay if nothing changed.

    `params` maps a parameter name to a recorded literal that becomes `${name}` everywhere;
    `home` is the recorded user's home (inferred from the cwd when None).
    """
    report = CompileReport(
        steps_in=len(run.steps),
        commands_in=sum(1 for s in run.steps if s.kind == "command"),
    )
    first_cwd = next((s.cwd for s in run.steps if s.cwd), None)
    base = norm(run.cwd or first_cwd or "/")
    home = home if home is not None else infer_home(base)
    sub = Substituter(base if base != "/" else None, home, params or {})

    actions = [a for st in run.steps for a in _actions(st)]
    kept, checks = _select(actions, base, keep_probes, report)
    if not any(not a.optional for a in kept):
        raise NothingToReplay(NOTHING)

    vault = Vault()
    for reserved in (WORKDIR, HOME, *(params or {}), *run.secrets):
        vault.reserve(reserved)
    for text in _texts(run, name, kept, checks):
        vault.collect(text)

    def tr(text: str) -> str:
        return sub(vault.redact(text))

    def cwd_of(a: _Action) -> str:
        """The step's recorded cwd, absolute; "" when the recording never said."""
        return sub.resolve(a.step.cwd, None) if a.step.cwd else sub.workdir or ""

    steps: list[dict[str, Any]] = []
    uses: list[Use] = []
    cwds = [cwd_of(a) for a in kept]
    finals = _last_writes(kept, cwds, sub)
    for i, (a, cwd) in enumerate(zip(kept, cwds, strict=True), 1):
        steps.append(_step_doc(f"s{i}", a, cwd, sub, tr))
        if i - 1 in finals:
            steps[-1]["last_write"] = True
        if not a.optional:
            path = sub.resolve(a.path, cwd or None) if a.path else ""
            uses.append(Use(a.kind, a.command, cwd, path))
    success: list[dict[str, Any]] = []
    for i, a in enumerate(checks, 1):
        cwd = cwd_of(a)
        success.append(
            {
                "id": f"c{i}",
                "run": tr(a.command),
                "shell": _shell(a.step),
                "cwd": tr(cwd) if cwd else "${workdir}",
                "timeout_s": _timeout(a.step),
                "expect": {"exit_code": 0},
                "note": "recorded check; its last recorded run passed",
            }
        )
        uses.append(Use("command", a.command, cwd))
    report.kept, report.checks = len(steps), len(success)

    param_names = frozenset({WORKDIR, HOME, *(params or {}), *vault.names.values(), *run.secrets})
    goal = tr(run.goal[:4000]) if run.goal else None
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "name": tr(name) if name else _default_name(run, goal),
        "version": 1,
        "status": "draft",
        "goal": goal,
        "source": {
            "run_id": run.id,
            "agent": run.agent,
            "digest": "sha256:"
            + hashlib.sha256(canonical_bytes([_step_record(s) for s in run.steps])).hexdigest(),
            "tokens": _tokens(run),
            "duration_ms": _duration(run),
        },
        "params": _params(params or {}, vault),
        "preconditions": infer(uses, sub, vault.redact, param_names),
        "steps": steps,
        "success": success,
        "created_at": _now(now),
    }
    recorded = _redacted_at_ingest(run.secrets, doc)
    doc["params"] += recorded
    report.secrets_found = len(vault.names) + len(recorded)
    return Compiled(_seal(doc, vault), report)


def _texts(run: model.Run, name: str | None, kept: list[_Action], checks: list[_Action]) -> list[str]:
    """Every recorded string that may reach the document, for secret detection."""
    out = [run.goal or "", name or ""]
    for a in [*kept, *checks]:
        out += [a.command, a.path, a.content]
        out += [x for e in a.edits for x in e[:2]]
        out += strings_in(a.input)
    return [t for t in out if t]


def _step_doc(sid: str, a: _Action, cwd: str, sub: Substituter, tr: Callable[[str], str]) -> dict[str, Any]:
    st = a.step
    doc: dict[str, Any] = {
        "id": sid,
        "kind": a.kind,
        "cwd": tr(cwd) if cwd else "${workdir}",
        "env": {},
        "timeout_s": _timeout(st),
        "expect": {"exit_code": _exit_code(st) if a.kind == "command" else 0},
        "retry": {"attempts": 1, "backoff_s": 0},
        "risk": "low",
        "note": _note(a),
        "optional": a.optional,
    }
    if a.kind == "command":
        doc["run"] = tr(a.command)
        doc["shell"] = _shell(st)
        doc["risk"] = command_risk(a.command)
        if not a.optional:
            doc["expect"]["exit_code"] = 0 if st.status == "running" else _exit_code(st)
            created = _creates(a, cwd, sub)
            if created:
                doc["expect"]["creates"] = tr(created[0])
                if created[1]:
                    doc["idempotent"] = True
    elif a.kind == "file_write":
        content = tr(a.content)
        doc.update(
            path=tr(sub.resolve(a.path, cwd or None)),
            content=content,
            sha256=hashlib.sha256(content.encode("utf-8")).hexdigest(),
        )
        if not sub.under(sub.resolve(a.path, cwd or None)):
            doc["risk"] = "medium"
    elif a.kind == "file_edit":
        doc["path"] = tr(sub.resolve(a.path, cwd or None))
        if len(a.edits) == 1:
            old, new, replace_all = a.edits[0]
            doc.update(old=tr(old), new=tr(new))
            if replace_all:
                doc["replace_all"] = True
        else:
            doc["edits"] = [
                {"old": tr(o), "new": tr(n), **({"replace_all": True} if r else {})} for o, n, r in a.edits
            ]
        if not sub.under(sub.resolve(a.path, cwd or None)):
            doc["risk"] = "medium"
    else:
        doc.update(tool=a.tool, input=walk_strings(a.input, tr), replayable=False, risk="medium")
    return doc


def _default_name(run: model.Run, goal: str | None) -> str:
    line = next((ln.strip() for ln in (goal or "").splitlines() if ln.strip()), "")
    if line:
        return line[:80].rstrip() + ("…" if len(line) > 80 else "")
    return f"{run.agent} run {run.session_id[:12]}"


def _params(literals: dict[str, str], vault: Vault) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "name": WORKDIR,
            "default": None,
            "secret": False,
            "description": "directory the playbook runs in (the recorded run's working directory)",
        },
        {
            "name": HOME,
            "default": None,
            "secret": False,
            "description": "home directory of the user replaying (filled in by the replayer)",
        },
    ]
    for pname in sorted(literals):
        out.append(
            {
                "name": pname,
                "default": literals[pname],
                "secret": False,
                "description": "recorded value, replaced wherever it appeared",
            }
        )
    for value, pname in vault.names.items():
        kind = vault.kinds[value].replace("_", " ")
        out.append(
            {
                "name": pname,
                "default": None,
                "secret": True,
                "description": f"secret ({kind}) found in the recording; "
                f"read from the environment variable {pname} at replay",
            }
        )
    return out


def _redacted_at_ingest(names: Iterable[str], doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Secrets the store already holds as `${NAME}`: a parameter for each one the playbook uses."""
    blob = canonical_bytes([doc["steps"], doc["success"], doc["preconditions"]]).decode("utf-8")
    return [
        {
            "name": n,
            "default": None,
            "secret": True,
            "description": "secret redacted when the run was recorded; "
            f"read from the environment variable {n} at replay",
        }
        for n in sorted(names)
        if "${" + n + "}" in blob
    ]


def _seal(doc: dict[str, Any], vault: Vault) -> dict[str, Any]:
    """Last guard: no secret value may survive anywhere in the payload."""
    blob = canonical_bytes(doc).decode("utf-8")
    leaking = [v for v in vault.names if v in blob]
    if not leaking:
        return doc
    pattern = re.compile("|".join(re.escape(v) for v in sorted(leaking, key=len, reverse=True)))

    def scrub(s: str) -> str:
        return pattern.sub(lambda m: "${" + vault.names[m.group(0)] + "}", s)

    sealed: dict[str, Any] = walk_strings(doc, scrub)
    for step in sealed["steps"]:
        if step["kind"] == "file_write":
            step["sha256"] = hashlib.sha256(step["content"].encode("utf-8")).hexdigest()
    return sealed
