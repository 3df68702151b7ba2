"""RFC 6902 patches on playbook documents: all or nothing, never mutating, schema-checked."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from aionisd.repair.patch import InvalidPatch, apply, replacement_steps, step_diff
from tests.support.playbooks import command_step, make_playbook


def three_steps() -> dict[str, Any]:
    return make_playbook(
        command_step("s1", "python3 -m venv .venv"),
        command_step("s2", "python -m pip install -e ."),
        command_step("s3", "make build"),
    )


def test_apply_returns_a_patched_copy_and_leaves_the_input_alone() -> None:
    doc = three_steps()
    before = copy.deepcopy(doc)
    ops = [
        {"op": "test", "path": "/steps/1/run", "value": "python -m pip install -e ."},
        {"op": "replace", "path": "/steps/1/run", "value": "python3 -m pip install -e ."},
    ]
    patched = apply(doc, ops)
    assert patched["steps"][1]["run"] == "python3 -m pip install -e ."
    assert doc == before
    assert patched["steps"][0] is not doc["steps"][0]


def test_inserted_values_are_not_shared_with_the_patch() -> None:
    new = command_step("s0", "mkdir -p build")
    ops: list[dict[str, Any]] = [{"op": "add", "path": "/steps/0", "value": new}]
    patched = apply(three_steps(), ops)
    patched["steps"][0]["run"] = "changed later"
    assert ops[0]["value"]["run"] == "mkdir -p build"
    assert [s["id"] for s in patched["steps"]] == ["s0", "s1", "s2", "s3"]


def test_a_failing_test_op_rejects_the_whole_patch() -> None:
    doc = three_steps()
    before = copy.deepcopy(doc)
    ops = [
        {"op": "test", "path": "/steps/1/run", "value": "pip install -e ."},
        {"op": "replace", "path": "/steps/1/run", "value": "python3 -m pip install -e ."},
    ]
    with pytest.raises(InvalidPatch, match="test operation failed"):
        apply(doc, ops)
    assert doc == before


def test_never_half_applied_when_a_later_op_fails() -> None:
    doc = three_steps()
    before = copy.deepcopy(doc)
    ops = [
        {"op": "replace", "path": "/steps/0/run", "value": "true"},
        {"op": "remove", "path": "/steps/7"},
    ]
    with pytest.raises(InvalidPatch, match="does not apply"):
        apply(doc, ops)
    assert doc == before


@pytest.mark.parametrize(
    "ops",
    [
        {"op": "replace", "path": "/steps/0/run", "value": "x"},
        ["replace"],
        [{"op": "teleport", "path": "/steps/0/run"}],
        [{"op": "replace", "path": "/steps/0/run"}],
        [{"path": "/steps/0/run", "value": "x"}],
        [{"op": "replace", "path": "steps/0/run", "value": "x"}],
        [{"op": "replace", "path": "/steps/0/run/deeper", "value": "x"}],
        [{"op": "move", "from": "/nowhere", "path": "/steps/0/note"}],
    ],
)
def test_malformed_or_inapplicable_patches_are_invalid(ops: Any) -> None:
    with pytest.raises(InvalidPatch):
        apply(three_steps(), ops)


def test_a_result_that_breaks_the_schema_is_invalid() -> None:
    doc = three_steps()
    with pytest.raises(InvalidPatch, match="invalid"):
        apply(doc, [{"op": "replace", "path": "/steps/0/kind", "value": "teleport"}])
    with pytest.raises(InvalidPatch, match="invalid"):
        apply(doc, [{"op": "remove", "path": "/steps/0/run"}])


@pytest.mark.parametrize("field", ["version", "status", "source", "schema", "name", "created_at"])
def test_repairs_may_not_touch_identity_or_provenance(field: str) -> None:
    doc = three_steps()
    with pytest.raises(InvalidPatch, match=f"/{field}"):
        apply(doc, [{"op": "replace", "path": f"/{field}", "value": doc[field]}])
    # a guard on them is fine
    assert apply(doc, [{"op": "test", "path": f"/{field}", "value": doc[field]}]) == doc


def test_replacing_the_whole_document_is_refused() -> None:
    with pytest.raises(InvalidPatch, match="whole document"):
        apply(three_steps(), [{"op": "replace", "path": "", "value": three_steps()}])


def test_step_diff_reports_a_changed_step_with_its_fields() -> None:
    doc = three_steps()
    after = copy.deepcopy(doc)
    after["steps"][1]["run"] = "python3 -m pip install -e ."
    diff = step_diff(doc, after)
    assert diff == [
        {
            "change": "changed",
            "id": "s2",
            "index": 1,
            "before": doc["steps"][1],
            "after": after["steps"][1],
            "fields": [
                {
                    "field": "run",
                    "before": "python -m pip install -e .",
                    "after": "python3 -m pip install -e .",
                }
            ],
        }
    ]


def test_step_diff_an_insert_is_one_added_step_not_a_cascade() -> None:
    doc = three_steps()
    new = command_step("s4", "mkdir -p build")
    after = apply(doc, [{"op": "add", "path": "/steps/1", "value": new}])
    diff = step_diff(doc, after)
    assert [(d["change"], d["id"], d["index"]) for d in diff] == [("added", "s4", 1)]
    assert diff[0]["before"] is None
    assert {f["field"] for f in diff[0]["fields"]} == set(new)


def test_step_diff_removed_moved_and_other_sections() -> None:
    doc = three_steps()
    after = copy.deepcopy(doc)
    s1, _s2, s3 = after["steps"]
    after["steps"] = [s3, s1]
    after["goal"] = "set up the project, faster"
    diff = step_diff(doc, after)
    changes = {(d["change"], d.get("id") or d.get("section")) for d in diff}
    assert ("removed", "s2") in changes
    assert ("changed", "goal") in changes
    moved = [d for d in diff if d["change"] == "moved"]
    assert len(moved) == 1 and moved[0]["id"] in {"s1", "s3"}


def test_step_diff_of_identical_documents_is_empty() -> None:
    assert step_diff(three_steps(), three_steps()) == []


def test_replacement_steps_are_what_runs_in_place_of_the_failing_step() -> None:
    doc = three_steps()
    rewritten = apply(doc, [{"op": "replace", "path": "/steps/1/run", "value": "true"}])
    assert replacement_steps(doc, rewritten, 1) == [rewritten["steps"][1]]
    mkdir = command_step("s4", "mkdir -p build")
    inserted = apply(doc, [{"op": "add", "path": "/steps/1", "value": mkdir}])
    assert [s["id"] for s in replacement_steps(doc, inserted, 1)] == ["s4", "s2"]
    removed = apply(doc, [{"op": "remove", "path": "/steps/1"}])
    assert replacement_steps(doc, removed, 1) == []
