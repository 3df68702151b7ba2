"""The HTTP repair source against a real local HTTP server speaking the documented wire format."""

from __future__ import annotations

from typing import Any

import trio

from aionisd.repair import MASK, Failure, RepairRequest, http
from tests.support.httpstub import HttpStub, Reply
from tests.support.playbooks import command_step, make_playbook

PATCH = [
    {"op": "test", "path": "/steps/1/run", "value": "python -m pip install -e ."},
    {"op": "replace", "path": "/steps/1/run", "value": "python3 -m pip install -e ."},
]


def make_request(stderr: str = "bash: python: command not found\n") -> RepairRequest:
    doc = make_playbook(
        command_step("s1", "python3 -m venv .venv"),
        command_step("s2", "python -m pip install -e ."),
        params=[
            {"name": "workdir", "default": None, "description": "", "secret": False},
            {
                "name": "PYPI_TOKEN",
                "default": "pypi-leaked-default",
                "description": "",
                "secret": True,
            },
        ],
    )
    return RepairRequest(doc, 1, doc["steps"][1], Failure(127, "partial out\n", stderr))


async def test_a_patch_answer_becomes_a_proposal_and_the_request_has_the_documented_shape() -> None:
    answer = {"patch": PATCH, "rationale": "python is python3 here", "action": "continue"}
    req = make_request()
    with HttpStub(Reply(200, json=answer)) as stub:
        result = await http.ask(req, url=f"{stub.url}/repair", token="tok-123456", timeout_s=5)
    assert result.error is None and result.proposal is not None
    assert result.proposal.source == "http"
    assert result.proposal.patch == PATCH
    assert result.proposal.rationale == "python is python3 here"
    assert result.proposal.action == "continue"
    assert result.proposal.raw == answer
    [received] = stub.requests
    assert (received.method, received.path) == ("POST", "/repair")
    assert received.headers["authorization"] == "Bearer tok-123456"
    assert received.headers["content-type"] == "application/json"
    body = received.json()
    assert set(body) == {"playbook", "step_index", "step", "failure"}
    assert body["step_index"] == 1
    assert body["step"] == req.step
    assert body["failure"] == {
        "exit_code": 127,
        "stdout": "partial out\n",
        "stderr": "bash: python: command not found\n",
    }
    assert body["playbook"]["steps"] == req.doc["steps"]
    assert body["playbook"]["params"][1]["default"] is None


async def test_action_defaults_to_retry_and_no_token_sends_no_header() -> None:
    with HttpStub(Reply(200, json={"patch": PATCH, "rationale": "r"})) as stub:
        result = await http.ask(make_request(), url=stub.url, timeout_s=5)
    assert result.proposal is not None and result.proposal.action == "retry"
    assert "authorization" not in stub.requests[0].headers


async def test_204_empty_patch_and_empty_body_are_no_proposal_without_error() -> None:
    replies = [
        Reply(204),
        Reply(200, json={"patch": [], "rationale": "nothing safe to do"}),
        Reply(200, json={"rationale": "no patch key"}),
        Reply(200, body=b""),
    ]
    with HttpStub(*replies) as stub:
        for _ in replies:
            result = await http.ask(make_request(), url=stub.url, timeout_s=5)
            assert result.proposal is None and result.error is None
    assert len(stub.requests) == len(replies)


async def test_server_errors_are_reported_not_raised() -> None:
    with HttpStub(
        Reply(500, body=b"upstream model crashed"),
        Reply(401, json={"error": "bad token"}),
        Reply(302, headers={"Location": "http://127.0.0.1:9/elsewhere"}),
    ) as stub:
        crashed = await http.ask(make_request(), url=stub.url, timeout_s=5)
        refused = await http.ask(make_request(), url=stub.url, token="wrong-token", timeout_s=5)
        moved = await http.ask(make_request(), url=stub.url, timeout_s=5)
    assert crashed.proposal is None and crashed.error == "HTTP 500: upstream model crashed"
    assert refused.error is not None and refused.error.startswith("HTTP 401")
    assert moved.error is not None and moved.error.startswith("HTTP 302")
    assert len(stub.requests) == 3


async def test_bad_json_and_bad_shapes_are_reported() -> None:
    bad: list[tuple[Reply, str]] = [
        (Reply(200, body=b"{not json"), "not JSON"),
        (Reply(200, json=["patch"]), "not an object"),
        (Reply(200, json={"patch": "replace it"}), "not a list"),
        (Reply(200, json={"patch": PATCH, "action": "explode"}), "action"),
        (Reply(200, json={"patch": PATCH, "rationale": 7}), "rationale"),
    ]
    with HttpStub(*(reply for reply, _ in bad)) as stub:
        for _, reason in bad:
            result = await http.ask(make_request(), url=stub.url, timeout_s=5)
            assert result.proposal is None
            assert result.error is not None and reason in result.error


async def test_connection_refused_is_reported() -> None:
    with HttpStub() as stub:
        url = stub.url
    result = await http.ask(make_request(), url=url, timeout_s=5)
    assert result.proposal is None
    assert result.error is not None and "cannot reach" in result.error


async def test_a_server_that_never_answers_times_out_quickly() -> None:
    with HttpStub(Reply(hang=True)) as stub:
        started = trio.current_time()
        result = await http.ask(make_request(), url=stub.url, timeout_s=0.3)
        elapsed = trio.current_time() - started
    assert result.proposal is None
    assert result.error == "timed out after 0.3s"
    assert 0.3 <= elapsed < 5
    assert len(stub.requests) == 1


async def test_only_http_urls_are_posted_to() -> None:
    result = await http.ask(make_request(), url="file:///etc/passwd", timeout_s=1)
    assert result.error is not None and "not an http(s) URL" in result.error


async def test_secrets_are_masked_before_leaving_the_machine() -> None:
    leaked = "error: auth failed for s3cr3t-value-42 with token tok-123456\n"
    with HttpStub(Reply(204)) as stub:
        await http.ask(
            make_request(stderr=leaked),
            url=stub.url,
            token="tok-123456",
            timeout_s=5,
            secrets=["s3cr3t-value-42"],
        )
    body: dict[str, Any] = stub.requests[0].json()
    stderr = body["failure"]["stderr"]
    assert "s3cr3t-value-42" not in stderr and "tok-123456" not in stderr
    assert stderr == f"error: auth failed for {MASK} with token {MASK}\n"
    assert "pypi-leaked-default" not in stub.requests[0].body.decode()
