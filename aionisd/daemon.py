"""aionisd: the daemon, in the foreground, on trio."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket as stdsocket
import sys
from pathlib import Path

import trio

from aionisd import __version__
from aionisd.api.server import IDLE_TIMEOUT_S, AlreadyRunning, Server, bind
from aionisd.config import Config, ConfigError, load
from aionisd.paths import Paths, UnsafePath

log = logging.getLogger("aionisd")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="aionisd",
        description="aionis daemon: records coding-agent sessions, serves playbooks over a Unix socket.",
    )
    ap.add_argument("--config", type=Path, help="config.toml (default: $XDG_CONFIG_HOME/aionis/config.toml)")
    ap.add_argument("--socket", type=Path, help="socket path (default: $XDG_RUNTIME_DIR/aionis/aionisd.sock)")
    ap.add_argument("--db", type=Path, help="database (default: $XDG_DATA_HOME/aionis/aionis.db)")
    ap.add_argument(
        "--watch",
        action="append",
        default=[],
        metavar="DIR",
        help="watch DIR (any agent's logs, adapter chosen by content); repeatable; adds to [watch]",
    )
    ap.add_argument("--no-watch", action="store_true", help="do not watch the [watch] directories")
    ap.add_argument(
        "--idle-timeout",
        type=float,
        default=IDLE_TIMEOUT_S,
        metavar="SECONDS",
        help=f"close a client idle this long: no request, no subscription (default {IDLE_TIMEOUT_S:g})",
    )
    ap.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    ap.add_argument("--version", action="version", version=f"aionisd {__version__}")
    args = ap.parse_args(argv)
    if not args.idle_timeout > 0:
        ap.error("--idle-timeout must be a positive number of seconds")
    return args


def sd_notify(message: str) -> None:
    """Tell systemd (Type=notify) we are ready; a no-op without NOTIFY_SOCKET."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with stdsocket.socket(stdsocket.AF_UNIX, stdsocket.SOCK_DGRAM) as s:
        try:
            s.connect(addr)
            s.sendall(message.encode())
        except OSError as e:
            log.warning("sd_notify failed: %s", e)


async def serve(
    config: Config, paths: Paths, extra_watch: list[Path], watch: bool, idle_timeout: float
) -> None:
    from aionisd.api.methods import METHODS
    from aionisd.service import Service
    from aionisd.services import Services
    from aionisd.store import audit
    from aionisd.store.db import Database

    listener = await bind(paths.socket)
    db: Database | None = None
    try:
        db = Database(paths.db)
        db.quick_check()
        service = Service(config=config, paths=paths, db=db)
        async with trio.open_nursery() as nursery:
            services = Services(service, nursery)
            await nursery.start(services.replays.run)
            with service.write() as wdb:
                seen = config.summary()
                last = audit.last_data(wdb, "config.seen")
                if last is None or last["config"] != json.loads(json.dumps(seen)):
                    audit.append(
                        wdb,
                        "config.seen",
                        str(config.path or paths.config_file),
                        {"config": seen, "changed": last is not None},
                    )
            server = Server(services, METHODS, idle_timeout=idle_timeout)
            await nursery.start(server.serve, listener)
            if watch or extra_watch:
                from aionisd.watch import Watcher

                watcher = Watcher(service, config.watch_dirs() if watch else {}, extra_watch)
                await nursery.start(watcher.run)
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                log.info("aionisd %s listening on %s (db %s)", __version__, paths.socket, paths.db)
                sd_notify("READY=1")
                async for signum in signals:
                    log.info("received %s, shutting down", signal.Signals(signum).name)
                    sd_notify("STOPPING=1")
                    break
            nursery.cancel_scope.cancel()
    finally:
        try:
            paths.socket.unlink()
        except FileNotFoundError:
            pass
        await listener.aclose()
        if db is not None:
            db.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = load(args.config)
    except ConfigError as e:
        print(f"aionisd: {e}", file=sys.stderr)
        return 2
    d = Paths.default()
    paths = Paths(
        config_file=args.config or d.config_file,
        db=args.db or d.db,
        socket=args.socket or d.socket,
        keys_dir=d.keys_dir,
        allowed_signers=d.allowed_signers,
        revoked_keys=d.revoked_keys,
        traces_dir=d.traces_dir,
    )
    from aionisd.store.db import StoreError

    try:
        trio.run(serve, config, paths, [Path(w) for w in args.watch], not args.no_watch, args.idle_timeout)
    except (AlreadyRunning, StoreError) as e:
        print(f"aionisd: {e}", file=sys.stderr)
        return 1
    except (UnsafePath, OSError) as e:
        print(f"aionisd: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
