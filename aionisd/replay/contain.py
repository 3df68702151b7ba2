"""A replay's processes, all of them, found and ended: `setsid` and double-forked ones included.

Two ways, chosen per runner. Where this process may create a cgroup v2 under its own, each step
runs in a cgroup of its own (`aionis-TAG-N`): the kernel keeps every descendant in it and
`cgroup.kill` ends them at once. Everywhere, each step carries `AIONIS_REPLAY_ID=TAG` and
`AIONIS_REPLAY_STEP=N` in its environment, which survive `setsid` and re-parenting, and the
process is a child subreaper; a sweep of /proc finds tagged processes, cgroup members and every
descendant of those. The tag is also how a daemon restarted after `kill -9` finds what its
predecessor's replays left running (they were re-parented to PID 1 by then).
"""

from __future__ import annotations

import contextlib
import errno
import glob
import logging
import os
import re
import signal
import weakref
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from pathlib import Path

import trio

log = logging.getLogger("aionisd.replay")

REPLAY_TAG = "AIONIS_REPLAY_ID"
STEP_TAG = "AIONIS_REPLAY_STEP"
CGROUP_PREFIX = "aionis-"
POLL_S = 0.01
KILL_WAIT_S = 2.0  # after SIGKILL: how long to wait for the last of them to be gone


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)


def cgroup_dir() -> tuple[Path | None, str]:
    """This process's cgroup v2 directory when children can be made there, else None and why."""
    try:
        own = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError as e:
        return None, f"cannot read /proc: {e.strerror or e}"
    rel = next((line[3:] for line in own if line.startswith("0::")), None)
    if rel is None:
        return None, "no cgroup v2 hierarchy"
    for line in mounts:
        fields, _, fs = line.partition(" - ")
        if fs.split(" ", 1)[0] != "cgroup2":
            continue
        f = fields.split()
        root, mnt = _unescape(f[3]), _unescape(f[4])
        if rel == root or rel.startswith(root.rstrip("/") + "/"):
            d = Path(mnt, rel[len(root) :].lstrip("/"))
            if not os.access(d, os.W_OK) or not (d / "cgroup.procs").exists():
                return None, f"{d} is not writable"
            return d, ""
    return None, "this process's cgroup v2 is not mounted here"


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(ppid, pgid, state) of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    rest = raw.rsplit(b")", 1)[1].split()
    return int(rest[1]), int(rest[2]), rest[0].decode()


def _alive(pid: int, tracked: AbstractSet[int]) -> bool:
    """Whether `pid` still runs; a dead child of ours is reaped unless someone else waits for it."""
    st = _stat(pid)
    if st is None:
        return False
    if st[2] not in "ZX":
        return True
    if st[0] == os.getpid() and pid not in tracked:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    return False


def _members(cgroups: Iterable[Path]) -> set[int]:
    pids: set[int] = set()
    for cg in cgroups:
        with contextlib.suppress(OSError, ValueError):
            pids.update(int(x) for x in (cg / "cgroup.procs").read_text().split())
    return pids


def scan(
    needles: Iterable[bytes], seeds: AbstractSet[int] = frozenset(), groups: AbstractSet[int] = frozenset()
) -> set[int]:
    """Live processes whose environment holds every `needles` entry, or in `seeds`, or in one of
    the process `groups`, and all their descendants; never this process."""
    marks = [b"\0" + n + b"\0" for n in needles]
    me = os.getpid()
    children: dict[int, list[int]] = {}
    found: set[int] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or (pid := int(entry.name)) == me:
            continue
        st = _stat(pid)
        if st is None or st[2] in "ZX":
            continue
        children.setdefault(st[0], []).append(pid)
        if pid in seeds or st[1] in groups:
            found.add(pid)
            continue
        if not marks:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = b"\0" + f.read()
        except OSError:
            continue
        if all(m in env for m in marks):
            found.add(pid)
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found and child != me:
                found.add(child)
                todo.append(child)
    return found


