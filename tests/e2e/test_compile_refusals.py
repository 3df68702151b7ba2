"""What `aionis compile` refuses, through the real CLI and daemon: an empty or wildcard run id
(it used to compile the store's only run), and signing with one's own revoked key (it used to
sign with it anyway); `aionis keys init` then makes a new key and compile works again."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Daemon, Xdg, aionis
from tests.support.e2e import synthetic_trace


def only_run(xdg: Xdg, tmp_path: Path) -> str:
    trace = synthetic_trace(tmp_path / "t.jsonl", tmp_path, ["touch a"], run_id="only")
    done = aionis(xdg, "ingest", str(trace), "--json")
    assert done.returncode == 0, done.stderr
    (run,) = json.loads(done.stdout)["runs"]
    return str(run["id"])


def test_empty_or_wildcard_run_id_compiles_nothing(daemon: Daemon, xdg: Xdg, tmp_path: Path) -> None:
    only_run(xdg, tmp_path)
    empty = aionis(xdg, "compile", "")
    assert empty.returncode == 1
    assert empty.stderr == "aionis: run_id is empty: name a run (see `aionis runs`)\n"
    for ref in ("%", "_", "%%"):
        wild = aionis(xdg, "compile", ref)
        assert wild.returncode == 1 and wild.stderr == f"aionis: no run {ref}\n", wild.stderr
    listed = aionis(xdg, "playbooks", "--json")
    assert json.loads(listed.stdout)["playbooks"] == []


def test_revoked_own_key_does_not_sign(daemon: Daemon, xdg: Xdg, tmp_path: Path) -> None:
    run = only_run(xdg, tmp_path)
    assert aionis(xdg, "compile", run, "--name", "first").returncode == 0  # makes and trusts a key
    old = json.loads(aionis(xdg, "keys", "list", "--json").stdout)["key"]
    assert aionis(xdg, "keys", "revoke", old["keyid"]).returncode == 0

    refused = aionis(xdg, "compile", run, "--new")  # a run compiled before signs only with --new
    assert refused.returncode == 1
    assert refused.stderr == (
        f"aionis: your signing key {old['keyid']} is revoked: run `aionis keys init` to make a new one\n"
    )
    names = [p["name"] for p in json.loads(aionis(xdg, "playbooks", "--json").stdout)["playbooks"]]
    assert names == ["first"]

    init = aionis(xdg, "keys", "init", "--json")
    assert init.returncode == 0, init.stderr
    new = json.loads(init.stdout)
    assert new["keyid"] != old["keyid"] and new["path"] == old["path"]
    keys = Path(old["path"]).parent
    assert (keys / "id_ed25519.revoked-1").exists() and (keys / "id_ed25519.pub.revoked-1").exists()
    assert (keys / "id_ed25519.revoked-1").stat().st_mode & 0o777 == 0o600

    again = aionis(xdg, "compile", run, "--new", "--json")
    assert again.returncode == 0, again.stderr
    pb = json.loads(again.stdout)
    assert aionis(xdg, "verify", pb["id"]).returncode == 0
    # A key that is not revoked is never replaced.
    twice = aionis(xdg, "keys", "init")
    assert twice.returncode == 1 and "a key already exists" in twice.stderr
