"""The watcher loses nothing and reads in bounded memory and turns (issue 20): a directory moved
into a watched tree, a store that cannot be written for a while (disk full, locked), a file
rewritten in place, a line too long to hold, and a `status` whose size does not grow with files."""

from __future__ import annotations

import json
import logging
import os
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw
import pytest
import trio

from aionisd.client import Client
from aionisd.config import ConfigError, load
from aionisd.service import Service
from aionisd.watch import Watcher, ingest_path_async
from tests.conftest import Daemon, Xdg
from tests.support.watching import counts_agree, drain, make_service, recorded, start_line, step_line


def session_bytes(session: str, keys: list[str]) -> bytes:
    return start_line(session) + b"".join(step_line(session, k) for k in keys)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    s = make_service(tmp_path / "state")
    yield s
    s.db.close()


# -- (a) a directory moved into the tree --------------------------------------------------------


async def test_a_directory_moved_in_is_scanned(service: Service, tmp_path: Path) -> None:
    tree, outside = tmp_path / "tree", tmp_path / "outside" / "batch"
    tree.mkdir()
    outside.mkdir(parents=True)
    for i in range(5):
        (outside / f"s{i}.jsonl").write_bytes(session_bytes(f"s{i}", ["k1", "k2"]))
    watcher = Watcher(service, {}, [tree])
    os.rename(outside, tree / "batch")
    watcher.touch(tree / "batch")  # what watchfiles reports for `mv batch tree/`
    await drain(watcher)
    assert recorded(service) == {f"s{i}": {"k1", "k2"} for i in range(5)}


def _wait_runs(sock: Path, n: int) -> int:
    """Runs recorded, once at least `n`; each wait for news ends at the client's 30 s timeout."""
    with Client(sock) as c:
        c.call("events.subscribe", kinds=["run.started"])
        while (runs := c.call("status")["counts"]["runs"]) < n:
            c.read()
    return int(runs)


@pytest.mark.slow
def test_a_hundred_sessions_moved_in_are_recorded_by_the_daemon(start_daemon: Any, tmp_path: Path) -> None:
    tree, batch = tmp_path / "tree", tmp_path / "batch"
    tree.mkdir()
    batch.mkdir()
    for i in range(100):
        (batch / f"s{i}.jsonl").write_bytes(session_bytes(f"s{i}", ["k1"]))
    d: Daemon = start_daemon("--no-watch", "--watch", str(tree))
    os.rename(batch, tree / "batch")
    assert _wait_runs(d.socket, 100) == 100


# -- (b) a store that cannot be written for a while ---------------------------------------------


