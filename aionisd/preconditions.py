"""Infer what a playbook needs before it starts, from what its steps use.

Claims must be sound: a false precondition blocks a replay that would have worked. So a file
is required only when it is read before any step that could have made it; once a step with
effects we cannot enumerate has run (a build, an installer, a script), later reads claim
nothing. Ports are never inferred: nothing in a command says reliably that it listens.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aionisd.canonical import canonical_bytes
from aionisd.params import Substituter
from aionisd.shell import (
    BUILTINS,
    CHANGE,
    CREATING_OUTPUT,
    XARGS_OPTIONS,
    Simple,
    classify_simple,
    git_split,
    lookup,
    parse,
    skip_options,
    unwrap,
    wordset,
)

# variables the shell (or login) always provides
SHELL_VARS = wordset(
    """HOME PATH PWD OLDPWD USER LOGNAME SHELL TERM LANG LANGUAGE TMPDIR HOSTNAME HOSTTYPE OSTYPE
    MACHTYPE UID EUID PPID RANDOM SECONDS LINENO BASH BASH_VERSION BASH_VERSINFO BASH_SOURCE
    BASH_REMATCH BASH_ARGV BASH_ARGC BASHPID FUNCNAME PIPESTATUS IFS PS1 PS2 PS3 PS4 SHLVL COLUMNS
    LINES OPTARG OPTIND OPTERR REPLY EPOCHSECONDS EPOCHREALTIME GROUPS DIRSTACK HISTFILE
    HISTSIZE SRANDOM"""
)
_INSTALLERS = frozenset({"install", "i", "add", "get", "sync", "ci", "tool"})
_GLOB = re.compile(r"[*?\[\]{}$`]")


@dataclass(frozen=True, slots=True)
class Use:
    """What one kept step (or success check) touches, in recorded (raw) terms."""

    kind: str  # command | file_write | file_edit | tool
    command: str = ""
    cwd: str = ""  # absolute, as recorded
    path: str = ""  # absolute, for file steps


@dataclass
class _State:
    sub: Substituter
    redact: Callable[[str], str]
    params: frozenset[str]
    out: list[dict[str, Any]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    created: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    installed: set[str] = field(default_factory=set)
    opaque: bool = False

    def add(self, pre: dict[str, Any]) -> None:
        key = canonical_bytes(pre).decode()
        if key not in self.seen:
            self.seen.add(key)
            self.out.append(pre)

    def param_path(self, raw: str) -> str:
        return self.sub(self.redact(raw))

    def made(self, path: str) -> bool:
        return any(path == c or path.startswith(c.rstrip("/") + "/") for c in self.created)

    def gone(self, path: str) -> bool:
        return any(path == c or path.startswith(c.rstrip("/") + "/") for c in self.removed)

    def need_file(self, raw: str) -> None:
        if not self.opaque and self.sub.under(raw) and not self.made(raw) and not self.gone(raw):
            self.add({"type": "file_exists", "path": self.param_path(raw)})


def infer(
    uses: Sequence[Use],
    sub: Substituter,
    redact: Callable[[str], str] = lambda s: s,
    params: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """Preconditions, deduplicated, in the order the steps first need them."""
    st = _State(sub, redact, params)
    st.add({"type": "cwd_exists", "path": "${workdir}"})
    for u in uses:
        cwd = sub.resolve(u.cwd, None) if u.cwd else (sub.workdir or "/")
        if u.kind == "file_write":
            st.created.add(sub.resolve(u.path, cwd))
        elif u.kind == "file_edit":
            st.need_file(sub.resolve(u.path, cwd))
        elif u.kind == "tool":
            st.opaque = True
        elif u.command:
            if cwd != sub.workdir and sub.under(cwd) and not st.opaque and not st.made(cwd):
                st.add({"type": "cwd_exists", "path": st.param_path(cwd)})
            _command(u.command, cwd, st, frozenset(), 0)
    return st.out


def changed_paths(command: str, cwd: str, sub: Substituter) -> frozenset[str] | None:
    """Paths (and trees under them) `command` run in `cwd` may create, change or remove; None when
    its effects cannot be enumerated, so a claim about a file's final content stays sound."""
    parsed = parse(command)
    moves = (("cd",), ("pushd",), ("popd",), ("ln",))
    if not parsed.exact or any(unwrap(s.words)[:1] in moves for s in parsed.commands):
        return None  # a changed cwd or a link makes the paths below mean something else
    st = _State(sub, lambda s: s, frozenset())
    _command(command, cwd, st, frozenset(), 0)
    rw = {sub.resolve(t, cwd) for s in parsed.commands for op, t in s.redirects if op in ("<>", ">&") and t}
    paths = frozenset(st.created | st.removed | rw)
    return None if st.opaque or any(_GLOB.search(p) for p in paths) else paths


def _command(text: str, cwd: str, st: _State, outer_defined: frozenset[str], depth: int) -> None:
    parsed = parse(text)
    defined = outer_defined | parsed.defined
    for name in parsed.params:
        if name not in defined and name not in SHELL_VARS and name not in st.params:
            st.add({"type": "env_set", "name": name})
    for s in parsed.commands:
        _simple(s, cwd, st, defined, depth)


def _simple(s: Simple, cwd: str, st: _State, defined: frozenset[str], depth: int) -> None:
    words = unwrap(s.words)
    quiet_errors = any(t == "/dev/null" for _op, t in s.redirects)
    if words:
        _program(words, cwd, st, defined, depth)
        if not quiet_errors:
            for raw in _reads(words):
                st.need_file(st.sub.resolve(raw, cwd))
    for op, target in s.redirects:
        if op == "<" and target and not _GLOB.search(target) and not quiet_errors:
            st.need_file(st.sub.resolve(target, cwd))
    _absent(words, cwd, st)
    _effects(s, words, cwd, st)


