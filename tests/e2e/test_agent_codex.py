"""Codex CLI rollouts across versions: shell, shell_command, exec_command (+ write_stdin),
local_shell_call, apply_patch, and the output shapes each version writes."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aionisd.agents import codex, parse_file
from aionisd.agents.base import ParseContext, parse_bytes, parse_chunk
from aionisd.agents.codex import argv_command, patch_step
from aionisd.client import Client
from aionisd.compile import compile_run
from aionisd.model import IngestError, Run, Step, fold
from tests import conftest
from tests.conftest import Daemon, Xdg, aionis

SAMPLES = conftest.SAMPLES
DATA = conftest.DATA / "sources"
ROLLOUT_058 = (
    SAMPLES / "codex" / "rollout-2025-11-17T15-30-28-019a93b9-f380-7600-98ff-940e6b99603c.head.jsonl"
)
AGENTV = SAMPLES / "procedural" / "codex" / "agentv-git-hook-cleanup-and-private-checkpoint-remote.jsonl"


def run_of(path: Path) -> Run:
    events = parse_file(path)
    assert not [e for e in events if isinstance(e, IngestError)]
    runs = fold(events)
    assert len(runs) == 1 and runs[0].agent == "codex"
    return runs[0]


def commands(run: Run) -> list[Step]:
    return [s for s in run.steps if s.kind == "command"]


@conftest.needs_samples
def test_codex_058_figures() -> None:
    run = run_of(ROLLOUT_058)
    cmds = commands(run)
    assert len(cmds) == 35
    assert Counter(s.status for s in cmds) == {"succeeded": 32, "failed": 3}
    assert Counter(s.exit_code for s in cmds if s.status == "failed") == {2: 2, 1: 1}
    assert all(s.exit_code == 0 for s in cmds if s.status == "succeeded")
    first = cmds[0]
    assert (first.command, first.shell, first.tool) == ("ls", "bash -lc", "shell")
    assert first.cwd == "/home/user/projects/temp/chatbot-ui"
    assert first.stdout.startswith("LM Studio configuration.md\nREADME.md")
    assert first.duration_ms == 0
    assert run.session_id == "019a93b9-f380-7600-98ff-940e6b99603c"
    assert run.cwd == "/home/user/projects/temp/chatbot-ui" and run.git_branch == "main"
    assert run.model == "gpt-5.1-codex"
    assert run.goal is not None and run.goal.startswith("finish up the users work")
    assert [s.tool for s in run.steps if s.kind == "tool"] == ["update_plan", "update_plan"]
    t = run.tokens
    assert (t.input + t.cache_read, t.cache_read, t.output) == (1_046_616, 975_232, 21_574)


@conftest.needs_samples
def test_procedural_exec_command_session() -> None:
    run = run_of(AGENTV)
    cmds = commands(run)
    assert len(cmds) == 79
    assert Counter((s.status, s.exit_code) for s in cmds) == {
        ("succeeded", 0): 78,
        ("failed", 1): 1,
    }
    assert all(s.tool == "exec_command" for s in cmds)
    first = cmds[0]
    assert (first.command or "").startswith("git fetch origin && git status --short --branch")
    assert first.duration_ms == 620  # "Wall time: 0.6197 seconds"
    assert first.stdout.startswith("## main...origin/main [ahead 1]")
    patches = [s for s in run.steps if s.tool == "apply_patch"]
    assert len(patches) == 4
    for p in patches:
        assert p.kind == "file_edit" and p.status == "succeeded"
        assert p.input["path"].startswith("/home/entity/projects/EntityProcess/agentv/.entire/")
        assert p.input["edits"]
    t = run.tokens
    assert (t.input + t.cache_read, t.cache_read, t.output) == (1_578_777, 1_389_568, 19_131)


@conftest.needs_samples
def test_shape_fixture_of_newer_versions_parses() -> None:
    events = parse_file(SAMPLES / "codex" / "codex-0.146-shape-fixture.jsonl")
    assert not [e for e in events if isinstance(e, IngestError)]
    run = fold(events)[0]
    assert run.session_id == "019fc8be-3658-7ca3-9e29-000000000000"
    assert run.goal == "List the files" and run.cwd == "/tmp/repo"
    ls = [s for s in run.steps if s.command == "ls"]
    # custom_tool_call output as an array, function_call output as an object
    assert [(s.key, s.stdout) for s in ls] == [("call-1", "a.txt\nb.txt\n"), ("call-2", "a.txt\n")]
    mcp = next(s for s in run.steps if s.key == "call-5")
    assert (mcp.kind, mcp.tool, mcp.duration_ms) == ("tool", "mcp__example__example_tool", 4)
    assert run.ended_at is not None and run.ended_at.startswith("2026-08-03")


def test_exec_command_write_stdin_apply_patch_fixture() -> None:
    run = run_of(DATA / "codex-exec-stdin-patch.jsonl")
    by_key = {s.key: s for s in run.steps}
    build = by_key["call-exec"]
    assert (build.kind, build.command, build.status, build.exit_code) == (
        "command",
        "make build",
        "succeeded",
        0,
    )
    assert build.stdout == "building...\n"
    assert build.ended_at == "2026-06-01T10:00:09.000Z"
    assert "call-poll" not in by_key  # a poll is not a step
    conf = by_key["call-conf"]
    assert (conf.status, conf.exit_code, conf.cwd) == ("failed", 1, "/work/proj/sub")
    answer = by_key["call-answer"]
    assert (answer.kind, answer.tool, answer.input["chars"]) == ("tool", "write_stdin", "y\n")
    assert answer.stdout == "configure: error: no compiler\n"
    add = by_key["call-add"]
    assert add.kind == "file_write"
    assert add.input == {"path": "/work/proj/NOTES.md", "content": "# Notes\n\nbuilt with make\n"}
    upd = by_key["call-upd"]
    assert upd.kind == "file_edit"
    assert [f["path"] for f in upd.input["files"]] == ["/work/proj/Makefile", "/work/proj/README.md"]
    test = by_key["call-test"]
    assert (test.tool, test.status, test.exit_code, test.duration_ms) == (
        "shell_command",
        "failed",
        3,
        1500,
    )
    local = by_key["call-local"]
    assert (local.command, local.shell, local.exit_code, local.duration_ms) == (
        "ls -la",
        "bash -lc",
        0,
        250,
    )
    user_cmd = by_key["call-user"]
    assert (user_cmd.kind, user_cmd.command, user_cmd.duration_ms) == ("command", "git status", 120)
    t = run.tokens
    assert (t.input, t.cache_read, t.output) == (1600, 1400, 120)
    assert run.git_branch == "dev" and run.model == "gpt-5.5"


def test_resume_after_running_process_keeps_its_session_id() -> None:
    """The offset can be committed while exec_command still runs: the process map lives in
    state, so the poll that ends it after a restart still closes the right step."""
    path = DATA / "codex-exec-stdin-patch.jsonl"
    data = path.read_bytes()
    cut = data.index(b'"call-poll"')
    cut = data.rindex(b"\n", 0, cut) + 1
    adapter = codex.ADAPTER
    ctx = ParseContext(str(path))
    first, consumed = parse_chunk(adapter, data[:cut], 0, ctx)
    resumed = ParseContext(str(path), json.loads(json.dumps(ctx.state)))
    second, _ = parse_chunk(adapter, data[consumed:], consumed, resumed, final=True)
    steps = {s.key: s for s in fold(first + second)[0].steps}
    assert (steps["call-exec"].status, steps["call-exec"].exit_code) == ("succeeded", 0)
    lost = ParseContext(str(path))  # without the state the session is still found by file name
    third, _ = parse_chunk(adapter, data[consumed:], consumed, lost, final=True)
    assert all(e.session_id for e in third if not isinstance(e, IngestError))


def test_argv_and_patch_helpers() -> None:
    assert argv_command(["bash", "-lc", "make -j4"]) == ("make -j4", "bash -lc")
    assert argv_command(["/bin/zsh", "-c", "ls"]) == ("ls", "zsh -c")
    assert argv_command(["rg", "-n", "a b"]) == ("rg -n 'a b'", None)
    kind, inp = patch_step("*** Begin Patch\n*** Delete File: a.txt\n*** End Patch\n")
    assert (kind, inp) == ("file_edit", {"path": "a.txt", "delete": True})
    kind, inp = patch_step(
        "*** Begin Patch\n*** Update File: a.py\n*** Move to: b.py\n@@\n-x\n+y\n*** End Patch"
    )
    assert (kind, inp) == (
        "file_edit",
        {"path": "a.py", "edits": [{"old": "x\n", "new": "y\n"}], "move_to": "b.py"},
    )


PATCH_OPS = st.lists(
    st.tuples(
        st.sampled_from(["Add", "Update", "Delete"]),
        st.from_regex(r"[a-z]{1,8}(/[a-z]{1,8})?\.(py|md|txt)", fullmatch=True),
        st.lists(st.from_regex(r"[a-z =()]{1,12}", fullmatch=True), min_size=1, max_size=4),
    ),
    min_size=1,
    max_size=5,
    unique_by=lambda op: op[1],
)


def _patch_call(patch: str, how: str) -> dict[str, Any]:
    """The three ways Codex records an apply_patch: its own tool, an argv, a shell heredoc."""
    if how == "custom":
        return {"type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": patch}
    command: Any = ["apply_patch", patch] if how == "argv" else f"apply_patch <<'EOF'\n{patch}\nEOF"
    args = json.dumps({"command": command})
    return {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": args}


@settings(max_examples=60, deadline=None)
@given(PATCH_OPS, st.sampled_from(["custom", "argv", "heredoc"]))
def test_a_patch_is_parsed_once_in_the_adapter_into_file_steps(ops: list[Any], how: str) -> None:
    """However Codex ran apply_patch, the step holds each file's write, edits or deletion in the
    shape every adapter emits, and the compiler turns those into file steps and commands."""
    lines = ["*** Begin Patch"]
    for op, path, body in ops:
        lines.append(f"*** {op} File: {path}")
        if op == "Add":
            lines += [f"+{b}" for b in body]
        elif op == "Update":
            lines += ["@@", *(f"-{b}" if i % 2 else f"+{b}" for i, b in enumerate(body))]
    patch = "\n".join([*lines, "*** End Patch"])
    recs = [
        {"timestamp": "2026-01-01T00:00:00Z", "type": "session_meta", "payload": {"id": SID, "cwd": "/w"}},
        {"timestamp": "2026-01-01T00:00:01Z", "type": "response_item", "payload": _patch_call(patch, how)},
    ]
    data = "".join(json.dumps(r) + "\n" for r in recs).encode()
    [run] = fold(parse_bytes(codex.ADAPTER, data, ParseContext("x.jsonl")))
    [step] = run.steps
    assert step.command is None
    assert step.kind == ("file_write" if [op for op, _, _ in ops] == ["Add"] else "file_edit")
    files = step.input.get("files", [step.input])
    assert [f["path"] for f in files] == [path for _, path, _ in ops]
    for f, (op, _, body) in zip(files, ops, strict=True):
        if op == "Add":
            assert f["content"] == "".join(b + "\n" for b in body)
        elif op == "Delete":
            assert f["delete"] is True
        else:
            [edit] = f["edits"]
            assert edit["new"] == "".join(b + "\n" for i, b in enumerate(body) if not i % 2)
    doc = compile_run(run, now="2026-01-01T00:00:00Z").doc
    kinds = {"Add": "file_write", "Update": "file_edit", "Delete": "command"}
    assert [s["kind"] for s in doc["steps"]] == [kinds[op] for op, _, _ in ops]
    assert [s["run"] for s in doc["steps"] if s["kind"] == "command"] == [
        f"rm -f -- {p}" for op, p, _ in ops if op == "Delete"
    ]


def test_legacy_rollout_without_wrapper(tmp_path: Path) -> None:
    lines = [
        {
            "id": "0197aaaa-bbbb-7ccc-8ddd-eeeeffff0000",
            "timestamp": "2025-06-01T10:00:00.000Z",
            "instructions": None,
            "git": {"branch": "main"},
        },
        {"record_type": "state"},
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "run the tests"}],
        },
        {
            "type": "function_call",
            "name": "shell",
            "call_id": "c1",
            "arguments": json.dumps({"command": ["bash", "-lc", "pytest -q"], "workdir": "/p"}),
        },
        {
            "type": "function_call_output",
            "call_id": "c1",
            "output": json.dumps(
                {"output": "1 failed", "metadata": {"exit_code": 1, "duration_seconds": 2.5}}
            ),
        },
    ]
    f = tmp_path / "rollout-2025-06-01T10-00-00-0197aaaa-bbbb-7ccc-8ddd-eeeeffff0000.jsonl"
    f.write_text("".join(json.dumps(x) + "\n" for x in lines))
    run = run_of(f)
    (step,) = run.steps
    assert (step.command, step.status, step.exit_code, step.duration_ms, step.cwd) == (
        "pytest -q",
        "failed",
        1,
        2500,
        "/p",
    )
    assert run.session_id == "0197aaaa-bbbb-7ccc-8ddd-eeeeffff0000"


def test_subagent_thread_belongs_to_parent_run(tmp_path: Path) -> None:
    parent = "019fffff-0000-7000-8000-000000000001"
    lines = [
        {
            "timestamp": "2026-08-01T10:00:00.000Z",
            "type": "session_meta",
            "payload": {
                "id": "019fffff-0000-7000-8000-000000000002",
                "parent_thread_id": parent,
                "cwd": "/p",
                "source": {"subagent": {"thread_spawn": {}}},
            },
        },
        {
            "timestamp": "2026-08-01T10:00:01.000Z",
            "type": "response_item",
            "payload": {
                "type": "function_call",
                "name": "exec_command",
                "call_id": "s1",
                "arguments": json.dumps({"cmd": "make"}),
            },
        },
        {
            "timestamp": "2026-08-01T10:00:02.000Z",
            "type": "response_item",
            "payload": {
                "type": "function_call_output",
                "call_id": "s1",
                "output": "Process exited with code 0\nOutput:\nok\n",
            },
        },
    ]
    f = tmp_path / "rollout-2026-08-01T10-00-00-019fffff-0000-7000-8000-000000000002.jsonl"
    f.write_text("".join(json.dumps(x) + "\n" for x in lines))
    run = run_of(f)
    assert run.session_id == parent
    (step,) = run.steps
    assert step.subagent and step.status == "succeeded" and step.cwd == "/p"


# --- records before session_meta (issue 13, item 3) -------------------------------------------

META_LATE = DATA / "codex-agentv-meta-after-first-turn.jsonl"
SID = "019ed50c-2fb3-7002-a384-360bea6e7f04"


@conftest.needs_samples
def test_turn_before_session_meta_is_kept_in_the_same_run() -> None:
    """The agentv rollout with its session_meta moved after the first turn (as a resumed rollout
    or an Entire checkpoint transcript has it), under a name that carries no session id: the 47
    exec_command calls of that first turn were lost without an error."""
    late = run_of(META_LATE)
    assert late.session_id == SID and late.cwd == "/home/entity/projects/EntityProcess/agentv"
    cmds = commands(late)
    assert len(cmds) == 79
    assert Counter((s.status, s.exit_code) for s in cmds) == {("succeeded", 0): 78, ("failed", 1): 1}
    assert (cmds[0].command or "").startswith("git fetch origin && git status --short --branch")
    assert late == run_of(AGENTV)  # every step, in order, with the same fields


def _line_starts(data: bytes) -> list[int]:
    return [0, *(i + 1 for i, b in enumerate(data) if b == 0x0A)][:-1]


def _parse_resumed(path: Path, data: bytes, cut: int) -> list[Run]:
    """Parse `data` in two chunks with the state between them saved as the store saves it (JSON),
    as a daemon restarted at offset `cut` does."""
    adapter = codex.ADAPTER
    ctx = ParseContext(str(path))
    first, consumed = parse_chunk(adapter, data[:cut], 0, ctx)
    resumed = ParseContext(str(path), json.loads(json.dumps(ctx.state)))
    second, _ = parse_chunk(adapter, data[consumed:], consumed, resumed, final=True)
    events = first + second
    assert not [e for e in events if isinstance(e, IngestError)]
    return fold(events)


@conftest.needs_samples
@settings(max_examples=40, deadline=None)
@given(st.data())
def test_a_restart_anywhere_gives_the_same_run(data: st.DataObject) -> None:
    """Held records live in the state committed with the offset: cut anywhere, same run."""
    raw = META_LATE.read_bytes()
    cut = data.draw(st.sampled_from(_line_starts(raw)))
    assert _parse_resumed(META_LATE, raw, cut) == [run_of(AGENTV)]


def _rec(ts: int, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"timestamp": f"2026-09-01T10:{ts // 60:02d}:{ts % 60:02d}.000Z", "type": kind, "payload": payload}


def _call(ts: int, key: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    payload = {"type": "function_call", "name": name, "call_id": key, "arguments": json.dumps(args)}
    return _rec(ts, "response_item", payload)


def _out(ts: int, key: str, text: str) -> dict[str, Any]:
    return _rec(ts, "response_item", {"type": "function_call_output", "call_id": key, "output": text})


def _session(codes: list[int | None], meta_at: int, sid: str) -> tuple[list[dict[str, Any]], list[int]]:
    """A rollout of exec_command calls (None: left running, then interrupted with ^C: exit 130)
    whose session_meta comes after `meta_at` of its records; also the exit code of each call."""
    recs = [_rec(0, "event_msg", {"type": "user_message", "message": "fix the build"})]
    for i, code in enumerate(codes):
        t = 2 * i + 1
        recs.append(_call(t, f"c{i}", "exec_command", {"cmd": f"make step{i}", "workdir": "/w"}))
        if code is None:
            recs.append(_out(t, f"c{i}", f"Process running with session ID {i}\nOutput:\n"))
            recs.append(_call(t + 1, f"w{i}", "write_stdin", {"session_id": i, "chars": "\u0003"}))
            recs.append(_out(t + 1, f"w{i}", "Process exited with code 130\nOutput:\n^C\n"))
        else:
            recs.append(_out(t + 1, f"c{i}", f"Process exited with code {code}\nOutput:\nok\n"))
    meta = _rec(0, "session_meta", {"id": sid, "cwd": "/w", "git": {"branch": "main"}})
    at = min(meta_at, len(recs))
    return [*recs[:at], meta, *recs[at:]], [130 if c is None else c for c in codes]


def _jsonl(recs: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in recs).encode()


@settings(max_examples=150, deadline=None)
@given(
    codes=st.lists(st.one_of(st.none(), st.integers(0, 255)), min_size=1, max_size=12),
    meta_at=st.integers(0, 60),
    named=st.booleans(),
    data=st.data(),
)
def test_every_call_lands_in_the_session_wherever_session_meta_is(
    codes: list[int | None], meta_at: int, named: bool, data: st.DataObject
) -> None:
    """Every exec_command (the ^C-interrupted ones too) is one step of the session's run, in
    order, whether the file's name carries the session id or not, across a restart anywhere."""
    sid = "019fa000-0000-7000-8000-00000000abcd"
    recs, exits = _session(codes, meta_at, sid)
    raw = _jsonl(recs)
    path = Path(f"/logs/rollout-2026-09-01T10-00-00-{sid}.jsonl" if named else "/logs/full.jsonl")
    (run,) = _parse_resumed(path, raw, data.draw(st.sampled_from(_line_starts(raw))))
    assert run.session_id == sid and run.git_branch == "main" and run.cwd == "/w"
    cmds = commands(run)
    assert [s.key for s in cmds] == [f"c{i}" for i in range(len(codes))]
    assert [s.exit_code for s in cmds] == exits
    assert [s.status for s in cmds] == ["succeeded" if c == 0 else "failed" for c in exits]
    if not named:  # held records are read after session_meta: the same run as meta first
        (first,) = fold(
            parse_bytes(codex.ADAPTER, _jsonl(_session(codes, 0, sid)[0]), ParseContext(str(path)))
        )
        assert run == first


