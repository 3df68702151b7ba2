"""Replays in the daemon: the gates before the first step, then the engine in the background,
its events streamed and the replay recorded as a run of agent `aionis`."""

from __future__ import annotations

import json
import logging
import os
import secrets as pyrandom
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import trio

from aionisd import errors
from aionisd.errors import AionisError
from aionisd.events import MODES, SAFE_ENV
from aionisd.model import RunEvent, StepEvent, StepStatus, now
from aionisd.paths import UnsafePath
from aionisd.replay.checks import PathEscape, confine, resolve_params, substitute
from aionisd.replay.contain import kill_leftovers, remove_empty_cgroups
from aionisd.replay.engine import EventSink, Mode, RepairDecision, RepairHook, Replay, ReplayResult
from aionisd.replay.runner import CommandResult, LocalRunner
from aionisd.replay.snapshot import BASES_DIR, Base, sweep, take
from aionisd.service import Service
from aionisd.store import audit
from aionisd.store import events as event_log
from aionisd.store import playbooks as pb_store
from aionisd.store import replays as replay_store
from aionisd.store import runs as run_store
from aionisd.store.db import Database

if TYPE_CHECKING:
    from aionisd.services.catalog import CatalogService
    from aionisd.services.governance import GovernanceService

log = logging.getLogger("aionisd.replay")

OUTPUT_FLUSH_S = 0.05


@dataclass
class Active:
    replay: Replay
    scope: trio.CancelScope
    info: dict[str, Any]
    runner: LocalRunner | None = None
    workdir: str | None = None
    """The real path this replay holds (strict and guided run one at a time per workdir)."""
    done: trio.Event = field(default_factory=trio.Event)


def new_id() -> str:
    return "rp-" + time.strftime("%Y%m%d%H%M%S") + "-" + pyrandom.token_hex(3)


