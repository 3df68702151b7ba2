"""What every command prints the same way: JSON with --json, tables, one-line errors on stderr and
the exit codes scripts rely on (1 a failure, 2 no daemon or a usage error)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

EXIT_FAIL = 1
EXIT_NO_DAEMON = 2
EXIT_USAGE = 2

# One glyph per step status, for runs and replays alike.
MARK = {
    "succeeded": "✓",
    "failed": "✗",
    "skipped": "↷",
    "not_run": "·",
    "running": "…",
    "cancelled": "⊘",
}


class CliError(Exception):
    """A user-facing failure: `main` prints its message as one line and exits with its code."""

    def __init__(self, message: str, code: int = EXIT_FAIL) -> None:
        super().__init__(message)
        self.code = code


def error(message: str) -> None:
    """One line on stderr, prefixed so that it reads as ours among an agent's output."""
    print(f"aionis: {message}", file=sys.stderr)


def emit(args: argparse.Namespace, result: Any, human: Callable[[Any], str] | None = None) -> None:
    """The result as JSON (with --json, or when there is no human form), else its human text."""
    if args.json or human is None:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        text = human(result)
        if text:
            print(text)


def table(rows: list[list[str]], header: list[str]) -> str:
    """Left-aligned columns as wide as their widest cell; empty when there are no rows."""
    if not rows:
        return ""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*map(str, r)).rstrip() for r in [header, *rows])


def trim(s: str | None, n: int) -> str:
    """One line of at most n characters, so that a table row stays a row."""
    s = (s or "").replace("\n", " ")
    return s if len(s) <= n else s[: n - 1] + "…"
