"""Parameters are data, never code: how a value reaches a step's shell text.

A `${name}` in a command template is never replaced by the value's text. It becomes a reference
to an environment variable (`AIONIS_P_name`) quoted for the shell context it sits in, and the value
travels in the step's environment, so bash expands it as exactly one word with exactly its bytes
and never parses it. Where no quoting can make a value inert (arithmetic, a nested shell such as
`bash -c`/`eval`/`ssh`, a quoted here-document it could end), only values that cannot change the
code are accepted; anything else is refused before the replay runs a step.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

ENV_PREFIX = "AIONIS_P_"

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_INTEGER = re.compile(r"[+-]?[0-9]+")
# What a value may hold where a second shell (or arithmetic) will parse it again.
_INERT = re.compile(r"[A-Za-z0-9_./:@%+=,^~-]*")
# Commands that parse one of their arguments as shell code (or hand it to a remote shell).
_EVALUATOR = re.compile(
    r"(?:^|[\s;&|(`])(?:eval|source|\.|ssh|su|xargs|watch|parallel|(?:ba|da|z|k|mk|fi)?sh)(?=\s)"
)
# Commands whose arguments bash evaluates as arithmetic (a value there could index an array with
# a command substitution).
_ARITH_COMMAND = re.compile(r"(?:^|[\s;&|(`])(?:let|declare\s+-\w*i|typeset\s+-\w*i|local\s+-\w*i)(?=\s)")
_ARITH_TEST = re.compile(r"\s-(?:eq|ne|lt|le|gt|ge)\s")
_SUBSCRIPT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\[$")
_WORD_BREAK = frozenset(" \t\n;&|()<>")


class UnsafeValue(ValueError):
    """A parameter value that cannot reach this shell text as one word of data."""


@dataclass(frozen=True, slots=True)
class Bound:
    """The text bash runs and the variables it reads the values from."""

    script: str
    env: dict[str, str] = field(default_factory=dict)


def env_name(param: str) -> str:
    return ENV_PREFIX + param


@dataclass(slots=True)
class _Frame:
    kind: Literal["top", "cmd", "bq", "dq", "sq", "ansic", "arith", "dbrack"]
    depth: int = 0
    arith_test: bool = False


@dataclass(slots=True)
class _Heredoc:
    delim: str
    quoted: bool
    strip_tabs: bool


def bind_command(
    template: str, values: Mapping[str, str], *, roots: Sequence[str] = (), builtins: Sequence[str] = ()
) -> Bound:
    """The template with each known `${name}` made a quoted variable reference, and their values.

    `roots` are the real paths a value used as a path may point into (the workdir and home);
    `builtins` name parameters the replay itself sets (workdir, home), which are not checked as
    paths. Raises `UnsafeValue` naming the parameter and why.
    """
    if "${" not in template or not any(f"${{{n}}}" in template for n in values):
        return Bound(template)
    return _Binder(template, values, tuple(roots), frozenset(builtins)).run()


class _Binder:
    """One left-to-right scan keeping a stack of quoting contexts; here-documents by their lines."""

    def __init__(
        self, text: str, values: Mapping[str, str], roots: tuple[str, ...], builtins: frozenset[str]
    ) -> None:
        self.text = text
        self.values = values
        self.roots = roots
        self.builtins = builtins
        self.nested = bool(_EVALUATOR.search(text))
        self.arith_everywhere = bool(_ARITH_COMMAND.search(text))
        self.out: list[str] = []
        self.env: dict[str, str] = {}
        self.stack: list[_Frame] = [_Frame("top")]
        self.heredocs: list[_Heredoc] = []

    def run(self) -> Bound:
        i, n = 0, len(self.text)
        while i < n:
            i = self._step(i)
        return Bound("".join(self.out), self.env)

    # ---- scanning ----

    def _step(self, i: int) -> int:
        text = self.text
        frame = self.stack[-1]
        c = text[i]
        m = _REF.match(text, i) if c == "$" else None
        if m and m[1] in self.values:
            self.out.append(self._reference(m[1], i, m.end(), frame.kind))
            return m.end()
        if frame.kind == "sq":
            if c == "'":
                self.stack.pop()
            self.out.append(c)
            return i + 1
        if frame.kind == "ansic":
            if c == "\\" and i + 1 < len(text):
                self.out.append(text[i : i + 2])
                return i + 2
            if c == "'":
                self.stack.pop()
            self.out.append(c)
            return i + 1
        if c == "\\" and i + 1 < len(text):
            self.out.append(text[i : i + 2])
            return i + 2
        if frame.kind == "dq":
            if c == '"':
                self.stack.pop()
            elif text.startswith("$((", i):
                self.stack.append(_Frame("arith"))
                self.out.append("$((")
                return i + 3
            elif text.startswith("$(", i):
                self.stack.append(_Frame("cmd"))
                self.out.append("$(")
                return i + 2
            elif c == "`":
                self.stack.append(_Frame("bq"))
            self.out.append(c)
            return i + 1
        return self._unquoted(i, frame)

    def _unquoted(self, i: int, frame: _Frame) -> int:
        """top, cmd ($(...)), bq (`...`), arith and dbrack: quotes open, parens nest."""
        text = self.text
        c = text[i]
        at_word = i == 0 or text[i - 1] in _WORD_BREAK
        if c == "'":
            self.stack.append(_Frame("sq"))
        elif c == '"':
            self.stack.append(_Frame("dq"))
        elif text.startswith("$'", i):
            self.stack.append(_Frame("ansic"))
            self.out.append("$'")
            return i + 2
        elif text.startswith("$((", i) or (frame.kind != "arith" and text.startswith("((", i) and at_word):
            width = 3 if c == "$" else 2
            self.stack.append(_Frame("arith"))
            self.out.append(text[i : i + width])
            return i + width
        elif text.startswith("$(", i):
            self.stack.append(_Frame("cmd"))
            self.out.append("$(")
            return i + 2
        elif c == "`":
            if frame.kind == "bq":
                self.stack.pop()
            else:
                self.stack.append(_Frame("bq"))
        elif c == "(" and frame.kind in ("cmd", "arith"):
            frame.depth += 1
        elif c == ")" and frame.kind == "arith":
            if frame.depth:
                frame.depth -= 1
            else:
                self.stack.pop()
                if text.startswith("))", i):
                    self.out.append("))")
                    return i + 2
        elif c == ")" and frame.kind == "cmd":
            if frame.depth:
                frame.depth -= 1
            else:
                self.stack.pop()
        elif at_word and text.startswith("[[", i) and text[i + 2 : i + 3] in (" ", "\t"):
            end = text.find("]]", i)
            body = text[i : end if end >= 0 else len(text)]
            self.stack.append(_Frame("dbrack", arith_test=bool(_ARITH_TEST.search(body))))
            self.out.append("[[")
            return i + 2
        elif frame.kind == "dbrack" and at_word and text.startswith("]]", i):
            self.stack.pop()
            self.out.append("]]")
            return i + 2
        elif c == "#" and at_word and frame.kind != "arith":
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            self.out.append(text[i:end])
            return end
        elif text.startswith("<<", i) and not text.startswith("<<<", i) and frame.kind != "arith":
            return self._heredoc_start(i)
        elif c == "\n" and self.heredocs:
            self.out.append(c)
            return self._heredoc_bodies(i + 1)
        self.out.append(c)
        return i + 1

    def _heredoc_start(self, i: int) -> int:
        """`<<[-] WORD`: remember the delimiter; its body starts after the current line."""
        text = self.text
        j = i + 2
        strip = text.startswith("-", j)
        j += strip
        while j < len(text) and text[j] in " \t":
            j += 1
        k = j
        while k < len(text) and text[k] not in _WORD_BREAK:
            k += 1
        word = text[j:k]
        quoted = any(q in word for q in "'\"\\")
        delim = word.replace("'", "").replace('"', "").replace("\\", "")
        if delim:
            self.heredocs.append(_Heredoc(delim, quoted, strip))
        self.out.append(text[i:k])
        return k

    def _heredoc_bodies(self, i: int) -> int:
        """Each pending here-document's lines up to its delimiter line; returns where code resumes."""
        text = self.text
        pending, self.heredocs = self.heredocs, []
        for doc in pending:
            while i < len(text):
                end = text.find("\n", i)
                end = len(text) if end < 0 else end
                line = text[i:end]
                if (line.lstrip("\t") if doc.strip_tabs else line) == doc.delim:
                    self.out.append(text[i : end + 1])
                    i = end + 1
                    break
                self.out.append(self._heredoc_line(line, doc))
                self.out.append(text[end : end + 1])
                i = end + 1
        return i

    def _heredoc_line(self, line: str, doc: _Heredoc) -> str:
        """An unquoted body expands `${VAR}` (unquoted: quotes there are literal); a quoted body
        expands nothing, so the value is written as its bytes and must not end the document."""
        names: list[str] = []

        def one(m: re.Match[str]) -> str:
            if m[1] not in self.values:
                return m[0]
            value = self._value(m[1])
            names.append(m[1])
            if self.nested:
                self._require(_INERT.fullmatch(value), m[1], "a here-document in a nested shell")
            return value if doc.quoted else "${" + self._export(m[1]) + "}"

        out = _REF.sub(one, line)
        if doc.quoted and names:
            for part in out.split("\n"):
                if (part.lstrip("\t") if doc.strip_tabs else part) == doc.delim:
                    raise UnsafeValue(f"parameter {names[0]}: its value would end the here-document")
        return out

    # ---- one reference ----

    def _reference(self, name: str, start: int, end: int, kind: str) -> str:
        value = self._value(name)
        if self._in_arith(start):
            self._require(_INTEGER.fullmatch(value), name, "arithmetic (only an integer is accepted)")
        elif self.nested:
            self._require(
                _INERT.fullmatch(value),
                name,
                "a command that runs its arguments as shell code (only letters, digits and ./_:@%+=,^~- "
                "are accepted there)",
            )
        if name not in self.builtins and self._path_context(start, end):
            self._check_path(name, value)
        var = self._export(name)
        if kind == "sq":
            return "'\"${" + var + "}\"'"
        if kind == "ansic":
            return "'\"${" + var + "}\"$'"
        if kind == "dq":
            return "${" + var + "}"
        return '"${' + var + '}"'

    def _in_arith(self, start: int) -> bool:
        if self.arith_everywhere:
            return True
        for frame in reversed(self.stack):
            if frame.kind == "arith" or (frame.kind == "dbrack" and frame.arith_test):
                return True
            if frame.kind in ("cmd", "bq"):
                break
        return bool(_SUBSCRIPT.search(self.text, 0, start))

    def _path_context(self, start: int, end: int) -> bool:
        before = self.text[start - 1 : start]
        after = self.text[end : end + 1]
        return before == "/" or after == "/"

    def _check_path(self, name: str, value: str) -> None:
        if ".." in value.split("/"):
            raise UnsafeValue(f"parameter {name}: a value used in a path may not contain '..'")
        if value.startswith("/") and self.roots:
            real = os.path.normpath(value)
            if not any(real == r or real.startswith(r.rstrip("/") + "/") for r in self.roots):
                raise UnsafeValue(f"parameter {name}: {value} is outside the workdir and home")

    def _value(self, name: str) -> str:
        value = self.values[name]
        if "\x00" in value:
            raise UnsafeValue(f"parameter {name}: a value may not contain a NUL byte")
        return value

    def _export(self, name: str) -> str:
        var = env_name(name)
        self.env[var] = self.values[name]
        return var

    @staticmethod
    def _require(ok: object, name: str, where: str) -> None:
        if not ok:
            raise UnsafeValue(f"parameter {name}: its value cannot be passed safely into {where}")


