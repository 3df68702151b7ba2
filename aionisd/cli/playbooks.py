"""`aionis compile`, `playbooks`, `playbook show|export|import`, `verify`, `promote`: playbooks
from their compilation to their trust and status."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from aionisd.cli.command import Commands, assignments, call
from aionisd.cli.output import CliError, emit, table, trim

STATUSES = ["draft", "shadow", "active", "disabled"]


def cmd_compile(args: argparse.Namespace) -> int:
    res = call(
        args,
        "playbooks.compile",
        run_id=args.run_id,
        name=args.name,
        params=assignments(args.param, "--param"),
        keep_probes=args.keep_probes or None,
        new=args.new or None,
    )
    if args.json:
        emit(args, {k: res[k] for k in ("id", "name", "version", "digest", "steps", "new")})
        return 0
    r = res.get("report") or {}
    print(
        f"{res['id']}  {res['name']}  v{res['version']}  {res['steps']} steps, "
        f"{res.get('checks', 0)} checks  ({res['digest'][:19]}…)"
        + ("" if res["new"] else "  — compiled before: --new makes another version")
    )
    if r:
        print("  " + ", ".join(f"{k}={v}" for k, v in r.items() if not isinstance(v, (dict, list))))
    return 0


def _pb_rows(pbs: list[dict[str, Any]]) -> str:
    last = "WHY" if pbs and "why" in pbs[0] else "GOAL"
    rows = [
        [
            x["id"],
            trim(x["name"], 32),
            f"v{x['version']}",
            x["status"],
            x["signature"],
            str(x["steps"]),
            trim(", ".join(x.get("why", [])) or x.get("goal") or "", 40),
        ]
        for x in pbs
    ]
    return table(rows, ["ID", "NAME", "VER", "STATUS", "SIGNATURE", "STEPS", last]) or "no playbooks"


def cmd_playbooks(args: argparse.Namespace) -> int:
    if args.search:
        res = call(args, "playbooks.search", text=args.search, cwd=str(Path.cwd()), all=True)
    else:
        res = call(args, "playbooks.list", status=args.status)
    emit(args, res, lambda r: _pb_rows(r["playbooks"]))
    return 0


def _describe(r: dict[str, Any]) -> str:
    """A playbook version as a person reads it: trust, parameters, needs, steps, checks, versions."""
    d = r["document"]
    v = r["verification"]
    lines = [
        f"{r['id']}  {r['name']}  v{r['version']} ({r['status']})",
        f"digest    {r['digest']}",
        f"signature {r['signature']}"
        + (f" by {v['signer']}" if v["signer"] else "")
        + ("" if v["ok"] else f" — {v['reason']}"),
        f"goal      {d.get('goal') or '-'}",
    ]
    if d.get("params"):
        lines.append(
            "params    "
            + ", ".join(f"{x['name']}{' (secret)' if x.get('secret') else ''}" for x in d["params"])
        )
    for pc in d.get("preconditions", []):
        lines.append(f"needs     {pc['type']} {pc.get('name') or pc.get('path') or pc.get('port')}")
    for i, s in enumerate(d.get("steps", []), 1):
        what = s.get("run") or s.get("path") or s.get("tool")
        lines.append(f"{i:>3}. [{s['kind']}] {trim(what, 90)}  ({s.get('risk', 'low')})")
    for c in d.get("success", []):
        lines.append(f"  ✓ check: {trim(c.get('run'), 90)}")
    lines.append("versions  " + ", ".join(f"v{x['version']} {x['status']}" for x in r["versions"]))
    return "\n".join(lines)


def cmd_playbook_show(args: argparse.Namespace) -> int:
    emit(args, call(args, "playbooks.get", id=args.id, version=args.version), _describe)
    return 0


def cmd_playbook_export(args: argparse.Namespace) -> int:
    res = call(args, "playbooks.export", id=args.id, version=args.version)
    text = json.dumps(res["envelope"], indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output} ({res['id']} v{res['version']}, {res['digest']})", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _read_envelope(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except OSError as e:
        raise CliError(f"cannot read {path}: {e.strerror}") from None
    except ValueError as e:
        raise CliError(f"{path} is not JSON: {e}") from None


def cmd_playbook_import(args: argparse.Namespace) -> int:
    res = call(args, "playbooks.import", envelope=_read_envelope(args.file))
    emit(
        args,
        res,
        lambda r: (
            f"imported {r['id']} v{r['version']} ({r['digest']})"
            + ("" if r.get("new", True) else " — already present")
        ),
    )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    if Path(args.target).is_file():
        res = call(args, "playbooks.verify", envelope=_read_envelope(args.target))
    else:
        res = call(args, "playbooks.verify", id=args.target)
    if args.json:
        emit(args, {"ok": res["ok"], "signer": res["signer"], "reason": res["reason"]})
    elif res["ok"]:
        print(f"OK: signed by {res['signer']} ({res['keyid']})")
    else:
        print(f"FAILED: {res['reason']}", file=sys.stderr)
    return 0 if res["ok"] else 1


def cmd_promote(args: argparse.Namespace) -> int:
    res = call(args, "playbooks.promote", id=args.id, version=args.version, status=args.status)
    emit(args, res, lambda r: f"{r['id']} v{r['version']} is now {r['status']}")
    return 0


def register(commands: Commands) -> None:
    p = commands.add("compile", cmd_compile, "compile a run into a signed draft playbook")
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--name", help="playbook name (default: from the run's goal)")
    p.add_argument(
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="turn every occurrence of VALUE into the parameter ${NAME}",
    )
    p.add_argument("--keep-probes", action="store_true", help="keep read-only commands as optional steps")
    p.add_argument(
        "--new", action="store_true", help="a run compiled before: make another version of its playbook"
    )

    p = commands.add("playbooks", cmd_playbooks, "list playbooks, or rank them for a task with --search")
    p.add_argument("--search", metavar="TEXT", help="rank by relevance to TEXT (all statuses)")
    p.add_argument("--status", choices=STATUSES)

    playbook = commands.group("playbook", "show, export or import a playbook")
    p = playbook.add("show", cmd_playbook_show, "a playbook version in full")
    p.add_argument("id", metavar="ID")
    p.add_argument("--version", type=int)
    p = playbook.add("export", cmd_playbook_export, "write the signed DSSE envelope")
    p.add_argument("id", metavar="ID")
    p.add_argument("--version", type=int)
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p = playbook.add("import", cmd_playbook_import, "verify and store an exported envelope")
    p.add_argument("file", metavar="FILE")

    p = commands.add(
        "verify", cmd_verify, "check a playbook's signature against allowed_signers (exit 0 = good)"
    )
    p.add_argument("target", metavar="ID|FILE")

    p = commands.add("promote", cmd_promote, "set a playbook version's status")
    p.add_argument("id", metavar="ID")
    p.add_argument("--version", type=int, required=True)
    p.add_argument("--status", required=True, choices=STATUSES)
