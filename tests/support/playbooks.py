"""Small playbook documents for repair and patch tests."""

from __future__ import annotations

from typing import Any


def command_step(step_id: str, run: str, **extra: Any) -> dict[str, Any]:
    """A command step shaped as the compiler writes them."""
    step: dict[str, Any] = {
        "id": step_id,
        "kind": "command",
        "run": run,
        "shell": "bash -c",
        "cwd": "${workdir}",
        "env": {},
        "timeout_s": 600,
        "expect": {"exit_code": 0},
        "retry": {"attempts": 1, "backoff_s": 0},
        "risk": "low",
        "note": "",
        "optional": False,
    }
    step.update(extra)
    return step


def make_playbook(*steps: dict[str, Any], params: list[dict[str, Any]] | None = None) -> dict:
    """A valid aionis.playbook/v1 document around the given steps."""
    return {
        "schema": "aionis.playbook/v1",
        "name": "setup-proj",
        "version": 1,
        "status": "active",
        "goal": "set up the project",
        "source": {"run_id": "r-1", "agent": "claude_code", "digest": "sha256:" + "0" * 64},
        "params": params
        if params is not None
        else [{"name": "workdir", "default": None, "description": "project", "secret": False}],
        "preconditions": [],
        "steps": list(steps),
        "success": [],
        "created_at": "2026-11-24T10:00:00Z",
    }
