"""Secrets in recordings become secret parameters and never reach the signed payload."""

from __future__ import annotations

import pytest

from aionisd.canonical import canonical_bytes
from aionisd.compile import compile_run
from aionisd.model import Run, Step
from aionisd.playbook import validate
from aionisd.secrets import Vault, find_secrets, redact

# Made-up values with the real shapes (none is a live credential).
GHP = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
GHO = "gho_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
FINE = "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"
GLPAT = "glpat-" + "abcDEF123456ghiJKL78"
NPM = "npm_" + "abcdefghijklmnopqrstuvwxyz0123456789"
SLACK = "xoxb-" + "123456789012-abcdefghijkl"
OPENAI = "sk-proj-" + "Q2xhdWRlQ29kZVRlc3RLZXkxMjM0NTY3ODkw"
ANTHROPIC = "sk-ant-api03-" + "aBcDeFgHiJkLmNoPqRsTuVwXyZ012345"
AKID = "AKIA" + "IOSFODNN7EXAMPLQ"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
BEARER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2ln"
DB_PASSWORD = "correct-horse-battery-staple"
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACBmYWtlZmFrZWZha2VmYWtlZmFrZWZha2VmYWtlZmFrZQAAAA==\n"
    "-----END OPENSSH PRIVATE KEY-----"
)
ALL = [
    GHP,
    GHO,
    FINE,
    GLPAT,
    NPM,
    SLACK,
    OPENAI,
    ANTHROPIC,
    AKID,
    AWS_SECRET,
    BEARER,
    DB_PASSWORD,
    PRIVATE_KEY,
]


@pytest.mark.parametrize(
    ("text", "value", "name"),
    [
        (f"git clone https://x-access-token:{GHP}@github.com/o/r", GHP, "GITHUB_TOKEN"),
        (f"gh auth login --with-token <<< {GHO}", GHO, "GITHUB_TOKEN"),
        (f"token={FINE}", FINE, "GITHUB_TOKEN"),
        (f"glab auth login -t {GLPAT}", GLPAT, "GITLAB_TOKEN"),
        (f"//registry.npmjs.org/:_authToken={NPM}", NPM, "NPM_TOKEN"),
        (f"curl -d 'token={SLACK}' https://slack.com/api", SLACK, "SLACK_TOKEN"),
        (f"openai api --key {OPENAI}", OPENAI, "OPENAI_API_KEY"),
        (f"claude --api-key {ANTHROPIC}", ANTHROPIC, "ANTHROPIC_API_KEY"),
        (f"aws_access_key_id = {AKID}", AKID, "AWS_ACCESS_KEY_ID"),
        (f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET, "AWS_SECRET_ACCESS_KEY"),
        (f"curl -H 'Authorization: Bearer {BEARER}' https://api", BEARER, "BEARER_TOKEN"),
        (f"export DB_PASSWORD={DB_PASSWORD}", DB_PASSWORD, "DB_PASSWORD"),
        (f'MY_API_KEY="{DB_PASSWORD}" ./run.sh', DB_PASSWORD, "MY_API_KEY"),
        (f"password: {DB_PASSWORD}9", DB_PASSWORD + "9", "PASSWORD"),
        (f'{{"client_secret": "{DB_PASSWORD}"}}', DB_PASSWORD, "CLIENT_SECRET"),
        (f"key:\n{PRIVATE_KEY}\n", PRIVATE_KEY, "PRIVATE_KEY"),
    ],
)
def test_finds_each_kind(text: str, value: str, name: str) -> None:
    found = find_secrets(text)
    assert [(m.value, m.name) for m in found] == [(value, name)]
    m = found[0]
    assert text[m.start : m.end] == value
    assert redact(text) == text[: m.start] + "${" + name + "}" + text[m.end :]


@pytest.mark.parametrize(
    "text",
    [
        "GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}",
        "export GITHUB_TOKEN=$(gh auth token)",
        'TOKEN="$TOKEN"',
        "MAX_TOKENS=4096 TOKEN_URL=https://example.com/token",
        "password = self.password",
        "apiKey: process.env.API_KEY",
        'jq \'walk(if type == "string" and (test("token|secret|key|gho_|github_pat_"; "i")))\'',
        "task-runner --disk-usage-sk-report",
        "PASSWORD=changeme",
        "echo $SECRET_KEY",
    ],
)
def test_no_false_positives(text: str) -> None:
    assert find_secrets(text) == []


def test_variable_name_wins_over_the_generic_name() -> None:
    [m] = find_secrets(f"export DEPLOY_TOKEN={GHP}")
    assert (m.kind, m.name, m.value) == ("github", "DEPLOY_TOKEN", GHP)


