"""Where replay steps touch the world: one `Runner` interface, a real and a simulated runner.

Shaped like httpx's transports: the engine only speaks `Runner`, so engine logic is tested with
`SimulatedRunner` and the real `LocalRunner` is tested on its own with real subprocesses.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import functools
import hashlib
import math
import os
import secrets
import select
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import trio

from aionisd.model import OUTPUT_HEAD, OUTPUT_TAIL
from aionisd.replay.contain import Containment

OutputSink = Callable[[str, str], Awaitable[None]] | None
"""Receives (stream "stdout"|"stderr", decoded text chunk) while a command runs."""

READ_SIZE = 65536
DRAIN_S = 0.1  # reading on after the shell exits, while a background child holds the pipe
POLL_S = 0.01  # exit polling where there is no pidfd (Linux < 5.3)


@dataclass(slots=True)
class CommandResult:
    """What one command did: bounded `stdout`/`stderr` (head + tail), sizes of the full output.

    `exit_code` is None when the command never ran (`error` says why) or was killed on timeout;
    a negative code means the shell was killed by that signal.
    """

    exit_code: int | None
    stdout: str = ""
    stderr: str = ""
    stdout_size: int = 0
    stderr_size: int = 0
    duration_ms: int = 0
    timed_out: bool = False
    cancelled: bool = False
    error: str | None = None

    def __post_init__(self) -> None:
        if self.stdout and not self.stdout_size:
            self.stdout_size = len(self.stdout.encode("utf-8", "surrogatepass"))
        if self.stderr and not self.stderr_size:
            self.stderr_size = len(self.stderr.encode("utf-8", "surrogatepass"))


@dataclass(slots=True)
class FileResult:
    ok: bool
    error: str | None = None


class Runner(Protocol):
    """Runs a step's effects; paths given here are already substituted and confined."""

    async def run_command(
        self,
        command: str,
        *,
        shell: str,
        cwd: Path,
        env: Mapping[str, str],
        timeout_s: float,
        on_output: OutputSink = None,
    ) -> CommandResult: ...

    async def write_file(self, path: Path, content: str, sha256: str | None) -> FileResult: ...

    async def edit_file(self, path: Path, old: str, new: str) -> FileResult: ...


class _Capture:
    """A fixed head buffer and a rolling tail, so a step printing gigabytes costs ~256 KiB."""

    __slots__ = ("head", "size", "tail")

    def __init__(self) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.size = 0

    def add(self, data: bytes | bytearray) -> None:
        self.size += len(data)
        room = OUTPUT_HEAD - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > 2 * OUTPUT_TAIL:
                del self.tail[:-OUTPUT_TAIL]

    def text(self) -> str:
        """Same shape as `model.bound_output`: head, an elision marker with the byte count, tail."""
        tail = bytes(self.tail[-OUTPUT_TAIL:])
        cut = self.size - len(self.head) - len(tail)
        if cut <= 0:
            return (bytes(self.head) + tail).decode("utf-8", "replace")
        head = codecs.getincrementaldecoder("utf-8")("replace").decode(bytes(self.head))
        skip = 0
        while skip < 3 and skip < len(tail) and tail[skip] & 0xC0 == 0x80:
            skip += 1
        cut += skip
        return f"{head}\n[... {cut} bytes elided ...]\n{tail[skip:].decode('utf-8', 'replace')}"


_subreaper_set = False


def _become_subreaper() -> None:
    """Adopt orphaned grandchildren so killed groups can be reaped, whatever PID 1 does (Linux)."""
    global _subreaper_set
    if _subreaper_set or not sys.platform.startswith("linux"):
        return
    _subreaper_set = True
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _reap_group(pgid: int) -> bool:
    """Reap dead members of a group we adopted; True when the group is gone entirely."""
    while True:
        try:
            pid, _ = os.waitpid(-pgid, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


_LINGERING: set[int] = set()
"""Groups of finished steps that may still hold background children, shared by all runners so a
later step reaps them even when the runner that started them is gone."""


def _sweep() -> None:
    for pgid in list(_LINGERING):
        if _reap_group(pgid):
            _LINGERING.discard(pgid)


@functools.cache
def _devnull() -> int:
    """One read-only /dev/null for every child's stdin, opened once for the process's life."""
    return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)


