"""The agent record and the adapter framework every agent module builds on (bytes in, events out).

Adapters are pure: they never open files. The watcher feeds them bytes and keeps, beside the
committed offset, the small JSON-serialisable `ParseContext.state` they carry, so a crash
resumes mid-file with exactly the state the adapter had at that offset.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Literal, Protocol

from aionisd.model import Event, IngestError, RunEvent, StepEvent, UsageEvent

from .install import Installer

Framing = Literal["jsonl", "document"]

HEAD_SIZE = 8192  # bytes of a file's start that detection looks at
GOAL_CHARS = 200

_loads = json.loads
_decoder = json.JSONDecoder()
_decode = _decoder.decode
# json raises RecursionError, not ValueError, on nesting deeper than the interpreter's limit.
_BAD_JSON = (ValueError, RecursionError)

INT64 = 1 << 63
MAX_TOKENS = 1 << 53
_TEXT_FIELDS: dict[type, tuple[str, ...]] = {
    RunEvent: ("session_id", "agent", "cwd", "git_branch", "goal", "ts", "status", "model"),
    StepEvent: (
        "session_id", "key", "kind", "tool", "command", "cwd", "status",
        "started_at", "ended_at", "stdout", "stderr", "shell",
    ),
    UsageEvent: ("session_id", "message_id"),
}  # fmt: skip
_TEXT_OF = {cls: attrgetter(*names) for cls, names in _TEXT_FIELDS.items()}
_TEXT_TYPES = frozenset({str, type(None)})
_TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens")


@dataclass
class ParseContext:
    """Where a record came from, and the adapter's per-file state (persisted with the offset)."""

    path: str
    state: dict[str, Any] = field(default_factory=dict)
    offset: int = 0


