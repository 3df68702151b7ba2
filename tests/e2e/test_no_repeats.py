"""Issue 21, items 2 and 3: nothing is proposed twice, and one playbook per run. A patch already
pending or decided for the same version and failing step comes back as that repair, naming the
decision; compiling a run again returns its playbook (`--new` makes a version); a name that
matches several playbooks is an error listing them, in the CLI, the API and MCP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from aionisd import errors
from aionisd.client import ApiError, Client
from tests.conftest import Xdg, aionis
from tests.support.e2e import compiled, native_trace, wait_replay
from tests.support.mcp_session import session
from tests.support.trace_writer import TraceWriter


def guided(sock: Path, pb: str, workdir: Path) -> dict[str, Any]:
    workdir.mkdir()
    with Client(sock) as c:
        rid = c.call("replay.start", id=pb, mode="guided", workdir=str(workdir))["replay_id"]
        return wait_replay(c, rid)


def test_a_patch_pending_or_rejected_is_not_proposed_again(
    xdg: Xdg, start_daemon: Any, tmp_path: Path
) -> None:
    rec = tmp_path / "recorded"
    (rec / "logs").mkdir(parents=True)
    w = TraceWriter(tmp_path / "t.jsonl", "rep-1", agent="t", goal="make the log folder", cwd=rec)
    assert w.bash("mkdir logs/2024") == 0
    w.end()
    xdg.write_config(
        "[replay]\nallow_local_exec = true\n[repair]\nsources = ['heuristic']\n"
        "[governance]\nauto_shadow_validate = false\n"
    )
    d = start_daemon()
    pb = compiled(d.socket, tmp_path / "t.jsonl")["id"]

    first = guided(d.socket, pb, tmp_path / "w1")["repairs"][0]
    rid = first["record"]["repair_id"]
    assert [o["outcome"] for o in first["sources"]] == ["proposed"]

    second = guided(d.socket, pb, tmp_path / "w2")["repairs"][0]
    assert second["record"]["repair_id"] == rid
    assert second["sources"][-1]["outcome"] == "repeated"
    assert second["sources"][-1]["reason"] == f"already pending as {rid}"

    r = aionis(xdg, "review", rid, "--reject", "--note", "use a dated folder instead", "--json")
    assert r.returncode == 0, r.stderr
    third = guided(d.socket, pb, tmp_path / "w3")
    entry = third["repairs"][0]
    assert entry["action"] == "stop" and entry["record"]["repair_id"] == rid
    assert entry["sources"][-1]["reason"] == f"rejected before: use a dated folder instead ({rid})"
    assert third["status"] == "failed" and not (tmp_path / "w3" / "logs").exists()  # not run

    with Client(d.socket) as c:
        assert [x["id"] for x in c.call("repairs.list")["repairs"]] == [rid]
    shown = aionis(xdg, "replay", pb, "--mode", "guided", "--workdir", str(tmp_path / "w4"))
    assert f"heuristic: repeated: rejected before: use a dated folder instead ({rid})" in shown.stdout


def test_compiling_a_run_again_returns_its_playbook_and_new_makes_a_version(
    xdg: Xdg, daemon: Any, tmp_path: Path
) -> None:
    trace = native_trace(tmp_path / "t.jsonl", ["touch a", "touch b"], run_id="once-1", cwd=str(tmp_path))
    pb = compiled(daemon.socket, trace)
    assert pb["new"] is True and pb["version"] == 1
    again = json.loads(aionis(xdg, "compile", "t:once-1", "--json").stdout)
    assert (again["id"], again["version"], again["new"]) == (pb["id"], 1, False)
    text = aionis(xdg, "compile", "t:once-1")
    assert text.returncode == 0 and "compiled before" in text.stdout
    forced = json.loads(aionis(xdg, "compile", "t:once-1", "--new", "--json").stdout)
    assert (forced["id"], forced["version"], forced["new"]) == (pb["id"], 2, True)
    with Client(daemon.socket) as c:
        assert len(c.call("playbooks.list")["playbooks"]) == 1
        versions = c.call("playbooks.get", id=pb["id"])["versions"]
        again_api = c.call("playbooks.compile", run_id="t:once-1")
    assert [(v["version"], v["run_id"]) for v in versions] == [(1, "t:once-1"), (2, "t:once-1")]
    assert (again_api["version"], again_api["new"]) == (2, False)


def test_a_name_matching_several_playbooks_is_an_error_listing_them(
    xdg: Xdg, daemon: Any, tmp_path: Path
) -> None:
    ids = []
    for n in range(2):
        trace = native_trace(tmp_path / f"t{n}.jsonl", [f"touch f{n}"], run_id=f"twin-{n}", cwd=str(tmp_path))
        ids.append(compiled(daemon.socket, trace, name="twin")["id"])
    assert ids[0] != ids[1]

    r = aionis(xdg, "replay", "twin", "--mode", "simulate", "--workdir", str(tmp_path))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert all(f"{i} (twin v1)" in r.stderr for i in ids), r.stderr

    with Client(daemon.socket) as c, pytest.raises(ApiError) as e:
        c.call("playbooks.get", id="twin")
    assert e.value.code == errors.CONFLICT
    assert e.value.data["matches"] == [{"id": i, "name": "twin", "version": 1} for i in ids]
    with Client(daemon.socket) as c:
        assert c.call("playbooks.get", id=ids[0])["id"] == ids[0]  # exact id
        common = next(k for k, (a, b) in enumerate(zip(*ids, strict=False)) if a != b)
        assert c.call("playbooks.get", id=ids[1][: common + 1])["id"] == ids[1]  # unique prefix
        with pytest.raises(ApiError) as e:
            c.call("playbooks.get", id="pb-")  # a prefix of both
        assert e.value.code == errors.CONFLICT

    async def agent() -> str:
        async with session(xdg, daemon.socket, tmp_path / "mcp.log") as s:
            res = await s.call_tool("get_playbook", {"id": "twin"})
            assert res.is_error
            return " ".join(getattr(x, "text", "") for x in res.content)

    said = anyio.run(agent)
    assert all(f"{i} (twin v1)" in said for i in ids), said
