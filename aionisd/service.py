"""The daemon's state in one place: config, paths, the store and the event bus; the context every
application service (aionisd.services) is built over.

Every write goes through `write()`, which publishes the events it stored once it has committed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aionisd import __version__
from aionisd.bus import Bus
from aionisd.config import Config
from aionisd.paths import Paths
from aionisd.store import events as event_log
from aionisd.store.db import Database


@dataclass
class Service:
    config: Config
    paths: Paths
    db: Database
    bus: Bus = field(default_factory=Bus)
    started: float = field(default_factory=time.monotonic)
    watched: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bus.published_seq = event_log.last_seq(self.db)

    @contextmanager
    def write(self) -> Iterator[Database]:
        """A write transaction; its events reach subscribers after COMMIT, never before."""
        with self.db.tx():
            yield self.db
        self.publish_new()

    def emit(self, kind: str, data: dict[str, Any]) -> int:
        with self.write() as db:
            return event_log.append(db, kind, data)

    def publish_new(self) -> None:
        if self.db.conn.in_transaction:
            return
        while True:
            evs = event_log.since(self.db, self.bus.published_seq, limit=5000)
            if not evs:
                return
            self.bus.publish(evs)

    def status(self) -> dict[str, Any]:
        from aionisd.store import runs, sources

        return {
            "version": __version__,
            "pid": os.getpid(),
            "uptime_s": round(time.monotonic() - self.started, 1),
            "socket": str(self.paths.socket),
            "db": str(self.paths.db),
            "config": str(self.config.path or self.paths.config_file),
            "config_exists": self.config.path is not None,
            "allow_local_exec": self.config.replay.allow_local_exec,
            "watch": self.watched,
            "sources": sources.summary(self.db, list(self.watched)),
            "counts": runs.counts(self.db),
            "last_seq": self.bus.published_seq,
        }
