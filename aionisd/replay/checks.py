"""What is known of a replay before running it: parameters, preconditions, confinement, plans.

Everything here reads only the filesystem and the environment it is *given* (the replay's, never
the daemon's `os.environ`), and spawns nothing; `simulate` is the basis of the `simulate` mode.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aionisd.replay.bind import UnsafeValue, bind_command, type_problem
from aionisd.shell import BUILTINS, parse, unwrap, wordset

_PARAM = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
BUILTIN_PARAMS = ("workdir", "home")


class PathEscape(ValueError):
    """A file step or cwd resolves outside the replay's workdir and home."""


@dataclass(slots=True)
class Resolved:
    """Parameter values of one replay; `secrets` names those whose values must never be shown."""

    values: dict[str, str]
    missing: list[str]
    secrets: set[str]
    invalid: list[str] = field(default_factory=list)  # one line per value refused, with why

    def secret_values(self) -> list[str]:
        return [self.values[n] for n in self.secrets if self.values.get(n)]


@dataclass(slots=True)
class CheckResult:
    precondition: dict[str, Any]
    ok: bool
    reason: str


PlanStatus = Literal["would_run", "would_skip", "blocked"]


@dataclass(slots=True)
class StepPlan:
    index: int
    id: str
    kind: str
    status: PlanStatus
    reasons: list[str] = field(default_factory=list)
    optional: bool = False


