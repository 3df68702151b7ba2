"""A patch as a reviewer reads it: the steps it touches with one unchanged neighbour above and
below, and only the fields a person decides on (a 12-field dump hides the one that changed)."""

from __future__ import annotations

from typing import Any

from aionisd.repair.patch import step_diff

FIELDS = ("run", "path", "content", "expect")


def _shown(step: Any) -> dict[str, Any] | None:
    if not isinstance(step, dict):
        return None
    return {k: step[k] for k in FIELDS if k in step}


def review_diff(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows `{"change": same|added|removed|changed|moved, "index", "id", "before", "after"}` in
    the patched order (a removed step where it stood), then `{"change", "section", ...}` for other
    sections. `index` counts in the patched playbook (in the original for a removed step)."""
    entries = step_diff(before, after)
    by_index = {e["index"]: e for e in entries if "section" not in e and e["change"] != "removed"}
    removed = [e for e in entries if "section" not in e and e["change"] == "removed"]
    raw = after.get("steps")
    steps: list[Any] = raw if isinstance(raw, list) else []
    seq: list[dict[str, Any]] = []
    for j in range(len(steps) + 1):
        for e in removed:
            if e["index"] == j or (j == len(steps) and e["index"] > j):
                seq.append({"change": "removed", "index": e["index"], "id": e["id"],
                            "before": _shown(e["before"]), "after": None})  # fmt: skip
        if j == len(steps):
            break
        step = steps[j]
        if j not in by_index:
            sid = step.get("id") if isinstance(step, dict) else None
            seq.append(
                {"change": "same", "index": j, "id": sid, "before": _shown(step), "after": _shown(step)}
            )
        else:
            e = by_index[j]
            before_side = None if e["change"] == "added" else _shown(e["before"])
            seq.append({"change": e["change"], "index": j, "id": e["id"],
                        "before": before_side, "after": _shown(e["after"])})  # fmt: skip
    touched = [n for n, row in enumerate(seq) if row["change"] != "same"]
    keep = {n + d for n in touched for d in (-1, 0, 1)}
    rows = [row for n, row in enumerate(seq) if n in keep]
    rows += [e for e in entries if "section" in e]
    return rows
