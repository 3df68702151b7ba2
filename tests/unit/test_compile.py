"""Compiling synthetic runs: what stays, what goes, parameters, preconditions, determinism."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from aionisd.agents.codex import parse_patch, patch_step
from aionisd.canonical import canonical_bytes
from aionisd.compile import NOTHING, Compiled, NothingToReplay, compile_run
from aionisd.model import Run, Step, StepStatus, Tokens
from aionisd.params import Substituter, infer_home
from aionisd.playbook import SCHEMA, validate

W = "/home/dev/proj"
NOW = "2026-01-01T00:00:00Z"


class _Seq:
    n = 0


def _next() -> int:
    _Seq.n += 1
    return _Seq.n


def cmd(
    command: str,
    code: int | None = 0,
    *,
    status: StepStatus | None = None,
    cwd: str = W,
    duration_ms: int | None = 1000,
    shell: str | None = None,
) -> Step:
    n = _next()
    st: StepStatus = status or ("succeeded" if not code else "failed")
    return Step(
        seq=n,
        key=f"k{n}",
        kind="command",
        tool="Bash",
        command=command,
        cwd=cwd,
        status=st,
        exit_code=code,
        duration_ms=duration_ms,
        shell=shell,
    )


def write(path: str, content: str, *, status: StepStatus = "succeeded") -> Step:
    n = _next()
    return Step(
        seq=n,
        key=f"k{n}",
        kind="file_write",
        tool="Write",
        cwd=W,
        status=status,
        input={"path": path, "content": content},
    )


def edit(path: str, old: str, new: str, *, status: StepStatus = "succeeded") -> Step:
    n = _next()
    return Step(
        seq=n,
        key=f"k{n}",
        kind="file_edit",
        tool="Edit",
        cwd=W,
        status=status,
        input={"path": path, "old": old, "new": new},
    )


def tool(name: str, inp: dict[str, Any] | None = None) -> Step:
    n = _next()
    return Step(seq=n, key=f"k{n}", kind="tool", tool=name, cwd=W, status="succeeded", input=inp or {})


def make_run(*steps: Step, cwd: str | None = W, goal: str | None = "set up the project") -> Run:
    return Run(
        id="claude-code:s1",
        agent="claude-code",
        session_id="s1",
        cwd=cwd,
        goal=goal,
        steps=list(steps),
        started_at="2026-01-01T10:00:00Z",
        ended_at="2026-01-01T10:05:00Z",
        tokens=Tokens(100, 20, 5, 1000),
    )


def comp(*steps: Step, **kw: Any) -> Compiled:
    c = compile_run(make_run(*steps), now=NOW, **kw)
    assert validate(c.doc) == [], validate(c.doc)
    return c


def runs(c: Compiled) -> list[str]:
    return [s["run"] for s in c.doc["steps"] if s["kind"] == "command"]


# ------------------------------------------------------------------ what stays, what goes


def test_changes_and_file_steps_stay_in_order_probes_go() -> None:
    c = comp(
        cmd("ls -la"),
        cmd("git status"),
        cmd("python3 -m venv .venv"),
        write(f"{W}/README.md", "# proj\n"),
        cmd("cat README.md"),
        edit(f"{W}/setup.cfg", "a = 1", "a = 2"),
        cmd("git add -A && git commit -m init"),
    )
    kinds = [(s["id"], s["kind"]) for s in c.doc["steps"]]
    assert kinds == [("s1", "command"), ("s2", "file_write"), ("s3", "file_edit"), ("s4", "command")]
    assert runs(c) == ["python3 -m venv .venv", "git add -A && git commit -m init"]
    assert c.report.dropped["probe"] == 3
    assert (c.report.steps_in, c.report.commands_in, c.report.kept) == (7, 5, 4)


def test_checks_become_success_criteria_from_their_last_run() -> None:
    c = comp(
        cmd("pytest -q", 1),
        cmd("npm install"),
        cmd("pytest -q"),
        cmd("ruff check ."),
        cmd("ruff check ."),
        cmd("mypy src", 1),
        cmd("pytest -q"),
    )
    assert [(s["id"], s["run"], s["expect"]) for s in c.doc["success"]] == [
        ("c1", "ruff check .", {"exit_code": 0}),
        ("c2", "pytest -q", {"exit_code": 0}),
    ]
    assert c.report.checks == 2
    # pytest: one failed run superseded, one passing run repeated; ruff repeated; mypy failed
    assert c.report.dropped == {"probe": 0, "duplicate": 2, "superseded": 1, "not_run": 0, "failed": 1}


def test_failed_attempt_is_superseded_by_a_later_success_of_the_same_intent() -> None:
    c = comp(
        cmd("npm   install", 1),
        cmd("go get golang.org/x/crypto@v0.99.0", 1),
        cmd("npm install"),
        cmd("go get golang.org/x/crypto@v0.52.0"),
    )
    assert runs(c) == ["npm install", "go get golang.org/x/crypto@v0.52.0"]
    assert c.doc["steps"][0]["note"] == "recorded change (succeeded after 1 failed attempt)"
    assert c.report.dropped["superseded"] == 2


def test_failed_change_never_retried_is_dropped_and_counted() -> None:
    c = comp(cmd("make deploy", 2), cmd("touch done"))
    assert runs(c) == ["touch done"]
    assert c.report.dropped["failed"] == 1


def test_steps_that_never_ran_go() -> None:
    c = comp(
        cmd("touch a"), cmd("git push", None, status="not_run"), edit(f"{W}/x", "a", "b", status="not_run")
    )
    assert runs(c) == ["touch a"]
    assert c.report.dropped["not_run"] == 2


def test_a_step_without_result_is_kept_and_says_so() -> None:
    c = comp(cmd("git commit -m x", None, status="running"))
    step = c.doc["steps"][0]
    assert step["expect"]["exit_code"] == 0
    assert "no result was recorded" in step["note"]


def test_a_run_that_changed_nothing_compiles_to_nothing() -> None:
    only_reads = make_run(
        cmd("ls"),
        cmd("cat x"),
        cmd("pytest -q"),
        tool("Read"),
        cmd("touch y", status="not_run"),
        cmd("make deploy", 1),
    )
    with pytest.raises(NothingToReplay) as err:
        compile_run(only_reads, now=NOW)
    assert str(err.value) == NOTHING == "nothing to replay: the run changed nothing"
    assert isinstance(err.value, ValueError)
    with pytest.raises(NothingToReplay):
        compile_run(only_reads, now=NOW, keep_probes=True)


def test_probes_kept_on_request_are_optional_steps() -> None:
    c = comp(cmd("git status"), cmd("grep -q x f", 1), cmd("touch a"), keep_probes=True)
    steps = c.doc["steps"]
    assert [(s["run"], s["optional"]) for s in steps] == [
        ("git status", True),
        ("grep -q x f", True),
        ("touch a", False),
    ]
    assert steps[1]["expect"]["exit_code"] == 1
    assert c.report.dropped["probe"] == 0


def test_duplicates_collapse_only_when_repeating_is_harmless() -> None:
    c = comp(
        cmd("mkdir -p build"),
        cmd("touch build/a"),
        cmd("mkdir -p build"),  # state: goes
        cmd("npm install"),
        cmd("npm install"),  # content, back to back: goes
        edit(f"{W}/package.json", '"a"', '"b"'),
        cmd("npm install"),  # after an edit: stays
        cmd("git commit -m wip"),
        cmd("git commit -m wip"),  # not idempotent: both stay
        write(f"{W}/f", "x"),
        write(f"{W}/f", "x"),  # same write back to back: goes
    )
    assert runs(c) == [
        "mkdir -p build",
        "touch build/a",
        "npm install",
        "npm install",
        "git commit -m wip",
        "git commit -m wip",
    ]
    assert sum(s["kind"] == "file_write" for s in c.doc["steps"]) == 1
    assert c.report.dropped["duplicate"] == 3


def test_cwd_matters_for_duplicates_and_checks() -> None:
    c = comp(
        cmd("npm install"),
        cmd("npm install", cwd=f"{W}/web"),
        cmd("npm test", cwd=f"{W}/web"),
        cmd("npm test"),
    )
    assert [s["cwd"] for s in c.doc["steps"]] == ["${workdir}", "${workdir}/web"]
    assert [s["cwd"] for s in c.doc["success"]] == ["${workdir}/web", "${workdir}"]


# ------------------------------------------------------------------ step fields


def test_command_step_fields() -> None:
    c = comp(cmd("rm -rf build && mkdir -p build", duration_ms=100_000, shell="bash -lc"))
    [s] = c.doc["steps"]
    assert s == {
        "id": "s1",
        "kind": "command",
        "run": "rm -rf build && mkdir -p build",
        "shell": "bash -lc",
        "cwd": "${workdir}",
        "env": {},
        "timeout_s": 400,
        "expect": {"exit_code": 0},
        "retry": {"attempts": 1, "backoff_s": 0},
        "risk": "high",
        "note": "recorded change",
        "optional": False,
    }


@pytest.mark.parametrize(
    ("duration_ms", "timeout_s"), [(100, 60), (20_000, 80), (7_200_000, 3600), (None, 600)]
)
def test_timeouts(duration_ms: int | None, timeout_s: int) -> None:
    c = comp(cmd("make build", duration_ms=duration_ms))
    assert c.doc["steps"][0]["timeout_s"] == timeout_s


def test_creates_is_expected_for_plain_creations() -> None:
    c = comp(
        cmd("mkdir -p out/bin"),
        cmd("go build -o bin/app ./cmd/app"),
        cmd("echo hi > notes.txt"),
        cmd("cd sub && mkdir x"),
        cmd("npm install"),
    )
    creates = [s["expect"].get("creates") for s in c.doc["steps"]]
    assert creates == ["${workdir}/out/bin", "${workdir}/bin/app", "${workdir}/notes.txt", None, None]


def test_file_write_and_edit_steps() -> None:
    c = comp(
        write(f"{W}/conf/app.toml", f'root = "{W}"\n'),
        edit(f"{W}/main.go", "old()", "new()"),
        Step(
            seq=_next(),
            key="me",
            kind="file_edit",
            tool="MultiEdit",
            cwd=W,
            status="succeeded",
            input={
                "path": "rel/x.py",
                "edits": [{"old": "a", "new": "b"}, {"old": "c", "new": "d", "replace_all": True}],
            },
        ),
    )
    w, e, m = c.doc["steps"]
    assert (w["path"], w["content"]) == ("${workdir}/conf/app.toml", 'root = "${workdir}"\n')
    assert w["sha256"] == hashlib.sha256(w["content"].encode()).hexdigest()
    assert (e["path"], e["old"], e["new"]) == ("${workdir}/main.go", "old()", "new()")
    assert m["path"] == "${workdir}/rel/x.py"
    assert m["edits"] == [{"old": "a", "new": "b"}, {"old": "c", "new": "d", "replace_all": True}]


PATCH = """*** Begin Patch
*** Add File: docs/new.md
+# New
+body
*** Update File: /home/dev/proj/src/app.py
@@ def main():
 x = 1
