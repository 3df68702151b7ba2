"""Issue 21 items 4 and 5 with the real daemon and CLI: a guided replay tells its story in order
(the repair's steps marked as its, the repair id and how to review it), the reviewer sees the
state in words, the note, the patch with its neighbours and the shadow's per-step result, and
every decision is audited under the person who made it, not the daemon."""

from __future__ import annotations

import json
import os
import pwd
import re
from pathlib import Path
from typing import Any

import pytest

from aionisd.client import Client
from aionisd.mcp import replay_view
from tests.conftest import Xdg, aionis
from tests.e2e.test_governance_e2e import wait_shadow
from tests.support.e2e import compiled, start_with_http_repairs, wait_replay
from tests.support.httpstub import HttpStub, Reply
from tests.support.trace_writer import TraceWriter

pytestmark = pytest.mark.slow

ME = f"{pwd.getpwuid(os.getuid()).pw_name} (uid {os.getuid()})"


def test_guided_story_review_words_note_and_actor(xdg: Xdg, start_daemon: Any, tmp_path: Path) -> None:
    rec = tmp_path / "recorded"
    rec.mkdir()
    w = TraceWriter(tmp_path / "t.jsonl", "story-1", agent="t", goal="make the logs", cwd=rec)
    assert w.bash("mkdir -p logs") == 0
    assert w.bash("mkdir logs/2024") == 0
    assert w.bash("touch logs/2024/app.log") == 0
    w.end()

    with HttpStub() as stub:
        d = start_with_http_repairs(xdg, start_daemon, stub.url)
        pb = compiled(d.socket, tmp_path / "t.jsonl", name="make logs")
        with Client(d.socket) as c:
            doc = c.call("playbooks.get", id=pb["id"])["document"]
        ids = [s["id"] for s in doc["steps"]]
        assert len(ids) == 3
        # The replay's folder already holds logs/2024, so the plain mkdir fails; the repair
        # makes it `mkdir -p` and the replay goes on with the patched step.
        fixed = {**doc["steps"][1], "run": "mkdir -p logs/2024"}
        stub.reply(
            Reply(
                200,
                json={
                    "patch": [{"op": "replace", "path": "/steps/1", "value": fixed}],
                    "rationale": "the folder may exist already",
                    "action": "retry",
                },
            )
        )
        target = tmp_path / "target"
        (target / "logs" / "2024").mkdir(parents=True)
        r = aionis(xdg, "replay", pb["id"], "--mode", "guided", "--workdir", str(target))
        out = r.stdout
        with Client(d.socket) as c:
            rid = json.loads(aionis(xdg, "replays", "--json").stdout)["replays"][0]["replay_id"]
            state = wait_replay(c, rid)
        assert state["repairs"] and state["repairs"][0]["record"], (out, r.stderr, state["repairs"])
        repair_id = state["repairs"][0]["record"]["repair_id"]

        # (5) the story in the order the steps ran, the repair's step right after the one it replaced
        order = [ln.strip() for ln in out.splitlines() if re.match(r"\s+(\d+\.|\+) ", ln)]
        assert [i for ln in order for i in ids if f" {i} " in ln] == [ids[0], ids[1], ids[1], ids[2]], out
        assert "failed" in order[1] and order[2].startswith("+") and f"[repair {repair_id}]" in order[2]
        assert "[repair" not in order[3]
        assert f"aionis review {repair_id}" in out
        view = replay_view(state)
        assert [(s["id"], s["repair_id"]) for s in view["story"]] == [
            (ids[0], None), (ids[1], None), (ids[1], repair_id), (ids[2], None)
        ]  # fmt: skip
        assert f"aionis review {repair_id}" in view["repairs"][0]["review"]

        # (4) what the reviewer sees
        with Client(d.socket) as c:
            rep = wait_shadow(c, repair_id)
        assert rep["state"] == ("pending" if rep["shadow"]["status"] == "passed" else "shadow failed")
        assert [row["change"] for row in rep["review_diff"]] == ["same", "changed", "same"]
        for row in rep["review_diff"]:
            for side in (row["before"], row["after"]):
                assert side is None or set(side) <= {"run", "path", "content", "expect"}
        listed = aionis(xdg, "repairs").stdout
        assert rep["state"] in listed and "pending_review" not in listed
        shown = aionis(xdg, "repair", "show", repair_id).stdout
        assert "-     run: mkdir logs/2024" in shown and "+     run: mkdir -p logs/2024" in shown
        assert "run: mkdir -p logs" in shown and "run: touch logs/2024/app.log" in shown  # neighbours
        for n, s in enumerate(rep["shadow"].get("steps") or [], 1):
            assert f"step {n} ({s['id']}) {s['status']}" in shown

        r = aionis(xdg, "review", repair_id, "--approve", "--note", "mkdir -p is idempotent")
        assert r.returncode == 0, r.stderr
        assert "approved: v2 saved as shadow, not active yet" in r.stdout
        assert f"aionis promote {pb['id']} --version 2 --status active" in r.stdout
        with Client(d.socket) as c:
            got = c.call("repairs.get", id=repair_id)
        assert (got["state"], got["note"]) == ("approved", "mkdir -p is idempotent")
        assert "mkdir -p is idempotent" in aionis(xdg, "repairs").stdout
        assert "mkdir -p is idempotent" in aionis(xdg, "repair", "show", repair_id).stdout

        assert aionis(xdg, "promote", pb["id"], "--version", "2", "--status", "active").returncode == 0
        with Client(d.socket) as c:
            assert c.call("repairs.get", id=repair_id)["state"] == "promoted"
            entries = c.call("audit.list", limit=500)["entries"]
        actors = {e["action"]: e["actor"] for e in entries}
        assert actors["review.decided"] == ME
        assert actors["playbook.status_changed"] == ME
