"""playbooks.search over the socket with 10,000 playbooks stored (goal p95 < 10 ms); and a
playbook signature verify against the raw Ed25519 verify of the same bytes."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

from bench.common import daemon, figure, main, median, pct, socket_path, xdg_tree

N = 10_000
VERBS = [
    "set up",
    "bump",
    "release",
    "bootstrap",
    "migrate",
    "configure",
    "deploy",
    "upgrade",
    "lint",
    "package",
]
THINGS = [
    "python venv",
    "go module",
    "node workspace",
    "postgres schema",
    "ci workflow",
    "docker image",
    "rust crate",
    "git remote",
    "pre-commit hooks",
    "terraform state",
    "helm chart",
    "django app",
]
TOOLS = [
    "pip install -e .",
    "go mod tidy",
    "npm ci",
    "psql -f schema.sql",
    "gh workflow run",
    "docker build .",
    "cargo build",
    "git remote add origin",
    "pre-commit install",
    "terraform init",
    "helm upgrade",
    "manage.py migrate",
]


def doc(i: int, rng: random.Random) -> dict[str, Any]:
    k = rng.randrange(len(THINGS))
    name = f"{rng.choice(VERBS)} {THINGS[k]} {i}"
    step = {
        "id": "s1",
        "kind": "command",
        "run": f"{TOOLS[k]} && touch done-{i}",
        "shell": "bash -c",
        "cwd": "${workdir}",
        "env": {},
        "timeout_s": 60,
        "expect": {"exit_code": 0},
        "retry": {"attempts": 1, "backoff_s": 0},
        "risk": "low",
        "note": "",
        "optional": False,
    }
    return {
        "schema": "aionis.playbook/v1",
        "name": name,
        "version": 1,
        "status": "active",
        "goal": f"{name} for project {rng.randrange(500)}",
        "source": {
            "run_id": f"r{i}",
            "agent": "bench",
            "digest": f"sha256:{i:064x}",
            "tokens": {},
            "duration_ms": 0,
        },
        "params": [],
        "preconditions": [],
        "steps": [step],
        "success": [],
        "created_at": "2026-11-24T00:00:00Z",
    }


def populate(env: dict[str, str]) -> None:
    from aionisd.config import Config
    from aionisd.paths import Paths
    from aionisd.service import Service
    from aionisd.services.catalog import CatalogService
    from aionisd.store.db import Database

    os.environ.update(env)
    paths = Paths.default()
    svc = Service(config=Config(), paths=paths, db=Database(paths.db))
    catalog = CatalogService(svc)
    rng = random.Random(7)
    s = catalog.signer()
    for i in range(N):
        catalog.store_signed(doc(i, rng), playbook_id=None, run_id=None, signed_by=s)
    svc.db.close()


def verify_figure() -> dict[str, Any]:
    from aionisd.canonical import canonical_bytes
    from aionisd.signing import PAYLOAD_TYPE_PLAYBOOK, TrustStore, generate, pae, sign, verify

    key = generate("bench@host")
    tmp = Path(os.environ["XDG_CONFIG_HOME"]) / "bench-trust"
    tmp.mkdir(parents=True, exist_ok=True)
    trust = TrustStore.load(tmp / "allowed_signers", tmp / "revoked_keys")
    trust.add("bench@host", key.public)
    payload = canonical_bytes(doc(1, random.Random(1)))
    env = sign(payload, PAYLOAD_TYPE_PLAYBOOK, key)
    msg = pae(PAYLOAD_TYPE_PLAYBOOK, payload)
    sig = key.sign(msg)
    ours, raw = [], []
    for _ in range(300):
        t = time.perf_counter()
        assert verify(env, trust, expected_type=PAYLOAD_TYPE_PLAYBOOK).ok
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        key.public.verify(sig, msg)
        raw.append(time.perf_counter() - t)
    a, b = median(ours), median(raw)
    return figure(
        "signature_verify",
        a * 1e6,
        "us",
        floor=b * 1e6,
        goal="ratio <= 3 (envelope parse + trust check)",
        ok=a / b <= 3,
    )


def figures() -> list[dict[str, Any]]:
    from aionisd.client import Client

    queries = [
        "set up a python virtualenv",
        "release the docker image",
        "configure git remote origin",
        "migrate the postgres schema",
        "bump go dependencies",
        "install pre-commit",
    ]
    with xdg_tree() as env:
        populate(env)
        vf = verify_figure()
        with daemon(env):
            lat = []
            with Client(socket_path(env)) as c:
                for q in queries * 5:
                    c.call("playbooks.search", text=q, limit=10)
                for q in queries * 30:
                    t = time.perf_counter()
                    hits = c.call("playbooks.search", text=q, limit=10)["playbooks"]
                    lat.append(time.perf_counter() - t)
                    assert hits
    return [
        figure(
            "search_10k_p95",
            pct(lat, 0.95) * 1000,
            "ms",
            floor=None,
            goal="p95 < 10 ms",
            ok=pct(lat, 0.95) < 0.01,
        )
        | {"p50_ms": round(median(lat) * 1000, 3)},
        vf,
    ]


if __name__ == "__main__":
    main(figures)
