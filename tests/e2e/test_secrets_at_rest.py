"""No secret at rest: ingest redacts every recorded text to `${NAME}` (issue 13, items 1 and 2).

Password options are known per tool (`PASSWORD_ARGS`), so `mysql -pX` is redacted while
`mysql -p` (a prompt), `docker run -p 8080:80` and `ls -a` stay as they were.
"""

from __future__ import annotations

import base64
import json
import re
import stat
from pathlib import Path

import apsw
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from aionisd.compile import compile_run
from aionisd.model import RunEvent, StepEvent
from aionisd.secrets import _PLACEHOLDER, KEY_FILE, find_secrets, redact
from aionisd.shell import parse
from aionisd.store import runs
from aionisd.store.db import Database
from aionisd.store.migrations import MIGRATIONS, _redact_at_rest, migrate
from tests.conftest import Daemon, Xdg, aionis

# Made-up values with real shapes (none is a live credential).
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq8sKEYa1B"
GH_TOKEN = "ghp_" + "Zq8sK3yTm2Lw9Rv4Nb7Xc1Hd6Jf0Pg5Ue2Ia"
MYSQL_PW = "S3cretPassw0rd"
SSHPASS_PW = "Sup3rSshPw4u"
DOCKER_PW = "D0ckerHubPw91"
PG_PW = "PgPassw0rd42"
REDIS_PW = "R3disAuthPw17"
HTPASSWD_PW = "HtPassw0rd77"
URL_PW = "UrlT0kenPw99"
STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
NPM_IN_OUTPUT = "npm_" + "Qm9vYmFyQmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg"
ELEVEN = [AWS_SECRET, GH_TOKEN, MYSQL_PW, SSHPASS_PW, DOCKER_PW, PG_PW, REDIS_PW, HTPASSWD_PW, URL_PW, STRIPE]
ELEVEN.append(NPM_IN_OUTPUT)

COMMANDS = [
    f"export AWS_SECRET_ACCESS_KEY={AWS_SECRET}",
    f'curl -fsS -H "Authorization: token {GH_TOKEN}" https://api.github.com/user',
    f"mysql -u root -p{MYSQL_PW} -e 'create database app'",
    f"sshpass -p {SSHPASS_PW} ssh deploy@db.internal uptime",
    f"docker login --password {DOCKER_PW} -u me registry.example.com",
    f"PGPASSWORD={PG_PW} psql -h db -U app -c 'select 1'",
    f"redis-cli -a {REDIS_PW} ping",
    f"htpasswd -b .htpasswd admin {HTPASSWD_PW}",
    f"git clone https://deploy:{URL_PW}@git.example.com/o/app.git",
    f"curl https://api.stripe.com/v1/charges -u {STRIPE}:",
    "mkdir -p build && touch build/ready",
]


def _session(path: Path, cwd: Path) -> Path:
    """A native trace planting the eleven values; the last one only in a command's output."""
    ts = "2026-11-24T10:00:00Z"
    lines: list[dict[str, object]] = [
        {"type": "run.start", "run_id": "sec", "agent": "t", "goal": "set up app", "cwd": str(cwd), "ts": ts}
    ]
    for i, cmd in enumerate([*COMMANDS, "cat ~/.npmrc", "echo $AWS_SECRET_ACCESS_KEY"], 1):
        out = {
            "cat ~/.npmrc": f"//registry.npmjs.org/:_authToken={NPM_IN_OUTPUT}\n",
            "echo $AWS_SECRET_ACCESS_KEY": AWS_SECRET + "\n",
        }.get(cmd, "ok\n")
        lines.append(
            {
                "type": "step.before",
                "run_id": "sec",
                "step_id": f"s{i}",
                "tool": "bash",
                "input": {"command": cmd},
                "cwd": str(cwd),
                "ts": ts,
            }
        )
        lines.append(
            {
                "type": "step.after",
                "run_id": "sec",
                "step_id": f"s{i}",
                "status": "success",
                "exit_code": 0,
                "stdout": out,
                "stderr": "",
                "duration_ms": 5,
                "ts": ts,
            }
        )
    # a record the schema refuses, quoting a secret: its ingest error must not keep it
    lines.append(
        {
            "type": "step.before",
            "run_id": "sec",
            "step_id": 7,
            "tool": "bash",
            "input": {"command": f"mysql -p{MYSQL_PW}"},
            "ts": ts,
        }
    )
    lines.append({"type": "run.end", "run_id": "sec", "status": "success", "ts": ts})
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def _leaks(blob: bytes) -> list[str]:
    return [v for v in ELEVEN if v.encode() in blob]


