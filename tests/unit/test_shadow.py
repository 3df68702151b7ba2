"""Shadow validation runs a patched playbook for real, in a copy, and never touches the original."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aionisd.replay.contain import REPLAY_TAG, STEP_TAG
from aionisd.services.shadow import ShadowResult, _probe, bwrap_argv, shadow_validate

HAVE_BWRAP, SANDBOX_WHY = _probe().ok, _probe().note or "bwrap unavailable"
needs_bwrap = pytest.mark.skipif(not HAVE_BWRAP, reason=f"bwrap unavailable: {SANDBOX_WHY}")
both_modes = pytest.mark.parametrize("use_sandbox", [True, False], ids=["auto", "plain"])


def playbook(
    *steps: dict[str, Any],
    success: list[dict[str, Any]] | None = None,
    params: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "schema": "aionis.playbook/v1",
        "name": "shadow-test",
        "version": 1,
        "params": params or [],
        "preconditions": [],
        "steps": [{"kind": "command", **s} for s in steps],
        "success": success or [],
    }


def tree_digest(root: Path) -> str:
    """Every path under `root` with its mode and content (or link target), in one hash."""
    h = hashlib.sha256()

    def walk() -> Iterator[Path]:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            yield Path(dirpath)
            for name in sorted(filenames) + [d for d in dirnames if Path(dirpath, d).is_symlink()]:
                yield Path(dirpath, name)

    for p in walk():
        st = p.lstat()
        h.update(f"{p.relative_to(root)}\0{st.st_mode:o}\0".encode())
        if p.is_symlink():
            h.update(os.readlink(p).encode())
        elif p.is_file():
            h.update(p.read_bytes())
        h.update(b"\1")
    return h.hexdigest()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    wd = tmp_path / "proj"
    (wd / "src").mkdir(parents=True)
    (wd / "src" / "app.py").write_text("print('v1')\n")
    (wd / "README.md").write_text("# proj\n")
    (wd / "run.sh").write_text("#!/bin/sh\necho run\n")
    (wd / "run.sh").chmod(0o755)
    (wd / "abs-link").symlink_to(wd / "README.md")
    (wd / "rel-link").symlink_to("src/app.py")
    return wd


@pytest.fixture
def own_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Shadow copies go here, so a test can see they are cleaned up."""
    d = tmp_path / "shadow-tmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


@both_modes
async def test_patched_playbook_passes_in_the_copy(workdir: Path, own_tmp: Path, use_sandbox: bool) -> None:
    doc = playbook(
        {"id": "build", "run": "mkdir -p build && cp src/app.py build/ && ./run.sh"},
        {"id": "write", "kind": "file_write", "path": "${workdir}/build/VERSION", "content": "2\n"},
        {"id": "edit", "kind": "file_edit", "path": "src/app.py", "old": "v1", "new": "v2"},
        success=[{"id": "ok", "run": "grep -q v2 src/app.py && test -f build/VERSION"}],
    )
    res = await shadow_validate(doc, workdir=workdir, params={}, env={}, use_sandbox=use_sandbox)

    assert res.status == "passed", res.reason
    assert res.sandbox == ("bwrap" if use_sandbox and HAVE_BWRAP else "plain")
    assert [s["status"] for s in res.steps] == ["succeeded"] * 3
    assert res.steps[0]["output_tail"] == "run\n"
    assert res.checks[0]["status"] == "succeeded"
    assert not (workdir / "build").exists()
    assert (workdir / "src" / "app.py").read_text() == "print('v1')\n"
    assert list(own_tmp.iterdir()) == []


@both_modes
async def test_real_workdir_is_byte_identical_after_writes_and_deletes(
    workdir: Path, use_sandbox: bool
) -> None:
    before = tree_digest(workdir)
    doc = playbook(
        {"run": "echo through-link > abs-link && chmod 600 abs-link && echo x > rel-link"},
        {"run": "rm -rf src && rm README.md run.sh && echo junk > new.txt"},
        {"run": "cd ${workdir} && mkdir -p d/e && touch d/e/f && chmod 000 d"},
        {"kind": "file_write", "path": "${workdir}/notes.txt", "content": "hi\n"},
        success=[{"run": "test ! -e src && test -f new.txt && test -f notes.txt"}],
    )
    res = await shadow_validate(doc, workdir=workdir, params={}, env={}, use_sandbox=use_sandbox)

    assert res.status == "passed", res.reason
    assert tree_digest(workdir) == before


