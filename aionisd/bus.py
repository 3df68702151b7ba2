"""Fan-out of stored events to subscribers, each with a bounded queue.

A subscriber that falls behind is dropped with `events.overflow {last_seq}`; it re-subscribes from
that seq and the stored log fills the gap, so nothing is lost and no queue grows without bound.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import trio

from aionisd.store import events as event_log

QUEUE_LIMIT = 1000


@dataclass(eq=False)
class Subscription:
    id: int
    kinds: list[str] | None
    limit: int = QUEUE_LIMIT
    queue: deque[dict[str, Any]] = field(default_factory=deque)
    wakeup: trio.Event = field(default_factory=trio.Event)
    overflowed: bool = False
    closed: bool = False
    high_water: int = 0  # the last seq queued; live events at or below it are history's

    def offer(self, ev: dict[str, Any]) -> None:
        if self.closed or self.overflowed or ev["seq"] <= self.high_water:
            return
        if self.kinds and not event_log.matches(ev["kind"], self.kinds):
            return
        if len(self.queue) >= self.limit:
            self.overflowed = True
        else:
            self.queue.append(ev)
            self.high_water = ev["seq"]
        self.wakeup.set()

    def close(self) -> None:
        self.closed = True
        self.wakeup.set()


class Bus:
    def __init__(self) -> None:
        self.subs: set[Subscription] = set()
        self.published_seq = 0
        self._ids = itertools.count(1)

    def subscribe(self, kinds: list[str] | None, limit: int = QUEUE_LIMIT) -> Subscription:
        sub = Subscription(next(self._ids), kinds, limit)
        self.subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subs.discard(sub)
        sub.close()

    def publish(self, evs: list[dict[str, Any]]) -> None:
        for ev in evs:
            self.published_seq = max(self.published_seq, ev["seq"])
            for sub in list(self.subs):
                sub.offer(ev)
