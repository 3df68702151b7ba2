"""Shadow validation: run a patched playbook strict in a throwaway copy of the workdir.

A repair is only worth a reviewer's time once it has been seen to work, and seeing it work must
not touch the user's tree, home or network: the replay runs in a copy, with a scratch HOME and a
scrubbed environment, inside bubblewrap (read-only system, no network) where bwrap can start.
Where it cannot, the run is "plain" (the copy and scratch HOME only) and the result says why.
`ShadowService` runs a stored repair that way and records what the run showed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import shutil
import stat
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
from aionisd.replay.engine import EventSink, Replay, StepOutcome
from aionisd.replay.runner import LocalRunner
from aionisd.service import Service
from aionisd.store import audit
from aionisd.store import events as event_log
from aionisd.store import playbooks as pb_store
from aionisd.store import repairs as repair_store

log = logging.getLogger("aionisd.governance")

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
TAIL_BYTES = 2048
PROBE_TIMEOUT_S = 10.0

ShadowStatus = Literal["passed", "failed"]
SandboxKind = Literal["bwrap", "plain"]


@dataclass(slots=True)
class ShadowResult:
    """What the shadow run of a patched playbook showed; `to_dict` is what a repair carries."""

    status: ShadowStatus
    sandbox: SandboxKind
    reason: str
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
    given = [_retarget(p, *retarget) for p in env.get("PATH", "").split(":") if p]
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


def _retarget(value: str, real: str, copy: str) -> str:
    """`value` with a leading real-workdir path replaced by the copy's."""
    if real == "/":
        return value
    if value == real or value.startswith(real.rstrip("/") + "/"):
        return copy + value[len(real.rstrip("/")) :]
    return value


def _skip_specials(directory: str, names: list[str]) -> set[str]:
    """Sockets, FIFOs and devices are not copied: opening a FIFO to copy it would block."""
    skip = set()
    for n in names:
        try:
            mode = os.lstat(os.path.join(directory, n)).st_mode
        except OSError:
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
            skip.add(n)
    return skip


def _relink(copy: Path, real: Path) -> None:
    """Keep the copy's symlinks meaning what they meant without pointing back into the real
    tree: absolute links into the workdir go to the copy, relative links that climbed out of
    the workdir become absolute links to where they pointed."""
    real_s, copy_s = os.path.realpath(real), str(copy)
    for dirpath, dirnames, filenames in os.walk(copy):
        for name in (*dirnames, *filenames):
            link = os.path.join(dirpath, name)
            if not os.path.islink(link):
                continue
            target = os.readlink(link)
            orig_dir = os.path.join(real_s, os.path.relpath(dirpath, copy_s))
            resolved = os.path.normpath(os.path.join(orig_dir, target))
            if os.path.isabs(target):
                new = _retarget(os.path.normpath(target), real_s, copy_s)
            elif resolved == real_s or resolved.startswith(real_s + "/"):
                continue
            else:
                new = resolved
            if new != target:
                os.unlink(link)
                os.symlink(new, link)


def _copy_workdir(workdir: Path, dest: Path) -> str | None:
    """Copy the tree without following symlinks; None, or a line naming what could not be copied."""
    if not workdir.is_dir():
        dest.mkdir()
        return None
    note = None
    try:
        shutil.copytree(workdir, dest, symlinks=True, ignore=_skip_specials)
    except shutil.Error as e:
        errors = e.args[0] if e.args and isinstance(e.args[0], list) else []
        first = errors[0][2] if errors and len(errors[0]) == 3 else str(e)
        note = f"{len(errors) or 'some'} file(s) not copied (first: {first})"
    dest.mkdir(exist_ok=True)
    _relink(dest, workdir)
    return note


def _rmtree(path: Path) -> None:
    """Remove a tree even where the playbook made directories read-only."""

    def retry(func: Any, p: str, _exc: Any) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o700)
            if os.path.isdir(p) and not os.path.islink(p):
                os.chmod(p, 0o700)
            func(p)

    shutil.rmtree(path, onerror=retry)


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


async def _ignore(_kind: str, _payload: dict[str, Any]) -> None:
    return None


async def shadow_validate(
    doc: dict[str, Any],
    *,
    workdir: Path,
    params: Mapping[str, str],
    env: Mapping[str, str],
    timeout_s: float = 600,
    keep: bool = False,
    network: bool = False,
    use_sandbox: bool = True,
    on_event: EventSink | None = None,
) -> ShadowResult:
    """Run `doc` strict in a copy of `workdir`; the real workdir is never written.

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
        copy_note = await trio.to_thread.run_sync(_copy_workdir, Path(workdir), copy)
        real = os.path.realpath(workdir)
        run_env = scrubbed_env(doc, env, home, retarget=(real, str(copy)))
        run_params = {k: _retarget(str(v), real, str(copy)) for k, v in params.items()}
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
        )
        try:
            with trio.move_on_after(timeout_s) as scope:
                await replay.run()
        finally:
            await runner.close()  # what its steps left running ends with it
        r = replay.result
        if scope.cancelled_caught:
            reason = f"shadow run timed out after {timeout_s:g}s"
        elif r.status == "refused":
            reason = f"refused: {r.reason}"
        else:
            reason = r.reason
        notes = [n for n in (sandbox_note, copy_note) if n]
        return ShadowResult(
            status="passed" if r.status == "succeeded" else "failed",
            sandbox=sandbox,
            reason=reason,
            steps=[_outcome(o) for o in r.steps],
            checks=[_outcome(o) for o in r.checks],
            sandbox_note="; ".join(notes) or None,
            duration_ms=int((time.perf_counter() - started) * 1000),
            kept_at=str(root) if keep else None,
        )
    finally:
        if not keep:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(_rmtree, root)


class ShadowService:
    """Shadow-validates stored repairs: the patched playbook, strict, in a copy of the workdir the
    repair was made in; the result, and the status it leads to, are recorded on the repair."""

    def __init__(self, ctx: Service) -> None:
        self.ctx = ctx

    async def validate(self, repair_id: str, env: dict[str, str]) -> dict[str, Any]:
        """Run and record; a crash of the run itself is a failed result, not an exception."""
        rep = repair_store.get(self.ctx.db, repair_id)
        if rep is None:
            raise AionisError(errors.NOT_FOUND, f"no repair {repair_id}")
        row = pb_store.resolve(self.ctx.db, rep["playbook_id"], rep["version"])
        assert row is not None
        patched = apply(pb_store.document(row), rep["patch"])
        ctx = rep["failure"].get("context") or {}
        workdir = Path(ctx.get("workdir") or tempfile.mkdtemp(prefix="aionis-empty-"))
        try:
            result = (
                await shadow_validate(patched, workdir=workdir, params=ctx.get("params") or {}, env=env)
            ).to_dict()
        except Exception as e:
            log.exception("shadow validation of %s crashed", repair_id)
            result = {"status": "failed", "sandbox": "none", "reason": f"shadow run crashed: {e}"}
        with self.ctx.write() as db:
            status = repair_store.status(db, repair_id)
            if status == "pending_review" and result["status"] != "passed":
                status = "shadow_failed"
            repair_store.set_shadow(db, repair_id, result, status)
            audit.append(
                db,
                "repair.shadow_finished",
                repair_id,
                {"status": result["status"], "sandbox": result.get("sandbox")},
            )
            event_log.append(
                db,
                "repair.shadow_finished",
                {"id": repair_id, "status": result["status"], "sandbox": result.get("sandbox")},
            )
        return result
