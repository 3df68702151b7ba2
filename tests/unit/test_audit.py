"""The audit chain: each entry hashes the one before; editing one is found and named."""

from __future__ import annotations

import json
from pathlib import Path

import apsw

from aionisd.store import audit
from aionisd.store.db import Database


def test_chain_verifies_and_names_the_first_edited_entry(tmp_path: Path) -> None:
    db = Database(tmp_path / "a.db")
    with db.tx():
        for i in range(5):
            audit.append(db, "thing.done", f"s{i}", {"i": i})
    assert audit.verify(db) == {"ok": True, "entries": 5, "first_bad": None}
    raw = apsw.Connection(str(tmp_path / "a.db"))
    raw.execute("UPDATE audit SET data = ? WHERE seq = 3", (json.dumps({"i": 99}),))
    assert audit.verify(db) == {"ok": False, "entries": 3, "first_bad": 3}


def test_deleting_an_entry_breaks_the_chain(tmp_path: Path) -> None:
    db = Database(tmp_path / "a.db")
    with db.tx():
        for i in range(4):
            audit.append(db, "x", str(i), {})
    db.conn.execute("DELETE FROM audit WHERE seq = 2")
    res = audit.verify(db)
    assert res["ok"] is False and res["first_bad"] == 3


def test_empty_chain_is_intact(tmp_path: Path) -> None:
    assert audit.verify(Database(tmp_path / "a.db"))["ok"] is True
