"""Tail agent logs into the store: offsets and adapter state commit with the events read to them,
so a killed daemon resumes every file exactly where it stopped."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from aionisd.model import Event, IngestError, RunEvent, StepEvent
from aionisd.service import Service
from aionisd.sources import ALL_ADAPTERS, adapter_for, detect_adapter
from aionisd.sources.base import HEAD_SIZE, Adapter, ParseContext, parse_chunk, parse_document_bytes
from aionisd.store import runs as run_store
from aionisd.store import sources as source_store

log = logging.getLogger("aionisd.watch")

CHUNK = 1024 * 1024
BY_NAME: dict[str, Adapter] = {a.name: a for a in ALL_ADAPTERS}


@dataclass
class IngestSummary:
    path: str
    adapter: str | None
    runs: dict[str, int] = field(default_factory=dict)  # run id -> steps seen in this pass
    errors: list[dict[str, Any]] = field(default_factory=list)


def _choose(path: Path, key: str | None) -> Adapter | None:
    """The adapter by content; under a [watch] key, only that agent's formats are considered."""
    try:
        with path.open("rb") as f:
            head = f.read(HEAD_SIZE)
    except OSError:
        return None
    if key:
        return adapter_for(key, str(path), head)
    return detect_adapter(head)


async def ingest_path_async(
    service: Service, path: Path, *, adapter: str | None = None, final: bool = False
) -> IngestSummary:
    """Read what is new in `path` since its committed offset (`final` also reads an unterminated
    last line: one-shot import of a finished file), letting the event loop run between committed
    chunks so subscribers and other clients are served while a large file is read."""
    last = IngestSummary(str(path), None)
    for last in _ingest(service, path, adapter, final):  # noqa: B007
        await trio.sleep(0)
    return last


def _ingest(service: Service, path: Path, adapter: str | None, final: bool) -> Iterator[IngestSummary]:
    """Yields the summary after each committed chunk."""
    key = str(path)
    prev = source_store.get(service.db, key)
    try:
        st = path.stat()
    except FileNotFoundError:
        yield IngestSummary(key, prev.adapter if prev else None)
        return
    if prev is not None and prev.adapter in BY_NAME:
        chosen: Adapter | None = BY_NAME[prev.adapter]
    else:
        chosen = _choose(path, adapter)
    summary = IngestSummary(key, chosen.name if chosen else None)
    if chosen is None:
        yield summary
        return
    src = prev or source_store.SourceState(key, chosen.name)
    if src.inode != st.st_ino or st.st_size < src.offset:
        src.inode, src.offset, src.state = st.st_ino, 0, {}
    if chosen.framing == "document":
        _ingest_document(service, path, chosen, src, st.st_size, summary, final)
        yield summary
        return
    with path.open("rb") as f:
        f.seek(src.offset)
        pending = b""
        while True:
            data = f.read(CHUNK)
            if not data:
                break
            buf = pending + data
            ctx = ParseContext(path=key, state=src.state, offset=src.offset)
            evs, consumed = parse_chunk(chosen, buf, src.offset, ctx)
            pending = buf[consumed:]
            src.offset += consumed
            src.state = ctx.state
            src.size = st.st_size
            _commit(service, src, evs, summary)
            yield summary
        if final and pending:
            ctx = ParseContext(path=key, state=src.state, offset=src.offset)
            evs, consumed = parse_chunk(chosen, pending, src.offset, ctx, final=True)
            src.offset += consumed
            src.state = ctx.state
            _commit(service, src, evs, summary)
    if not (src.offset == (prev.offset if prev else -1) and prev and prev.inode == src.inode):
        with service.write() as db:
            source_store.save(db, src)
    yield summary


def _ingest_document(
    service: Service,
    path: Path,
    adapter: Adapter,
    src: source_store.SourceState,
    size: int,
    summary: IngestSummary,
    final: bool,
) -> None:
    """Whole-document logs (Gemini .json) are rewritten in place: re-read, merge by message id."""
    if size == src.size and src.offset == size and not final:
        return
    raw = path.read_bytes()
    ctx = ParseContext(path=str(path), state=src.state, offset=0)
    evs = parse_document_bytes(adapter, raw, ctx)
    if not final and len(evs) == 1 and isinstance(evs[0], IngestError):
        return  # caught mid-rewrite: the next change brings the whole document
    src.state, src.offset, src.size = ctx.state, len(raw), len(raw)
    _commit(service, src, evs, summary)


def _commit(
    service: Service, src: source_store.SourceState, evs: list[Event], summary: IngestSummary
) -> None:
    for ev in evs:
        if isinstance(ev, IngestError):
            ev.path = ev.path or src.path
            src.errors += 1
            summary.errors.append({"path": ev.path, "offset": ev.offset, "reason": ev.reason})
    with service.write() as db:
        run_store.record(db, evs, source_path=src.path)
        source_store.save(db, src)
    sessions = {ev.session_id for ev in evs if isinstance(ev, (RunEvent, StepEvent))}
    for sid in sessions:
        row = service.db.conn.execute(
            "SELECT id, step_count FROM runs WHERE session_id = ?", (sid,)
        ).fetchone()
        if row:
            summary.runs[row[0]] = row[1]


class Watcher:
    """watchfiles over the configured directories (and ones that appear later)."""

    def __init__(self, service: Service, dirs: dict[str, Path], extra: list[Path]) -> None:
        self.service = service
        self.dirs: dict[Path, str | None] = {Path(d): name for name, d in dirs.items()}
        for d in extra:
            self.dirs[Path(d).expanduser().resolve()] = None
        service.watched = {str(d): (n or "any") for d, n in self.dirs.items()}

    def key_for(self, path: Path) -> tuple[bool, str | None]:
        """Whether a changed file is ours, and under which [watch] key (None: any adapter)."""
        for d, name in self.dirs.items():
            if path.is_relative_to(d):
                if name is None:
                    return True, None
                from aionisd.sources import adapters_for

                return any(a.wants(str(path)) for a in adapters_for(name)), name
        return False, None

    async def scan(self, d: Path) -> None:
        for root, _dirs, files in os.walk(d):
            for fn in files:
                await self.touch(Path(root) / fn)

    async def touch(self, path: Path) -> None:
        ok, name = self.key_for(path)
        if not ok or not path.is_file():
            return
        try:
            await ingest_path_async(self.service, path, adapter=name)
        except Exception:
            log.exception("ingest of %s failed", path)

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        import watchfiles

        started = False
        while True:
            present = [d for d in self.dirs if d.is_dir()]
            for d in present:
                await self.scan(d)
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
                            await self.touch(path)
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
