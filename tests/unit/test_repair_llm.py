"""The OpenAI-compatible LLM source and the repair chain, against real local HTTP servers."""

from __future__ import annotations

import json
from typing import Any

from aionisd.repair import MASK, Failure, RepairRequest, SourceOutcome, llm
from aionisd.repair.sources import RepairConfig, propose
from tests.support.httpstub import HttpStub, Reply
from tests.support.playbooks import command_step, make_playbook

PATCH = [
    {"op": "test", "path": "/steps/1/run", "value": "make bulid"},
    {"op": "replace", "path": "/steps/1/run", "value": "make build"},
]
USAGE = {"prompt_tokens": 812, "completion_tokens": 64, "total_tokens": 876}


def completion(content: str | None, usage: dict[str, int] | None = USAGE) -> dict[str, Any]:
    """A chat.completion object as OpenAI-compatible servers return it."""
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1764000000,
        "model": "repair-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def answer(patch: list[dict[str, Any]] = PATCH, **extra: Any) -> str:
    return json.dumps({"patch": patch, "rationale": "typo in the target name", **extra})


def make_request(
    stderr: str = "make: *** No rule to make target 'bulid'.  Stop.\n",
) -> RepairRequest:
    doc = make_playbook(command_step("s1", "./configure"), command_step("s2", "make bulid"))
    return RepairRequest(doc, 1, doc["steps"][1], Failure(2, "", stderr))


async def test_chat_completion_wire_format_and_usage() -> None:
    fenced = f"Here is the fix:\n```json\n{answer(action='retry')}\n```\n"
    req = make_request()
    with HttpStub(Reply(200, json=completion(fenced))) as stub:
        result = await llm.ask(
            req, base_url=stub.url, model="repair-model", api_key="sk-test-key-1", timeout_s=5
        )
    assert result.error is None and result.proposal is not None
    assert result.proposal.source == "llm"
    assert result.proposal.patch == PATCH
    assert result.proposal.rationale == "typo in the target name"
    assert result.proposal.usage == USAGE and result.usage == USAGE
    [received] = stub.requests
    assert (received.method, received.path) == ("POST", "/v1/chat/completions")
    assert received.headers["authorization"] == "Bearer sk-test-key-1"
    body = received.json()
    assert body["model"] == "repair-model"
    assert body["response_format"] == {"type": "json_object"}
    system, user = body["messages"]
    assert system["role"] == "system" and user["role"] == "user"
    assert '"patch"' in system["content"] and "RFC 6902" in system["content"]
    sent = json.loads(user["content"])
    assert set(sent) == {"playbook", "step_index", "step", "failure"}
    assert sent["step_index"] == 1 and sent["step"] == req.step
    assert sent["failure"]["exit_code"] == 2
    assert sent["playbook"]["steps"] == req.doc["steps"]


async def test_base_url_ending_in_v1_and_plain_json_content() -> None:
    with HttpStub(Reply(200, json=completion(answer(action="stop"), usage=None))) as stub:
        result = await llm.ask(make_request(), base_url=f"{stub.url}/v1/", model="m", timeout_s=5)
    assert stub.requests[0].path == "/v1/chat/completions"
    assert "authorization" not in stub.requests[0].headers
    assert result.proposal is not None and result.proposal.action == "stop"
    assert result.proposal.usage is None


async def test_no_patch_keeps_the_token_count() -> None:
    with HttpStub(Reply(200, json=completion(answer(patch=[])))) as stub:
        result = await llm.ask(make_request(), base_url=stub.url, model="m", timeout_s=5)
    assert result.proposal is None and result.error is None
    assert result.usage == USAGE


async def test_unusable_answers_are_errors_with_usage() -> None:
    replies = [
        (Reply(200, json=completion("I think you should fix the Makefile.")), "not JSON"),
        (Reply(200, json=completion(None)), "no content"),
        (Reply(200, json={"object": "chat.completion", "choices": []}), "no choices"),
        (Reply(200, json=completion('{"patch": {"op": "add"}}')), "not a list"),
        (Reply(200, body=b"<html>gateway</html>"), "not JSON"),
    ]
    with HttpStub(*(r for r, _ in replies)) as stub:
        for i, (_, reason) in enumerate(replies):
            result = await llm.ask(make_request(), base_url=stub.url, model="m", timeout_s=5)
            assert result.proposal is None
            assert result.error is not None and reason in result.error, (i, result.error)
    assert len(stub.requests) == len(replies)


async def test_http_errors_use_the_openai_error_message() -> None:
    unauthorized = {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}
    with HttpStub(Reply(401, json=unauthorized), Reply(500, body=b"boom")) as stub:
        first = await llm.ask(make_request(), base_url=stub.url, model="m", timeout_s=5)
        second = await llm.ask(make_request(), base_url=stub.url, model="m", timeout_s=5)
    assert first.error == "HTTP 401: Incorrect API key provided"
    assert second.error == "HTTP 500: boom"


async def test_a_model_that_never_answers_times_out() -> None:
    with HttpStub(Reply(hang=True)) as stub:
        result = await llm.ask(make_request(), base_url=stub.url, model="m", timeout_s=0.2)
    assert result.proposal is None and result.error == "timed out after 0.2s"