@dataclass(slots=True)
class SimulationReport:
    """Per step would_run / would_skip / blocked with why; `ok` when strict could proceed."""

    ok: bool
    missing_params: list[str]
    preconditions: list[CheckResult]
    steps: list[StepPlan]
    checks: list[StepPlan]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    invalid_params: list[str] = field(default_factory=list)

    @property
    def blocked(self) -> list[StepPlan]:
        return [p for p in (*self.steps, *self.checks) if p.status == "blocked"]

    def summary(self) -> str:
        """One line saying why the replay could not proceed, or that it could."""
        if self.problems:
            return self.problems[0]
        if self.missing_params:
            return "missing parameter(s): " + ", ".join(self.missing_params)
        if self.invalid_params:
            return self.invalid_params[0]
        bad = [c for c in self.preconditions if not c.ok]
        if bad:
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            return f"precondition failed: {bad[0].reason}{more}"
        for p in self.blocked:
            if not p.optional:
                return f"step {p.index + 1} ({p.id}) blocked: {'; '.join(p.reasons)}"
        return "every step would run or be skipped"


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace `${name}` for known names; an unknown `${X}` stays, since it may be shell syntax."""
    if "${" not in text:
        return text
    return _PARAM.sub(lambda m: values.get(m[1], m[0]), text)


def referenced(text: str) -> set[str]:
    return set(_PARAM.findall(text)) if "${" in text else set()


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, Mapping):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list | tuple):
        for v in obj:
            yield from _strings(v)


def _refs_of(obj: Any) -> set[str]:
    out: set[str] = set()
    for s in _strings(obj):
        out |= referenced(s)
    return out


def resolve_params(
    doc: Mapping[str, Any], given: Mapping[str, str], *, env: Mapping[str, str], workdir: Path
) -> Resolved:
    """Values from the caller, then defaults; secrets only from the replay env (name or NAME).

    `workdir` is the replay's target; `home` is the replay env's HOME. Defaults may use `${workdir}`
    and `${home}`. A required parameter without value is listed in `missing`, in declared order.
    """
    values: dict[str, str] = {"workdir": str(workdir)}
    missing: list[str] = []
    secrets: set[str] = set()
    if env.get("HOME"):
        values["home"] = env["HOME"]
    elif "home" in _refs_of([doc.get("steps"), doc.get("success"), doc.get("preconditions")]):
        missing.append("home")
    defaulted: list[str] = []
    for p in doc.get("params") or []:
        name = str(p.get("name") or "")
        if not name or name in BUILTIN_PARAMS:
            continue
        if p.get("secret"):
            secrets.add(name)
            value = env.get(name, env.get(name.upper()))
            if value is None:
                missing.append(name)
            else:
                values[name] = value
        elif name in given:
            values[name] = str(given[name])
        elif p.get("default") is not None:
            values[name] = str(p["default"])
            defaulted.append(name)
        else:
            missing.append(name)
    for name in defaulted:
        values[name] = substitute(values[name], values)
    invalid = [
        why
        for p in doc.get("params") or []
        if str(p.get("name") or "") in values and not p.get("secret")
        if (why := type_problem(p, values[str(p["name"])])) is not None
    ]
    if not missing and not invalid:
        invalid = binding_problems(
            doc, values, confinement_roots(workdir, Path(values["home"]) if values.get("home") else None)
        )
    return Resolved(values=values, missing=missing, secrets=secrets, invalid=invalid)


def binding_problems(doc: Mapping[str, Any], values: Mapping[str, str], roots: tuple[str, ...]) -> list[str]:
    """Every command (steps and success checks) bound once before anything runs, so a value
    that cannot be passed as data refuses the whole replay instead of failing it half-way."""
    out: list[str] = []
    for phase in ("steps", "success"):
        for i, step in enumerate(doc.get(phase) or []):
            if not isinstance(step, Mapping) or not step.get("run"):
                continue
            try:
                bind_command(str(step["run"]), values, roots=roots, builtins=BUILTIN_PARAMS)
            except UnsafeValue as e:
                where = "success check" if phase == "success" else "step"
                out.append(f"{e} (in {where} {i + 1}, {step.get('id') or ''})".replace(", )", ")"))
    return out


_ENV_REF = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def step_env(step: Mapping[str, Any], values: Mapping[str, str], env: Mapping[str, str]) -> dict[str, str]:
    """A step's own env: parameters substituted, then `$NAME` taken from the replay env, so
    `PATH: "${workdir}/.venv/bin:$PATH"` works as it reads (nothing runs a shell over it)."""
    out = {}
    for k, v in (step.get("env") or {}).items():
        text = substitute(str(v), values)
        if "$" in text:
            text = _ENV_REF.sub(lambda m: env.get(m[1] or m[2], ""), text)
        out[str(k)] = text
    return out


def _abs(path: str, base: Path, home: str | None = None) -> Path:
    if home and (path == "~" or path.startswith("~/")):
        path = home + path[1:]
    return Path(os.path.normpath(os.path.join(base, path)))


def confinement_roots(workdir: Path, home: Path | None) -> tuple[str, ...]:
    """Real paths of the workdir and home (home left out when it is `/`), for `confine`."""
    roots = [os.path.realpath(workdir)]
    if home is not None and str(home):
        h = os.path.realpath(home)
        if h != "/":
            roots.append(h)
    return tuple(roots)


def confine(path: str, workdir: Path, home: Path | None, *, roots: tuple[str, ...] | None = None) -> Path:
    """The real path a file step may touch, inside the workdir or home (symlinks of the existing
    prefix resolved), or `PathEscape` (e.g. `../../etc/passwd`, or a symlink pointing out).

    `roots` (from `confinement_roots`) saves resolving the roots again on every step.
    """
    real = os.path.realpath(os.path.normpath(os.path.join(workdir, path)))
    roots = roots or confinement_roots(workdir, home)
    for r in roots:
        if real == r or real.startswith(r.rstrip("/") + "/"):
            return Path(real)
    where = " and home" if len(roots) > 1 else ""
    raise PathEscape(f"path escapes the workdir{where}: {path} -> {real}")


@functools.lru_cache(maxsize=4096)
def _which(name: str, path: str) -> str | None:
    return shutil.which(name, path=path)


def which(name: str, env: Mapping[str, str], cwd: Path) -> str | None:
    """Find a command on the GIVEN env's PATH (a name with a slash is taken relative to `cwd`)."""
    if "/" in name:
        p = _abs(name, cwd)
        return str(p) if p.is_file() and os.access(p, os.X_OK) else None
    return _which(name, env.get("PATH", os.defpath))


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _check_one(
    pre: Mapping[str, Any], values: Mapping[str, str], env: Mapping[str, str], workdir: Path
) -> tuple[bool, str]:
    kind = pre.get("type")
    home = values.get("home")
    if kind == "command_available":
        name = substitute(str(pre.get("name", "")), values)
        found = which(name, env, workdir)
        return (True, f"{name} found at {found}") if found else (False, f"{name} not found on PATH")
    if kind in ("file_exists", "path_absent", "cwd_exists"):
        raw = substitute(str(pre.get("path", "")), values)
        p = _abs(raw, workdir, home)
        if kind == "file_exists":
            return (True, f"{p} exists") if p.exists() else (False, f"{p} does not exist")
        if kind == "cwd_exists":
            return (True, f"{p} is a directory") if p.is_dir() else (False, f"{p} is not a directory")
        return (False, f"{p} already exists") if os.path.lexists(p) else (True, f"{p} is absent")
    if kind == "env_set":
        name = substitute(str(pre.get("name", "")), values)
        return (True, f"{name} is set") if name in env else (False, f"env var {name} is not set")
    if kind == "port_free":
        raw = substitute(str(pre.get("port", "")), values)
        try:
            port = int(raw)
        except ValueError:
            return False, f"port {raw!r} is not a number"
        return (True, f"port {port} is free") if _port_free(port) else (False, f"port {port} is in use")
    return False, f"unknown precondition type {kind!r}"


