"""Repairs: when a guided replay step fails, ask sources for an RFC 6902 patch of the playbook.

The data shared by every source lives here so that the pure modules (`patch`, `heuristic`) never
import trio: `patch` applies and checks patches, `heuristic` holds local rules, `http` and `llm`
ask remote services, and `sources` chains them in the configured order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

SourceName = Literal["heuristic", "http", "llm"]
Action = Literal["retry", "continue", "stop"]
ACTIONS: tuple[Action, ...] = ("retry", "continue", "stop")
Outcome = Literal["proposed", "rejected", "repeated", "no_answer", "error"]
MASK = "********"
MIN_SECRET_LEN = 6
REASON_CHARS = 500


@dataclass(frozen=True, slots=True)
class Failure:
    """What the failing step left behind; exit_code is None when it was killed (timeout)."""

    exit_code: int | None
    stdout: str = ""
    stderr: str = ""


@dataclass(frozen=True, slots=True)
class RepairRequest:
    """One failing step of a playbook document.

    `step` is `doc["steps"][step_index]` as written in the document (with its `${NAME}`
    placeholders), not the rendered command the runner executed.
    """

    doc: dict[str, Any]
    step_index: int
    step: dict[str, Any]
    failure: Failure


@dataclass(frozen=True, slots=True)
class Proposal:
    """A repair proposed by one source.

    `action` says what the replay does once the repair is recorded: "retry" resumes at
    `step_index` in the patched document (running the patched or inserted steps now),
    "continue" goes on with the next step, "stop" ends the replay.
    """

    source: SourceName
    patch: list[dict[str, Any]]
    rationale: str
    action: Action = "retry"
    usage: dict[str, int] | None = None
    raw: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "patch": self.patch,
            "rationale": self.rationale,
            "action": self.action,
            "usage": self.usage,
            "raw": self.raw,
        }


@dataclass(frozen=True, slots=True)
class SourceResult:
    """What a source gave: a proposal, nothing (declined, `declined` saying why when it can), or
    nothing because it failed (`error`)."""

    proposal: Proposal | None = None
    error: str | None = None
    usage: dict[str, int] | None = field(default=None)
    declined: str | None = None


@dataclass(frozen=True, slots=True)
class SourceOutcome:
    """What one source's turn came to, for the replay result and the people reading it: a
    rejected patch or a failing service says why, instead of only the daemon log."""

    source: str
    outcome: Outcome
    reason: str
    tokens: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "outcome": self.outcome, "reason": self.reason, "tokens": self.tokens}


def mask(value: Any, secrets: Iterable[str]) -> Any:
    """Copy a JSON value with every secret replaced by a mask, so it can leave the machine."""
    ordered = sorted({s for s in secrets if len(s) >= MIN_SECRET_LEN}, key=len, reverse=True)
    if not ordered:
        return value
    return _mask(value, ordered)


def _mask(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {_mask(k, secrets): _mask(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, secrets) for v in value]
    return value


def secret_values(doc: Mapping[str, Any], env: Mapping[str, str]) -> set[str]:
    """Values in `env` that must not leave the machine: secret params and secret-looking names."""
    names = {
        p["name"]
        for p in doc.get("params") or []
        if isinstance(p, dict) and p.get("secret") and isinstance(p.get("name"), str)
    }
    found = {env[n] for n in names if n in env}
    found.update(v for k, v in env.items() if _looks_secret(k))
    return found


_SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "API_KEY", "APIKEY", "CREDENTIAL")


def _looks_secret(name: str) -> bool:
    upper = name.upper()
    return any(w in upper for w in _SECRET_WORDS) or upper.endswith(("_KEY", "_PAT"))


def wire_request(req: RepairRequest, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """The JSON both remote sources receive: secret values masked, secret defaults dropped."""
    doc = dict(req.doc)
    params = doc.get("params")
    if isinstance(params, list):
        doc["params"] = [
            {**p, "default": None} if isinstance(p, dict) and p.get("secret") else p for p in params
        ]
    body = {
        "playbook": doc,
        "step_index": req.step_index,
        "step": req.step,
        "failure": {
            "exit_code": req.failure.exit_code,
            "stdout": req.failure.stdout,
            "stderr": req.failure.stderr,
        },
    }
    masked: dict[str, Any] = mask(body, secrets)
    return masked


class BadAnswer(ValueError):
    """A remote source answered, but not with the documented shape."""


def repair_summary(entry: dict[str, Any]) -> dict[str, Any]:
    """A replay result's repair entry as clients show it: the decision, the stored repair (if
    any) and each source's outcome, without the output of the steps it ran."""
    return {
        "step_index": entry.get("step_index"),
        "step_id": entry.get("step_id"),
        "action": entry.get("action"),
        "ok": entry.get("ok"),
        "repair_id": (entry.get("record") or {}).get("repair_id"),
        "sources": entry.get("sources") or [],
    }


def no_patch_reason(answer: Any) -> str:
    """Why an answer without a patch proposed nothing: its rationale, when it gave one."""
    rationale = answer.get("rationale") if isinstance(answer, dict) else None
    if isinstance(rationale, str) and rationale:
        return f"answered without a patch: {rationale}"
    return "answered without a patch"


def proposal_from_answer(answer: Any, source: SourceName) -> Proposal | None:
    """Read `{"patch", "rationale", "action"?}`; an absent or empty patch means no proposal."""
    if not isinstance(answer, dict):
        raise BadAnswer(f"answer is {type(answer).__name__}, not an object")
    patch = answer.get("patch")
    if patch is None or patch == []:
        return None
    if not isinstance(patch, list) or not all(isinstance(op, dict) for op in patch):
        raise BadAnswer("patch is not a list of operation objects")
    rationale = answer.get("rationale") or ""
    if not isinstance(rationale, str):
        raise BadAnswer("rationale is not a string")
    action = answer.get("action") or "retry"
    if action not in ACTIONS:
        raise BadAnswer(f"action {action!r} is not one of {', '.join(ACTIONS)}")
    return Proposal(source=source, patch=patch, rationale=rationale, action=action, raw=answer)


__all__ = [
    "ACTIONS",
    "MASK",
    "REASON_CHARS",
    "Action",
    "BadAnswer",
    "Failure",
    "Outcome",
    "Proposal",
    "RepairRequest",
    "SourceName",
    "SourceOutcome",
    "SourceResult",
    "mask",
    "no_patch_reason",
    "proposal_from_answer",
    "repair_summary",
    "secret_values",
    "wire_request",
]
