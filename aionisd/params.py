"""Turn recorded machine-specific literals (the run's cwd, the user's home, chosen values) into
`${name}` parameters, so a playbook replays in another directory, on another machine."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from typing import Any

WORKDIR = "workdir"
HOME = "home"
RESERVED = frozenset({WORKDIR, HOME})
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HOME_RE = re.compile(r"^(/Users/[^/]+|/home/[^/]+|/root)(?=/|$)")
_PATH_AFTER = r"(?![A-Za-z0-9_.\-])"  # `/home/x/proj` must not match inside `/home/x/project`
_PATH_BEFORE = r"(?<![A-Za-z0-9_.\-/])"


def infer_home(cwd: str | None) -> str | None:
    """The home directory a recorded path lives under (/Users/x, /home/x, /root), if any."""
    if not cwd:
        return None
    m = _HOME_RE.match(cwd)
    return m.group(1) if m else None


def norm(path: str) -> str:
    p = posixpath.normpath(path)
    return "/" + p.lstrip("/") if p.startswith("//") else p


class Substituter:
    """Replaces every literal by its `${name}`, the longest literal first, in one pass."""

    def __init__(self, workdir: str | None, home: str | None, literals: Mapping[str, str]) -> None:
        for name, lit in literals.items():
            if not NAME_RE.fullmatch(name):
                raise ValueError(f"bad parameter name {name!r}: use letters, digits and _")
            if name in RESERVED:
                raise ValueError(f"parameter name {name!r} is reserved")
            if not lit:
                raise ValueError(f"parameter {name!r} has an empty value")
        self.workdir = norm(workdir) if workdir else None
        self.home = norm(home) if home else None
        entries: list[tuple[str, str, bool]] = [(lit, name, False) for name, lit in literals.items()]
        for name, path in ((WORKDIR, self.workdir), (HOME, self.home)):
            if path and path != "/":
                entries.append((path, name, True))
        entries.sort(key=lambda e: (-len(e[0]), e[1]))
        self._names: dict[str, str] = {}
        alts: list[str] = []
        for i, (lit, name, is_path) in enumerate(entries):
            group = f"g{i}"
            self._names[group] = name
            body = re.escape(lit)
            alts.append(
                f"(?P<{group}>{_PATH_BEFORE}{body}{_PATH_AFTER})" if is_path else f"(?P<{group}>{body})"
            )
        self._re = re.compile("|".join(alts)) if alts else None
        self._firsts = frozenset(e[0][0] for e in entries)

    def __call__(self, text: str) -> str:
        if self._re is None or not text or not any(c in text for c in self._firsts):
            return text
        return self._re.sub(lambda m: "${" + self._names[m.lastgroup or ""] + "}", text)

    def resolve(self, path: str, cwd: str | None) -> str:
        """A recorded path made absolute (against the step's cwd) and normalised."""
        if path.startswith("~/") and self.home:
            path = self.home + path[1:]
        elif not path.startswith("/"):
            path = posixpath.join(cwd or self.workdir or "/", path)
        return norm(path)

    def under(self, raw_abs: str) -> bool:
        """Is this absolute path inside the workdir or the home (so it travels with them)?"""
        return any(
            base and (raw_abs == base or raw_abs.startswith(base.rstrip("/") + "/"))
            for base in (self.workdir, self.home)
        )


def walk_strings(value: Any, fn: Callable[[str], str]) -> Any:
    """Apply `fn` to every string inside plain JSON data (keys untouched). Iterative: a hostile
    log may nest deeper than Python's recursion limit, and ingest must not fail on it."""
    if isinstance(value, str):
        return fn(value)
    if not isinstance(value, dict | list | tuple):
        return value
    root: Any = {} if isinstance(value, dict) else []
    stack: list[tuple[Any, Any]] = [(value, root)]
    while stack:
        src, dst = stack.pop()
        items = src.items() if isinstance(src, dict) else enumerate(src)
        for k, v in items:
            if isinstance(v, str):
                out: Any = fn(v)
            elif isinstance(v, dict | list | tuple):
                out = {} if isinstance(v, dict) else []
                stack.append((v, out))
            else:
                out = v
            if isinstance(dst, dict):
                dst[k] = out
            else:
                dst.append(out)
    return root


def strings_in(value: Any) -> list[str]:
    """Every string inside plain JSON data, depth first (iteratively, like `walk_strings`)."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            stack.extend(reversed(list(v.values())))
        elif isinstance(v, list | tuple):
            stack.extend(reversed(v))
    return out
