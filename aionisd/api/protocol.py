"""JSON-RPC 2.0 over newline-delimited UTF-8: framing, error codes, parameter checks.

Shared by the server and both clients; imports nothing heavier than json.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from aionisd.errors import INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR, AionisError

MAX_BATCH = 100
INT64 = 1 << 63
PROTOCOL_VERSION = "2026-11-24"


def encode(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def response(id_: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "result": result}


def error(id_: Any, err: AionisError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "error": err.to_obj()}


def notification(method: str, params: Any) -> bytes:
    return encode({"jsonrpc": "2.0", "method": method, "params": params})


@dataclass(frozen=True, slots=True)
class Param:
    """One named parameter of a method: its JSON type, whether it is required, what it means."""

    name: str
    type: str  # JSON Schema type name
    required: bool = False
    description: str = ""
    items: str | None = None
    minimum: int | None = None
    maximum: int | None = None


_PY = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def check_params(params: Any, spec: tuple[Param, ...]) -> dict[str, Any]:
    """Validate by-name params against a method's spec; errors name the field."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise AionisError(INVALID_PARAMS, "params must be an object (by-name parameters)")
    known = {p.name: p for p in spec}
    for key in params:
        if key not in known:
            raise AionisError(INVALID_PARAMS, f"unknown parameter '{key}'", {"field": key})
    for p in spec:
        if p.name not in params or params[p.name] is None:
            if p.required:
                raise AionisError(INVALID_PARAMS, f"missing required parameter '{p.name}'", {"field": p.name})
            continue
        v = params[p.name]
        if not isinstance(v, _PY[p.type]) or (p.type != "boolean" and isinstance(v, bool)):
            raise AionisError(
                INVALID_PARAMS,
                f"parameter '{p.name}' must be {p.type}, got {type(v).__name__}",
                {"field": p.name},
            )
        if any("\x00" in x for x in (v if isinstance(v, list) else [v]) if isinstance(x, str)):
            # No id, name, path or text of ours holds a NUL; the OS refuses one in a path.
            raise AionisError(
                INVALID_PARAMS, f"parameter '{p.name}' may not contain a NUL byte", {"field": p.name}
            )
        if isinstance(v, int) and not isinstance(v, bool):
            lo = -INT64 if p.minimum is None else p.minimum
            hi = INT64 - 1 if p.maximum is None else p.maximum  # handlers hand integers to SQLite
            if not lo <= v <= hi:
                raise AionisError(
                    INVALID_PARAMS, f"parameter '{p.name}' must be within {lo}..{hi}", {"field": p.name}
                )
        if p.items and isinstance(v, list):
            for i, item in enumerate(v):
                if not isinstance(item, _PY[p.items]):
                    raise AionisError(
                        INVALID_PARAMS,
                        f"parameter '{p.name}[{i}]' must be {p.items}",
                        {"field": p.name},
                    )
    return params


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def decode(line: bytes) -> Any:
    """The JSON value of one line (a request object or a batch array), or a parse error."""
    try:
        msg = json.loads(line)
    except (ValueError, RecursionError) as e:  # RecursionError: nesting past the interpreter's limit
        raise AionisError(PARSE_ERROR, f"parse error: {e}") from None
    if _SURROGATE_ESCAPE.search(line):
        # A lone surrogate escape is valid JSON but not Unicode text: nothing could store it.
        try:
            json.dumps(msg, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise AionisError(
                PARSE_ERROR, "parse error: a string holds a lone UTF-16 surrogate (not Unicode text)"
            ) from None
    return msg


def parse_message(msg: Any) -> tuple[Any, str, Any, bool]:
    """One decoded request -> (id, method, params, is_notification), or AionisError (with the id
    where one was readable)."""
    if not isinstance(msg, dict):
        raise AionisError(INVALID_REQUEST, "invalid request: not a JSON object")
    id_ = msg.get("id")
    if msg.get("jsonrpc") != "2.0":
        raise AionisError(INVALID_REQUEST, 'invalid request: jsonrpc must be "2.0"', {"id": id_})
    method = msg.get("method")
    if not isinstance(method, str):
        raise AionisError(INVALID_REQUEST, "invalid request: method must be a string", {"id": id_})
    if (id_ is not None and not isinstance(id_, (str, int))) or isinstance(id_, bool):
        raise AionisError(INVALID_REQUEST, "invalid request: id must be a string or integer")
    return id_, method, msg.get("params"), "id" not in msg


def batch_problem(batch: list[Any]) -> AionisError | None:
    """Why a batch array gets one error object instead of one response per request, if it does."""
    if not batch:
        return AionisError(INVALID_REQUEST, "invalid request: empty batch")
    if len(batch) > MAX_BATCH:
        return AionisError(INVALID_REQUEST, f"invalid request: a batch holds at most {MAX_BATCH} requests")
    return None