# ---- typed parameters ----

PARAM_TYPES = ("string", "integer", "number", "boolean", "path")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_BOOLEAN = frozenset({"true", "false"})


def type_problem(param: Mapping[str, object], value: str) -> str | None:
    """Why `value` does not fit the declared `type` (and `pattern`) of `param`, or None."""
    name = param.get("name")
    if "\x00" in value:
        return f"parameter {name}: a value may not contain a NUL byte"
    kind = str(param.get("type") or "string")
    if kind == "integer" and not _INTEGER.fullmatch(value):
        return f"parameter {name}: {value!r} is not an integer"
    if kind == "number" and not _NUMBER.fullmatch(value):
        return f"parameter {name}: {value!r} is not a number"
    if kind == "boolean" and value not in _BOOLEAN:
        return f"parameter {name}: {value!r} is not true or false"
    if kind == "path" and (".." in value.split("/") or value.startswith(("/", "~"))):
        return f"parameter {name}: {value!r} must be a path relative to the workdir, without '..'"
    if kind not in PARAM_TYPES:
        return f"parameter {name}: unknown type {kind!r}"
    pattern = param.get("pattern")
    if isinstance(pattern, str) and pattern:
        try:
            if not re.fullmatch(pattern, value):
                return f"parameter {name}: {value!r} does not match {pattern!r}"
        except re.error:
            return f"parameter {name}: the playbook's pattern {pattern!r} is not a valid regex"
    return None
