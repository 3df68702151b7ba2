"""Find credentials in recorded text so the store and a playbook carry `${NAME}` in their place.

A signed playbook is shared and kept forever, and the run history sits on disk: a token that
slips into either cannot be taken back. So detection errs toward redacting, and every value found
anywhere is then removed everywhere. Values are known by format, by context (a secret-named
variable, a URL's userinfo, an Authorization header) and by the tool table `PASSWORD_ARGS`
(which option of which tool carries a password). To teach it a tool: add one record there.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from aionisd.shell import TOOLS, PasswordArgs

# (kind, suggested parameter name, pattern whose group "v" is the secret)
_PATTERNS: list[tuple[str, str, str]] = [
    (
        "private_key",
        "PRIVATE_KEY",
        r"(?P<v>-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE "
        r"KEY-----)",
    ),
    ("anthropic", "ANTHROPIC_API_KEY", r"(?<![\w-])(?P<v>sk-ant-[A-Za-z0-9_\-]{20,})"),
    (
        "openai",
        "OPENAI_API_KEY",
        r"(?<![\w-])(?P<v>sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,})",
    ),
    ("github", "GITHUB_TOKEN", r"(?<![\w])(?P<v>gh[pousr]_[A-Za-z0-9]{30,})"),
    ("github", "GITHUB_TOKEN", r"(?<![\w])(?P<v>github_pat_[A-Za-z0-9_]{22,})"),
    ("gitlab", "GITLAB_TOKEN", r"(?<![\w])(?P<v>glpat-[A-Za-z0-9_\-]{20,})"),
    ("npm", "NPM_TOKEN", r"(?<![\w])(?P<v>npm_[A-Za-z0-9]{36,})"),
    ("stripe", "STRIPE_SECRET_KEY", r"(?<![\w])(?P<v>[rs]k_(?:live|test)_[A-Za-z0-9]{16,})"),
    ("slack", "SLACK_TOKEN", r"(?<![\w])(?P<v>xox[baprs]-[A-Za-z0-9\-]{10,})"),
    (
        "aws_access_key_id",
        "AWS_ACCESS_KEY_ID",
        r"(?<![A-Z0-9])(?P<v>(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16})(?![A-Z0-9])",
    ),
    (
        "aws_secret_access_key",
        "AWS_SECRET_ACCESS_KEY",
        r"(?i:aws_?secret_?access_?key)[\"']?\s*[:=]\s*[\"']?(?P<v>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])",
    ),
]
# formats known only from their context: run on their own, so a token inside is still seen
_CONTEXT_PATTERNS: list[tuple[str, str, str]] = [
    (
        "bearer",
        "BEARER_TOKEN",
        r"(?i:authorization)[\"']?\s*[:=]\s*[\"']?(?i:bearer|token)\s+(?P<v>[A-Za-z0-9._~+/=\-]{8,})",
    ),
    (
        "basic_auth",
        "BASIC_AUTH",
        r"(?i:authorization)[\"']?\s*[:=]\s*[\"']?(?i:basic)\s+(?P<v>[A-Za-z0-9+/=]{8,})",
    ),
    (
        "url_password",
        "URL_PASSWORD",
        r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]*:(?P<v>[^\s:/@'\"$]+)@",
    ),
]
_CONTEXT = [(k, n, re.compile(p)) for k, n, p in _CONTEXT_PATTERNS]
_GENERIC_NAMES = frozenset(
    {
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "PWD",
        "KEY",
        "API_KEY",
        "APIKEY",
        "AUTH_TOKEN",
        "AUTHTOKEN",
        "ACCESS_TOKEN",
        "PRIVATE_KEY",
        "CREDENTIALS",
        "CREDENTIAL",
        "AUTH",
    }
)

_SECRET_NAME = re.compile(
    r"(TOKEN|SECRET|PASSW(?:OR)?D|PASSPHRASE|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIALS?|"
    r"AUTH_?KEY|CLIENT_?SECRET|SESSION_?KEY|SIGNING_?KEY|ENCRYPTION_?KEY|_PAT$|^PAT$|_PWD$)",
    re.IGNORECASE,
)
_NOT_SECRET_NAME = re.compile(
    r"(_URL|_URI|_PATH|_FILE|_DIR|_NAME|_HOST|_PORT|_TYPE|_ENDPOINT|_COUNT|_LIMIT|_TTL|_ENV|"
    r"_HEADER|_FIELD|_LENGTH|_SIZE|_MODE|_REGION|_ID|_EXPIRY|_EXPIRES)$|^(MAX|MIN)_|TOKENS$"
    r"|^OLDPWD$|^PWD$",
    re.IGNORECASE,
)
# `export NAME=value`, `NAME=value` (shell), `NAME: value` / `"NAME": "value"` (YAML, JSON)
_NAME_HINTS = ("token", "secret", "passw", "passphrase", "key", "credential", "pat", "pwd")  # of _SECRET_NAME
_SHELL_ASSIGN = re.compile(
    r"(?<![\w$.])(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?:'(?P<sq>[^'\n]*)'|\"(?P<dq>[^\"\n]*)\""
    r"|(?P<bare>[^\s;&|'\"`()<>]+))"
)
_KEY_VALUE = re.compile(
    r"(?P<q>[\"']?)(?<![A-Za-z0-9_])(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)(?P=q)\s*[:=]\s*(?:\"(?P<dq>[^\"\n]*)\""
    r"|'(?P<sq>[^'\n]*)'|(?P<bare>[^\s,;#\"'{}\[\]()]+))"
)
# Each format's match begins at a literal it always holds (less `back` chars), so one pass of
# a literal-only regex over the lowered text finds every place worth a closer look: a regex
# alternation with look-behinds and classes, run over long output, is 20x slower.
# literal (lower case) -> [(pattern index, back)], in `_PATTERNS` order (first match wins)
_FORMAT_AT: dict[str, list[tuple[int, int]]] = {
    "begin": [(0, 5)],
    "sk-": [(1, 0), (2, 0)],
    **{lit: [(3, 0)] for lit in ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")},
    "github_pat_": [(4, 0)],
    "glpat-": [(5, 0)],
    "npm_": [(6, 0)],
    "k_live_": [(7, 1)],
    "k_test_": [(7, 1)],
    "xox": [(8, 0)],
    **{lit: [(9, 0)] for lit in ("akia", "asia", "agpa", "aida", "aroa", "anpa", "anva", "aipa")},
    "aws": [(10, 0)],
}
_COMPILED = [re.compile(p) for _, _, p in _PATTERNS]
_CONTEXT_AT = {"authorization": ("bearer", "basic_auth"), "://": ("url_password",)}
_PLACEHOLDER = re.compile(
    r"^(\$|<|\{|%|\*{3}|x{4,}|X{4,}|\.\.\.|changeme|your[_-]|example|redacted|none$|null$|"
    r"true$|false$|test$|\d+$)",
    re.IGNORECASE,
)
MIN_GLOBAL = 8  # shorter values are replaced only where they were found, never everywhere


@dataclass(frozen=True, slots=True)
class Match:
    kind: str
    value: str
    start: int
    end: int
    name: str = ""


# ---------------------------------------------------------------- passwords on command lines


PASSWORD_ARGS: dict[str, PasswordArgs] = {n: t.password for t in TOOLS if t.password for n in t.names}
_TOOL_NAME = re.compile("|".join(map(re.escape, sorted(PASSWORD_ARGS, key=len, reverse=True))))
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def _names_a_tool(text: str) -> bool:
    """Does a tool of the table appear as a word? (Literals first: a leading look-behind would
    make the regex try every position of a long output.)"""
    for m in _TOOL_NAME.finditer(text):
        a, b = m.start(), m.end()
        if (a == 0 or text[a - 1] not in _NAME_CHARS) and (b == len(text) or text[b] not in _NAME_CHARS):
            return True
    return False


_SHELL_TOKEN = re.compile(
    r"""(?P<sep>&&|\|\||;;|\|&|[;&|()\n])
    |(?P<redir>\d*(?:&>>|&>|>>|>&|<&|<<<|<<-|<<|<>|>\||[<>]))
    |(?P<ws>[ \t\r]+|\\\n)
    |(?P<sq>'[^']*')
    |(?P<dq>"(?:[^"\\]|\\.)*")
    |(?P<esc>\\.)
    |(?P<plain>[^\s'"\\;&|()<>]+)
    |(?P<other>.)""",
    re.X | re.S,
)
_DQ_ESCAPABLE = frozenset('$`"\\\n')


@dataclass(slots=True)
class _Word:
    """One shell word: its characters with quotes removed, each with its span in the text and
    the quoted piece it came from (pieces: (start, end) including their quotes)."""

    chars: list[str] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)
    piece: list[int] = field(default_factory=list)
    pieces: list[tuple[int, int]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.chars)

    def add(self, c: str, span: tuple[int, int], piece: tuple[int, int], new_piece: bool) -> None:
        if new_piece or not self.pieces:
            self.pieces.append(piece)
        else:
            self.pieces[-1] = (self.pieces[-1][0], piece[1])
        self.chars.append(c)
        self.spans.append(span)
        self.piece.append(len(self.pieces) - 1)


def _simple_commands(text: str) -> Iterator[list[_Word]]:
    """Words of each simple command, with where each character sits (redirect targets and
    comments left out): enough shell to find an option's value and redact only that."""
    words: list[_Word] = []
    word: _Word | None = None
    quoted_last = False
    skip_target = False
    pos, n = 0, len(text)
    while pos < n:
        m = _SHELL_TOKEN.match(text, pos)
        assert m is not None  # `other` matches any character
        kind, piece, start = m.lastgroup, m.group(0), m.start()
        pos = m.end()
        if kind in ("sep", "redir", "ws"):
            if word is not None:
                if skip_target:
                    skip_target = False
                else:
                    words.append(word)
                word = None
            if kind == "redir":
                skip_target = True
            elif kind == "sep":
                if words:
                    yield words
                words, skip_target = [], False
            continue
        if word is None:
            if kind == "plain" and piece.startswith("#"):
                nl = text.find("\n", pos)
                pos = n if nl < 0 else nl
                continue
            word, quoted_last = _Word(), True
        span = (start, pos)
        if kind == "sq":
            for i in range(start + 1, pos - 1):
                word.add(text[i], (i, i + 1), span, i == start + 1)
            quoted_last = True
        elif kind == "dq":
            i, first = start + 1, True
            while i < pos - 1:
                step = 2 if text[i] == "\\" and text[i + 1] in _DQ_ESCAPABLE else 1
                word.add(text[i + step - 1], (i, i + step), span, first)
                i, first = i + step, False
            quoted_last = True
        else:
            c = piece[1:] if kind == "esc" else piece
            for j, ch in enumerate(c):
                at = start + (1 if kind == "esc" else j)
                word.add(ch, (start if kind == "esc" else at, at + 1), span, quoted_last and j == 0)
            quoted_last = False
    if word is not None and not skip_target:
        words.append(word)
    if words:
        yield words


def _password_at(args: list[_Word], rec: PasswordArgs) -> Iterator[tuple[_Word, int]]:
    """(word, index of the password's first character) for each password `args` give a tool."""
    if rec.subcommand:
        texts = [w.text for w in args]
        if rec.subcommand not in texts:
            return
        args = args[texts.index(rec.subcommand) + 1 :]
    pending = False
    batch = False
    positional: list[_Word] = []
    for w in args:
        t = w.text
        if pending:
            pending = False
            if not t.startswith("-"):
                yield w, 0
                continue
        if t in rec.spaced:
            pending = True
            continue
        opt, eq, _ = t.partition("=")
        if eq and opt.startswith("--") and (opt in rec.equals or opt in rec.spaced):
            yield w, len(opt) + 1
            continue
        glued = next((g for g in rec.glued if t.startswith(g) and len(t) > len(g)), None)
        if glued is not None and not t.startswith("--"):
            yield w, len(glued)
            continue
        if t.startswith("-") and not t.startswith("--"):
            batch = batch or (bool(rec.last_arg_with) and rec.last_arg_with in t[1:])
        elif not t.startswith("-"):
            positional.append(w)
    if batch and positional:
        yield positional[-1], 0


def _password_args(text: str) -> Iterator[Match]:
    """Passwords given to the tools of `PASSWORD_ARGS`, wherever a command line names one."""
    if not _names_a_tool(text):
        return
    for words in _simple_commands(text):
        for i, w in enumerate(words):
            rec = PASSWORD_ARGS.get(w.text.rsplit("/", 1)[-1])
            if rec is None:
                continue
            for word, k in _password_at(words[i + 1 :], rec):
                if rec.after:
                    at = word.text.find(rec.after, k)
                    if at < 0:
                        continue
                    k = at + len(rec.after)
                value = word.text[k:]
                if value and not value.startswith("$") and "${" not in value:
                    yield from _segments(text, word, k, rec.name)


def _segments(text: str, w: _Word, k: int, name: str) -> Iterator[Match]:
    """Spans that hold the characters of `w` from `k` on, so replacing them keeps the quoting."""
    first, last = w.piece[k], w.piece[-1]
    if first == last:
        spans = [(w.spans[k][0], w.spans[-1][1])]
    elif k == 0 or w.piece[k - 1] != first:  # the value is whole pieces: replace them quotes and all
        spans = [(w.pieces[first][0], w.pieces[last][1])]
    else:  # it starts inside a quoted piece: each piece's share, inside its quotes
        spans = []
        for p in range(first, last + 1):
            idx = [i for i in range(k, len(w.chars)) if w.piece[i] == p]
            spans.append((w.spans[idx[0]][0], w.spans[idx[-1]][1]))
    for a, b in spans:
        yield Match("password", text[a:b], a, b, name)


def _name_is_secret(name: str) -> bool:
    return bool(_SECRET_NAME.search(name)) and not _NOT_SECRET_NAME.search(name)


def _value_ok(value: str, min_len: int) -> bool:
    return len(value) >= min_len and not _PLACEHOLDER.match(value) and "${" not in value


def find_secrets(text: str, *, output: bool = False) -> list[Match]:
    """Every credential-looking value in `text`, left to right, without overlaps."""
    return list(_matches(text, output)) if text else []


_CACHED_LEN = 1024  # commands repeat and are short; outputs are neither, and would fill the cache


def _matches(text: str, output: bool = False) -> tuple[Match, ...]:
    """`output`: a command's output, where password options are not read (a value a command
    line passed is removed from its output by the run's Vault, which has seen the command)."""
    return _find(text, output) if len(text) <= _CACHED_LEN else _scan(text, output)


def _scan(text: str, output: bool = False) -> tuple[Match, ...]:
    found: list[tuple[Match, int]] = []  # rank: 0 format, 1 context or named variable, 2 other
    low = _lower(text)
    starts: list[tuple[int, int]] = []
    contexts: dict[str, list[tuple[int, int]]] = {}
    lines: list[tuple[int, int]] = []  # where a secret-named variable may be: lines with a hint
    end = -1
    for t in _TRIGGER.finditer(low):
        lit, k = t.group(), t.start()
        for i, back in _FORMAT_AT.get(lit, ()):
            starts.append((max(0, k - back), i))
        if k >= end:
            start = text.rfind("\n", 0, k) + 1
            end = text.find("\n", k)
            end = len(text) if end < 0 else end
            lines.append((start, end))
        for kind in _CONTEXT_AT.get(lit, ()):
            spans = contexts.setdefault(kind, [])
            if not spans or spans[-1] != lines[-1]:
                spans.append(lines[-1])
    found.extend((m, 0) for m in _formats(text, starts))
    for kind, name, pattern in _CONTEXT:
        for a, b in contexts.get(kind, ()):
            for m in pattern.finditer(text, a, b):
                found.append((Match(kind, m.group("v"), m.start("v"), m.end("v"), name), 1))
    if not output:
        found.extend((m, 1) for m in _password_args(text))
    for a, b in lines:
        for m in _SHELL_ASSIGN.finditer(text, a, b) if "=" in text[a:b] else ():
            _assignment(m, found, 4)
        for m in _KEY_VALUE.finditer(text, a, b):
            if not _name_is_secret(_key_of(m)):
                continue
            if m.group("dq") is not None or m.group("sq") is not None:
                _assignment(m, found, 8)
            elif (
                m.group("q") == ""
                and ":" in text[m.end("name") : m.start("bare")]
                and _looks_random(m.group("bare"))
            ):
                _assignment(m, found, 12)
    return tuple(_merge(text, found))


def _trie(words: Iterable[str]) -> str:
    """A regex matching any of `words`, longest first, as a trie of shared prefixes: twice as
    fast over long text as a flat alternation, which tries every word at every position."""
    root: dict[str, Any] = {}
    for w in words:
        node = root
        for c in w:
            node = node.setdefault(c, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        alts = [re.escape(c) + emit(sub) for c, sub in sorted(node.items()) if c]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 and "" not in node else "(?:" + "|".join(alts) + ")"
        return body + ("?" if "" in node else "")

    return emit(root)


# Every literal worth a look.
_TRIGGER = re.compile(_trie({*_FORMAT_AT, *_CONTEXT_AT, *_NAME_HINTS}))


def _lower(text: str) -> str:
    """`text` in lower case, position for position (a character whose lower case is longer,
    like 'İ', stays as it is, so offsets found in the result hold in `text`)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def _formats(text: str, starts: list[tuple[int, int]]) -> Iterator[Match]:
    """The token formats that match at `starts`, left to right; at one place the first pattern
    of `_PATTERNS` wins, and a match is never searched inside another."""
    end = -1
    for pos, i in sorted(starts):
        if pos < end:
            continue
        m = _COMPILED[i].match(text, pos)
        if m is not None:
            kind, name, _ = _PATTERNS[i]
            end = m.end()
            yield Match(kind, m.group("v"), m.start("v"), m.end("v"), name)


def _key_of(m: re.Match[str]) -> str:
    return m.group("name").rsplit(".", 1)[-1].replace("-", "_")


_find = lru_cache(maxsize=1 << 14)(_scan)


def _looks_random(value: str) -> bool:
    """A bare YAML-ish value is a secret only if it is not an identifier or expression."""
    return (
        any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
        and not re.fullmatch(r"[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*(?:\(\))?", value)
    )


def _assignment(m: re.Match[str], found: list[tuple[Match, int]], min_len: int) -> None:
    key = _key_of(m)
    if not _name_is_secret(key):
        return
    for g in ("sq", "dq", "bare"):
        v = m.group(g)
        if v is not None:
            if _value_ok(v, min_len):
                env_name = re.sub(r"[^A-Za-z0-9_]", "_", key).upper()
                # an UPPER_CASE variable with a qualifier names the secret better than its format
                strong = key == key.upper() and env_name.strip("_") not in _GENERIC_NAMES
                found.append((Match("variable", v, m.start(g), m.end(g), env_name), 2 - strong))
            return


def _merge(text: str, found: list[tuple[Match, int]]) -> list[Match]:
    """One match per overlapping cluster: the union of their spans, the most specific kind,
    and the best name (a qualified variable name, else the format's, else the variable's)."""
    found.sort(key=lambda f: (f[0].start, -f[0].end))
    clusters: list[list[tuple[Match, int]]] = []
    end = -1
    for f in found:
        if clusters and f[0].start < end:
            clusters[-1].append(f)
            end = max(end, f[0].end)
        else:
            clusters.append([f])
            end = f[0].end
    out: list[Match] = []
    for c in clusters:
        start, stop = min(f[0].start for f in c), max(f[0].end for f in c)
        by_rank = sorted(c, key=lambda f: f[1])
        kind = by_rank[0][0].kind
        named = next((f for f in c if f[1] == 1 and f[0].kind == "variable"), by_rank[0])
        out.append(Match(kind, text[start:stop], start, stop, named[0].name))
    return out


def redact(text: str, matches: list[Match] | None = None, names: dict[str, str] | None = None) -> str:
    """Replace each secret in `text` by `${NAME}` (names: value -> parameter name)."""
    if matches is None:
        matches = find_secrets(text)
    if not matches:
        return text
    parts: list[str] = []
    pos = 0
    for m in sorted(matches, key=lambda x: x.start):
        if m.start < pos:
            continue
        name = (names or {}).get(m.value, m.name or m.kind.upper())
        parts.append(text[pos : m.start])
        parts.append("${" + name + "}")
        pos = m.end
    parts.append(text[pos:])
    return "".join(parts)


@dataclass
class Vault:
    """Names each distinct secret of a run once; `collect` every text first, then `redact`,
    so a value detected in one place is removed from every other place too (ingest, seeing a
    run a batch at a time, removes what it has seen so far)."""

    names: dict[str, str] = field(default_factory=dict)  # value -> NAME, discovery order
    kinds: dict[str, str] = field(default_factory=dict)  # value -> kind
    key: bytes = b""  # the install's key: with it, a value fingerprinted before keeps its name
    prints: dict[str, str] = field(default_factory=dict)  # fingerprint -> NAME
    _taken: set[str] = field(default_factory=set)
    _pattern: re.Pattern[str] | None = None
    _stale: bool = True

    def reserve(self, name: str) -> None:
        """A name already used by another parameter."""
        self._taken.add(name)

    def remember(self, name: str, print_: str) -> None:
        """A secret named earlier (in another batch), known only by its fingerprint."""
        self.prints[print_] = name
        self._taken.add(name)

    def collect(self, text: str) -> None:
        if text:
            self._collect(_matches(text))

    def _collect(self, matches: tuple[Match, ...]) -> None:
        for m in matches:
            if m.value not in self.names:
                self.names[m.value] = self._name(m.value, m.name or m.kind.upper())
                self.kinds[m.value] = m.kind
                self._stale = True

    def _name(self, value: str, base: str) -> str:
        if not self.key:
            return self._fresh(base)
        fp = fingerprint(self.key, value)
        if fp not in self.prints:
            self.prints[fp] = self._fresh(base)
        return self.prints[fp]

    def _fresh(self, base: str) -> str:
        name, n = base, 2
        while name in self._taken:
            name = f"{base}_{n}"
            n += 1
        self._taken.add(name)
        return name

    def redact(self, text: str, *, output: bool = False) -> str:
        """`text` with every secret seen so far replaced by its `${NAME}`."""
        if not text:
            return text
        matches = _matches(text, output)
        if matches:
            self._collect(matches)
            text = redact(text, list(matches), self.names)
        if not self.names:
            return text
        if self._stale:
            longs = sorted((v for v in self.names if len(v) >= MIN_GLOBAL), key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, longs))) if longs else None
            self._stale = False
        if self._pattern is not None:
            text = self._pattern.sub(lambda m: "${" + self.names[m.group(0)] + "}", text)
        return text

    def leaks(self, blob: str) -> list[str]:
        """Names of secrets whose value still appears in `blob`."""
        return [n for v, n in self.names.items() if v in blob]


KEY_FILE = "redaction.key"


@lru_cache(maxsize=8)
def install_key(directory: Path) -> bytes:
    """This install's random HMAC key, 0600 in `directory` (beside the database, never in it),
    made on first use: it keys the fingerprints that tell recorded secrets apart."""
    path = directory / KEY_FILE
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = directory / f".{KEY_FILE}.{os.urandom(6).hex()}"
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            os.write(fd, os.urandom(32))
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic: a concurrent first use keeps whichever key won
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = path.read_bytes()
    if len(key) < 16:
        raise ValueError(f"{path} is not a redaction key (too short); remove it to make a new one")
    return key


def fingerprint(key: bytes, value: str) -> str:
    """A short keyed hash of a secret: equal for equal values, useless without the key."""
    return hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:16]
