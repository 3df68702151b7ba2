"""Parameters, preconditions, confinement and simulate, against real files and the GIVEN env."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aionisd.replay.checks import (
    PathEscape,
    command_needs,
    confine,
    evaluate_preconditions,
    resolve_params,
    simulate,
    substitute,
)
from tests.support.e2e import playbook


def cmd(run: str, **extra: Any) -> dict[str, Any]:
    return {"id": f"s-{abs(hash(run)) % 1000}", "kind": "command", "run": run, **extra}


def test_substitute_known_names_only() -> None:
    values = {"workdir": "/w", "name": "x"}
    assert substitute("${workdir}/${name} $HOME ${HOME} ${other}", values) == ("/w/x $HOME ${HOME} ${other}")
    assert substitute("no params", values) == "no params"


def test_resolve_params(workdir: Path, env: dict[str, str]) -> None:
    doc = playbook(
        [],
        params=[
            {"name": "venv", "default": "${workdir}/.venv"},
            {"name": "version", "default": "1.0"},
            {"name": "branch"},
            {"name": "api_token", "secret": True},
            {"name": "db_password", "secret": True},
        ],
    )
    res = resolve_params(
        doc,
        {"version": "2.0", "api_token": "from-args-is-ignored"},
        env={**env, "API_TOKEN": "t0k"},
        workdir=workdir,
    )
    assert res.values["workdir"] == str(workdir)
    assert res.values["home"] == env["HOME"]
    assert res.values["venv"] == f"{workdir}/.venv"
    assert res.values["version"] == "2.0"
    assert res.values["api_token"] == "t0k"
    assert res.missing == ["branch", "db_password"]
    assert res.secrets == {"api_token", "db_password"}
    assert res.secret_values() == ["t0k"]


def test_home_missing_only_when_used(workdir: Path) -> None:
    uses_home = playbook([cmd("ls ${home}/.config")])
    assert resolve_params(uses_home, {}, env={}, workdir=workdir).missing == ["home"]
    assert resolve_params(playbook([cmd("ls")]), {}, env={}, workdir=workdir).missing == []


def test_preconditions_use_the_given_env_and_workdir(workdir: Path, env: dict[str, str]) -> None:
    bindir = workdir / "bin"
    bindir.mkdir()
    tool = bindir / "mytool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    (workdir / "pyproject.toml").write_text("")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    busy = listener.getsockname()[1]
    pre = [
        {"type": "command_available", "name": "mytool"},
        {"type": "command_available", "name": "sh"},
        {"type": "file_exists", "path": "${workdir}/pyproject.toml"},
        {"type": "file_exists", "path": "missing.txt"},
        {"type": "path_absent", "path": ".venv"},
        {"type": "path_absent", "path": "pyproject.toml"},
        {"type": "cwd_exists", "path": "${workdir}/bin"},
        {"type": "env_set", "name": "CI"},
        {"type": "env_set", "name": "HOME"},
        {"type": "port_free", "port": busy},
        {"type": "port_free", "port": "${port}"},
        {"type": "from_the_future"},
    ]
    doc = playbook([], preconditions=pre, params=[{"name": "port"}])
    with listener:
        got = evaluate_preconditions(doc, {"workdir": str(workdir)}, {"PATH": str(bindir)}, workdir)
    oks = [c.ok for c in got]
    assert oks == [True, False, True, False, True, False, True, False, False, False, False, False]
    assert "sh not found on PATH" in got[1].reason  # the daemon's PATH has sh; the given one not
    assert "in use" in got[9].reason
    assert "missing parameter(s): port" in got[10].reason
    assert "unknown precondition type" in got[11].reason
    free = evaluate_preconditions(
        playbook([], preconditions=[{"type": "port_free", "port": busy}]), {}, env, workdir
    )
    assert free[0].ok  # the listener is closed now


def test_confine(workdir: Path, env: dict[str, str]) -> None:
    home = Path(env["HOME"])
    assert confine("a/b.txt", workdir, home) == workdir.resolve() / "a/b.txt"
    assert confine(f"{home}/.config/x", workdir, home) == home.resolve() / ".config/x"
    assert confine(str(workdir), workdir, home) == workdir.resolve()
    for bad in ("../../etc/passwd", "/etc/passwd", "sub/../../outside"):
        with pytest.raises(PathEscape):
            confine(bad, workdir, home)
    (workdir / "link").symlink_to("/etc")
    with pytest.raises(PathEscape, match="escapes"):
        confine("link/passwd", workdir, home)
    with pytest.raises(PathEscape):
        confine(f"{home}/x", workdir, None)


def test_command_needs() -> None:
    assert command_needs("FOO=1 sudo -E mytool --x").actions == (("run", "mytool"),)
    assert command_needs("cd sub && ./run.sh | tee log").actions == (
        ("cd", "sub"), ("run", "./run.sh"), ("run", "tee"),
    )  # fmt: skip
    needs = command_needs('for f in *.py; do black "$f"; done; echo "$TOKEN ${OPT:-x}" $(git log)')
    assert ("run", "black") in needs.actions and ("run", "git") in needs.actions
    assert "TOKEN" in needs.env_refs and "OPT" not in needs.env_refs
    assert "f" in needs.assigned
    assert command_needs("command -v foo || install-foo").actions == (("run", "install-foo"),)
    assert command_needs("[[ -d x ]] && weird-tool").actions[-1] == ("run", "weird-tool")
    read = command_needs("[[ $(pwd) == x ]] && weird-tool")  # bashlex could not; shell.parse can
    assert read.actions == (("run", "[["), ("run", "weird-tool"), ("run", "pwd")) and not read.opaque
    unparsed = command_needs('echo "unterminated && weird-tool')  # nothing reads it: first word only
    assert unparsed.actions == (("run", "echo"),) and unparsed.opaque
    keyword = command_needs("function g { ls; }; g")  # the name, not the `function` keyword
    assert keyword.actions == (("define", "g"), ("run", "ls"), ("run", "g"))
    assert command_needs("f() { ls; }; f").actions[0] == ("define", "f")
    assert "L" in command_needs("mapfile -t L < x; echo $L").assigned
    fast = command_needs('export A=1; FOO=$BAR make "$A $B ${C:-x} ${D:?}"')  # no parser needed
    assert fast.actions == (("run", "export"), ("run", "make"))
    assert (fast.env_refs, fast.assigned) == ({"A", "B", "BAR", "D"}, {"A", "FOO"})
    assert command_needs("echo '$SINGLE'").env_refs == set()
    assert command_needs("$PYTHON -m pip && cd $DIR && ./x").actions == (("cd", ""), ("run", "./x"))
    assert command_needs("source .venv/bin/activate && echo $VIRTUAL_ENV").opaque


_NAME = st.from_regex(r"[a-z][a-z0-9]{0,6}_", fullmatch=True)  # no keyword, builtin or wrapper


@given(
    st.lists(
        st.tuples(st.lists(st.from_regex(r"[A-Z]{1,4}", fullmatch=True), max_size=2), _NAME, _NAME),
        min_size=1,
        max_size=5,
    ),
    st.lists(st.sampled_from([";", "&&", "||", "|", "&", "\n"]), min_size=4, max_size=4),
)
def test_command_needs_runs_every_program_in_order(
    commands: list[tuple[list[str], str, str]], seps: list[str]
) -> None:
    """Plain lists and pipelines: every program runs, in source order; prefix assignments count."""
    line = " ".join(
        f"{sep} {' '.join(f'{a}=1' for a in assigns)} {prog} {arg}"
        for (assigns, prog, arg), sep in zip(commands, ["", *seps], strict=False)
    )
    needs = command_needs(line)
    assert needs.actions == tuple(("run", prog) for _, prog, _ in commands)
    assert needs.assigned == {a for assigns, _, _ in commands for a in assigns}
    assert not needs.opaque


def test_simulate_statuses(workdir: Path, env: dict[str, str]) -> None:
    (workdir / "done.flag").write_text("")
    steps = [
        cmd("touch marker"),
        cmd("definitely-not-a-binary-xyz --version"),
        cmd('cd sub && echo "$HOME" | nope-tool-abc'),
        {"id": "edit", "kind": "file_edit", "path": "missing.py", "old": "a", "new": "b"},
        cmd('echo "$MY_TOKEN"'),
        cmd('echo "${MY_TOKEN:-none}" "$HOME"'),
        cmd("git tag ${version}"),
        {"id": "escape", "kind": "file_write", "path": "../../etc/passwd", "content": "x"},
        {"id": "web", "kind": "tool", "tool": "WebFetch", "input": {}},
        cmd("slow-build", expect={"exit_code": 0, "creates": "${workdir}/done.flag"}, idempotent=True),
        cmd("python3 -m venv .venv"),
        cmd(".venv/bin/pip install black"),
        cmd("black ."),
        cmd("make", cwd="${workdir}/nowhere"),
        cmd("missing-but-optional", optional=True),
        cmd("ls", cwd="../.."),
    ]
    doc = playbook(steps, params=[{"name": "version"}],
                   preconditions=[{"type": "file_exists", "path": "done.flag"}])  # fmt: skip
    report = simulate(doc, workdir=workdir, env=env, given_params={})
    plans = report.steps
    status = [p.status for p in plans]
    assert status == [
        "would_run", "blocked", "blocked", "blocked", "blocked", "would_run", "blocked",
        "blocked", "blocked", "would_skip", "would_run", "would_run", "would_run", "blocked",
        "blocked", "blocked",
    ]  # fmt: skip
    assert plans[1].reasons == ["missing binary: definitely-not-a-binary-xyz"]
    assert plans[2].reasons == ["missing binary: nope-tool-abc"]
    assert plans[3].reasons == [f"file not found: {workdir.resolve()}/missing.py"]
    assert plans[4].reasons == ["missing env var: MY_TOKEN"]
    assert plans[6].reasons == ["missing parameter: version"]
    assert "path escapes" in plans[7].reasons[0]
    assert "tool step is not replayable" in plans[8].reasons[0]
    assert "cwd does not exist" in plans[13].reasons[0]
    assert plans[14].optional
    assert "cwd: path escapes" in plans[15].reasons[0]
    assert report.missing_params == ["version"]
    assert [c.ok for c in report.preconditions] == [True]
    assert not report.ok
    assert report.summary() == "missing parameter(s): version"
    assert not (workdir / "marker").exists()  # simulate spawns nothing


def test_simulate_ok_and_env_in_the_given_env(workdir: Path, env: dict[str, str]) -> None:
    doc = playbook(
        [cmd('echo "$MY_TOKEN"'), {"id": "w", "kind": "file_write", "path": "a.txt", "content": ""},
         {"id": "e", "kind": "file_edit", "path": "a.txt", "old": "x", "new": "y"}],
        success=[{"id": "c", "run": "test -f a.txt", "expect": {"exit_code": 0}}],
    )  # fmt: skip
    report = simulate(doc, workdir=workdir, env={**env, "MY_TOKEN": "1"}, given_params={})
    assert report.ok, report.summary()
    assert [p.status for p in report.steps] == ["would_run"] * 3
    assert [p.status for p in report.checks] == ["would_run"]
    blocked = simulate(doc, workdir=workdir, env=env, given_params={})
    assert not blocked.ok
    assert blocked.summary().startswith("step 1 (")


def test_simulate_missing_workdir_is_a_note_not_a_block(tmp_path: Path, env: dict[str, str]) -> None:
    report = simulate(playbook([]), workdir=tmp_path / "nope", env=env, given_params={})
    assert report.ok and "does not exist yet" in report.notes[0]
    (tmp_path / "file").write_text("x")
    report = simulate(playbook([]), workdir=tmp_path / "file", env=env, given_params={})
    assert not report.ok and "not a directory" in report.summary()
