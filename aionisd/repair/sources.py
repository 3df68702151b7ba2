"""The repair chain: ask each configured source in order; the first patch that applies wins.

A source's patch is only accepted after it applies to the document and the result is still a
valid playbook; otherwise the chain says why and asks the next source. Those outcomes go into the
replay result, so a person sees, for every failed step, what was tried and why each source gave
nothing. Step ids a source made up are renumbered to our scheme first (it cannot know it).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aionisd.config import RepairSection
from aionisd.repair import (
    REASON_CHARS,
    Outcome,
    Proposal,
    RepairRequest,
    SourceOutcome,
    SourceResult,
    heuristic,
    http,
    llm,
    mask,
    secret_values,
)
from aionisd.repair.patch import InvalidPatch, apply

log = logging.getLogger("aionisd.repair")

KNOWN_SOURCES = ("heuristic", "http", "llm")


@dataclass(frozen=True, slots=True)
class RepairConfig:
    """The `[repair]` and `[repair.llm]` config tables; remote sources without a URL are skipped."""

    sources: tuple[str, ...] = KNOWN_SOURCES
    http_url: str | None = None
    http_token_env: str | None = None
    http_timeout_s: float = 30.0
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key_env: str | None = None
    llm_timeout_s: float = 60.0

    @classmethod
    def from_section(cls, section: RepairSection) -> RepairConfig:
        """From the loaded `[repair]` config section (already checked by aionisd.config)."""
        return cls(
            sources=tuple(section.sources),
            http_url=section.http_url or None,
            http_token_env=section.http_token_env or None,
            http_timeout_s=section.http_timeout_s,
            llm_base_url=section.llm.base_url or None,
            llm_model=section.llm.model or None,
            llm_api_key_env=section.llm.api_key_env or None,
            llm_timeout_s=section.llm.timeout_s,
        )


async def propose(
    req: RepairRequest,
    cfg: RepairConfig,
    env: Mapping[str, str],
    *,
    secrets: Iterable[str] = (),
) -> tuple[Proposal | None, list[SourceOutcome]]:
    """Try the sources in `cfg.sources` order; return the first valid proposal and the outcome
    of every source asked.

    `env` is the replay's environment: it supplies the bearer token and API key (named by the
    config) and the secret values masked before anything leaves the machine, together with
    `secrets` (resolved secret parameter values); reasons are masked with them too.
    """
    hidden = secret_values(req.doc, env) | set(secrets)
    outcomes: list[SourceOutcome] = []

    def note(name: str, outcome: Outcome, reason: str, result: SourceResult | None = None) -> None:
        text = mask(reason, hidden)
        text = text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"
        outcomes.append(SourceOutcome(name, outcome, text, _tokens(result)))

    for name in cfg.sources:
        try:
            result = await _ask(name, req, cfg, env, hidden)
        except Exception as exc:  # a bug in one source must not cost the others their turn
            log.exception("repair source %s crashed", name)
            note(name, "error", f"crashed: {exc!r}")
            continue
        if result.proposal is None:
            if result.error:
                note(name, "error", result.error, result)
            else:
                note(name, "no_answer", result.declined or "no proposal", result)
            continue
        proposal = dataclasses.replace(result.proposal, patch=renumber_ids(req.doc, result.proposal.patch))
        try:
            patched = apply(req.doc, proposal.patch)
        except InvalidPatch as exc:
            note(name, "rejected", exc.reason, result)
            continue
        if patched == req.doc:
            note(name, "rejected", "the patch changes nothing", result)
            continue
        note(name, "proposed", proposal.rationale, result)
        return proposal, outcomes
    return None, outcomes


_ID_SCHEMES = (("steps", "s"), ("success", "c"))


def renumber_ids(doc: Mapping[str, Any], ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`ops` with each step (and success check) id that breaks our `s<n>` (`c<n>`) scheme or is
    taken by another step replaced: by the id of the step it replaces, else the next free number.

    Steps are followed through the patch (add, remove, replace, move); where it stops making sense
    (an index out of range, a copy) the rest is left as it is, for `apply` to judge.
    """
    out = copy.deepcopy(ops)
    for section, prefix in _ID_SCHEMES:
        items = doc.get(section)
        if isinstance(items, list):
            _Renumber(section, prefix, [x.get("id") if isinstance(x, dict) else None for x in items]).run(out)
    return out