def test_no_planted_secret_reaches_the_store_the_log_or_an_export(
    xdg: Xdg, daemon: Daemon, tmp_path: Path
) -> None:
    trace = _session(tmp_path / "session.jsonl", tmp_path / "proj")
    assert _leaks(trace.read_bytes()) == ELEVEN  # the fixture really plants all eleven
    r = aionis(xdg, "ingest", str(trace))
    assert r.returncode == 0, r.stderr
    shown = aionis(xdg, "run", "show", "t:sec", "--output", "--json")
    assert shown.returncode == 0, shown.stderr
    run = json.loads(shown.stdout)
    assert "-p${MYSQL_PASSWORD}" in run["steps"][2]["command"]
    assert run["steps"][-1]["stdout"] == "${AWS_SECRET_ACCESS_KEY}\n"  # known from an earlier step
    assert set(run["secrets"]) >= {"MYSQL_PASSWORD", "SSHPASS", "DOCKER_PASSWORD", "PGPASSWORD"}
    plain = aionis(xdg, "run", "show", "t:sec", "--output")
    compiled = aionis(xdg, "compile", "t:sec", "--name", "app setup", "--json")
    assert compiled.returncode == 0, compiled.stderr
    pid = json.loads(compiled.stdout)["id"]
    export = aionis(xdg, "playbook", "export", pid)
    assert export.returncode == 0, export.stderr
    sources = aionis(xdg, "status", "--json")
    blobs = {
        "run show --json": shown.stdout,
        "run show": plain.stdout + plain.stderr,
        "compile": compiled.stdout,
        "export": export.stdout,
        "status": sources.stdout,
        "ingest": r.stdout + r.stderr,
    }
    assert json.loads(sources.stdout)["counts"]["ingest_errors"] == 1
    for what, blob in blobs.items():
        assert _leaks(blob.encode()) == [], what
    doc = json.loads(base64.b64decode(json.loads(export.stdout)["payload"]))
    secret_params = {p["name"] for p in doc["params"] if p["secret"]}
    assert {
        "MYSQL_PASSWORD",
        "SSHPASS",
        "DOCKER_PASSWORD",
        "REDISCLI_AUTH",
        "HTPASSWD_PASSWORD",
    } <= secret_params
    assert daemon.stop() == 0
    files = [xdg.db, xdg.db.with_name("aionis.db-wal"), daemon.log]
    for f in files:
        if f.exists():
            assert _leaks(f.read_bytes()) == [], f
    key = xdg.db.parent / KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes() not in xdg.db.read_bytes()


def _db(tmp_path: Path) -> Database:
    return Database(tmp_path / "data" / "aionis.db")


def test_a_secret_keeps_its_name_across_batches_and_two_values_are_told_apart(tmp_path: Path) -> None:
    db = _db(tmp_path)
    other = "An0therMysqlPw"
    runs.record(
        db, [RunEvent("s", "a", goal="g"), StepEvent("s", "1", kind="command", command=f"mysql -p{MYSQL_PW}")]
    )
    runs.record(db, [StepEvent("s", "2", kind="command", command=f"mysqldump -p{MYSQL_PW} app")])
    runs.record(db, [StepEvent("s", "3", kind="command", command=f"mysql -p{other}")])
    fresh = Database(db.path)  # another process: nothing in memory, only the fingerprints
    runs.record(fresh, [StepEvent("s", "4", kind="command", command=f"mysql -p{other} -e 'select 1'")])
    run = runs.get_run(fresh, "a:s")
    assert run is not None
    assert [s.command for s in run.steps] == [
        "mysql -p${MYSQL_PASSWORD}",
        "mysqldump -p${MYSQL_PASSWORD} app",
        "mysql -p${MYSQL_PASSWORD_2}",
        "mysql -p${MYSQL_PASSWORD_2} -e 'select 1'",
    ]
    assert set(run.secrets) == {"MYSQL_PASSWORD", "MYSQL_PASSWORD_2"}
    assert len(set(run.secrets.values())) == 2
    # the same value in another run has the same fingerprint (same install key)
    runs.record(db, [RunEvent("t", "a"), StepEvent("t", "1", kind="command", command=f"mysql -p{other}")])
    again = runs.get_run(db, "a:t")
    assert again is not None and again.secrets["MYSQL_PASSWORD"] == run.secrets["MYSQL_PASSWORD_2"]
    assert stat.S_IMODE((db.path.parent / KEY_FILE).stat().st_mode) == 0o600


def test_compiling_a_redacted_run_declares_the_secret_parameters(tmp_path: Path) -> None:
    db = _db(tmp_path)
    runs.record(
        db,
        [
            RunEvent("s", "a", cwd="/home/me/app"),
            StepEvent(
                "s",
                "1",
                kind="command",
                command=f"mysql -u root -p{MYSQL_PW} -e 'create database app'",
                cwd="/home/me/app",
                status="succeeded",
                exit_code=0,
            ),
        ],
    )
    run = runs.get_run(db, "a:s")
    assert run is not None
    doc = compile_run(run).doc
    assert doc["steps"][0]["run"] == "mysql -u root -p${MYSQL_PASSWORD} -e 'create database app'"
    [p] = [p for p in doc["params"] if p["secret"]]
    assert (p["name"], p["default"]) == ("MYSQL_PASSWORD", None)