def test_without_session_meta_the_file_names_the_run(tmp_path: Path) -> None:
    """No session id anywhere: one run under an id derived from the content, so the same bytes
    under another name are the same run; more held records than the bound do not wait for EOF."""
    recs = _session([0, None, 2], 10**6, "unused")[0][:-1]  # every record but session_meta
    a, b = tmp_path / "a" / "full.jsonl", tmp_path / "b.jsonl"
    a.parent.mkdir()
    for f in (a, b):
        f.write_bytes(_jsonl(recs))
    (run,) = fold(parse_file(a))
    assert fold(parse_file(b)) == [run]
    assert [s.exit_code for s in commands(run)] == [0, 130, 2]
    many, _ = _session([0] * (codex._EARLY_KEEP // 2 + 1), 10**6, "x")
    events, _ = parse_chunk(codex.ADAPTER, _jsonl(many[:-1]), 0, ParseContext(str(a)))
    (live,) = fold(events)  # not final: a live file, whose end is not known
    assert len(commands(live)) == codex._EARLY_KEEP // 2 + 1


@pytest.mark.slow
def test_ingest_through_the_daemon_reports_every_call(daemon: Daemon, xdg: Xdg, tmp_path: Path) -> None:
    """`aionis ingest` of both files: every call recorded, one run each, and no error."""
    bare = tmp_path / "full.jsonl"
    bare.write_bytes(_jsonl(_session([0, None, 1], 10**6, "unused")[0][:-1]))
    r = aionis(xdg, "ingest", str(META_LATE), str(bare), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["errors"] == []
    steps = {run["id"]: run["steps"] for run in out["runs"]}
    assert steps.pop(f"codex:{SID}") == 86  # 79 exec_command calls, 4 patches, 3 web searches
    (derived,) = steps
    with Client(daemon.socket) as c:
        run = c.call("runs.get", id=derived)
    assert [(s["key"], s["exit_code"]) for s in run["steps"] if s["kind"] == "command"] == [
        ("c0", 0),
        ("c1", 130),
        ("c2", 1),
    ]


def test_patches_recorded_before_the_adapter_parsed_them_are_migrated(tmp_path: Path) -> None:
    """Stores from before migration 4 hold `{patch, paths}` edits and `apply_patch <<EOF`
    commands; after it they are the file steps the adapter records today."""
    import apsw

    from aionisd.store import runs as run_store
    from aionisd.store.db import Database
    from aionisd.store.migrations import MIGRATIONS, migrate

    patch = "*** Begin Patch\n*** Update File: a.txt\n@@\n-one\n+two\n*** End Patch\n"
    heredoc = "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: b.txt\n+hello\n*** End Patch\nEOF"
    path = tmp_path / "aionis.db"
    conn = apsw.Connection(str(path))
    for number, step in MIGRATIONS:
        if number < 4:
            with conn:
                step(conn) if callable(step) else conn.execute(step)
                conn.execute(f"PRAGMA user_version = {number}")
    with conn:
        conn.execute("INSERT INTO runs(id, agent, session_id) VALUES ('codex:s', 'codex', 's')")
        for seq, (kind, command, inp) in enumerate(
            [
                ("file_edit", None, {"patch": patch, "paths": ["a.txt"]}),
                ("command", heredoc, {"command": heredoc}),
                ("command", "echo '*** Begin Patch'", {"command": "echo '*** Begin Patch'"}),
            ],
            1,
        ):
            conn.execute(
                "INSERT INTO steps(run_id, key, seq, kind, tool, command, input, status) "
                "VALUES ('codex:s', ?, ?, ?, 'shell', ?, ?, 'succeeded')",
                (f"k{seq}", seq, kind, command, json.dumps(inp)),
            )
    assert 4 in migrate(conn)
    conn.close()
    run = run_store.get_run(Database(path), "codex:s")
    assert run is not None
    steps = {s.key: s for s in run.steps}
    assert (steps["k1"].kind, steps["k1"].input) == patch_step(patch)
    assert (steps["k2"].kind, steps["k2"].input) == patch_step(heredoc) and steps["k2"].command is None
    assert steps["k3"].kind == "command" and steps["k3"].command == "echo '*** Begin Patch'"