class _Child:
    """A spawned group leader: raw non-blocking pipe ends and a pidfd to learn of its exit.

    Spawned in the event loop's thread (vfork makes that fast) rather than in a worker thread as
    `trio.lowlevel.open_process` does: the thread hop cost ~0.3 ms of a ~1.2 ms trivial step.
    """

    def __init__(self, argv: list[str], cwd: Path, env: Mapping[str, str]) -> None:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            self.popen = subprocess.Popen(
                argv,
                stdin=_devnull(),
                stdout=out_w,
                stderr=err_w,
                cwd=cwd,
                env=dict(env),
                start_new_session=True,
            )
        except BaseException:
            os.close(out_r)
            os.close(err_r)
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        self.pid = self.popen.pid
        self.stdout, self.stderr = out_r, err_r
        os.set_blocking(out_r, False)
        os.set_blocking(err_r, False)
        self.pidfd: int | None = None
        with contextlib.suppress(AttributeError, OSError):
            self.pidfd = os.pidfd_open(self.pid)

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    async def wait(self) -> int:
        if self.popen.returncode is None:
            if self.pidfd is not None:
                await trio.lowlevel.wait_readable(self.pidfd)
            else:
                while self.popen.poll() is None:
                    await trio.sleep(POLL_S)
        return self.popen.wait()

    def close(self) -> None:
        for fd in (self.stdout, self.stderr):
            os.close(fd)
        if self.pidfd is not None:
            trio.lowlevel.notify_closing(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = None


async def _collect(proc: _Child, out: _Capture, err: _Capture, on_output: OutputSink) -> None:
    """Read both pipes and watch for the shell's exit through one private epoll.

    One trio wait per wake-up instead of a task per pipe (measured ~0.15 ms less per trivial
    step). Returns once the shell has exited and the pipes are at EOF, or DRAIN_S after the exit
    when a background child keeps them open (its later output is not read).
    """

    def new_decoder() -> codecs.IncrementalDecoder | None:
        return codecs.getincrementaldecoder("utf-8")("replace") if on_output else None

    sinks = {
        proc.stdout: ("stdout", out, new_decoder()),
        proc.stderr: ("stderr", err, new_decoder()),
    }
    ep = select.epoll()
    try:
        for fd in sinks:
            ep.register(fd, select.EPOLLIN)
        if proc.pidfd is not None:
            ep.register(proc.pidfd, select.EPOLLIN)
        drain_at = math.inf
        busy = 0
        while sinks:
            ready = ep.poll(0)
            if not ready:
                busy = 0
                now = trio.current_time()
                if proc.returncode is None and proc.pidfd is None and proc.popen.poll() is not None:
                    drain_at = now + DRAIN_S
                if now >= drain_at:
                    break
                wake = drain_at if proc.pidfd is not None else min(drain_at, now + POLL_S)
                with trio.move_on_at(wake):
                    await trio.lowlevel.wait_readable(ep.fileno())
                continue
            for fd, _ in ready:
                if fd == proc.pidfd:
                    ep.unregister(fd)
                    proc.popen.wait()
                    drain_at = trio.current_time() + DRAIN_S
                    continue
                name, cap, decoder = sinks[fd]
                try:
                    data = os.read(fd, READ_SIZE)
                except BlockingIOError:
                    continue
                if data:
                    cap.add(data)
                else:
                    ep.unregister(fd)
                    del sinks[fd]
                text = decoder.decode(data, final=not data) if decoder is not None else ""
                if text and on_output is not None:
                    await on_output(name, text)
            busy += 1
            if busy % 8 == 0:  # a child printing without pause must not starve the other tasks
                await trio.lowlevel.checkpoint()
        if proc.returncode is None and not sinks:
            await proc.wait()
    finally:
        trio.lowlevel.notify_closing(ep.fileno())
        ep.close()


class LocalRunner:
    """Runs steps for real, every process it starts contained (`Containment`): a step's
    descendants, `setsid` and double-forked ones included, are killed on its timeout or
    cancellation, and whatever steps left running is ended by `close` (the replay's end).

    Cancellation: when the caller's scope is cancelled the step's processes get SIGTERM, then
    SIGKILL after `grace_s`, the shell is reaped, and `trio.Cancelled` propagates (no result).
    With `reap_orphans` the process becomes a child subreaper (Linux) so orphaned descendants are
    reaped instead of lingering as zombies. `tag` names the runner's processes (a replay id; a
    random one by default); `cgroups=False` keeps to the subreaper and the env tag.
    Linux only (epoll, pidfd; exit is polled on kernels without pidfd).
    """

    def __init__(
        self,
        *,
        wrap: Sequence[str] | None = None,
        grace_s: float = 0.5,
        reap_orphans: bool = True,
        tag: str | None = None,
        cgroups: bool = True,
    ) -> None:
        self.wrap = list(wrap or ())
        self.grace_s = grace_s
        self.reap_orphans = reap_orphans
        self.contain = Containment(tag or "lr-" + secrets.token_hex(6), cgroups=cgroups)
        self._steps = 0
        self.killed = 0
        """How many processes were killed so far: on timeouts, cancellations and `close`."""
        self._argv_cache: dict[tuple[str, str | None], list[str]] = {}

    def _shell_argv(self, shell: str, env: Mapping[str, str]) -> list[str]:
        key = (shell, env.get("PATH"))
        argv = self._argv_cache.get(key)
        if argv is None:
            parts = shlex.split(shell) or ["bash", "-c"]
            exe = parts[0]
            if "/" not in exe:
                exe = (
                    shutil.which(exe, path=env.get("PATH", os.defpath))
                    or shutil.which(exe, path=os.defpath)
                    or exe
                )
            argv = self._argv_cache[key] = [*self.wrap, exe, *parts[1:]]
        return argv

    async def run_command(
        self,
        command: str,
        *,
        shell: str,
        cwd: Path,
        env: Mapping[str, str],
        timeout_s: float,
        on_output: OutputSink = None,
    ) -> CommandResult:
        started = time.perf_counter()
        if not cwd.is_dir():
            return CommandResult(None, error=f"cwd does not exist: {cwd}")
        if self.reap_orphans:
            _become_subreaper()
        self._steps += 1
        step = self._steps
        argv = [*self._shell_argv(shell, env), command]
        self.contain.step_cgroup(step)
        try:
            with self.contain.spawning(step):
                proc = _Child(argv, cwd, {**env, **self.contain.env(step)})
        except OSError as e:
            self.contain.settle(step)
            return CommandResult(None, error=f"cannot start {argv[0]}: {e.strerror or e}")
        _LINGERING.discard(proc.pid)
        out, err = _Capture(), _Capture()
        killed = False
        try:
            with trio.move_on_after(timeout_s if timeout_s and timeout_s > 0 else math.inf):
                await _collect(proc, out, err, on_output)
        finally:
            with trio.CancelScope(shield=True):
                if proc.returncode is None:
                    killed = True
                    self.killed += await self.contain.end(
                        step, grace_s=self.grace_s, groups={proc.pid}, tracked={proc.pid}
                    )
                    await proc.wait()
                proc.close()
                self.contain.settle(step)
                if self.reap_orphans:
                    _LINGERING.add(proc.pid)
                    _sweep()
        return CommandResult(
            exit_code=None if killed else proc.returncode,
            stdout=out.text(),
            stderr=err.text(),
            stdout_size=out.size,
            stderr_size=err.size,
            duration_ms=int((time.perf_counter() - started) * 1000),
            timed_out=killed,
        )

    async def close(self) -> int:
        """End every process the steps left running (SIGTERM, SIGKILL after `grace_s`) and
        remove their cgroups; returns how many there were. The runner can be used again."""
        with trio.CancelScope(shield=True):
            n = await self.contain.end(grace_s=self.grace_s)
        self.killed += n
        return n

    async def write_file(self, path: Path, content: str, sha256: str | None) -> FileResult:
        return await trio.to_thread.run_sync(write_file_sync, path, content, sha256)

    async def edit_file(self, path: Path, old: str, new: str) -> FileResult:
        return await trio.to_thread.run_sync(edit_file_sync, path, old, new)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _norm_sha(sha: str) -> str:
    return sha.strip().lower().removeprefix("sha256:")


def _atomic_write(path: Path, data: bytes) -> None:
    """Temp file + rename in the same directory, keeping an existing file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_file_sync(path: Path, content: str, sha256: str | None) -> FileResult:
    """Write `content` atomically; refuse (writing nothing) when it does not hash to `sha256`."""
    data = content.encode("utf-8")
    if sha256:
        got = hashlib.sha256(data).hexdigest()
        if got != _norm_sha(sha256):
            return FileResult(False, f"sha256 mismatch: expected {_norm_sha(sha256)}, got {got}")
    if path.is_dir():
        return FileResult(False, f"is a directory: {path}")
    try:
        _atomic_write(path, data)
    except OSError as e:
        return FileResult(False, f"cannot write {path}: {e.strerror or e}")
    return FileResult(True)


def edit_file_sync(path: Path, old: str, new: str) -> FileResult:
    """Replace `old` by `new`; only when `old` occurs exactly once, so an edit never lands twice."""
    if not old:
        return FileResult(False, "edit has empty old text")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return FileResult(False, f"file not found: {path}")
    except (OSError, UnicodeDecodeError) as e:
        return FileResult(False, f"cannot read {path}: {e}")
    count = text.count(old)
    if count != 1:
        return FileResult(False, f"old text found {count} times in {path} (expected exactly once)")
    try:
        _atomic_write(path, text.replace(old, new, 1).encode("utf-8"))
    except OSError as e:
        return FileResult(False, f"cannot write {path}: {e.strerror or e}")
    return FileResult(True)


@dataclass(slots=True)
class Call:
    """One call a `SimulatedRunner` received."""

    op: Literal["run_command", "write_file", "edit_file"]
    args: dict[str, Any] = field(default_factory=dict)


Script = Callable[[str], CommandResult] | Mapping[str, CommandResult]


class SimulatedRunner:
    """Runs nothing: records every call and answers from a script (default: exit 0, no output).

    Scripted stdout/stderr are streamed to `on_output` too, so engine streaming is exercised.
    `files` scripts file results by path (default: ok).
    """

    def __init__(
        self, script: Script | None = None, *, files: Mapping[str, FileResult] | None = None
    ) -> None:
        self.script = script
        self.files = dict(files or {})
        self.calls: list[Call] = []

    @property
    def commands(self) -> list[str]:
        return [c.args["command"] for c in self.calls if c.op == "run_command"]

    def _result(self, command: str) -> CommandResult:
        if self.script is None:
            return CommandResult(0)
        if callable(self.script):
            return self.script(command)
        return self.script.get(command) or CommandResult(0)

    async def run_command(
        self,
        command: str,
        *,
        shell: str,
        cwd: Path,
        env: Mapping[str, str],
        timeout_s: float,
        on_output: OutputSink = None,
    ) -> CommandResult:
        self.calls.append(
            Call(
                "run_command",
                {
                    "command": command,
                    "shell": shell,
                    "cwd": cwd,
                    "env": dict(env),
                    "timeout_s": timeout_s,
                },
            )
        )
        res = self._result(command)
        if on_output is not None:
            for name, text in (("stdout", res.stdout), ("stderr", res.stderr)):
                if text:
                    await on_output(name, text)
        return res

    async def write_file(self, path: Path, content: str, sha256: str | None) -> FileResult:
        self.calls.append(Call("write_file", {"path": path, "content": content, "sha256": sha256}))
        return self.files.get(str(path)) or FileResult(True)

    async def edit_file(self, path: Path, old: str, new: str) -> FileResult:
        self.calls.append(Call("edit_file", {"path": path, "old": old, "new": new}))
        return self.files.get(str(path)) or FileResult(True)