def evaluate_preconditions(
    doc: Mapping[str, Any], values: Mapping[str, str], env: Mapping[str, str], workdir: Path
) -> list[CheckResult]:
    """Each precondition in the replay's workdir and env; unknown types fail closed."""
    declared = _declared(doc)
    out = []
    for pre in doc.get("preconditions") or []:
        gaps = sorted((_refs_of(pre) & declared) - values.keys())
        if gaps:
            out.append(CheckResult(dict(pre), False, "missing parameter(s): " + ", ".join(gaps)))
            continue
        ok, reason = _check_one(pre, values, env, workdir)
        out.append(CheckResult(dict(pre), ok, reason))
    return out


def _declared(doc: Mapping[str, Any]) -> set[str]:
    return {str(p.get("name")) for p in doc.get("params") or []} | set(BUILTIN_PARAMS)


# ---- what a shell command needs ------------------------------------------------------------


SHELL_SET_VARS = wordset(
    """PWD OLDPWD RANDOM SRANDOM SECONDS LINENO HOSTNAME HOSTTYPE OSTYPE MACHTYPE UID EUID PPID
    SHLVL IFS PS1 PS2 PS3 PS4 OPTARG OPTIND OPTERR REPLY PIPESTATUS FUNCNAME GROUPS BASHPID BASH
    BASH_ENV BASH_VERSION BASH_VERSINFO BASH_SOURCE BASH_REMATCH BASH_LINENO BASH_SUBSHELL BASHOPTS
    SHELLOPTS BASH_COMMAND BASH_ARGC BASH_ARGV COLUMNS LINES HISTFILE HISTSIZE HISTFILESIZE HISTCMD
    EPOCHSECONDS EPOCHREALTIME DIRSTACK TMOUT MAIL MAILPATH PATH"""
)
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*$")
_UNKNOWN = ("$", "`")  # a word still holding an expansion: its value is not known before running


@dataclass(frozen=True, slots=True)
class CommandNeeds:
    """What a command line needs from its environment.

    `actions` are in source order: ("run", word), ("cd", dir), ("define", function name).
    """

    actions: tuple[tuple[str, str], ...]
    env_refs: frozenset[str]
    assigned: frozenset[str]
    opaque: bool  # sources, evals or could not be parsed: env refs are not judged


def _first_words(words: tuple[str, ...]) -> tuple[str | None, tuple[str, ...]]:
    """The command a simple command runs, looking through wrappers like `sudo`."""
    rest = unwrap(list(words))
    if not rest or rest[0] == "command":  # `command -v x` looks a program up, it runs none
        return None, ()
    return rest[0], tuple(rest[1:])


def _action(cmd: str, rest: tuple[str, ...]) -> tuple[str, str]:
    """("cd", dir) or ("run", program); a `cd` whose target holds an expansion goes to ""."""
    if cmd != "cd":
        return ("run", cmd)
    args = [a for a in rest if not a.startswith("-")]
    known = args and not any(c in args[0] for c in _UNKNOWN)
    return ("cd", args[0] if known else "")  # "": somewhere unknown (or home)


