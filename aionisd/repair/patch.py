"""Apply RFC 6902 patches to playbook documents, all or nothing, and show what they change.

A repair may only change what a replay does (params, preconditions, steps, success checks, goal),
never who made the playbook or which version it is: governance owns those fields.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from aionisd.playbook import validate

PROTECTED = ("schema", "name", "version", "status", "source", "created_at")
_MISSING: Any = object()


class InvalidPatch(Exception):
    """The patch is malformed, does not apply, or its result is not a valid playbook."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def apply(doc: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """Return a patched copy of `doc`; raise InvalidPatch instead of ever half-applying."""
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        raise InvalidPatch("a patch is a list of operation objects")
    for op in ops:
        _check_target(op)
    try:
        patched = jsonpatch.JsonPatch(copy.deepcopy(ops)).apply(doc, in_place=False)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise InvalidPatch(f"a test operation failed: {exc}") from exc
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise InvalidPatch(f"patch does not apply: {exc}") from exc
    except (TypeError, KeyError, IndexError, ValueError, AttributeError) as exc:
        raise InvalidPatch(f"malformed patch: {exc!r}") from exc
    if not isinstance(patched, dict):
        raise InvalidPatch("the patched document is not an object")
    errors = validate(patched)
    if errors:
        raise InvalidPatch("the patched playbook is invalid: " + "; ".join(errors[:5]))
    return patched


def _check_target(op: dict[str, Any]) -> None:
    name = op.get("op")
    for key in ("path", "from"):
        pointer = op.get(key)
        if not isinstance(pointer, str):
            continue
        if pointer == "" and name != "test":
            raise InvalidPatch("a repair may not replace the whole document")
        top = pointer.split("/")[1] if pointer.startswith("/") else ""
        if top in PROTECTED and (name != "test" or key == "from"):
            raise InvalidPatch(f"a repair may not change /{top}")


def step_diff(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Describe what changed between two documents, step by step, for people reviewing a repair.

    Each entry is `{"change": "added"|"removed"|"changed"|"moved", "id", "index", "before",
    "after", "fields": [{"field", "before", "after"}]}` for a step (index in `after`, or in
    `before` for a removed step), or `{"change": "changed", "section", "before", "after"}` for
    another top-level key. Steps are matched by id, so inserting a step does not mark every
    later step as changed.
    """
    b_steps = _steps(before)
    a_steps = _steps(after)
    b_keys = _keys(b_steps)
    a_keys = _keys(a_steps)
    b_at = {k: i for i, k in enumerate(b_keys)}
    a_at = {k: i for i, k in enumerate(a_keys)}
    common_b = [k for k in b_keys if k in a_at]
    common_a = [k for k in a_keys if k in b_at]
    kept_order = _lcs(common_b, common_a)

    entries: list[tuple[int, int, dict[str, Any]]] = []
    for key, i in b_at.items():
        if key not in a_at:
            entries.append((i, 0, _entry("removed", key, i, b_steps[i], None)))
    for key, i in a_at.items():
        if key not in b_at:
            entries.append((i, 1, _entry("added", key, i, None, a_steps[i])))
            continue
        old, new = b_steps[b_at[key]], a_steps[i]
        if old != new:
            entries.append((i, 1, _entry("changed", key, i, old, new)))
        elif key not in kept_order:
            entries.append((i, 1, _entry("moved", key, i, old, new)))
    result = [entry for _, _, entry in sorted(entries, key=lambda e: (e[0], e[1]))]

    for section in sorted(set(before) | set(after)):
        if section == "steps":
            continue
        was, now = before.get(section), after.get(section)
        if was != now:
            result.append({"change": "changed", "section": section, "before": was, "after": now})
    return result


def _steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    steps = doc.get("steps")
    if not isinstance(steps, list):
        return []
    return [s if isinstance(s, dict) else {"value": s} for s in steps]


def _keys(steps: list[dict[str, Any]]) -> list[str]:
    """Step ids when they are unique strings, else positions (nothing better to match on)."""
    ids = [s.get("id") for s in steps]
    if all(isinstance(i, str) for i in ids) and len(set(ids)) == len(ids):
        return [str(i) for i in ids]
    return [f"#{n}" for n in range(len(steps))]


def _entry(
    change: str, key: str, index: int, old: dict[str, Any] | None, new: dict[str, Any] | None
) -> dict[str, Any]:
    old_map = old or {}
    new_map = new or {}
    fields = [
        {"field": f, "before": old_map.get(f), "after": new_map.get(f)}
        for f in sorted(set(old_map) | set(new_map))
        if old_map.get(f, _MISSING) != new_map.get(f, _MISSING)
    ]
    step = new if new is not None else old
    step_id = step.get("id") if step is not None else None
    return {
        "change": change,
        "id": step_id if step_id is not None else key,
        "index": index,
        "before": old,
        "after": new,
        "fields": fields,
    }


def _lcs(a: list[str], b: list[str]) -> set[str]:
    """Keys on a longest common subsequence: the steps that kept their relative order."""
    n, m = len(a), len(b)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            if a[i] == b[j]:
                table[i][j] = table[i + 1][j + 1] + 1
            else:
                table[i][j] = max(table[i + 1][j], table[i][j + 1])
    kept: set[str] = set()
    i = j = 0
    while i < n and j < m:
        if a[i] == b[j]:
            kept.add(a[i])
            i += 1
            j += 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return kept


def replacement_steps(before: dict[str, Any], after: dict[str, Any], index: int) -> list[dict[str, Any]]:
    """The steps of the patched document that take the place of step `index` when retrying.

    A patch that rewrites the failing step gives that step; one that also inserts steps before
    it gives them too, in order; one that removes it gives none.
    """
    grown = len(_steps(after)) - len(_steps(before))
    steps = _steps(after)
    return [copy.deepcopy(s) for s in steps[index : max(index, index + 1 + grown)]]
