"""Every API method of the real daemon, called with generated parameters read from its schema in
share/openrpc.json: valid-shaped and wrong-typed values, LIKE wildcards, backslashes, long strings,
huge integers, nesting, nulls, unicode. None may become an internal error (-32603), and the
daemon keeps answering on the same connection."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aionisd import errors
from aionisd.signing import generate
from aionisd.store.playbooks import STATUSES
from tests.conftest import ROOT, Daemon, Xdg
from tests.support.e2e import compiled, synthetic_trace
from tests.support.rpc import Raw

pytestmark = pytest.mark.slow

OPENRPC = json.loads((ROOT / "share" / "openrpc.json").read_text())
SCHEMAS: dict[str, list[dict[str, Any]]] = {m["name"]: m["params"] for m in OPENRPC["methods"]}
PER_METHOD = 100

NASTY = [
    "",
    "%",
    "_",
    "\\",
    "%_\\",
    "a%b_c\\d",
    "%" * 60_000,  # past SQLite's LIKE pattern limit (50,000 bytes)
    "_%" * 30_000,
    "x" * 70_000,
    "\\" * 1000,
    "\x00",
    "\ud800",  # a lone surrogate: valid JSON (escaped), not encodable as UTF-8
    "é漢字🙂",
    "../../etc/passwd",
    "/",
    "sha256:",
    "sha256:%",
    "SHA256:%",
    "simulate",
    "strict",
    "approve",
    "active",
    "null",
]
INTS = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([0, -1, 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**30]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    INTS,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(NASTY),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
# Keys the handlers look for inside objects (patch operations, trace events, envelopes, starts).
INNER_KEYS = [
    "op", "path", "value", "from", "type", "step_id", "tool", "input", "status", "exit_code",
    "stdout", "agent", "goal", "cwd", "ts", "payload", "payloadType", "signatures", "keyid", "sig",
    "name", "version", "steps", "run", "command",
]  # fmt: skip


# Keys to trust and to revoke at will: never the daemon's own key.
TRUSTED, REVOKED = generate("trusted@fuzz"), generate("revoked@fuzz")
GOOD: dict[str, list[Any]] = {  # values a parameter ([method.]name) takes, to pass the first checks
    "mode": ["simulate", "strict", "guided"],
    "status": list(STATUSES),
    "repairs.list.status": ["pending_review", "approved", "rejected", "shadow_failed", "invalid"],
    "decision": ["approve", "reject"],
    "public_key": [TRUSTED.public.to_line(), REVOKED.public.to_line()],
    "keyid": [REVOKED.keyid, REVOKED.public.to_line()],
    "valid_after": ["20260101", "20260101000000Z", "2026", "99999999999999"],
    "valid_before": ["20300101Z", "1"],
    "version": [1, 2, 3],
    "kinds": [["run."], ["replay.", "playbook.compiled"]],
    "patch": [[], [{"op": "replace", "path": "/goal", "value": "fuzzed"}], [{"op": "remove", "path": "/"}]],
}


def texts(refs: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
        st.text(alphabet="%_\\*?[]^'\"-.:/", max_size=12),
        st.sampled_from(NASTY),
        st.sampled_from(refs),
        st.builds(lambda r, s: r + s, st.sampled_from(refs), st.sampled_from(["%", "_", "\\", ""])),
        st.builds(lambda r: r[:3], st.sampled_from(refs)),
    )


def objects(refs: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    keys = st.sampled_from(INNER_KEYS) | texts(refs)
    return st.dictionaries(keys, json_values | texts(refs), max_size=5)


def typed(schema: dict[str, Any], refs: list[str]) -> st.SearchStrategy[Any]:
    """A value of the schema's type."""
    kind = schema["type"]
    if kind == "array":
        item = schema.get("items", {"type": "string"})
        return st.lists(typed(item, refs) if item["type"] != "array" else json_values, max_size=4)
    return {
        "string": texts(refs),
        "integer": INTS,
        "number": INTS | st.floats(),
        "boolean": st.booleans(),
        "object": objects(refs),
    }[kind]


@st.composite
def params_for(draw: Callable[[Any], Any], method: str, refs: list[str]) -> Any:
    """By-name params from the method's schema; in one call of four some values have the wrong
    type; sometimes a key is unknown, a required one missing, a value null, or params not an object."""
    if draw(st.integers(0, 19)) == 0:
        return draw(json_values)
    wrong = draw(st.integers(0, 3)) == 0
    out: dict[str, Any] = {}
    for prm in SCHEMAS[method]:
        if draw(st.integers(0, 19)) < (19 if prm["required"] else 10):
            if wrong and draw(st.booleans()):
                out[prm["name"]] = draw(json_values)
            elif (good := GOOD.get(f"{method}.{prm['name']}", GOOD.get(prm["name"]))) and draw(
                st.integers(0, 3)
            ):
                out[prm["name"]] = draw(st.sampled_from(good))
            else:
                out[prm["name"]] = draw(typed(prm["schema"], refs))
    if draw(st.integers(0, 19)) == 0:
        out[draw(st.text(max_size=8))] = draw(json_values)
    return out


def line(id_: int, method: str, params: Any) -> bytes:
    msg = {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}
    return json.dumps(msg).encode() + b"\n"


def answer(c: Raw, id_: int) -> dict[str, Any]:
    """The response to request `id_` (or the parse error, id null, of a line with a lone surrogate)."""
    while True:
        msg = c.read()
        if msg.get("id") == id_ or ("id" in msg and msg["id"] is None and "error" in msg):
            return msg


