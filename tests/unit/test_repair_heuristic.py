"""Local repair rules on real failure output: each rule, its fix run for real, and no-matches."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from aionisd.repair import Failure, Proposal, RepairRequest, heuristic
from aionisd.repair.patch import InvalidPatch, apply
from tests.support.playbooks import command_step, make_playbook


def sh(run: str, workdir: Path, path_env: str | None = None) -> Failure:
    """Run a step's command the way the runner does (bash -c, ${workdir} rendered)."""
    env = dict(os.environ)
    if path_env is not None:
        env["PATH"] = path_env
    done = subprocess.run(
        ["/bin/bash", "-c", run.replace("${workdir}", str(workdir))],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return Failure(done.returncode, done.stdout, done.stderr)


def request(doc: dict[str, Any], index: int, failure: Failure) -> RepairRequest:
    return RepairRequest(doc=doc, step_index=index, step=doc["steps"][index], failure=failure)


def failing(run: str, failure: Failure, **extra: Any) -> RepairRequest:
    doc = make_playbook(command_step("s1", "true"), command_step("s2", run, **extra))
    return request(doc, 1, failure)


def patched_run(req: RepairRequest, proposal: Proposal | None) -> str:
    assert proposal is not None
    assert proposal.source == "heuristic" and proposal.action == "retry"
    assert proposal.rationale
    doc = apply(req.doc, proposal.patch)
    run: str = doc["steps"][req.step_index]["run"]
    return run


# --- missing program -------------------------------------------------------------------------


def test_python_not_found_becomes_python3(tmp_path: Path) -> None:
    run = "python -V && echo python && FOO=1 python -c 'print(1)'"
    failure = sh(run, tmp_path, path_env=str(tmp_path / "empty-bin"))
    assert failure.exit_code == 127 and "python: command not found" in failure.stderr
    req = failing(run, failure)
    new = patched_run(req, heuristic.missing_program(req))
    assert new == "python3 -V && echo python && FOO=1 python3 -c 'print(1)'"
    assert sh(new, tmp_path).exit_code == 0


def test_pip_not_found_under_sh_becomes_python3_m_pip() -> None:
    failure = Failure(127, "", "/bin/sh: 1: pip: not found\n")
    req = failing("sudo pip install -r requirements.txt", failure)
    new = patched_run(req, heuristic.missing_program(req))
    assert new == "sudo python3 -m pip install -r requirements.txt"


def test_docker_compose_both_ways() -> None:
    req = failing("docker-compose up -d", Failure(127, "", "zsh: command not found: docker-compose"))
    assert patched_run(req, heuristic.missing_program(req)) == "docker compose up -d"
    back = Failure(1, "", "docker: 'compose' is not a docker command.\nSee 'docker --help'")
    req = failing("docker compose up -d && docker ps", back)
    assert patched_run(req, heuristic.missing_program(req)) == "docker-compose up -d && docker ps"


def test_exit_127_without_a_message_guesses_the_only_aliased_program() -> None:
    req = failing("cd ${workdir} && pytest -q", Failure(127, "", ""))
    assert patched_run(req, heuristic.missing_program(req)) == "cd ${workdir} && python3 -m pytest -q"


def test_command_available_preconditions_follow_the_rename() -> None:
    doc = make_playbook(command_step("s1", "pip install -e . && python -m build"))
    doc["preconditions"] = [
        {"type": "cwd_exists", "path": "${workdir}"},
        {"type": "command_available", "name": "pip"},
        {"type": "command_available", "name": "git"},
    ]
    failure = Failure(127, "", "bash: line 1: pip: command not found\n")
    proposal = heuristic.missing_program(request(doc, 0, failure))
    assert proposal is not None
    patched = apply(doc, proposal.patch)
    assert patched["steps"][0]["run"] == "python3 -m pip install -e . && python -m build"
    assert [p.get("name") for p in patched["preconditions"]] == [None, "python3", "git"]


def test_shell_that_bashlex_cannot_parse_still_gets_its_alias() -> None:
    req = failing("time python build.py", Failure(127, "", "bash: python: command not found"))
    assert patched_run(req, heuristic.missing_program(req)) == "time python3 build.py"


def test_missing_program_without_a_known_alias_is_no_match(tmp_path: Path) -> None:
    run = "cargo build --release"
    failure = sh(run, tmp_path, path_env=str(tmp_path / "empty-bin"))
    assert failure.exit_code == 127
    assert heuristic.missing_program(failing(run, failure)) is None
    # the program that is missing must be in the step: here the script calls python itself
    failure = Failure(127, "", "./build.sh: line 3: python: command not found")
    assert heuristic.missing_program(failing("./build.sh", failure)) is None


def test_the_patch_is_guarded_by_the_old_command() -> None:
    req = failing("python x.py", Failure(127, "", "bash: python: command not found"))
    proposal = heuristic.missing_program(req)
    assert proposal is not None
    assert {"op": "test", "path": "/steps/1/run", "value": "python x.py"} in proposal.patch
    moved_on = make_playbook(command_step("s1", "true"), command_step("s2", "python y.py"))
    with pytest.raises(InvalidPatch, match="test"):
        apply(moved_on, proposal.patch)


# --- missing parent directory ----------------------------------------------------------------


def test_redirect_into_a_missing_directory_inserts_mkdir_before(tmp_path: Path) -> None:
    run = "echo hi > ${workdir}/build/out.txt"
    failure = sh(run, tmp_path)
    assert "No such file or directory" in failure.stderr
    req = failing(run, failure)
    proposal = heuristic.missing_parent_dir(req)
    assert proposal is not None
    doc = apply(req.doc, proposal.patch)
    assert [s["id"] for s in doc["steps"]] == ["s1", "s3", "s2"]
    mkdir = doc["steps"][1]
    assert mkdir["run"] == 'mkdir -p "${workdir}/build"'
    assert mkdir["cwd"] == "${workdir}" and mkdir["kind"] == "command"
    assert sh(mkdir["run"], tmp_path).exit_code == 0
    assert sh(run, tmp_path).exit_code == 0
    assert (tmp_path / "build" / "out.txt").read_text() == "hi\n"


def test_cp_and_touch_into_missing_directories(tmp_path: Path) -> None:
    (tmp_path / "app.example").write_text("x")
    for run, directory in [
        ("cp app.example 'conf dir/app.toml'", 'mkdir -p "conf dir"'),
        ("touch ${workdir}/logs/app.log", 'mkdir -p "${workdir}/logs"'),
    ]:
        req = failing(run, sh(run, tmp_path))
        proposal = heuristic.missing_parent_dir(req)
        assert proposal is not None, run
        inserted = apply(req.doc, proposal.patch)["steps"][1]
        assert inserted["run"] == directory
        assert sh(inserted["run"], tmp_path).exit_code == 0
        assert sh(run, tmp_path).exit_code == 0


def test_mkdir_without_parents_gets_p(tmp_path: Path) -> None:
    run = "mkdir build/out && touch build/out/.keep"
    req = failing(run, sh(run, tmp_path))
    new = patched_run(req, heuristic.missing_parent_dir(req))
    assert new == "mkdir -p build/out && touch build/out/.keep"
    assert sh(new, tmp_path).exit_code == 0


def test_inserted_steps_get_a_new_id_of_the_schema_form() -> None:
    doc = make_playbook(command_step("s7", "true"), command_step("s2", "echo hi > out/x.txt"))
    failure = Failure(1, "", "bash: line 1: out/x.txt: No such file or directory\n")
    proposal = heuristic.missing_parent_dir(request(doc, 1, failure))
    assert proposal is not None
    assert [s["id"] for s in apply(doc, proposal.patch)["steps"]] == ["s7", "s8", "s2"]


def test_file_write_into_a_missing_directory() -> None:
    write = command_step("s2", "unused", kind="file_write", path="${workdir}/docs/guide.md")
    del write["run"], write["shell"]
    write.update(content="# guide\n", sha256=hashlib.sha256(b"# guide\n").hexdigest())
    doc = make_playbook(command_step("s1", "true"), write)
    failure = Failure(None, "", "[Errno 2] No such file or directory: '/w/docs/.guide.md.tmp'")
    proposal = heuristic.missing_parent_dir(request(doc, 1, failure))
    assert proposal is not None
    inserted = apply(doc, proposal.patch)["steps"][1]
    assert inserted["run"] == 'mkdir -p "${workdir}/docs"' and inserted["cwd"] == "${workdir}"
    assert inserted["shell"] == "bash -c"


def test_reading_a_missing_file_is_not_a_missing_directory(tmp_path: Path) -> None:
    for run in ["cat notes/missing.txt", "sort < data/in.txt", "./scripts/setup.sh"]:
        failure = sh(run, tmp_path)
        assert "No such file or directory" in failure.stderr
        assert heuristic.missing_parent_dir(failing(run, failure)) is None, run


# --- already exists --------------------------------------------------------------------------


def test_mkdir_of_an_existing_directory_becomes_mkdir_p(tmp_path: Path) -> None:
    (tmp_path / "build").mkdir()
    run = "mkdir build && cd build"
    req = failing(run, sh(run, tmp_path))
    new = patched_run(req, heuristic.already_exists(req))
    assert new == "mkdir -p build && cd build"
    assert sh(new, tmp_path).exit_code == 0


def test_existing_symlink_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "env.shared").write_text("A=1\n")
    run = "ln -s env.shared .env"
    assert sh(run, tmp_path).exit_code == 0
    req = failing(run, sh(run, tmp_path))
    new = patched_run(req, heuristic.already_exists(req))
    assert new == "ln -fn -s env.shared .env"
    assert sh(new, tmp_path).exit_code == 0


