"""A canned stand-in for the socket client, for SVG snapshots only.

Snapshots need every pid, uptime, path and timestamp frozen; behaviour tests use the real daemon.
The answers below have the shapes of docs/api.md, taken from a real daemon's responses.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from aionis_tui.backend import ApiError, Backend, ConnState, NotAvailable
from aionisd.repair.view import review_diff

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
PB = "pb-74517a78ec79"
DIGEST = "sha256:74517a78ec79e9674963441692f984ec22d281c78c81547d8c6b3bb5b9b216f8"
KEYID = "SHA256:FGmhONLHJpzcM4r5NJ82UqLX0nuys7f4HnuPrjWrmSQ"


def clock() -> datetime:
    return NOW


def _tokens(total: int) -> dict[str, int]:
    return {"input": total // 4, "output": total // 4, "cache_creation": 0,
            "cache_read": total - total // 2, "total": total}  # fmt: skip


RUNS = [
    {"id": "claude:4f1c9a2e", "agent": "claude", "session_id": "4f1c9a2e", "cwd": "/home/dev/shop",
     "goal": "set up the python project with a venv and tests", "status": "succeeded",
     "started_at": "2026-11-24T11:40:00Z", "ended_at": "2026-11-24T11:46:10Z", "steps": 6,
     "tokens": _tokens(48210), "playbook_id": None, "playbook_version": None},
    {"id": "codex:9b77d0c1", "agent": "codex", "session_id": "9b77d0c1", "cwd": "/home/dev/api",
     "goal": "cut release 1.4.0", "status": "failed", "started_at": "2026-11-24T09:12:00Z",
     "ended_at": "2026-11-24T09:20:00Z", "steps": 14, "tokens": _tokens(120400),
     "playbook_id": None, "playbook_version": None},
    {"id": "aionis:rp-20261124-01", "agent": "aionis", "session_id": "rp-20261124-01",
     "cwd": "/tmp/try", "goal": "set up the python project with a venv and tests",
     "status": "succeeded", "started_at": "2026-11-23T18:00:00Z",
     "ended_at": "2026-11-23T18:00:04Z", "steps": 4, "tokens": _tokens(0),
     "playbook_id": PB, "playbook_version": 1},
]  # fmt: skip


def _step(seq: int, command: str, status: str = "succeeded", code: int | None = 0,
          ms: int | None = 1200, sub: str | None = None, kind: str = "command",
          tool: str = "Bash", out: str = "", err: str = "") -> dict[str, Any]:  # fmt: skip
    return {"seq": seq, "key": f"k{seq}", "kind": kind, "tool": tool, "command": command,
            "cwd": "/home/dev/shop", "status": status, "exit_code": code, "duration_ms": ms,
            "subagent": sub, "started_at": "2026-11-24T11:40:00Z",
            "ended_at": "2026-11-24T11:40:02Z", "stdout": out, "stderr": err,
            "input": {"command": command}}  # fmt: skip


RUN_DETAIL = {
    **RUNS[0],
    "git_branch": "main",
    "steps": [
        _step(1, "ls -la", ms=40, out="total 8\ndrwxr-xr-x 2 dev dev 4096 .\n"),
        _step(2, "python3 -m venv .venv", ms=2100),
        _step(
            3,
            "pip install pytest",
            code=1,
            status="failed",
            ms=5300,
            err="error: externally-managed-environment\n",
        ),
        _step(4, ".venv/bin/pip install pytest", ms=4200, out="Successfully installed pytest-8.3.3\n"),
        _step(5, "grep -rn TODO src", ms=80, sub="explorer"),
        _step(6, "", kind="file_write", tool="Write", code=None, ms=None),
    ],
}

DOC: dict[str, Any] = {
    "schema": "aionis.playbook/v1", "name": "set up the python project", "version": 1,
    "status": "active", "goal": "set up the python project with a venv and tests",
    "source": {"run_id": "claude:4f1c9a2e", "agent": "claude", "digest": "sha256:1f2e"},
    "params": [
        {"name": "workdir", "default": None, "description": "directory the playbook runs in",
         "secret": False},
        {"name": "python", "default": "python3", "description": "interpreter", "secret": False},
        {"name": "PYPI_TOKEN", "default": None, "description": "index token", "secret": True},
    ],
    "preconditions": [
        {"type": "cwd_exists", "path": "${workdir}"},
        {"type": "command_available", "name": "python3"},
        {"type": "env_set", "name": "PYPI_TOKEN"},
    ],
    "steps": [
        {"id": "s1", "kind": "command", "run": "${python} -m venv .venv", "cwd": "${workdir}",
         "expect": {"exit_code": 0, "creates": "${workdir}/.venv"}, "risk": "low"},
        {"id": "s2", "kind": "command", "run": ".venv/bin/pip install pytest",
         "cwd": "${workdir}", "expect": {"exit_code": 0}, "risk": "low"},
        {"id": "s3", "kind": "file_write", "path": "${workdir}/tests/test_ok.py",
         "expect": {}, "risk": "low"},
        {"id": "s4", "kind": "command", "run": "git init", "cwd": "${workdir}",
         "expect": {"exit_code": 0, "creates": "${workdir}/.git"}, "risk": "medium"},
    ],
    "success": [{"id": "c1", "kind": "command", "run": ".venv/bin/pytest -q"}],
    "created_at": "2026-11-24T11:50:00Z",
}  # fmt: skip

PLAYBOOKS = [
    {"id": PB, "name": "set up the python project", "version": 2, "status": "active",
     "digest": DIGEST, "signer": "dev@laptop", "signature": "trusted", "steps": 4, "checks": 1,
     "goal": "set up the python project with a venv and tests",
     "created_at": "2026-11-24T11:50:00Z", "replays": 5, "replays_succeeded": 4,
     "run_id": "claude:4f1c9a2e"},
    {"id": "pb-0c1d2e3f4a5b", "name": "cut a release", "version": 1, "status": "draft",
     "digest": "sha256:0c1d", "signer": "ci@build", "signature": "untrusted", "steps": 9,
     "checks": 2, "goal": "cut release 1.4.0", "created_at": "2026-11-24T09:30:00Z",
     "replays": 0, "replays_succeeded": 0, "run_id": "codex:9b77d0c1"},
    {"id": "pb-9a8b7c6d5e4f", "name": "bootstrap the api service", "version": 3,
     "status": "disabled", "digest": "sha256:9a8b", "signer": "dev@laptop",
     "signature": "tampered", "steps": 12, "checks": 3, "goal": "bootstrap the service",
     "created_at": "2026-11-20T10:00:00Z", "replays": 2, "replays_succeeded": 2,
     "run_id": "claude:0000aaaa"},
]  # fmt: skip

PLAYBOOK_DETAIL = {
    **PLAYBOOKS[0], "keyid": KEYID, "document": DOC,
    "verification": {"ok": True, "signer": "dev@laptop", "keyid": KEYID, "reason": None,
                     "code": None},
    "versions": [
        {"version": 1, "status": "shadow", "digest": "sha256:aa11bb22cc33dd44", "signer":
         "dev@laptop", "keyid": KEYID, "run_id": "claude:4f1c9a2e", "repaired_from": None,
         "created_at": "2026-11-24T11:50:00Z"},
        {"version": 2, "status": "active", "digest": DIGEST, "signer": "dev@laptop",
         "keyid": KEYID, "run_id": "claude:4f1c9a2e", "repaired_from": "rq-20261124-7f3a",
         "created_at": "2026-11-24T11:58:00Z"},
    ],
    "repaired_from": "rq-20261124-7f3a",
}  # fmt: skip

STATUS: dict[str, Any] = {
    "version": "0.1.0", "pid": 4242, "uptime_s": 3725.0,
    "socket": "/run/user/1000/aionis/aionisd.sock",
    "db": "/home/dev/.local/share/aionis/aionis.db",
    "config": "/home/dev/.config/aionis/config.toml", "allow_local_exec": False,
    "watch": {"/home/dev/.claude/projects": "claude_code", "/home/dev/.codex/sessions": "codex",
              "/home/dev/.gemini/tmp": "gemini"},
    "sources": {"files": 2, "reading": 1, "with_errors": 1,
                "by_dir": {"/home/dev/.claude/projects": 1, "/home/dev/.codex/sessions": 1,
                           "/home/dev/.gemini/tmp": 0}},
    "counts": {"runs": 3, "steps": 24, "playbooks": 3, "repairs_pending": 1,
               "ingest_errors": 2},
    "last_seq": 1234,
}  # fmt: skip

SOURCES = {
    "watch": STATUS["watch"],
    "sources": [
        {"path": "/home/dev/.claude/projects/shop/4f1c9a2e.jsonl", "adapter": "claude_code",
         "offset": 90210, "size": 90210, "errors": 0, "updated_at": "2026-11-24T11:46:10Z"},
        {"path": "/home/dev/.codex/sessions/2026/11/24/rollout-9b77d0c1.jsonl",
         "adapter": "codex", "offset": 4096, "size": 8192, "errors": 2,
         "updated_at": "2026-11-24T09:20:00Z"},
    ],
    "next": None,
    "errors": [
        {"path": "/home/dev/.codex/sessions/2026/11/24/rollout-9b77d0c1.jsonl", "offset": 5120,
         "reason": "line is not JSON: Expecting value: line 1 column 1", "ts": "2026-11-24T09:20Z"},
    ],
}  # fmt: skip

SAVINGS = {
    "playbooks": [
        {"id": PB, "name": "set up the python project", "replays": 5, "succeeded": 4,
         "source_tokens": 48210, "source_duration_ms": 370000, "replay_mean_ms": 9400,
         "replay_tokens": 0},
        {"id": "pb-9a8b7c6d5e4f", "name": "bootstrap the api service", "replays": 2,
         "succeeded": 2, "source_tokens": 131000, "source_duration_ms": 1260000,
         "replay_mean_ms": 61000, "replay_tokens": 0},
        {"id": "pb-0c1d2e3f4a5b", "name": "cut a release", "replays": 0, "succeeded": 0,
         "source_tokens": 120400, "source_duration_ms": 480000, "replay_mean_ms": None,
         "replay_tokens": 0},
    ],
}  # fmt: skip

REPAIRS = [
    {"id": "rq-20261124-7f3a", "playbook_id": PB, "version": 1,
     "replay_id": "rp-20261124-02", "step_index": 1, "source": "heuristic",
     "rationale": "pip refuses a system-managed interpreter; install into the venv instead",
     "status": "pending_review", "playbook_name": "set up the python project",
     "failure": {"exit_code": 1, "stdout": "",
                 "stderr": "error: externally-managed-environment\n\n\u00d7 This environment is "
                           "externally managed\n"},
     "patch": [{"op": "replace", "path": "/steps/1/run",
                "value": ".venv/bin/python -m pip install pytest"}],
     "diff": [{"change": "changed", "id": "s2", "index": 1,
               "before": DOC["steps"][1],
               "after": {**DOC["steps"][1], "run": ".venv/bin/python -m pip install pytest"},
               "fields": [{"field": "run", "before": "pip install pytest",
                           "after": ".venv/bin/python -m pip install pytest"}]}],
     "review_diff": review_diff(DOC, {**DOC, "steps": [
         {**s, "run": ".venv/bin/python -m pip install pytest"} if s["id"] == "s2" else s
         for s in DOC["steps"]]}),
     "state": "pending", "note": None, "reviewer": None, "new_version": None,
     "shadow": {"status": "passed", "sandbox": "bwrap",
                "reason": "4 step(s) and 1 success check(s) passed",
                "steps": [{"index": i, "id": f"s{i + 1}", "status": "succeeded"} for i in range(4)]},
     "created_at": "2026-11-24T11:55:00Z"},
    {"id": "rq-20261124-0b9c", "playbook_id": "pb-0c1d2e3f4a5b", "version": 1,
     "replay_id": None, "step_index": None, "source": "human",
     "rationale": "add a changelog step", "status": "pending_review",
     "playbook_name": "cut a release", "failure": {},
     "patch": [{"op": "add", "path": "/steps/-", "value": {"id": "s10"}}],
     "diff": [{"change": "added", "id": "s10", "index": 9, "before": None,
               "after": {"id": "s10", "kind": "command", "run": "git cliff -o CHANGELOG.md"}}],
     "review_diff": [
         {"change": "same", "index": 8, "id": "s9", "before": {"run": "git tag v1.4.0"},
          "after": {"run": "git tag v1.4.0"}},
         {"change": "added", "index": 9, "id": "s10", "before": None,
          "after": {"run": "git cliff -o CHANGELOG.md"}}],
     "state": "pending", "note": None, "reviewer": None, "new_version": None,
     "shadow": None, "created_at": "2026-11-24T11:57:00Z"},
]  # fmt: skip

AUDIT = {
    "entries": [
        {"seq": 7, "ts": "2026-11-24T11:58:00.120Z", "actor": "dev@laptop",
         "action": "review.decided", "subject": "rq-20261124-7f3a",
         "data": {"decision": "approve", "new_version": 2, "note": "looks right"},
         "hash": "9f8e7d6c5b4a39281706f5e4d3c2b1a0"},
        {"seq": 6, "ts": "2026-11-24T11:56:00.000Z", "actor": "aionisd",
         "action": "repair.shadow_finished", "subject": "rq-20261124-7f3a",
         "data": {"status": "passed", "sandbox": "bwrap"}, "hash": "1a2b3c4d5e6f7a8b9c0d"},
        {"seq": 5, "ts": "2026-11-24T11:55:00.000Z", "actor": "aionisd",
         "action": "repair.proposed", "subject": "rq-20261124-7f3a",
         "data": {"playbook": PB, "source": "heuristic"}, "hash": "2b3c4d5e6f7a8b9c0d1e"},
        {"seq": 4, "ts": "2026-11-24T11:52:00.000Z", "actor": "aionisd",
         "action": "replay.finished", "subject": "rp-20261124-02",
         "data": {"status": "failed"}, "hash": "3c4d5e6f7a8b9c0d1e2f"},
        {"seq": 3, "ts": "2026-11-24T11:50:00.000Z", "actor": "aionisd",
         "action": "playbook.compiled", "subject": f"{PB}@1",
         "data": {"id": PB, "version": 1}, "hash": "4d5e6f7a8b9c0d1e2f3a"},
        {"seq": 2, "ts": "2026-11-24T11:49:00.000Z", "actor": "aionisd",
         "action": "key.trusted", "subject": KEYID, "data": {"principal": "dev@laptop"},
         "hash": "5e6f7a8b9c0d1e2f3a4b"},
        {"seq": 1, "ts": "2026-11-24T11:49:00.000Z", "actor": "aionisd",
         "action": "key.created", "subject": KEYID, "data": {"principal": "dev@laptop"},
         "hash": "6f7a8b9c0d1e2f3a4b5c"},
    ],
}  # fmt: skip

REPLAY = {
    "replay_id": "rp-20261124-02", "playbook": {"id": PB, "version": 1,
                                                "name": "set up the python project"},
    "mode": "strict", "status": "failed",
    "reason": "step 2 (s2): exit code 1, expected 0", "workdir": "/home/dev/try",
    "steps": [
        {"index": 0, "id": "s1", "phase": "step", "status": "succeeded", "exit_code": 0,
         "duration_ms": 2050, "kind": "command"},
        {"index": 1, "id": "s2", "phase": "step", "status": "failed", "exit_code": 1,
         "duration_ms": 830, "kind": "command", "reason": "exit code 1, expected 0"},
    ],
    "checks": [],
    "divergence": {"step_index": 1, "step_id": "s2", "expected": {"exit_code": 0},
                   "got": {"exit_code": 1}, "phase": "step",
                   "output_tail": "error: externally-managed-environment",
                   "reason": "exit code 1, expected 0"},
    "repairs": [], "simulation": None,
    "started_at": "2026-11-24T11:51:00Z", "ended_at": "2026-11-24T11:51:03Z",
}  # fmt: skip

REPLAY_EVENTS: list[dict[str, Any]] = [
    {"seq": 1300 + i, "kind": kind, "ts": "2026-11-24T11:51:00Z",
     "data": {"replay_id": "rp-20261124-02", **data}}
    for i, (kind, data) in enumerate([
        ("replay.step.started", {"index": 0, "id": "s1", "phase": "step",
                                 "action": "python3 -m venv .venv"}),
        ("replay.output", {"index": 0, "phase": "step", "stream": "stdout",
                           "text": "created virtual environment\n"}),
        ("replay.step.finished", {"index": 0, "id": "s1", "phase": "step",
                                  "status": "succeeded", "exit_code": 0, "duration_ms": 2050}),
        ("replay.step.started", {"index": 1, "id": "s2", "phase": "step",
                                 "action": "pip install pytest"}),
        ("replay.output", {"index": 1, "phase": "step", "stream": "stderr",
                           "text": "error: externally-managed-environment\n"}),
        ("replay.step.finished", {"index": 1, "id": "s2", "phase": "step", "status": "failed",
                                  "exit_code": 1, "duration_ms": 830,
                                  "reason": "exit code 1, expected 0"}),
    ])
]  # fmt: skip

ANSWERS: dict[str, Any] = {
    "status": STATUS,
    "sources.list": SOURCES,
    "stats.savings": SAVINGS,
    "runs.list": {"runs": RUNS},
    "runs.get": RUN_DETAIL,
    "playbooks.list": {"playbooks": PLAYBOOKS},
    "playbooks.search": {"playbooks": PLAYBOOKS[:1]},
    "playbooks.get": PLAYBOOK_DETAIL,
    "repairs.list": {"repairs": REPAIRS},
    "audit.list": AUDIT,
    "audit.verify": {"ok": True, "entries": 7, "first_bad": None},
    "replay.get": REPLAY,
}


class CannedBackend(Backend):
    """Answers from ANSWERS (deep copies); `offline` plays a daemon that is not there."""

    def __init__(self, *, offline: bool = False, missing: tuple[str, ...] = ()) -> None:
        super().__init__("/run/user/1000/aionis/aionisd.sock")
        self.offline = offline
        self.missing = missing

    async def call(self, method: str, /, **params: Any) -> Any:
        if self.offline:
            from aionis_tui.backend import DaemonNotRunning

            raise DaemonNotRunning(self.state.message)
        if method in self.missing or method not in ANSWERS:
            raise NotAvailable(-32601, f"{method} is not available yet")
        answer = ANSWERS[method]
        if isinstance(answer, ApiError):
            raise answer
        return copy.deepcopy(answer)

    async def run(self) -> None:
        if self.offline:
            msg = f"aionisd is not running on {self.socket}: reconnecting (try 3)"
            self._set_state(ConnState(False, msg, 3))
        else:
            self.methods = frozenset(ANSWERS)
            self.last_seq = STATUS["last_seq"]
            self._set_state(ConnState(True, f"connected to aionisd on {self.socket}"))
