"""Finding the processes a replay left, by the marks in their command lines."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path


def marks(n: int) -> list[str]:
    """Sleep durations no other test uses, so `sleep MARK` names exactly our processes."""
    base = secrets.randbelow(10**6)
    return [f"{1000 + k}.{base:06d}" for k in range(n)]


def alive(wanted: list[str]) -> dict[str, int]:
    """mark -> pid of a live `sleep MARK`."""
    return dict(running(wanted))


@contextlib.contextmanager
def reaped(wanted: list[str]) -> Iterator[list[str]]:
    """Whatever happens in the test, no `sleep MARK` is left running after it."""
    try:
        yield wanted
    finally:
        for _, pid in running(wanted):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def running(wanted: list[str]) -> list[tuple[str, int]]:
    """(mark, pid) of each live (not zombie) `sleep MARK`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                if len(argv) > 1 and argv[0] == b"sleep" and argv[1].decode() in wanted:
                    found.append((argv[1].decode(), int(entry)))
    return found
