"""What a command module gets: one way to declare its subcommands and one way to call the daemon.

Each module under aionisd.cli has `register(commands: Commands) -> None` and handler functions
`(args) -> exit code`; `aionisd.cli` lists the modules explicitly.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from aionisd.cli.output import EXIT_USAGE, CliError
from aionisd.client import Client

Handler = Callable[[argparse.Namespace], int]

# Work that grows with its input waits as long as it takes; everything else answers in 30 s.
LONG = {"ingest", "playbooks.compile", "playbooks.import", "reviews.decide", "repairs.propose"}


class Commands:
    """Adds subcommands that take the global options (--json, --socket) before or after their name."""

    def __init__(
        self, sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
    ) -> None:
        self._sub = sub
        self._common = common

    def add(self, name: str, fn: Handler, help: str) -> argparse.ArgumentParser:
        """A subcommand run by `fn`; the caller adds its arguments to the parser returned."""
        p = self._sub.add_parser(name, help=help, description=help, parents=[self._common])
        p.set_defaults(fn=fn)
        return p

    def group(
        self, name: str, help: str, metavar: str = "SUBCOMMAND", alone: Handler | None = None
    ) -> Commands:
        """A noun with subcommands (`aionis run show ID`); alone it runs `alone`, by default
        printing its help (exit 2)."""
        p = self._sub.add_parser(name, help=help, description=help, parents=[self._common])

        def show_help(_: argparse.Namespace) -> int:
            p.print_help()
            return EXIT_USAGE

        p.set_defaults(fn=alone or show_help)
        return Commands(p.add_subparsers(metavar=metavar), self._common)


def connect(args: argparse.Namespace, **kw: Any) -> Client:
    """A client of the daemon on --socket (default: the usual socket)."""
    return Client(args.socket, **kw)


def call(args: argparse.Namespace, method: str, /, **params: Any) -> Any:
    """One call; parameters left as None are not sent, so the daemon's defaults apply."""
    with connect(args, timeout=None if method in LONG else 30.0) as c:
        return c.call(method, **{k: v for k, v in params.items() if v is not None})


def assignments(pairs: list[str] | None, what: str) -> dict[str, str] | None:
    """Repeated NAME=VALUE options as a dict (None when there are none)."""
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        k, sep, v = pair.partition("=")
        if not sep or not k:
            raise CliError(f"{what} must be NAME=VALUE, got {pair!r}")
        out[k] = v
    return out