@functools.lru_cache(maxsize=4096)
def command_needs(command: str) -> CommandNeeds:
    """Binaries, `cd`s and env vars a command uses, read by the shared shell front-end; when it
    cannot read the line exactly, only the first command counts and env needs are not judged."""
    parsed = parse(command)
    commands = parsed.commands if parsed.exact else parsed.commands[:1]
    functions = iter(parsed.functions)
    nxt = next(functions, None)
    actions: list[tuple[str, str]] = []
    opaque = not parsed.exact
    for i, simple in enumerate(commands):
        while nxt is not None and nxt[0] <= i:
            actions.append(("define", nxt[1]))
            nxt = next(functions, None)
        cmd, rest = _first_words(simple.words)
        if cmd is None:
            continue
        opaque = opaque or cmd in ("source", ".", "eval") or (cmd == "set" and "-a" in rest)
        if not any(c in cmd for c in _UNKNOWN):
            actions.append(_action(cmd, rest))
    return CommandNeeds(tuple(actions), frozenset(parsed.params), parsed.defined, opaque)


# ---- simulate -------------------------------------------------------------------------------

_WORD_SPLIT = re.compile(r"[\s;&|()<>'\"`=]+")


class _Provided:
    """What earlier steps may have produced: paths they write or create and words they mention.

    Lets simulate accept `.venv/bin/pip` after `python3 -m venv .venv`, or `black` after
    `pip install black`, while still blocking a binary nothing could provide.
    """

    def __init__(self) -> None:
        self.words: set[str] = set()
        self.paths: set[Path] = set()

    def add_text(self, text: str) -> None:
        for w in _WORD_SPLIT.split(text):
            if w:
                self.words.add(w)
                if "/" in w:
                    self.words.update(x for x in w.split("/") if x)

    def add_path(self, p: Path) -> None:
        self.paths.add(p)

    def has_word(self, word: str) -> bool:
        return word in self.words

    def has_path(self, p: Path, base: Path) -> bool:
        if p in self.paths or any(a in self.paths for a in p.parents):
            return True
        try:
            rel = p.relative_to(base)
        except ValueError:
            rel = None
        names = [p.name, *(rel.parts if rel else ())]
        if rel is not None and str(rel) in self.words:
            return True
        return any(n in self.words for n in names if n not in (".", ".."))


