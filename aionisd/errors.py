"""The wire vocabulary of failures: every error code the API answers with, and the one error
class the domain raises with them. A leaf: the domain, the API, the clients and the TUI import it,
and it imports nothing of ours, so the domain never reaches up into `api/` for a code.
"""

from __future__ import annotations

from typing import Any

MAX_LINE = 1024 * 1024

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

# Application codes (documented in share/openrpc.json).
NOT_FOUND = -32001
EXEC_NOT_ALLOWED = -32002
SIGNATURE_INVALID = -32003
UNTRUSTED_SIGNER = -32004
CONFLICT = -32005
NOTHING_TO_REPLAY = -32006
MISSING_PARAMETER = -32007
PLAYBOOK_DISABLED = -32008
INVALID_PATCH = -32009
NO_KEY = -32010
NOT_INITIALIZED = -32011
LINE_TOO_LONG = -32012
TOO_MANY_CONNECTIONS = -32013
PEER_REFUSED = -32014
PRECONDITION_FAILED = -32015
PATH_ESCAPE = -32016
STORAGE_FULL = -32017
STORAGE_BUSY = -32018
IDLE_CLOSED = -32019
WORKDIR_BUSY = -32020

APP_ERRORS: dict[int, str] = {
    NOT_FOUND: "not found",
    EXEC_NOT_ALLOWED: "local execution is not allowed ([replay] allow_local_exec = false)",
    SIGNATURE_INVALID: "signature invalid (unsigned, malformed or tampered)",
    UNTRUSTED_SIGNER: "signer not trusted (not in allowed_signers, revoked or outside its window)",
    CONFLICT: "conflict with the current state",
    NOTHING_TO_REPLAY: "the run changed nothing",
    MISSING_PARAMETER: "a required parameter or secret is missing",
    PLAYBOOK_DISABLED: "the playbook version is disabled",
    INVALID_PATCH: "the patch does not apply or breaks the playbook schema",
    NO_KEY: "no signing key (run `aionis keys init`)",
    NOT_INITIALIZED: "call initialize first",
    LINE_TOO_LONG: f"line longer than {MAX_LINE} bytes",
    TOO_MANY_CONNECTIONS: "too many connections",
    PEER_REFUSED: "peer uid differs from the daemon's",
    PRECONDITION_FAILED: "a precondition failed",
    PATH_ESCAPE: "a path leaves the workdir",
    STORAGE_FULL: "the database's disk is full: nothing was written; free space and retry",
    STORAGE_BUSY: "the database is locked by another process: nothing was written; retry",
    IDLE_CLOSED: "connection closed: idle (no request in flight, no subscription); reconnect",
    WORKDIR_BUSY: "another strict or guided replay is running in this workdir",
}


class AionisError(Exception):
    """A refusal with its code; the API turns it into a JSON-RPC error object, and `message` is
    one readable line."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_obj(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err