def test_migration_redacts_rows_recorded_before_and_leaves_no_copy_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "data" / "aionis.db"
    path.parent.mkdir(parents=True)
    conn = apsw.Connection(str(path))
    conn.execute("PRAGMA journal_mode = WAL")
    ours = next(n for n, m in MIGRATIONS if m is _redact_at_rest)
    for number, sql in MIGRATIONS:
        if number < ours:
            assert isinstance(sql, str)
            with conn:
                conn.execute(sql)
                conn.execute(f"PRAGMA user_version = {number}")
    cmd = f"sshpass -p {SSHPASS_PW} ssh host && docker login --password {DOCKER_PW}"
    with conn:
        conn.execute(
            "INSERT INTO runs(id, agent, session_id, goal) VALUES ('a:s', 'a', 's', ?)", (f"use {GH_TOKEN}",)
        )
        conn.execute(
            "INSERT INTO steps(run_id, key, seq, kind, tool, command, input, status, stdout) "
            "VALUES ('a:s', 'k', 1, 'command', 'bash', ?, ?, 'succeeded', ?)",
            (cmd, json.dumps({"command": cmd}), f"token {GH_TOKEN}"),
        )
        conn.execute(
            "INSERT INTO events(kind, ts, data) VALUES ('step.recorded', 't', ?)",
            (json.dumps({"run_id": "a:s", "step": {"command": cmd}}),),
        )
        conn.execute(
            "INSERT INTO ingest_errors(path, offset, reason, ts) VALUES ('f', 0, ?, 't')", (f"bad: {cmd}",)
        )
    assert ours in migrate(conn)
    conn.close()
    for f in path.parent.iterdir():
        assert not [v for v in (SSHPASS_PW, DOCKER_PW, GH_TOKEN) if v.encode() in f.read_bytes()], f
    db = Database(path)
    run = runs.get_run(db, "a:s")
    assert run is not None
    assert (
        run.steps[0].command == "sshpass -p ${SSHPASS} ssh host && docker login --password ${DOCKER_PASSWORD}"
    )
    assert run.goal == "use ${GITHUB_TOKEN}"
    assert set(run.secrets) == {"SSHPASS", "DOCKER_PASSWORD", "GITHUB_TOKEN"}


# ------------------------------------------------------------------ the tool table, generated

FORMS: list[tuple[str, str, bool]] = [  # (command with {v}, name, may the value be quoted)
    ("mysql -u root -p{v} -e 'show databases'", "MYSQL_PASSWORD", True),
    ("mysqldump -uroot -p{v} app > dump.sql", "MYSQL_PASSWORD", True),
    ("cd /srv && mariadb -h db --password={v} app < init.sql", "MYSQL_PASSWORD", True),
    ("sudo mysql -p{v}", "MYSQL_PASSWORD", True),
    ("sshpass -p {v} ssh deploy@host uptime", "SSHPASS", True),
    ("sshpass -p{v} scp a host:b", "SSHPASS", True),
    ("docker login --password {v} -u me registry.example.com", "DOCKER_PASSWORD", True),
    ("docker login -u me --password={v} ghcr.io", "DOCKER_PASSWORD", True),
    ("docker login -u me -p {v}", "DOCKER_PASSWORD", True),
    ("redis-cli -h cache -a {v} --no-auth-warning info", "REDISCLI_AUTH", True),
    ("htpasswd -b .htpasswd admin {v}", "HTPASSWD_PASSWORD", True),
    ("htpasswd -cbB /etc/nginx/.htpasswd admin {v}; nginx -s reload", "HTPASSWD_PASSWORD", True),
    ("PGPASSWORD={v} psql -h db -U app -c 'select 1'", "PGPASSWORD", True),
    ("export DB_PASSWORD={v} && ./migrate", "DB_PASSWORD", True),
    ("DEPLOY_TOKEN={v} ./deploy.sh", "DEPLOY_TOKEN", True),
    ("export API_SECRET={v}", "API_SECRET", True),
    ("psql postgres://app:{v}@db:5432/app -c 'select 1'", "URL_PASSWORD", False),
    ("git clone https://user:{v}@github.com/o/r.git", "URL_PASSWORD", False),
    ("redis-cli -u redis://:{v}@cache:6379 ping", "URL_PASSWORD", False),
]
VALUES = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+%,^~", min_size=8, max_size=40
).filter(lambda v: v[0].isalnum() and not _PLACEHOLDER.match(v))


