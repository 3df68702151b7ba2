"""The wire vocabulary of what happens: the kinds of stored events, the replay modes and the
environment a client may pass, and how a replay's repair entries read. A leaf, like `errors`:
the domain, the CLI, MCP and the TUI share these words instead of copying them.
"""

from __future__ import annotations

from typing import Any

# Every kind of event the daemon stores and publishes (`events.subscribe {kinds}` names these).
KINDS: dict[str, str] = {
    "run.started": "a run was first recorded",
    "run.updated": "a run's status, goal or times changed",
    "step.recorded": "a step was recorded or its result changed",
    "ingest.error": "a log line could not be read (file and offset)",
    "playbook.compiled": "a run became a signed draft playbook",
    "playbook.imported": "an exported envelope was imported",
    "playbook.repaired": "an approved repair made a new version",
    "playbook.status_changed": "a version was promoted or disabled",
    "replay.started": "a replay began",
    "replay.step.started": "a replay step began",
    "replay.output": "a replay step wrote output",
    "replay.step.finished": "a replay step ended",
    "replay.finished": "a replay ended",
    "replay.refused": "a replay was refused before its first step",
    "repair.proposed": "a repair source proposed a patch",
    "repair.shadow_finished": "a repair's shadow run ended",
    "review.decided": "a person approved or rejected a repair",
    "key.created": "a signing key was made",
    "key.set_aside": "a revoked signing key was moved aside for a new one",
    "key.trusted": "a signer was added to allowed_signers",
    "key.revoked": "a signer was revoked",
    "config.seen": "the daemon started with a changed configuration",
}

MODES = ("simulate", "strict", "guided")
# What a client passes of its own environment when it names none (secrets come only on purpose).
SAFE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TERM", "USER", "LOGNAME", "SHELL", "TMPDIR")


def outcome_line(o: dict[str, Any]) -> str:
    """One line for a repair source's outcome: CLI, TUI, MCP and log say it alike."""
    label = str(o.get("outcome", "")).replace("_", " ")
    tokens = f" [{o['tokens']} tokens]" if o.get("tokens") is not None else ""
    reason = f": {o['reason']}" if o.get("reason") else ""
    return f"{o.get('source')}: {label}{reason}{tokens}"


def repair_heading(entry: dict[str, Any]) -> str:
    """One line for a replay result's repair entry: which step, and what was decided."""
    rid = (entry.get("record") or {}).get("repair_id") or entry.get("repair_id")
    action = entry.get("action")
    done = "no source proposed a repair" if action == "none" else f"{action}" + (f" ({rid})" if rid else "")
    return f"repair of step {int(entry.get('step_index') or 0) + 1} ({entry.get('step_id')}): {done}"
