"""A real HTTP server on 127.0.0.1 for tests of clients of remote services.

It listens on an ephemeral port in a thread, speaks plain HTTP/1.0 with real sockets, records
every request, and answers from a script of replies (first in, first out):

    with HttpStub(Reply(200, json={"patch": []})) as stub:
        ... client posts to stub.url + "/repair" ...
        assert stub.requests[0].json()["step_index"] == 3

`Reply(hang=True)` reads the request and never answers (until the stub closes), for timeouts.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

_NO_JSON: Any = object()


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a status with a JSON value or raw body, or a hang."""

    status: int = 200
    json: Any = _NO_JSON
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False

    def payload(self) -> tuple[bytes, str | None]:
        if self.json is not _NO_JSON:
            return json.dumps(self.json).encode(), "application/json"
        return self.body, None


@dataclass(frozen=True)
class Recorded:
    """A request as the server received it (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


POLL_S = 0.02
"""How often the serving loop looks for shutdown: bounds how long closing the stub takes."""

UNSCRIPTED = Reply(500, json={"error": "the stub has no scripted reply left"})


class HttpStub:
    """Context manager running the server; `url` is `http://127.0.0.1:<port>`."""

    def __init__(self, *replies: Reply) -> None:
        self._replies: deque[Reply] = deque(replies)
        self._lock = threading.Lock()
        self._release = threading.Event()
        self.requests: list[Recorded] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = False
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": POLL_S}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def reply(self, *replies: Reply) -> None:
        """Append answers to the script."""
        with self._lock:
            self._replies.extend(replies)

    def __enter__(self) -> HttpStub:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release hung handlers, stop serving and join every handler thread."""
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _next(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            return self._replies.popleft() if self._replies else UNSCRIPTED

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = stub._next(Recorded(self.command, self.path, headers, body))
                if reply.hang:
                    stub._release.wait()
                    self.close_connection = True
                    return
                payload, content_type = reply.payload()
                self.send_response(reply.status)
                if content_type and "Content-Type" not in reply.headers:
                    self.send_header("Content-Type", content_type)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.status not in (204, 304):
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if reply.status not in (204, 304):
                    self.wfile.write(payload)

            do_POST = _serve
            do_GET = _serve
            do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: tests read `stub.requests`, not stderr."""

        return Handler
