"""Tail agent logs into the store: offsets and adapter state commit with the events read to them,
so a killed daemon resumes every file exactly where it stopped."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import apsw
import trio

from aionisd.agents import ALL_ADAPTERS, adapter_for, adapters_for, detect_adapter
from aionisd.agents.base import (
    HEAD_SIZE,
    Adapter,
    ParseContext,
    overlong,
    parse_chunk,
    parse_document_bytes,
)
from aionisd.model import Event, IngestError, RunEvent, StepEvent
from aionisd.secrets import redact
from aionisd.service import Service
from aionisd.store import runs as run_store
from aionisd.store import sources as source_store

log = logging.getLogger("aionisd.watch")

CHUNK = 1024 * 1024
TURN_BYTES = 8 * CHUNK  # the most the watcher reads of one file before the others get a turn
FINGERPRINT_BYTES = 1024
RETRY_MIN_S, RETRY_MAX_S = 0.1, 2.0
BY_NAME: dict[str, Adapter] = {a.name: a for a in ALL_ADAPTERS}
# Writes that fail for a reason outside the data (disk full, database locked): retried, not dropped.
STORE_UNAVAILABLE = (
    apsw.FullError,
    apsw.BusyError,
    apsw.LockedError,
    apsw.IOError,
    apsw.ReadOnlyError,
    apsw.CantOpenError,
)


@dataclass
class IngestSummary:
    path: str
    adapter: str | None
    runs: dict[str, int] = field(default_factory=dict)  # run id -> steps seen in this pass
    errors: list[dict[str, Any]] = field(default_factory=list)
    more: bool = False  # stopped at the byte budget: the file has more to read


class Fingerprint:
    """The first and the last FINGERPRINT_BYTES bytes before an offset, fed in file order: a file
    rewritten in place (same inode, e.g. `cat new > file`) almost surely changes them."""

    def __init__(self, head: bytes = b"", tail: bytes = b"") -> None:
        self.head, self.tail = head, tail

    @classmethod
    def at(cls, f: BinaryIO, offset: int) -> Fingerprint:
        """What the file holds now before `offset`."""
        fd = f.fileno()
        n = min(offset, FINGERPRINT_BYTES)
        return cls(os.pread(fd, n, 0), os.pread(fd, n, offset - n))

    def feed(self, data: bytes | bytearray) -> None:
        if len(self.head) < FINGERPRINT_BYTES:
            self.head += data[: FINGERPRINT_BYTES - len(self.head)]
        self.tail = (self.tail + data[-FINGERPRINT_BYTES:])[-FINGERPRINT_BYTES:]

    def digest(self) -> str:
        return hashlib.blake2b(self.head + b"\0" + self.tail, digest_size=16).hexdigest()


def _choose(f: BinaryIO, path: Path, key: str | None) -> Adapter | None:
    """The adapter by content; under a [watch] key, only that agent's formats are considered."""
    head = os.pread(f.fileno(), HEAD_SIZE, 0)
    if key:
        return adapter_for(key, str(path), head)
    return detect_adapter(head)


async def ingest_path_async(
    service: Service,
    path: Path,
    *,
    adapter: str | None = None,
    final: bool = False,
    budget: int | None = None,
) -> IngestSummary:
    """Read what is new in `path` since its committed offset (`final` also reads an unterminated
    last line: one-shot import of a finished file), letting the event loop run between committed
    chunks so subscribers and other clients are served while a large file is read. With `budget`,
    stop after about that many bytes (`more` says whether some are left)."""
    last = IngestSummary(str(path), None)
    for last in _ingest(service, path, adapter, final, budget):  # noqa: B007
        await trio.sleep(0)
    return last


def _ingest(
    service: Service, path: Path, adapter: str | None, final: bool, budget: int | None
) -> Iterator[IngestSummary]:
    """Yields the summary after each chunk read."""
    key = str(path)
    prev = source_store.get(service.db, key)
    try:
        f = path.open("rb")
    except FileNotFoundError:
        yield IngestSummary(key, prev.adapter if prev else None)
        return
    with f:
        st = os.fstat(f.fileno())
        if prev is not None and prev.adapter in BY_NAME:
            chosen: Adapter | None = BY_NAME[prev.adapter]
        else:
            chosen = _choose(f, path, adapter)
        summary = IngestSummary(key, chosen.name if chosen else None)
        if chosen is None:
            yield summary
            return
        src = prev or source_store.SourceState(key, chosen.name)
        committed = _mark(prev) if prev else None
        if chosen.framing == "document":
            if src.inode != st.st_ino or st.st_size < src.offset:
                src.inode, src.offset, src.state = st.st_ino, 0, {}
            _ingest_document(service, f, chosen, src, st.st_size, summary, final)
            yield summary
            return
        fp = _resume(f, st, src)
        yield from _read_lines(service, f, chosen, src, fp, st.st_size, committed, summary, final, budget)


