"""Issue 21 item 1: a shadow run tests the patched playbook from the state the replay began in,
every step strict, and a run with a skipped or not-run step is not a pass."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import jsonpatch
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aionisd.replay.engine import Replay, ReplayResult, StepOutcome
from aionisd.replay.runner import LocalRunner
from aionisd.replay.snapshot import Base, copy_tree, sweep, take
from aionisd.services.shadow import shadow_validate, verdict
from tests.support.e2e import playbook

ENTRIES = ["a/", "a/b/", "c", "a/x"]
COMMANDS = [
    "mkdir a", "mkdir a/b", "mkdir -p a/b", "touch c", "test -e c", "test ! -e a/b", "rm c",
    "echo hi > a/x", "cat a/x",
]  # fmt: skip


async def _quiet(_kind: str, _data: dict[str, Any]) -> None:
    return None


async def strict(doc: dict[str, Any], workdir: Path, home: Path, *, every: bool = False) -> ReplayResult:
    env = {"PATH": os.environ["PATH"], "HOME": str(home)}
    runner = LocalRunner()
    try:
        return await Replay(
            doc, mode="strict", runner=runner, workdir=workdir, env=env, params={}, on_event=_quiet,
            run_every_step=every,
        ).run()  # fmt: skip
    finally:
        await runner.close()


def make_tree(root: Path, entries: set[str]) -> Path:
    root.mkdir()
    for e in sorted(entries):
        if e.endswith("/"):
            (root / e).mkdir(parents=True, exist_ok=True)
        else:
            (root / e).parent.mkdir(parents=True, exist_ok=True)
            (root / e).write_text("there\n")
    return root


steps = st.builds(
    lambda run, creates, idem: {
        "kind": "command",
        "run": run,
        "expect": {"exit_code": 0, **({"creates": creates} if creates else {})},
        **({"idempotent": True} if idem and creates else {}),
    },
    st.sampled_from(COMMANDS),
    st.sampled_from([None, "a", "a/b", "c", "a/x"]),
    st.booleans(),
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[set[str], dict[str, Any], list[dict[str, Any]]]:
    initial = draw(st.sets(st.sampled_from(ENTRIES)))
    pre = draw(st.sampled_from([[], [{"type": "path_absent", "path": "a/b"}]]))
    doc = playbook(draw(st.lists(steps, min_size=1, max_size=4)), preconditions=pre)
    n = len(doc["steps"])
    i = draw(st.integers(0, n - 1))
    op = draw(st.sampled_from(["replace", "add", "remove"] if n > 1 else ["replace", "add"]))
    if op == "replace":
        patch = [{"op": "replace", "path": f"/steps/{i}/run", "value": draw(st.sampled_from(COMMANDS))}]
    elif op == "add":
        patch = [{"op": "add", "path": f"/steps/{i}", "value": draw(steps)}]
    else:
        patch = [{"op": "remove", "path": f"/steps/{i}"}]
    return initial, doc, patch


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_the_shadow_verdict_is_a_clean_strict_replays_from_the_same_start(
    case: tuple[set[str], dict[str, Any], list[dict[str, Any]]],
) -> None:
    """The guided replay changes its folder (the original steps, then the patched ones, as a
    retry would); the shadow run of the patch from the start snapshot judges as a strict replay of
    the patched playbook, every step run, from a clean copy of the start does, step by step."""
    initial, doc, patch = case
    patched: dict[str, Any] = jsonpatch.apply_patch(doc, patch)

    async def main(root: Path) -> None:
        start = make_tree(root / "start", initial)
        work, home = root / "work", root / "home"
        home.mkdir()
        copy_tree(start, work)
        base = await take(work, root / "bases" / "rp-1")
        await strict(doc, work, home)  # what the replay left behind
        await strict(patched, work, home)
        copy_tree(start, root / "clean")
        ref = await strict(patched, root / "clean", home, every=True)
        shadow = await shadow_validate(
            patched, workdir=work, base=base.path, params={}, env={}, use_sandbox=False
        )
        await base.release()
        ref_passed = ref.status == "succeeded" and all(
            o.status == "succeeded" for o in (*ref.steps, *ref.checks)
        )
        assert shadow.status == ("passed" if ref_passed else "failed"), (shadow.reason, ref.reason)
        assert [s["status"] for s in shadow.steps] == [o.status for o in ref.steps]
        assert shadow.base == "replay start snapshot"
        assert not (root / "bases" / "rp-1").exists()

    with tempfile.TemporaryDirectory() as tmp:
        trio.run(main, Path(tmp))


async def test_every_step_runs_and_a_skipped_or_not_run_step_is_not_a_pass(tmp_path: Path) -> None:
    """A step strict would skip as already done runs in the shadow; a result with a step that did
    not run is never a pass, whatever the replay's own status says."""
    (tmp_path / "out").mkdir()
    doc = playbook(
        [
            {"kind": "command", "id": "mk", "run": "mkdir -p out", "idempotent": True,
             "expect": {"exit_code": 0, "creates": "out"}},
            {"kind": "command", "id": "w", "run": "echo hi > out/hello.txt", "expect": {"exit_code": 0}},
        ]
    )  # fmt: skip
    res = await shadow_validate(doc, workdir=tmp_path, params={}, env={}, use_sandbox=False)
    assert [s["status"] for s in res.steps] == ["succeeded", "succeeded"]
    assert res.status == "passed" and res.base == "the workdir as it is"

    ran = await strict(doc, tmp_path, tmp_path)
    assert [o.status for o in ran.steps] == ["skipped", "succeeded"] and ran.status == "succeeded"
    assert verdict(ran) == (
        "failed",
        f"not a pass: step 1 (mk) skipped: {tmp_path / 'out'} was there before the replay",
    )
    ran.steps[0].status, ran.checks = "succeeded", [StepOutcome(0, "check-1", "not_run", phase="success")]
    assert verdict(ran) == ("failed", "not a pass: success check 1 (check-1) not run")