class ReplayService:
    """Starts, tracks and cancels replays; one per daemon."""

    def __init__(
        self,
        ctx: Service,
        catalog: Callable[[], CatalogService],
        governance: Callable[[], GovernanceService],
    ) -> None:
        """`catalog` and `governance` are asked for at the first replay, not at start: an idle
        daemon has not loaded signing or repair."""
        self.ctx = ctx
        self._catalog = catalog
        self._governance = governance
        self.active: dict[str, Active] = {}
        self.nursery: trio.Nursery | None = None
        self._buf: dict[str, list[tuple[str, dict[str, Any]]]] = {}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the nursery replays run in; ends what replays a killed daemon left `running` had
        started, and marks them `interrupted`; removes the start snapshots they left."""
        remove_empty_cgroups()
        await trio.to_thread.run_sync(sweep, self._bases_dir())
        for rid in replay_store.running_ids(self.ctx.db):
            killed = await kill_leftovers(rid)
            reason = "the daemon stopped during this replay"
            if killed:
                log.info("replay %s: killed %d process(es) left by the previous daemon", rid, killed)
                reason += f"; {killed} process(es) it left running were killed"
            with self.ctx.write() as db:
                self._close_row(db, rid, "interrupted", reason, None)
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    # -- gates ------------------------------------------------------------------------------

    def _load(self, ref: str, version: int | None) -> dict[str, Any]:
        db = self.ctx.db
        if version is None:
            row = pb_store.resolve(db, ref)
            row = row and pb_store.replay_default(db, row["id"])
        else:
            row = pb_store.resolve(db, ref, version)
        if row is None:
            raise AionisError(errors.NOT_FOUND, f"no replayable version of playbook {ref}")
        return row

    def gate(
        self,
        row: dict[str, Any],
        mode: str,
        workdir: Path,
        env: dict[str, str],
        params: dict[str, str],
    ) -> dict[str, Any]:
        """Every refusal before the first step, each with its own code and one line."""
        if mode not in MODES:
            raise AionisError(
                errors.INVALID_PARAMS, f"mode must be one of {', '.join(MODES)}", {"field": "mode"}
            )
        if row["status"] == "disabled":
            raise AionisError(errors.PLAYBOOK_DISABLED, f"{row['id']} v{row['version']} is disabled")
        if mode != "simulate" and not self.ctx.config.replay.allow_local_exec:
            where = self.ctx.config.path or self.ctx.paths.config_file
            raise AionisError(
                errors.EXEC_NOT_ALLOWED,
                f"local execution is off: set allow_local_exec = true under [replay] in {where}",
            )
        v = self._catalog().check_trusted(row["envelope"], required=mode != "simulate")
        doc: dict[str, Any] = json.loads(v.payload) if v.payload else pb_store.document(row)
        if mode == "simulate":
            return doc
        res = resolve_params(doc, params, env=env, workdir=workdir)
        if res.missing:
            secret = [n for n in res.missing if n in res.secrets]
            plain = [n for n in res.missing if n not in res.secrets]
            parts = ([f"missing parameter(s): {', '.join(plain)} (--param NAME=VALUE)"] if plain else []) + (
                [f"missing secret(s): set {', '.join(secret)} in the environment"] if secret else []
            )
            raise AionisError(errors.MISSING_PARAMETER, "; ".join(parts), {"missing": res.missing})
        if res.invalid:
            raise AionisError(errors.INVALID_PARAMS, "; ".join(res.invalid), {"invalid": res.invalid})
        home = Path(res.values["home"]) if res.values.get("home") else None
        for step in doc.get("steps", []):
            if step.get("kind") in ("file_write", "file_edit") and step.get("path"):
                try:
                    confine(substitute(step["path"], res.values), workdir, home)
                except PathEscape as e:
                    raise AionisError(errors.PATH_ESCAPE, str(e)) from None
        return doc

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(
        self,
        ref: str,
        *,
        version: int | None,
        mode: str,
        workdir: str | None,
        params: dict[str, str],
        env: dict[str, str] | None,
    ) -> dict[str, Any]:
        row = self._load(ref, version)
        wd = Path(workdir or os.getcwd()).expanduser()
        if not wd.is_absolute():
            raise AionisError(errors.INVALID_PARAMS, "workdir must be an absolute path", {"field": "workdir"})
        replay_env = dict(env) if env is not None else {k: os.environ[k] for k in SAFE_ENV if k in os.environ}
        rid = new_id()
        real = os.path.realpath(wd)
        try:
            doc = self.gate(row, mode, wd, replay_env, params)
            if mode != "simulate":
                self._check_workdir_free(wd, real)
        except AionisError as e:
            self._record_refusal(rid, row, mode, wd, e)
            raise
        if mode != "simulate":
            wd.mkdir(parents=True, exist_ok=True)
        runner = LocalRunner(tag=rid)
        replay = Replay(
            doc,
            mode=cast(Mode, mode),
            runner=runner,
            workdir=wd,
            env=replay_env,
            params=params,
            on_event=self._sink(rid),
            repair=self._repair_hook(rid, row, replay_env, params) if mode == "guided" else None,
            default_timeout_s=float(self.ctx.config.replay.step_timeout_s),
        )
        info = {
            "replay_id": rid,
            "playbook": {"id": row["id"], "version": row["version"], "name": row["name"]},
            "mode": mode,
        }
        with self.ctx.write() as db:
            replay_store.start(
                db,
                rid,
                playbook_id=row["id"],
                version=row["version"],
                mode=mode,
                workdir=str(wd),
                run_id=f"aionis:{rid}",
            )
            if mode != "simulate":
                run_store.record(
                    db,
                    [
                        RunEvent(
                            rid,
                            "aionis",
                            cwd=str(wd),
                            goal=doc.get("goal"),
                            ts=now(),
                            status="running",
                        )
                    ],
                )
                run_store.set_run_fields(
                    db, f"aionis:{rid}", playbook_id=row["id"], playbook_version=row["version"]
                )
                audit.append(db, "replay.started", rid, {**info, "workdir": str(wd)})
            event_log.append(db, "replay.started", info)
        runs = mode != "simulate"
        active = Active(replay, trio.CancelScope(), info, runner if runs else None, real if runs else None)
        self.active[rid] = active
        if mode == "simulate":
            await self._drive(rid, row, doc, active)
            return {**info, "status": replay.result.status}
        assert self.nursery is not None
        self.nursery.start_soon(self._drive, rid, row, doc, active)
        return {**info, "status": "running"}

    def _bases_dir(self) -> Path:
        return self.ctx.paths.db.parent / BASES_DIR

    async def _base(self, rid: str, workdir: Path) -> Base:
        """The workdir before the first step: the state the repairs this replay proposes are
        shadow-run from (a copy of the folder the replay left would judge them wrongly)."""
        try:
            return await take(workdir, self._bases_dir() / rid)
        except (OSError, UnsafePath) as e:
            log.warning("replay %s: no start snapshot: %s", rid, e)
            return Base(None, f"no snapshot of the replay's start: {e}")

    async def _drive(self, rid: str, row: dict[str, Any], doc: dict[str, Any], a: Active) -> None:
        flusher_done = trio.Event()
        base: Base | None = None
        try:
            if a.replay.mode == "guided" and self.ctx.config.governance.auto_shadow_validate:
                base = await self._base(rid, a.replay.workdir)
                self._governance().shadow_service.bases[rid] = base
            async with trio.open_nursery() as n:
                n.start_soon(self._flusher, rid, flusher_done)
                with a.scope:
                    await a.replay.run()
                flusher_done.set()
        except Exception:
            log.exception("replay %s crashed", rid)
            a.replay.result.status = "failed"
            a.replay.result.reason = "internal error in the replay engine (see the daemon log)"
        finally:
            res = a.replay.result
            if a.scope.cancelled_caught or res.status == "running":
                res.status = "cancelled"
                res.reason = res.reason or "cancelled"
            if a.runner is not None:
                await a.runner.close()
                if a.runner.killed:
                    log.info(
                        "replay %s: killed %d process(es) (contained by %s)",
                        rid,
                        a.runner.killed,
                        a.runner.contain.how,
                    )
                    res.reason = f"{res.reason}; {a.runner.killed} process(es) killed"
            try:
                self._flush(rid)
                with self.ctx.write() as db:
                    self._close_row(db, rid, res.status, res.reason, res)
            except Exception:  # a full disk or a held lock must not end the daemon with it
                log.exception("replay %s: could not record its end (marked on the next start)", rid)
            self._buf.pop(rid, None)
            self.active.pop(rid, None)
            if base is not None:  # the shadow runs of its repairs hold it until they end
                self._governance().shadow_service.bases.pop(rid, None)
                await base.release()
            a.done.set()

    def _close_row(self, db: Database, rid: str, status: str, reason: str, res: ReplayResult | None) -> None:
        result = _result_dict(res) if res else {}
        if replay_store.finish(db, rid, status, reason, result) != "simulate":
            run_status = {"succeeded": "succeeded", "partial": "partial"}.get(status, "failed")
            if status == "interrupted":
                run_status = "interrupted"
            run_store.set_ended(db, f"aionis:{rid}", run_status)
            audit.append(db, "replay.finished", rid, {"status": status, "reason": reason})
        event_log.append(
            db,
            "replay.finished",
            {
                "replay_id": rid,
                "status": status,
                "reason": reason,
                "divergence": result.get("divergence"),
            },
        )

    def _record_refusal(self, rid: str, row: dict[str, Any], mode: str, wd: Path, e: AionisError) -> None:
        with self.ctx.write() as db:
            replay_store.refuse(
                db,
                rid,
                playbook_id=row["id"],
                version=row["version"],
                mode=mode,
                workdir=str(wd),
                reason=e.message,
                code=e.code,
            )
            audit.append(
                db,
                "replay.refused",
                rid,
                {
                    "playbook": row["id"],
                    "version": row["version"],
                    "mode": mode,
                    "reason": e.message,
                },
            )

    def _check_workdir_free(self, wd: Path, real: str) -> None:
        """Strict and guided replays write into their workdir: two at once would interleave."""
        for hid, other in self.active.items():
            if other.workdir == real:
                pb = other.info["playbook"]
                raise AionisError(
                    errors.WORKDIR_BUSY,
                    f"workdir {wd} is in use by replay {hid} ({pb['name']} v{pb['version']}); "
                    f"wait for it to end or cancel it with `aionis cancel {hid}`",
                    {"replay_id": hid, "playbook": pb, "workdir": real},
                )

    async def cancel(self, rid: str) -> bool:
        a = self.active.get(rid)
        if a is None:
            return False
        a.scope.cancel()
        with trio.move_on_after(5):
            await a.done.wait()
        return True

    # -- events and recording ----------------------------------------------------------------

    def _sink(self, rid: str) -> EventSink:
        """Events are buffered and committed once per frame (OUTPUT_FLUSH_S), not once each:
        per-step transactions would cost more than the steps themselves."""
        self._buf.setdefault(rid, [])

        async def on_event(kind: str, data: dict[str, Any]) -> None:
            self._buf[rid].append((kind, data))
            if len(self._buf[rid]) >= 512:
                self._flush(rid)

        return on_event

    async def _flusher(self, rid: str, done: trio.Event) -> None:
        while not done.is_set():
            with trio.move_on_after(OUTPUT_FLUSH_S):
                await done.wait()
            self._flush(rid)

    def _flush(self, rid: str) -> None:
        pending = self._buf.get(rid)
        if not pending:
            return
        self._buf[rid] = []
        merged: list[tuple[str, dict[str, Any]]] = []
        for kind, d in pending:
            if merged and kind == "replay.output" and merged[-1][0] == kind:
                last = merged[-1][1]
                if (last["index"], last["stream"], last.get("phase")) == (
                    d["index"],
                    d["stream"],
                    d.get("phase"),
                ):
                    last["text"] += d["text"]
                    continue
            merged.append((kind, dict(d)))
        record = self.active[rid].replay.mode != "simulate" if rid in self.active else False
        steps = [ev for kind, d in merged if record and (ev := self._step_event(rid, kind, d)) is not None]
        with self.ctx.write() as db:
            for kind, d in merged:
                event_log.append(db, kind, {"replay_id": rid, **d})
            if steps:
                run_store.record(db, steps)

    def _step_event(self, rid: str, kind: str, d: dict[str, Any]) -> StepEvent | None:
        key = f"{d.get('phase', 'step')}:{d.get('id')}"
        if kind == "replay.step.started":
            k: Any = d.get("kind") or "command"
            return StepEvent(
                rid,
                key,
                kind=k,
                tool="aionis." + k,
                command=d.get("action") if k == "command" else None,
                input={"action": d.get("action")},
                status="running",
                started_at=now(),
            )
        if kind == "replay.step.finished":
            status = {
                "succeeded": "succeeded",
                "failed": "failed",
                "skipped": "not_run",
                "cancelled": "failed",
                "not_run": "not_run",
            }.get(d.get("status", ""), "failed")
            return StepEvent(
                rid,
                key,
                status=cast(StepStatus, status),
                exit_code=d.get("exit_code"),
                ended_at=now(),
                duration_ms=d.get("duration_ms"),
            )
        return None

    def _repair_hook(
        self, rid: str, row: dict[str, Any], env: dict[str, str], params: dict[str, str]
    ) -> RepairHook:
        async def hook(
            doc: dict[str, Any], index: int, step: dict[str, Any], res: CommandResult
        ) -> RepairDecision | None:
            return await self._governance().on_failed_step(rid, row, doc, index, step, res, env, params)

        return hook

    # -- queries ------------------------------------------------------------------------------

    def get(self, rid: str) -> dict[str, Any]:
        row = replay_store.get(self.ctx.db, rid)
        if row is None:
            raise AionisError(errors.NOT_FOUND, f"no replay {rid}")
        a = self.active.get(rid)
        result = _result_dict(a.replay.result) if a else row["result"]
        return {
            "replay_id": rid,
            "playbook": {"id": row["playbook_id"], "version": row["version"], "name": row["name"]},
            "mode": row["mode"],
            "status": row["status"] if not a else "running",
            "reason": row["reason"] if not a else "",
            "workdir": row["workdir"],
            "run_id": row["run_id"],
            "steps": result.get("steps", []),
            "checks": result.get("checks", []),
            "divergence": result.get("divergence"),
            "repairs": result.get("repairs", []),
            "simulation": result.get("simulation"),
            "started_at": row["started_at"],
            "ended_at": row["ended_at"],
        }

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        return replay_store.recent(self.ctx.db, limit)

    def savings(self) -> list[dict[str, Any]]:
        """Per playbook: replays run vs the tokens and time of the agent run it came from."""
        out = []
        for row in replay_store.per_playbook(self.ctx.db):
            src = run_store.cost(self.ctx.db, row["run_id"])
            out.append(
                {
                    "id": row["id"],
                    "name": row["name"],
                    "replays": row["replays"],
                    "succeeded": row["succeeded"],
                    "source_tokens": src[0] if src else None,
                    "source_duration_ms": round(src[1]) if src and src[1] is not None else None,
                    "replay_mean_ms": None if row["replay_mean_ms"] is None else round(row["replay_mean_ms"]),
                    "replay_tokens": 0,
                }
            )
        return out


def _result_dict(res: ReplayResult | None) -> dict[str, Any]:
    if res is None:
        return {}
    d = res.to_dict()
    for group in ("steps", "checks"):
        for s in d.get(group, []):
            s["stdout"] = s.get("stdout", "")[-2048:]
            s["stderr"] = s.get("stderr", "")[-2048:]
    return d