async def test_a_param_naming_the_real_workdir_points_at_the_copy(workdir: Path) -> None:
    before = tree_digest(workdir)
    doc = playbook(
        {"run": "rm -rf ${target}/src && touch ${target}/marker"},
        params=[{"name": "target", "description": "project dir"}],
    )
    res = await shadow_validate(
        doc, workdir=workdir, params={"target": str(workdir)}, env={}, use_sandbox=False
    )
    assert res.status == "passed", res.reason
    assert tree_digest(workdir) == before


async def test_a_symlink_out_of_the_workdir_stays_a_link(tmp_path: Path, workdir: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("outside\n")
    (workdir / "ext").symlink_to(outside)
    (workdir / "up").symlink_to("../outside.txt")
    doc = playbook({"run": f'test "$(readlink ext)" = {outside} && test "$(readlink up)" = {outside}'})
    res = await shadow_validate(doc, workdir=workdir, params={}, env={})
    assert res.status == "passed", res.reason


@needs_bwrap
async def test_the_network_is_out_of_reach_under_bwrap(workdir: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        python = os.path.realpath(sys.executable)  # a venv under /tmp is hidden by the sandbox's /tmp
        connect = f"{python} -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)\""
        doc = playbook({"id": "net", "run": connect})
        sandboxed = await shadow_validate(doc, workdir=workdir, params={}, env={})
        plain = await shadow_validate(doc, workdir=workdir, params={}, env={}, use_sandbox=False)

    assert sandboxed.sandbox == "bwrap"
    assert sandboxed.status == "failed"
    assert "Error" in sandboxed.steps[0]["output_tail"]
    assert plain.status == "passed", plain.reason


async def test_the_daemon_environment_does_not_reach_the_step(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIONIS_TEST_LEAK", "1")
    doc = playbook(
        {"id": "env", "run": 'echo "leak=${AIONIS_TEST_LEAK-unset} home=$HOME"; env | sort'},
        {"id": "secret", "run": 'test "$API_TOKEN" = s3cret-value && echo "$API_TOKEN"'},
        params=[{"name": "api_token", "secret": True}],
    )
    caller_env = {**os.environ, "API_TOKEN": "s3cret-value"}
    res = await shadow_validate(doc, workdir=workdir, params={}, env=caller_env)

    assert res.status == "passed", res.reason
    out = res.steps[0]["output_tail"]
    assert "leak=unset" in out
    home = out.split("home=", 1)[1].split()[0]
    assert home != os.environ.get("HOME")
    assert Path(home).name == "home" and Path(home).parent.name.startswith("aionis-shadow-")
    names = {line.split("=", 1)[0] for line in out.splitlines()[1:] if "=" in line}
    assert "AIONIS_TEST_LEAK" not in names
    assert names <= {
        "PATH",
        "LANG",
        "TERM",
        "HOME",
        "API_TOKEN",
        "api_token",
        "PWD",
        "SHLVL",
        "_",
        "OLDPWD",
        REPLAY_TAG,  # the runner's containment tags
        STEP_TAG,
    }
    assert res.steps[1]["output_tail"] == "***\n"


async def test_home_is_the_scratch_home_and_real_home_is_untouched(tmp_path: Path, workdir: Path) -> None:
    real_home = tmp_path / "realhome"
    real_home.mkdir()
    doc = playbook(
        {"run": 'echo cfg > "$HOME/.toolrc" && test "${home}" = "$HOME"'},
        {"kind": "file_write", "path": "${home}/.other", "content": "x\n"},
        success=[{"run": "test -f ~/.toolrc && test -f ${home}/.other"}],
    )
    res = await shadow_validate(doc, workdir=workdir, params={}, env={"HOME": str(real_home)})
    assert res.status == "passed", res.reason
    assert list(real_home.iterdir()) == []


@both_modes
async def test_the_sandbox_named_is_the_one_that_ran(tmp_path: Path, use_sandbox: bool) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    # A parameter could not lead there (bind refuses it); the playbook's own text can.
    doc = playbook({"run": f"touch {outside}/canary"})
    res = await shadow_validate(
        doc,
        workdir=tmp_path / "missing",
        params={},
        env={},
        use_sandbox=use_sandbox,
    )
    if use_sandbox and HAVE_BWRAP:
        assert res.sandbox == "bwrap"
        assert res.status == "failed"
        assert not (outside / "canary").exists()
    else:
        assert res.sandbox == "plain"
        assert res.status == "passed", res.reason
        assert (outside / "canary").exists()
        assert res.sandbox_note


async def test_a_failing_step_fails_with_its_output_tail(workdir: Path) -> None:
    doc = playbook(
        {"id": "noisy", "run": "seq 1 5000"},
        {"id": "boom", "run": "seq 1 3000; echo boom-marker >&2; exit 3"},
        {"id": "after", "run": "true"},
    )
    res = await shadow_validate(doc, workdir=workdir, params={}, env={})

    assert res.status == "failed"
    assert "boom" in res.reason and "exit code 3" in res.reason
    assert [s["status"] for s in res.steps] == ["succeeded", "failed", "not_run"]
    tail = res.steps[1]["output_tail"]
    assert tail.endswith("boom-marker\n")
    assert "3000\n" in tail
    assert res.steps[1]["exit_code"] == 3
    assert all(len(s["output_tail"].encode()) <= 2048 for s in res.steps)
    assert res.steps[0]["output_tail"].endswith("4999\n5000\n")
    assert json.loads(json.dumps(res.to_dict())) == res.to_dict()


async def test_a_refused_replay_is_a_failure_that_says_why(workdir: Path) -> None:
    doc = playbook({"run": "true"}, params=[{"name": "needed", "description": "no default"}])
    res = await shadow_validate(doc, workdir=workdir, params={}, env={})
    assert res.status == "failed"
    assert res.reason.startswith("refused: ") and "needed" in res.reason


async def test_the_whole_run_is_bounded_by_its_timeout(workdir: Path, own_tmp: Path) -> None:
    started = time.monotonic()
    doc = playbook({"id": "hang", "run": "sleep 30 & sleep 30"})
    res = await shadow_validate(doc, workdir=workdir, params={}, env={}, timeout_s=0.5)
    assert time.monotonic() - started < 5
    assert res.status == "failed"
    assert "timed out" in res.reason
    assert list(own_tmp.iterdir()) == []


async def test_keep_leaves_the_copy_for_a_reviewer(workdir: Path, own_tmp: Path) -> None:
    doc = playbook({"run": "echo made > made.txt"})
    res = await shadow_validate(doc, workdir=workdir, params={}, env={}, keep=True)
    assert res.kept_at is not None
    kept = Path(res.kept_at)
    assert kept.parent == own_tmp
    assert (kept / "work" / "made.txt").read_text() == "made\n"
    assert (kept / "work" / "README.md").read_text() == "# proj\n"


def test_bwrap_argv_confines_to_the_copy_and_home() -> None:
    copy, home = Path("/tmp/s/work"), Path("/tmp/s/home")
    argv = bwrap_argv(copy, home)
    assert argv[:5] == ["bwrap", "--ro-bind", "/", "/", "--dev"]
    joined = " ".join(argv)
    assert f"--bind {copy} {copy}" in joined and f"--bind {home} {home}" in joined
    assert argv.index("--tmpfs") < argv.index("--bind")
    assert "--unshare-net" in argv and "--unshare-pid" in argv and "--die-with-parent" in argv
    assert "--unshare-net" not in bwrap_argv(copy, home, network=True)
    assert "--chdir" not in argv


def test_result_to_dict_is_json_ready() -> None:
    res = ShadowResult("passed", "plain", "ok", steps=[{"index": 0}], sandbox_note="why")
    assert json.loads(json.dumps(res.to_dict()))["sandbox_note"] == "why"