def _words(command: str) -> list[tuple[str, ...]]:
    return [s.words + s.assigns for s in parse(command).commands]


@given(form=st.sampled_from(FORMS), value=VALUES, quote=st.sampled_from(["", "'", '"']))
def test_each_password_form_is_redacted_and_the_command_keeps_its_shape(
    form: tuple[str, str, bool], value: str, quote: str
) -> None:
    template, name, quotable = form
    assume((quotable or not quote) and value not in template)
    command = template.format(v=quote + value + quote)
    out = redact(command)
    assert out == template.format(v=quote + "${" + name + "}" + quote)
    assert value not in out
    before, after = _words(command), _words(out)
    assert [len(c) for c in before] == [len(c) for c in after]
    for a, b in zip([w for c in before for w in c], [w for c in after for w in c], strict=True):
        assert a == b or (value in a and b == a.replace(value, "${" + name + "}"))
    assert redact(out) == out  # redacting twice changes nothing


@pytest.mark.parametrize(
    "command",
    [
        "mysql -p",
        "mysql -u root -p app",
        "mysql --password app",
        "mysql -p$MYSQL_PWD app",
        'mysql -p"$MYSQL_PWD" app',
        "docker run -p 8080:80 nginx",
        "docker build -t app . && docker push app",
        "docker login -u me --password-stdin ghcr.io",
        "ls -a",
        "ssh -p 2222 host",
        "redis-cli ping && ls -a /tmp",
        "grep -a mysql dump.bin",
        "htpasswd -D .htpasswd admin",
        "curl -u me https://example.com",
        "openssl enc -pass env:KEY -in a -out b",
        "python -m http.server -p 8000",
    ],
)
def test_options_that_carry_no_password_are_left_alone(command: str) -> None:
    assert find_secrets(command) == []


def test_steps_recorded_through_the_api_leave_no_secret_in_the_trace_file(
    xdg: Xdg, daemon: Daemon, tmp_path: Path
) -> None:
    """`traces.append` (MCP `record_step`) writes a native trace before ingest: that file is at rest."""
    from aionisd.client import Client

    events = [
        {
            "type": "step.before",
            "step_id": f"s{i}",
            "tool": "bash",
            "input": {"command": c},
            "cwd": str(tmp_path),
        }
        for i, c in enumerate(COMMANDS[:4])
    ]
    with Client(daemon.socket) as c:
        r = c.call(
            "traces.append", run_id="api-sec", events=events, start={"agent": "mcp", "cwd": str(tmp_path)}
        )
    trace = Path(r["path"]).read_bytes()
    assert _leaks(trace) == []
    assert b"${MYSQL_PASSWORD}" in trace


def _reference_spans(text: str) -> list[tuple[int, int]]:
    """What `_scan` finds, the slow way: every pattern over the whole text, no windows."""
    from aionisd import secrets as s

    found: list[tuple[s.Match, int]] = []
    for kind, name, p in s._PATTERNS:
        for m in re.finditer(p, text):
            found.append((s.Match(kind, m["v"], m.start("v"), m.end("v"), name), 0))
    for kind, name, pattern in s._CONTEXT:
        for m in pattern.finditer(text):
            found.append((s.Match(kind, m["v"], m.start("v"), m.end("v"), name), 1))
    found.extend((m, 1) for m in s._password_args(text))
    for m in s._SHELL_ASSIGN.finditer(text):
        s._assignment(m, found, 4)
    for m in s._KEY_VALUE.finditer(text):
        if m["dq"] is not None or m["sq"] is not None:
            s._assignment(m, found, 8)
        elif m["q"] == "" and ":" in text[m.end("name") : m.start("bare")] and s._looks_random(m["bare"]):
            s._assignment(m, found, 12)
    return [(m.start, m.end) for m in s._merge(text, found)]


FRAGMENTS = [
    f"export AWS_SECRET_ACCESS_KEY={AWS_SECRET}",
    f"Authorization: Bearer {GH_TOKEN}",
    f"postgres://app:{PG_PW}@db/app",
    STRIPE,
    NPM_IN_OUTPUT,
    "sk-ant-" + "a" * 30,
    "task-list disk-usage path: /usr/key",
    'api_key: "Zx9' + "q" * 12 + '"',
    "MY_TOKEN=abc123def456ghi",
    "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----",
    "İstanbul token=Qq1234567890zz",
    "AKIA" + "Z" * 16,
]


@given(
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=40)), max_size=8), st.sampled_from(" \n;")
)
def test_the_fast_scan_finds_what_every_pattern_over_the_whole_text_finds(parts: list[str], sep: str) -> None:
    from aionisd.secrets import _scan

    text = sep.join(parts)
    assert [(m.start, m.end) for m in _scan(text)] == _reference_spans(text)
