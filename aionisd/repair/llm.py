"""Ask an OpenAI-compatible chat completions endpoint for a repair.

Works with any server speaking `POST /v1/chat/completions` (OpenAI, vLLM, llama.cpp, Ollama,
LiteLLM...). The model sees the same masked JSON the HTTP source sends, and must answer with
the same JSON object; token usage is kept so replays can account for what repairs cost.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Iterable
from typing import Any

from aionisd.repair import (
    BadAnswer,
    RepairRequest,
    SourceResult,
    no_patch_reason,
    proposal_from_answer,
    wire_request,
)
from aionisd.repair.http import TransportError, bearer, describe_status, post_json_async

log = logging.getLogger("aionisd.repair")

SYSTEM_PROMPT = """\
You repair replayable workflows ("playbooks") for a coding-agent tool. A step of a playbook \
failed during replay; propose the smallest change that makes the replay succeed.

The playbook is a JSON document (schema "aionis.playbook/v1") with: params [{name, default, \
description, secret}], preconditions, steps and success checks. Every step has id ("s" and a \
number, unique), kind (command | file_write | file_edit | tool), cwd, env (object of strings), \
timeout_s (integer), expect {exit_code, creates?, stdout_contains?}, retry {attempts, \
backoff_s}, risk (low | medium | high), note and optional (boolean); command steps also have \
run (a shell command) and shell ("bash -c" or "bash -lc"). ${NAME} in strings is a \
parameter placeholder: keep placeholders, never write a machine-specific path or a secret \
value in their place. Secret values are masked as ******** and must not be guessed.

You receive a JSON object {"playbook", "step_index", "step", "failure": {"exit_code", \
"stdout", "stderr"}}. Answer with one JSON object and nothing else:
{"patch": [RFC 6902 JSON Patch operations against the playbook document], \
"rationale": "one or two sentences on the cause and the fix", \
"action": "retry" | "continue" | "stop"}
- Address steps by JSON Pointer: "/steps/3/run" to replace a field, "/steps/3" with "add" to \
insert a step before step 3 (a new step needs a new id and every field listed above).
- Guard what you change: put a "test" operation with the current value before each "replace" \
or "remove".
- Never change /schema, /name, /version, /status, /source or /created_at.
- action "retry" runs the patched step now (the usual answer), "continue" skips the failed \
step, "stop" ends the replay because a person must act.
- If you cannot propose a safe fix, answer {"patch": [], "rationale": "why", "action": "stop"}.
"""

_FENCED = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.S)


def chat_url(base_url: str) -> str:
    """`{base_url}/v1/chat/completions`, also when the configured URL already ends in /v1."""
    base = base_url.rstrip("/")
    if base.endswith("/v1"):
        return f"{base}/chat/completions"
    return f"{base}/v1/chat/completions"


def request_body(req: RepairRequest, model: str, secrets: Iterable[str] = ()) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": json.dumps(wire_request(req, secrets), indent=1)},
        ],
        "response_format": {"type": "json_object"},
        "temperature": 0,
    }


def parse_content(content: str) -> Any:
    """The model's JSON answer, also when it wrapped it in a ```json fenced block."""
    text = content.strip()
    fenced = _FENCED.search(text)
    if fenced:
        text = fenced.group(1).strip()
    try:
        return json.loads(text)
    except ValueError:
        start, end = text.find("{"), text.rfind("}")
        if 0 <= start < end:
            return json.loads(text[start : end + 1])
        raise


def read_usage(response: Any) -> dict[str, int] | None:
    usage = response.get("usage") if isinstance(response, dict) else None
    if not isinstance(usage, dict):
        return None
    keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    found = {k: usage[k] for k in keys if isinstance(usage.get(k), int)}
    return found or None


async def ask(
    req: RepairRequest,
    *,
    base_url: str,
    model: str,
    api_key: str | None = None,
    timeout_s: float = 60.0,
    secrets: Iterable[str] = (),
) -> SourceResult:
    """One chat completion; the answer is `{patch, rationale, action}` like the HTTP source's."""
    body = request_body(req, model, [*secrets, *([api_key] if api_key else [])])
    try:
        reply = await post_json_async(chat_url(base_url), body, bearer(api_key), timeout_s)
    except TransportError as exc:
        return _failed(str(exc))
    if not 200 <= reply.status < 300:
        return _failed(_describe_error(reply.status, reply.body) or describe_status(reply))
    try:
        response = json.loads(reply.body)
    except ValueError as exc:
        return _failed(f"response is not JSON: {exc}")
    usage = read_usage(response)
    try:
        content = response["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return _failed("response has no choices[0].message.content", usage)
    if not isinstance(content, str):
        refusal = response["choices"][0]["message"].get("refusal")
        return _failed(f"model gave no content{f': {refusal}' if refusal else ''}", usage)
    try:
        answer = parse_content(content)
    except ValueError as exc:
        return _failed(f"model answer is not JSON: {exc}", usage)
    try:
        proposal = proposal_from_answer(answer, "llm")
    except BadAnswer as exc:
        return _failed(f"bad answer: {exc}", usage)
    if proposal is None:
        return SourceResult(usage=usage, declined=no_patch_reason(answer))
    return SourceResult(dataclasses.replace(proposal, usage=usage), usage=usage)


def _describe_error(status: int, body: bytes) -> str | None:
    """OpenAI-style `{"error": {"message"}}` bodies say more than the status line."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return None
    message = error.get("message") if isinstance(error, dict) else error
    return f"HTTP {status}: {message}" if isinstance(message, str) and message else None


def _failed(reason: str, usage: dict[str, int] | None = None) -> SourceResult:
    log.warning("llm repair source gave nothing: %s", reason)
    return SourceResult(error=reason, usage=usage)
