"""One strict or guided replay per workdir at a time (issue 20, item 5): two at once interleaved
their writes and both said `succeeded`. The second is refused, naming the replay that holds the
workdir; simulate runs nothing and needs no lock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aionisd import errors
from aionisd.client import ApiError, Client
from tests.conftest import ROOT, Daemon, Xdg, aionis
from tests.support.e2e import compiled, synthetic_trace, wait_replay
from tests.support.processes import alive, marks, reaped

pytestmark = pytest.mark.slow


@pytest.fixture
def exec_daemon(xdg: Xdg, start_daemon: Any) -> Daemon:
    xdg.write_config("[replay]\nallow_local_exec = true\n")
    d: Daemon = start_daemon()
    return d


def start(c: Client, pb: str, workdir: Path | str, mode: str = "strict") -> str:
    return str(c.call("replay.start", id=pb, mode=mode, workdir=str(workdir))["replay_id"])


def refusal(c: Client, pb: str, workdir: Path | str, mode: str = "strict") -> ApiError:
    with pytest.raises(ApiError) as e:
        start(c, pb, workdir, mode)
    return e.value


def wait_started(c: Client, rid: str) -> None:
    """Block on events until the replay's first step has started."""
    started: list[Any] = []
    c.on_notify = lambda method, params: started.append(params)
    c.call("events.subscribe", kinds=["replay.step.started"], since_seq=0)
    while not any(e["data"].get("replay_id") == rid for e in started):
        c.read()


def test_second_replay_into_a_busy_workdir_is_refused_naming_the_holder(
    exec_daemon: Daemon, xdg: Xdg, tmp_path: Path
) -> None:
    wd, other = tmp_path / "w", tmp_path / "other"
    link = tmp_path / "link"
    wd.mkdir()
    link.symlink_to(wd)
    with reaped(marks(1)) as m:
        trace = synthetic_trace(
            tmp_path / "t.jsonl", tmp_path / "rec", [f"echo 1 >> log; sleep {m[0]}"], goal="slow"
        )
        pb = compiled(exec_daemon.socket, trace, name="slow writer")["id"]
        with Client(exec_daemon.socket) as c:
            first = start(c, pb, wd)
            wait_started(c, first)
            # Another spelling of the same directory, strict or guided: refused, holder named.
            for mode in ("strict", "guided"):
                e = refusal(c, pb, link, mode)
                assert e.code == errors.WORKDIR_BUSY
                assert first in e.message and "slow writer v1" in e.message
                assert e.data["replay_id"] == first and e.data["workdir"] == os.path.realpath(wd)
            r = aionis(xdg, "replay", pb, "--mode", "strict", "--workdir", str(wd))
            assert r.returncode != 0 and r.stderr.count("\n") == 1, r.stderr
            assert f"is in use by replay {first}" in r.stderr and f"aionis cancel {first}" in r.stderr
            # Simulate runs nothing; another workdir is free.
            assert c.call("replay.start", id=pb, mode="simulate", workdir=str(wd))["status"] == "succeeded"
            elsewhere = start(c, pb, other)
            refused = [x for x in c.call("replay.list")["replays"] if x["status"] == "refused"]
            assert len(refused) == 3 and all(first in x["reason"] for x in refused)
            # Once the holder ends (its processes gone too), the workdir is free again.
            for rid in (first, elsewhere):
                c.call("replay.cancel", replay_id=rid)
                assert wait_replay(c, rid)["status"] == "cancelled"
            assert alive(m) == {}
            second = start(c, pb, link)
            wait_started(c, second)
            c.call("replay.cancel", replay_id=second)
            wait_replay(c, second)
    assert (wd / "log").read_text() == "1\n1\n", "the two replays ran one after the other"


@pytest.fixture
def slow_pb(exec_daemon: Daemon, tmp_path: Path) -> Iterator[str]:
    with reaped(marks(1)) as m:
        trace = synthetic_trace(tmp_path / "t.jsonl", tmp_path / "rec", [f"sleep {m[0]}; touch x"])
        yield compiled(exec_daemon.socket, trace)["id"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    via_link=st.booleans(),
    parts=st.lists(st.sampled_from([".", "sub/..", "", "sub/../."]), max_size=4),
    slash=st.booleans(),
)
def test_every_spelling_of_a_busy_workdir_is_refused(
    exec_daemon: Daemon, slow_pb: str, tmp_path: Path, via_link: bool, parts: list[str], slash: bool
) -> None:
    """The lock compares real paths: `.`, `..`, doubled slashes and symlinks change nothing."""
    wd = tmp_path / "w"
    if not wd.exists():
        (wd / "sub").mkdir(parents=True)
        (tmp_path / "link").symlink_to(wd)
    spelled = "/".join([str(tmp_path / "link" if via_link else wd), *parts]) + ("/" if slash else "")
    with Client(exec_daemon.socket) as c:
        holder = start(c, slow_pb, wd)  # holds the workdir from its answer on
        try:
            assert refusal(c, slow_pb, spelled).code == errors.WORKDIR_BUSY, spelled
        finally:
            c.call("replay.cancel", replay_id=holder)
            wait_replay(c, holder)


def test_workdir_busy_is_documented() -> None:
    """share/openrpc.json is checked against the code by test_openrpc; docs/api.md here."""
    assert f"{errors.WORKDIR_BUSY} workdir busy" in (ROOT / "docs" / "api.md").read_text()
