"""A database the daemon cannot use stops it with one line naming the file and what to do, never a
traceback: random bytes, a truncated copy, an overwritten page, a directory, a path under a file,
an unreadable file. A damaged page is noticed at start (quick_check), not at some later query."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aionisd.store import audit
from aionisd.store.db import Database, StoreError
from tests.conftest import Xdg

PAGE = 4096


def real_db(path: Path, entries: int = 400) -> Path:
    """A real store of several pages (audit entries, written as the daemon writes them), closed."""
    db = Database(path)
    with db.tx():
        for i in range(entries):
            audit.append(db, "test.entry", f"subject-{i}", {"i": i, "pad": "x" * 200})
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    assert path.stat().st_size > 20 * PAGE
    return path


def start_on(xdg: Xdg, db: Path) -> subprocess.CompletedProcess[str]:
    """aionisd on `db`: it must exit on its own (a good database would keep it running)."""
    return subprocess.run(
        [sys.executable, "-m", "aionisd.daemon", "--no-watch", "--db", str(db)],
        env={**os.environ, **xdg.env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line(xdg: Xdg, db: Path, *words: str) -> str:
    done = start_on(xdg, db)
    lines = done.stderr.splitlines()
    assert done.returncode == 1, done.stderr
    assert len(lines) == 1 and lines[0].startswith("aionisd: "), done.stderr
    assert str(db) in lines[0] and all(w in lines[0] for w in words), lines[0]
    assert not xdg.socket.exists(), "the socket is removed on the way out"
    return lines[0]


def overwrite(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(data)


def test_random_bytes(xdg: Xdg, tmp_path: Path) -> None:
    db = tmp_path / "aionis.db"
    db.write_bytes(random.Random(1).randbytes(8 * PAGE))
    line = one_line(xdg, db, "is corrupt", "move it aside and restart, or restore a backup")
    assert "file is not a database" in line


def test_truncated_copy(xdg: Xdg, tmp_path: Path) -> None:
    db = real_db(tmp_path / "real.db")
    cut = tmp_path / "aionis.db"
    shutil.copyfile(db, cut)
    os.truncate(cut, db.stat().st_size // 2)
    one_line(xdg, cut, "is corrupt")


def test_overwritten_page_is_noticed_at_start(xdg: Xdg, tmp_path: Path) -> None:
    db = real_db(tmp_path / "aionis.db")
    overwrite(db, 10 * PAGE, random.Random(2).randbytes(PAGE))
    one_line(xdg, db, "is corrupt", "quick_check")


def test_directory_in_its_place(xdg: Xdg, tmp_path: Path) -> None:
    db = tmp_path / "aionis.db"
    db.mkdir()
    one_line(xdg, db, "cannot open the database", "--db")


def test_path_under_a_file(xdg: Xdg, tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("a file, not a directory")
    one_line(xdg, tmp_path / "plain" / "aionis.db", "cannot open the database")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file (test_path_under_a_file covers it)")
def test_unreadable_file(xdg: Xdg, tmp_path: Path) -> None:
    db = real_db(tmp_path / "aionis.db")
    db.chmod(0)
    one_line(xdg, db, "cannot open the database")


def test_good_database_passes_quick_check(tmp_path: Path) -> None:
    db = Database(real_db(tmp_path / "aionis.db"))
    db.quick_check()
    db.close()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A path, not the bytes: hypothesis shows a failing case's arguments, and 800 kB is no help."""
    return real_db(tmp_path_factory.mktemp("pristine") / "aionis.db")


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    offset=st.integers(min_value=0, max_value=40 * PAGE),
    damage=st.binary(min_size=1, max_size=PAGE),
    cut=st.none() | st.integers(min_value=0, max_value=40 * PAGE),
)
def test_any_damage_opens_or_is_one_store_error(
    pristine: Path, tmp_path_factory: pytest.TempPathFactory, offset: int, damage: bytes, cut: int | None
) -> None:
    """Whatever the damage, opening and checking either works or raises StoreError, never another
    exception (which would reach the user as a traceback)."""
    path = tmp_path_factory.mktemp("damaged") / "aionis.db"
    data = bytearray(pristine.read_bytes())
    data[offset : offset + len(damage)] = damage
    path.write_bytes(bytes(data[:cut] if cut is not None else data))
    try:
        db = Database(path)
    except StoreError as e:
        assert "\n" not in str(e) and str(path) in str(e)
        return
    try:
        db.quick_check()
    except StoreError as e:
        assert "\n" not in str(e) and str(path) in str(e)
    finally:
        db.close()
