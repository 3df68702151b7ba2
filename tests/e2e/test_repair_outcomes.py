"""Issue 13, item 4: a rejected repair says why, to the user. Each source's outcome reaches the
replay result, the CLI, the TUI and the MCP answer; step ids a repair service made up are
renumbered to our scheme rather than rejected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aionisd.client import Client
from aionisd.repair import Failure, RepairRequest, SourceOutcome
from aionisd.repair.patch import apply
from aionisd.repair.sources import RepairConfig, propose, renumber_ids
from tests.conftest import Xdg, aionis
from tests.support.e2e import compiled, wait_replay, wait_shadow
from tests.support.httpstub import HttpStub, Reply
from tests.support.mcp_session import call, session
from tests.support.playbooks import command_step, make_playbook
from tests.support.trace_writer import TraceWriter

TELEPORT = [{"op": "replace", "path": "/steps/1/kind", "value": "teleport"}]
WHY = "the patched playbook is invalid: steps/1/kind: 'teleport' is not one of"


def two_steps() -> dict[str, Any]:
    return make_playbook(command_step("s1", "./configure"), command_step("s2", "make bulid"))


def test_a_made_up_step_id_becomes_ours() -> None:
    doc = two_steps()
    added = command_step("s2-fix", "make build")
    ops = [
        {"op": "add", "path": "/steps/1", "value": added},
        {"op": "test", "path": "/steps/1/id", "value": "s2-fix"},
    ]
    fixed = renumber_ids(doc, ops)
    assert [op["value"] if op["op"] == "test" else op["value"]["id"] for op in fixed] == ["s3", "s3"]
    assert [s["id"] for s in apply(doc, fixed)["steps"]] == ["s1", "s3", "s2"]
    assert ops[0]["value"]["id"] == "s2-fix"  # the source's patch is left as it was
    replaced = renumber_ids(doc, [{"op": "replace", "path": "/steps/1", "value": added}])
    assert replaced[0]["value"]["id"] == "s2"  # it stands in for s2: the same step, rewritten
    kept = [{"op": "add", "path": "/steps/-", "value": command_step("s9", "make check")}]
    assert renumber_ids(doc, kept) == kept


@st.composite
def patches(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A playbook and a patch adding, replacing, moving and removing steps under any ids."""
    n = draw(st.integers(1, 5))
    doc = make_playbook(*(command_step(f"s{i + 1}", f"step {i}") for i in range(n)))
    ids = st.one_of(st.text(min_size=0, max_size=8), st.sampled_from(["s1", "s2", "s7", "c1", "s2-fix"]))
    ops: list[dict[str, Any]] = []
    for k in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["add", "add", "replace", "remove", "move", "id"]))
        if op == "remove" and n > 1:
            ops.append({"op": "remove", "path": f"/steps/{draw(st.integers(0, n - 1))}"})
            n -= 1
        elif op == "move":
            a, b = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
            ops.append({"op": "move", "from": f"/steps/{a}", "path": f"/steps/{b}"})
        elif op == "id":
            at = draw(st.integers(0, n - 1))
            ops.append({"op": "replace", "path": f"/steps/{at}/id", "value": draw(ids)})
        else:
            step = command_step(draw(ids), f"new {k}")
            if op == "add":
                at = draw(st.integers(0, n))
                ops.append({"op": "add", "path": f"/steps/{'-' if at == n else at}", "value": step})
                n += 1
            else:
                ops.append({"op": "replace", "path": f"/steps/{draw(st.integers(0, n - 1))}", "value": step})
    return doc, ops


def without_ids(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in s.items() if k != "id"} for s in doc["steps"]]


@settings(max_examples=300, deadline=None)
@given(patches())
def test_any_ids_a_source_gives_are_renumbered_and_nothing_else_changes(case: Any) -> None:
    doc, ops = case
    patched = apply(doc, renumber_ids(doc, ops))  # raises InvalidPatch if an id were still bad
    got = [s["id"] for s in patched["steps"]]
    assert len(set(got)) == len(got)
    assert without_ids(patched) == without_ids(jsonpatch.apply_patch(doc, ops))


async def test_a_secret_in_a_rejection_reason_is_masked() -> None:
    doc = two_steps()
    req = RepairRequest(doc, 1, doc["steps"][1], Failure(2, "", "make: *** No rule\n"))
    leaky = [{"op": "replace", "path": "/steps/1/timeout_s", "value": "tok-0123456789"}]
    with HttpStub(Reply(200, json={"patch": leaky, "rationale": "x"}), Reply(500, body=b"boom")) as stub:
        cfg = RepairConfig(sources=("http",), http_url=stub.url, http_timeout_s=5)
        proposal, (rejected,) = await propose(req, cfg, env={"API_TOKEN": "tok-0123456789"})
        _, (failed,) = await propose(req, cfg, env={})
    assert proposal is None
    assert rejected == SourceOutcome(
        "http",
        "rejected",
        "the patched playbook is invalid: steps/1/timeout_s: '********' is not of type 'integer'",
    )
    assert failed == SourceOutcome("http", "error", "HTTP 500: boom")


