"""Copies of a workdir: the throwaway copy a shadow run writes in, and a guided replay's base, the
workdir as it was before its first step, which the repairs it proposes are shadow-run from (a
copy of the folder the replay left behind would test the patch against the wrong state).

A base is bounded (`LIMIT_BYTES`, `LIMIT_FILES`): a larger workdir gets no base, and its shadow
runs say so instead of testing from the wrong state. Bases live in one private folder per daemon,
swept at start, and each is removed when its replay and the shadow runs holding it are done.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from aionisd.paths import ensure_private_dir

LIMIT_BYTES = 256 * 1024 * 1024
LIMIT_FILES = 20_000
BASES_DIR = "replay-bases"


def retarget(value: str, real: str, copy: str) -> str:
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


def relink(copy: Path, real: Path) -> None:
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
                new = retarget(os.path.normpath(target), real_s, copy_s)
            elif resolved == real_s or resolved.startswith(real_s + "/"):
                continue
            else:
                new = resolved
            if new != target:
                os.unlink(link)
                os.symlink(new, link)


def copy_tree(workdir: Path, dest: Path) -> str | None:
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
    relink(dest, workdir)
    return note


def rmtree(path: Path) -> None:
    """Remove a tree even where the playbook made directories read-only."""

    def retry(func: Any, p: str, _exc: Any) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o700)
            if os.path.isdir(p) and not os.path.islink(p):
                os.chmod(p, 0o700)
            func(p)

    shutil.rmtree(path, onerror=retry)


def too_large(workdir: Path, limit_bytes: int = LIMIT_BYTES, limit_files: int = LIMIT_FILES) -> str | None:
    """Why `workdir` is too large for a base, or None; stops counting at the first limit passed."""
    size = files = 0
    for dirpath, dirnames, filenames in os.walk(workdir):
        for name in (*dirnames, *filenames):
            files += 1
            with contextlib.suppress(OSError):
                size += os.lstat(os.path.join(dirpath, name)).st_size
            if files > limit_files:
                return f"the workdir has more than {limit_files} files"
            if size > limit_bytes:
                return f"the workdir holds more than {limit_bytes // (1024 * 1024)} MiB"
    return None


@dataclass(slots=True)
class Base:
    """A guided replay's starting state, shared by its shadow runs: `path` is the copy (None when
    none could be made, `note` says why); the last of the replay and its shadow runs to let go
    removes it."""

    path: Path | None
    note: str | None = None
    refs: int = 1

    def hold(self) -> Base:
        self.refs += 1
        return self

    async def release(self) -> None:
        self.refs -= 1
        if self.refs == 0 and self.path is not None:
            path, self.path = self.path, None
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(rmtree, path)


def _take(workdir: Path, dest: Path, limit_bytes: int, limit_files: int) -> Base:
    why = too_large(workdir, limit_bytes, limit_files)
    if why is not None:
        return Base(None, f"no snapshot of the replay's start: {why}")
    ensure_private_dir(dest.parent)
    note = copy_tree(workdir, dest)
    return Base(dest, note)


async def take(
    workdir: Path, dest: Path, *, limit_bytes: int = LIMIT_BYTES, limit_files: int = LIMIT_FILES
) -> Base:
    """Copy `workdir` to `dest` (which must not exist), bounded; a Base without a path if too large."""
    return await trio.to_thread.run_sync(_take, workdir, dest, limit_bytes, limit_files)


def sweep(bases: Path) -> None:
    """Remove the bases a stopped daemon left behind (their replays and shadow runs ended with it)."""
    if bases.exists():
        rmtree(bases)
