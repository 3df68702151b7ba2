"""share/openrpc.json documents exactly the daemon's method table."""

from __future__ import annotations

import json

from aionisd.api.methods import METHODS
from aionisd.api.openrpc import render
from tests.conftest import ROOT


def test_document_matches_the_method_table() -> None:
    doc = json.loads((ROOT / "share" / "openrpc.json").read_text())
    assert {m["name"] for m in doc["methods"]} == set(METHODS), (
        "share/openrpc.json is stale: run `python -m aionisd.api.openrpc > share/openrpc.json`"
    )
    for m in doc["methods"]:
        spec = METHODS[m["name"]]
        assert [x["name"] for x in m["params"]] == [x.name for x in spec.params], m["name"]
        assert [x["required"] for x in m["params"]] == [x.required for x in spec.params]
        assert m["summary"], f"{m['name']} has no summary"


def test_document_is_current() -> None:
    assert (ROOT / "share" / "openrpc.json").read_text() == render()