@pytest.mark.slow
async def test_guided_replay_result_cli_and_mcp_say_why_a_repair_was_rejected(
    xdg: Xdg, start_daemon: Any, tmp_path: Path
) -> None:
    rec = tmp_path / "recorded"
    (rec / "config").mkdir(parents=True)
    (rec / "config" / "settings.ini").write_text("[app]\nname = demo\n")
    w = TraceWriter(tmp_path / "t.jsonl", "why-1", agent="t", goal="build the app", cwd=rec)
    assert w.bash("mkdir -p build") == 0
    assert w.bash("grep name config/settings.ini > build/name.txt") == 0
    w.end()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    with HttpStub() as stub:
        xdg.write_config(
            f"[replay]\nallow_local_exec = true\n[repair]\nsources = ['heuristic', 'http']\n"
            f"http_url = '{stub.url}/repair'\n"
        )
        d = start_daemon()
        pb = compiled(d.socket, tmp_path / "t.jsonl", name="build app")["id"]
        invalid = Reply(200, json={"patch": TELEPORT, "rationale": "teleport it"})
        stub.reply(invalid, invalid)
        replay = ("replay", pb, "--mode", "guided", "--workdir", str(fresh))

        human = aionis(xdg, *replay)
        assert human.returncode == 1, human.stdout + human.stderr
        lines = human.stdout.splitlines()
        at = lines.index("repair of step 2 (s2): no source proposed a repair")
        assert lines[at + 1] == "  heuristic: no answer: no rule matched"
        assert lines[at + 2].startswith(f"  http: rejected: {WHY}")

        r = aionis(xdg, *replay, "--json")
        assert r.returncode == 1, r.stderr
        (entry,) = json.loads(r.stdout)["repairs"]
        assert (entry["step_id"], entry["action"], entry["repair_id"]) == ("s2", "none", None)
        heuristic, http = entry["sources"]
        assert heuristic == {"source": "heuristic", "outcome": "no_answer", "reason": "no rule matched",
                             "tokens": None}  # fmt: skip
        assert (http["outcome"], http["reason"][: len(WHY)]) == ("rejected", WHY)

        with Client(d.socket) as c:
            rid = c.call("replay.list", limit=1)["replays"][0]["replay_id"]
            state = wait_replay(c, rid)
        assert state["repairs"][0]["sources"] == entry["sources"]

        # A made-up step id is ours once renumbered: the patch is proposed, not rejected.
        with Client(d.socket) as c:
            doc = c.call("playbooks.get", id=pb)["document"]
        create = {
            **doc["steps"][0],
            "id": "s2-fix",
            "note": "create the missing config",
            "expect": {"exit_code": 0},
            "run": "mkdir -p config && printf '[app]\\nname = demo\\n' > config/settings.ini",
        }
        stub.reply(
            invalid,
            Reply(200, json={"patch": [{"op": "add", "path": "/steps/1", "value": create}],
                             "rationale": "create the config first", "action": "stop"}),
        )  # fmt: skip
        async with session(xdg, d.socket, tmp_path / "mcp.log") as s:
            rep = await call(s, "replay_playbook", id=pb, workdir=str(fresh), mode="guided")
            (mcp_entry,) = rep["repairs"]
            assert mcp_entry["sources"][1]["outcome"] == "rejected"
            assert mcp_entry["sources"][1]["reason"].startswith(WHY)
            again = await call(s, "replay_status", replay_id=rep["replay_id"])
            assert again["repairs"] == rep["repairs"]
            fixed = await call(s, "replay_playbook", id=pb, workdir=str(fresh), mode="guided")
        (proposed,) = fixed["repairs"]
        assert proposed["action"] == "stop" and proposed["repair_id"]
        assert [(o["source"], o["outcome"]) for o in proposed["sources"]] == [
            ("heuristic", "no_answer"),
            ("http", "proposed"),
        ]
        with Client(d.socket) as c:
            stored = wait_shadow(c, proposed["repair_id"])  # its shadow run ends after the replay
        assert stored["status"] == "pending_review", stored["shadow"]
        assert stored["patch"][0]["value"]["id"] == "s3"
