"""The watcher against a model of what a user expects recorded (issue 20): whatever happens to
the files of a watched tree (appends, a line written in two parts, truncation, rewrite in place,
rotation, files and directories moved in or out, deletion, symlinks), every complete line of every
session that is or was in the tree is recorded, exactly once.

Real files in a temporary tree, a real SQLite store, the real Watcher queue and worker; each
operation is followed by the change watchfiles would report (`touch`) and a wait until the
worker is idle, then the store is compared with the model."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import trio
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from aionisd.watch import Watcher
from tests.support.watching import counts_agree, drain, make_service, recorded, start_line, step_line


@dataclass
class Log:
    """One session file as the model sees it: its complete step lines and a half-written one."""

    session: str
    keys: list[str] = field(default_factory=list)
    partial: tuple[str, bytes] | None = None  # (key, the bytes of its line not written yet)


class WatchedTree(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="aionis-model-"))
        self.tree, self.outside = self.tmp / "tree", self.tmp / "outside"
        self.tree.mkdir()
        self.outside.mkdir()
        self.service = make_service(self.tmp / "state")
        self.watcher = Watcher(self.service, {}, [self.tree])
        self.logs: dict[Path, Log] = {}  # files in the tree (symlinks included), by path
        self.expected: dict[str, set[str]] = {}
        self.ids = itertools.count()

    def teardown(self) -> None:
        self.service.db.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- helpers --------------------------------------------------------------------------------

    def fresh(self, prefix: str) -> str:
        return f"{prefix}{next(self.ids)}"

    def new_log(self, path: Path, steps: int) -> Log:
        """A new session file at `path` (outside or in the tree) with `steps` complete steps."""
        log = Log(self.fresh("s"), [self.fresh("k") for _ in range(steps)])
        path.write_bytes(start_line(log.session) + b"".join(step_line(log.session, k) for k in log.keys))
        return log

    def sync(self, *changed: Path) -> None:
        """Report the changes as watchfiles would, let the worker finish, and update the model."""
        for p in changed:
            self.watcher.touch(p)
        trio.run(drain, self.watcher)
        for log in self.logs.values():
            self.expected.setdefault(log.session, set()).update(log.keys)

    def pick(self, data: st.DataObject) -> Path:
        return data.draw(st.sampled_from(sorted(self.logs)))

    # -- operations -----------------------------------------------------------------------------

    @rule(steps=st.integers(0, 3), name=st.sampled_from(["a.jsonl", "b.jsonl", "c.jsonl"]))
    def create(self, steps: int, name: str) -> None:
        path = self.tree / name  # names come back after a delete: a reused inode is likely
        if path.exists() or path.is_symlink():
            return
        self.logs[path] = self.new_log(path, steps)
        self.sync(path)

    @precondition(lambda self: self.logs)
    @rule(data=st.data(), n=st.integers(1, 3))
    def append_lines(self, data: st.DataObject, n: int) -> None:
        path = self.pick(data)
        log = self.logs[path]
        if log.partial is not None:
            return
        keys = [self.fresh("k") for _ in range(n)]
        with path.open("ab") as f:
            f.write(b"".join(step_line(log.session, k) for k in keys))
        log.keys += keys
        self.sync(path)

    @precondition(lambda self: self.logs)
    @rule(data=st.data(), cut=st.integers(1, 60))
    def append_half_a_line(self, data: st.DataObject, cut: int) -> None:
        path = self.pick(data)
        log = self.logs[path]
        if log.partial is not None:
            return
        key = self.fresh("k")
        line = step_line(log.session, key)
        with path.open("ab") as f:
            f.write(line[:cut])
        log.partial = (key, line[cut:])
        self.sync(path)

    @precondition(lambda self: any(log.partial for log in self.logs.values()))
    @rule(data=st.data())
    def complete_the_line(self, data: st.DataObject) -> None:
        path = data.draw(st.sampled_from(sorted(p for p, log in self.logs.items() if log.partial)))
        log = self.logs[path]
        assert log.partial is not None
        key, rest = log.partial
        with path.open("ab") as f:
            f.write(rest)
        log.keys.append(key)
        log.partial = None
        self.sync(path)

    @precondition(lambda self: self.logs)
    @rule(data=st.data())
    def truncate(self, data: st.DataObject) -> None:
        path = self.pick(data)
        with path.open("r+b") as f:
            f.truncate(0)
        self.logs[path] = Log(self.logs[path].session)
        self.sync(path)

    @precondition(lambda self: self.logs)
    @rule(data=st.data(), extra=st.integers(1, 4))
    def rewrite_in_place(self, data: st.DataObject, extra: int) -> None:
        """`cat new > file`: same inode, other content, at least as long as before."""
        path = self.pick(data)
        log = self.logs[path]
        keys = [self.fresh("k") for _ in range(len(log.keys) + extra)]
        with path.open("r+b") as f:
            f.truncate(0)
            f.write(start_line(log.session) + b"".join(step_line(log.session, k) for k in keys))
        self.logs[path] = Log(log.session, keys)
        self.sync(path)

    @precondition(lambda self: self.logs)
    @rule(data=st.data(), steps=st.integers(0, 2))
    def rotate(self, data: st.DataObject, steps: int) -> None:
        """Rename away (within the tree) and start a new file under the old name."""
        path = self.pick(data)
        rotated = self.tree / f"{self.fresh('rotated')}.jsonl"
        os.rename(path, rotated)
        self.logs[rotated] = self.logs.pop(path)
        self.logs[path] = self.new_log(path, steps)
        self.sync(path, rotated)

    @rule(steps=st.integers(0, 3))
    def move_a_file_in(self, steps: int) -> None:
        src = self.outside / f"{self.fresh('in')}.jsonl"
        log = self.new_log(src, steps)
        dst = self.tree / src.name
        os.rename(src, dst)
        self.logs[dst] = log
        self.sync(dst)

    @rule(files=st.integers(1, 3), steps=st.integers(0, 2))
    def move_a_directory_in(self, files: int, steps: int) -> None:
        src = self.outside / self.fresh("dir")
        src.mkdir()
        logs = {f"{i}.jsonl": self.new_log(src / f"{i}.jsonl", steps) for i in range(files)}
        dst = self.tree / src.name
        os.rename(src, dst)
        self.logs.update({dst / name: log for name, log in logs.items()})
        self.sync(dst)  # watchfiles reports the directory, not its files

    @precondition(lambda self: self.logs)
    @rule(data=st.data())
    def move_out(self, data: st.DataObject) -> None:
        path = self.pick(data)
        os.rename(path, self.outside / self.fresh("out"))
        del self.logs[path]
        self.sync(path)

    @precondition(lambda self: self.logs)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        path = self.pick(data)
        path.unlink()
        del self.logs[path]
        self.sync(path)

    @rule(steps=st.integers(0, 3))
    def symlink_in(self, steps: int) -> None:
        """A link in the tree to a session file kept elsewhere; it is written through the link."""
        target = self.outside / f"{self.fresh('target')}.jsonl"
        log = self.new_log(target, steps)
        link = self.tree / f"{self.fresh('link')}.jsonl"
        link.symlink_to(target)
        self.logs[link] = log
        self.sync(link)

    @rule()
    def restart(self) -> None:
        """A new watcher on the same store scans the tree, as the daemon does at start."""
        self.watcher = Watcher(self.service, {}, [self.tree])
        self.sync(self.tree)

    # -- what must hold -------------------------------------------------------------------------

    @invariant()
    def every_complete_line_is_recorded_once(self) -> None:
        expected = {s: keys for s, keys in self.expected.items() if keys}
        assert recorded(self.service) == expected
        assert counts_agree(self.service)
        errors = self.service.db.rows("SELECT path, offset, reason FROM ingest_errors")
        assert errors == []


WatchedTree.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_the_watcher_records_what_a_user_expects = WatchedTree.TestCase
