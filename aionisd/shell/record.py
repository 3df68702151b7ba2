"""What one record of the tool table says about a program: its class, risk, idempotence,
wrapper options and password options (the types the rules and the table share)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from aionisd.shell.parse import wordset

Cls = Literal["change", "check", "probe"]
Risk = Literal["low", "medium", "high"]
Idem = Literal["state", "content", "none"]

CHANGE: Cls = "change"
CHECK: Cls = "check"
PROBE: Cls = "probe"


@dataclass(frozen=True, slots=True)
class Run:
    """Commands a tool runs in its stead (`xargs CMD`, `find -exec`, `sh -c TEXT`): the engine
    classes them, so rules stay pure functions of their arguments."""

    commands: tuple[tuple[str, ...], ...] = ()
    text: str | None = None


Verdict = Cls | Run
Rule = Callable[[Sequence[str]], Verdict]


@dataclass(frozen=True, slots=True)
class Wrapper:
    """A prefix that runs the rest of the line (`sudo`, `env A=b`, `timeout 5`): the options of
    its own that take a value, whether it takes assignments, and how many operands it eats."""

    options: frozenset[str] = frozenset()
    assigns: bool = False
    operands: int = 0
    stop_on: frozenset[str] = frozenset()  # `command -v` looks up, it does not run

    def strip(self, args: Sequence[str]) -> list[str] | None:
        """The wrapped command's words, or None when this use does not wrap one."""
        if args[:1] and args[0] in self.stop_on:
            return None
        i = 0
        while i < len(args) and (args[i].startswith("-") or (self.assigns and _ASSIGN.match(args[i]))):
            if args[i] == "--" and not self.assigns:
                i += 1
                break
            i += 2 if args[i] in self.options else 1
        return list(args[i + self.operands :])


@dataclass(frozen=True, slots=True)
class PasswordArgs:
    """Where one tool takes a password on its command line. An option given alone (it prompts)
    is left alone, and so are the same letters of other tools (`-p 8080`, `ls -a`)."""

    name: str  # the secret parameter it becomes
    glued: frozenset[str] = frozenset()  # `-pVALUE`
    spaced: frozenset[str] = frozenset()  # `-a VALUE`; a long one also `--password=VALUE`
    equals: frozenset[str] = frozenset()  # `--password=VALUE` only (`--password` alone prompts)
    after: str = ""  # the password follows this in the value (`user:PW`, `pass:PW`), else none
    last_arg_with: str = ""  # a short flag making the last argument the password (`htpasswd -b`)
    subcommand: str = ""  # only after this word (`docker login`)


def password(name: str, glued: str = "", spaced: str = "", equals: str = "", **kw: str) -> PasswordArgs:
    return PasswordArgs(name, wordset(glued), wordset(spaced), wordset(equals), **kw)


@dataclass(frozen=True, slots=True)
class Tool:
    """One program. `cls` is a fixed class, `rule` decides from the arguments; with neither the
    engine's default applies (help and dry runs read, anything else changes)."""

    names: tuple[str, ...]
    cls: Cls | None = None
    rule: Rule | None = None
    prefix: str = ""  # also any program whose name starts with this (`python3.12`, `mkfs.ext4`)
    risk: Risk | Callable[[Sequence[str]], Risk] = "low"  # of a change it makes
    idem: Idem | Callable[[Sequence[str]], Idem] = "none"  # of a change it makes
    intent: Callable[[Sequence[str]], str] | None = None  # what a run is about, when not `tool sub`
    wrapper: Wrapper | None = None  # runs the rest of the line (`sudo`, `nice -n 5`)
    known: bool | Callable[[Sequence[str]], bool] = False  # its file effects are enumerable
    interpreter: bool = False  # runs code it is fed (`curl ... | sh` is high risk)
    builtin: bool = False  # a shell builtin or keyword: never a missing program
    password: PasswordArgs | None = None


_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[[^\]]*\])?\+?=")
