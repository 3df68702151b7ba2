"""Shell text read once: simple commands with their words, assignments, redirects and groups.

Every part of aionis that needs to know what a command line runs (classing, preconditions,
replay checks, repair) reads it through `parse`, so they agree on what the shell would do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import bashlex


def wordset(text: str) -> frozenset[str]:
    """A set of words, written as one string so tables stay readable."""
    return frozenset(text.split())


_S = lru_cache(maxsize=None)(wordset)


@dataclass(frozen=True, slots=True)
class Simple:
    """One simple command: its words after prefix assignments, and its redirections."""

    words: tuple[str, ...]
    assigns: tuple[str, ...] = ()
    redirects: tuple[tuple[str, str], ...] = ()  # (operator, file target or "" for an fd)
    group: int = 0  # pipeline it belongs to
    index: int = 0  # position in that pipeline


@dataclass(frozen=True, slots=True)
class Parsed:
    """A command line read: its simple commands, the parameters it needs and those it sets."""

    commands: tuple[Simple, ...]
    params: tuple[str, ...]  # $NAME references that need NAME set, first-seen order
    defined: frozenset[str]  # names the command itself assigns (assignments, export, for, read)
    exact: bool  # False when only the lenient tokenizer could read it
    # shell functions defined, with the index in `commands` their definition comes before, so a
    # reader walking the commands in order knows a name is a function from there on
    functions: tuple[tuple[int, str], ...]


# ---------------------------------------------------------------- parsing

_HEREDOC = re.compile(r"<<(-?)[ \t]*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")
_PARAM = re.compile(r"\$(\{)?([A-Za-z_][A-Za-z0-9_]*)(:?[-=+])?")
_OPTIONAL_PARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*:?[-=+]")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[[^\]]*\])?\+?=")
_SEPARATORS = frozenset({";", "&&", "||", "|", "&", "|&", ";;", "\n"})
_REDIRECT_OPS = frozenset({">", ">>", ">|", "&>", "&>>", "<", "<>", ">&", "<&", "<<<", "<<", "<<-"})
# reserved words the tokenizer reads itself (it strips them at the start of a command);
# anything else compound (subshells, groups, case, functions) goes to bashlex
_LOOP_WORDS = _S("if then else elif fi for while until do done !")
_HARD_WORDS = _S("case esac function select coproc { } (( ))")
_DEFINING = _S("export local declare typeset readonly read mapfile readarray getopts")
_QUIET_TARGETS = ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/fd/")
_LEX = re.compile(
    r"""(?P<nl>\n)
    |(?P<ws>[ \t\r]+)
    |(?P<op>&&|\|\||;;|\|&|&>>|&>|>>|>\||>&|<&|<<<|<<-|<<|<>|[<>;&|()])
    |(?P<sq>'[^']*')
    |(?P<ansi>\$'(?:[^'\\]|\\.)*')
    |(?P<dq>"(?:[^"\\]|\\.)*")
    |(?P<esc>\\(?:.|\n))
    |(?P<word>[^\s'"\\;&|<>()]+)""",
    re.X | re.S,
)
_DQ_ESCAPE = re.compile(r"\\([$`\"\\\n])")
_DQ_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_SUBST_START = re.compile(r"\$\(|`|[<>]\(")
_PLACEHOLDER = "$__AIONIS_SUBST"  # stands for a cut-out substitution; never a parameter


def _strip_heredocs(text: str) -> str:
    """Heredoc bodies are data, not commands: replace each by `</dev/null`."""
    if "<<" not in text:
        return text
    out: list[str] = []
    pos = 0
    while (m := _HEREDOC.search(text, pos)) is not None:
        if m.start() > 0 and text[m.start() - 1] == "<":  # a `<<<` here-string
            out.append(text[pos : m.end()])
            pos = m.end()
            continue
        out.append(text[pos : m.start()] + "</dev/null")
        nl = text.find("\n", m.end())
        if nl < 0:
            pos = m.end()
            break
        out.append(text[m.end() : nl + 1])
        delim, dash = m.group(3), bool(m.group(1))
        i, pos = nl + 1, len(text)
        while i < len(text):
            j = text.find("\n", i)
            stop = j if j >= 0 else len(text)
            line = text[i:stop]
            if (line.lstrip("\t") if dash else line) == delim:
                pos = stop
                break
            i = stop + 1
    out.append(text[pos:])
    return "".join(out)


def _closing(text: str, i: int) -> int:
    """Index of the `)` closing the `(` just before `i`, minding quotes; -1 if none."""
    depth, n = 1, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "'":
            j = text.find("'", i + 1)
            if j < 0:
                return -1
            i = j + 1
            continue
        if c == '"':
            m = _DQ_STRING.match(text, i)
            if m is None:
                return -1
            i = m.end()
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _extract(text: str) -> tuple[str, list[str]] | None:
    """Cut `$(...)`, backticks and `<(...)` out of `text`; their bodies are parsed on their
    own. None when they do not close (the lenient path takes over)."""
    if not _SUBST_START.search(text):
        return text, []
    out: list[str] = []
    inner: list[str] = []
    i, n, last = 0, len(text), 0
    single = double = False
    while i < n:
        c = text[i]
        if single:
            single = c != "'"
            i += 1
            continue
        if c == "\\":
            i += 2
            continue
        if c == '"':
            double = not double
        elif c == "'" and not double:
            single = True
        elif c == "$" and text.startswith("((", i + 1):
            j = _closing(text, i + 3)
            if j < 0 or not text.startswith(")", j + 1):
                return None
            out.append(text[last:i] + "0")
            i = last = j + 2
            continue
        elif (c == "$" or (c in "<>" and not double)) and text.startswith("(", i + 1):
            j = _closing(text, i + 2)
            if j < 0:
                return None
            inner.append(text[i + 2 : j])
            out.append(text[last:i] + _PLACEHOLDER)
            i = last = j + 1
            continue
        elif c == "`":
            j = text.find("`", i + 1)
            if j < 0:
                return None
            inner.append(text[i + 1 : j])
            out.append(text[last:i] + _PLACEHOLDER)
            i = last = j + 1
            continue
        i += 1
    out.append(text[last:])
    return "".join(out), inner


def _lex(text: str, acc: _Acc, strict: bool) -> list[tuple[str, str]] | None:
    """Quote-aware tokens: ("w", word) with quotes removed, or ("o", operator)."""
    toks: list[tuple[str, str]] = []
    word: list[str] = []
    in_word = False
    pos, n = 0, len(text)
    while pos < n:
        m = _LEX.match(text, pos)
        if m is None:
            if strict:
                return None
            word.append(text[pos])
            in_word = True
            pos += 1
            continue
        kind = m.lastgroup
        piece = m.group(0)
        pos = m.end()
        if kind in ("ws", "nl", "op"):
            if in_word:
                w = "".join(word)
                if kind == "op" and piece in _REDIRECT_OPS and w.isdigit():
                    toks.append(("fd", w))
                else:
                    toks.append(("w", w))
                word, in_word = [], False
            if kind == "nl":
                toks.append(("o", ";"))
            elif kind == "op":
                toks.append(("o", piece))
            continue
        if not in_word and kind == "word" and piece.startswith("#"):
            nl = text.find("\n", pos)
            pos = n if nl < 0 else nl
            continue
        in_word = True
        if kind == "word":
            word.append(piece)
            _params(piece, acc)
        elif kind == "sq":
            word.append(piece[1:-1])
        elif kind == "dq":
            body = piece[1:-1]
            _params(body, acc)
            word.append(_DQ_ESCAPE.sub(lambda e: "" if e.group(1) == "\n" else e.group(1), body))
        elif kind == "ansi":
            word.append(piece[2:-1])
        elif piece != "\\\n":
            word.append(piece[1:])
        elif not word:
            in_word = False
    if in_word:
        toks.append(("w", "".join(word)))
    return toks


def _params(text: str, acc: _Acc) -> None:
    """Record the `$NAME`s a word expands (an escaped `\\$` expands nothing)."""
    if "$" in text:
        if "\\" in text:
            text = re.sub(r"\\.", "", text)
        for m in _PARAM.finditer(text):
            if not (m.group(1) and m.group(3)):
                acc.param(m.group(2))


class _Acc:
    def __init__(self) -> None:
        self.commands: list[Simple] = []
        self.params: list[str] = []
        self.defined: set[str] = set()
        self.functions: list[tuple[int, str]] = []
        self.groups = 0

    def new_group(self) -> int:
        self.groups += 1
        return self.groups

    def param(self, name: str) -> None:
        """Record a parameter the command needs (`${X:-d}` and friends do not need X)."""
        if _OPTIONAL_PARAM.match(name) or name.startswith("__AIONIS"):
            return
        m = _IDENT.match(name)
        if m and m.group(0) not in self.params:
            self.params.append(m.group(0))

    def add(self, s: Simple) -> None:
        self.commands.append(s)
        w = s.words
        for a in s.assigns:
            self.defined.add(a.split("=", 1)[0].split("[", 1)[0].rstrip("+"))
        if w and w[0] in _DEFINING:
            for arg in w[1:]:
                m = _ASSIGN.match(arg) or _IDENT.fullmatch(arg)
                if m:
                    self.defined.add(m.group(1) if m.re is _ASSIGN else m.group(0))


def _simples(toks: list[tuple[str, str]], acc: _Acc, strict: bool) -> bool:
    """Group tokens into simple commands; False (strict) on syntax left to bashlex."""
    words: list[str] = []
    assigns: list[str] = []
    redirs: list[tuple[str, str]] = []
    group, index = acc.new_group(), 0
    target = ""
    for kind, tok in toks:
        if target:
            fd_dup = target in (">&", "<&") and (tok.isdigit() or tok == "-")
            redirs.append((target, "" if target.startswith("<<") or fd_dup else tok))
            target = ""
            continue
        if kind == "fd":
            continue
        if kind == "o":
            if tok in _REDIRECT_OPS:
                target = tok
                continue
            if tok in ("(", ")") and strict:
                return False
            index = _flush(acc, words, assigns, redirs, group, index)
            words, assigns, redirs = [], [], []
            if tok not in ("|", "|&"):
                group, index = acc.new_group(), 0
            continue
        if not words and not assigns:
            if tok in _HARD_WORDS and strict:
                return False
            if tok in _LOOP_WORDS and tok not in ("for", "select"):
                continue
        if not words and _ASSIGN.match(tok):
            assigns.append(tok)
        else:
            words.append(tok)
    if target and strict:
        return False
    _flush(acc, words, assigns, redirs, group, index)
    return True


def _flush(
    acc: _Acc,
    words: list[str],
    assigns: list[str],
    redirs: list[tuple[str, str]],
    group: int,
    index: int,
) -> int:
    """Close one simple command (a `for x in ...` head only defines x)."""
    w = [x for x in words if x not in _HARD_WORDS] if words and words[0] in _HARD_WORDS else words
    if w and w[0] in ("for", "select"):
        if len(w) > 1:
            acc.defined.add(w[1])
        return index
    if w or assigns or redirs:
        acc.add(Simple(tuple(w), tuple(assigns), tuple(redirs), group, index))
        return index + 1
    return index


def _fast(text: str, acc: _Acc, strict: bool) -> bool:
    toks = _lex(text, acc, strict)
    if toks is None:
        return False
    return _simples(toks, acc, strict)


def _bashlex(text: str, acc: _Acc) -> bool:
    prepared = re.sub(r"(?<![^\s;&|(])\[\[(?=\s)", "[", text)
    prepared = re.sub(r"(?<=\s)\]\](?=$|[\s;&|)])", "]", prepared)
    try:
        nodes = bashlex.parse(prepared)
    except Exception:  # bashlex raises several private error types on syntax it lacks
        return False
    trial = _Acc()
    try:
        for node in nodes:
            _walk(node, trial, trial.new_group(), 0)
    except (AttributeError, TypeError):
        return False
    acc.functions += [(len(acc.commands) + at, name) for at, name in trial.functions]
    acc.commands.extend(trial.commands)
    acc.params.extend(p for p in trial.params if p not in acc.params)
    acc.defined |= trial.defined
    acc.groups = max(acc.groups, trial.groups)
    return True


def _walk(node: Any, acc: _Acc, group: int, index: int) -> None:
    k = node.kind
    if k == "command":
        words: list[str] = []
        assigns: list[str] = []
        redirs: list[tuple[str, str]] = []
        for p in node.parts:
            if p.kind == "assignment" and not words:
                assigns.append(p.word)
            elif p.kind in ("word", "assignment"):
                words.append(p.word)
            elif p.kind == "redirect":
                out = p.output
                target = "" if p.type in ("<<", "<<<") else getattr(out, "word", "")
                redirs.append((p.type, target))
            _scan(p, acc)
        acc.add(Simple(tuple(words), tuple(assigns), tuple(redirs), group, index))
    elif k == "pipeline":
        g, i = acc.new_group(), 0
        for p in node.parts:
            if p.kind != "pipe":
                _walk(p, acc, g, i)
                i += 1
    elif k == "list":
        for p in node.parts:
            if p.kind != "operator":
                _walk(p, acc, acc.new_group(), 0)
    elif k == "compound":
        for p in node.list:
            if p.kind not in ("reservedword", "operator"):
                _walk(p, acc, acc.new_group(), 0)
        redirs = [(r.type, getattr(r.output, "word", "")) for r in getattr(node, "redirects", []) or []]
        if redirs:
            acc.add(Simple((), (), tuple(redirs), acc.new_group(), 0))
    elif k == "for":
        parts = node.parts
        for i, p in enumerate(parts):
            prev = parts[i - 1] if i > 0 else None
            if p.kind == "word" and prev is not None and getattr(prev, "word", "") == "for":
                acc.defined.add(p.word)
                continue
            if p.kind == "word":
                _scan(p, acc)
            elif p.kind not in ("reservedword", "operator"):
                _walk(p, acc, acc.new_group(), 0)
    elif k == "function":
        acc.functions.append((len(acc.commands), node.name.word))
        _walk(node.body, acc, acc.new_group(), 0)
    elif k in ("commandsubstitution", "processsubstitution"):
        _walk(node.command, acc, acc.new_group(), 0)
    elif k in ("word", "assignment", "redirect"):
        _scan(node, acc)
    elif k == "parameter":
        acc.param(node.value)
    else:
        for p in getattr(node, "parts", None) or []:
            if p.kind not in ("reservedword", "operator", "pipe"):
                _walk(p, acc, acc.new_group(), 0)


def _scan(node: Any, acc: _Acc) -> None:
    """Find parameter references and nested commands inside a word or redirect."""
    if node.kind == "redirect":
        out = node.output
        if out is not None and not isinstance(out, int):
            _scan(out, acc)
        return
    for p in getattr(node, "parts", None) or []:
        if p.kind == "parameter":
            acc.param(p.value)
        elif p.kind in ("commandsubstitution", "processsubstitution"):
            _walk(p.command, acc, acc.new_group(), 0)
        else:
            _scan(p, acc)


@lru_cache(maxsize=1 << 16)
def parse(command: str) -> Parsed:
    """Split a command into simple commands.

    Lists, pipelines, substitutions and plain `for`/`if`/`while` go through a quote-aware
    tokenizer (bashlex costs ~1 ms a command, too slow for 10,000-step runs); subshells,
    groups, `case` and functions go to bashlex; what bashlex cannot read gets a lenient pass.
    """
    text = _strip_heredocs(command)
    cut = _extract(text)
    if cut is not None:
        acc = _Acc()
        if _fast(cut[0], acc, strict=True):
            for inner in cut[1]:
                _merge(acc, parse(inner))
            return _done(acc, exact=True)
    acc = _Acc()
    if _bashlex(text, acc):
        return _done(acc, exact=True)
    acc = _Acc()
    _fast(cut[0] if cut else text, acc, strict=False)
    for inner in cut[1] if cut else _naive_substitutions(text):
        _merge(acc, parse(inner))
    return _done(acc, exact=False)


def _merge(acc: _Acc, sub: Parsed) -> None:
    base = acc.groups
    acc.functions += [(len(acc.commands) + at, name) for at, name in sub.functions]
    for s in sub.commands:
        acc.commands.append(Simple(s.words, s.assigns, s.redirects, base + s.group, s.index))
        acc.groups = max(acc.groups, base + s.group)
    for p in sub.params:
        acc.param(p)
    acc.defined |= sub.defined


def _done(acc: _Acc, *, exact: bool) -> Parsed:
    return Parsed(tuple(acc.commands), tuple(acc.params), frozenset(acc.defined), exact, tuple(acc.functions))


def _naive_substitutions(text: str) -> list[str]:
    """`$(...)` and backtick bodies, read naively (only for the lenient path)."""
    found: list[str] = []
    i = 0
    while True:
        i = text.find("$(", i)
        if i < 0:
            break
        depth, j = 1, i + 2
        while j < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
        found.append(text[i + 2 : j - 1])
        i = j
    found += re.findall(r"`([^`]*)`", text)
    return [f for f in found if f.strip()]