def seed(daemon: Daemon, tmp_path: Path) -> list[str]:
    """A run, a compiled playbook and a replay to point generated references at."""
    rec = tmp_path / "rec"
    rec.mkdir()
    trace = synthetic_trace(tmp_path / "t.jsonl", rec, ["touch a", "echo hi > b"], run_id="fuzz-run")
    pb = compiled(daemon.socket, trace, name="fuzz playbook")
    c = Raw(daemon.socket).init()
    rid = c.call("replay.start", id=pb["id"], mode="simulate", workdir=str(tmp_path / "w"))["result"]
    run_id = c.call("runs.list")["result"]["runs"][0]["id"]
    repair = c.call("repairs.propose", playbook_id=pb["id"], patch=GOOD["patch"][1])["result"]
    c.close()
    return [run_id, pb["id"], pb["name"], pb["digest"], pb["digest"][7:19], rid["replay_id"], repair["id"],
            str(trace)]  # fmt: skip


def fuzz(c: Raw, method: str, refs: list[str]) -> list[tuple[str, Any, dict[str, Any]]]:
    """PER_METHOD generated calls of `method`: the internal errors they got."""
    internal = []

    @settings(max_examples=PER_METHOD, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(params=params_for(method, refs))
    def call(params: Any) -> None:
        c.send(line(7, method, params))
        got = answer(c, 7)
        assert got.get("jsonrpc") == "2.0" and ("result" in got) != ("error" in got), got
        if got.get("error", {}).get("code") == errors.INTERNAL_ERROR:
            internal.append((method, params, got["error"]))

    call()
    return internal


def test_every_method_with_generated_params_never_errs_internally(
    start_daemon: Any, xdg: Xdg, tmp_path: Path
) -> None:
    xdg.write_config("[governance]\nauto_shadow_validate = false\n")
    daemon: Daemon = start_daemon()
    refs = seed(daemon, tmp_path)
    c = Raw(daemon.socket, timeout=60).init()
    internal: list[tuple[str, Any, dict[str, Any]]] = []
    assert set(SCHEMAS) >= {"playbooks.compile", "runs.get", "replay.start", "repairs.propose"}
    for method in sorted(SCHEMAS):
        internal += fuzz(c, method, refs)
        assert c.call("status")["result"]["pid"] == daemon.proc.pid  # type: ignore[union-attr]
    c.close()
    shown = [(m, json.dumps(prm)[:200], e["message"][:200]) for m, prm, e in internal]
    assert not internal, shown[:10]
    assert "Traceback" not in daemon.log.read_text()


# Each of these once answered -32603; the generated calls above find them only by chance.
LONG_LIKE = "%" * 60_000
FOUND: list[tuple[str, dict[str, Any], int]] = [
    ("runs.get", {"id": LONG_LIKE}, errors.NOT_FOUND),  # LIKE or GLOB pattern too complex
    ("playbooks.get", {"id": LONG_LIKE}, errors.NOT_FOUND),
    ("playbooks.verify", {"id": "_" * 60_000}, errors.NOT_FOUND),
    ("replay.start", {"id": LONG_LIKE, "mode": "simulate"}, errors.NOT_FOUND),
    ("audit.list", {"action": LONG_LIKE}, 0),
    ("runs.get", {"id": "%"}, errors.NOT_FOUND),  # a wildcard named the only run
    ("runs.get", {"id": ""}, errors.NOT_FOUND),
    ("playbooks.get", {"id": "%"}, errors.NOT_FOUND),
    ("playbooks.get", {"id": ""}, errors.NOT_FOUND),
    ("playbooks.compile", {"run_id": ""}, errors.INVALID_PARAMS),  # compiled the only run
    ("playbooks.compile", {"run_id": "%"}, errors.NOT_FOUND),
    ("playbooks.compile", {"run_id": "fuzz-run", "params": {"a b": "x"}}, errors.INVALID_PARAMS),
    ("playbooks.compile", {"run_id": "fuzz-run", "params": {"n": {"x": 1}}}, errors.INVALID_PARAMS),
    ("playbooks.search", {"text": "touch", "limit": 2**62}, errors.INVALID_PARAMS),  # int too big
    ("runs.list", {"limit": -1}, errors.INVALID_PARAMS),  # SQLite's "no limit"
    ("keys.init", {"use": "\x00"}, errors.INVALID_PARAMS),  # found by the fuzz: a NUL in a path
    ("playbooks.verify", {"envelope": {"payloadType": "x", "payload": {}, "signatures": []}}, 0),
    (
        "playbooks.import",
        {"envelope": {"payload": [1], "signatures": [{"sig": {}}]}},
        errors.SIGNATURE_INVALID,
    ),
    ("audit.list", {"action": "\ud800"}, errors.PARSE_ERROR),  # a lone surrogate reached SQLite
    ("ingest", {"paths": ["/\ud800"]}, errors.PARSE_ERROR),
]


def test_calls_found_by_the_fuzz(daemon: Daemon, tmp_path: Path) -> None:
    trace = synthetic_trace(tmp_path / "t.jsonl", tmp_path, ["touch a"], run_id="fuzz-run")
    compiled(daemon.socket, trace)
    c = Raw(daemon.socket).init()
    for i, (method, params, code) in enumerate(FOUND):
        c.send(line(i, method, params))
        got = answer(c, i)
        assert got.get("error", {}).get("code", 0) == code, (method, str(params)[:80], got)
    # The same run compiled twice within a second (its created_at) is the same document: the same
    # version, not a UNIQUE conflict. A pair straddling a second is two documents; try another.
    same = 0
    for _ in range(5):
        first, again = (c.call("playbooks.compile", run_id="fuzz-run")["result"] for _ in range(2))
        if first["digest"] == again["digest"]:
            assert (again["id"], again["version"], again["new"]) == (first["id"], first["version"], False)
            same += 1
    assert same, "five pairs of compiles, each straddling a second?"
    c.close()
    assert "Traceback" not in daemon.log.read_text()