class _Planner:
    def __init__(self, doc: Mapping[str, Any], workdir: Path, env: Mapping[str, str], res: Resolved) -> None:
        self.workdir = workdir
        self.env = env
        self.values = res.values
        self.missing = set(res.missing)
        self.secrets = res.secrets
        self.declared = _declared(doc)
        home = res.values.get("home")
        self.home = Path(home) if home else None
        self.provided = _Provided()

    def plan(self, index: int, step: Mapping[str, Any], *, check: bool = False) -> StepPlan:
        kind = str(step.get("kind") or "command")
        sid = str(step.get("id") or f"{'check' if check else 'step'}-{index + 1}")
        plan = StepPlan(index, sid, kind, "would_run", optional=bool(step.get("optional")))
        reasons = plan.reasons
        gaps = sorted((_refs_of(step) & self.declared) & self.missing)
        reasons += [f"missing parameter: {g}" for g in gaps]
        sub = self._sub
        creates = (step.get("expect") or {}).get("creates")
        # as strict: only an idempotent step whose effect is there before the replay is skipped
        skippable = not check and step.get("idempotent") is True and bool(creates)
        made = _abs(sub(creates), self.workdir, self.values.get("home")) if skippable else None
        if made is not None and not referenced(str(creates)) & self.missing and os.path.lexists(made):
            plan.status = "would_skip"
            reasons.append(f"{made} is already there and the step is idempotent")
            self._remember(step)
            return plan
        if kind == "tool":
            reasons.append(f"tool step is not replayable (tool {step.get('tool') or '?'})")
        elif kind in ("file_write", "file_edit"):
            self._plan_file(step, kind, reasons)
        elif kind == "command":
            self._plan_command(step, reasons)
        else:
            reasons.append(f"unknown step kind {kind!r}")
        if reasons:
            plan.status = "blocked"
        self._remember(step)
        return plan

    def _sub(self, text: Any) -> str:
        return substitute(str(text), self.values)

    def _remember(self, step: Mapping[str, Any]) -> None:
        for key in ("run", "tool"):
            if step.get(key):
                self.provided.add_text(str(step[key]))
        creates = (step.get("expect") or {}).get("creates")
        for raw in (creates, step.get("path")):
            if raw:
                p = _abs(self._sub(raw), self.workdir, self.values.get("home"))
                self.provided.add_path(p)
                self.provided.add_text(str(raw))

    def _plan_file(self, step: Mapping[str, Any], kind: str, reasons: list[str]) -> None:
        raw = step.get("path")
        if not raw:
            reasons.append(f"{kind} step has no path")
            return
        if referenced(str(raw)) & self.missing:
            return
        try:
            p = confine(self._sub(raw), self.workdir, self.home)
        except PathEscape as e:
            reasons.append(str(e))
            return
        if kind == "file_edit" and not p.exists() and not self.provided.has_path(p, self.workdir):
            reasons.append(f"file not found: {p}")

    def _plan_command(self, step: Mapping[str, Any], reasons: list[str]) -> None:
        run = step.get("run")
        if not run:
            reasons.append("command step has no run")
            return
        cwd = self.workdir
        raw_cwd = step.get("cwd")
        if raw_cwd and not referenced(str(raw_cwd)) & self.missing:
            try:
                cwd = confine(self._sub(raw_cwd), self.workdir, self.home)
            except PathEscape as e:
                reasons.append(f"cwd: {e}")
                return
            if not cwd.is_dir() and not self.provided.has_path(cwd, self.workdir):
                reasons.append(f"cwd does not exist: {cwd}")
                return
        env = {**self.env, **step_env(step, self.values, self.env)}
        needs = command_needs(self._sub(run))
        defined: set[str] = set()
        base: Path | None = cwd
        for action, word in needs.actions:
            if action == "define":
                defined.add(word)
            elif action == "cd":
                base = _abs(word, base, self.values.get("home")) if word and base else None
            elif word in BUILTINS or word in defined:
                continue
            elif "/" in word:
                if base is None and not os.path.isabs(word):
                    continue
                p = _abs(word, base or cwd, self.values.get("home"))
                if not p.exists() and not self.provided.has_path(p, base or cwd):
                    reasons.append(f"missing binary: {word}")
            elif not which(word, env, base or cwd) and not self.provided.has_word(word):
                reasons.append(f"missing binary: {word}")
        if not needs.opaque:
            for name in sorted(needs.env_refs - needs.assigned - SHELL_SET_VARS - self.secrets):
                if _ENV_NAME.match(name) and name not in env:
                    reasons.append(f"missing env var: {name}")


def simulate(
    doc: Mapping[str, Any],
    *,
    workdir: Path,
    env: Mapping[str, str],
    given_params: Mapping[str, str],
) -> SimulationReport:
    """Predict a replay without running anything (as Ansible's check mode does)."""
    res = resolve_params(doc, given_params, env=env, workdir=workdir)
    problems: list[str] = []
    notes: list[str] = []
    pre = evaluate_preconditions(doc, res.values, env, workdir)
    planner = _Planner(doc, workdir, env, res)
    if not workdir.is_dir():
        # A replay creates its workdir: a missing one is a note, not a block.
        if workdir.exists():
            problems.append(f"workdir is not a directory: {workdir}")
        else:
            notes.append(f"workdir {workdir} does not exist yet: a replay creates it")
            planner.provided.add_path(workdir)
            pre = [
                CheckResult(c.precondition, True, "the replay creates the workdir")
                if c.precondition.get("type") == "cwd_exists"
                and not c.ok
                and Path(substitute(str(c.precondition.get("path", "")), res.values)) == workdir
                else c
                for c in pre
            ]
    steps = [planner.plan(i, s) for i, s in enumerate(_list(doc.get("steps")))]
    checks = [planner.plan(i, s, check=True) for i, s in enumerate(_list(doc.get("success")))]
    ok = (
        not problems
        and not res.missing
        and not res.invalid
        and all(c.ok for c in pre)
        and not any(p.status == "blocked" and not p.optional for p in (*steps, *checks))
    )
    return SimulationReport(ok, list(res.missing), pre, steps, checks, problems, notes, list(res.invalid))


def _list(obj: Any) -> list[Mapping[str, Any]]:
    return [s for s in obj or () if isinstance(s, Mapping)]