class _Seen(logging.Handler):
    """Sets a trio event when the watcher logs a line containing `text`."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text, self.event = text, trio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


@pytest.mark.parametrize("fault", ["disk full", "locked"])
async def test_writes_that_fail_are_retried_until_they_land(
    service: Service, tmp_path: Path, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(30):
        (tree / f"s{i}.jsonl").write_bytes(session_bytes(f"s{i}", [f"k{j}" for j in range(20)]))
    conn = service.db.conn
    holder: apsw.Connection | None = None
    if fault == "disk full":
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLITE_FULL on the first page it needs
    else:
        conn.setbusytimeout(20)
        holder = apsw.Connection(str(service.paths.db))
        holder.execute("BEGIN IMMEDIATE")
    watcher = Watcher(service, {}, [tree])
    paused, resumed = _Seen("ingest paused"), _Seen("ingest resumed")
    log = logging.getLogger("aionisd.watch")
    log.addHandler(paused)
    log.addHandler(resumed)
    caplog.set_level(logging.INFO, "aionisd.watch")
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watcher.work)
            watcher.scan(tree)
            with trio.fail_after(20):
                await paused.event.wait()
            if holder is None:
                conn.execute("PRAGMA max_page_count = 1073741823")  # space is back
            else:
                holder.execute("COMMIT")
            with trio.fail_after(20):
                await resumed.event.wait()
                await watcher.idle.wait()
            nursery.cancel_scope.cancel()
    finally:
        log.removeHandler(paused)
        log.removeHandler(resumed)
        if holder is not None:
            holder.close()
    assert recorded(service) == {f"s{i}": {f"k{j}" for j in range(20)} for i in range(30)}
    assert counts_agree(service)
    lines = [r for r in caplog.records if r.name == "aionisd.watch"]
    assert [r.getMessage().split(":")[0] for r in lines] == ["ingest paused", "ingest resumed"]
    assert ("disk is full" if fault == "disk full" else "database is locked") in lines[0].getMessage()
    assert all(r.exc_info is None for r in lines)


# -- (c) a file rewritten in place, longer ------------------------------------------------------


async def test_a_file_rewritten_in_place_is_read_again_from_the_start(
    service: Service, tmp_path: Path
) -> None:
    path = tmp_path / "session.jsonl"
    path.write_bytes(session_bytes("one", [f"old{i}" for i in range(5)]))
    await ingest_path_async(service, path)
    inode = path.stat().st_ino
    with path.open("r+b") as f:  # `cat new > path`: same inode, other bytes, longer
        f.truncate(0)
        f.write(session_bytes("one", [f"new-step-{i}" for i in range(8)]))
    assert path.stat().st_ino == inode
    s = await ingest_path_async(service, path)
    assert s.errors == []
    assert recorded(service) == {"one": {f"old{i}" for i in range(5)} | {f"new-step-{i}" for i in range(8)}}
    again = await ingest_path_async(service, path)  # nothing new: nothing read twice
    assert again.runs == {} and counts_agree(service)


# -- (d) a line longer than max_line_bytes ------------------------------------------------------

LIMIT = 4096
BIG = 50 * 1024 * 1024


async def test_an_overlong_line_is_one_error_and_reading_goes_on(tmp_path: Path) -> None:
    service = make_service(tmp_path / "state", max_line_bytes=LIMIT)
    path = tmp_path / "session.jsonl"
    head = session_bytes("big", ["before"])
    with path.open("wb") as f:
        f.write(head)
        f.write(b"\0" * BIG)  # no newline yet: the writer is still at it
    tracemalloc.start()
    try:
        first = await ingest_path_async(service, path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes: the long line was held in memory"
    assert first.errors == [
        {
            "path": str(path),
            "offset": len(head),
            "reason": f"line longer than {LIMIT} bytes (max_line_bytes): skipped",
        }
    ]
    with path.open("ab") as f:
        f.write(b"\0" * 1000 + b"\n" + step_line("big", "after") + b"x" * (LIMIT + 1) + b"\n")
        f.write(step_line("big", "last"))
    second = await ingest_path_async(service, path)
    assert [e["offset"] for e in second.errors] == [len(head) + BIG + 1001 + len(step_line("big", "after"))]
    assert recorded(service) == {"big": {"before", "after", "last"}}
    src = service.db.conn.execute("SELECT offset, size, skip_from, errors FROM sources").fetchone()
    assert src == (path.stat().st_size, path.stat().st_size, None, 2)


async def test_one_huge_file_does_not_hold_up_the_others(tmp_path: Path) -> None:
    service = make_service(tmp_path / "state", max_line_bytes=LIMIT)
    tree = tmp_path / "tree"
    tree.mkdir()
    big, small = tree / "big.jsonl", tree / "small.jsonl"
    with big.open("wb") as f:
        f.write(start_line("big"))
        f.write(b"x" * BIG + b"\n")
        f.write(step_line("big", "end"))
    small.write_bytes(session_bytes("small", ["k"]))
    watcher = Watcher(service, {}, [tree])
    sub = service.bus.subscribe(["step.recorded"])
    async with trio.open_nursery() as nursery:
        watcher.touch(big)
        watcher.touch(small)
        nursery.start_soon(watcher.work)
        with trio.fail_after(20):
            while "small" not in recorded(service):
                sub.wakeup = trio.Event()
                await sub.wakeup.wait()
        offset = service.db.one("SELECT offset FROM sources WHERE path = ?", (str(big),))
        assert offset < BIG / 2, "the small file waited for the big one to be read to its end"
        with trio.fail_after(20):
            await watcher.idle.wait()
        nursery.cancel_scope.cancel()
    assert recorded(service) == {"big": {"end"}, "small": {"k"}}


# -- (e) status in bounded size -----------------------------------------------------------------


@pytest.mark.slow
def test_status_counts_sources_and_sources_list_pages_them(start_daemon: Any, tmp_path: Path) -> None:
    logs = (tmp_path / "logs").resolve()
    logs.mkdir()
    files = [logs / f"s{i:03}.jsonl" for i in range(250)]
    for i, p in enumerate(files):
        p.write_bytes(session_bytes(f"s{i}", ["k"]))
    d: Daemon = start_daemon("--no-watch", "--watch", str(logs))
    with Client(d.socket) as c:
        for i in range(0, len(files), 50):
            c.call("ingest", paths=[str(p) for p in files[i : i + 50]])
        status = c.call("status")
        assert status["sources"] == {"files": 250, "reading": 0, "with_errors": 0, "by_dir": {str(logs): 250}}
        assert len(json.dumps(status)) < 2000
        seen: list[str] = []
        after = None
        while True:
            page = c.call("sources.list", limit=100, **({"after": after} if after else {}))
            seen += [s["path"] for s in page["sources"]]
            if page["next"] is None:
                break
            after = page["next"]
    assert seen == [str(p) for p in files]


def test_max_line_bytes_is_read_from_the_config(xdg: Xdg) -> None:
    assert load().watch.max_line_bytes == 16 * 1024 * 1024
    xdg.write_config("[watch]\nmax_line_bytes = 65536\n")
    assert load().watch.max_line_bytes == 65536
    assert "max_line_bytes" not in load().watch_dirs()
    xdg.write_config("[watch]\nmax_line_bytes = 10\n")
    with pytest.raises(ConfigError, match=r"'watch\.max_line_bytes' must be at least 1024, got 10"):
        load()
