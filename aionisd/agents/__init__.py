"""The agent registry: one `Agent` record per agent module, and what is decided across agents
(which adapter reads a file, which files install writes). Everything else that lists agents
(the `[watch]` config, the watcher, the compiler's read-only tools, `aionis agents install`)
reads `AGENTS`, so adding an agent is one module plus its record here.

Adapters are pure: session logs (bytes) in, model events out; no I/O but `parse_file`.
"""

from __future__ import annotations

from pathlib import Path

from aionisd.model import Event

from . import claude_code, codex, gemini, native
from .base import HEAD_SIZE, Adapter, Agent, ParseContext, UnknownFormatError, parse_bytes

# In detection order: the most specific formats first.
AGENTS: dict[str, Agent] = {a.name: a for a in (native.AGENT, codex.AGENT, gemini.AGENT, claude_code.AGENT)}

ALL_ADAPTERS: tuple[Adapter, ...] = tuple(ad for a in AGENTS.values() for ad in a.adapters)
_BY_WATCH_KEY = {a.watch_key: a for a in AGENTS.values()}


def adapters_for(key: str) -> tuple[Adapter, ...]:
    """The adapters a `[watch]` key covers (gemini: JSONL and document)."""
    agent = _BY_WATCH_KEY.get(key)
    return agent.adapters if agent is not None else ()


def detect_adapter(head: bytes) -> Adapter | None:
    """The adapter whose format a file's first bytes (~8 KiB) show, or None."""
    for a in ALL_ADAPTERS:
        if a.detect(head):
            return a
    return None


def adapter_for(key: str, path: str, head: bytes | None = None) -> Adapter | None:
    """The adapter for a file found under the directory watched as `key`.

    The path narrows the candidates (`wants`); with `head`, content decides among them and a
    file whose content matches none is not ours.
    """
    cands = [a for a in adapters_for(key) if a.wants(path)]
    if head is None:
        return cands[0] if cands else None
    for a in cands:
        if a.detect(head):
            return a
    return None


def parse_file(path: str | Path) -> list[Event]:
    """One-shot ingest: choose the adapter by content, parse the whole file.

    A complete last line without its newline is read; a truncated one is an IngestError.
    Raises UnknownFormatError when no adapter recognises the content (and OSError as usual).
    """
    p = str(path)
    data = Path(p).read_bytes()
    adapter = detect_adapter(data[:HEAD_SIZE])
    if adapter is None:
        titles = [a.title for a in AGENTS.values()]
        known = f"{', '.join(titles[:-1])} or {titles[-1]}"
        raise UnknownFormatError(f"{p}: not a recognised agent log ({known})")
    return parse_bytes(adapter, data, ParseContext(p))


def installable() -> tuple[str, ...]:
    """The agents `aionis agents install` can wire up."""
    return tuple(sorted(a.name for a in AGENTS.values() if a.installer is not None))


def snippets() -> dict[str, str]:
    """share/agents/: `<agent>/<file>` -> the text install writes there."""
    return {
        f"{a.name}/{rel}": text
        for a in sorted(AGENTS.values(), key=lambda a: a.name)
        if a.installer is not None
        for rel, text in a.installer.snippets().items()
    }


def read_only_tools() -> tuple[frozenset[str], tuple[str, ...]]:
    """Tool names, and name prefixes, that only read or plan in some agent's vocabulary."""
    names = frozenset().union(*(a.read_only_tools for a in AGENTS.values()))
    prefixes = tuple(p for a in AGENTS.values() for p in a.read_only_prefixes)
    return names, prefixes
