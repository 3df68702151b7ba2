"""The playbook document: its schema, validation, and the exact bytes that get signed."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema

SCHEMA = "aionis.playbook/v1"
PAYLOAD_TYPE = "application/vnd.aionis.playbook.v1+json"
STEP_KINDS = ("command", "file_write", "file_edit", "tool")
RISKS = ("low", "medium", "high")
SHELLS = ("bash -c", "bash -lc")
PRECONDITION_TYPES = (
    "command_available",
    "file_exists",
    "env_set",
    "cwd_exists",
    "path_absent",
    "port_free",
)


@lru_cache(maxsize=1)
def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a playbook document."""
    text = (
        resources.files("aionisd").joinpath("data/schemas/playbook.schema.json").read_text(encoding="utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def validate(doc: Any) -> list[str]:
    """Every way `doc` breaks the schema, as `path: message` lines (empty when valid)."""
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    out: list[str] = []
    for e in errors:
        where = "/".join(str(p) for p in e.absolute_path) or "(document)"
        out.append(f"{where}: {e.message}")
    return out