-y = 2
+y = 3
 z = 4
*** Delete File: old.txt
*** End Patch
"""


def test_codex_apply_patch_becomes_file_steps() -> None:
    assert [(op, path) for op, path, _, _ in parse_patch(PATCH)] == [
        ("Add", "docs/new.md"),
        ("Update", "/home/dev/proj/src/app.py"),
        ("Delete", "old.txt"),
    ]
    kind, inp = patch_step(PATCH)  # the Codex adapter parses the patch; the compiler reads its files
    step = Step(seq=_next(), key="p", kind=kind, tool="apply_patch", cwd=W, status="succeeded", input=inp)
    c = comp(step)
    add, upd, rm = c.doc["steps"]
    assert (add["kind"], add["path"], add["content"]) == (
        "file_write",
        "${workdir}/docs/new.md",
        "# New\nbody\n",
    )
    assert (upd["kind"], upd["path"]) == ("file_edit", "${workdir}/src/app.py")
    assert (upd["old"], upd["new"]) == ("x = 1\ny = 2\nz = 4\n", "x = 1\ny = 3\nz = 4\n")
    assert (rm["kind"], rm["run"]) == ("command", "rm -f -- old.txt")


def test_other_tools_become_non_replayable_steps_read_only_tools_go() -> None:
    c = comp(
        tool("Read", {"file_path": f"{W}/x"}),
        tool("WebSearch", {"query": "q"}),
        tool("TodoWrite"),
        tool("TaskCreate"),
        tool("Grep"),
        tool("mcp__linear__create_issue", {"title": "bug", "cwd": W}),
    )
    [s] = c.doc["steps"]
    assert (s["kind"], s["tool"], s["replayable"], s["risk"]) == (
        "tool",
        "mcp__linear__create_issue",
        False,
        "medium",
    )
    assert s["input"] == {"title": "bug", "cwd": "${workdir}"}
    assert c.report.dropped["probe"] == 5


# ------------------------------------------------------------------ parameters


def test_workdir_and_home_become_parameters_longest_first() -> None:
    home = "/Users/ann"
    wd = f"{home}/code/app"
    c = compile_run(
        make_run(
            cmd(f"cp {home}/.npmrc {wd}/.npmrc && ls {wd}2 {home}/code", cwd=wd),
            cmd("npm ci", cwd=f"{wd}/web"),
            cmd("touch x", cwd=f"{home}/other"),
            cwd=wd,
        ),
        now=NOW,
    )
    s1, s2, s3 = c.doc["steps"]
    assert s1["run"] == "cp ${home}/.npmrc ${workdir}/.npmrc && ls ${home}/code/app2 ${home}/code"
    assert (s1["cwd"], s2["cwd"], s3["cwd"]) == ("${workdir}", "${workdir}/web", "${home}/other")
    params = {p["name"]: p for p in c.doc["params"]}
    assert params["workdir"] == {
        "name": "workdir",
        "default": None,
        "secret": False,
        "description": params["workdir"]["description"],
    }
    assert params["home"]["default"] is None
    assert infer_home("/home/bob/x") == "/home/bob" and infer_home("/srv/x") is None


def test_explicit_home_and_user_parameters() -> None:
    c = compile_run(
        make_run(cmd("go get golang.org/x/crypto@v0.52.0 && cp /opt/me/a b")),
        now=NOW,
        params={"VERSION": "v0.52.0"},
        home="/opt/me",
    )
    assert runs(c) == ["go get golang.org/x/crypto@${VERSION} && cp ${home}/a b"]
    [p] = [p for p in c.doc["params"] if p["name"] == "VERSION"]
    assert (p["default"], p["secret"]) == ("v0.52.0", False)


@pytest.mark.parametrize("bad", [{"workdir": "x"}, {"not a name": "x"}, {"OK": ""}])
def test_bad_user_parameters_are_refused(bad: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        compile_run(make_run(cmd("touch a")), now=NOW, params=bad)


def test_substituter_respects_path_boundaries() -> None:
    sub = Substituter("/w/p", "/w", {})
    assert sub("/w/p /w/p/x /w/px /w/p.bak /x/w/p /wq /w") == (
        "${workdir} ${workdir}/x ${home}/px ${home}/p.bak /x/w/p /wq ${home}"
    )


# ------------------------------------------------------------------ preconditions


def test_preconditions_from_what_steps_use() -> None:
    c = comp(
        cmd("touch marker", cwd=f"{W}/svc"),
        write(f"{W}/gen.sh", "echo hi\n"),
        cmd("chmod +x gen.sh && cat gen.sh > out.txt"),
        edit(f"{W}/app.cfg", "a", "b"),
        cmd("mkdir dist"),
        cmd("pip install -r requirements.txt"),
        cmd("export STAGE=dev && make release S=$STAGE T=$DEPLOY_ENV ${OPTIONAL:-x} $HOME"),
        cmd("./scripts/deploy.sh --now"),
        cmd("brew install jq && jq . data.json > pretty.json"),
        cmd("npm ci", cwd=f"{W}/web"),
        cmd("go test ./..."),
    )
    assert c.doc["preconditions"] == [
        {"type": "cwd_exists", "path": "${workdir}"},
        {"type": "cwd_exists", "path": "${workdir}/svc"},
        {"type": "command_available", "name": "touch"},
        {"type": "command_available", "name": "chmod"},
        {"type": "command_available", "name": "cat"},
        {"type": "file_exists", "path": "${workdir}/app.cfg"},
        {"type": "command_available", "name": "mkdir"},
        {"type": "path_absent", "path": "${workdir}/dist"},
        {"type": "command_available", "name": "pip"},
        {"type": "file_exists", "path": "${workdir}/requirements.txt"},
        # pip's effects are not enumerable: from here on no file, cwd or absence is claimed
        {"type": "env_set", "name": "DEPLOY_ENV"},
        {"type": "command_available", "name": "make"},
        {"type": "command_available", "name": "brew"},  # jq comes from it
        {"type": "command_available", "name": "npm"},
        {"type": "command_available", "name": "go"},
    ]


def test_a_program_run_by_path_must_exist_unless_a_step_made_it() -> None:
    c = comp(cmd("./scripts/deploy.sh --now"))
    assert {"type": "file_exists", "path": "${workdir}/scripts/deploy.sh"} in (c.doc["preconditions"])
    c = comp(write(f"{W}/run.sh", "echo\n"), cmd("./run.sh"))
    assert [p["type"] for p in c.doc["preconditions"]] == ["cwd_exists"]


def test_no_file_claims_after_a_step_with_unknown_effects() -> None:
    c = comp(cmd("./configure --prefix=/usr"), cmd("cat config.h > copy.h"), edit(f"{W}/Makefile", "a", "b"))
    types = [p["type"] for p in c.doc["preconditions"]]
    assert types.count("file_exists") == 1  # ./configure itself, nothing after it
    assert {"type": "file_exists", "path": "${workdir}/configure"} in c.doc["preconditions"]


def test_no_parameter_or_secret_is_demanded_from_the_environment() -> None:
    c = comp(cmd(f"echo ${{workdir}} && ls {W}/x > y"))
    assert not [p for p in c.doc["preconditions"] if p["type"] == "env_set"]


# ------------------------------------------------------------------ the document


def test_document_shape_and_source() -> None:
    c = comp(cmd("touch a"), cmd("pytest"))
    d = c.doc
    assert list(d) == [
        "schema",
        "name",
        "version",
        "status",
        "goal",
        "source",
        "params",
        "preconditions",
        "steps",
        "success",
        "created_at",
    ]
    assert (d["schema"], d["version"], d["status"], d["created_at"]) == (SCHEMA, 1, "draft", NOW)
    assert (d["name"], d["goal"]) == ("set up the project", "set up the project")
    src = d["source"]
    assert src["run_id"] == "claude-code:s1" and src["agent"] == "claude-code"
    assert src["digest"].startswith("sha256:") and len(src["digest"]) == 71
    assert src["tokens"] == {
        "input": 100,
        "output": 20,
        "cache_creation": 5,
        "cache_read": 1000,
        "total": 1125,
    }
    assert src["duration_ms"] == 300_000


def test_name_given_or_derived() -> None:
    r = make_run(cmd("touch a"), goal=None)
    assert compile_run(r, now=NOW).doc["name"] == "claude-code run s1"
    assert compile_run(r, now=NOW, name="bootstrap").doc["name"] == "bootstrap"


def test_same_run_same_bytes() -> None:
    def build() -> bytes:
        _Seq.n = 0
        steps = [cmd("npm ci"), write(f"{W}/a", "é\n"), tool("mcp__x__y", {"b": 1, "a": [2]}), cmd("pytest")]
        return canonical_bytes(compile_run(make_run(*steps), now=NOW).doc)

    first, second = build(), build()
    assert first == second
    assert json.loads(first)["steps"][1]["content"] == "é\n"
    doc = json.loads(first)
    assert first == json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert "é".encode() in first


def test_digest_changes_with_the_recording() -> None:
    a = compile_run(make_run(cmd("touch a")), now=NOW).doc["source"]["digest"]
    b = compile_run(make_run(cmd("touch b")), now=NOW).doc["source"]["digest"]
    assert a != b


def test_validate_reports_broken_documents() -> None:
    doc = comp(cmd("touch a")).doc
    broken = json.loads(json.dumps(doc))
    del broken["steps"][0]["run"]
    broken["steps"].append({**doc["steps"][0], "id": "s2", "kind": "teleport"})
    broken["params"].append({"name": "T", "default": "leak", "description": "", "secret": True})
    broken["preconditions"].append({"type": "port_free", "port": 0})
    errors = validate(broken)
    assert len(errors) >= 4
    assert any(e.startswith("steps/0") for e in errors)
    assert any(e.startswith("steps/1/kind") for e in errors)
    assert any(e.startswith("params/2") for e in errors)
    assert validate({"schema": "nope"})


def test_a_run_that_never_said_its_cwd_still_compiles() -> None:
    step = Step(seq=1, key="a", kind="command", command="touch a", status="succeeded", exit_code=0)
    r = Run(id="x:1", agent="x", session_id="1", steps=[step])
    c = compile_run(r, now=NOW)
    assert validate(c.doc) == []
    assert c.doc["steps"][0]["cwd"] == "${workdir}"
    # the first step's cwd stands in for a run that did not record one
    step.cwd = W
    assert compile_run(r, now=NOW).doc["steps"][0]["cwd"] == "${workdir}"
