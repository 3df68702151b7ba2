"""Issue 21 (4, 5): the patch as a reviewer reads it, and a guided replay's steps in run order."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from aionisd.events import replay_story, review_lines
from aionisd.repair.view import FIELDS, review_diff

NOISE = {"kind": "command", "timeout_s": 60, "shell": "bash", "cwd": "${workdir}", "env": {}}


def step(n: int, run: str) -> dict[str, Any]:
    return {"id": f"s{n}", "run": run, "expect": {"exit_code": 0}, **NOISE}


@st.composite
def edits(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]], set[str]]:
    """A list of steps and the same list with one step added, removed or changed; the id touched."""
    steps = [step(n, f"echo {n}") for n in range(draw(st.integers(1, 12)))]
    after = [dict(s) for s in steps]
    what = draw(st.sampled_from(["add", "remove", "change"]))
    if what == "add":
        at = draw(st.integers(0, len(steps)))
        new = step(99, "mkdir -p out")
        after.insert(at, new)
        return steps, after, {"s99"}
    at = draw(st.integers(0, len(steps) - 1))
    if what == "remove":
        del after[at]
    else:
        after[at] = {**after[at], "run": "mkdir -p out", "timeout_s": 5}
    return steps, after, {steps[at]["id"]}


@given(edits())
def test_review_diff_shows_the_change_its_neighbours_and_only_the_fields_that_matter(
    case: tuple[list[dict[str, Any]], list[dict[str, Any]], set[str]],
) -> None:
    before, after, touched = case
    rows = review_diff({"steps": before}, {"steps": after})
    changed = [r for r in rows if r["change"] != "same"]
    assert {r["id"] for r in changed} == touched
    for r in rows:
        for side in (r["before"], r["after"]):
            assert side is None or set(side) <= set(FIELDS)
    # one unchanged neighbour above and below the change, where there is one, and no more
    ids_after = [s["id"] for s in after]
    ids_before = [s["id"] for s in before]
    (tid,) = touched
    where, seq = (ids_after, ids_after) if tid in ids_after else (ids_before, ids_before)
    at = where.index(tid)
    near = {seq[i] for i in (at - 1, at + 1) if 0 <= i < len(seq) and seq[i] != tid}
    if tid not in ids_after:  # removed: its neighbours are those that stood beside it
        near = {i for i in near if i in ids_after}
    assert {r["id"] for r in rows if r["change"] == "same"} == near
    lines = review_lines(rows)
    assert not any("timeout_s" in text or "shell" in text for _, text in lines)
    assert {m for m, _ in lines} <= {" ", "-", "+"}


def test_replay_story_puts_a_repairs_steps_right_after_the_step_they_replaced() -> None:
    res = {
        "steps": [
            {"index": 0, "id": "s1", "status": "succeeded"},
            {"index": 1, "id": "s2", "status": "failed", "reason": "exit code 1, expected 0"},
            {"index": 2, "id": "s3", "status": "succeeded"},
        ],
        "checks": [{"index": 0, "id": "c1", "status": "succeeded"}],
        "repairs": [
            {
                "step_index": 1,
                "action": "retry_with",
                "record": {"repair_id": "rq-1"},
                "steps": [
                    {"index": 1, "id": "s99", "status": "succeeded", "phase": "repair"},
                    {"index": 1, "id": "s2", "status": "succeeded", "phase": "repair"},
                ],
            }
        ],
    }
    story = replay_story(res)
    assert [(s["id"], s["phase"], s["repair_id"]) for s in story] == [
        ("s1", "step", None),
        ("s2", "step", None),
        ("s99", "repair", "rq-1"),
        ("s2", "repair", "rq-1"),
        ("s3", "step", None),
        ("c1", "success", None),
    ]
