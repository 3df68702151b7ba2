"""Framing, detection, chunked reading and bad-data handling shared by every adapter."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from aionisd.agents import AGENTS, adapter_for, adapters_for, claude_code, detect_adapter, parse_file
from aionisd.agents.base import (
    HEAD_SIZE,
    ParseContext,
    UnknownFormatError,
    parse_chunk,
    split_records,
    usage_events,
)
from aionisd.model import Event, IngestError, RunEvent, StepEvent, UsageEvent, fold
from tests import conftest

SAMPLES = conftest.SAMPLES
DATA = conftest.DATA / "sources"

EXPECTED_ADAPTER = {
    "claude-code": "claude_code",
    "procedural/claude-code": "claude_code",
    "codex": "codex",
    "procedural/codex": "codex",
}
GEMINI_EXPECTED = {
    "jsonl_v040.shape-fixture.jsonl": "gemini_jsonl",
    "session-2026-01-10-faff42ab.v0.2x-json-read-write.json": "gemini",
    "session-2026-01-15T20-51-f7633853.v0.23-json.json": "gemini",
}
NOT_OURS = ["aider", "openhands", "swe-agent", "mini-swe-agent"]

JSONL_SAMPLES = sorted(
    p
    for d in ("claude-code", "codex", "gemini-cli", "procedural/claude-code", "procedural/codex")
    for p in (SAMPLES / d).glob("*.jsonl")
) + sorted(DATA.glob("*.jsonl"))


def _sample_files() -> list[Path]:
    return sorted(p for p in SAMPLES.rglob("*") if p.is_file() and p.name != "SOURCES.md")


@conftest.needs_samples
def test_samples_are_present() -> None:
    assert len(JSONL_SAMPLES) >= 15
    assert (SAMPLES / "SOURCES.md").is_file()


@pytest.mark.parametrize("path", _sample_files(), ids=lambda p: str(p.relative_to(SAMPLES)))
def test_detection_by_content(path: Path) -> None:
    rel = path.relative_to(SAMPLES)
    head = path.read_bytes()[:HEAD_SIZE]
    found = detect_adapter(head)
    if rel.parts[0] in NOT_OURS:
        assert found is None
    elif rel.parts[0] == "gemini-cli":
        assert found is not None and found.name == GEMINI_EXPECTED[path.name]
    else:
        assert found is not None and found.name == EXPECTED_ADAPTER[str(rel.parent)]


@conftest.needs_samples
def test_detection_ignores_file_names(tmp_path: Path) -> None:
    claude = SAMPLES / "claude-code" / "entire-6c3e73767733-v2.1.12-small-bash-progress-failure.jsonl"
    disguised = tmp_path / "rollout-2026-01-01T00-00-00-x.jsonl"
    disguised.write_bytes(claude.read_bytes())
    runs = fold(parse_file(disguised))
    assert [r.agent for r in runs] == ["claude-code"]


def test_unknown_format_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "notes.jsonl"
    f.write_text('{"hello": "world"}\n')
    with pytest.raises(UnknownFormatError, match=r"notes\.jsonl"):
        parse_file(f)


@conftest.needs_samples
def test_adapter_for_watch_keys() -> None:
    assert {a.watch_key for a in AGENTS.values()} == {"claude_code", "codex", "gemini", "native"}
    assert [a.name for a in adapters_for("gemini")] == ["gemini_jsonl", "gemini"]
    jsonl_head = (SAMPLES / "gemini-cli" / "jsonl_v040.shape-fixture.jsonl").read_bytes()
    doc_head = SAMPLES / "gemini-cli" / "session-2026-01-15T20-51-f7633853.v0.23-json.json"
    chats = "/home/u/.gemini/tmp/proj/chats"
    found = adapter_for("gemini", f"{chats}/session-2026-05-01T10-00-abcd.jsonl", jsonl_head)
    assert found is not None and found.framing == "jsonl"
    found = adapter_for("gemini", f"{chats}/session-1.json", doc_head.read_bytes()[:HEAD_SIZE])
    assert found is not None and found.framing == "document"
    assert adapter_for("codex", "/home/u/.codex/sessions/2026/01/01/notes.txt") is None
    assert adapter_for("codex", "/x/rollout-2026-01-01T00-00-00-abc.jsonl", jsonl_head) is None


def test_split_records_complete_lines_only() -> None:
    data = b'{"a": 1}\n\n{"b": 2}\n{"c": 3'
    records, errors, consumed = split_records(data, 100)
    assert records == [(100, {"a": 1}), (110, {"b": 2})]
    assert errors == []
    assert consumed == len(b'{"a": 1}\n\n{"b": 2}\n')


def test_split_records_concatenated_objects_and_bad_lines() -> None:
    data = b'{"a": 1}{"b": "\xc3\xa9"}\nnot json\n{"c": 3}\n'
    records, errors, consumed = split_records(data, 0)
    assert records == [(0, {"a": 1}), (8, {"b": "é"}), (29, {"c": 3})]
    assert [(e.offset, e.reason.split(":")[0]) for e in errors] == [(20, "invalid JSON")]
    assert consumed == len(data)


def test_final_reads_a_complete_last_line_and_flags_a_truncated_one() -> None:
    records, errors, consumed = split_records(b'{"a": 1}\n{"b": 2}', 0, final=True)
    assert records == [(0, {"a": 1}), (9, {"b": 2})] and errors == [] and consumed == 17
    records, errors, consumed = split_records(b'{"a": 1}\n{"b": ', 0, final=True)
    assert records == [(0, {"a": 1})]
    assert [e.offset for e in errors] == [9] and "truncated" in errors[0].reason
    assert consumed == 15


def test_parse_chunk_never_raises_on_bad_data() -> None:
    adapter = claude_code.ADAPTER
    data = b'[1, 2]\n"text"\n{"type": "assistant", "sessionId": "s", "message": 7}\n\xff\xfe\n'
    events, consumed = parse_chunk(adapter, data, 0, ParseContext("f.jsonl"))
    errors = [e for e in events if isinstance(e, IngestError)]
    assert consumed == len(data)
    assert [e.offset for e in errors] == [0, 7, data.index(b"\xff")]
    assert all(e.path == "f.jsonl" for e in errors)


def test_usage_deltas_sum_to_the_largest_report() -> None:
    state: dict[str, object] = {}
    evs = [
        *usage_events(state, "s", "m1", (10, 1, 5, 0)),
        *usage_events(state, "s", "m1", (10, 1, 5, 0)),
        *usage_events(state, "s", "m1", (10, 40, 5, 0)),
        *usage_events(state, "s", "m1", (10, 30, 5, 0)),
        *usage_events(state, "s", "m1", (10, 90, 5, 0)),
    ]
    assert [e.message_id for e in evs] == ["m1", "m1#1", "m1#2"]
    events: list[Event] = [RunEvent("s", "claude-code"), *evs]
    tokens = fold(events)[0].tokens
    assert (tokens.input, tokens.output, tokens.cache_creation) == (10, 90, 5)


def _chunked(path: Path, seed: int) -> list[Event]:
    """Feed a file through parse_chunk in random-sized pieces, persisting state as the watcher
    does (JSON) between pieces, then finish at EOF."""
    data = path.read_bytes()
    adapter = detect_adapter(data[:HEAD_SIZE])
    assert adapter is not None and adapter.framing == "jsonl"
    rng = random.Random(seed)
    ctx = ParseContext(str(path))
    events: list[Event] = []
    buf, base, pos = b"", 0, 0
    while pos < len(data):
        n = rng.randint(1, 4096)
        buf += data[pos : pos + n]
        pos += n
        got, consumed = parse_chunk(adapter, buf, base, ctx)
        events += got
        base += consumed
        buf = buf[consumed:]
        ctx = ParseContext(str(path), json.loads(json.dumps(ctx.state)))
    got, consumed = parse_chunk(adapter, buf, base, ctx, final=True)
    assert consumed == len(buf)
    return events + got


@pytest.mark.parametrize("path", JSONL_SAMPLES, ids=lambda p: p.name[:48])
def test_random_chunks_fold_like_one_shot(path: Path) -> None:
    whole = parse_file(path)
    expected = fold(whole)
    assert expected
    for seed in (1, 2):
        assert fold(_chunked(path, seed)) == expected


@conftest.needs_samples
def test_bad_line_mid_file_is_reported_at_its_offset(tmp_path: Path) -> None:
    src = SAMPLES / "claude-code" / "entire-1a8a83a35a9b-v2.1.33-bash-failures.head.jsonl"
    lines = src.read_bytes().split(b"\n")
    garbage = b'{"type": "assistant", "sessionId": "03a1382e-ecd5-42c4-b3d4-5c659e16590'
    bad = b"\n".join([*lines[:100], garbage, *lines[100:]])
    f = tmp_path / "bad.jsonl"
    f.write_bytes(bad)
    events = parse_file(f)
    errors = [e for e in events if isinstance(e, IngestError)]
    assert len(errors) == 1
    assert errors[0].offset == sum(len(ln) + 1 for ln in lines[:100])
    assert errors[0].path == str(f)
    assert bad[errors[0].offset :].startswith(garbage)
    assert fold(events) == fold(parse_file(src))


@conftest.needs_samples
def test_partial_last_line_waits_while_tailing_and_is_an_error_at_eof(tmp_path: Path) -> None:
    src = SAMPLES / "claude-code" / "entire-6c3e73767733-v2.1.12-small-bash-progress-failure.jsonl"
    data = src.read_bytes()
    cut = data.rfind(b"\n", 0, len(data) - 10) + 1 + 300
    f = tmp_path / "live.jsonl"
    f.write_bytes(data[:cut])
    adapter = claude_code.ADAPTER
    ctx = ParseContext(str(f))
    _, consumed = parse_chunk(adapter, data[:cut], 0, ctx)
    assert consumed == data.rfind(b"\n", 0, cut) + 1
    errors = [e for e in parse_file(f) if isinstance(e, IngestError)]
    assert [e.offset for e in errors] == [consumed]
    assert "truncated" in errors[0].reason


@conftest.needs_samples
def test_events_are_plain_model_types() -> None:
    events = parse_file(SAMPLES / "codex" / "codex-0.146-shape-fixture.jsonl")
    assert {type(e) for e in events} <= {RunEvent, StepEvent, UsageEvent, IngestError}


_ODD_VALUES: list[object] = [None, 1, "x", [], {}, True, -1.5, [1, "a"], {"a": 1}]


def _mutate(obj: object, rng: random.Random) -> object:
    """Drop keys and swap values for odd types, recursively (a damaged or future log)."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            r = rng.random()
            if r < 0.08:
                continue
            out[k] = rng.choice(_ODD_VALUES) if r < 0.16 else _mutate(v, rng)
        return out
    if isinstance(obj, list):
        return [_mutate(x, rng) for x in obj]
    return obj


@pytest.mark.parametrize("path", _sample_files(), ids=lambda p: str(p.relative_to(SAMPLES)))
def test_damaged_records_never_break_an_adapter(path: Path) -> None:
    data = path.read_bytes()
    adapter = detect_adapter(data[:HEAD_SIZE])
    if adapter is None:
        return
    rng = random.Random(path.name)
    for _ in range(4):
        ctx = ParseContext(str(path))
        if adapter.framing == "document":
            list(adapter.parse_document(_mutate(json.loads(data), rng), ctx))
            continue
        for _, rec in split_records(data, 0, final=True)[0][:80]:
            list(adapter.parse_record(_mutate(rec, rng), ctx))