class Adapter(Protocol):
    """One agent's log format. `detect` looks at content, `wants` at a file's path."""

    name: str
    agent: str
    framing: Framing

    def detect(self, head: bytes) -> bool: ...

    def parse_record(self, rec: Any, ctx: ParseContext) -> Iterator[Event]: ...

    def parse_document(self, doc: Any, ctx: ParseContext) -> Iterator[Event]: ...

    def wants(self, path: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Agent:
    """Everything aionis knows about one coding agent; the registry (`aionisd.agents.AGENTS`) is
    one of these per agent module, so adding an agent is one module and one record.

    File steps the adapters emit share one input shape, which the compiler reads as is:
    `{path, content}` (a write), `{path, old, new, replace_all?}` or `{path, edits: [{old, new,
    replace_all?}]}` (an edit), `{path, delete: true}`, `{path, move_to, edits?}`, or
    `{files: [...]}` holding several of those (one tool call that touched several files).
    """

    name: str  # as `aionis agents install` names it
    title: str  # as people write it, for messages
    run_agent: str  # the `agent` of the runs its adapters record
    watch_key: str  # its `[watch]` key in config.toml
    log_dir: str  # the default of that key: where the agent writes its session logs
    adapters: tuple[Adapter, ...]  # every framing of its logs, most specific first
    installer: Installer | None = None
    read_only_tools: frozenset[str] = frozenset()  # tool calls that only read or plan
    read_only_prefixes: tuple[str, ...] = ()  # whole families of such tools, by name prefix


def words(text: str) -> frozenset[str]:
    """A set of names written as text (tool lists read better that way)."""
    return frozenset(text.split())


class UnknownFormatError(ValueError):
    """No adapter recognised a file's content."""


def overlong(offset: int, max_line: int) -> IngestError:
    """The one error for a line longer than `max_line` bytes, which is skipped unread."""
    return IngestError(offset, f"line longer than {max_line} bytes (max_line_bytes): skipped")


def iter_records(
    data: bytes, base_offset: int, final: bool = False, max_line: int | None = None
) -> Iterator[tuple[int, Any] | IngestError]:
    """Stream the complete lines of `data` as (offset, JSON value) pairs or IngestErrors.

    Streaming (rather than a list) keeps few decoded records alive at once, which spares the
    garbage collector on large files. See `split_records` for the framing rules.
    """
    pieces = data.split(b"\n")
    tail = pieces.pop()
    decode = _decode
    pos = base_offset
    for line in pieces:
        if max_line is not None and len(line) > max_line:
            yield overlong(pos, max_line)
        elif line and not line.isspace():
            try:
                yield pos, _valid_text(decode(line.decode()), line)
            except _BAD_JSON:
                yield from _split_concatenated(line, pos)
        pos += len(line) + 1
    if final and max_line is not None and len(tail) > max_line:
        yield overlong(pos, max_line)
    elif final and tail and not tail.isspace():
        try:
            yield pos, _valid_text(_loads(tail), tail)
        except _BAD_JSON as e:
            yield IngestError(pos, f"truncated last line (no newline at EOF): {e}")


_SURROGATE = re.compile("[\ud800-\udfff]")
_RAW_SURROGATE = re.compile(rb"\xed[\xa0-\xbf]")  # a surrogate written as (invalid) UTF-8 bytes


def _valid_text(obj: Any, raw: bytes) -> Any:
    """`obj` (decoded from `raw`) with lone surrogates, such as a `\\ud83d` escape cut from its
    pair or bytes that encode one (json.loads lets them through), replaced by U+FFFD: SQLite
    keeps only valid UTF-8. Only those make them, so most records skip the walk."""
    if b"\\ud" not in raw and b"\\uD" not in raw and not (b"\xed" in raw and _RAW_SURROGATE.search(raw)):
        return obj
    if isinstance(obj, str):
        return _SURROGATE.sub("\ufffd", obj)
    stack = [obj] if isinstance(obj, dict | list) else []
    while stack:  # iterative: a record may nest as deep as the decoder allowed
        node = stack.pop()
        if isinstance(node, dict):
            if any(_SURROGATE.search(k) for k in node):
                fixed = {_SURROGATE.sub("\ufffd", k): v for k, v in node.items()}
                node.clear()
                node.update(fixed)
            items: Iterable[tuple[Any, Any]] = list(node.items())
        else:
            items = list(enumerate(node))
        for k, v in items:
            if isinstance(v, str):
                if _SURROGATE.search(v):
                    node[k] = _SURROGATE.sub("\ufffd", v)
            elif isinstance(v, dict | list):
                stack.append(v)
    return obj


def consumed_bytes(data: bytes, final: bool = False) -> int:
    """How many bytes of `data` whole lines cover (all of it at EOF)."""
    return len(data) if final else data.rfind(b"\n") + 1


def split_records(
    data: bytes, base_offset: int, final: bool = False, max_line: int | None = None
) -> tuple[list[tuple[int, Any]], list[IngestError], int]:
    """Decode the complete lines of `data` into (offset, JSON value) pairs.

    A physical line holding several concatenated JSON objects (a live-file artefact) yields each
    of them; a line that is not JSON becomes an IngestError at its offset, and so does a line
    longer than `max_line` bytes, unread. Returns the number of
    bytes consumed: a last line without '\\n' waits for more data unless `final`, in which case it
    is read if it is complete JSON and reported as truncated otherwise.
    """
    records: list[tuple[int, Any]] = []
    errors: list[IngestError] = []
    for item in iter_records(data, base_offset, final, max_line):
        if isinstance(item, IngestError):
            errors.append(item)
        else:
            records.append(item)
    return records, errors, consumed_bytes(data, final)


def _split_concatenated(line: bytes, offset: int) -> Iterator[tuple[int, Any] | IngestError]:
    """Slow path for a line that did not decode: maybe several objects glued together."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        yield IngestError(offset, f"not UTF-8: {e}")
        return
    idx, n = 0, len(text)
    while idx < n:
        while idx < n and text[idx].isspace():
            idx += 1
        if idx >= n:
            break
        at = offset + len(text[:idx].encode("utf-8"))
        try:
            obj, idx = _decoder.raw_decode(text, idx)
        except _BAD_JSON as e:
            yield IngestError(at, f"invalid JSON: {e}")
            return
        yield at, _valid_text(obj, line)


def parse_records(
    adapter: Adapter,
    records: Iterable[tuple[int, Any] | IngestError],
    ctx: ParseContext,
) -> list[Event]:
    """Run decoded records (and framing errors, in file order) through an adapter.

    A record that breaks the adapter becomes an IngestError at its offset; reading goes on.
    """
    out: list[Event] = []
    parse = adapter.parse_record
    path = ctx.path
    for item in records:
        if isinstance(item, IngestError):
            item.path = path
            out.append(item)
            continue
        off, rec = item
        ctx.offset = off
        if not isinstance(rec, dict):
            out.append(IngestError(off, "record is not a JSON object", path))
            continue
        try:
            evs = list(parse(rec, ctx))
        except Exception as e:  # bad data must never stop a file being read
            out.append(IngestError(off, f"unreadable record: {type(e).__name__}: {e}", path))
            continue
        out.extend(checked(evs, off, path))
    return out


def event_problem(ev: Event) -> str | None:
    """Why the store could not keep an adapter's event (a field of the wrong type, a number SQLite
    cannot hold), or None. Adapters copy values out of logs; a mistyped one must not stall a file."""
    if isinstance(ev, IngestError):
        return None
    text = _TEXT_OF[type(ev)](ev)
    if not _TEXT_TYPES.issuperset(map(type, text)):  # the fast test; then which field, and why
        for f, v in zip(_TEXT_FIELDS[type(ev)], text, strict=True):
            if v is not None and not isinstance(v, str):
                return f"{f} must be text, got {type(v).__name__}"
    if isinstance(ev, StepEvent):
        for f in ("exit_code", "duration_ms"):
            v = getattr(ev, f)
            if v is not None and (type(v) is not int or not -INT64 <= v < INT64):
                return f"{f} must be a 64-bit integer, got {v!r:.40}"
        if ev.input is not None and not isinstance(ev.input, dict):
            return f"input must be an object, got {type(ev.input).__name__}"
    elif isinstance(ev, UsageEvent):
        for f in _TOKEN_FIELDS:
            v = getattr(ev, f)
            if type(v) is not int or not 0 <= v < MAX_TOKENS:
                return f"{f} must be a token count, got {v!r:.40}"
    return None


def checked(evs: list[Event], offset: int, path: str) -> list[Event]:
    """`evs` with each event the store could not keep replaced by an IngestError at `offset`."""
    for i, ev in enumerate(evs):
        why = event_problem(ev)
        if why is not None:
            evs[i] = IngestError(offset, f"unreadable record: {why}", path)
    return evs


def parse_chunk(
    adapter: Adapter,
    data: bytes,
    base_offset: int,
    ctx: ParseContext,
    final: bool = False,
    max_line: int | None = None,
) -> tuple[list[Event], int]:
    """Parse the complete lines of a jsonl chunk; returns events (IngestErrors included), consumed.

    The caller keeps `data[consumed:]` and prepends it to the next chunk, at offset
    `base_offset + consumed`. `final=True` (one-shot ingest at EOF) also reads a last line that
    lacks its newline and ends the file for the adapter (`finish`). A line longer than
    `max_line` bytes is one IngestError, not parsed.
    """
    events = parse_records(adapter, iter_records(data, base_offset, final, max_line), ctx)
    if final:
        events.extend(finish(adapter, ctx))
    return events, consumed_bytes(data, final)


def finish(adapter: Adapter, ctx: ParseContext) -> list[Event]:
    """At the end of a file, what an adapter held back for a record that never came (an adapter
    may define `finish(ctx)`: Codex holds records seen before the session's id)."""
    end = getattr(adapter, "finish", None)
    return checked(list(end(ctx)), ctx.offset, ctx.path) if end is not None else []


def parse_document_bytes(adapter: Adapter, data: bytes, ctx: ParseContext) -> list[Event]:
    """Parse a whole-file JSON document (Gemini .json). Invalid JSON (e.g. caught mid-rewrite)
    is one IngestError at offset 0: the watcher should retry after the next change."""
    ctx.offset = 0
    try:
        doc = _valid_text(_loads(data), data)
    except _BAD_JSON as e:
        return [IngestError(0, f"invalid JSON document: {e}", ctx.path)]
    try:
        return checked(list(adapter.parse_document(doc, ctx)), 0, ctx.path)
    except Exception as e:
        return [IngestError(0, f"unreadable document: {type(e).__name__}: {e}", ctx.path)]


def parse_bytes(adapter: Adapter, data: bytes, ctx: ParseContext) -> list[Event]:
    """One-shot parse of a finished file with either framing."""
    if adapter.framing == "document":
        return parse_document_bytes(adapter, data, ctx)
    return parse_chunk(adapter, data, 0, ctx, final=True)[0]


def head_objects(head: bytes, limit: int = 8) -> list[dict[str, Any]]:
    """The JSON objects on the first complete lines of a file's head (for detection)."""
    out: list[dict[str, Any]] = []
    for line in head.split(b"\n")[:-1][:limit]:
        if not line.strip():
            continue
        try:
            obj = _loads(line)
        except _BAD_JSON:
            try:
                obj, _ = _decoder.raw_decode(line.decode("utf-8", "replace").strip())
            except _BAD_JSON:
                return out
        if isinstance(obj, dict):
            out.append(obj)
    return out


def ts_of(value: Any) -> str | None:
    """A usable RFC 3339 timestamp or None (scrubbed fixtures hold placeholders)."""
    if isinstance(value, str) and len(value) >= 10 and value[:4].isdigit():
        return value
    return None


def goal_text(text: str) -> str:
    """A user prompt as a run goal: whitespace collapsed, cut to ~200 characters."""
    one = " ".join(text.split())
    return one if len(one) <= GOAL_CHARS else one[: GOAL_CHARS - 1] + "…"


def usage_events(
    state: dict[str, Any],
    session_id: str,
    message_id: str,
    vals: tuple[int, int, int, int],
    keep: int | None = 256,
) -> list[UsageEvent]:
    """Usage of one response, which logs repeat (and grow) across the lines of that response.

    `fold` keeps the first event per message id, so a later, larger report is emitted as a delta
    under a derived id (`<id>#<n>`): the sum per message is then its largest report, and
    re-reading the same bytes with the same state emits the same ids.
    """
    seen: dict[str, list[int]] = state.setdefault("usage", {})
    prev = seen.get(message_id)
    if prev is None:
        seen[message_id] = [*vals, 0]
        if keep is not None and len(seen) > keep:
            del seen[next(iter(seen))]
        i, o, cc, cr = vals
        return [UsageEvent(session_id, message_id, i, o, cc, cr)]
    top = [max(a, b) for a, b in zip(prev[:4], vals, strict=True)]
    if top == prev[:4]:
        return []
    n = prev[4] + 1
    delta = [a - b for a, b in zip(top, prev[:4], strict=True)]
    seen[message_id] = [*top, n]
    return [UsageEvent(session_id, f"{message_id}#{n}", delta[0], delta[1], delta[2], delta[3])]


def as_int(value: Any) -> int:
    """Token counts as ints; anything else (null, placeholders) counts as 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
