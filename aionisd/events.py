"""The wire vocabulary of what happens: the kinds of stored events, the replay modes and the
environment a client may pass, and how a replay's repair entries read. A leaf, like `errors`:
the domain, the CLI, MCP and the TUI share these words instead of copying them.
"""

from __future__ import annotations

import json
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


def replay_story(res: dict[str, Any]) -> list[dict[str, Any]]:
    """A replay's steps in the order they ran: each playbook step, then right after a failing
    one the steps its repair ran in its place (with `repair_id`), then the success checks."""
    keep = ("index", "id", "status", "exit_code", "duration_ms", "reason")
    by_step: dict[int, list[dict[str, Any]]] = {}
    for r in res.get("repairs") or []:
        rid = (r.get("record") or {}).get("repair_id") or r.get("repair_id")
        for s in r.get("steps") or []:
            row = {k: s.get(k) for k in keep}
            by_step.setdefault(int(r.get("step_index") or 0), []).append(
                {**row, "phase": "repair", "repair_id": rid}
            )
    out: list[dict[str, Any]] = []
    for s in res.get("steps") or []:
        out.append({**{k: s.get(k) for k in keep}, "phase": "step", "repair_id": None})
        out.extend(by_step.get(int(s.get("index") or 0), []))
    out.extend(
        {**{k: c.get(k) for k in keep}, "phase": "success", "repair_id": None}
        for c in res.get("checks") or []
    )
    return out


def review_hint(repair_id: str) -> str:
    """How to decide on a repair a replay proposed: CLI, MCP and TUI point at the same commands."""
    return (
        f"review it: aionis repair show {repair_id}; aionis review {repair_id} --approve|--reject --note WHY"
    )


def review_lines(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """A repair's `review_diff` as (mark, text) lines: ' ' context, '-' before, '+' after, '…' a gap."""
    out: list[tuple[str, str]] = []
    last: int | None = None
    for row in rows:
        if "section" in row:
            out.append(("-", f"{row['section']}: {_value(row.get('before'))}"))
            out.append(("+", f"{row['section']}: {_value(row.get('after'))}"))
            continue
        change, index = row.get("change"), int(row.get("index") or 0)
        if last is not None and index > last + 1:
            out.append((" ", "…"))
        last = index
        label = f"step {index + 1} ({row.get('id')})" + ("" if change == "same" else f" {change}")
        same = change in ("same", "moved")
        sides = [(" ", row.get("after"))] if same else [("-", row.get("before")), ("+", row.get("after"))]
        for mark, fields in sides:
            if fields is None:
                continue
            out.append((mark, label))
            for k, v in fields.items():
                text = v if isinstance(v, str) else _value(v)
                out.extend(
                    (mark, f"    {k}: {ln}" if n == 0 else f"      {ln}")
                    for n, ln in enumerate(text.splitlines() or [""])
                )
    return out


def _value(v: Any) -> str:
    return json.dumps(v, sort_keys=True, ensure_ascii=False)
