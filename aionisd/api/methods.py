"""The one table of API methods: name, parameters, handler. share/openrpc.json is generated from it."""

from __future__ import annotations

from typing import Any

from aionisd import __version__
from aionisd.api import protocol as p
from aionisd.api.protocol import Param
from aionisd.api.server import Connection, Method

METHODS: dict[str, Method] = {}


def method(
    name: str,
    *params: Param,
    summary: str,
    result: str = "object",
    errors: tuple[int, ...] = (),
) -> Any:
    def deco(fn: Any) -> Any:
        METHODS[name] = Method(name, fn, params, summary, result, errors)
        return fn

    return deco


def svc(conn: Connection) -> Any:
    return conn.server.service


@method(
    "initialize",
    Param("protocolVersion", "string", description="the client's protocol version"),
    Param("clientInfo", "object", description="{name, version} of the client"),
    summary="Open the session; must be the first call on a connection.",
)
async def initialize(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    conn.initialized = True
    conn.client_info = params.get("clientInfo") or {}
    return {
        "protocolVersion": p.PROTOCOL_VERSION,
        "serverInfo": {"name": "aionisd", "version": __version__},
        "methods": sorted(METHODS),
    }


@method("status", summary="Version, socket, database, watched sources and counts.")
async def status(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = svc(conn).status()
    return result


@method(
    "events.subscribe",
    Param("since_seq", "integer", description="replay stored events after this seq first"),
    Param("kinds", "array", items="string", description="event kinds; 'replay.' matches a prefix"),
    summary="Receive events.notify for each stored event; events.overflow {last_seq} if you lag.",
)
async def events_subscribe(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    since = params.get("since_seq")
    if since is not None and since < 0:
        raise p.RpcError(p.INVALID_PARAMS, "parameter 'since_seq' must be >= 0", {"field": "since_seq"})
    sub = conn.subscribe(since, params.get("kinds"))
    return {"subscription": sub.id, "last_seq": svc(conn).bus.published_seq}


@method(
    "events.unsubscribe",
    Param("subscription", "integer", required=True, description="id from events.subscribe"),
    summary="Stop a subscription.",
    errors=(p.NOT_FOUND,),
)
async def events_unsubscribe(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    if not conn.unsubscribe(params["subscription"]):
        raise p.RpcError(p.NOT_FOUND, f"no subscription {params['subscription']}")
    return {"ok": True}


@method(
    "ingest",
    Param("paths", "array", required=True, items="string", description="absolute file paths"),
    summary="Import agent log files once (adapter chosen by content); re-importing adds nothing.",
)
async def ingest(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    from pathlib import Path

    from aionisd.watch import ingest_path

    service = svc(conn)
    runs: dict[str, dict[str, Any]] = {}
    errors: list[dict[str, Any]] = []
    for raw in params["paths"]:
        path = Path(raw)
        if not path.is_absolute() or not path.is_file():
            errors.append({"path": raw, "offset": 0, "reason": "not an absolute path to a file"})
            continue
        s = ingest_path(service, path, final=True)
        if s.adapter is None:
            errors.append({"path": raw, "offset": 0, "reason": "no adapter recognises this file"})
        errors.extend(s.errors)
        for rid in s.runs:
            row = service.db.conn.execute(
                "SELECT agent, step_count FROM runs WHERE id = ?", (rid,)
            ).fetchone()
            runs[rid] = {"id": rid, "agent": row[0], "steps": row[1]}
    return {"runs": list(runs.values()), "errors": errors}


@method(
    "runs.list",
    Param("limit", "integer", description="at most this many (default 200)"),
    Param("agent", "string", description="only this agent's runs"),
    summary="Recorded runs, newest first.",
)
async def runs_list(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    from aionisd.store import runs

    return {"runs": runs.list_runs(svc(conn).db, params.get("limit") or 200, params.get("agent"))}


@method(
    "runs.get",
    Param("id", "string", required=True, description="run id (or a unique part of it)"),
    Param("output", "boolean", description="include stdout/stderr and tool input of each step"),
    summary="One run with its steps.",
    errors=(p.NOT_FOUND,),
)
async def runs_get(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    from aionisd.store import runs

    run = runs.get_run(svc(conn).db, params["id"])
    if run is None:
        raise p.RpcError(p.NOT_FOUND, f"no run {params['id']}")
    return runs.run_detail(run, output=bool(params.get("output")))


@method("sources.list", summary="Watched log files with their offsets, and recent ingest errors.")
async def sources_list(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    from aionisd.store import sources

    db = svc(conn).db
    return {
        "watch": svc(conn).watched,
        "sources": sources.list_sources(db),
        "errors": sources.ingest_errors(db),
    }
