"""The replay engine: modes, divergence, retries, secrets, guided repairs, cancellation.

Real subprocesses in tmp dirs (LocalRunner) where the behaviour is about running things; the
SimulatedRunner where it is about the engine's own decisions.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import trio

from aionisd.replay.engine import (
    Masker,
    RepairDecision,
    Replay,
    ReplayResult,
)
from aionisd.replay.runner import CommandResult, LocalRunner, Runner, SimulatedRunner, sha256_hex
from tests.support.e2e import playbook

Event = tuple[str, dict[str, Any]]


def cmd(sid: str, run: str, **extra: Any) -> dict[str, Any]:
    return {"id": sid, "kind": "command", "run": run, "expect": {"exit_code": 0}, **extra}


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data))

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [d for k, d in self.events if k == kind]

    def output(self, stream: str = "stdout") -> str:
        return "".join(d["text"] for d in self.kinds("replay.output") if d["stream"] == stream)


async def run(
    doc: dict[str, Any],
    workdir: Path,
    env: dict[str, str],
    *,
    mode: str = "strict",
    runner: Runner | None = None,
    params: dict[str, str] | None = None,
    **kw: Any,
) -> tuple[ReplayResult, Recorder]:
    rec = Recorder()
    before = copy.deepcopy(doc)
    result = await Replay(
        doc,
        mode=mode,  # type: ignore[arg-type]
        runner=runner or LocalRunner(),
        workdir=workdir,
        env=env,
        params=params or {},
        on_event=rec,
        **kw,
    ).run()
    assert doc == before  # the engine never mutates the playbook
    return result, rec


async def test_strict_runs_steps_files_and_checks(workdir: Path, env: dict[str, str]) -> None:
    doc = playbook(
        [
            cmd("mk", "mkdir -p sub && echo made", expect={"exit_code": 0, "creates": "sub",
                                                         "stdout_contains": "made"}),
            cmd("in-sub", "pwd > where.txt", cwd="${workdir}/sub"),
            {"id": "w", "kind": "file_write", "path": "${workdir}/cfg/app.toml",
             "content": "zz_key = '${workdir}'\n", "sha256": sha256_hex("zz_key = '${workdir}'\n")},
            {"id": "e", "kind": "file_edit", "path": "cfg/app.toml",
             "edits": [{"old": "zz_key", "new": "base"}, {"old": "base =", "new": "base:"}]},
            cmd("env", "echo $GREETING", env={"GREETING": "hi ${name}", "PATH": "/opt/x:$PATH"}),
        ],
        params=[{"name": "name", "default": "world"}],
        success=[{"id": "chk", "run": "grep -q base: cfg/app.toml", "expect": {"exit_code": 0}}],
    )  # fmt: skip
    result, rec = await run(doc, workdir, env)
    assert result.status == "succeeded", result.reason
    assert [s.status for s in result.steps] == ["succeeded"] * 5
    assert [c.status for c in result.checks] == ["succeeded"]
    assert (workdir / "sub" / "where.txt").read_text().strip() == str((workdir / "sub").resolve())
    assert (workdir / "cfg" / "app.toml").read_text() == f"base: '{workdir}'\n"
    assert result.steps[4].stdout == "hi world\n"
    started = rec.kinds("replay.step.started")
    assert [(d["id"], d["phase"]) for d in started] == [
        ("mk", "step"), ("in-sub", "step"), ("w", "step"), ("e", "step"), ("env", "step"),
        ("chk", "success"),
    ]  # fmt: skip
    assert started[2]["action"] == f"write {workdir}/cfg/app.toml"
    assert [d["status"] for d in rec.kinds("replay.step.finished")] == ["succeeded"] * 6
    assert rec.output() == "made\nhi world\n"


async def test_strict_stops_at_first_divergence(workdir: Path, env: dict[str, str]) -> None:
    doc = playbook([
        cmd("a", "echo one"),
        cmd("b", "echo about to fail; echo boom >&2; exit 3"),
        cmd("c", "touch never"),
    ])  # fmt: skip
    result, _ = await run(doc, workdir, env)
    assert result.status == "failed"
    assert result.reason == "step 2 (b): exit code 3, expected 0"
    div = result.divergence
    assert div is not None
    assert (div.step_index, div.step_id) == (1, "b")
    assert div.expected == {"exit_code": 0} and div.got == {"exit_code": 3}
    assert "about to fail" in div.output_tail and "boom" in div.output_tail
    assert [s.status for s in result.steps] == ["succeeded", "failed", "not_run"]
    assert not (workdir / "never").exists()


async def test_divergence_on_stdout_and_creates(workdir: Path, env: dict[str, str]) -> None:
    needle = playbook([cmd("a", "echo hello", expect={"exit_code": 0, "stdout_contains": "bye"})])
    result, _ = await run(needle, workdir, env)
    assert result.divergence and result.divergence.reason == "stdout does not contain 'bye'"
    assert result.divergence.got == {"exit_code": 0, "stdout_contains": False}
    creates = playbook([cmd("a", "true", expect={"exit_code": 0, "creates": "out.bin"})])
    result, _ = await run(creates, workdir, env)
    assert result.divergence and result.divergence.reason.startswith("did not create")


async def test_failing_success_check_fails_the_replay(workdir: Path, env: dict[str, str]) -> None:
    doc = playbook([cmd("a", "true")], success=[
        {"id": "tests", "run": "exit 1", "expect": {"exit_code": 0}},
        {"id": "lint", "run": "true", "expect": {"exit_code": 0}},
    ])  # fmt: skip
    result, _ = await run(doc, workdir, env)
    assert result.status == "failed"
    assert result.reason == "success check 1 (tests): exit code 1, expected 0"
    assert [c.status for c in result.checks] == ["failed", "succeeded"]


async def test_skips_step_whose_creates_exists(workdir: Path, env: dict[str, str]) -> None:
    (workdir / ".venv").mkdir()
    runner = SimulatedRunner()
    mk = cmd("venv", "mkdir -p .venv", expect={"exit_code": 0, "creates": ".venv"}, idempotent=True)
    doc = playbook([mk])
    result, _ = await run(doc, workdir, env, runner=runner)
    assert result.status == "succeeded" and result.steps[0].status == "skipped"
    assert runner.calls == []
    unmarked = playbook([cmd("log", "echo x >> .venv/log", expect={"exit_code": 0, "creates": ".venv"})])
    result, _ = await run(unmarked, workdir, env, runner=runner)
    assert result.steps[0].status == "succeeded" and len(runner.calls) == 1  # an old playbook never skips


async def test_retry_is_honoured(workdir: Path, env: dict[str, str]) -> None:
    flaky = 'n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; [ "$n" -ge 2 ]'
    doc = playbook([cmd("flaky", flaky, retry={"attempts": 3, "backoff_s": 0.01})])
    result, rec = await run(doc, workdir, env)
    assert result.status == "succeeded"
    assert result.steps[0].attempts == 2
    assert [(d["attempt"], d["status"]) for d in rec.kinds("replay.step.finished")] == [
        (1, "failed"), (2, "succeeded"),
    ]  # fmt: skip
    (workdir / "n").write_text("-5\n")
    result, _ = await run(doc, workdir, env)
    assert result.status == "failed" and result.steps[0].attempts == 3


async def test_timeout_is_a_divergence(workdir: Path, env: dict[str, str]) -> None:
    result, _ = await run(playbook([cmd("slow", "sleep 30", timeout_s=0.2)]), workdir, env)
    assert result.divergence and result.divergence.reason == "timed out after 0.2s"
    assert result.divergence.got["timed_out"] is True


async def test_secrets_are_masked_everywhere(workdir: Path, env: dict[str, str]) -> None:
    secret = "s3cr3t-VALUE-42"
    doc = playbook(
        [
            cmd("use", 'echo token=${api_token}; echo "$api_token" >&2; printf %s ${api_token} > t'),
            cmd("fail", "echo ${api_token}; exit 1"),
        ],
        params=[{"name": "api_token", "secret": True}],
    )
    result, rec = await run(doc, workdir, {**env, "api_token": secret})
    assert (workdir / "t").read_text() == secret  # the child got the real value
    assert result.steps[0].stdout == "token=***\n" and result.steps[0].stderr == "***\n"
    assert result.divergence and "***" in result.divergence.output_tail
    assert secret not in repr(result) and secret not in repr(rec.events)
    assert rec.kinds("replay.step.started")[0]["action"].startswith("echo token=***;")
    assert "token=***" in rec.output()


def test_masker_across_chunk_boundaries() -> None:
    m = Masker(["abcdef", "xyz"])
    chunks = ["..ab", "cd", "ef..x", "y", "z!", "abc"]
    out = "".join(m.feed(c) for c in chunks) + m.flush()
    assert out == "..***..***!abc"


async def test_refusals_run_nothing(workdir: Path, env: dict[str, str]) -> None:
    runner = SimulatedRunner()
    missing = playbook([cmd("a", "echo ${version}")],
                       params=[{"name": "version"}, {"name": "tok", "secret": True}])  # fmt: skip
    result, rec = await run(missing, workdir, env, runner=runner)
    assert result.status == "refused"
    assert result.reason == ("missing parameter(s): version; missing secret(s) in the replay env: tok")
    pre = playbook([cmd("a", "true")], preconditions=[{"type": "env_set", "name": "NOPE"}])
    result, rec = await run(pre, workdir, env, runner=runner)
    assert (result.status, result.reason) == (
        "refused",
        "precondition failed: env var NOPE is not set",
    )
    result, _ = await run(pre, workdir / "gone", env, runner=runner)
    assert result.status == "refused" and "workdir does not exist" in result.reason
    assert runner.calls == [] and rec.events == []


async def test_tool_steps_fail_strict_and_optional_steps_do_not_stop(
    workdir: Path, env: dict[str, str]
) -> None:
    runner = SimulatedRunner({"maybe": CommandResult(1)})
    doc = playbook([
        cmd("opt", "maybe", optional=True),
        cmd("ok", "true"),
        {"id": "web", "kind": "tool", "tool": "WebFetch", "input": {"url": "x"}},
        cmd("after", "true"),
    ])  # fmt: skip
    result, _ = await run(doc, workdir, env, runner=runner)
    assert [s.status for s in result.steps] == ["failed", "succeeded", "failed", "not_run"]
    assert result.reason == "step 3 (web): tool step is not replayable"
    assert runner.commands == ["maybe", "true"]


async def test_file_step_failures(workdir: Path, env: dict[str, str]) -> None:
    bad_sha = playbook([{"id": "w", "kind": "file_write", "path": "a.txt", "content": "x",
                         "sha256": sha256_hex("y")}])  # fmt: skip
    result, _ = await run(bad_sha, workdir, env)
    assert result.divergence and "sha256 mismatch" in result.divergence.reason
    assert not (workdir / "a.txt").exists()
    (workdir / "b.txt").write_text("same same\n")
    edit = playbook([{"id": "e", "kind": "file_edit", "path": "b.txt", "old": "same", "new": "x"}])
    result, _ = await run(edit, workdir, env)
    assert result.divergence and "found 2 times" in result.divergence.reason
    assert (workdir / "b.txt").read_text() == "same same\n"


async def test_path_traversal_is_refused(workdir: Path, env: dict[str, str]) -> None:
    runner = SimulatedRunner()
    for step in (
        {"id": "w", "kind": "file_write", "path": "../../etc/passwd", "content": "x"},
        {"id": "e", "kind": "file_edit", "path": "/etc/hosts", "old": "a", "new": "b"},
        cmd("c", "true", cwd="${workdir}/../.."),
    ):
        result, _ = await run(playbook([step]), workdir, env, runner=runner)
        assert result.status == "failed"
        assert result.divergence and "path escapes the workdir" in result.divergence.reason
    assert runner.calls == []


async def test_child_env_and_cwd(workdir: Path, env: dict[str, str]) -> None:
    runner = SimulatedRunner()
    doc = playbook(
        [cmd("a", "run", env={"PATH": "${workdir}/.venv/bin:$PATH", "X": "1"}, timeout_s=7)],
        params=[{"name": "tok", "secret": True}],
    )
    await run(doc, workdir, {**env, "tok": "v"}, runner=runner, default_timeout_s=9)
    args = runner.calls[0].args
    assert args["env"] == {**env, "tok": "v", "X": "1",
                           "PATH": f"{workdir}/.venv/bin:{env['PATH']}"}  # fmt: skip
    assert args["cwd"] == workdir.resolve() and args["timeout_s"] == 7.0
    assert args["shell"] == "bash -c"


async def test_output_events_are_capped(workdir: Path, env: dict[str, str]) -> None:
    rec = Recorder()
    replay = Replay(playbook([cmd("big", "head -c 5000 /dev/zero | tr '\\0' x")]), mode="strict",
                    runner=LocalRunner(), workdir=workdir, env=env, params={}, on_event=rec,
                    output_event_limit=100)  # fmt: skip
    result = await replay.run()
    assert result.steps[0].stdout_size == 5000 and len(result.steps[0].stdout) == 5000
    assert rec.output() == "x" * 100
    assert rec.kinds("replay.output")[-1].get("truncated") is True


async def test_simulate_mode_runs_nothing(workdir: Path, env: dict[str, str]) -> None:
    (workdir / "done").write_text("")
    runner = SimulatedRunner()
    doc = playbook([
        cmd("a", "touch x"),
        cmd("b", "no-such-binary-qq"),
        cmd("c", "mkdir -p done", expect={"exit_code": 0, "creates": "done"}, idempotent=True),
        cmd("d", "echo y >> done", expect={"exit_code": 0, "creates": "done"}),
    ])  # fmt: skip
    result, rec = await run(doc, workdir, env, mode="simulate", runner=runner)
    assert result.status == "failed"
    assert result.reason == "step 2 (b) blocked: missing binary: no-such-binary-qq"
    assert [s.status for s in result.steps] == ["not_run", "not_run", "skipped", "not_run"]
    assert result.simulation is not None and not result.simulation.ok
    assert runner.calls == [] and rec.events == [] and not (workdir / "x").exists()
    ok, _ = await run(playbook([cmd("a", "true")]), workdir, env, mode="simulate")
    assert ok.status == "succeeded"
    d = ok.to_dict()
    assert d["simulation"]["steps"][0]["status"] == "would_run"


async def test_guided_retry_with_repairs_for_this_replay_only(workdir: Path, env: dict[str, str]) -> None:
    broken = 'pythonx-not-installed-zz -c \'open("out.txt", "w").write("ok")\''
    doc = playbook([cmd("py", broken), cmd("after", "test -f out.txt")])
    seen: list[tuple[int, str, int | None]] = []

    async def repair(
        d: dict[str, Any], index: int, step: dict[str, Any], res: CommandResult
    ) -> RepairDecision:
        seen.append((index, step["id"], res.exit_code))
        fixed = {**step, "run": step["run"].replace("pythonx-not-installed-zz", "python3")}
        return RepairDecision("retry_with", steps=[fixed], record={"patch": "python -> python3"})

    result, rec = await run(doc, workdir, env, mode="guided", repair=repair)
    assert seen == [(0, "py", 127)]
    assert result.status == "partial", result.reason
    assert (workdir / "out.txt").read_text() == "ok"
    assert [s.status for s in result.steps] == ["failed", "succeeded"]
    (entry,) = result.repairs
    assert (entry["action"], entry["ok"], entry["record"]) == (
        "retry_with", True, {"patch": "python -> python3"},
    )  # fmt: skip
    assert entry["steps"][0]["status"] == "succeeded"
    assert [d["phase"] for d in rec.kinds("replay.step.finished")] == ["step", "repair", "step"]


async def test_guided_decisions(workdir: Path, env: dict[str, str]) -> None:
    doc = playbook([cmd("a", "exit 4"), cmd("b", "true")])
    runner = SimulatedRunner({"exit 4": CommandResult(4)})

    def deciding(decision: RepairDecision | None) -> Any:
        async def hook(*_: Any) -> RepairDecision | None:
            return decision

        return hook

    cont, _ = await run(doc, workdir, env, mode="guided", runner=runner,
                        repair=deciding(RepairDecision("continue")))  # fmt: skip
    assert cont.status == "partial" and [s.status for s in cont.steps] == ["failed", "succeeded"]
    stop, _ = await run(doc, workdir, env, mode="guided", runner=runner,
                        repair=deciding(RepairDecision("stop", record={"why": "no"})))  # fmt: skip
    assert stop.status == "failed" and stop.repairs[0]["record"] == {"why": "no"}
    none, _ = await run(doc, workdir, env, mode="guided", runner=runner, repair=deciding(None))
    assert none.status == "failed" and none.repairs == []
    still = RepairDecision("retry_with", steps=[cmd("a2", "exit 4")])
    bad, _ = await run(doc, workdir, env, mode="guided", runner=runner, repair=deciding(still))
    assert bad.status == "failed" and bad.divergence and bad.divergence.step_id == "a2"
    assert bad.divergence.phase == "repair"
    strict, _ = await run(doc, workdir, env, mode="strict", runner=runner,
                          repair=deciding(RepairDecision("continue")))  # fmt: skip
    assert strict.status == "failed"  # strict never asks for repairs


async def test_cancel_records_cancelled_within_a_second(workdir: Path, env: dict[str, str]) -> None:
    rec = Recorder()
    cancelled_at = 0.0

    with trio.CancelScope() as scope:

        async def on_event(kind: str, data: dict[str, Any]) -> None:
            nonlocal cancelled_at
            await rec(kind, data)
            if kind == "replay.output" and not cancelled_at:
                cancelled_at = trio.current_time()
                scope.cancel()

        replay = Replay(playbook([cmd("a", "echo ready; sleep 1000"), cmd("b", "true")]),
                        mode="strict", runner=LocalRunner(), workdir=workdir, env=env, params={},
                        on_event=on_event)  # fmt: skip
        await replay.run()
    assert scope.cancelled_caught
    assert trio.current_time() - cancelled_at < 1.5
    assert replay.result.status == "cancelled"
    assert [s.status for s in replay.result.steps] == ["cancelled", "not_run"]
    assert rec.kinds("replay.step.finished")[-1]["status"] == "cancelled"
