"""Subcommands for playbooks, keys, replay and governance (kept apart from cli.py's core)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from aionisd.cli import CliError, _trim, call, emit, table


def _kv(pairs: list[str] | None, what: str) -> dict[str, str] | None:
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        k, sep, v = pair.partition("=")
        if not sep or not k:
            raise CliError(f"{what} must be NAME=VALUE, got {pair!r}")
        out[k] = v
    return out


def cmd_compile(args: argparse.Namespace) -> int:
    res = call(
        args,
        "playbooks.compile",
        run_id=args.run_id,
        name=args.name,
        params=_kv(args.param, "--param"),
        keep_probes=args.keep_probes or None,
    )
    out = {k: res[k] for k in ("id", "name", "version", "digest", "steps")}
    if args.json:
        emit(args, out)
        return 0
    r = res.get("report") or {}
    print(
        f"{res['id']}  {res['name']}  v{res['version']}  {res['steps']} steps, "
        f"{res.get('checks', 0)} checks  ({res['digest'][:19]}…)"
    )
    if r:
        print("  " + ", ".join(f"{k}={v}" for k, v in r.items() if not isinstance(v, (dict, list))))
    return 0


def _pb_rows(pbs: list[dict[str, Any]]) -> str:
    return (
        table(
            [
                [
                    x["id"],
                    _trim(x["name"], 32),
                    f"v{x['version']}",
                    x["status"],
                    x["signature"],
                    str(x["steps"]),
                    _trim(", ".join(x.get("why", [])) or x.get("goal") or "", 40),
                ]
                for x in pbs
            ],
            [
                "ID",
                "NAME",
                "VER",
                "STATUS",
                "SIGNATURE",
                "STEPS",
                "WHY" if pbs and "why" in pbs[0] else "GOAL",
            ],
        )
        or "no playbooks"
    )


def cmd_playbooks(args: argparse.Namespace) -> int:
    if args.search:
        res = call(args, "playbooks.search", text=args.search, cwd=str(Path.cwd()), all=True)
    else:
        res = call(args, "playbooks.list", status=args.status)
    emit(args, res, lambda r: _pb_rows(r["playbooks"]))
    return 0


def cmd_playbook_show(args: argparse.Namespace) -> int:
    res = call(args, "playbooks.get", id=args.id, version=args.version)

    def human(r: dict[str, Any]) -> str:
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
            lines.append(f"{i:>3}. [{s['kind']}] {_trim(what, 90)}  ({s.get('risk', 'low')})")
        for c in d.get("success", []):
            lines.append(f"  ✓ check: {_trim(c.get('run'), 90)}")
        lines.append("versions  " + ", ".join(f"v{x['version']} {x['status']}" for x in r["versions"]))
        return "\n".join(lines)

    emit(args, res, human)
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
    out = {"ok": res["ok"], "signer": res["signer"], "reason": res["reason"]}
    if args.json:
        emit(args, out)
    elif res["ok"]:
        print(f"OK: signed by {res['signer']} ({res['keyid']})")
    else:
        print(f"FAILED: {res['reason']}", file=sys.stderr)
    return 0 if res["ok"] else 1


def cmd_promote(args: argparse.Namespace) -> int:
    res = call(args, "playbooks.promote", id=args.id, version=args.version, status=args.status)
    emit(args, res, lambda r: f"{r['id']} v{r['version']} is now {r['status']}")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    if args.keys_command == "init":
        use = str(Path(args.use).expanduser().resolve()) if args.use else None
        res = call(args, "keys.init", principal=args.principal, use=use)
        emit(
            args,
            res,
            lambda r: f"created {r['path']} ({r['keyid']}) and trusted it as {r['principal']}",
        )
    elif args.keys_command == "list":
        res = call(args, "keys.list")

        def human(r: dict[str, Any]) -> str:
            own = r["key"]
            lines = [
                f"your key: {own['keyid']} {own['principal']} ({own['path']})"
                if own
                else "your key: none (aionis keys init)"
            ]
            lines += [f"trusted:  {t['keyid']} {t['principals']}" for t in r["trusted"]]
            lines += [f"revoked:  {k}" for k in r["revoked"]]
            return "\n".join(lines)

        emit(args, res, human)
    elif args.keys_command == "trust":
        line = Path(args.file).read_text().strip() if Path(args.file).is_file() else args.file
        res = call(
            args,
            "keys.trust",
            public_key=line,
            principal=args.principal,
            valid_after=args.valid_after,
            valid_before=args.valid_before,
        )
        emit(args, res, lambda r: f"trusted {r['keyid']} as {r['principals']}")
    elif args.keys_command == "revoke":
        res = call(args, "keys.revoke", keyid=args.keyid)
        emit(args, res, lambda r: f"revoked {r['keyid']}")
    else:
        raise CliError("usage: aionis keys init|list|trust FILE|revoke KEYID", 2)
    return 0


def register(add: Any, common: argparse.ArgumentParser) -> None:
    p = add("compile", cmd_compile, "compile a run into a signed draft playbook")
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--name", help="playbook name (default: from the run's goal)")
    p.add_argument(
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="turn every occurrence of VALUE into the parameter ${NAME}",
    )
    p.add_argument("--keep-probes", action="store_true", help="keep read-only commands as optional steps")

    p = add("playbooks", cmd_playbooks, "list playbooks, or rank them for a task with --search")
    p.add_argument("--search", metavar="TEXT", help="rank by relevance to TEXT (all statuses)")
    p.add_argument("--status", choices=["draft", "shadow", "active", "disabled"])

    p = add("playbook", lambda a: a.pb_parser.print_help() or 2, "show, export or import a playbook")
    p.set_defaults(pb_parser=p)
    sub = p.add_subparsers(dest="pb_command", metavar="SUBCOMMAND")
    q = sub.add_parser("show", help="a playbook version in full", parents=[common])
    q.add_argument("id", metavar="ID")
    q.add_argument("--version", type=int)
    q.set_defaults(fn=cmd_playbook_show)
    q = sub.add_parser("export", help="write the signed DSSE envelope", parents=[common])
    q.add_argument("id", metavar="ID")
    q.add_argument("--version", type=int)
    q.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    q.set_defaults(fn=cmd_playbook_export)
    q = sub.add_parser("import", help="verify and store an exported envelope", parents=[common])
    q.add_argument("file", metavar="FILE")
    q.set_defaults(fn=cmd_playbook_import)

    p = add("verify", cmd_verify, "check a playbook's signature against allowed_signers (exit 0 = good)")
    p.add_argument("target", metavar="ID|FILE")

    p = add("promote", cmd_promote, "set a playbook version's status")
    p.add_argument("id", metavar="ID")
    p.add_argument("--version", type=int, required=True)
    p.add_argument("--status", required=True, choices=["draft", "shadow", "active", "disabled"])

    p = add("keys", cmd_keys, "signing keys and the trust list")
    ks = p.add_subparsers(dest="keys_command", metavar="init|list|trust|revoke")
    q = ks.add_parser("init", help="create your signing key (or adopt one) and trust it", parents=[common])
    q.add_argument("--principal", help="who signs (default: the key's comment, else user@host)")
    q.add_argument(
        "--use", metavar="KEY", help="adopt an existing OpenSSH Ed25519 key, e.g. ~/.ssh/id_ed25519"
    )
    ks.add_parser("list", help="your key, trusted and revoked keys", parents=[common])
    q = ks.add_parser("trust", help="trust a public key (file or line)", parents=[common])
    q.add_argument("file", metavar="FILE")
    q.add_argument("--principal")
    q.add_argument("--valid-after", metavar="YYYYMMDD")
    q.add_argument("--valid-before", metavar="YYYYMMDD")
    q = ks.add_parser("revoke", help="revoke a key by fingerprint", parents=[common])
    q.add_argument("keyid", metavar="KEYID")
    try:
        from aionisd import cli_replay
    except ImportError:
        return
    cli_replay.register(add, common)
