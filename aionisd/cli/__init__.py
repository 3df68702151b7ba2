"""aionis: the command line for people and agents. Every subcommand takes --json (and --socket,
before or after its name); a failure is one line on stderr and a non-zero exit (2 when no daemon
runs). One module per noun registers its subcommands; COMMANDS lists them in help order.

Imports stay light here: `aionis status` must start fast (no trio, asyncio or textual).
"""

from __future__ import annotations

import argparse
import json

from aionisd import __version__
from aionisd.cli import agents, audit, governance, keys, playbooks, replay, runs, status
from aionisd.cli.command import Commands
from aionisd.cli.output import EXIT_FAIL, EXIT_NO_DAEMON, CliError, error
from aionisd.client import ApiError, DaemonNotRunning

COMMANDS = (status, runs, playbooks, keys, replay, governance, audit, agents)


def _global_options(top: bool) -> argparse.ArgumentParser:
    """--json and --socket, accepted before or after any subcommand's name: only the top parser
    sets their defaults, so that a subcommand does not reset what was given before its name."""
    options = argparse.ArgumentParser(add_help=False)
    unset = argparse.SUPPRESS
    options.add_argument(
        "--json", action="store_true", default=False if top else unset, help="machine-readable output"
    )
    options.add_argument(
        "--socket",
        default=None if top else unset,
        help="daemon socket (default: $XDG_RUNTIME_DIR/aionis/aionisd.sock)",
    )
    return options


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="aionis",
        description="Execution memory for coding agents: find, check and replay recorded work.",
        parents=[_global_options(top=True)],
    )
    ap.add_argument("--version", action="version", version=f"aionis {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands = Commands(sub, _global_options(top=False))
    for module in COMMANDS:
        module.register(commands)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except DaemonNotRunning as e:
        error(f"{e} — start it with `aionisd` (or `make run`)")
        return EXIT_NO_DAEMON
    except ApiError as e:
        if args.json:
            print(json.dumps({"error": {"code": e.code, "message": e.message, "data": e.data}}))
        error(e.message)
        return EXIT_FAIL
    except CliError as e:
        error(str(e))
        return e.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except TimeoutError:
        error("aionisd did not answer in time (it may still be working; see `aionis status`)")
        return EXIT_FAIL
    except OSError as e:
        error(f"{e.filename + ': ' if e.filename else ''}{e.strerror or e}")
        return EXIT_FAIL


__all__ = ["COMMANDS", "build_parser", "main"]