class _Renumber:
    """The ids of one section (steps or success) as a patch's operations change them."""

    def __init__(self, section: str, prefix: str, ids: list[Any]) -> None:
        self.section = section
        self.prefix = prefix
        self.ids = ids
        self.ours = re.compile(rf"{prefix}[0-9]+")
        self.top = max((int(i[1:]) for i in ids if self._conforms(i)), default=0)
        self.renamed: dict[str, str] = {}

    def _conforms(self, value: Any) -> bool:
        return isinstance(value, str) and self.ours.fullmatch(value) is not None

    def _settle(self, value: Any, others: list[Any], old: Any = None) -> str:
        """The id to use for `value` among `others`, replacing a step whose id was `old`."""
        if self._conforms(value) and value not in others:
            self.top = max(self.top, int(value[1:]))
            return str(value)
        if isinstance(value, str) and self.renamed.get(value) not in (None, *others):
            return self.renamed[value]
        if self._conforms(old) and old not in others:
            new = str(old)
        else:
            self.top += 1
            new = f"{self.prefix}{self.top}"
        if isinstance(value, str):
            self.renamed[value] = new
        return new

    def _where(self, pointer: Any) -> tuple[int | str, str] | None:
        """(index or "-", the rest of the pointer) of a pointer into this section, or None."""
        if not isinstance(pointer, str):
            return None
        parts = pointer.split("/")
        if len(parts) < 3 or parts[0] or parts[1] != self.section:
            return None
        at = parts[2]
        return (int(at) if at.isdigit() else at), "/".join(parts[3:])

    def run(self, ops: list[dict[str, Any]]) -> None:
        for op in ops:
            if not self._step(op):
                return

    def _step(self, op: dict[str, Any]) -> bool:
        """Follow one operation; False when the ids can no longer be followed."""
        name, value = op.get("op"), op.get("value")
        if op.get("path") == f"/{self.section}" and name in ("add", "replace"):
            if not isinstance(value, list):
                return False
            self.ids = []
            for item in value:
                if isinstance(item, dict):
                    item["id"] = self._settle(item.get("id"), self.ids)
                self.ids.append(item.get("id") if isinstance(item, dict) else None)
            return True
        where = self._where(op.get("path"))
        src = self._where(op.get("from"))
        if where is None:
            return src is None or name == "copy"
        at, rest = where
        n = len(self.ids)
        pos = n if at == "-" and name in ("add", "move", "copy") else at
        if (
            not isinstance(pos, int)
            or pos > n
            or (pos == n and (rest or name not in ("add", "move", "copy")))
        ):
            return False
        if rest == "id" and name in ("add", "replace"):
            others = self.ids[:pos] + self.ids[pos + 1 :]
            op["value"] = self.ids[pos] = self._settle(value, others, self.ids[pos])
        elif rest == "id" and name == "test" and isinstance(value, str):
            op["value"] = self.renamed.get(value, value)
        elif rest:
            return True
        elif name == "add":
            if isinstance(value, dict):
                value["id"] = self._settle(value.get("id"), self.ids)
            self.ids.insert(pos, value.get("id") if isinstance(value, dict) else None)
        elif name == "replace":
            others = self.ids[:pos] + self.ids[pos + 1 :]
            if isinstance(value, dict):
                value["id"] = self._settle(value.get("id"), others, self.ids[pos])
            self.ids[pos] = value.get("id") if isinstance(value, dict) else None
        elif name == "remove":
            self.ids.pop(pos)
        elif name == "test" and isinstance(value, dict) and isinstance(value.get("id"), str):
            value["id"] = self.renamed.get(value["id"], value["id"])
        elif name == "move" and src is not None and isinstance(src[0], int) and not src[1]:
            if src[0] >= n:
                return False
            self.ids.insert(pos, self.ids.pop(src[0]))
        elif name in ("move", "copy"):
            return False
        return True


async def _ask(
    name: str, req: RepairRequest, cfg: RepairConfig, env: Mapping[str, str], hidden: set[str]
) -> SourceResult:
    if name == "heuristic":
        proposal = heuristic.propose(req)
        return SourceResult(proposal, declined=None if proposal else "no rule matched")
    if name == "http":
        if not cfg.http_url:
            return SourceResult(declined="not configured (repair.http_url)")
        token, missing = _secret_env(cfg.http_token_env, env)
        if missing:
            return SourceResult(error=missing)
        return await http.ask(
            req, url=cfg.http_url, token=token, timeout_s=cfg.http_timeout_s, secrets=hidden
        )
    if name == "llm":
        if not cfg.llm_base_url or not cfg.llm_model:
            return SourceResult(declined="not configured (repair.llm base_url and model)")
        key = env.get(cfg.llm_api_key_env or "") or None  # local servers often need no key
        return await llm.ask(
            req,
            base_url=cfg.llm_base_url,
            model=cfg.llm_model,
            api_key=key,
            timeout_s=cfg.llm_timeout_s,
            secrets=hidden,
        )
    return SourceResult(error="unknown source")


def _secret_env(name: str | None, env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The token named by the config, or why it is missing: a configured name must be set."""
    if not name:
        return None, None
    value = env.get(name)
    if not value:
        return None, f"environment variable {name} is not set"
    return value, None


def _tokens(result: SourceResult | None) -> int | None:
    return ((result.usage if result else None) or {}).get("total_tokens")