def test_vault_names_each_value_once_and_redacts_everywhere() -> None:
    v = Vault()
    v.reserve("workdir")
    texts = [
        f"export GITHUB_TOKEN={GHP}",
        f"gh api -H 'x' --token {GHO}",
        f"echo {GHP} | gh auth login --with-token",
        "echo plain",
    ]
    for t in texts:
        v.collect(t)
    assert list(v.names.values()) == ["GITHUB_TOKEN", "GITHUB_TOKEN_2"]
    # a value found in one string is removed from another where no pattern would see it
    assert v.redact(f"x{GHP}y") == "x${GITHUB_TOKEN}y"
    assert v.redact(texts[2]) == "echo ${GITHUB_TOKEN} | gh auth login --with-token"
    assert v.leaks(v.redact(" ".join(texts))) == []


def _secret_run() -> Run:
    w = "/home/dev/app"
    steps = [
        Step(
            seq=1,
            key="a",
            kind="command",
            tool="Bash",
            cwd=w,
            status="succeeded",
            exit_code=0,
            command=f"export GITHUB_TOKEN={GHP} && gh repo clone o/r",
        ),
        Step(
            seq=2,
            key="b",
            kind="command",
            tool="Bash",
            cwd=w,
            status="succeeded",
            exit_code=0,
            command=f"curl -H 'Authorization: Bearer {BEARER}' -X POST https://api.example.com",
        ),
        Step(
            seq=3,
            key="c",
            kind="file_write",
            tool="Write",
            cwd=w,
            status="succeeded",
            input={
                "path": f"{w}/.env",
                "content": (
                    f"OPENAI_API_KEY={OPENAI}\nANTHROPIC_API_KEY={ANTHROPIC}\n"
                    f"AWS_ACCESS_KEY_ID={AKID}\naws_secret_access_key = {AWS_SECRET}\n"
                    f"DB_PASSWORD={DB_PASSWORD}\n"
                ),
            },
        ),
        Step(
            seq=4,
            key="d",
            kind="file_write",
            tool="Write",
            cwd=w,
            status="succeeded",
            input={"path": f"{w}/deploy_key", "content": PRIVATE_KEY + "\n"},
        ),
        Step(
            seq=5,
            key="e",
            kind="file_edit",
            tool="Edit",
            cwd=w,
            status="succeeded",
            input={"path": f"{w}/.npmrc", "old": "_authToken=", "new": f"_authToken={NPM}"},
        ),
        Step(
            seq=6,
            key="f",
            kind="command",
            tool="Bash",
            cwd=w,
            status="succeeded",
            exit_code=0,
            command=f"env SLACK_TOKEN={SLACK} GITLAB_TOKEN={GLPAT} ./notify.sh {FINE} {GHO}",
        ),
        Step(
            seq=7,
            key="g",
            kind="tool",
            tool="mcp__vault__put",
            cwd=w,
            status="succeeded",
            input={"env": {"API_KEY": DB_PASSWORD}, "args": [f"--token={GHP}"]},
        ),
        Step(
            seq=8,
            key="h",
            kind="command",
            tool="Bash",
            cwd=w,
            status="succeeded",
            exit_code=0,
            command=f"DB_PASSWORD={DB_PASSWORD} pytest -q",
        ),
    ]
    return Run(id="r:1", agent="claude-code", session_id="1", cwd=w, goal=f"deploy with {GHP}", steps=steps)


def test_a_compiled_payload_never_holds_a_secret() -> None:
    compiled = compile_run(_secret_run(), now="2026-01-01T00:00:00Z")
    payload = canonical_bytes(compiled.doc)
    for value in ALL:
        assert value.encode() not in payload, value[:12]
    for line in PRIVATE_KEY.splitlines()[1:-1]:
        assert line.encode() not in payload
    assert validate(compiled.doc) == []
    secret_params = {p["name"]: p for p in compiled.doc["params"] if p["secret"]}
    assert {
        "GITHUB_TOKEN",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "DB_PASSWORD",
        "PRIVATE_KEY",
        "NPM_TOKEN",
        "SLACK_TOKEN",
        "GITLAB_TOKEN",
        "BEARER_TOKEN",
    } <= set(secret_params)
    assert all(p["default"] is None for p in secret_params.values())
    assert compiled.report.secrets_found == len(secret_params)
    steps = compiled.doc["steps"]
    assert steps[0]["run"] == "export GITHUB_TOKEN=${GITHUB_TOKEN} && gh repo clone o/r"
    assert "${PRIVATE_KEY}" in steps[3]["content"]
    assert steps[4]["new"] == "_authToken=${NPM_TOKEN}"
    assert compiled.doc["success"][0]["run"] == "DB_PASSWORD=${DB_PASSWORD} pytest -q"