def test_git_remote_add_becomes_idempotent(tmp_path: Path) -> None:
    run = "git init -q && git remote add origin https://example.com/r.git && git remote -v"
    assert sh(run, tmp_path).exit_code == 0
    req = failing(run, sh(run, tmp_path))
    assert "already exists" in req.failure.stderr
    new = patched_run(req, heuristic.already_exists(req))
    assert new == (
        "git init -q && { git remote add origin https://example.com/r.git 2>/dev/null"
        " || git remote set-url origin https://example.com/r.git; } && git remote -v"
    )
    done = sh(new, tmp_path)
    assert done.exit_code == 0 and "example.com/r.git" in done.stdout
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert sh(new, fresh).exit_code == 0


def test_git_clone_into_an_existing_checkout_is_skipped(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    assert (
        sh(
            "git init -q && git -c user.name=t -c user.email=t@e commit -q --allow-empty -m init",
            origin,
        ).exit_code
        == 0
    )
    run = f"git clone -q {origin} ${{workdir}}/checkout"
    assert sh(run, tmp_path).exit_code == 0
    req = failing(run, sh(run, tmp_path))
    new = patched_run(req, heuristic.already_exists(req))
    assert new == f"[ -d ${{workdir}}/checkout/.git ] || git clone -q {origin} ${{workdir}}/checkout"
    assert sh(new, tmp_path).exit_code == 0


def test_already_exists_does_not_touch_unrelated_failures(tmp_path: Path) -> None:
    for run in ["git remote -v", "ls existing-not", "mkdir -p build && false"]:
        failure = sh(run, tmp_path)
        assert failure.exit_code != 0
        assert heuristic.already_exists(failing(run, failure)) is None, run


# --- transient network errors ----------------------------------------------------------------


def test_could_not_resolve_host_raises_retries() -> None:
    failure = Failure(6, "", "curl: (6) Could not resolve host: downloads.example.com\n")
    req = failing("curl -fsSLO https://downloads.example.com/x.tgz", failure)
    proposal = heuristic.transient_network(req)
    assert proposal is not None
    step = apply(req.doc, proposal.patch)["steps"][1]
    assert step["retry"] == {"attempts": 3, "backoff_s": 2}
    assert {"op": "test", "path": "/steps/1/retry", "value": {"attempts": 1, "backoff_s": 0}} in (
        proposal.patch
    )


def test_503_raises_retries_further_then_gives_up() -> None:
    failure = Failure(1, "", "ERROR: HTTP error 503 while getting https://pypi.org/simple/x\n")
    req = failing("pip download x", failure, retry={"attempts": 3, "backoff_s": 2})
    proposal = heuristic.transient_network(req)
    assert proposal is not None
    assert apply(req.doc, proposal.patch)["steps"][1]["retry"] == {"attempts": 5, "backoff_s": 4}
    exhausted = failing("pip download x", failure, retry={"attempts": 5, "backoff_s": 4})
    assert heuristic.transient_network(exhausted) is None


def test_a_step_without_retry_gets_one() -> None:
    doc = make_playbook(command_step("s1", "git fetch origin"))
    del doc["steps"][0]["retry"]
    failure = Failure(128, "", "fatal: unable to access: Connection reset by peer\n")
    proposal = heuristic.transient_network(request(doc, 0, failure))
    assert proposal is not None
    assert [op["op"] for op in proposal.patch] == ["test", "add"]


def test_ordinary_errors_are_not_transient(tmp_path: Path) -> None:
    run = "echo 'error: expected ; before }' >&2; exit 2"
    assert heuristic.transient_network(failing(run, sh(run, tmp_path))) is None


# --- the rule chain --------------------------------------------------------------------------


def test_propose_uses_the_first_matching_rule_or_none(tmp_path: Path) -> None:
    req = failing("python x.py", Failure(127, "", "bash: python: command not found"))
    proposal = heuristic.propose(req)
    assert proposal is not None and "python3" in patched_run(req, proposal)
    run = "false"
    assert heuristic.propose(failing(run, sh(run, tmp_path))) is None


def test_a_step_index_outside_the_document_is_no_match() -> None:
    doc = make_playbook(command_step("s1", "python x.py"))
    req = RepairRequest(doc, 4, doc["steps"][0], Failure(127, "", "python: command not found"))
    assert heuristic.propose(req) is None
