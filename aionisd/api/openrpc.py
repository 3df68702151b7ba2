"""Render the method table as an OpenRPC document (share/openrpc.json is this, committed)."""

from __future__ import annotations

import json
import sys
from typing import Any

from aionisd import __version__, errors
from aionisd.api import protocol as p


def document() -> dict[str, Any]:
    from aionisd.api.methods import METHODS

    methods = []
    for name in sorted(METHODS):
        m = METHODS[name]
        params = []
        for prm in m.params:
            schema: dict[str, Any] = {"type": prm.type}
            if prm.items:
                schema["items"] = {"type": prm.items}
            if prm.minimum is not None:
                schema["minimum"] = prm.minimum
            if prm.maximum is not None:
                schema["maximum"] = prm.maximum
            params.append(
                {
                    "name": prm.name,
                    "required": prm.required,
                    "description": prm.description,
                    "schema": schema,
                }
            )
        methods.append(
            {
                "name": name,
                "summary": m.summary,
                "paramStructure": "by-name",
                "params": params,
                "result": {"name": "result", "schema": {"type": m.result}},
                "errors": [{"code": c, "message": errors.APP_ERRORS[c]} for c in m.errors],
            }
        )
    return {
        "openrpc": "1.3.2",
        "info": {
            "title": "aionisd",
            "version": __version__,
            "description": (
                "JSON-RPC 2.0, one message per line (UTF-8, no embedded newlines, at most "
                f"{errors.MAX_LINE} bytes), over the Unix socket $XDG_RUNTIME_DIR/aionis/aionisd.sock "
                "(0600 in a 0700 directory; peers of another uid are refused). Call initialize "
                "first. Batches as JSON-RPC 2.0 defines them (an array of at most "
                f"{p.MAX_BATCH} requests, answered by one array, in order). A connection with no "
                "request in flight and no subscription is idle: it is closed (error -32019, id "
                "null) after aionisd --idle-timeout seconds, and the longest-idle one at once when "
                "a new client finds every slot taken; when none is idle, a few more connections may "
                "still call initialize and status. Notifications: events.notify {subscription, "
                "seq, kind, ts, data} and events.overflow {subscription, last_seq} (subscribe again "
                "from last_seq)."
            ),
        },
        "methods": methods,
        "components": {
            "errors": {
                str(code): {"code": code, "message": msg} for code, msg in sorted(errors.APP_ERRORS.items())
            }
        },
    }


def render() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
