"""Strict replay never skips a recorded write and ends where the recording ended (issue 13, item 0).

Each recording is made for real (bash in a tmp dir, a native trace written as it runs), then
ingested, compiled, signed, verified and replayed strict into an empty folder by the real engine
with LocalRunner; the two folders must then be byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from aionisd.agents import parse_file
from aionisd.canonical import canonical_bytes
from aionisd.compile import NothingToReplay, compile_run
from aionisd.model import fold
from aionisd.playbook import validate
from aionisd.replay.checks import simulate
from aionisd.replay.engine import Replay, ReplayResult
from aionisd.replay.runner import LocalRunner
from aionisd.signing import PAYLOAD_TYPE_PLAYBOOK, TrustStore, generate, sign, verify
from tests.support.e2e import playbook
from tests.support.trace_writer import TraceWriter

KEY = generate("recorder@example.com")
Op = tuple[str, ...]  # ("bash", command) | ("write", name, content) | ("edit", name, old, new)
Pick = Callable[[Path, tuple[str, ...]], Op | None]


@dataclass
class Replayed:
    doc: dict[str, Any]
    ops: list[Op]
    result: ReplayResult
    recorded: Path
    fresh: Path


def as_is(rec: Path, op: tuple[str, ...]) -> Op | None:
    return op


def record(root: Path, ops: list[tuple[str, ...]], pick: Pick = as_is) -> tuple[Path, list[Op]]:
    """Do `ops` for real in `root/recorded`, writing a native trace as they run; `pick` turns each
    into what can be done in the folder as it is then (None: leave it out). Returns what was done."""
    rec = root / "recorded"
    rec.mkdir()
    w = TraceWriter(root / "trace.jsonl", "writes-1", agent="t", goal="write files", cwd=rec)
    done: list[Op] = []
    for abstract in ops:
        op = pick(rec, abstract)
        if op is None:
            continue
        done.append(op)
        if op[0] == "bash":
            assert w.bash(op[1]) == 0, op
        elif op[0] == "write":
            w.write_file(op[1], op[2])
        else:
            path = rec / op[1]
            sid = w.before("edit_file", {"path": str(path), "old": op[2], "new": op[3]})
            text = path.read_text()
            assert text.count(op[2]) == 1, op
            path.write_text(text.replace(op[2], op[3]))
            w.after(sid, "success")
    w.end()
    return root / "trace.jsonl", done


def signed_doc(root: Path, trace: Path) -> dict[str, Any]:
    """Compile the recorded run, sign it, and hand back what verification lets through."""
    (run,) = fold(parse_file(trace))
    doc = compile_run(run, name="writes", now="2026-01-01T00:00:00Z").doc
    assert validate(doc) == []
    trust = TrustStore.in_dir(root / "trust")
    trust.add("recorder@example.com", KEY.public)
    envelope = sign(canonical_bytes(doc), PAYLOAD_TYPE_PLAYBOOK, KEY)
    v = verify(envelope, trust, expected_type=PAYLOAD_TYPE_PLAYBOOK)
    assert v.ok, v.reason
    parsed: dict[str, Any] = json.loads(v.payload)
    return parsed


def env_for(home: Path) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": str(home)}


async def strict(doc: dict[str, Any], workdir: Path, home: Path) -> ReplayResult:
    async def sink(kind: str, data: dict[str, Any]) -> None:
        return None

    replay = Replay(
        doc, mode="strict", runner=LocalRunner(), workdir=workdir, env=env_for(home), params={}, on_event=sink
    )
    return await replay.run()


async def record_and_replay(root: Path, ops: list[tuple[str, ...]], pick: Pick = as_is) -> Replayed:
    trace, done = record(root, ops, pick)
    doc = signed_doc(root, trace)
    fresh, home = root / "fresh", root / "home"
    fresh.mkdir()
    home.mkdir()
    return Replayed(doc, done, await strict(doc, fresh, home), root / "recorded", fresh)


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


async def test_appends_are_all_replayed(tmp_path: Path) -> None:
    ops: list[Op] = [("bash", f"echo {n} >> log.txt") for n in ("one", "two", "three")]
    r = await record_and_replay(tmp_path, ops)
    assert r.result.status == "succeeded", r.result.reason
    assert [s.status for s in r.result.steps] == ["succeeded"] * 3
    assert (r.fresh / "log.txt").read_text() == "one\ntwo\nthree\n"


async def test_write_edit_write_ends_with_the_last_write(tmp_path: Path) -> None:
    ops: list[Op] = [
        ("bash", 'printf "port=1\\n" > app.conf'),
        ("bash", "sed -i s/port=1/port=2/ app.conf"),
        ("bash", 'printf "port=3\\n" > app.conf'),
    ]
    r = await record_and_replay(tmp_path, ops)
    assert r.result.status == "succeeded", r.result.reason
    assert [s.status for s in r.result.steps] == ["succeeded"] * 3
    assert (r.fresh / "app.conf").read_text() == "port=3\n"


async def test_idempotent_step_runs_when_the_replay_itself_made_its_path(tmp_path: Path) -> None:
    """`creates` being there is not enough: it must have been there before the first step."""
    (tmp_path / "home").mkdir()
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "early").mkdir()
    mk = {"kind": "command", "idempotent": True}
    doc = playbook([
        {"id": "s1", "kind": "command", "run": "mkdir late", "expect": {"exit_code": 0}},
        {**mk, "id": "s2", "run": "mkdir -p late", "expect": {"exit_code": 0, "creates": "late"}},
        {**mk, "id": "s3", "run": "mkdir -p early", "expect": {"exit_code": 0, "creates": "early"}},
    ])  # fmt: skip
    report = simulate(doc, workdir=tmp_path / "w", env=env_for(tmp_path / "home"), given_params={})
    assert [p.status for p in report.steps] == ["would_run", "would_run", "would_skip"]
    result = await strict(doc, tmp_path / "w", tmp_path / "home")
    assert [s.status for s in result.steps] == ["succeeded", "succeeded", "skipped"]
    assert result.steps[2].reason == f"{tmp_path / 'w' / 'early'} was there before the replay"


async def test_a_last_write_changed_later_is_an_end_state_divergence(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "w").mkdir()
    conf = tmp_path / "w" / "app.conf"

    def doc(later: str) -> dict[str, Any]:
        return playbook(
            [
                {"id": "s1", "kind": "file_write", "path": "${workdir}/app.conf", "content": "port=3\n",
                 "last_write": True},
                {"id": "s2", "kind": "command", "run": later, "expect": {"exit_code": 0}},
            ],
            success=[{"id": "c1", "run": "true", "expect": {"exit_code": 0}}],
        )  # fmt: skip

    result = await strict(doc("echo port=4 >> app.conf"), tmp_path / "w", tmp_path / "home")
    assert result.status == "failed"
    assert (
        result.reason
        == f"step 1 (s1): end state differs from the recording: {conf} was changed by a later step"
    )
    div = result.divergence
    assert div is not None and div.expected["path"] == div.got["path"] == str(conf)
    assert div.expected["sha256"] == hashlib.sha256(b"port=3\n").hexdigest() != div.got["sha256"]
    assert [c.status for c in result.checks] == ["not_run"]
    gone = await strict(doc("rm app.conf"), tmp_path / "w", tmp_path / "home")
    assert (
        gone.reason.endswith(f"{conf} is gone") and gone.divergence and gone.divergence.got["sha256"] is None
    )
    kept = await strict(doc("cp app.conf copy.conf"), tmp_path / "w", tmp_path / "home")
    assert kept.status == "succeeded", kept.reason


def test_compile_marks_only_lone_mkdir_p_idempotent_and_final_file_steps(tmp_path: Path) -> None:
    ops: list[Op] = [
        ("write", "early.txt", "a\n"),
        ("bash", "sed -i s/a/b/ early.txt"),
        ("bash", "mkdir -p out"),
        ("bash", "touch stamp"),
        ("bash", "echo x > a.txt"),
        ("bash", "echo y >> a.txt"),
        ("bash", "mkdir -p b c"),
        ("write", "p.txt", "p\n"),
        ("write", "q.txt", "q\n"),
        ("edit", "q.txt", "q", "Q"),
        ("bash", "echo more >> q.txt"),
        ("bash", "cp p.txt r.txt"),
    ]
    doc = signed_doc(tmp_path, record(tmp_path, ops)[0])
    steps = doc["steps"]
    assert [s.get("idempotent", False) for s in steps] == [False, False, True] + [False] * 9
    assert [s["expect"].get("creates") for s in steps[2:7]] == [
        "${workdir}/out", "${workdir}/stamp", "${workdir}/a.txt", "${workdir}/a.txt", "${workdir}/b",
    ]  # fmt: skip
    finals = [s["path"].removeprefix("${workdir}/") for s in steps if s.get("last_write")]
    assert finals == ["p.txt"]  # early.txt: sed's effects are not enumerable; q.txt: appended to


names = st.sampled_from(["a.txt", "b.txt", "d/c.txt"])
words = st.sampled_from(["port=1", "port=2", "alpha", "beta"])
ops_strategy = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["write", "append", "fwrite", "fedit"]), names, words),
        st.tuples(st.just("sed"), names, words, words),
        st.tuples(st.sampled_from(["cp", "mv"]), names, names),
        st.tuples(st.just("rm"), names),
        st.tuples(st.just("mkdir")),
    ),
    min_size=1,
    max_size=10,
)


def concrete(rec: Path, op: tuple[str, ...]) -> Op | None:
    """The abstract op as a recorded action valid in `rec` as it is now, or None to leave it out."""
    kind, args = op[0], op[1:]
    if kind == "mkdir":
        return ("bash", "mkdir -p d")
    src = rec / args[0]
    if not src.parent.is_dir() and kind in ("write", "append", "sed", "fedit", "rm"):
        return None
    if kind in ("write", "append"):
        return ("bash", f"printf '%s\\n' {args[1]} {'>' if kind == 'write' else '>>'} {args[0]}")
    if kind == "fwrite":
        return ("write", args[0], f"{args[1]}\n")
    if not src.is_file():
        return None
    if kind == "sed":
        return ("bash", f"sed -i s/{args[1]}/{args[2]}/ {args[0]}")
    if kind == "fedit":
        text = src.read_text()
        unique = [ln for ln in text.splitlines(keepends=True) if text.count(ln) == 1]
        return ("edit", args[0], unique[0], f"{args[1]}\n") if unique else None
    if kind == "rm":
        return ("bash", f"rm {args[0]}")
    dest = rec / args[1]
    if args[0] == args[1] or not dest.parent.is_dir():
        return None
    return ("bash", f"{kind} {args[0]} {args[1]}")


@settings(max_examples=25, deadline=None)
@given(ops_strategy)
def test_strict_replay_into_an_empty_folder_ends_as_the_recording(abstract: list[tuple[str, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        try:
            r = trio.run(record_and_replay, root, abstract, concrete)
        except NothingToReplay:
            return  # every op was left out
        ops = r.ops
        assert r.result.status == "succeeded", (ops, r.result.reason)
        assert tree(r.fresh) == tree(r.recorded), ops
        assert all(s.status == "succeeded" for s in r.result.steps)
        # strict and simulate agree on skips, in a folder where every created path is already there
        again = root / "again"
        shutil.copytree(r.recorded, again)
        report = simulate(r.doc, workdir=again, env=env_for(root / "home"), given_params={})
        skipped = trio.run(strict, r.doc, again, root / "home")
        would = [p.index for p in report.steps if p.status == "would_skip"]
        assert would == [s.index for s in skipped.steps if s.status == "skipped"]
        assert all(r.doc["steps"][i]["run"] == "mkdir -p d" for i in would)
