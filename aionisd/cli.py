"""aionis: the command line for people and agents. Every subcommand takes --json; a failure is
one line on stderr and a non-zero exit (2 when no daemon runs).

Imports stay light here: `aionis status` must start fast (no trio, asyncio or textual).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aionisd import __version__
from aionisd.client import ApiError, Client, DaemonNotRunning

EXIT_FAIL = 1
EXIT_NO_DAEMON = 2


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAIL) -> None:
        super().__init__(message)
        self.code = code


def _connect(args: argparse.Namespace, **kw: Any) -> Client:
    return Client(args.socket, **kw)


LONG = {"ingest", "playbooks.compile", "playbooks.import", "reviews.decide", "repairs.propose"}


def call(args: argparse.Namespace, method: str, /, **params: Any) -> Any:
    """One call; work that grows with its input (ingest, compile, ...) waits as long as it takes."""
    with _connect(args, timeout=None if method in LONG else 30.0) as c:
        return c.call(method, **{k: v for k, v in params.items() if v is not None})


def emit(args: argparse.Namespace, result: Any, human: Callable[[Any], str] | None = None) -> None:
    if args.json or human is None:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        text = human(result)
        if text:
            print(text)


def table(rows: list[list[str]], header: list[str]) -> str:
    if not rows:
        return ""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*map(str, r)).rstrip() for r in [header, *rows])


def _trim(s: str | None, n: int) -> str:
    s = (s or "").replace("\n", " ")
    return s if len(s) <= n else s[: n - 1] + "…"


# -- commands ---------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    res = call(args, "status")
    out = {k: res[k] for k in ("version", "socket", "db", "sources", "counts")}
    if args.json:
        emit(args, out)
        return 0
    c = res["counts"]
    lines = [
        f"aionisd {res['version']} (pid {res['pid']}, up {res['uptime_s']}s)",
        f"socket   {res['socket']}",
        f"database {res['db']}",
        f"exec     {'allowed' if res['allow_local_exec'] else 'not allowed (allow_local_exec = false)'}",
        "watching " + (", ".join(f"{k}={v}" for k, v in res["watch"].items()) or "nothing"),
        f"sources  {res['sources']['files']} files ({res['sources']['reading']} being read, "
        f"{res['sources']['with_errors']} with errors)",
        f"counts   {c['runs']} runs, {c['steps']} steps, {c['playbooks']} playbooks, "
        f"{c['repairs_pending']} repairs pending",
    ]
    print("\n".join(lines))
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    paths = [str(Path(f).resolve()) for f in args.files]
    for f in paths:
        if not Path(f).is_file():
            raise CliError(f"no such file: {f}")
    res = call(args, "ingest", paths=paths)

    def human(r: dict[str, Any]) -> str:
        lines = [f"{x['id']}  {x['agent']}  {x['steps']} steps" for x in r["runs"]]
        lines += [f"error: {e['path']}@{e['offset']}: {e['reason']}" for e in r["errors"]]
        return "\n".join(lines) or "nothing recorded"

    emit(args, res, human)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    res = call(args, "runs.list", limit=args.limit, agent=args.agent)
    emit(
        args,
        res,
        lambda r: (
            table(
                [
                    [
                        x["id"],
                        x["agent"],
                        str(x["steps"]),
                        x["started_at"] or "",
                        _trim(x["goal"], 50),
                    ]
                    for x in r["runs"]
                ],
                ["ID", "AGENT", "STEPS", "STARTED", "GOAL"],
            )
            or "no runs recorded yet"
        ),
    )
    return 0


_GLYPH = {"succeeded": "✓", "failed": "✗", "not_run": "·", "running": "…"}


def cmd_run_show(args: argparse.Namespace) -> int:
    res = call(args, "runs.get", id=args.id, output=args.output)

    def human(r: dict[str, Any]) -> str:
        t = r["tokens"]
        head = [
            f"run {r['id']} ({r['agent']})",
            f"cwd {r['cwd']}   branch {r.get('git_branch') or '-'}",
            f"{r['started_at']} → {r['ended_at']}   tokens {t['total']:,}",
        ]
        rows = [
            [
                str(s["seq"]),
                _GLYPH.get(s["status"], "?"),
                s["kind"],
                "" if s["exit_code"] is None else str(s["exit_code"]),
                "" if s["duration_ms"] is None else f"{s['duration_ms']}ms",
                ("↳ " if s["subagent"] else "") + _trim(s["command"] or s["tool"], 80),
            ]
            for s in r["steps"]
        ]
        return "\n".join(head) + "\n" + table(rows, ["#", "", "KIND", "EXIT", "TIME", "STEP"])

    emit(args, res, human)
    return 0


# -- parser -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("--socket", help="daemon socket (default: $XDG_RUNTIME_DIR/aionis/aionisd.sock)")

    ap = argparse.ArgumentParser(
        prog="aionis",
        description="Execution memory for coding agents: find, check and replay recorded work.",
        parents=[common],
    )
    ap.add_argument("--version", action="version", version=f"aionis {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, fn: Callable[[argparse.Namespace], int], help: str, **kw: Any) -> Any:
        p = sub.add_parser(name, help=help, description=help, parents=[common], **kw)
        p.set_defaults(fn=fn)
        return p

    add("status", cmd_status, "daemon status: version, socket, database, sources, counts")
    p = add("ingest", cmd_ingest, "import agent log files once (adapter chosen by content)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p = add("runs", cmd_runs, "list recorded runs, newest first")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--agent", help="only runs of this agent (claude-code, codex, gemini-cli, ...)")

    p = add("run", lambda a: a.run_parser.print_help() or 2, "a run: `aionis run show ID`")
    rsub = p.add_subparsers(dest="run_command", metavar="SUBCOMMAND")
    p.set_defaults(run_parser=p)
    q = rsub.add_parser("show", help="a run's steps", parents=[common])
    q.add_argument("id", metavar="ID")
    q.add_argument("--output", action="store_true", help="include each step's stdout/stderr")
    q.set_defaults(fn=cmd_run_show)
    from aionisd import cli_more

    cli_more.register(add, common)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except DaemonNotRunning as e:
        print(f"aionis: {e} — start it with `aionisd` (or `make run`)", file=sys.stderr)
        return EXIT_NO_DAEMON
    except ApiError as e:
        if args.json:
            print(json.dumps({"error": {"code": e.code, "message": e.message, "data": e.data}}))
        print(f"aionis: {e.message}", file=sys.stderr)
        return EXIT_FAIL
    except CliError as e:
        print(f"aionis: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except TimeoutError:
        print("aionis: aionisd did not answer in time (it may still be working; see `aionis status`)",
              file=sys.stderr)  # fmt: skip
        return EXIT_FAIL
    except OSError as e:
        print(f"aionis: {e.filename + ': ' if e.filename else ''}{e.strerror or e}", file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