def _resume(f: BinaryIO, st: os.stat_result, src: source_store.SourceState) -> Fingerprint:
    """The fingerprint to go on from, after resetting `src` to the file's start when the file is
    not the one it was read from: another inode, shorter, or other bytes before the offset."""
    if src.inode == st.st_ino and src.offset <= st.st_size:
        fp = Fingerprint.at(f, src.offset)
        # No fingerprint: recorded before they were kept, so the bytes cannot be compared.
        if src.fingerprint is None or fp.digest() == src.fingerprint:
            return fp
    src.inode, src.offset, src.state, src.skip_from = st.st_ino, 0, {}, None
    return Fingerprint()


def _read_lines(
    service: Service,
    f: BinaryIO,
    adapter: Adapter,
    src: source_store.SourceState,
    fp: Fingerprint,
    size: int,
    committed: tuple[Any, ...] | None,
    summary: IngestSummary,
    final: bool,
    budget: int | None,
) -> Iterator[IngestSummary]:
    """Complete lines from the committed offset on. A line longer than max_line_bytes is one
    error, then skipped up to its newline without being held in memory (across turns: the skip
    is committed as `skip_from`)."""
    max_line = service.config.watch.max_line_bytes
    f.seek(src.offset)
    pending = bytearray()  # an incomplete line, starting at src.offset
    read = 0
    while budget is None or read < budget:
        data = f.read(CHUNK)
        if not data:
            break
        read += len(data)
        src.size = max(size, f.tell())
        evs: list[Event] = []
        nl = data.find(b"\n")
        if pending and len(pending) + (nl if nl >= 0 else len(data)) > max_line:
            _skip_pending(src, fp, pending, max_line, evs)  # never held longer than max_line
        if src.skip_from is not None:
            skipped, data = (data, b"") if nl < 0 else (data[: nl + 1], data[nl + 1 :])
            fp.feed(skipped)
            src.offset += len(skipped)
            if nl >= 0:
                src.skip_from = None
        pending += data
        if b"\n" in data:
            buf = bytes(pending)
            ctx = ParseContext(path=src.path, state=src.state, offset=src.offset)
            found, consumed = parse_chunk(adapter, buf, src.offset, ctx, max_line=max_line)
            evs += found
            fp.feed(buf[:consumed])
            pending = bytearray(memoryview(buf)[consumed:])
            src.offset += consumed
            src.state = ctx.state
        if len(pending) > max_line:
            _skip_pending(src, fp, pending, max_line, evs)
        if evs or _mark(src) != committed:
            _commit(service, src, fp, evs, summary)
            committed = _mark(src)
        yield summary
    else:
        summary.more = True
    if final and not summary.more:  # the unterminated last line, and what the adapter held (`finish`)
        ctx = ParseContext(path=src.path, state=src.state, offset=src.offset)
        evs, consumed = parse_chunk(adapter, bytes(pending), src.offset, ctx, final=True, max_line=max_line)
        fp.feed(pending[:consumed])
        src.offset += consumed
        src.state = ctx.state
        _commit(service, src, fp, evs, summary)
        committed = _mark(src)
    if _mark(src) != committed:
        _commit(service, src, fp, [], summary)
    yield summary


def _skip_pending(
    src: source_store.SourceState, fp: Fingerprint, pending: bytearray, max_line: int, evs: list[Event]
) -> None:
    """The line begun in `pending` is too long: one error at its start, then skip it to its newline."""
    evs.append(overlong(src.offset, max_line))
    src.skip_from = src.offset
    fp.feed(pending)
    src.offset += len(pending)
    pending.clear()


def _mark(src: source_store.SourceState) -> tuple[Any, ...]:
    """What, of a source's state, says whether it needs saving."""
    return (src.inode, src.offset, src.skip_from, src.fingerprint)


def _ingest_document(
    service: Service,
    f: BinaryIO,
    adapter: Adapter,
    src: source_store.SourceState,
    size: int,
    summary: IngestSummary,
    final: bool,
) -> None:
    """Whole-document logs (Gemini .json) are rewritten in place: re-read, merge by message id."""
    if size == src.size and src.offset == size and not final:
        return
    raw = f.read()
    ctx = ParseContext(path=src.path, state=src.state, offset=0)
    evs = parse_document_bytes(adapter, raw, ctx)
    if not final and len(evs) == 1 and isinstance(evs[0], IngestError):
        return  # caught mid-rewrite: the next change brings the whole document
    src.state, src.offset, src.size = ctx.state, len(raw), len(raw)
    _commit(service, src, None, evs, summary)


def _commit(
    service: Service,
    src: source_store.SourceState,
    fp: Fingerprint | None,
    evs: list[Event],
    summary: IngestSummary,
) -> None:
    """Events and the source state that follows them, in one transaction."""
    if fp is not None:
        src.fingerprint = fp.digest()
    for ev in evs:
        if isinstance(ev, IngestError):
            ev.path = ev.path or src.path
            src.errors += 1
            summary.errors.append({"path": ev.path, "offset": ev.offset, "reason": redact(ev.reason)})
    with service.write() as db:
        run_store.record(db, evs, source_path=src.path)
        source_store.save(db, src)
    sessions = {ev.session_id for ev in evs if isinstance(ev, (RunEvent, StepEvent))}
    for sid in sessions:
        row = run_store.for_session(service.db, sid)
        if row:
            summary.runs[row[0]] = row[1]


