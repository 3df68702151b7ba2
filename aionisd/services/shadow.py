"""Shadow validation: run a patched playbook strict in a throwaway copy of the workdir.

A repair is only worth a reviewer's time once it has been seen to work, and seeing it work must
not touch the user's tree, home or network: the replay runs in a copy, with a scratch HOME and a
scrubbed environment, inside bubblewrap (read-only system, no network) where bwrap can start.
Where it cannot, the run is "plain" (the copy and scratch HOME only) and the result says why.
`ShadowService` runs a stored repair that way and records what the run showed.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import trio

from aionisd import errors
from aionisd.errors import AionisError
from aionisd.repair.patch import apply
from aionisd.replay.engine import EventSink, Replay, ReplayResult, StepOutcome
from aionisd.replay.runner import LocalRunner
from aionisd.replay.snapshot import Base, copy_tree, rmtree
from aionisd.replay.snapshot import retarget as retarget_path
from aionisd.service import Service
from aionisd.store import audit
from aionisd.store import events as event_log
from aionisd.store import playbooks as pb_store
from aionisd.store import repairs as repair_store

log = logging.getLogger("aionisd.governance")

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
TAIL_BYTES = 2048
PROBE_TIMEOUT_S = 10.0

ShadowStatus = Literal["passed", "failed", "skipped"]
SandboxKind = Literal["bwrap", "plain"]
ShadowBase = Literal["replay start snapshot", "the workdir as it is"]


@dataclass(slots=True)
class ShadowResult:
    """What the shadow run of a patched playbook showed; `to_dict` is what a repair carries."""

    status: ShadowStatus
    sandbox: SandboxKind
    reason: str
    base: ShadowBase = "the workdir as it is"
    steps: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    sandbox_note: str | None = None
    duration_ms: int = 0
    kept_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class _Probe:
    """The cached answer to "can bwrap start here, and with which namespaces"."""

    ok: bool
    note: str | None
    pid_ns: bool = True


def bwrap_argv(
    copy: Path, home: Path, *, network: bool = False, pid_ns: bool = True, bwrap: str = "bwrap"
) -> list[str]:
    """The prefix argv that confines a command to `copy` and `home` (bound at their own paths,
    so the engine's paths mean the same inside and out); everything else is read-only.

    No `--chdir`: bwrap keeps the caller's cwd when it exists inside, which is how each step's
    own cwd (set by the runner) survives. `--cap-drop ALL` matters when the daemon runs as root:
    bwrap would otherwise leave root every capability, remounting `/` read-write included.
    """
    argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev"]
    argv += ["--proc", "/proc"] if pid_ns else ["--ro-bind", "/proc", "/proc"]
    argv += ["--tmpfs", "/tmp", "--bind", str(copy), str(copy), "--bind", str(home), str(home)]
    if not network:
        argv.append("--unshare-net")
    if pid_ns:
        argv.append("--unshare-pid")
    argv += ["--die-with-parent", "--cap-drop", "ALL"]
    return argv


def _bwrap_path() -> str | None:
    return shutil.which("bwrap") or shutil.which("bwrap", path=DEFAULT_PATH)


def _try(argv: list[str]) -> str | None:
    """None when `argv` ran `true` fine, else the first line bwrap said about why not."""
    try:
        res = subprocess.run(
            [*argv, "true"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            env={"PATH": DEFAULT_PATH},
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as e:
        return str(e)
    if res.returncode == 0:
        return None
    first = (res.stderr.strip().splitlines() or [f"exit code {res.returncode}"])[0]
    return first.removeprefix("bwrap: ")


@functools.cache
def _probe() -> _Probe:
    """Try the full sandbox, then one without a pid namespace (mounting a fresh /proc is what
    containers most often refuse); the network stays unshared in both or bwrap is not used."""
    exe = _bwrap_path()
    if exe is None:
        return _Probe(False, "bwrap is not installed; ran plainly in the copy")
    with tempfile.TemporaryDirectory(prefix="aionis-probe-") as tmp:
        copy, home = Path(tmp, "work"), Path(tmp, "home")
        copy.mkdir()
        home.mkdir()
        why = _try(bwrap_argv(copy, home, bwrap=exe))
        if why is None:
            return _Probe(True, None)
        if _try(bwrap_argv(copy, home, bwrap=exe, pid_ns=False)) is None:
            return _Probe(True, f"bwrap without a pid namespace ({why})", pid_ns=False)
    return _Probe(False, f"bwrap cannot start here ({why}); ran plainly in the copy")


def scrubbed_env(
    doc: Mapping[str, Any], env: Mapping[str, str], home: Path, *, retarget: tuple[str, str]
) -> dict[str, str]:
    """PATH, LANG, TERM, HOME=scratch and the playbook's declared secrets: nothing else leaks.

    PATH entries inside the real workdir (a venv's bin) are pointed at the copy instead.
    """
    given = [retarget_path(p, *retarget) for p in env.get("PATH", "").split(":") if p]
    path = list(dict.fromkeys([*given, *DEFAULT_PATH.split(":")]))
    out = {
        "PATH": ":".join(path),
        "LANG": env.get("LANG") or "C.UTF-8",
        "TERM": env.get("TERM") or "dumb",
        "HOME": str(home),
    }
    for p in doc.get("params") or []:
        if isinstance(p, Mapping) and p.get("secret") and p.get("name"):
            name = str(p["name"])
            for key in (name, name.upper()):
                if key in env:
                    out[key] = env[key]
    return out


def _tail(o: StepOutcome) -> str:
    """The last 2 KiB of what a step printed (stdout, then stderr), cut on a character boundary."""
    text = "\n".join(t for t in (o.stdout, o.stderr) if t)
    data = text.encode("utf-8", "replace")
    if len(data) <= TAIL_BYTES:
        return text
    return data[-TAIL_BYTES:].decode("utf-8", "ignore")


def _outcome(o: StepOutcome) -> dict[str, Any]:
    return {
        "index": o.index,
        "id": o.id,
        "kind": o.kind,
        "status": o.status,
        "exit_code": o.exit_code,
        "duration_ms": o.duration_ms,
        "reason": o.reason,
        "output_tail": _tail(o),
    }


def verdict(r: ReplayResult) -> tuple[ShadowStatus, str]:
    """Passed only when the run succeeded with every step and check run and succeeded: a skipped
    or not-run step tested nothing, so a run with one is not a pass."""
    if r.status == "refused":
        return "failed", f"refused: {r.reason}"
    if r.status != "succeeded":
        return "failed", r.reason
    for o in (*r.steps, *r.checks):
        if o.status != "succeeded":
            where = "success check" if o.phase == "success" else "step"
            why = f": {o.reason}" if o.reason else ""
            return "failed", f"not a pass: {where} {o.index + 1} ({o.id}) {o.status.replace('_', ' ')}{why}"
    return "passed", r.reason


async def _ignore(_kind: str, _payload: dict[str, Any]) -> None:
    return None


async def shadow_validate(
    doc: dict[str, Any],
    *,
    workdir: Path,
    params: Mapping[str, str],
    env: Mapping[str, str],
    base: Path | None = None,
    timeout_s: float = 600,
    keep: bool = False,
    network: bool = False,
    use_sandbox: bool = True,
    on_event: EventSink | None = None,
) -> ShadowResult:
    """Run `doc` strict in a copy of `base` (a snapshot of `workdir` taken when a replay began)
    or, without one, of `workdir` as it is; the real workdir is never written.

    `env` is the caller's replay env: only PATH, LANG, TERM and the playbook's secrets are taken
    from it. `timeout_s` bounds the whole run (and each step). With `keep`, the copy stays and
    `kept_at` names it, for a reviewer to look at. `use_sandbox=False` runs plainly in the copy
    (a user's choice, e.g. where bwrap misbehaves).
    """
    started = time.perf_counter()
    probe = await trio.to_thread.run_sync(_probe)
    root = Path(tempfile.mkdtemp(prefix="aionis-shadow-"))
    copy, home = root / "work", root / "home"
    try:
        home.mkdir()
        source = Path(workdir) if base is None else base
        copy_note = await trio.to_thread.run_sync(copy_tree, source, copy)
        real = os.path.realpath(workdir)
        run_env = scrubbed_env(doc, env, home, retarget=(real, str(copy)))
        run_params = {k: retarget_path(str(v), real, str(copy)) for k, v in params.items()}
        exe = _bwrap_path()
        sandbox: SandboxKind = "bwrap" if use_sandbox and probe.ok and exe else "plain"
        if not use_sandbox:
            sandbox_note: str | None = "sandbox turned off by the caller; ran plainly in the copy"
        elif probe.ok and not exe:
            sandbox_note = "bwrap is no longer on PATH; ran plainly in the copy"
        else:
            sandbox_note = probe.note
        wrap = (
            bwrap_argv(copy, home, network=network, pid_ns=probe.pid_ns, bwrap=exe or "bwrap")
            if sandbox == "bwrap"
            else []
        )
        runner = LocalRunner(wrap=wrap)
        replay = Replay(
            doc,
            mode="strict",
            runner=runner,
            workdir=copy,
            env=run_env,
            params=run_params,
            on_event=on_event or _ignore,
            default_timeout_s=timeout_s,
            run_every_step=True,
        )
        try:
            with trio.move_on_after(timeout_s) as scope:
                await replay.run()
        finally:
            await runner.close()  # what its steps left running ends with it
        r = replay.result
        status, reason = verdict(r)
        if scope.cancelled_caught:
            status, reason = "failed", f"shadow run timed out after {timeout_s:g}s"
        notes = [n for n in (sandbox_note, copy_note) if n]
        return ShadowResult(
            status=status,
            sandbox=sandbox,
            reason=reason,
            base="the workdir as it is" if base is None else "replay start snapshot",
            steps=[_outcome(o) for o in r.steps],
            checks=[_outcome(o) for o in r.checks],
            sandbox_note="; ".join(notes) or None,
            duration_ms=int((time.perf_counter() - started) * 1000),
            kept_at=str(root) if keep else None,
        )
    finally:
        if not keep:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(rmtree, root)


class ShadowService:
    """Shadow-validates stored repairs: the patched playbook, strict, in a copy of the state the
    repair must work from (the proposing replay's start snapshot while it is held, else the
    workdir named); the result, and the status it leads to, are recorded on the repair."""

    def __init__(self, ctx: Service) -> None:
        self.ctx = ctx
        self.bases: dict[str, Base] = {}
        """Replay id -> the snapshot of its workdir before its first step, while the replay runs."""

    def hold(self, repair_id: str) -> Base | None:
        """The start snapshot of the replay that proposed `repair_id`, held for one shadow run (the
        caller hands it to `validate`, which lets go); None for a repair made outside a replay."""
        rep = repair_store.get(self.ctx.db, repair_id)
        base = self.bases.get(rep["replay_id"]) if rep and rep["replay_id"] else None
        return base.hold() if base is not None else None

    async def validate(self, repair_id: str, env: dict[str, str], base: Base | None = None) -> dict[str, Any]:
        """Run and record; a crash of the run itself is a failed result, not an exception. A
        replay's repair whose snapshot could not be taken is not run: the folder the replay left
        would judge the patch against the wrong state."""
        base = base or self.hold(repair_id)
        try:
            result = await self._run(repair_id, env, base)
        finally:
            if base is not None:
                await base.release()
        with self.ctx.write() as db:
            status = repair_store.status(db, repair_id)
            if status == "pending_review" and result["status"] == "failed":
                status = "shadow_failed"
            repair_store.set_shadow(db, repair_id, result, status)
            summary = {
                "status": result["status"],
                "sandbox": result.get("sandbox"),
                "base": result.get("base"),
            }
            audit.append(db, "repair.shadow_finished", repair_id, summary)
            event_log.append(db, "repair.shadow_finished", {"id": repair_id, **summary})
        return result

    async def _run(self, repair_id: str, env: dict[str, str], base: Base | None) -> dict[str, Any]:
        rep = repair_store.get(self.ctx.db, repair_id)
        if rep is None:
            raise AionisError(errors.NOT_FOUND, f"no repair {repair_id}")
        if base is not None and base.path is None:
            return {"status": "skipped", "sandbox": "none", "base": None,
                    "reason": f"not run: {base.note}; review the patch by hand"}  # fmt: skip
        row = pb_store.resolve(self.ctx.db, rep["playbook_id"], rep["version"])
        assert row is not None
        patched = apply(pb_store.document(row), rep["patch"])
        ctx = rep["failure"].get("context") or {}
        workdir = Path(ctx.get("workdir") or tempfile.mkdtemp(prefix="aionis-empty-"))
        try:
            res = await shadow_validate(
                patched,
                workdir=workdir,
                base=base.path if base is not None else None,
                params=ctx.get("params") or {},
                env=env,
            )
            return res.to_dict()
        except Exception as e:
            log.exception("shadow validation of %s crashed", repair_id)
            return {"status": "failed", "sandbox": "none", "reason": f"shadow run crashed: {e}"}
