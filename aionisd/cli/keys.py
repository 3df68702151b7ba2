"""`aionis keys init|list|trust|revoke`: your signing key and the list of keys you trust."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from aionisd.cli.command import Commands, call
from aionisd.cli.output import EXIT_USAGE, CliError, emit


def cmd_keys_init(args: argparse.Namespace) -> int:
    use = str(Path(args.use).expanduser().resolve()) if args.use else None
    res = call(args, "keys.init", principal=args.principal, use=use)
    emit(args, res, lambda r: f"created {r['path']} ({r['keyid']}) and trusted it as {r['principal']}")
    return 0


def _describe(r: dict[str, Any]) -> str:
    own = r["key"]
    lines = [
        f"your key: {own['keyid']} {own['principal']} ({own['path']})"
        if own
        else "your key: none (aionis keys init)"
    ]
    lines += [f"trusted:  {t['keyid']} {t['principals']}" for t in r["trusted"]]
    lines += [f"revoked:  {k}" for k in r["revoked"]]
    return "\n".join(lines)


def cmd_keys_list(args: argparse.Namespace) -> int:
    emit(args, call(args, "keys.list"), _describe)
    return 0


def cmd_keys_trust(args: argparse.Namespace) -> int:
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
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    res = call(args, "keys.revoke", keyid=args.keyid)
    emit(args, res, lambda r: f"revoked {r['keyid']}")
    return 0


def _usage(args: argparse.Namespace) -> int:
    raise CliError("usage: aionis keys init|list|trust FILE|revoke KEYID", EXIT_USAGE)


def register(commands: Commands) -> None:
    keys = commands.group("keys", "signing keys and the trust list", "init|list|trust|revoke", _usage)
    p = keys.add("init", cmd_keys_init, "create your signing key (or adopt one) and trust it")
    p.add_argument("--principal", help="who signs (default: the key's comment, else user@host)")
    p.add_argument(
        "--use", metavar="KEY", help="adopt an existing OpenSSH Ed25519 key, e.g. ~/.ssh/id_ed25519"
    )
    keys.add("list", cmd_keys_list, "your key, trusted and revoked keys")
    p = keys.add("trust", cmd_keys_trust, "trust a public key (file or line)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--principal")
    p.add_argument("--valid-after", metavar="YYYYMMDD")
    p.add_argument("--valid-before", metavar="YYYYMMDD")
    p = keys.add("revoke", cmd_keys_revoke, "revoke a key by fingerprint")
    p.add_argument("keyid", metavar="KEYID")