def _signal(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


class Containment:
    """Where one runner's processes are kept so that all of them can be found and ended.

    `how` says which way ("cgroup DIR" or "subreaper (why no cgroup)"). Each step gets a cgroup;
    one its step left empty is kept for the next step (making and removing one per step costs
    ~0.1 ms), the rest are removed by `end` (or, for a runner dropped without `end`, when it is
    collected, if they are empty by then).
    """

    def __init__(self, tag: str, *, cgroups: bool = True) -> None:
        self.tag = tag
        self.base, why = cgroup_dir() if cgroups else (None, "cgroups turned off")
        self.how = f"cgroup {self.base}" if self.base else f"subreaper ({why})"
        self.live: dict[int, Path] = {}
        self.spare: list[Path] = []
        weakref.finalize(self, _remove_empty, self.live, self.spare)

    def env(self, step: int) -> dict[str, str]:
        return {REPLAY_TAG: self.tag, STEP_TAG: str(step)}

    def _needles(self, step: int | None) -> list[bytes]:
        tags = [f"{REPLAY_TAG}={self.tag}".encode()]
        return tags if step is None else [*tags, f"{STEP_TAG}={step}".encode()]

    def _cgroups(self, step: int | None) -> list[Path]:
        if step is None:
            return list(self.live.values())
        return [self.live[step]] if step in self.live else []

    def _give_up_cgroups(self, why: str) -> None:
        log.warning("containment of %s falls back to the subreaper: %s", self.tag, why)
        self.how = f"subreaper ({why})"
        self.base = None

    def step_cgroup(self, step: int) -> Path | None:
        """An empty cgroup for this step, or None (and no more tries) when the kernel refuses one."""
        if self.base is None:
            return None
        path = self.spare.pop() if self.spare else self.base / f"{CGROUP_PREFIX}{self.tag}-{step}"
        try:
            path.mkdir(exist_ok=True)
        except OSError as e:
            self._give_up_cgroups(f"cannot create {path}: {e.strerror or e}")
            return None
        self.live[step] = path
        return path

    @contextlib.contextmanager
    def spawning(self, step: int) -> Iterator[None]:
        """Processes started inside are born in the step's cgroup: this process joins it for the
        spawn and leaves at once. Moving the shell after it started would race it (bash forks
        before the move lands, measured). The window is one spawn long; a worker thread that
        forked within it would put its child in the step's cgroup too."""
        path = self.live.get(step)
        if path is None or self.base is None:
            yield
            return
        home = self.base
        try:
            _join(path)
        except OSError as e:
            del self.live[step]
            with contextlib.suppress(OSError):
                path.rmdir()
            self._give_up_cgroups(f"cannot move into {path}: {e.strerror or e}")
            yield
            return
        try:
            yield
        finally:
            try:
                _join(home)
            except OSError as e:  # never kill a cgroup this process is still in
                del self.live[step]
                self._give_up_cgroups(f"cannot move back into {home}: {e.strerror or e}")

    def settle(self, step: int) -> None:
        """After a step's shell exits: its cgroup becomes the spare when nothing of it runs on."""
        path = self.live.get(step)
        if path is None or _populated(path):
            return
        del self.live[step]
        if self.spare:
            _rmdir_if_empty(path)
        else:
            self.spare.append(path)

    def find(self, step: int | None = None, groups: AbstractSet[int] = frozenset()) -> set[int]:
        """Live processes of one step (or of all steps): tagged, in its cgroup, in `groups`,
        and every descendant of those."""
        return scan(self._needles(step), _members(self._cgroups(step)), groups)

    async def end(
        self,
        step: int | None = None,
        *,
        grace_s: float = 0.0,
        groups: AbstractSet[int] = frozenset(),
        tracked: AbstractSet[int] = frozenset(),
    ) -> int:
        """SIGTERM the processes of one step (or all), SIGKILL what is left after `grace_s`, wait
        until they are gone and remove their cgroups; returns how many there were. Pids in
        `tracked` are left for their owner to reap."""
        seen = self.find(step, groups)
        if seen and grace_s > 0:
            _signal(seen, signal.SIGTERM)
            with trio.move_on_after(grace_s):
                while any(_alive(p, tracked) for p in seen):
                    await trio.sleep(POLL_S)
        with trio.move_on_after(KILL_WAIT_S):
            while True:
                cgroups = self._cgroups(step)
                for cg in cgroups:
                    _kill_cgroup(cg)
                left = self.find(step, groups)
                seen |= left
                _signal(left, signal.SIGKILL)
                if not any(_alive(p, tracked) for p in seen) and all(map(_rmdir_if_empty, cgroups)):
                    break
                await trio.sleep(POLL_S)
        for k in [k for k, cg in self.live.items() if not cg.exists()]:
            del self.live[k]
        if step is None:
            self.spare[:] = [cg for cg in self.spare if not _rmdir_if_empty(cg)]
        return len(seen)


def _join(cg: Path) -> None:
    fd = os.open(cg / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, b"0")  # "0" is the writer itself, every thread of it
    finally:
        os.close(fd)


def _kill_cgroup(cg: Path) -> None:
    """`cgroup.kill` (Linux 5.14+) ends every member at once, even one forking as it dies."""
    if os.getpid() in _members([cg]):
        return
    try:
        (cg / "cgroup.kill").write_text("1")
    except FileNotFoundError:
        _signal(_members([cg]), signal.SIGKILL)
    except OSError:
        pass


def _rmdir_if_empty(cg: Path) -> bool:
    """Remove a cgroup nothing runs in; True when it is gone."""
    try:
        cg.rmdir()
    except FileNotFoundError:
        return True
    except OSError as e:
        return e.errno not in (errno.EBUSY, errno.ENOTEMPTY)  # else not ours to keep trying
    return True


def _populated(cg: Path) -> bool:
    """Whether anything runs in `cg` (raw reads: a Python file object costs 3x, once per step)."""
    try:
        fd = os.open(cg / "cgroup.events", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return b"populated 1" in os.read(fd, 4096)
    finally:
        os.close(fd)


def _remove_empty(live: dict[int, Path], spare: list[Path]) -> None:
    for cg in [*live.values(), *spare]:
        _rmdir_if_empty(cg)


async def kill_leftovers(tag: str) -> int:
    """End what a killed daemon's replay `tag` left running: its cgroups under this process's
    cgroup and every process carrying its tag (re-parented to PID 1 by now); how many."""
    c = Containment(tag)
    if c.base is not None:
        for n, cg in enumerate(sorted(c.base.glob(f"{CGROUP_PREFIX}{glob.escape(tag)}-*"))):
            c.live[n] = cg
    return await c.end()


def remove_empty_cgroups() -> None:
    """Remove the empty `aionis-*` cgroups under this process's cgroup: what runners of killed
    processes left. A runner still using one of them makes it again on its next step (or, in
    the instant between making and joining it, falls back to the subreaper)."""
    base = cgroup_dir()[0]
    if base is not None:
        for cg in base.glob(f"{CGROUP_PREFIX}*"):
            if cg.is_dir() and not _populated(cg):
                _rmdir_if_empty(cg)
