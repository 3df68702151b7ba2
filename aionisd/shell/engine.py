"""Class a shell command as `change`, `check` or `probe`, and judge its risk, idempotence and
intent, from its real shell structure and the tool table.

Real agent sessions are mostly exploration: the compiler keeps what changed the world, turns
verdicts (tests, linters) into success checks and drops reads. A command is a probe only when
every simple command in it reads; any unknown program counts as a change, because dropping a
real change breaks a replay while keeping a read only costs a little time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from aionisd.shell.parse import Simple, parse, wordset
from aionisd.shell.record import CHANGE, PROBE, Cls, Idem, Risk, Run, Verdict
from aionisd.shell.rules import QUIET_TARGETS, base, combine, default_class
from aionisd.shell.tools import lookup

_RISK_ORDER = {"low": 0, "medium": 1, "high": 2}
_NEUTRAL = wordset("cd export set source . pushd popd unset local declare typeset true :")
_DISK = re.compile(r"/dev/(sd|nvme|disk|hd|mmcblk|xvd)")


def unwrap(words: Sequence[str]) -> tuple[str, ...]:
    """Drop `sudo`, `env A=b`, `time`, `timeout 5`... prefixes to reach the real program."""
    w: Sequence[str] = words
    for _ in range(8):
        tool = lookup(w[0]) if w else None
        if tool is None or tool.wrapper is None:
            break
        rest = tool.wrapper.strip(w[1:])
        if rest is None:
            break
        w = rest
    return tuple(w)


def program_index(words: Sequence[str]) -> int | None:
    """Index in `words` of the program run, looking through wrappers; None if there is none."""
    rest = unwrap(words)
    return len(words) - len(rest) if rest else None


def _resolve(v: Verdict) -> Cls:
    if isinstance(v, Run):
        classes = [classify_words(c) for c in v.commands]
        if v.text is not None:
            classes.append(classify(v.text))
        return combine(classes)
    return v


@lru_cache(maxsize=1 << 14)
def classify_words(words: tuple[str, ...]) -> Cls:
    """Class one simple command given its words (no redirections)."""
    words = unwrap(words)
    if not words:
        return PROBE
    tool = lookup(words[0])
    args = words[1:]
    if tool is None:
        return default_class(args)
    if tool.rule is not None:
        return _resolve(tool.rule(args))
    return tool.cls or default_class(args)


def writes_file(s: Simple) -> bool:
    """Whether a redirection writes a real file (not /dev/null and the like)."""
    for op, target in s.redirects:
        writes = op in (">", ">>", ">|", "&>", "&>>", "<>") or op == ">&"
        if writes and target and not target.startswith(QUIET_TARGETS):
            return True
    return False


def classify_simple(s: Simple) -> Cls:
    """Class one simple command with its redirections."""
    if writes_file(s):
        return CHANGE
    if not s.words:
        return PROBE
    return classify_words(s.words)


@lru_cache(maxsize=1 << 16)
def classify(command: str) -> Cls:
    """`change` if any part may change the world, else `check` if any part is a verdict,
    else `probe`."""
    return combine(classify_simple(s) for s in parse(command).commands)


def _risk_simple(s: Simple) -> Risk:
    if any(_DISK.match(target) for _op, target in s.redirects):
        return "high"
    if not s.words:
        return "low"
    first = lookup(s.words[0])
    if first is not None and first.wrapper is not None and first.risk == "high":
        return "high"  # `sudo`: whatever it runs, it runs as root
    w = unwrap(s.words)
    tool = lookup(w[0]) if w else None
    if tool is None:
        return "low"
    return tool.risk(list(w[1:])) if callable(tool.risk) else tool.risk


@lru_cache(maxsize=1 << 14)
def risk(command: str) -> Risk:
    """How much harm a careless replay of this command could do."""
    parsed = parse(command)
    worst: Risk = "low"
    by_group: dict[int, list[Simple]] = {}
    for s in parsed.commands:
        r = _risk_simple(s) if classify_simple(s) == CHANGE else "low"
        if _RISK_ORDER[r] > _RISK_ORDER[worst]:
            worst = r
        by_group.setdefault(s.group, []).append(s)
    for members in by_group.values():
        fetch = False
        for s in sorted(members, key=lambda m: m.index):
            w = unwrap(s.words)
            tool = lookup(w[0]) if w else None
            if w and base(w[0]) in ("curl", "wget"):
                fetch = True
            elif fetch and tool is not None and tool.interpreter:
                return "high"  # code fetched from the network, run unread
    return worst


def _idem_simple(words: tuple[str, ...]) -> Idem:
    w = unwrap(words)
    tool = lookup(w[0]) if w else None
    if not w:
        return "state"
    if tool is None:
        return "none"
    return tool.idem(list(w[1:])) if callable(tool.idem) else tool.idem


@lru_cache(maxsize=1 << 14)
def idempotence(command: str) -> Idem:
    """`state`: running it twice equals once whatever happened between; `content`: equal
    only when nothing changed in between; `none`: running it again does something new."""
    result: Idem = "state"
    for s in parse(command).commands:
        if classify_simple(s) != CHANGE:
            continue
        if writes_file(s):
            ops = {op for op, _ in s.redirects}
            if ">>" in ops or "&>>" in ops:
                return "none"
        i = _idem_simple(s.words) if s.words else "content"
        if i == "none":
            return "none"
        if i == "content":
            result = "content"
    return result


@lru_cache(maxsize=1 << 14)
def intent_key(command: str) -> str:
    """The program and subcommand a command is about (`git commit`, `mise run fmt`), so a
    failed attempt can be matched with a later success."""
    for s in parse(command).commands:
        w = unwrap(s.words)
        if not w or base(w[0]) in _NEUTRAL:
            continue
        tool = lookup(w[0])
        if tool is not None and tool.intent is not None:
            return tool.intent(list(w[1:]))
        pos = [a for a in w[1:] if not a.startswith("-")]
        key = [base(w[0]), *pos[:1]]
        if pos[:1] in (["run"], ["exec"], ["x"], ["r"], ["mod"]) and len(pos) > 1:
            key.append(pos[1])
        return " ".join(key)
    return " ".join(command.split())