def _program(words: Sequence[str], cwd: str, st: _State, defined: frozenset[str], depth: int) -> None:
    prog = words[0]
    if prog in BUILTINS or prog in ("bash", "sh") or "=" in prog or _GLOB.search(prog) or not prog:
        if prog in ("bash", "sh") and depth < 4:
            _inner_shell(words[1:], cwd, st, defined, depth)
        return
    if "/" in prog or prog.startswith("~"):
        raw = st.sub.resolve(prog, cwd)
        if not st.made(raw):
            st.need_file(raw)
        return
    base = prog
    if base not in st.installed:
        st.add({"type": "command_available", "name": base})
    args = list(words[1:])
    if base == "xargs":
        rest = skip_options(args, XARGS_OPTIONS)
        if rest:
            _program(unwrap(rest), cwd, st, defined, depth + 1)
    elif base in ("find", "gfind"):
        for i, a in enumerate(args):
            if a in ("-exec", "-execdir", "-ok", "-okdir") and i + 1 < len(args):
                _program(unwrap(args[i + 1 :]), cwd, st, defined, depth + 1)


def _inner_shell(args: Sequence[str], cwd: str, st: _State, defined: frozenset[str], depth: int) -> None:
    for i, a in enumerate(args):
        if a.startswith("-") and not a.startswith("--") and "c" in a[1:]:
            if i + 1 < len(args):
                _command(args[i + 1], cwd, st, defined, depth + 1)
            return
        if not a.startswith("-"):
            raw = st.sub.resolve(a, cwd)
            if not st.made(raw):
                st.need_file(raw)
            return


def _reads(words: Sequence[str]) -> list[str]:
    """Files a simple command plainly reads: `cat`, `source`, `pip -r`, `--config`."""
    prog, args = posixpath.basename(words[0]), list(words[1:])
    out: list[str] = []
    if prog == "cat":
        out = [a for a in args if not a.startswith("-")]
    elif prog in ("source", ".") and args:
        out = [args[0]]
    elif prog in ("pip", "pip3") or (prog == "uv" and args[:1] == ["pip"]):
        for i, a in enumerate(args):
            if a in ("-r", "-c", "--requirement", "--constraint") and i + 1 < len(args):
                out.append(args[i + 1])
    for i, a in enumerate(args):
        if a in ("--config", "--config-file") and i + 1 < len(args):
            out.append(args[i + 1])
        elif a.startswith(("--config=", "--config-file=")):
            out.append(a.split("=", 1)[1])
    return [p for p in out if p and p != "-" and not _GLOB.search(p)]


def _absent(words: Sequence[str], cwd: str, st: _State) -> None:
    """`mkdir X` (no -p) and `git clone URL X` fail when X exists: they need it absent."""
    if not words or st.opaque:
        return
    prog, args = posixpath.basename(words[0]), list(words[1:])
    targets: list[str] = []
    if prog == "mkdir" and not any(
        a in ("-p", "--parents") or (a.startswith("-") and "p" in a) for a in args if a.startswith("-")
    ):
        targets = [a for a in args if not a.startswith("-")]
    elif prog == "git":
        sub, rest = git_split(args)
        pos = [a for a in rest if not a.startswith("-")]
        if sub == "clone" and pos and not any(a.startswith("-") for a in rest):
            targets = [
                pos[1] if len(pos) > 1 else posixpath.basename(pos[0].rstrip("/")).removesuffix(".git")
            ]
    for t in targets:
        if t and not _GLOB.search(t):
            raw = st.sub.resolve(t, cwd)
            if st.sub.under(raw) and not st.made(raw) and not st.gone(raw):
                st.add({"type": "path_absent", "path": st.param_path(raw)})


def _effects(s: Simple, words: Sequence[str], cwd: str, st: _State) -> None:
    """Record what this simple command creates or removes; any unknown change is opaque."""
    for op, target in s.redirects:
        if op in (">", ">>", ">|", "&>", "&>>") and target and not target.startswith("/dev/"):
            st.created.add(st.sub.resolve(target, cwd))
    if not words or classify_simple(s) != CHANGE:
        return
    prog, args = posixpath.basename(words[0]), list(words[1:])
    pos = [a for a in args if not a.startswith("-")]
    resolve = st.sub.resolve
    if prog in ("mkdir", "touch", "tee"):
        st.created.update(resolve(p, cwd) for p in pos)
    elif prog in ("cp", "mv", "ln", "install") and len(pos) >= 2:
        dest = resolve(pos[-1], cwd)
        st.created.add(dest)
        for src in pos[:-1]:
            st.created.add(posixpath.join(dest, posixpath.basename(src.rstrip("/"))))
        if prog == "mv":
            st.removed.update(resolve(p, cwd) for p in pos[:-1])
    elif prog in ("rm", "rmdir"):
        st.removed.update(resolve(p, cwd) for p in pos)
    outputs = [args[i + 1] for i, a in enumerate(args[:-1]) if a in CREATING_OUTPUT]
    st.created.update(resolve(o, cwd) for o in outputs if o != "-")
    pos_sub = pos[:1]
    if (pos_sub and pos_sub[0] in _INSTALLERS) or prog in ("brew", "apt", "apt-get", "pipx"):
        st.installed.update(posixpath.basename(p.split("@")[0].split("==")[0]) for p in pos)
    tool = lookup(prog)
    known = tool.known if tool is not None else False
    if not (known(args) if callable(known) else known):
        st.opaque = True
