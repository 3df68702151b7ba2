"""JSON-RPC 2.0 batches on the real daemon, as the spec defines them: an array of requests gets
one array of responses; notifications get none; an empty or oversized array is one Invalid Request
error; each invalid item gets its own error; a batch of notifications only gets nothing at all."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aionisd import errors
from aionisd.api import protocol as p
from tests.conftest import Daemon
from tests.support.rpc import Raw

CHEAP = ["status", "runs.list", "playbooks.list", "audit.verify", "replay.list", "no.such.method"]
ids = itertools.count(1000)


@st.composite
def items(draw: Callable[[Any], Any]) -> tuple[Any, Any]:
    """(item, the id its response carries, or Ellipsis when it gets none)."""
    kind = draw(st.sampled_from(["request", "request", "notification", "invalid"]))
    method = draw(st.sampled_from(CHEAP))
    if kind == "request":
        id_ = next(ids) if draw(st.booleans()) else f"s{next(ids)}"
        return {"jsonrpc": "2.0", "id": id_, "method": method}, id_
    if kind == "notification":
        return {"jsonrpc": "2.0", "method": method}, ...
    bad = draw(
        st.sampled_from(
            [1, "x", None, [], {}, {"jsonrpc": "1.0", "method": "status"}, {"jsonrpc": "2.0", "method": 5}]
        )
    )
    return bad, None


def ping(c: Raw, before: list[Any]) -> None:
    """A request after the batch; whatever arrives before its answer goes to `before`."""
    id_ = next(ids)
    c.send(json.dumps({"jsonrpc": "2.0", "id": id_, "method": "status"}).encode() + b"\n")
    while (msg := c.read_any()) and not (isinstance(msg, dict) and msg.get("id") == id_):
        before.append(msg)


def test_generated_batches(daemon: Daemon) -> None:
    c = Raw(daemon.socket).init()

    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(batch=st.lists(items(), min_size=1, max_size=12))
    def check(batch: list[tuple[Any, Any]]) -> None:
        c.send(json.dumps([item for item, _ in batch]).encode() + b"\n")
        owed = Counter(id_ for _, id_ in batch if id_ is not ...)
        if not owed:
            extra: list[Any] = []
            ping(c, extra)
            assert extra == [], "a batch of notifications only is answered by nothing"
            return
        got = c.read_any()
        assert isinstance(got, list), got
        assert Counter(r["id"] for r in got) == owed
        for r in got:
            assert r["jsonrpc"] == "2.0" and ("result" in r) != ("error" in r), r
            if r["id"] is None:
                assert r["error"]["code"] == errors.INVALID_REQUEST
        unknown = {i["id"] for i, id_ in batch if id_ not in (None, ...) and i["method"] == "no.such.method"}
        assert {r["id"] for r in got if r.get("error", {}).get("code") == errors.METHOD_NOT_FOUND} == unknown

    check()
    c.close()


def test_empty_oversized_and_unparsable_batches_get_one_error(daemon: Daemon) -> None:
    c = Raw(daemon.socket).init()
    c.send(b"[]\n")
    assert c.read_any()["error"]["code"] == errors.INVALID_REQUEST
    status = {"jsonrpc": "2.0", "id": 1, "method": "status"}
    c.send(json.dumps([status] * (p.MAX_BATCH + 1)).encode() + b"\n")
    err = c.read_any()
    assert err["id"] is None and err["error"]["code"] == errors.INVALID_REQUEST, err
    assert str(p.MAX_BATCH) in err["error"]["message"]
    c.send(json.dumps([status] * p.MAX_BATCH).encode() + b"\n")
    assert [r["result"]["pid"] for r in c.read_any()] == [daemon.proc.pid] * p.MAX_BATCH  # type: ignore[union-attr]
    c.send(b'[{"jsonrpc":"2.0","method":"status"},\n')  # the spec's "invalid JSON" batch
    assert c.read_any()["error"]["code"] == errors.PARSE_ERROR
    c.send(b"[1,2,3]\n")
    answers = c.read_any()
    assert [(a["id"], a["error"]["code"]) for a in answers] == [(None, errors.INVALID_REQUEST)] * 3
    c.close()


def test_batch_before_initialize_is_answered_per_item(daemon: Daemon) -> None:
    c = Raw(daemon.socket)
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "x"}}
    c.send(json.dumps([init, {"jsonrpc": "2.0", "id": 2, "method": "status"}]).encode() + b"\n")
    answers = {a["id"]: a for a in c.read_any()}
    assert "result" in answers[1] and answers[2]["result"]["pid"] == daemon.proc.pid  # type: ignore[union-attr]
    c.close()
