"""Issue 21, item 2: a repair's identity is (playbook, version, failing step, canonical patch), so a
patch is found again whatever its keys' order, and only for that version and step."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aionisd.store import repairs
from aionisd.store.db import Database

ops = st.lists(
    st.fixed_dictionaries(
        {
            "op": st.sampled_from(["add", "replace", "remove"]),
            "path": st.sampled_from(["/steps/0", "/steps/1"]),
        },
        optional={"value": st.dictionaries(st.sampled_from(["id", "run", "kind"]), st.text(max_size=5))},
    ),
    min_size=1,
    max_size=3,
)


def _store(db: Database, rid: str, patch: list[dict[str, Any]], status: str) -> None:
    with db.tx():
        repairs.insert(
            db,
            rid,
            playbook_id="pb-1",
            version=1,
            replay_id=None,
            step_index=2,
            source="heuristic",
            rationale="r",
            patch=patch,
            failure={},
            status=status,
            invalid_reason=None,
            usage=None,
        )


@settings(max_examples=40, deadline=None)
@given(ops, ops, st.sampled_from(["pending_review", "shadow_failed", "approved", "rejected", "invalid"]))
def test_an_identical_patch_is_found_for_its_version_and_step_only(
    patch: list[dict[str, Any]], other: list[dict[str, Any]], status: str
) -> None:
    with tempfile.TemporaryDirectory() as d:
        db = Database(Path(d) / "a.db")
        _store(db, "rq-1", patch, status)
        reordered = [{k: op[k] for k in reversed(op)} for op in patch]
        found = repairs.identical(db, "pb-1", 1, 2, reordered)
        assert (found is not None and found["id"] == "rq-1") == (status != "invalid")
        assert repairs.identical(db, "pb-1", 2, 2, patch) is None
        assert repairs.identical(db, "pb-1", 1, 3, patch) is None
        if other != patch:
            assert repairs.identical(db, "pb-1", 1, 2, other) is None
        db.close()
