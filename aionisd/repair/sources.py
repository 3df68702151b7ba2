"""The repair chain: ask each configured source in order; the first patch that applies wins.

A source's patch is only accepted after it applies to the document and the result is still a
valid playbook; otherwise the chain notes why and asks the next source. The notes let the
daemon record, for every failed step, what was tried and why each source gave nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aionisd.config import RepairSection
from aionisd.repair import (
    Proposal,
    RepairRequest,
    SourceResult,
    heuristic,
    http,
    llm,
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
) -> tuple[Proposal | None, list[str]]:
    """Try the sources in `cfg.sources` order; return the first valid proposal and notes on all.

    `env` is the replay's environment: it supplies the bearer token and API key (named by the
    config) and the secret values masked before anything leaves the machine, together with
    `secrets` (resolved secret parameter values).
    """
    hidden = secret_values(req.doc, env) | set(secrets)
    notes: list[str] = []
    for name in cfg.sources:
        try:
            result = await _ask(name, req, cfg, env, hidden)
        except Exception as exc:  # a bug in one source must not cost the others their turn
            log.exception("repair source %s crashed", name)
            notes.append(f"{name}: failed: {exc!r}")
            continue
        if result.proposal is None:
            notes.append(f"{name}: {result.error or 'no proposal'}{_tokens(result)}")
            continue
        try:
            patched = apply(req.doc, result.proposal.patch)
        except InvalidPatch as exc:
            notes.append(f"{name}: patch rejected: {exc.reason}{_tokens(result)}")
            continue
        if patched == req.doc:
            notes.append(f"{name}: patch rejected: it changes nothing{_tokens(result)}")
            continue
        notes.append(f"{name}: proposed a patch ({result.proposal.rationale}){_tokens(result)}")
        return result.proposal, notes
    return None, notes


async def _ask(
    name: str, req: RepairRequest, cfg: RepairConfig, env: Mapping[str, str], hidden: set[str]
) -> SourceResult:
    if name == "heuristic":
        proposal = heuristic.propose(req)
        return SourceResult(proposal, None if proposal else "no rule matched")
    if name == "http":
        if not cfg.http_url:
            return SourceResult(error="not configured (repair.http_url)")
        token, missing = _secret_env(cfg.http_token_env, env)
        if missing:
            return SourceResult(error=missing)
        return await http.ask(
            req, url=cfg.http_url, token=token, timeout_s=cfg.http_timeout_s, secrets=hidden
        )
    if name == "llm":
        if not cfg.llm_base_url or not cfg.llm_model:
            return SourceResult(error="not configured (repair.llm base_url and model)")
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


def _tokens(result: SourceResult) -> str:
    total = (result.usage or {}).get("total_tokens")
    return f" [{total} tokens]" if total is not None else ""
