"""Log adapters: agent session logs (bytes) in, model events out. Pure: no I/O but `parse_file`.

`ADAPTERS` is keyed by the config `[watch]` names. Gemini has two framings (a whole JSON
document before v0.39, JSONL after), so the `gemini` watch key covers two adapters:
`adapters_for(key)` lists them and `adapter_for(key, path, head)` picks the one for a file.
"""

from __future__ import annotations

from pathlib import Path

from aionisd.model import Event

from . import claude_code, codex, gemini, native
from .base import (
    HEAD_SIZE,
    Adapter,
    Framing,
    ParseContext,
    UnknownFormatError,
    parse_bytes,
    parse_chunk,
    parse_document_bytes,
    split_records,
)

ADAPTERS: dict[str, Adapter] = {
    "claude_code": claude_code.ADAPTER,
    "codex": codex.ADAPTER,
    "gemini": gemini.DOCUMENT_ADAPTER,
    "native": native.ADAPTER,
}

# Detection order: the most specific formats first.
ALL_ADAPTERS: tuple[Adapter, ...] = (
    native.ADAPTER,
    codex.ADAPTER,
    gemini.JSONL_ADAPTER,
    gemini.DOCUMENT_ADAPTER,
    claude_code.ADAPTER,
)

_FAMILIES: dict[str, tuple[Adapter, ...]] = {
    "claude_code": (claude_code.ADAPTER,),
    "codex": (codex.ADAPTER,),
    "gemini": (gemini.DOCUMENT_ADAPTER, gemini.JSONL_ADAPTER),
    "native": (native.ADAPTER,),
}

__all__ = [
    "ADAPTERS",
    "ALL_ADAPTERS",
    "HEAD_SIZE",
    "Adapter",
    "Framing",
    "ParseContext",
    "UnknownFormatError",
    "adapter_for",
    "adapters_for",
    "detect_adapter",
    "parse_bytes",
    "parse_chunk",
    "parse_document_bytes",
    "parse_file",
    "split_records",
]


def adapters_for(key: str) -> tuple[Adapter, ...]:
    """The adapters a `[watch]` key covers (gemini: document and JSONL)."""
    return _FAMILIES.get(key, ())


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
        raise UnknownFormatError(
            f"{p}: not a recognised agent log (Claude Code, Codex, Gemini CLI or aionis trace)"
        )
    return parse_bytes(adapter, data, ParseContext(p))
