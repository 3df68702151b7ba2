"""Ask a repair synthesiser over HTTP: POST the failure as JSON, read back a JSON Patch.

Uses the stdlib client in a worker thread (the daemon's loop is trio), so no new dependency.
Every way a remote can fail becomes a SourceResult with `error` set: a broken or slow service
never stops a replay, and the daemon can record why it gave nothing.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio

from aionisd.repair import (
    BadAnswer,
    RepairRequest,
    SourceResult,
    no_patch_reason,
    proposal_from_answer,
    wire_request,
)

log = logging.getLogger("aionisd.repair")

MAX_ANSWER_BYTES = 4 * 1024 * 1024
USER_AGENT = "aionisd-repair/1"


class TransportError(Exception):
    """The request did not get an HTTP answer: refused, unreachable, timed out, too large."""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer we did not ask for: report it instead of re-posting elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def post_json(url: str, body: Mapping[str, Any], headers: Mapping[str, str], timeout_s: float) -> Reply:
    """POST JSON and return the status and body (any status); blocking, for a worker thread."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TransportError(f"not an http(s) URL: {url!r}")
    handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
    if _is_loopback(parts.hostname):
        handlers.append(urllib.request.ProxyHandler({}))
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            **headers,
        },
    )
    try:
        with opener.open(request, timeout=timeout_s) as response:
            return Reply(response.status, _read(response))
    except urllib.error.HTTPError as exc:
        with exc:
            return Reply(exc.code, _read(exc))
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            raise TransportError(f"timed out after {timeout_s:g}s") from exc
        raise TransportError(f"cannot reach {url}: {reason}") from exc
    except TimeoutError as exc:
        raise TransportError(f"timed out after {timeout_s:g}s") from exc
    except (OSError, ValueError, http.client.HTTPException) as exc:  # reset, bad status line
        raise TransportError(f"{url}: {exc!r}") from exc


def _read(stream: Any) -> bytes:
    data: bytes = stream.read(MAX_ANSWER_BYTES + 1)
    if len(data) > MAX_ANSWER_BYTES:
        raise TransportError(f"answer larger than {MAX_ANSWER_BYTES} bytes")
    return data


async def post_json_async(
    url: str, body: Mapping[str, Any], headers: Mapping[str, str], timeout_s: float
) -> Reply:
    """post_json off the trio loop; gives up (abandoning the thread) if the socket timeout
    cannot bound the whole exchange, e.g. a server trickling its answer byte by byte."""
    with trio.move_on_after(timeout_s + 1):
        return await trio.to_thread.run_sync(
            partial(post_json, url, body, headers, timeout_s), abandon_on_cancel=True
        )
    raise TransportError(f"timed out after {timeout_s:g}s")


def describe_status(reply: Reply) -> str:
    text = reply.body[:200].decode("utf-8", "replace").strip()
    return f"HTTP {reply.status}" + (f": {text}" if text else "")


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def ask(
    req: RepairRequest,
    *,
    url: str,
    token: str | None = None,
    timeout_s: float = 30.0,
    secrets: Iterable[str] = (),
) -> SourceResult:
    """POST `{playbook, step_index, step, failure}`; expect `{patch, rationale, action?}` or 204."""
    body = wire_request(req, [*secrets, *([token] if token else [])])
    try:
        reply = await post_json_async(url, body, bearer(token), timeout_s)
    except TransportError as exc:
        return _failed(str(exc))
    if reply.status == 204:
        return SourceResult(declined="answered 204 No Content")
    if not 200 <= reply.status < 300:
        return _failed(describe_status(reply))
    if not reply.body.strip():
        return SourceResult(declined="answered with an empty body")
    try:
        answer = json.loads(reply.body)
    except ValueError as exc:
        return _failed(f"answer is not JSON: {exc}")
    try:
        proposal = proposal_from_answer(answer, "http")
    except BadAnswer as exc:
        return _failed(f"bad answer: {exc}")
    return SourceResult(proposal, declined=None if proposal else no_patch_reason(answer))


def _failed(reason: str) -> SourceResult:
    log.warning("http repair source gave nothing: %s", reason)
    return SourceResult(error=reason)