async def test_the_base_is_copied_not_the_workdir(tmp_path: Path) -> None:
    """With a base, the run starts from it; paths naming the real workdir point at the copy."""
    work, base = tmp_path / "work", tmp_path / "base"
    work.mkdir()
    (work / "left-by-the-replay").write_text("x")
    base.mkdir()
    doc = playbook(
        [{"kind": "command", "run": 'test ! -e left-by-the-replay && test "$PWD" != "$REAL"',
          "env": {"REAL": str(work)}, "expect": {"exit_code": 0}}]
    )  # fmt: skip
    res = await shadow_validate(doc, workdir=work, base=base, params={}, env={}, use_sandbox=False)
    assert res.status == "passed", res.reason
    assert res.base == "replay start snapshot"


async def test_a_base_is_bounded_and_removed_by_its_last_holder(tmp_path: Path) -> None:
    work = make_tree(tmp_path / "work", {"a/x", "c"})
    big = await take(work, tmp_path / "bases" / "rp-big", limit_bytes=4)
    assert big.path is None and big.note is not None and "more than" in big.note
    many = await take(work, tmp_path / "bases" / "rp-many", limit_files=2)
    assert many.path is None and many.note is not None and "more than 2 files" in many.note
    assert not (tmp_path / "bases" / "rp-big").exists()

    base = await take(work, tmp_path / "bases" / "rp-1")
    assert base.path is not None and (base.path / "a" / "x").read_text() == "there\n"
    assert oct((tmp_path / "bases").stat().st_mode & 0o777) == "0o700"
    shadow: Base = base.hold()
    await base.release()  # the replay ends first ...
    assert (tmp_path / "bases" / "rp-1").is_dir()
    await shadow.release()  # ... its shadow run last
    assert not (tmp_path / "bases" / "rp-1").exists()


def test_sweep_removes_what_a_stopped_daemon_left(tmp_path: Path) -> None:
    left = make_tree(tmp_path / "bases", {"rp-1/a/x"})
    (left / "rp-1" / "a").chmod(0o500)
    sweep(left)
    assert not left.exists()
    sweep(left)  # nothing there: nothing to do