def _unavailable(e: BaseException) -> str:
    """A store failure in a few words, for the one log line that reports it."""
    if isinstance(e, apsw.FullError):
        return "disk is full"
    if isinstance(e, (apsw.BusyError, apsw.LockedError)):
        return "database is locked"
    return str(e) or type(e).__name__


class Watcher:
    """watchfiles over the configured directories (and ones that appear later).

    Changed files go to a queue that one worker reads in turns of at most TURN_BYTES per file, so
    one huge file never holds up the others; when the store cannot be written (disk full, locked),
    the worker pauses and retries with backoff until the write lands, losing nothing."""

    def __init__(self, service: Service, dirs: dict[str, Path], extra: list[Path]) -> None:
        self.service = service
        self.dirs: dict[Path, str | None] = {Path(d): name for name, d in dirs.items()}
        for d in extra:
            self.dirs[Path(d).expanduser().resolve()] = None
        service.watched = {str(d): (n or "any") for d, n in self.dirs.items()}
        self.queue: dict[Path, None] = {}  # files with work to do, in order (an ordered set)
        self.queued = trio.Event()
        self.idle = trio.Event()  # set while the queue is empty and nothing is being read
        self.paused: str | None = None  # why the store cannot be written, while it cannot

    def key_for(self, path: Path) -> tuple[bool, str | None]:
        """Whether a changed file is ours, and under which [watch] key (None: any adapter)."""
        for d, name in self.dirs.items():
            if path.is_relative_to(d):
                if name is None:
                    return True, None
                return any(a.wants(str(path)) for a in adapters_for(name)), name
        return False, None

    def scan(self, d: Path) -> None:
        """Queue every file under `d` (at start, and for a directory created or moved in)."""
        for root, _dirs, files in os.walk(d):
            for fn in files:
                self.touch(Path(root) / fn)

    def touch(self, path: Path) -> None:
        """Queue a changed path; a directory (watchfiles reports a moved-in tree as one path)
        is scanned."""
        if path.is_dir():
            self.scan(path)
            return
        if path not in self.queue:
            self.queue[path] = None
            self.idle = trio.Event()
        self.queued.set()

    async def ingest(self, path: Path) -> bool:
        """One turn on one file; whether it has more to read. Store failures propagate."""
        ok, name = self.key_for(path)
        if not ok or not path.is_file():
            return False
        try:
            s = await ingest_path_async(self.service, path, adapter=name, budget=TURN_BYTES)
        except OSError as e:
            log.warning("cannot read %s: %s", path, e.strerror or e)
            return False
        return s.more

    async def work(self) -> None:
        """Read queued files round-robin, forever; on a store failure, pause and retry."""
        backoff = RETRY_MIN_S
        while True:
            if not self.queue:
                self.idle.set()
                self.queued = trio.Event()
                await self.queued.wait()
                continue
            path = next(iter(self.queue))
            del self.queue[path]
            try:
                more = await self.ingest(path)
            except STORE_UNAVAILABLE as e:
                self.queue = {path: None, **self.queue}  # the same file first, when it resumes
                if self.paused is None:
                    self.paused = _unavailable(e)
                    log.warning(
                        "ingest paused: %s (%s); retrying until it can write",
                        self.paused,
                        self.service.db.path,
                    )
                await trio.sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX_S)
                continue
            except Exception:
                log.exception("ingest of %s failed", path)
                continue
            if self.paused is not None:
                log.warning("ingest resumed: %s is writable again", self.service.db.path)
                self.paused, backoff = None, RETRY_MIN_S
            if more:
                self.queue[path] = None

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.work)
            await self.watch(task_status)

    async def watch(self, task_status: Any) -> None:
        import watchfiles

        started = False
        while True:
            present = [d for d in self.dirs if d.is_dir()]
            for d in present:
                self.scan(d)
            if not started:
                task_status.started()
                started = True
            stop = trio.Event()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._wait_for_new_dirs, set(present), stop)
                if present:
                    async for changes in watchfiles.awatch(
                        *present,
                        debounce=30,
                        step=10,
                        stop_event=stop,
                        recursive=True,
                        rust_timeout=1000,
                        yield_on_timeout=False,
                    ):
                        for path in sorted({Path(p) for _, p in changes}):
                            self.touch(path)
                else:
                    await stop.wait()
                nursery.cancel_scope.cancel()

    async def _wait_for_new_dirs(self, present: set[Path], stop: trio.Event) -> None:
        """A watched directory that does not exist yet is looked for every 2 s (no busy loop)."""
        while True:
            await trio.sleep(2)
            if any(d.is_dir() and d not in present for d in self.dirs):
                stop.set()
                return
