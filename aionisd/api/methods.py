"""The one table of API methods: name, parameters, handler. share/openrpc.json is generated from it.

The roof: each handler checks its parameters and calls an application service (or a store read).
"""

from __future__ import annotations

from typing import Any

from aionisd import __version__, errors
from aionisd.api import protocol as p
from aionisd.api.protocol import Param
from aionisd.api.server import Connection, Method
from aionisd.services import Services
from aionisd.store import audit
from aionisd.store import runs as run_store

METHODS: dict[str, Method] = {}
MAX_LIMIT = 1_000_000  # `limit` params: 0 means the default; a list longer than this is not a page


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


def svc(conn: Connection) -> Services:
    return conn.server.services


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


@method("status", summary="Version, socket, database, watched directories and counts (bounded size).")
async def status(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return svc(conn).ctx.status()


@method(
    "events.subscribe",
    Param("since_seq", "integer", description="replay stored events after this seq first", minimum=0),
    Param("kinds", "array", items="string", description="event kinds; 'replay.' matches a prefix"),
    summary="Receive events.notify for each stored event; events.overflow {last_seq} if you lag.",
)
async def events_subscribe(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    sub = conn.subscribe(params.get("since_seq"), params.get("kinds"))
    return {"subscription": sub.id, "last_seq": svc(conn).ctx.bus.published_seq}


@method(
    "events.unsubscribe",
    Param("subscription", "integer", required=True, description="id from events.subscribe"),
    summary="Stop a subscription.",
    errors=(errors.NOT_FOUND,),
)
async def events_unsubscribe(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    if not conn.unsubscribe(params["subscription"]):
        raise errors.AionisError(errors.NOT_FOUND, f"no subscription {params['subscription']}")
    return {"ok": True}


@method(
    "ingest",
    Param("paths", "array", required=True, items="string", description="absolute file paths"),
    summary="Import agent log files once (adapter chosen by content); re-importing adds nothing.",
)
async def ingest(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    from pathlib import Path

    from aionisd.watch import ingest_path_async

    service = svc(conn).ctx
    runs: dict[str, dict[str, Any]] = {}
    errors: list[dict[str, Any]] = []
    for raw in params["paths"]:
        path = Path(raw)
        if not path.is_absolute() or not path.is_file():
            errors.append({"path": raw, "offset": 0, "reason": "not an absolute path to a file"})
            continue
        s = await ingest_path_async(service, path, final=True)
        if s.adapter is None:
            errors.append({"path": raw, "offset": 0, "reason": "no adapter recognises this file"})
        errors.extend(s.errors)
        for rid in list(s.runs) or run_store.ids_from_source(service.db, raw):
            row = run_store.agent_and_steps(service.db, rid)
            if row is not None:
                runs[rid] = {"id": rid, "agent": row[0], "steps": row[1]}
    return {"runs": list(runs.values()), "errors": errors}


@method(
    "runs.list",
    Param("limit", "integer", description="at most this many (default 200)", minimum=0, maximum=MAX_LIMIT),
    Param("agent", "string", description="only this agent's runs"),
    summary="Recorded runs, newest first.",
)
async def runs_list(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return {"runs": run_store.list_runs(svc(conn).ctx.db, params.get("limit") or 200, params.get("agent"))}


@method(
    "runs.get",
    Param("id", "string", required=True, description="run id (or a unique part of it)"),
    Param("output", "boolean", description="include stdout/stderr and tool input of each step"),
    summary="One run with its steps.",
    errors=(errors.NOT_FOUND,),
)
async def runs_get(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    run = run_store.get_run(svc(conn).ctx.db, params["id"])
    if run is None:
        raise errors.AionisError(errors.NOT_FOUND, f"no run {params['id']}")
    return run_store.run_detail(run, output=bool(params.get("output")))


@method(
    "sources.list",
    Param("limit", "integer", description="at most this many files (default 100, at most 1000)"),
    Param("after", "string", description="the `next` of the previous page"),
    summary="Watched log files in path order, a page at a time, and recent ingest errors.",
)
async def sources_list(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    from aionisd.store import sources

    limit = params.get("limit") or 100
    if limit < 1:
        raise errors.AionisError(errors.INVALID_PARAMS, "parameter 'limit' must be >= 1", {"field": "limit"})
    db = svc(conn).ctx.db
    page = sources.list_sources(db, limit, params.get("after"))
    return {
        "watch": svc(conn).ctx.watched,
        "sources": page,
        "next": page[-1]["path"] if len(page) == min(limit, sources.PAGE_MAX) else None,
        "errors": sources.ingest_errors(db),
    }


# -- playbooks --------------------------------------------------------------------------------


@method(
    "playbooks.compile",
    Param("run_id", "string", required=True, description="the run to compile"),
    Param("name", "string", description="playbook name (default: from the run's goal)"),
    Param("params", "object", description="{NAME: literal}: each literal becomes ${NAME}"),
    Param("keep_probes", "boolean", description="keep read-only commands as optional steps"),
    Param("new", "boolean", description="compile again as the next version of the run's playbook"),
    summary="Compile a run into a signed draft playbook; a run compiled before gives back its "
    "playbook (`new: false`) unless `new` asks for another version of it.",
    errors=(errors.NOT_FOUND, errors.NOTHING_TO_REPLAY, errors.NO_KEY),
)
async def playbooks_compile(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return svc(conn).catalog.compile_run(
        params["run_id"],
        name=params.get("name"),
        params=params.get("params"),
        keep_probes=bool(params.get("keep_probes")),
        new=bool(params.get("new")),
    )


@method(
    "playbooks.list",
    Param("status", "string", description="only versions with this status"),
    Param("limit", "integer", description="at most this many (default 200)", minimum=0, maximum=MAX_LIMIT),
    summary="The newest version of each playbook, with its signature state.",
)
async def playbooks_list(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return {"playbooks": svc(conn).catalog.latest(params.get("status"), params.get("limit") or 200)}


@method(
    "playbooks.search",
    Param("text", "string", required=True, description="the task, in words"),
    Param("cwd", "string", description="the agent's directory: same repository ranks higher"),
    Param("all", "boolean", description="include draft and disabled versions"),
    Param("limit", "integer", description="at most this many (default 10)", minimum=0, maximum=MAX_LIMIT),
    summary="Playbooks ranked for a task (BM25, same-repository and past-success boosts).",
)
async def playbooks_search(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    found = svc(conn).catalog.search(
        params["text"],
        cwd=params.get("cwd"),
        all_statuses=bool(params.get("all")),
        limit=params.get("limit") or 10,
    )
    return {"playbooks": found}


@method(
    "playbooks.get",
    Param("id", "string", required=True, description="lineage id, name or digest"),
    Param("version", "integer", description="default: the latest version"),
    summary="A playbook version: document, verification, versions and lineage.",
    errors=(errors.NOT_FOUND,),
)
async def playbooks_get(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    row = svc(conn).catalog.get(params["id"], params.get("version"))
    return svc(conn).catalog.describe(row, with_doc=True)


@method(
    "playbooks.export",
    Param("id", "string", required=True, description="lineage id, name or digest"),
    Param("version", "integer", description="default: the latest version"),
    summary="The signed DSSE envelope of a version.",
    errors=(errors.NOT_FOUND,),
)
async def playbooks_export(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return svc(conn).catalog.export(params["id"], params.get("version"))


@method(
    "playbooks.import",
    Param("envelope", "object", required=True, description="a DSSE envelope"),
    summary="Verify an envelope against the trust list, then store it; refuses untrusted signers.",
    errors=(errors.SIGNATURE_INVALID, errors.UNTRUSTED_SIGNER, errors.CONFLICT),
)
async def playbooks_import(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return svc(conn).catalog.import_envelope(params["envelope"])


@method(
    "playbooks.verify",
    Param("id", "string", description="a stored playbook (lineage id, name or digest)"),
    Param("version", "integer", description="default: the latest version"),
    Param("envelope", "object", description="or an envelope to check"),
    summary="Check an envelope: well-formed, good signature, trusted signer in its window.",
    errors=(errors.NOT_FOUND,),
)
async def playbooks_verify(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("envelope") is not None:
        env = params["envelope"]
    elif params.get("id"):
        env = svc(conn).catalog.get(params["id"], params.get("version"))["envelope"]
    else:
        raise errors.AionisError(errors.INVALID_PARAMS, "give 'id' or 'envelope'", {"field": "id"})
    return svc(conn).catalog.verification(env)


@method(
    "playbooks.promote",
    Param("id", "string", required=True, description="lineage id, name or digest"),
    Param("version", "integer", required=True, description="the version to change"),
    Param("status", "string", required=True, description="draft | shadow | active | disabled"),
    summary="Change a version's status (active versions are what replays use by default).",
    errors=(errors.NOT_FOUND,),
)
async def playbooks_promote(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return svc(conn).catalog.promote(params["id"], params["version"], params["status"], actor=conn.actor)


# -- keys ---------------------------------------------------------------------------------------


@method(
    "keys.init",
    Param("principal", "string", description="who signs (default: the key's comment, else user@host)"),
    Param("use", "string", description="adopt this OpenSSH Ed25519 private key instead (linked)"),
    summary="Create the signing key (OpenSSH Ed25519, 0600), or adopt an existing one, and trust it.",
    errors=(errors.CONFLICT,),
)
async def keys_init(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return svc(conn).catalog.init_key(params.get("principal"), params.get("use"))


@method("keys.list", summary="Your signing key and the trusted and revoked keys.")
async def keys_list(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return svc(conn).catalog.keys()


@method(
    "keys.trust",
    Param("public_key", "string", required=True, description="an ssh-ed25519 public key line"),
    Param("principal", "string", description="the signer's name (default: the key's comment)"),
    Param("valid_after", "string", description="YYYYMMDD[HHMM[SS]][Z]"),
    Param("valid_before", "string", description="YYYYMMDD[HHMM[SS]][Z]"),
    summary="Add a key to allowed_signers.",
)
async def keys_trust(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return svc(conn).catalog.trust_key(
        params["public_key"], params.get("principal"), params.get("valid_after"), params.get("valid_before")
    )


@method(
    "keys.revoke",
    Param("keyid", "string", required=True, description="SHA256:... fingerprint or key line"),
    summary="Add a key to revoked_keys: its signatures stop being trusted.",
)
async def keys_revoke(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return svc(conn).catalog.revoke_key(params["keyid"])


# -- replay -------------------------------------------------------------------------------------


@method(
    "replay.start",
    Param("id", "string", required=True, description="playbook lineage id, name or digest"),
    Param("version", "integer", description="default: the latest active, else the latest draft"),
    Param("mode", "string", required=True, description="simulate | strict | guided"),
    Param("workdir", "string", description="absolute target directory (default: the daemon's cwd)"),
    Param("params", "object", description="{NAME: value} for the playbook's parameters"),
    Param("env", "object", description="the replay's environment (secrets are read from it)"),
    summary="Start a replay; returns at once with its id (simulate finishes before answering).",
    errors=(
        errors.NOT_FOUND,
        errors.EXEC_NOT_ALLOWED,
        errors.SIGNATURE_INVALID,
        errors.UNTRUSTED_SIGNER,
        errors.PLAYBOOK_DISABLED,
        errors.MISSING_PARAMETER,
        errors.PATH_ESCAPE,
        errors.WORKDIR_BUSY,
    ),
)
async def replay_start(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    given = {str(k): str(v) for k, v in (params.get("params") or {}).items()}
    env = params.get("env")
    if env is not None:
        env = {str(k): str(v) for k, v in env.items()}
    return await svc(conn).replays.start(
        params["id"],
        version=params.get("version"),
        mode=params["mode"],
        workdir=params.get("workdir"),
        params=given,
        env=env,
    )


@method(
    "replay.get",
    Param("replay_id", "string", required=True, description="from replay.start"),
    summary="A replay's state: status, per-step results, divergence, repairs.",
    errors=(errors.NOT_FOUND,),
)
async def replay_get(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return svc(conn).replays.get(params["replay_id"])


@method(
    "replay.list",
    Param("limit", "integer", description="at most this many (default 50)", minimum=0, maximum=MAX_LIMIT),
    summary="Recent replays, newest first.",
)
async def replay_list(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return {"replays": svc(conn).replays.recent(params.get("limit") or 50)}


@method(
    "replay.cancel",
    Param("replay_id", "string", required=True, description="a running replay"),
    summary="Cancel a running replay: every process it started is killed (TERM, then KILL).",
    errors=(errors.NOT_FOUND,),
)
async def replay_cancel(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    if not await svc(conn).replays.cancel(params["replay_id"]):
        raise errors.AionisError(errors.NOT_FOUND, f"no running replay {params['replay_id']}")
    return {"ok": True}


@method("stats.savings", summary="Per playbook: replays run vs the agent run it was compiled from.")
async def stats_savings(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return {"playbooks": svc(conn).replays.savings()}


# -- governance ---------------------------------------------------------------------------------


@method(
    "repairs.list",
    Param(
        "status",
        "string",
        description="pending_review | approved | rejected | shadow_failed | invalid",
    ),
    Param("limit", "integer", description="at most this many (default 100)", minimum=0, maximum=MAX_LIMIT),
    summary="Repairs with their failure, patch, step diff and shadow result.",
)
async def repairs_list(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return {"repairs": svc(conn).governance.repairs(params.get("status"), params.get("limit") or 100)}


@method(
    "repairs.get",
    Param("id", "string", required=True, description="repair id"),
    summary="One repair.",
    errors=(errors.NOT_FOUND,),
)
async def repairs_get(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return svc(conn).governance.get(params["id"])


@method(
    "repairs.propose",
    Param("playbook_id", "string", required=True, description="lineage id, name or digest"),
    Param("version", "integer", description="default: the latest version"),
    Param("patch", "array", required=True, items="object", description="RFC 6902 operations"),
    Param("rationale", "string", description="why"),
    Param("workdir", "string", description="directory the shadow run copies (default: empty)"),
    Param("params", "object", description="parameters for the shadow run"),
    Param("env", "object", description="environment for the shadow run's secrets"),
    summary="Propose a repair by hand (a person or an agent); it is validated like any other.",
    errors=(errors.NOT_FOUND, errors.INVALID_PATCH),
)
async def repairs_propose(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return svc(conn).governance.propose(
        params["playbook_id"],
        params.get("version"),
        params["patch"],
        params.get("rationale") or "",
        params.get("workdir"),
        params.get("params"),
        params.get("env"),
    )


@method(
    "reviews.decide",
    Param("repair_id", "string", required=True, description="a repair awaiting review"),
    Param("decision", "string", required=True, description="approve | reject"),
    Param("note", "string", description="the reviewer's note"),
    summary="Approve (a new signed version, status shadow) or reject; the review is signed.",
    errors=(errors.NOT_FOUND, errors.CONFLICT, errors.INVALID_PATCH, errors.NO_KEY),
)
async def reviews_decide(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return svc(conn).governance.decide(
        params["repair_id"], params["decision"], params.get("note"), actor=conn.actor
    )


@method(
    "audit.list",
    Param(
        "limit",
        "integer",
        description="at most this many, newest first (default 200)",
        minimum=0,
        maximum=MAX_LIMIT,
    ),
    Param("action", "string", description="only actions starting with this"),
    summary="Audit log entries.",
)
async def audit_list(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return {"entries": audit.entries(svc(conn).ctx.db, params.get("limit") or 200, params.get("action"))}


@method("audit.verify", summary="Recompute the hash chain: {ok, entries, first_bad}.")
async def audit_verify(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return audit.verify(svc(conn).ctx.db)


@method(
    "traces.append",
    Param("run_id", "string", required=True, description="the agent's run id ([A-Za-z0-9._-])"),
    Param("events", "array", required=True, items="object", description="native trace lines"),
    Param("start", "object", description="{agent, goal, cwd}: written as run.start for a new run"),
    summary="Append native trace lines for an agent that records itself, and record them now.",
)
async def traces_append(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    import json as _json
    import re as _re

    from aionisd.params import walk_strings
    from aionisd.secrets import Vault, install_key
    from aionisd.watch import ingest_path_async

    run_id = params["run_id"]
    if not _re.fullmatch(r"[A-Za-z0-9._-]{1,128}", run_id):
        raise errors.AionisError(
            errors.INVALID_PARAMS,
            "run_id may hold only letters, digits, '.', '_', '-'",
            {"field": "run_id"},
        )
    service = svc(conn).ctx
    service.paths.traces_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = service.paths.traces_dir / f"{run_id}.jsonl"
    events = list(params["events"])
    if not path.exists() and params.get("start") is not None:
        from aionisd.model import now

        events.insert(0, {"type": "run.start", **params["start"], "ts": now()})
    # The trace file is at rest too: secrets become `${NAME}` before a byte is written.
    vault = Vault(key=install_key(service.db.path.parent))
    events = [walk_strings(e, vault.redact) for e in events]
    lines = "".join(_json.dumps({**e, "run_id": run_id}, ensure_ascii=False) + "\n" for e in events)
    with path.open("a", encoding="utf-8") as f:
        f.write(lines)
    summary = await ingest_path_async(service, path)
    return {"path": str(path), "runs": summary.runs, "errors": summary.errors}
