"""Issue 21 (5) in the TUI against the real daemon: a guided replay's repair step is shown right
after the step it replaced, marked with its repair, and `o` opens that repair for review."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aionis_tui.app import AionisApp
from aionis_tui.screens.review import ReviewScreen
from aionisd.client import Client
from tests.conftest import Xdg
from tests.support.e2e import compiled, start_with_http_repairs
from tests.support.httpstub import HttpStub, Reply
from tests.support.trace_writer import TraceWriter
from tests.support.tui_conftest import SIZE, run, screen_text, until

pytestmark = pytest.mark.slow


def test_guided_replay_story_in_order_and_o_opens_the_repair(
    xdg: Xdg, start_daemon: Any, tmp_path: Path
) -> None:
    rec = tmp_path / "recorded"
    rec.mkdir()
    w = TraceWriter(tmp_path / "t.jsonl", "tui-story", agent="t", goal="make the logs", cwd=rec)
    for cmd in ("mkdir -p logs", "mkdir logs/2024", "touch logs/2024/app.log"):
        assert w.bash(cmd) == 0
    w.end()
    with HttpStub() as stub:
        d = start_with_http_repairs(xdg, start_daemon, stub.url)
        pb = compiled(d.socket, tmp_path / "t.jsonl", name="make logs")
        with Client(d.socket) as c:
            doc = c.call("playbooks.get", id=pb["id"])["document"]
        fixed = {**doc["steps"][1], "run": "mkdir -p logs/2024"}
        patch = [{"op": "replace", "path": "/steps/1", "value": fixed}]
        stub.reply(Reply(200, json={"patch": patch, "rationale": "it may exist", "action": "retry"}))
        target = tmp_path / "target"
        (target / "logs" / "2024").mkdir(parents=True)

        async def scenario() -> None:
            app = AionisApp(socket=d.socket, start_mode="replay")
            async with app.run_test(size=SIZE, notifications=True) as pilot:
                await until(pilot, lambda: app.conn.connected, "the connection")
                with Client(d.socket) as c:
                    c.call("replay.start", id=pb["id"], mode="guided", workdir=str(target))
                await until(pilot, lambda: "press o to review" in screen_text(pilot), "the repair")
                screen: Any = app.screen
                repair_id = screen.repair_ids[-1]
                table = screen.query_one("#replay-steps")
                order = [str(r.key.value) for r in table.ordered_rows]
                assert order == ["step:0", "step:1", "repair:1:s2", "step:2"], order
                assert f"repair {repair_id}" in screen_text(pilot)
                table.focus()
                await pilot.press("o")
                await until(pilot, lambda: isinstance(app.screen, ReviewScreen), "the review screen")
                review: Any = app.screen
                await until(pilot, lambda: review.selected_id() == repair_id, "the repair selected")
                await until(pilot, lambda: "it may exist" in screen_text(pilot), "its detail")

        run(scenario())
