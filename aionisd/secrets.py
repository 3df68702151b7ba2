"""Find credentials in recorded text so a playbook can carry `${NAME}` in their place.

A signed playbook is shared and kept forever: a token that slips into it cannot be taken back.
So detection errs toward redacting, and every value found anywhere is then removed everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

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
        r"\b[a-z][a-z0-9+.\-]*://[^\s:/@'\"]+:(?P<v>[^\s:/@'\"$]{6,})@",
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
_SHELL_ASSIGN = re.compile(
    r"(?<![\w$.])(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?:'(?P<sq>[^'\n]*)'|\"(?P<dq>[^\"\n]*)\""
    r"|(?P<bare>[^\s;&|'\"`()<>]+))"
)
_KEY_VALUE = re.compile(
    r"(?P<q>[\"']?)(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)(?P=q)\s*[:=]\s*(?:\"(?P<dq>[^\"\n]*)\""
    r"|'(?P<sq>[^'\n]*)'|(?P<bare>[^\s,;#\"'{}\[\]()]+))"
)
_COMBINED = re.compile(
    "|".join(f"(?P<p{i}>{p.replace('(?P<v>', f'(?P<v{i}>')})" for i, (_, _, p) in enumerate(_PATTERNS))
)
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


def _name_is_secret(name: str) -> bool:
    return bool(_SECRET_NAME.search(name)) and not _NOT_SECRET_NAME.search(name)


def _value_ok(value: str, min_len: int) -> bool:
    return len(value) >= min_len and not _PLACEHOLDER.match(value) and "${" not in value


def find_secrets(text: str) -> list[Match]:
    """Every credential-looking value in `text`, left to right, without overlaps."""
    return list(_find(text)) if text else []


@lru_cache(maxsize=1 << 14)
def _find(text: str) -> tuple[Match, ...]:
    found: list[tuple[Match, int]] = []  # rank: 0 format, 1 context or named variable, 2 other
    for m in _COMBINED.finditer(text):
        i = int((m.lastgroup or "p0")[1:])
        kind, name, _ = _PATTERNS[i]
        found.append((Match(kind, m.group(f"v{i}"), m.start(f"v{i}"), m.end(f"v{i}"), name), 0))
    for kind, name, pattern in _CONTEXT:
        for m in pattern.finditer(text):
            found.append((Match(kind, m.group("v"), m.start("v"), m.end("v"), name), 1))
    if "=" in text:
        for m in _SHELL_ASSIGN.finditer(text):
            _assignment(m, found, 4)
    if ":" in text or "=" in text:
        for m in _KEY_VALUE.finditer(text):
            if m.group("dq") is not None or m.group("sq") is not None:
                _assignment(m, found, 8)
            elif (
                m.group("q") == ""
                and ":" in text[m.end("name") : m.start("bare")]
                and _looks_random(m.group("bare"))
            ):
                _assignment(m, found, 12)
    return tuple(_merge(text, found))


def _looks_random(value: str) -> bool:
    """A bare YAML-ish value is a secret only if it is not an identifier or expression."""
    return (
        any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
        and not re.fullmatch(r"[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*(?:\(\))?", value)
    )


def _assignment(m: re.Match[str], found: list[tuple[Match, int]], min_len: int) -> None:
    key = m.group("name").rsplit(".", 1)[-1].replace("-", "_")
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
    so a value detected in one place is removed from every other place too."""

    names: dict[str, str] = field(default_factory=dict)  # value -> NAME, discovery order
    kinds: dict[str, str] = field(default_factory=dict)  # value -> kind
    _taken: set[str] = field(default_factory=set)
    _pattern: re.Pattern[str] | None = None
    _stale: bool = True

    def reserve(self, name: str) -> None:
        """A name already used by another parameter."""
        self._taken.add(name)

    def collect(self, text: str) -> None:
        if not text:
            return
        for m in _find(text):
            if m.value not in self.names:
                self.names[m.value] = self._fresh(m.name or m.kind.upper())
                self.kinds[m.value] = m.kind
                self._stale = True

    def _fresh(self, base: str) -> str:
        name, n = base, 2
        while name in self._taken:
            name = f"{base}_{n}"
            n += 1
        self._taken.add(name)
        return name

    def redact(self, text: str) -> str:
        """`text` with every secret seen so far replaced by its `${NAME}`."""
        if not text or not self.names:
            return text
        matches = _find(text)
        if matches:
            self.collect(text)
            text = redact(text, list(matches), self.names)
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
