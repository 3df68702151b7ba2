"""Redaction walks recorded inputs iteratively: a hostile log nests deeper than Python recurses.

Found by the document fuzz (tests/e2e/test_abuse_fuzz.py): a mutated session whose tool input
nested a few thousand lists deep made ingest's redaction raise RecursionError.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from aionisd.params import strings_in, walk_strings

json_data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4),
    max_leaves=30,
)


def _walk(value: Any) -> Any:
    """The plain recursive definition the iterative walk must agree with."""
    if isinstance(value, str):
        return value.upper()
    if isinstance(value, dict):
        return {k: _walk(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v) for v in value]
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@given(json_data)
def test_the_walks_agree_with_their_recursive_definitions(value: Any) -> None:
    assert walk_strings(value, str.upper) == _walk(value)
    assert strings_in(value) == _strings(value)


def test_nesting_deeper_than_the_recursion_limit_is_walked() -> None:
    deep: Any = {"command": "export TOKEN=s3cret-value-123"}
    for _ in range(50_000):
        deep = [deep]
    out = walk_strings(deep, str.upper)
    assert strings_in(out) == ["EXPORT TOKEN=S3CRET-VALUE-123"]
