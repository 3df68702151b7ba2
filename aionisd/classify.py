"""Class a shell command as `change`, `check` or `probe` from its real shell structure.

Real agent sessions are mostly exploration: the compiler keeps what changed the world, turns
verdicts (tests, linters) into success checks and drops reads. A command is a probe only when
every simple command in it reads; any unknown program counts as a change, because dropping a
real change breaks a replay while keeping a read only costs a little time.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import bashlex

Cls = Literal["change", "check", "probe"]
Risk = Literal["low", "medium", "high"]
Idem = Literal["state", "content", "none"]

CHANGE: Cls = "change"
CHECK: Cls = "check"
PROBE: Cls = "probe"


def _words(text: str) -> frozenset[str]:
    """A set of words, written as one string so tables stay readable."""
    return frozenset(text.split())


_S = lru_cache(maxsize=None)(_words)


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
    commands: tuple[Simple, ...]
    params: tuple[str, ...]  # $NAME references that need NAME set, first-seen order
    defined: frozenset[str]  # names the command itself assigns (assignments, export, for, read)
    exact: bool  # False when only the lenient tokenizer could read it


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
        if w and w[0] in ("export", "local", "declare", "typeset", "readonly", "read"):
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
    for s in sub.commands:
        acc.commands.append(Simple(s.words, s.assigns, s.redirects, base + s.group, s.index))
        acc.groups = max(acc.groups, base + s.group)
    for p in sub.params:
        acc.param(p)
    acc.defined |= sub.defined


def _done(acc: _Acc, *, exact: bool) -> Parsed:
    return Parsed(tuple(acc.commands), tuple(acc.params), frozenset(acc.defined), exact)


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


# ---------------------------------------------------------------- per-program rules


def _base(word: str) -> str:
    return posixpath.basename(word) if "/" in word else word


def _flags(args: Sequence[str]) -> set[str]:
    return {a.split("=", 1)[0] for a in args if a.startswith("-")}


def _positionals(args: Sequence[str], takes_value: frozenset[str] = frozenset()) -> list[str]:
    out: list[str] = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "--":
            continue
        if a.startswith("-"):
            if a in takes_value:
                skip = True
            continue
        out.append(a)
    return out


def _short(args: Sequence[str], letter: str) -> bool:
    """A short option letter anywhere in a cluster like `-rf`."""
    return any(
        a.startswith("-") and not a.startswith("--") and letter in a[1:] and a[1:].isalpha() for a in args
    )


_PROBE_BINS = _words(
    """ls ll la dir vdir cat bat batcat pwd head tail wc grep egrep fgrep rg ag ack which whereis
    type echo printf tree stat file du df printenv date whoami uname ps pgrep jq less more basename
    dirname realpath readlink id groups hostname cut uniq tr diff colordiff cmp comm column nl od
    xxd hexdump strings md5sum md5 sha1sum sha224sum sha256sum sha384sum sha512sum shasum cksum
    b2sum base64 base32 true false test [ [[ : sleep lsof netstat ss free uptime locale tput
    nproc sw_vers lsb_release arch getconf seq expr bc rev tac paste join look cd pushd popd dirs
    export set unset alias unalias exit return read wait trap shift local declare typeset readonly
    let hash shopt ulimit umask history clear jobs mktemp top htop vmstat iostat w who last fd
    fdfind zcat gzcat bzcat xzcat zgrep zless man whatis apropos tldr cal numfmt nslookup dig host
    ping traceroute journalctl lscpu lsblk lsusb lspci dmesg whois mdfind mdls sw_vers getent
    xmllint tokei cloc scc wc pstree uptime env printenv nvidia-smi"""
)

# test runners and linters: a verdict (fix flags on linters turn them into changes)
_TEST_BINS = _words("""pytest py.test tox nox jest vitest mocha ava karma phpunit pest rspec ctest""")
_LINT_BINS = _words(
    """mypy dmypy pyright basedpyright pylint flake8 pyflakes pycodestyle pydocstyle bandit
    vulture shellcheck hadolint yamllint actionlint markdownlint markdownlint-cli2 tflint checkov
    staticcheck govulncheck errcheck revive gosec ineffassign svelte-check commitlint cspell
    codespell typos htmlhint jsonlint luacheck ktlint detekt swiftlint clang-tidy cppcheck semgrep
    gitleaks eslint stylelint rubocop standard xo oxlint tsc-files pre-commit lefthook"""
)
_FIX_FLAGS = _S(
    """--fix --fix-only -w --write --write-changes -a -A --autocorrect --autocorrect-all -F
        --format --apply --apply-unsafe -i --in-place"""
)

_CHECK_TASK_WORDS = _words(
    """test tests lint linter lints check checks vet typecheck types type-check verify ci audit
    validate spec specs e2e unit integration coverage cov tsc mypy clippy"""
)
_CHANGE_TASK_WORDS = _words(
    """fmt format fix install update upgrade setup bootstrap generate gen codegen build deploy
    release publish clean write apply migrate seed"""
)


def classify_task(name: str) -> Cls:
    """Class a task-runner target (`make test`, `mise run fmt`) by its name."""
    parts = set(re.split(r"[:\-_./ ]+", name.lower()))
    if parts & _CHANGE_TASK_WORDS:
        return CHANGE
    if parts & _CHECK_TASK_WORDS:
        return CHECK
    return CHANGE


def _tasks(names: Sequence[str]) -> Cls:
    if not names:
        return CHANGE
    return _combine(classify_task(n) for n in names)


def _combine(classes: Any) -> Cls:
    seen = set(classes)
    if CHANGE in seen:
        return CHANGE
    if CHECK in seen:
        return CHECK
    return PROBE


def _generic(args: Sequence[str]) -> Cls | None:
    """Help, version and dry runs read, whatever the program."""
    if any(a == "--dry-run" or a.startswith("--dry-run=") for a in args):
        return PROBE
    if "--help" in args or (args and args[0] in ("-h", "help", "--version", "-V", "version")):
        return PROBE
    if len(args) == 1 and args[0] in ("-v", "--help", "--version"):
        return PROBE
    return None


def _linter(args: Sequence[str]) -> Cls:
    return CHANGE if _flags(args) & _FIX_FLAGS else CHECK


def _sed(args: Sequence[str]) -> Cls:
    if any(a.startswith("--in-place") for a in args) or _short(args, "i"):
        return CHANGE
    if any(a.startswith("-i") and not a.startswith("--") for a in args):
        return CHANGE
    return PROBE


def _awk(args: Sequence[str]) -> Cls:
    if "inplace" in args or any(a.startswith("--inplace") for a in args):
        return CHANGE
    script = " ".join(a for a in args if not a.startswith("-"))
    if "system(" in script or re.search(r"print[f]?[^;}]*?(>|\|\s*\")", script):
        return CHANGE
    return PROBE


def _find(args: Sequence[str]) -> Cls:
    if {"-delete", "-fprint", "-fprint0", "-fprintf", "-fls"} & set(args):
        return CHANGE
    classes: list[Cls] = []
    i = 0
    while i < len(args):
        if args[i] in ("-exec", "-execdir", "-ok", "-okdir"):
            j = i + 1
            while j < len(args) and args[j] not in (";", "+", "\\;"):
                j += 1
            classes.append(classify_words(tuple(a for a in args[i + 1 : j] if a != "{}")))
            i = j
        i += 1
    return _combine([PROBE, *classes])


XARGS_OPTIONS = frozenset({"-I", "-i", "-n", "-P", "-L", "-l", "-d", "-s", "-E", "-e", "-a"})


def _xargs(args: Sequence[str]) -> Cls:
    rest = skip_options(args, XARGS_OPTIONS)
    return classify_words(tuple(rest)) if rest else PROBE


def skip_options(args: Sequence[str], takes_value: frozenset[str]) -> list[str]:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] == "--":
            return list(args[i + 1 :])
        i += 2 if args[i] in takes_value else 1
    return list(args[i:])


def _tee(args: Sequence[str]) -> Cls:
    files = [a for a in args if not a.startswith("-")]
    return CHANGE if any(not f.startswith(_QUIET_TARGETS) for f in files) else PROBE


def _sort(args: Sequence[str]) -> Cls:
    return CHANGE if "-o" in args or any(a.startswith("--output") for a in args) else PROBE


def _yq(args: Sequence[str]) -> Cls:
    return CHANGE if _short(args, "i") or "--inplace" in args else PROBE


def _shell(args: Sequence[str]) -> Cls:
    for i, a in enumerate(args):
        if a.startswith("-") and not a.startswith("--") and "c" in a[1:]:
            return classify(args[i + 1]) if i + 1 < len(args) else PROBE
        if a == "-n":
            return PROBE
        if not a.startswith("-"):
            return CHANGE
    return _generic(args) or CHANGE


def _source(args: Sequence[str]) -> Cls:
    """Sourcing an env or activation file only changes this step's shell."""
    if not args:
        return PROBE
    b = _base(args[0])
    if "activate" in b or b.startswith(".env") or b.endswith(("rc", ".env", "env.sh", "profile")):
        return PROBE
    return CHANGE


_PY_WRITES = re.compile(
    r"\bopen\s*\([^)]*['\"][rbt]*[wax+]|\.write|\bos\.(?:remove|unlink|rmdir|mkdir|makedirs|"
    r"rename|replace|system|chmod|chown|symlink|link|truncate|kill|popen|exec|spawn|putenv)|"
    r"shutil|subprocess|\.(?:write_text|write_bytes|touch|mkdir|unlink|rmdir|rename|symlink_to|"
    r"chmod)\(|urllib|requests|http\.client|socket|sqlite3|\bexec\s*\(|\beval\s*\(|__import__|"
    r"\.dump\s*\(|\.to_csv|\.save|\bpip\b|setuptools"
)


def _python(args: Sequence[str]) -> Cls:
    g = _generic(args)
    if g:
        return g
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-c":
            code = args[i + 1] if i + 1 < len(args) else ""
            return CHANGE if _PY_WRITES.search(code) else PROBE
        if a == "-m":
            return _python_module(args[i + 1] if i + 1 < len(args) else "", args[i + 2 :])
        if a.startswith("-") and a != "-":
            i += 1
            continue
        return CHANGE
    return CHANGE


def _python_module(mod: str, rest: Sequence[str]) -> Cls:
    if mod in ("pytest", "unittest", "doctest", "tox", "nox", "py_compile", "compileall"):
        return CHECK
    if mod in _LINT_BINS:
        return _linter(rest)
    if mod in ("json.tool", "site", "sysconfig", "platform", "this", "pydoc", "timeit"):
        return PROBE
    handler = _HANDLERS.get(mod)
    if handler is not None:
        return handler(rest)
    return CHANGE


_NODE_WRITES = re.compile(
    r"writeFile|appendFile|unlink|rmdir|\brm\b|mkdir|rename|copyFile|child_process|exec|spawn|"
    r"fetch\(|https?\b|\bnet\b|createWriteStream|symlink|chmod|truncate|fs\.promises"
)


def _node(args: Sequence[str]) -> Cls:
    g = _generic(args)
    if g:
        return g
    for i, a in enumerate(args):
        if a in ("-e", "--eval", "-p", "--print"):
            code = args[i + 1] if i + 1 < len(args) else ""
            return CHANGE if _NODE_WRITES.search(code) else PROBE
        if a == "--test":
            return CHECK
        if a == "--check" or a == "-c":
            return CHECK
    return CHANGE


_CURL_WRITES = _S(
    """-o -O --output --remote-name --remote-name-all -T --upload-file -d --data --data-raw
        --data-binary --data-urlencode --data-ascii -F --form --form-string --json -K --config"""
)


def _curl(args: Sequence[str]) -> Cls:
    if _flags(args) & _CURL_WRITES or any(
        a.startswith("-o") and len(a) > 2 and not a.startswith("--") for a in args
    ):
        return CHANGE
    for i, a in enumerate(args):
        method = ""
        if a in ("-X", "--request") and i + 1 < len(args):
            method = args[i + 1]
        elif a.startswith("-X") and len(a) > 2:
            method = a[2:]
        elif a.startswith("--request="):
            method = a.split("=", 1)[1]
        if method and method.upper() not in ("GET", "HEAD", "OPTIONS"):
            return CHANGE
    return PROBE


def _wget(args: Sequence[str]) -> Cls:
    if "--spider" in args:
        return PROBE
    for i, a in enumerate(args):
        if a in ("-O", "--output-document") and i + 1 < len(args) and args[i + 1] == "-":
            return PROBE
        if a in ("-O-", "-qO-", "--output-document=-") or (a.startswith("-") and a.endswith("O-")):
            return PROBE
    return _generic(args) or CHANGE


# git ------------------------------------------------------------------

_GIT_GLOBAL_VALUE = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--exec-path"})
_GIT_READ = _words(
    """status log show rev-parse ls-files ls-tree ls-remote blame annotate cat-file describe
    shortlog grep count-objects for-each-ref check-ignore check-attr check-ref-format
    check-mailmap diff-index diff-tree diff-files merge-base name-rev var whatchanged show-ref
    show-branch verify-commit verify-tag verify-pack cherry rev-list fsck range-diff help version
    difftool get-tar-commit-id"""
)


def git_split(args: Sequence[str]) -> tuple[str, list[str]]:
    """Skip git's global options: (subcommand, its arguments)."""
    i = 0
    while i < len(args):
        a = args[i]
        if a in _GIT_GLOBAL_VALUE:
            i += 2
        elif a.startswith("-"):
            i += 1
        else:
            return a, list(args[i + 1 :])
    return "", []


def _git(args: Sequence[str]) -> Cls:
    sub, rest = git_split(args)
    if not sub:
        return PROBE
    if sub == "diff":
        return CHECK if {"--check", "--exit-code"} & set(rest) else PROBE
    if sub in _GIT_READ:
        return PROBE
    if "--dry-run" in rest or (sub in ("clean", "add", "rm", "mv", "prune") and "-n" in rest):
        return PROBE
    if sub in ("--help", "--version", "-h"):
        return PROBE
    flags = _flags(rest)
    pos = _positionals(rest)
    if sub == "branch":
        if flags & _S(
            """-d -D --delete -m -M --move -c -C --copy -u --set-upstream-to --unset-upstream
            --edit-description -f --force"""
        ):
            return CHANGE
        listing = flags & _S(
            """-l --list --contains --no-contains --merged --no-merged --points-at -a --all -r
            --remotes"""
        )
        return CHANGE if pos and not listing else PROBE
    if sub == "tag":
        if flags & _S("-d --delete -a --annotate -s --sign -m --message -f --force -u -F --file"):
            return CHANGE
        listing = flags & _S("-l --list -n --contains --no-contains --merged --no-merged --points-at --sort")
        return CHANGE if pos and not listing else PROBE
    if sub == "remote":
        return PROBE if not pos or pos[0] in ("show", "get-url") else CHANGE
    if sub == "config":
        return _git_config(rest)
    if sub in ("worktree", "stash", "notes", "sparse-checkout"):
        return PROBE if pos and pos[0] in ("list", "show") else CHANGE
    if sub == "reflog":
        if pos and pos[0] in ("expire", "delete"):
            return PROBE if flags & {"-n", "--dry-run"} else CHANGE
        return PROBE
    if sub == "submodule":
        return PROBE if pos and pos[0] in ("status", "summary") else CHANGE
    if sub == "lfs":
        return PROBE if pos and pos[0] in ("ls-files", "status", "env", "version") else CHANGE
    if sub == "apply":
        return PROBE if flags & {"--check", "--stat", "--numstat", "--summary"} else CHANGE
    if sub == "symbolic-ref":
        return PROBE if len(pos) <= 1 and not flags & {"-d", "--delete"} else CHANGE
    if sub == "maintenance":
        return CHANGE if pos[:1] and pos[0] in ("run", "start", "stop", "register", "unregister") else PROBE
    if sub == "hash-object":
        return CHANGE if "-w" in flags else PROBE
    if sub in ("archive", "format-patch"):
        return PROBE if "--stdout" in flags or (sub == "archive" and "-o" not in flags) else CHANGE
    return CHANGE


_GIT_CONFIG_VALUE = frozenset({"-f", "--file", "--blob", "--type", "--default", "--comment"})


def _git_config(rest: Sequence[str]) -> Cls:
    flags = _flags(rest)
    if flags & _S("--unset --unset-all --add --replace-all --rename-section --remove-section -e --edit"):
        return CHANGE
    if flags & _S("-l --list --get --get-all --get-regexp --get-urlmatch --get-color --get-colorbool"):
        return PROBE
    pos = _positionals(rest, _GIT_CONFIG_VALUE)
    if pos and pos[0] in ("get", "list"):
        return PROBE
    if pos and pos[0] in ("set", "unset", "rename-section", "remove-section", "edit"):
        return CHANGE
    return PROBE if len(pos) <= 1 else CHANGE


# package managers and toolchains -------------------------------------


def _gh(args: Sequence[str]) -> Cls:
    g = _generic(args)
    if g:
        return g
    pos = _positionals(args, frozenset({"-R", "--repo", "-q", "--jq", "-t", "--template"}))
    if not pos:
        return PROBE
    group = pos[0]
    if group == "api":
        flags = _flags(args)
        for i, a in enumerate(args):
            if a in ("-X", "--method") and i + 1 < len(args):
                return PROBE if args[i + 1].upper() in ("GET", "HEAD") else CHANGE
            if a.startswith("--method="):
                return PROBE if a.split("=", 1)[1].upper() in ("GET", "HEAD") else CHANGE
        return CHANGE if flags & {"-f", "-F", "--field", "--raw-field", "--input"} else PROBE
    if group in ("search", "status", "browse", "version", "help"):
        return PROBE
    action = pos[1] if len(pos) > 1 else ""
    if group == "auth":
        return PROBE if action in ("status", "token") else CHANGE
    if group == "run" and action == "watch":
        return PROBE
    if group == "pr" and action == "checks":
        return PROBE
    if action in ("view", "list", "ls", "status", "diff", "checks", "verify"):
        return PROBE
    return CHANGE


_GO_CHECK = frozenset({"test", "vet"})
_GO_PROBE = frozenset({"list", "doc", "version", "help", "bug"})


def _go(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if not pos:
        return _generic(args) or PROBE
    sub = pos[0]
    rest = list(args[args.index(sub) + 1 :])
    if sub in _GO_CHECK:
        return CHECK
    if sub in _GO_PROBE:
        return PROBE
    if sub == "env":
        return CHANGE if {"-w", "-u"} & set(rest) else PROBE
    if sub == "build":
        return CHANGE if "-o" in rest or any(a.startswith("-o=") for a in rest) else CHECK
    if sub == "mod":
        action = rest[0] if rest else ""
        if action in ("why", "graph"):
            return PROBE
        if action == "verify":
            return CHECK
        if action == "tidy" and ("-diff" in rest or "--diff" in rest):
            return CHECK
        return CHANGE
    if sub == "tool":
        return PROBE if not rest or rest[0] in ("-n",) else CHANGE
    return CHANGE


def _gofmt(args: Sequence[str]) -> Cls:
    return CHANGE if _short(args, "w") or "-w" in args else PROBE


def _cargo(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if not pos:
        return _generic(args) or PROBE
    sub, rest = pos[0], args[args.index(pos[0]) + 1 :]
    if sub in ("test", "t", "check", "c", "bench", "nextest", "audit", "deny", "machete"):
        return CHECK
    if sub == "clippy":
        return CHANGE if "--fix" in rest else CHECK
    if sub == "fmt":
        return CHECK if "--check" in rest else CHANGE
    if sub in _S("tree metadata search version help locate-project pkgid verify-project") or (
        sub in ("read-manifest", "info")
    ):
        return PROBE
    return CHANGE


_NPM_PROBE = _words(
    """ls list la ll view v info show outdated search explain why doctor help root bin prefix
    fund query pkg-get config-get whoami ping"""
)
_NPM_CHECK = frozenset({"test", "t", "tst", "lint"})
_NPM_VALUE = frozenset({"--prefix", "-w", "--workspace", "-C", "--dir", "--filter", "--cwd"})


def _npm_like(args: Sequence[str], *, implicit_run: bool) -> Cls:
    g = _generic(args)
    if g:
        return g
    pos = _positionals(args, _NPM_VALUE)
    if not pos:
        return PROBE if not args or (args[0].startswith("-") and "--version" in args) else CHANGE
    sub = pos[0]
    if sub in _NPM_CHECK:
        return CHECK
    if sub in _NPM_PROBE:
        return PROBE
    if sub == "audit":
        return CHANGE if "fix" in pos else CHECK
    if sub == "config":
        return PROBE if len(pos) > 1 and pos[1] in ("get", "list", "ls") else CHANGE
    if sub in ("run", "run-script", "rum", "urn"):
        return _tasks(pos[1:2]) if len(pos) > 1 else PROBE
    if sub in ("exec", "x", "dlx") and len(pos) > 1:
        return classify_words(tuple(args[args.index(pos[1]) :]))
    if sub == "version":
        return PROBE if len(pos) == 1 else CHANGE
    if sub == "pack" and "--dry-run" in args:
        return PROBE
    if implicit_run and sub not in _PM_COMMANDS:
        return classify_task(sub)
    return CHANGE


_PM_COMMANDS = _words(
    """install i ci add remove rm uninstall un update up upgrade publish link unlink init create
    import dedupe prune rebuild set cache patch pack global workspace workspaces why bin dlx exec
    node"""
)


def _bun(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] == "test":
        return CHECK
    if pos and pos[0] == "x":
        return classify_words(tuple(args[args.index("x") + 1 :]))
    return _npm_like(args, implicit_run=True)


def _pip(args: Sequence[str]) -> Cls:
    g = _generic(args)
    if g:
        return g
    pos = _positionals(args)
    if not pos:
        return PROBE
    sub = pos[0]
    if sub in ("list", "show", "freeze", "help", "index", "search", "inspect", "debug", "hash"):
        return PROBE
    if sub == "check":
        return CHECK
    if sub in ("config", "cache"):
        return PROBE if len(pos) > 1 and pos[1] in ("list", "get", "dir", "info") else CHANGE
    return CHANGE


def _uv(args: Sequence[str]) -> Cls:
    g = _generic(args)
    if g:
        return g
    pos = _positionals(args)
    if not pos:
        return PROBE
    sub = pos[0]
    rest = args[args.index(sub) + 1 :]
    if sub == "pip":
        return _pip(rest)
    if sub == "run":
        return _wrapped(
            rest,
            _S(
                """--with --python -p --package --group --extra --env-file --directory
                    --project"""
            ),
        )
    if sub in ("tree", "version", "help"):
        return PROBE
    if sub in ("python", "tool", "cache") and len(pos) > 1 and pos[1] in ("list", "find", "dir"):
        return PROBE
    if sub == "lock" and {"--check", "--locked"} & set(rest):
        return CHECK
    return CHANGE


def _poetry(args: Sequence[str]) -> Cls:
    g = _generic(args)
    if g:
        return g
    pos = _positionals(args)
    if not pos:
        return PROBE
    if pos[0] == "run":
        return classify_words(tuple(args[args.index("run") + 1 :]))
    if pos[0] == "check":
        return CHECK
    if pos[0] in ("show", "search", "about", "list"):
        return PROBE
    if pos[0] == "env" and len(pos) > 1 and pos[1] in ("info", "list"):
        return PROBE
    if pos[0] == "version" and len(pos) == 1:
        return PROBE
    return CHANGE


def _bundle(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] == "exec":
        return classify_words(tuple(args[args.index("exec") + 1 :]))
    if pos and pos[0] in ("list", "show", "info", "outdated", "check", "config", "platform"):
        return PROBE
    return _generic(args) or CHANGE


def _make(args: Sequence[str]) -> Cls:
    if _S("-n --dry-run --just-print --recon -q --question -p --print-data-base") & set(args):
        return PROBE
    g = _generic(args)
    if g:
        return g
    targets = [a for a in _positionals(args, frozenset({"-C", "-f", "--file", "-j", "-l"})) if "=" not in a]
    return _tasks(targets)


def _mise(args: Sequence[str]) -> Cls:
    g = _generic(args)
    if g:
        return g
    pos = _positionals(args, frozenset({"-C", "--cd", "-E", "--env", "-j", "--jobs"}))
    if not pos:
        return CHANGE
    sub = pos[0]
    if sub in ("run", "r"):
        return _tasks([p for p in pos[1:] if p != ":::"][:8])
    if sub in ("exec", "x"):
        rest = list(args)
        if "--" in rest:
            return classify_words(tuple(rest[rest.index("--") + 1 :]))
        return CHANGE
    if sub in _S(
        """ls list ls-remote current where which env doctor version bin-paths outdated latest
        registry search"""
    ):
        return PROBE
    if sub in ("tasks", "task", "settings", "config", "plugins", "alias"):
        return PROBE if len(pos) == 1 or pos[1] in ("ls", "list", "get", "info") else CHANGE
    if sub in _S(
        """install i use u upgrade up uninstall trust set unset self-update prune sync link
        activate deactivate implode"""
    ):
        return CHANGE
    return classify_task(sub)


def _just_like(args: Sequence[str]) -> Cls:
    if _S("-l --list --summary --show -s --dry-run -n --dump --evaluate --variables --list-all -a") & set(
        args
    ):
        return PROBE
    g = _generic(args)
    if g:
        return g
    return _tasks(
        [
            a
            for a in _positionals(args, frozenset({"-f", "--justfile", "-d", "-t", "--taskfile", "--dir"}))
            if "=" not in a
        ]
    )


def _gradle_like(args: Sequence[str]) -> Cls:
    g = _generic(args)
    if g:
        return g
    goals = [a for a in _positionals(args) if "=" not in a]
    if goals and all(
        g.split(":")[-1] in ("tasks", "dependencies", "projects", "properties", "help", "tree")
        or g.startswith("help:")
        or g == "dependency:tree"
        for g in goals
    ):
        return PROBE
    return _tasks([g.split(":")[-1] for g in goals])


def _docker(args: Sequence[str]) -> Cls:
    g = _generic(args)
    if g:
        return g
    pos = _positionals(
        args,
        _S("-f --file -p --project-name -H --host --context -c --env-file"),
    )
    if not pos:
        return PROBE
    sub = pos[0]
    if sub == "compose" and len(pos) > 1:
        sub = pos[1]
        pos = pos[1:]
    if sub in _S("ps images logs inspect version info top stats history port diff search events") or (
        sub in ("config", "ls")
    ):
        return PROBE
    if (
        sub in _S("image container network volume context buildx system node service secret plugin")
        and len(pos) > 1
    ):
        return (
            PROBE
            if pos[1] in ("ls", "list", "inspect", "logs", "show", "df", "info", "history", "ps")
            else CHANGE
        )
    return CHANGE


def _kubectl(args: Sequence[str]) -> Cls:
    g = _generic(args)
    if g or any(a.startswith("--dry-run") for a in args):
        return PROBE
    pos = _positionals(
        args,
        _S("-n --namespace -o --output -l --selector -c --container --context"),
    )
    if not pos:
        return PROBE
    if pos[0] in _S(
        """get describe logs explain version top diff api-resources api-versions cluster-info
        events"""
    ):
        return PROBE
    if (
        pos[0] == "config"
        and len(pos) > 1
        and pos[1] in ("view", "get-contexts", "current-context", "get-clusters")
    ):
        return PROBE
    if pos[0] == "auth" and len(pos) > 1 and pos[1] in ("can-i", "whoami"):
        return PROBE
    if pos[0] == "rollout" and len(pos) > 1 and pos[1] in ("status", "history"):
        return PROBE
    return CHANGE


def _helm(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] == "lint":
        return CHECK
    if pos and pos[0] in _S("list ls status get show template search history version env verify"):
        return PROBE
    if len(pos) > 1 and pos[0] in ("repo", "dependency", "plugin") and pos[1] in ("list", "ls"):
        return PROBE
    return _generic(args) or CHANGE


def _terraform(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if not pos:
        return _generic(args) or PROBE
    sub = pos[0]
    if sub == "validate":
        return CHECK
    if sub == "fmt":
        return CHECK if {"-check", "--check"} & set(args) else CHANGE
    if sub in ("plan", "show", "output", "version", "providers", "graph", "console"):
        return PROBE
    if sub == "state" and len(pos) > 1 and pos[1] in ("list", "show", "pull"):
        return PROBE
    return CHANGE


def _brew(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if not pos:
        return _generic(args) or PROBE
    if pos[0] in _S(
        """list ls info search config doctor deps uses leaves outdated desc cat log home --prefix
        --cellar shellenv commands services"""
    ) and not (pos[0] == "services" and len(pos) > 1 and pos[1] not in ("list", "info")):
        return PROBE
    if "--prefix" in args or "--cellar" in args or "--repository" in args:
        return PROBE
    return _generic(args) or CHANGE


def _apt(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in _S("list search show policy depends rdepends showsrc madison changelog"):
        return PROBE
    return _generic(args) or CHANGE


def _dnf(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in _S("list info search repolist provides check-update repoquery deplist history"):
        return PROBE
    return _generic(args) or CHANGE


def _dpkg(args: Sequence[str]) -> Cls:
    if _flags(args) & _S(
        """-l -L -s -S -p --list --status --listfiles --search --print-architecture --get-
        selections -c --contents -I --info --compare-versions"""
    ):
        return PROBE
    return CHANGE


def _rpm(args: Sequence[str]) -> Cls:
    return PROBE if any(a.startswith("-q") or a == "--query" for a in args) else CHANGE


def _systemctl(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if not pos or pos[0] in _S(
        """status show is-active is-enabled is-failed list-units list-unit-files list-timers list-
        sockets cat list-dependencies get-default help"""
    ):
        return PROBE
    return _generic(args) or CHANGE


def _launchctl(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in _S(
        """list print print-disabled blame procinfo version print-cache dumpstate managerpid
        manageruid getenv"""
    ):
        return PROBE
    return CHANGE


def _defaults(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in ("read", "read-type", "domains", "find", "help"):
        return PROBE
    return CHANGE


def _tar(args: Sequence[str]) -> Cls:
    first = args[0] if args else ""
    if first and not first.startswith("-") and "t" in first and "x" not in first and "c" not in first:
        return PROBE
    if "--list" in args or (_short(args, "t") and not (_short(args, "x") or _short(args, "c"))):
        return PROBE
    return CHANGE


def _unzip(args: Sequence[str]) -> Cls:
    return PROBE if {"-l", "-Z", "-t", "-v", "-p"} & set(args) or _short(args, "l") else CHANGE


def _openssl(args: Sequence[str]) -> Cls:
    return CHANGE if {"-out", "-keyout"} & set(args) or (args and args[0] == "genrsa") else PROBE


def _perl(args: Sequence[str]) -> Cls:
    if any(a.startswith("-i") or (a.startswith("-") and "i" in a[1:] and a[1:].isalpha()) for a in args):
        return CHANGE
    if any(a.startswith("-") and ("n" in a[1:] or "p" in a[1:]) and a[1:].isalpha() for a in args):
        return PROBE
    return _generic(args) or CHANGE


def _ip(args: Sequence[str]) -> Cls:
    return CHANGE if {"add", "del", "delete", "set", "flush", "change", "replace"} & set(args) else PROBE


def _plutil(args: Sequence[str]) -> Cls:
    return PROBE if {"-p", "-lint", "-help", "-extract"} & set(args) and "-o" not in args else CHANGE


def _sysctl(args: Sequence[str]) -> Cls:
    return CHANGE if "-w" in args or any("=" in a for a in args) else PROBE


def _tsc(args: Sequence[str]) -> Cls:
    if "--noEmit" in args or "--noemit" in args:
        return CHECK
    return _generic(args) or CHANGE


def _ruff(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    g = _generic(args)
    if g:
        return g
    if pos and pos[0] == "format":
        return CHECK if {"--check", "--diff"} & set(args) else CHANGE
    if pos and pos[0] in ("version", "rule", "config", "linter", "help"):
        return PROBE
    return (
        CHANGE
        if {"--fix", "--fix-only", "--unsafe-fixes"} & _flags(args) and "--no-fix" not in args
        else CHECK
    )


def _golangci(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    g = _generic(args)
    if g:
        return g
    if pos and pos[0] in ("version", "help", "linters", "completion"):
        return PROBE
    if pos and pos[0] == "fmt":
        return CHECK if {"-d", "--diff"} & set(args) else CHANGE
    return CHANGE if "--fix" in args else CHECK


def _check_or_write(
    check: frozenset[str], write: frozenset[str], default: Cls
) -> Callable[[Sequence[str]], Cls]:
    def rule(args: Sequence[str]) -> Cls:
        flags = _flags(args)
        if flags & write:
            return CHANGE
        if flags & check:
            return CHECK
        return _generic(args) or default

    return rule


def _biome(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if {"--write", "--apply", "--apply-unsafe", "--fix"} & _flags(args):
        return CHANGE
    if pos and pos[0] in ("check", "lint", "ci"):
        return CHECK
    if pos and pos[0] == "format":
        return PROBE
    return _generic(args) or CHANGE


def _deno(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if not pos:
        return _generic(args) or CHANGE
    if pos[0] in ("test", "lint", "check", "bench"):
        return CHECK
    if pos[0] == "fmt":
        return CHECK if "--check" in args else CHANGE
    if pos[0] in ("info", "doc", "types", "help"):
        return PROBE
    if pos[0] == "task":
        return _tasks(pos[1:2])
    return CHANGE


def _dotnet(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] == "test":
        return CHECK
    if pos and pos[0] == "format":
        return CHECK if "--verify-no-changes" in args else CHANGE
    if (pos and pos[0] in ("list", "--info", "help", "sdk")) or "--info" in args:
        return PROBE
    return _generic(args) or CHANGE


def _swift(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] == "test":
        return CHECK
    if (
        pos
        and pos[0] == "package"
        and len(pos) > 1
        and pos[1] in ("describe", "dump-package", "show-dependencies")
    ):
        return PROBE
    return _generic(args) or CHANGE


def _flutter(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in ("test", "analyze"):
        return CHECK
    if pos and pos[0] == "format":
        return CHECK if "--set-exit-if-changed" in args else CHANGE
    if pos and pos[0] in ("doctor", "devices", "--version", "info"):
        return PROBE
    return _generic(args) or CHANGE


def _mix(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in ("test", "credo", "dialyzer"):
        return CHECK
    if pos and pos[0] == "format":
        return CHECK if "--check-formatted" in args else CHANGE
    return _generic(args) or CHANGE


def _bazel(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in ("test", "coverage"):
        return CHECK
    if pos and pos[0] in ("query", "cquery", "aquery", "info", "version", "help"):
        return PROBE
    return CHANGE


def _pre_commit(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in ("install", "uninstall", "autoupdate", "clean", "gc", "install-hooks"):
        return CHANGE
    return CHECK if (pos and pos[0] in ("run",)) or not pos else _generic(args) or CHANGE


def _rustup(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if not pos or pos[0] in ("show", "which", "--version", "help", "doc"):
        return PROBE
    if len(pos) > 1 and pos[0] in ("toolchain", "target", "component") and pos[1] == "list":
        return PROBE
    return _generic(args) or CHANGE


def _gem(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in _S(
        "list search info env spec specification which contents query help outdated dependency"
    ):
        return PROBE
    return _generic(args) or CHANGE


def _conda(args: Sequence[str]) -> Cls:
    pos = _positionals(args)
    if pos and pos[0] in ("list", "info", "search", "config") and "--set" not in args and "--add" not in args:
        return PROBE
    if len(pos) > 1 and pos[0] == "env" and pos[1] in ("list", "export"):
        return PROBE
    return _generic(args) or CHANGE


def _probe_unless(*flags: str) -> Callable[[Sequence[str]], Cls]:
    def rule(args: Sequence[str]) -> Cls:
        return CHANGE if set(flags) & _flags(args) else PROBE

    return rule


def _const(c: Cls) -> Callable[[Sequence[str]], Cls]:
    def rule(args: Sequence[str]) -> Cls:
        return c

    return rule


_HANDLERS: dict[str, Callable[[Sequence[str]], Cls]] = {
    "sed": _sed,
    "gsed": _sed,
    "awk": _awk,
    "gawk": _awk,
    "mawk": _awk,
    "nawk": _awk,
    "find": _find,
    "gfind": _find,
    "xargs": _xargs,
    "tee": _tee,
    "sort": _sort,
    "yq": _yq,
    "sh": _shell,
    "bash": _shell,
    "zsh": _shell,
    "dash": _shell,
    "ksh": _shell,
    "fish": _shell,
    "source": _source,
    ".": _source,
    "curl": _curl,
    "wget": _wget,
    "git": _git,
    "gh": _gh,
    "go": _go,
    "gofmt": _gofmt,
    "goimports": _gofmt,
    "cargo": _cargo,
    "npm": lambda a: _npm_like(a, implicit_run=False),
    "pnpm": lambda a: _npm_like(a, implicit_run=True),
    "yarn": lambda a: _npm_like(a, implicit_run=True),
    "bun": _bun,
    "pip": _pip,
    "pip3": _pip,
    "uv": _uv,
    "poetry": _poetry,
    "pipenv": _poetry,
    "bundle": _bundle,
    "make": _make,
    "gmake": _make,
    "mise": _mise,
    "just": _just_like,
    "task": _just_like,
    "rake": _just_like,
    "invoke": _just_like,
    "inv": _just_like,
    "gradle": _gradle_like,
    "gradlew": _gradle_like,
    "mvn": _gradle_like,
    "mvnw": _gradle_like,
    "docker": _docker,
    "podman": _docker,
    "docker-compose": lambda a: _docker(["compose", *a]),
    "kubectl": _kubectl,
    "oc": _kubectl,
    "helm": _helm,
    "terraform": _terraform,
    "tofu": _terraform,
    "brew": _brew,
    "apt": _apt,
    "apt-cache": _const(PROBE),
    "apt-get": _apt,
    "dnf": _dnf,
    "yum": _dnf,
    "dpkg": _dpkg,
    "dpkg-query": _const(PROBE),
    "rpm": _rpm,
    "systemctl": _systemctl,
    "launchctl": _launchctl,
    "defaults": _defaults,
    "tar": _tar,
    "unzip": _unzip,
    "openssl": _openssl,
    "perl": _perl,
    "ip": _ip,
    "plutil": _plutil,
    "sysctl": _sysctl,
    "tsc": _tsc,
    "vue-tsc": _tsc,
    "ruff": _ruff,
    "golangci-lint": _golangci,
    "biome": _biome,
    "deno": _deno,
    "dotnet": _dotnet,
    "swift": _swift,
    "flutter": _flutter,
    "dart": _flutter,
    "mix": _mix,
    "bazel": _bazel,
    "bazelisk": _bazel,
    "pre-commit": _pre_commit,
    "rustup": _rustup,
    "gem": _gem,
    "conda": _conda,
    "mamba": _conda,
    "micromamba": _conda,
    "node": _node,
    "prettier": _check_or_write(
        frozenset({"--check", "-c", "--list-different", "-l"}), frozenset({"--write", "-w"}), PROBE
    ),
    "black": _check_or_write(frozenset({"--check", "--diff"}), frozenset(), CHANGE),
    "isort": _check_or_write(frozenset({"--check", "--check-only", "-c", "--diff"}), frozenset(), CHANGE),
    "autopep8": _check_or_write(frozenset({"--diff"}), frozenset({"-i", "--in-place"}), PROBE),
    "yapf": _check_or_write(frozenset({"--diff", "-d"}), frozenset({"-i", "--in-place"}), PROBE),
    "rustfmt": _check_or_write(frozenset({"--check"}), frozenset(), CHANGE),
    "clang-format": _check_or_write(frozenset({"--dry-run", "-n", "--Werror"}), frozenset({"-i"}), PROBE),
    "shfmt": _check_or_write(
        frozenset({"-d", "-l", "--diff", "--list"}), frozenset({"-w", "--write"}), PROBE
    ),
    "stylua": _check_or_write(frozenset({"--check"}), frozenset(), CHANGE),
    "swiftformat": _check_or_write(frozenset({"--lint"}), frozenset(), CHANGE),
    "sqlfluff": lambda a: CHECK if a and a[0] == "lint" else CHANGE,
    "taplo": lambda a: CHECK if "--check" in a or (a and a[0] in ("check", "lint")) else CHANGE,
    "dprint": lambda a: CHECK if a and a[0] == "check" else _generic(a) or CHANGE,
    "buf": lambda a: CHECK if a and a[0] in ("lint", "breaking") else _generic(a) or CHANGE,
    "mktemp": _const(PROBE),
    "iconv": _probe_unless("-o", "--output"),
    "kill": _const(CHANGE),
    "ctest": _const(CHECK),
    "meson": lambda a: CHECK if a and a[0] == "test" else CHANGE,
}

# wrappers that run another command; their own options before it
_WRAPPERS: dict[str, frozenset[str]] = {
    "sudo": frozenset({"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T"}),
    "doas": frozenset({"-u", "-C"}),
    "time": frozenset({"-f", "-o"}),
    "nice": frozenset({"-n"}),
    "nohup": frozenset(),
    "exec": frozenset({"-a"}),
    "builtin": frozenset(),
    "stdbuf": frozenset({"-i", "-o", "-e"}),
    "ionice": frozenset({"-c", "-n", "-p"}),
    "caffeinate": frozenset({"-t", "-w"}),
    "npx": frozenset({"-p", "--package", "-c", "--call"}),
    "bunx": frozenset({"-p", "--package"}),
    "pnpx": frozenset(),
    "uvx": frozenset({"--from", "--with", "--python", "-p"}),
    "pipx": frozenset(),
    "watch": frozenset({"-n", "-d", "--interval"}),
    "chronic": frozenset(),
    "dotenv": frozenset({"-e", "-f", "-v"}),
}


def _wrapped(args: Sequence[str], takes_value: frozenset[str]) -> Cls:
    rest = skip_options(args, takes_value)
    return classify_words(tuple(rest)) if rest else PROBE


def unwrap(words: Sequence[str]) -> tuple[str, ...]:
    """Drop `sudo`, `env A=b`, `time`, `timeout 5`... prefixes to reach the real program."""
    w = list(words)
    for _ in range(8):
        if not w:
            break
        b = _base(w[0])
        if b == "env":
            rest = w[1:]
            while rest and (rest[0].startswith("-") or _ASSIGN.match(rest[0])):
                rest = rest[2:] if rest[0] in ("-u", "-C", "-S") else rest[1:]
            w = rest
        elif b == "timeout" or b == "gtimeout":
            rest = skip_options(w[1:], frozenset({"-s", "-k", "--signal", "--kill-after"}))
            w = rest[1:]
        elif b == "command" and len(w) > 1 and w[1] not in ("-v", "-V"):
            w = skip_options(w[1:], frozenset())
        elif b in _WRAPPERS and b not in ("npx", "bunx", "pnpx", "uvx", "pipx", "dotenv"):
            w = skip_options(w[1:], _WRAPPERS[b])
        else:
            break
    return tuple(w)


@lru_cache(maxsize=1 << 14)
def classify_words(words: tuple[str, ...]) -> Cls:
    """Class one simple command given its words (no redirections)."""
    words = unwrap(words)
    if not words:
        return PROBE
    b = _base(words[0])
    args = words[1:]
    if b == "command":
        return PROBE
    if b in ("npx", "bunx", "pnpx", "uvx", "dotenv"):
        return _wrapped(args, _WRAPPERS[b])
    if b == "pipx":
        return (
            _wrapped(args[1:], frozenset({"--spec"}))
            if args[:1] == ["run"]
            else (PROBE if args[:1] == ["list"] else CHANGE)
        )
    if b == "eval":
        return classify(" ".join(args))
    if b.startswith("python") or b in ("pypy", "pypy3", "py"):
        return _python(args)
    handler = _HANDLERS.get(b)
    if handler is not None:
        return handler(args)
    if b in _PROBE_BINS:
        return PROBE
    if b in _TEST_BINS:
        return CHECK
    if b in _LINT_BINS:
        return _linter(args)
    if b.startswith("mkfs"):
        return CHANGE
    g = _generic(args)
    if g:
        return g
    if args and args[0] in ("status", "list", "ls", "show", "view", "info"):
        return PROBE
    return CHANGE


def _writes_file(s: Simple) -> bool:
    for op, target in s.redirects:
        writes = op in (">", ">>", ">|", "&>", "&>>", "<>") or op == ">&"
        if writes and target and not target.startswith(_QUIET_TARGETS):
            return True
    return False


def classify_simple(s: Simple) -> Cls:
    if _writes_file(s):
        return CHANGE
    if not s.words:
        return PROBE
    return classify_words(s.words)


@lru_cache(maxsize=1 << 16)
def classify(command: str) -> Cls:
    """`change` if any part may change the world, else `check` if any part is a verdict,
    else `probe`."""
    parsed = parse(command)
    return _combine(classify_simple(s) for s in parsed.commands)


# ---------------------------------------------------------------- risk, idempotence, intent

_INSTALL_SUBS = frozenset({"install", "i", "ci", "add", "sync", "get", "upgrade"})
_INTERPRETERS = frozenset(
    {"sh", "bash", "zsh", "dash", "ksh", "fish", "python", "python3", "perl", "ruby", "node"}
)
_RISK_ORDER = {"low": 0, "medium": 1, "high": 2}


def _risk_simple(s: Simple) -> Risk:
    for _op, target in s.redirects:
        if re.match(r"/dev/(sd|nvme|disk|hd|mmcblk|xvd)", target):
            return "high"
    w = list(s.words)
    if not w:
        return "low"
    if _base(w[0]) in ("sudo", "doas"):
        return "high"
    w = list(unwrap(w))
    if not w:
        return "low"
    b, args = _base(w[0]), w[1:]
    if b == "rm":
        return "high" if _short(args, "r") or _short(args, "R") or "--recursive" in args else "medium"
    if b in _S("dd shred fdisk parted wipefs shutdown reboot halt") or b.startswith("mkfs"):
        return "high"
    if b in ("chmod", "chown", "chgrp") and (_short(args, "R") or "--recursive" in args):
        return "high"
    if b == "git":
        sub, rest = git_split(args)
        if sub == "push":
            return "high"
        if (
            (sub == "reset" and "--hard" in rest)
            or sub in ("clean", "restore")
            or (sub == "checkout" and ("." in rest or "--" in rest or "-f" in rest))
            or (sub == "stash" and rest[:1] in (["drop"], ["clear"]))
            or (sub == "branch" and "-D" in rest)
            or sub == "rebase"
        ):
            return "medium"
        return "low"
    if b in ("docker", "podman", "docker-compose", "kubectl", "helm"):
        return "high" if b == "kubectl" and args[:1] == ["delete"] else "medium"
    if b in ("terraform", "tofu") and args[:1] in (["apply"], ["destroy"]):
        return "high"
    if b == "gh":
        if args[:2] in (["repo", "delete"], ["release", "delete"]):
            return "high"
        return "medium" if classify_words(tuple(w)) == CHANGE else "low"
    if b in _S(
        """npm pnpm yarn bun pip pip3 uv go cargo brew apt apt-get dnf yum apk pacman gem bundle
        pipx poetry composer conda mamba"""
    ):
        pos = _positionals(args)
        if (
            (pos and (pos[0] in _INSTALL_SUBS or (pos[0] == "pip" and pos[1:2] == ["install"])))
            or (b == "pacman" and any(a.startswith("-S") for a in args))
            or b == "npx"
        ):
            return "medium"
    if b in ("npx", "bunx", "pnpx", "uvx", "kill", "pkill", "killall"):
        return "medium"
    return "low"


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
            b = _base(w[0]) if w else ""
            if b in ("curl", "wget"):
                fetch = True
            elif fetch and (b in _INTERPRETERS or b.startswith("python")):
                return "high"
    return worst


def _idem_simple(words: tuple[str, ...]) -> Idem:
    w = unwrap(words)
    if not w:
        return "state"
    b, args = _base(w[0]), list(w[1:])
    if b == "mkdir":
        return "state" if _short(args, "p") or "--parents" in args else "none"
    if b == "ln":
        return "state" if _short(args, "f") or "--force" in args else "none"
    if b in ("chmod", "chown", "chgrp", "touch"):
        return "state"
    if b == "git":
        sub, rest = git_split(args)
        if sub == "config" or (sub == "remote" and rest[:1] == ["set-url"]):
            return "state"
        if sub in ("add", "fetch"):
            return "content"
        return "none"
    if b in ("brew", "apt", "apt-get", "dnf", "yum") and args[:1] == ["install"]:
        return "state"
    if (
        b in ("npm", "pnpm", "yarn", "bun", "pip", "pip3", "uv", "poetry", "bundle")
        and args[:1]
        and args[0] in ("install", "i", "ci", "sync", "add")
    ):
        return "content"
    if (b == "go" and args[:1] in (["get"], ["fmt"], ["generate"])) or (
        b == "go" and args[:2] in (["mod", "tidy"], ["mod", "download"])
    ):
        return "content"
    if b in _S(
        """cp rsync gofmt goimports prettier black isort rustfmt shfmt clang-format autopep8 yapf
        stylua"""
    ):
        return "content"
    if b in ("ruff", "cargo", "terraform", "dprint", "biome", "golangci-lint") and args[:1] in (
        ["format"],
        ["fmt"],
    ):
        return "content"
    if b in ("mise", "make", "just", "task", "npm", "pnpm", "yarn", "bun"):
        names = [a for a in args if not a.startswith("-") and a not in ("run", "r")]
        if names and all(
            set(re.split(r"[:\-_./]+", n.lower())) & {"fmt", "format", "tidy"} for n in names[:1]
        ):
            return "content"
    return "none"


@lru_cache(maxsize=1 << 14)
def idempotence(command: str) -> Idem:
    """`state`: running it twice equals once whatever happened between; `content`: equal
    only when nothing changed in between; `none`: running it again does something new."""
    result: Idem = "state"
    for s in parse(command).commands:
        if classify_simple(s) != CHANGE:
            continue
        if _writes_file(s):
            ops = {op for op, _ in s.redirects}
            if ">>" in ops or "&>>" in ops:
                return "none"
        i = _idem_simple(s.words) if s.words else "content"
        if i == "none":
            return "none"
        if i == "content":
            result = "content"
    return result


_NEUTRAL = _S("cd export set source . pushd popd unset local declare typeset true :")


@lru_cache(maxsize=1 << 14)
def intent_key(command: str) -> str:
    """The program and subcommand a command is about (`git commit`, `mise run fmt`), so a
    failed attempt can be matched with a later success."""
    for s in parse(command).commands:
        w = unwrap(s.words)
        if not w or _base(w[0]) in _NEUTRAL:
            continue
        b = _base(w[0])
        rest = list(w[1:])
        if b == "git":
            sub, rest = git_split(rest)
            return f"git {sub}"
        pos = [a for a in rest if not a.startswith("-")]
        key = [b, *pos[:1]]
        if pos[:1] in (["run"], ["exec"], ["x"], ["r"], ["mod"]) and len(pos) > 1:
            key.append(pos[1])
        return " ".join(key)
    return " ".join(command.split())
