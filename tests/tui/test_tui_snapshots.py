"""SVG snapshots of each screen at 100x32 (and the dashboard at 80x24) over frozen, canned data.

Update after a deliberate change with `pytest tests/tui/test_tui_snapshots.py --snapshot-update`,
then look at the report before committing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from aionis_tui.app import AionisApp
from aionis_tui.screens.replay import ReplayScreen
from tests.support import tui_fake
from tests.support.tui_fake import CannedBackend

SIZE = (100, 32)
Snap = Callable[..., bool]


def app(mode: str = "dashboard", **kw: Any) -> AionisApp:
    return AionisApp(backend=CannedBackend(**kw), clock=tui_fake.clock, start_mode=mode)


async def settle(pilot: Pilot[Any]) -> None:
    """Wait until every fetch has landed: the canned backend's workers all finish."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()


def test_dashboard(snap_compare: Snap) -> None:
    assert snap_compare(app(), terminal_size=SIZE, run_before=settle)


def test_dashboard_80x24(snap_compare: Snap) -> None:
    assert snap_compare(app(), terminal_size=(80, 24), run_before=settle)


def test_dashboard_offline(snap_compare: Snap) -> None:
    assert snap_compare(app(offline=True), terminal_size=SIZE, run_before=settle)


def test_dashboard_savings_not_available_yet(snap_compare: Snap) -> None:
    assert snap_compare(app(missing=("stats.savings",)), terminal_size=SIZE, run_before=settle)


def test_runs(snap_compare: Snap) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("tab", "up", "up", "up")
        await settle(pilot)

    assert snap_compare(app("runs"), terminal_size=SIZE, run_before=steps)


def test_playbooks(snap_compare: Snap) -> None:
    assert snap_compare(app("playbooks"), terminal_size=SIZE, run_before=settle)


def test_playbook_detail(snap_compare: Snap) -> None:
    async def open_first(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)

    assert snap_compare(app("playbooks"), terminal_size=SIZE, run_before=open_first)


def test_replay_with_divergence(snap_compare: Snap) -> None:
    async def watch(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, ReplayScreen)
        await screen.prepare(tui_fake.PB)
        await screen.attach("rp-20261124-02", {**tui_fake.REPLAY, "status": "running"})
        for ev in tui_fake.REPLAY_EVENTS:
            pilot.app._receive(ev)  # type: ignore[attr-defined]
        pilot.app.flush_events()  # type: ignore[attr-defined]
        await settle(pilot)

    assert snap_compare(app("replay"), terminal_size=SIZE, run_before=watch)


def test_review(snap_compare: Snap) -> None:
    assert snap_compare(app("review"), terminal_size=SIZE, run_before=settle)


def test_audit(snap_compare: Snap) -> None:
    assert snap_compare(app("audit"), terminal_size=SIZE, run_before=settle)


def test_review_not_available_yet(snap_compare: Snap) -> None:
    """A daemon without the governance methods: the screen says so and keeps working."""
    app_ = app("review", missing=("repairs.list",))
    assert snap_compare(app_, terminal_size=SIZE, run_before=settle)