async def test_secret_values_never_reach_the_model() -> None:
    req = make_request(stderr="curl: 401 for key sk-test-key-1 and password hunter2-hunter2\n")
    with HttpStub(Reply(200, json=completion(answer(patch=[])))) as stub:
        await llm.ask(
            req,
            base_url=stub.url,
            model="m",
            api_key="sk-test-key-1",
            timeout_s=5,
            secrets=["hunter2-hunter2"],
        )
    user = json.loads(stub.requests[0].json()["messages"][1]["content"])
    assert user["failure"]["stderr"] == f"curl: 401 for key {MASK} and password {MASK}\n"


# --- the chain -------------------------------------------------------------------------------


def config(http_url: str | None, llm_url: str | None, **extra: Any) -> RepairConfig:
    return RepairConfig(
        http_url=http_url,
        http_timeout_s=5,
        llm_base_url=llm_url,
        llm_model="repair-model" if llm_url else None,
        llm_timeout_s=5,
        **extra,
    )


async def test_first_valid_patch_wins_after_invalid_ones_fall_through() -> None:
    stale = [
        {"op": "test", "path": "/steps/1/run", "value": "make bilud"},
        {"op": "replace", "path": "/steps/1/run", "value": "make build"},
    ]
    with (
        HttpStub(Reply(200, json={"patch": stale, "rationale": "stale"})) as remote,
        HttpStub(Reply(200, json=completion(answer()))) as model,
    ):
        proposal, outcomes = await propose(make_request(), config(remote.url, model.url), env={})
    assert proposal is not None and proposal.source == "llm" and proposal.patch == PATCH
    assert len(remote.requests) == 1 and len(model.requests) == 1
    heuristic, http, llm_ = outcomes
    assert heuristic == SourceOutcome("heuristic", "no_answer", "no rule matched")
    assert (http.source, http.outcome) == ("http", "rejected")
    assert http.reason.startswith("a test operation failed")
    assert llm_ == SourceOutcome("llm", "proposed", "typo in the target name", 876)


async def test_a_heuristic_fix_means_no_remote_is_asked() -> None:
    doc = make_playbook(command_step("s1", "python -m venv .venv"))
    req = RepairRequest(doc, 0, doc["steps"][0], Failure(127, "", "bash: python: command not found"))
    with HttpStub() as remote, HttpStub() as model:
        proposal, outcomes = await propose(req, config(remote.url, model.url), env={})
    assert proposal is not None and proposal.source == "heuristic"
    assert remote.requests == [] and model.requests == []
    assert [(o.source, o.outcome) for o in outcomes] == [("heuristic", "proposed")]


async def test_configured_order_is_followed() -> None:
    with (
        HttpStub(Reply(200, json={"patch": PATCH, "rationale": "from http"})) as remote,
        HttpStub(Reply(200, json=completion(answer()))) as model,
    ):
        cfg = config(remote.url, model.url, sources=("llm", "http", "heuristic"))
        proposal, outcomes = await propose(make_request(), cfg, env={})
    assert proposal is not None and proposal.source == "llm"
    assert remote.requests == [] and [o.source for o in outcomes] == ["llm"]


async def test_unconfigured_missing_token_and_useless_patches_say_why_and_give_none() -> None:
    no_change = [{"op": "test", "path": "/steps/1/run", "value": "make bulid"}]
    breaks_schema = [{"op": "replace", "path": "/steps/1/kind", "value": "teleport"}]
    with HttpStub(
        Reply(200, json=completion(json.dumps({"patch": no_change}))),
        Reply(200, json=completion(json.dumps({"patch": breaks_schema}))),
    ) as model:
        cfg = config("http://127.0.0.1:9/never", model.url, http_token_env="REPAIR_TOKEN")
        first, notes = await propose(make_request(), cfg, env={})
        second, more = await propose(make_request(), config(None, model.url), env={})
    assert first is None and second is None
    assert notes[1] == SourceOutcome("http", "error", "environment variable REPAIR_TOKEN is not set")
    assert notes[2] == SourceOutcome("llm", "rejected", "the patch changes nothing", 876)
    assert more[1] == SourceOutcome("http", "no_answer", "not configured (repair.http_url)")
    assert (more[2].outcome, more[2].reason) == (
        "rejected",
        "the patched playbook is invalid: steps/1/kind: 'teleport' is not one of "
        "['command', 'file_write', 'file_edit', 'tool']",
    )


async def test_token_and_api_key_come_from_the_named_environment_variables() -> None:
    with (
        HttpStub(Reply(204)) as remote,
        HttpStub(Reply(200, json=completion(answer(patch=[])))) as model,
    ):
        cfg = config(remote.url, model.url, http_token_env="REPAIR_TOKEN", llm_api_key_env="LLM_KEY")
        env = {"REPAIR_TOKEN": "rt-abcdef", "LLM_KEY": "sk-abcdef", "DB_PASSWORD": "pw-abcdef"}
        req = make_request(stderr="psql: password pw-abcdef rejected\n")
        proposal, outcomes = await propose(req, cfg, env=env)
    assert proposal is None
    assert remote.requests[0].headers["authorization"] == "Bearer rt-abcdef"
    assert model.requests[0].headers["authorization"] == "Bearer sk-abcdef"
    assert "pw-abcdef" not in remote.requests[0].body.decode()
    assert "pw-abcdef" not in model.requests[0].body.decode()
    assert outcomes == [
        SourceOutcome("heuristic", "no_answer", "no rule matched"),
        SourceOutcome("http", "no_answer", "answered 204 No Content"),
        SourceOutcome("llm", "no_answer", "answered without a patch: typo in the target name", 876),
    ]
