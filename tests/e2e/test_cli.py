"""The command line's shape: global options work wherever a user puts them, every command module
is registered, and a noun alone shows its help."""

from __future__ import annotations

import argparse
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aionisd.cli import build_parser, main
from tests.conftest import Daemon, Xdg, aionis


def _leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every runnable command path (`run show`, `status`, ...) with its parser."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    out = [(path, parser)] if path else []
    for sub in subs:
        for name, child in sub.choices.items():
            out += _leaves(child, (*path, name))
    return out


def _required(parser: argparse.ArgumentParser) -> list[str]:
    """The fewest arguments that parse: each required positional and option, one valid value each."""
    argv: list[str] = []
    for a in parser._actions:
        value = str(next(iter(a.choices))) if a.choices else "1"
        if not a.option_strings and a.nargs not in ("?", "*", argparse.PARSER):
            argv.append(value)
        elif a.option_strings and a.required:
            argv += [a.option_strings[0], value]
    for g in parser._mutually_exclusive_groups:
        if g.required:
            argv.append(g._group_actions[0].option_strings[0])
    return argv


LEAVES = [(path, p) for path, p in _leaves(build_parser()) if not p._subparsers]


@given(
    leaf=st.sampled_from(LEAVES),
    json_at=st.none() | st.integers(min_value=0),
    socket_at=st.none() | st.integers(min_value=0),
    socket=st.text(alphabet="abc._-/", min_size=1).map(lambda s: f"/{s}"),
)
def test_global_options_work_before_or_after_any_subcommand(
    leaf: tuple[tuple[str, ...], argparse.ArgumentParser],
    json_at: int | None,
    socket_at: int | None,
    socket: str,
) -> None:
    path, parser = leaf
    words: list[list[str]] = [[w] for w in path] + [_required(parser)]
    if json_at is not None:
        words.insert(json_at % (len(words) + 1), ["--json"])
    if socket_at is not None:
        words.insert(socket_at % (len(words) + 1), ["--socket", socket])
    args = build_parser().parse_args([w for ws in words for w in ws])
    assert args.json is (json_at is not None)
    assert args.socket == (socket if socket_at is not None else None)
    assert callable(args.fn)


@pytest.mark.parametrize("noun", ["run", "playbook", "repair", "agents"])
def test_a_noun_alone_shows_its_help(noun: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([noun]) == 2
    assert f"usage: aionis {noun}" in capsys.readouterr().out


@pytest.mark.slow
def test_options_before_the_command_reach_the_daemon(daemon: Daemon, xdg: Xdg) -> None:
    r = aionis(xdg, "--json", "status")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["socket"] == str(daemon.socket)
    r = aionis(xdg, "--socket", str(xdg.socket) + ".elsewhere", "status")
    assert r.returncode == 2, r.stdout
    assert r.stderr.startswith("aionis: ") and len(r.stderr.splitlines()) == 1
