"""Parameters are data, never code: every value reaches bash as one word with exactly its bytes.

The property tests run the bound text in a real bash and compare what the command received with
the value; payloads that once ran code (issue 20) are mixed into the generated values, and a
canary file shows that nothing else ran.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aionisd.replay.bind import UnsafeValue, bind_command, type_problem
from aionisd.replay.checks import resolve_params
from tests import conftest

CANARY = "/tmp/aionis-bind-canary"
PAYLOADS = [
    f"x; touch {CANARY}",
    f"$(touch {CANARY})",
    f"`touch {CANARY}`",
    f"x\ntouch {CANARY}",
    f"x && touch {CANARY} #",
    f"x > {CANARY}",
    f"'; touch {CANARY}; '",
    f'"; touch {CANARY}; "',
    f"${{IFS}}touch${{IFS}}{CANARY}",
    f"\\'$(touch {CANARY})",
    f"EOF\ntouch {CANARY}\nEOF",
    f"a[$(touch {CANARY})]",
    "-n",
    "*",
    "~",
    "",
]
values = st.lists(
    st.one_of(
        st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))),
        st.sampled_from(PAYLOADS),
    ),
    max_size=4,
).map("".join)

# (template, what the command prints for value v); each case is one shell context.
CONTEXTS: list[tuple[str, object]] = [
    ("printf '%s' ${v}", lambda v: v),
    ('printf %s "${v}"', lambda v: v),
    ("printf '%s' \"pre ${v} post\"", lambda v: f"pre {v} post"),
    ("printf '%s' 'a${v}b'", lambda v: f"a{v}b"),
    ("printf '%s' $'x\\t${v}y'", lambda v: f"x\t{v}y"),
    ("printf '%s' ${v}${v}", lambda v: v + v),
    ("printf '%s' \"$(printf '%s' ${v}; printf .)\"", lambda v: v + "."),
    ("printf '%s' \"`printf '%s' ${v}`.\"", lambda v: v.rstrip("\n") + "."),
    ("cat <<EOF\n${v}\nEOF", lambda v: v + "\n"),
    ("cat <<'EOF'\n[${v}]\nEOF", lambda v: f"[{v}]\n"),
    ('cat <<-"END"\n\t${v}\n\tEND', lambda v: v + "\n"),
    ("x=1 # a comment's quote ${v}\nprintf '%s' ${v}", lambda v: v),
    ("f() { printf '%s' \"$1\"; }; f ${v}", lambda v: v),
    ("for a in ${v}; do printf '%s' \"$a\"; done", lambda v: v),
    ("case ${v} in *) printf '%s' ${v};; esac", lambda v: v),
    ("[ -n ${v} ] ; printf '%s' ${v}", lambda v: v),
]


def _run(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
    return subprocess.run(
        ["bash", "-c", script], env={**base, **env}, cwd=cwd, capture_output=True, timeout=10
    )


@pytest.fixture(autouse=True)
def _no_canary() -> None:
    Path(CANARY).unlink(missing_ok=True)


@pytest.mark.parametrize(("template", "expect"), CONTEXTS, ids=range(len(CONTEXTS)))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=values)
@example(value="\n")
@example(value="EOF")
@example(value="END")
def test_a_value_arrives_verbatim_and_nothing_else_runs(
    template: str, expect: object, value: str, tmp_path: Path
) -> None:
    try:
        bound = bind_command(template, {"v": value})
    except UnsafeValue as e:
        # Refused only where a value could end a here-document early.
        assert "here-document" in str(e)
        assert "<<'EOF'" in template or '<<-"END"' in template
        return
    if "<<'" not in template and '<<-"' not in template:  # the code bash parses never depends on a value
        assert bound.script == bind_command(template, {"v": "x"}).script
    r = _run(bound.script, bound.env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode("utf-8", "surrogateescape") == expect(value)  # type: ignore[operator]
    assert not os.path.lexists(CANARY)


@pytest.mark.parametrize(
    "template",
    ["echo $((1 + ${n}))", "(( i = ${n} ))", "[[ ${n} -gt 1 ]]", "a[${n}]=1", "let x=${n}+1"],
)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=values)
def test_arithmetic_takes_only_integers(template: str, value: str, tmp_path: Path) -> None:
    try:
        bound = bind_command(template, {"n": value})
    except UnsafeValue:
        assert not value.lstrip("+-").isdigit() or not value.isascii()
        return
    assert value.lstrip("+-").isdigit()
    _run(bound.script, bound.env, tmp_path)
    assert not os.path.lexists(CANARY)


@pytest.mark.parametrize(
    "template",
    [
        "bash -c 'echo ${v}'",
        'sh -c "cd ${v} && make"',
        "eval echo ${v}",
        "ssh host ls ${v}",
        "find . -name x | xargs rm ${v}",
    ],
)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=values)
def test_a_nested_shell_gets_only_inert_values(template: str, value: str, tmp_path: Path) -> None:
    try:
        bound = bind_command(template, {"v": value})
    except UnsafeValue as e:
        assert "shell code" in str(e)
        return
    assert all(c.isascii() and (c.isalnum() or c in "_./:@%+=,^~-") for c in value)
    if template.startswith(("bash", "eval")):
        _run(bound.script, bound.env, tmp_path)
    assert not os.path.lexists(CANARY)


def test_unknown_names_and_other_expansions_stay_shell_syntax() -> None:
    b = bind_command('echo ${HOME} ${v:-x} $v "${v}" ${v}', {"v": "1 2"})
    assert b.script == 'echo ${HOME} ${v:-x} $v "${AIONIS_P_v}" "${AIONIS_P_v}"'
    assert b.env == {"AIONIS_P_v": "1 2"}
    assert bind_command("make", {"v": "x"}).script == "make"


def test_a_value_used_as_a_path_cannot_leave_the_workdir(tmp_path: Path) -> None:
    roots = (str(tmp_path),)
    ok = bind_command("cp a ${workdir}/${dest}/b", {"workdir": str(tmp_path), "dest": "sub/dir"}, roots=roots)
    assert ok.env["AIONIS_P_dest"] == "sub/dir"
    for bad in ("../../etc", "a/../../x", "/etc"):
        with pytest.raises(UnsafeValue, match="dest"):
            bind_command("cp a ${workdir}/${dest}/b", {"dest": bad}, roots=roots, builtins=("workdir",))
    inside = bind_command("cat ${d}/f", {"d": str(tmp_path / "x")}, roots=roots)
    assert inside.env["AIONIS_P_d"] == str(tmp_path / "x")


def test_nul_is_refused() -> None:
    with pytest.raises(UnsafeValue, match="NUL"):
        bind_command("echo ${v}", {"v": "a\x00b"})


@pytest.mark.parametrize(
    ("param", "value", "ok"),
    [
        ({"name": "n", "type": "integer"}, "42", True),
        ({"name": "n", "type": "integer"}, "4 2", False),
        ({"name": "n", "type": "number"}, "-1.5e3", True),
        ({"name": "n", "type": "number"}, "1.2.3", False),
        ({"name": "b", "type": "boolean"}, "true", True),
        ({"name": "b", "type": "boolean"}, "yes", False),
        ({"name": "p", "type": "path"}, "src/app", True),
        ({"name": "p", "type": "path"}, "../x", False),
        ({"name": "p", "type": "path"}, "/etc", False),
        ({"name": "v", "pattern": r"v?\d+(\.\d+)*"}, "v0.54.0", True),
        ({"name": "v", "pattern": r"v?\d+(\.\d+)*"}, "0.54; rm", False),
        ({"name": "s"}, "anything at all", True),
        ({"name": "s"}, "nul\x00", False),
        ({"name": "s", "type": "colour"}, "red", False),
    ],
)
def test_typed_parameters_are_validated(param: dict[str, str], value: str, ok: bool) -> None:
    assert (type_problem(param, value) is None) is ok


def test_resolve_params_reports_every_refused_value(tmp_path: Path) -> None:
    doc = {
        "params": [{"name": "n", "type": "integer", "default": None}, {"name": "v", "default": "x"}],
        "steps": [{"id": "s1", "kind": "command", "run": "echo $((${n} + 1)); bash -c 'echo ${v}'"}],
    }
    res = resolve_params(doc, {"n": "1x"}, env={"HOME": str(tmp_path)}, workdir=tmp_path)
    assert res.invalid == ["parameter n: '1x' is not an integer"]
    res = resolve_params(doc, {"n": "1", "v": "a b"}, env={"HOME": str(tmp_path)}, workdir=tmp_path)
    assert len(res.invalid) == 1 and "parameter v" in res.invalid[0] and "step 1, s1" in res.invalid[0]
    assert not resolve_params(doc, {"n": "1", "v": "ab"}, env={}, workdir=tmp_path).invalid


# ---- the issue's reproduction, end to end through the real daemon and CLI ----

E2E_PAYLOADS = [p for p in PAYLOADS[:8] if p]


@pytest.mark.slow
def test_a_trusted_playbook_runs_no_code_from_a_parameter(
    xdg: object, start_daemon: object, tmp_path: Path
) -> None:
    from tests.conftest import Daemon, Xdg, aionis
    from tests.support.e2e import compiled, synthetic_trace

    assert isinstance(xdg, Xdg)
    xdg.write_config("[replay]\nallow_local_exec = true\n")
    daemon = start_daemon()  # type: ignore[operator]
    assert isinstance(daemon, Daemon)
    rec = tmp_path / "rec"
    rec.mkdir()
    trace = synthetic_trace(tmp_path / "t.jsonl", rec, ["echo hello > greeting.txt"])
    pb = compiled(daemon.socket, trace, name="greet", params={"greet": "hello"})
    show = aionis(xdg, "playbook", "show", pb["id"], "--json")
    assert "${greet}" in show.stdout, show.stdout
    for k, payload in enumerate(E2E_PAYLOADS):
        wd = tmp_path / f"w{k}"
        wd.mkdir()
        r = aionis(
            xdg,
            "replay",
            pb["id"],
            "--mode",
            "strict",
            "--workdir",
            str(wd),
            "--param",
            f"greet={payload}",
            "--json",
        )
        assert r.returncode == 0, (payload, r.stdout, r.stderr)
        assert json.loads(r.stdout)["status"] == "succeeded"
        assert (wd / "greeting.txt").read_text() == payload + "\n"
        assert not os.path.lexists(CANARY), payload


def test_the_schema_knows_every_parameter_type() -> None:
    from aionisd.replay.bind import PARAM_TYPES

    schema = json.loads((conftest.ROOT / "share/schemas/playbook.schema.json").read_text())
    assert schema["properties"]["params"]["items"]["properties"]["type"]["enum"] == list(PARAM_TYPES)
