"""The TUI driven by Textual's Pilot against the real aionisd: what a developer sees and does."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aionis_tui.app import AionisApp
from aionis_tui.backend import NotAvailable
from aionis_tui.examples import example_session
from tests.conftest import Daemon, Xdg
from tests.support.e2e import echo_trace
from tests.support.tui_conftest import SIZE, module_xdg, rpc, run, screen_text, shared_daemon, trace, until

__all__ = ["module_xdg", "shared_daemon"]

pytestmark = pytest.mark.slow


def compiled(daemon: Daemon, tmp_path: Path, run_id: str, commands: list[str], **kw: Any) -> str:
    path = trace(tmp_path / f"{run_id}.jsonl", run_id, commands, **kw)
    runs = rpc(daemon, "ingest", paths=[str(path)])["runs"]
    return str(rpc(daemon, "playbooks.compile", run_id=runs[0]["id"])["id"])


def watch(app: AionisApp, seen: list[int]) -> None:
    """Note every seq the app receives, then let it through unchanged."""
    sink = app.backend.on_event

    def on_event(ev: dict[str, Any]) -> None:
        seen.append(ev["seq"])
        sink(ev)

    app.backend.on_event = on_event


def text_of(pilot: Any) -> str:
    return screen_text(pilot)


def test_dashboard_shows_the_daemon_and_follows_counts(shared_daemon: Daemon, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = AionisApp(socket=shared_daemon.socket)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            assert shared_daemon.proc is not None
            pid = str(shared_daemon.proc.pid)
            await until(pilot, lambda: re.search(rf"pid\s+{pid}\b", text_of(pilot)), "the pid")
            shown = text_of(pilot)
            assert "● live" in shown and "aionis.db" in shown
            assert "local exec  off" in shown
            runs = rpc(shared_daemon, "status")["counts"]["runs"]
            rpc(shared_daemon, "ingest", paths=[str(trace(tmp_path / "d.jsonl", "dash", ["mkdir x"]))])
            await until(pilot, lambda: re.search(rf"runs\s+{runs + 1}\b", text_of(pilot)),
                        "the run count to follow the ingest")  # fmt: skip
            assert "d.jsonl" in text_of(pilot)

    run(scenario())


def test_runs_arrive_live_with_steps_output_and_compile(shared_daemon: Daemon, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = AionisApp(socket=shared_daemon.socket, start_mode="runs")
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await until(pilot, lambda: app.conn.connected, "the connection")
            # The first load ends before the new run arrives, so the cursor's following is what is
            # tested, not which of the fetch and the event lands first.
            await until(
                pilot, lambda: re.search(r"newest last|no runs recorded yet", text_of(pilot)), "the list"
            )
            commands = ["mkdir -p out", "echo built > out/a.txt", "touch out/b.txt"]
            path = trace(tmp_path / "live.jsonl", "live-1", commands)
            rpc(shared_daemon, "ingest", paths=[str(path)])
            await until(pilot, lambda: "claude:live-1" in text_of(pilot), "the new run")
            await until(pilot, lambda: "echo built > out/a.txt" in text_of(pilot), "its steps")
            shown = text_of(pilot)
            assert "3 steps" in shown and "✓" in shown and "1.5s" in shown
            await until(pilot, lambda: "ok 2" in text_of(pilot), "the last step's output")
            await pilot.press("tab", "up")
            await until(pilot, lambda: "ok 1" in text_of(pilot), "the output of the step above")
            await pilot.press("c")
            await until(pilot, lambda: "compiled" in text_of(pilot), "the compile notification")
            books = rpc(shared_daemon, "playbooks.list")["playbooks"]
            assert any(b["run_id"] == "claude:live-1" for b in books)

    run(scenario())


def test_playbooks_search_detail_and_verify(shared_daemon: Daemon, tmp_path: Path) -> None:
    compiled(shared_daemon, tmp_path, "pbs-1", ["mkdir -p zebra", "touch zebra/stripes"],
             goal="paint the zebra")  # fmt: skip

    async def scenario() -> None:
        app = AionisApp(socket=shared_daemon.socket, start_mode="playbooks")
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await until(pilot, lambda: "paint the zebra" in text_of(pilot), "the playbook list")
            assert "✓ trusted" in text_of(pilot)
            await pilot.press("slash", *"zebra", "enter")
            await until(pilot, lambda: "found" in text_of(pilot), "search results")
            assert "paint the zebra" in text_of(pilot)
            await pilot.press("enter")
            await until(pilot, lambda: "Versions and lineage" in text_of(pilot), "the detail")
            await until(pilot, lambda: "touch zebra/stripes" in text_of(pilot), "its steps")
            shown = text_of(pilot)
            assert "Preconditions" in shown and "command_available" in shown
            assert "← run claude:pbs-1" in shown and "✓ valid, signed by" in shown
            await pilot.press("v")
            await until(pilot, lambda: "signature valid" in text_of(pilot), "verify result")
            await pilot.press("escape")
            await until(pilot, lambda: "Versions and lineage" not in text_of(pilot), "the list")
            assert app.screen.query_one("#pb-table") is not None

    run(scenario())


async def choose_mode(pilot: Any, mode: str) -> None:
    from textual.widgets import Select

    select = pilot.app.screen.query_one("#replay-mode", Select)
    for _ in range(3):
        if select.value == mode:
            break
        select.focus()
        await pilot.press("enter", "down", "enter")
    assert select.value == mode


def test_replay_simulates_and_refuses_strict_without_local_exec(
    shared_daemon: Daemon, tmp_path: Path
) -> None:
    pid = compiled(shared_daemon, tmp_path, "sim-1", ["mkdir -p giraffe", "touch giraffe/neck"],
                   goal="stretch the giraffe")  # fmt: skip

    async def scenario() -> None:
        app = AionisApp(socket=shared_daemon.socket, start_mode="playbooks")
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await pilot.press("slash", *"giraffe", "enter")
            await until(pilot, lambda: "found" in text_of(pilot), "search results")
            await pilot.press("p")
            await until(pilot, lambda: "stretch the giraffe" in text_of(pilot), "the replay form")
            assert "local exec: OFF" in text_of(pilot)
            await pilot.press("ctrl+s")
            await until(pilot, lambda: "Start replay?" in text_of(pilot), "the confirmation")
            await pilot.press("y")
            await until(pilot, lambda: "✓ succeeded" in text_of(pilot), "the simulation result")
            shown = text_of(pilot)
            assert "would run" in shown and "touch giraffe/neck" in shown
            assert "simulation: nothing was run" in shown
            await choose_mode(pilot, "strict")
            await pilot.press("ctrl+s")
            await until(pilot, lambda: "strict replay refused" in text_of(pilot), "the refusal")
            assert "allow_local_exec = true" in text_of(pilot)
            assert "Start replay?" not in text_of(pilot)
            other = rpc(shared_daemon, "replay.start", id=pid, mode="simulate", workdir=str(tmp_path))
            await until(pilot, lambda: other["replay_id"] in text_of(pilot),
                        "a replay started elsewhere to be followed")  # fmt: skip

    run(scenario())


def test_strict_replay_streams_output_cancels_and_shows_divergence(
    xdg: Xdg, start_daemon: Any, tmp_path: Path
) -> None:
    xdg.write_config("[replay]\nallow_local_exec = true\n")
    daemon = start_daemon()
    compiled(daemon, tmp_path, "slow", ["mkdir -p out && echo started-here",
             "sleep 30 && touch out/done"], goal="lion")  # fmt: skip
    compiled(daemon, tmp_path, "bad", ["mkdir -p out && exit 3"], goal="tiger")

    async def start(pilot: Any, word: str) -> None:
        await pilot.press("3")
        await pilot.press("slash", "ctrl+a", "ctrl+k", *word, "enter")
        screen = pilot.app.screen
        await until(pilot, lambda: [p["name"] for p in screen.playbooks] == [f"{word}"],
                    f"only {word} in the list")  # fmt: skip
        await pilot.press("p")
        await until(pilot, lambda: re.search(rf"playbook\s+{word}\b", text_of(pilot)),
                    "the replay form")  # fmt: skip
        await choose_mode(pilot, "strict")
        assert "local exec: allowed" in text_of(pilot)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "Start replay?" in text_of(pilot), "the confirmation")
        await pilot.press("y")

    async def scenario() -> None:
        app = AionisApp(socket=daemon.socket)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await until(pilot, lambda: app.conn.connected, "the connection")
            await start(pilot, "lion")
            await until(pilot, lambda: "started-here" in text_of(pilot), "streamed output")
            await until(pilot, lambda: "◐" in text_of(pilot) and "50%" in text_of(pilot),
                        "step 2 running at half way")  # fmt: skip
            await pilot.press("x")
            await until(pilot, lambda: "cancelled" in text_of(pilot), "the cancellation")
            await start(pilot, "tiger")
            await until(pilot, lambda: "✗ failed" in text_of(pilot), "the failure")
            await until(pilot, lambda: "divergence" in text_of(pilot), "the divergence panel")
            assert "exit code 3" in text_of(pilot)

    run(scenario())


def test_review_queue_approve_promote_and_reject_with_a_note(shared_daemon: Daemon, tmp_path: Path) -> None:
    pid = compiled(shared_daemon, tmp_path, "rev-1", ["mkdir -p cage && exit 0"], goal="feed owl")

    def propose(value: str, why: str) -> str:
        patch = [{"op": "replace", "path": "/steps/0/run", "value": value}]
        r = rpc(shared_daemon, "repairs.propose", playbook_id=pid, patch=patch, rationale=why)
        return str(r["id"])

    first = propose("mkdir -p cage", "the exit is noise")

    async def scenario() -> None:
        app = AionisApp(socket=shared_daemon.socket, start_mode="review")
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await until(pilot, lambda: "the exit is noise" in text_of(pilot), "the repair")
            # This module's daemon keeps allow_local_exec off, so the screen says why no shadow ran.
            await until(pilot, lambda: "allow_local_exec = false" in text_of(pilot), "its shadow state")
            shown = text_of(pilot)
            assert "-     run: mkdir -p cage && exit 0" in shown
            assert "+     run: mkdir -p cage" in shown
            assert "? pending" in shown and "✓ approved" not in shown
            second = propose("mkdir -p cage/bigger", "a bigger cage")
            await until(pilot, lambda: "2 pending" in text_of(pilot), "the live update")
            table = app.screen.query_one("#repairs-table")
            ids = [str(r["id"]) for r in app.screen.repairs]  # type: ignore[attr-defined]
            table.focus()
            await pilot.press(*(["down"] * ids.index(first)))
            await pilot.press("a")
            await until(pilot, lambda: "Approve repair" in text_of(pilot), "the note modal")
            await pilot.press(*"looks right", "enter")
            await until(pilot, lambda: "Make v2" in text_of(pilot), "the promote question")
            await pilot.press("y")
            await until(pilot, lambda: rpc(shared_daemon, "playbooks.get", id=pid)["status"]
                        == "active", "v2 to be active")  # fmt: skip
            await until(pilot, lambda: "1 pending" in text_of(pilot), "the queue to shrink")
            await pilot.press("r")
            await until(pilot, lambda: "Reject repair" in text_of(pilot), "the reject modal")
            await pilot.press("enter")
            await until(pilot, lambda: "a note is required" in text_of(pilot), "a refusal")
            await pilot.press(*"too big", "enter")
            await until(pilot, lambda: "0 pending" in text_of(pilot), "an empty queue")
            await pilot.press("t")
            await until(pilot, lambda: "2 repairs" in text_of(pilot), "all repairs")
            shown = text_of(pilot)
            assert "● promoted" in shown and "⊘ rejected" in shown
            assert "v2 is now active" in "".join(str(n.message) for n in app._notifications)
            assert "note   too big" in shown  # the newest, the rejected one, is selected
            entries = rpc(shared_daemon, "audit.list", action="playbook.status_changed")["entries"]
            assert entries[0]["subject"] == f"{pid}@2" and entries[0]["actor"] != "aionisd"
            repairs = {r["id"]: r for r in rpc(shared_daemon, "repairs.list")["repairs"]}
            assert repairs[first]["status"] == "approved"
            assert repairs[second]["status"] == "rejected"

    run(scenario())


def test_audit_chain_verified_and_filtered(shared_daemon: Daemon, tmp_path: Path) -> None:
    compiled(shared_daemon, tmp_path, "aud-1", ["mkdir -p nest"], goal="audit the nest")

    async def scenario() -> None:
        app = AionisApp(socket=shared_daemon.socket, start_mode="audit")
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await until(pilot, lambda: "✓ chain intact" in text_of(pilot), "the verification")
            assert "playbook.compiled" in text_of(pilot)
            await pilot.press("slash", *"key.", "enter")
            await until(pilot, lambda: "matching 'key.'" in text_of(pilot), "the filter")
            table = text_of(pilot).split("audit log")[1].split("entry")[0]
            assert "key.created" in table and "playbook.compiled" not in table

    run(scenario())


def test_daemon_restart_banner_reconnect_and_no_missed_event(
    xdg: Xdg, start_daemon: Any, tmp_path: Path
) -> None:
    daemon = start_daemon()
    seen: list[int] = []

    async def scenario() -> None:
        app = AionisApp(socket=daemon.socket, start_mode="runs")
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await until(pilot, lambda: app.conn.connected, "the connection")
            watch(app, seen)
            rpc(daemon, "ingest", paths=[str(trace(tmp_path / "a.jsonl", "before", ["mkdir a"]))])
            await until(pilot, lambda: "claude:before" in text_of(pilot), "the first run")
            daemon.stop()
            await until(pilot, lambda: "⚠ aionisd" in text_of(pilot), "the offline banner")
            assert "reconnecting" in text_of(pilot)
            assert "○ offline" in text_of(pilot)
            again = start_daemon()
            rpc(again, "ingest", paths=[str(trace(tmp_path / "b.jsonl", "after", ["mkdir b"]))])
            await until(pilot, lambda: "claude:after" in text_of(pilot), "the run made meanwhile")
            await until(pilot, lambda: "⚠" not in text_of(pilot), "the banner to go")
            # The toast is drawn on a later refresh than the banner: wait for it, do not race it.
            await until(pilot, lambda: "aionisd is back" in text_of(pilot), "the reconnect notice")
            last = rpc(again, "status")["last_seq"]
            await until(pilot, lambda: app.backend.last_seq == last, "every event")

    run(scenario())
    assert seen == list(range(seen[0], seen[-1] + 1)), "an event was missed or repeated"


def test_flood_overflow_resubscribes_and_loses_nothing(shared_daemon: Daemon, tmp_path: Path) -> None:
    seen: list[int] = []

    async def scenario() -> None:
        app = AionisApp(socket=shared_daemon.socket, start_mode="runs")
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await until(pilot, lambda: app.conn.connected, "the connection")
            watch(app, seen)
            big = echo_trace(tmp_path / "big.jsonl", 1500, run_id="flood")
            rpc(shared_daemon, "ingest", paths=[str(big)])
            last = rpc(shared_daemon, "status")["last_seq"]
            await until(pilot, lambda: app.backend.last_seq == last, "every event", timeout=30)
            steps = app.screen.query_one("#steps-table")
            await until(pilot, lambda: steps.border_subtitle == "1500 steps", "the flood's steps")
            assert app.errors == []
            assert app.backend.resubscribes >= 1, "1,500 steps at once must overflow the queue"
            assert app.frames.flushes < app.frames.events, "events are applied in batches"

    run(scenario())
    assert seen == list(range(seen[0], seen[-1] + 1))


def test_unknown_method_is_not_available_yet(shared_daemon: Daemon) -> None:
    async def scenario() -> None:
        app = AionisApp(socket=shared_daemon.socket)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await until(pilot, lambda: app.conn.connected, "the connection")
            with pytest.raises(NotAvailable, match="not available yet"):
                await app.backend.call("stats.nothing")

    run(scenario())


def test_first_minute_points_at_watched_dirs_and_imports_the_example(xdg: Xdg, start_daemon: Any) -> None:
    daemon = start_daemon(watch=True)

    async def scenario() -> None:
        app = AionisApp(socket=daemon.socket)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await until(pilot, lambda: "No agent session recorded yet" in text_of(pilot), "welcome")
            assert ".claude/projects" in text_of(pilot)
            await pilot.press("2", "up", "down", "tab", "up", "1")
            await until(pilot, lambda: app.current_mode == "dashboard", "the way back")
            assert app.errors == [] and app.is_running, "an empty table must not break the app"
            if example_session() is None:
                pytest.skip("share/examples/setup-python-project.jsonl is not there yet")
            await pilot.press("i")
            await until(pilot, lambda: "✓ run" in text_of(pilot), "the import")
            await pilot.press("c")
            await until(pilot, lambda: "✓ playbook" in text_of(pilot), "the compile")
            await pilot.press("s")
            await until(pilot, lambda: app.current_mode == "replay", "the replay screen")
            await until(pilot, lambda: "simulate" in text_of(pilot) and "✓ succeeded" in
                        text_of(pilot), "the simulation")  # fmt: skip

    run(scenario())


def test_command_palette_switches_screens(shared_daemon: Daemon) -> None:
    async def scenario() -> None:
        app = AionisApp(socket=shared_daemon.socket)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await until(pilot, lambda: app.conn.connected, "the connection")
            await pilot.press("ctrl+p")
            await until(pilot, lambda: "Search for commands" in text_of(pilot), "the palette")
            await pilot.press(*"go to audit")
            await until(pilot, lambda: "Go to Audit" in text_of(pilot), "the command")
            await pilot.press("enter")
            await until(pilot, lambda: app.current_mode == "audit", "the audit screen")
            await until(pilot, lambda: "chain intact" in text_of(pilot), "its content")

    run(scenario())


def test_tui_is_a_client_of_the_socket_only() -> None:
    """aionis_tui never reaches the store; aionisd never needs Textual."""
    probe = (
        "import sys, aionis_tui.app, aionis_tui.screens.runs\n"
        "bad = [m for m in sys.modules if m.startswith(('apsw', 'aionisd.store', 'trio'))]\n"
        "assert not bad, bad\n"
        "for m in [m for m in sys.modules if m.startswith(('aionis_tui', 'textual'))]:\n"
        "    del sys.modules[m]\n"
        "import aionisd.cli, aionisd.daemon, aionisd.service\n"
        "bad = [m for m in sys.modules if m.startswith(('aionis_tui', 'textual'))]\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
