"""The Unix-socket JSON-RPC server: 0600 socket in a 0700 directory, peer uid checked, bounded."""

from __future__ import annotations

import errno
import logging
import os
import socket as stdsocket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from aionisd.api import protocol as p
from aionisd.api.bus import Subscription
from aionisd.client import answers
from aionisd.paths import ensure_private_dir
from aionisd.store import events as event_log

log = logging.getLogger("aionisd.api")

MAX_CONNECTIONS = 256
MAX_IN_FLIGHT = 32
OUT_QUEUE = 256


def storage_error(e: Exception) -> p.RpcError | None:
    """A full disk or a database held by another process is the user's to fix, not a crash."""
    import apsw

    if isinstance(e, apsw.FullError):
        return p.RpcError(p.STORAGE_FULL, p.APP_ERRORS[p.STORAGE_FULL])
    if isinstance(e, (apsw.BusyError, apsw.LockedError)):
        return p.RpcError(p.STORAGE_BUSY, p.APP_ERRORS[p.STORAGE_BUSY])
    return None


class AlreadyRunning(Exception):
    """Another daemon answers on the socket."""


def peer_uid(sock: trio.socket.SocketType) -> int:
    creds = sock.getsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


async def bind(path: Path) -> trio.SocketListener:
    """Bind under umask 0177 (the socket is born 0600; no chmod window); refuse if a daemon answers."""
    ensure_private_dir(path.parent)
    if path.exists() or path.is_symlink():
        if answers(path):
            raise AlreadyRunning(f"another aionisd already answers on {path}")
        path.unlink()
    sock = trio.socket.socket(stdsocket.AF_UNIX, stdsocket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        await sock.bind(str(path))
    finally:
        os.umask(old)
    sock.listen(128)
    return trio.SocketListener(sock)


Handler = Callable[["Connection", dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Method:
    name: str
    handler: Handler
    params: tuple[p.Param, ...] = ()
    summary: str = ""
    result: str = "object"
    errors: tuple[int, ...] = ()


@dataclass(eq=False)
class Connection:
    """One client: its out-queue, whether it said initialize, its subscriptions."""

    server: Server
    stream: trio.SocketStream
    send: trio.MemorySendChannel[bytes]
    initialized: bool = False
    client_info: dict[str, Any] = field(default_factory=dict)
    subs: dict[int, Subscription] = field(default_factory=dict)
    nursery: trio.Nursery | None = None
    flushed: trio.Event = field(default_factory=trio.Event)  # the writer wrote all it was given

    async def out(self, data: bytes) -> None:
        try:
            await self.send.send(data)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass

    def subscribe(self, since_seq: int | None, kinds: list[str] | None) -> Subscription:
        svc = self.server.service
        sub = svc.bus.subscribe(kinds)
        if since_seq is not None:
            sub.high_water = since_seq
        else:
            sub.high_water = svc.bus.published_seq
        self.subs[sub.id] = sub
        assert self.nursery is not None
        # The pump starts later; events offered meanwhile raise high_water, so fix the start now.
        self.nursery.start_soon(self._pump, sub, sub.high_water)
        return sub

    def unsubscribe(self, sub_id: int) -> bool:
        sub = self.subs.pop(sub_id, None)
        if sub is None:
            return False
        self.server.service.bus.unsubscribe(sub)
        return True

    async def _pump(self, sub: Subscription, delivered: int) -> None:
        """History from the store first (after `delivered`), then live events as they are offered."""
        svc = self.server.service
        while not sub.closed:
            backlog = event_log.since(svc.db, delivered, sub.kinds, limit=500)
            if not backlog or backlog[0]["seq"] > svc.bus.published_seq:
                break
            for ev in backlog:
                if ev["seq"] > svc.bus.published_seq:
                    break
                await self.out(p.notification("events.notify", {"subscription": sub.id, **ev}))
                delivered = ev["seq"]
        # Live events that history already covered are skipped by seq.
        sub.queue = type(sub.queue)(e for e in sub.queue if e["seq"] > delivered)
        sub.high_water = max(sub.high_water, delivered)
        while not sub.closed:
            while sub.queue:
                ev = sub.queue.popleft()
                await self.out(p.notification("events.notify", {"subscription": sub.id, **ev}))
                delivered = ev["seq"]
            if sub.overflowed:
                await self.out(
                    p.notification("events.overflow", {"subscription": sub.id, "last_seq": delivered})
                )
                self.unsubscribe(sub.id)
                return
            sub.wakeup = trio.Event()
            if sub.queue or sub.overflowed or sub.closed:
                continue
            await sub.wakeup.wait()


class Server:
    def __init__(self, service: Any, methods: dict[str, Method]) -> None:
        self.service = service
        self.methods = methods
        self.connections: set[Connection] = set()
        self.uid = os.getuid()

    async def serve(
        self, listener: trio.SocketListener, *, task_status: Any = trio.TASK_STATUS_IGNORED
    ) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            while True:
                try:
                    stream = await listener.accept()
                except OSError as e:
                    if e.errno in (errno.EMFILE, errno.ENFILE):
                        await trio.sleep(0.1)
                        continue
                    raise
                nursery.start_soon(self._handle, stream)

    async def _refuse(self, stream: trio.SocketStream, code: int, msg: str) -> None:
        with trio.move_on_after(1):
            try:
                await stream.send_all(p.error(None, p.RpcError(code, msg)))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        await stream.aclose()

    async def _handle(self, stream: trio.SocketStream) -> None:
        try:
            uid = peer_uid(stream.socket)
        except OSError:
            uid = -1
        if uid != self.uid:
            log.warning("refused a client of uid %s", uid)
            await self._refuse(stream, p.PEER_REFUSED, f"peer uid {uid} is not the daemon's uid")
            return
        if len(self.connections) >= MAX_CONNECTIONS:
            await self._refuse(stream, p.TOO_MANY_CONNECTIONS, "too many connections")
            return
        send, recv = trio.open_memory_channel[bytes](OUT_QUEUE)
        conn = Connection(self, stream, send)
        self.connections.add(conn)
        try:
            async with trio.open_nursery() as nursery:
                conn.nursery = nursery
                nursery.start_soon(self._writer, stream, recv, nursery.cancel_scope, conn.flushed)
                await self._reader(conn, nursery)
                nursery.cancel_scope.cancel()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except Exception:  # one connection's failure closes it, never the daemon
            log.exception("connection failed; closed it")
        finally:
            for sid in list(conn.subs):
                conn.unsubscribe(sid)
            self.connections.discard(conn)
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _writer(
        self,
        stream: trio.SocketStream,
        recv: trio.MemoryReceiveChannel[bytes],
        scope: trio.CancelScope,
        flushed: trio.Event,
    ) -> None:
        try:
            async for data in recv:
                await stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            scope.cancel()
        finally:
            flushed.set()

    async def _reader(self, conn: Connection, nursery: trio.Nursery) -> None:
        buf = bytearray()
        limiter = trio.CapacityLimiter(MAX_IN_FLIGHT)
        while True:
            try:
                chunk = await conn.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if not chunk:
                return
            start = len(buf)
            buf += chunk
            while True:
                nl = buf.find(b"\n", start if start < len(buf) else 0)
                start = 0
                if nl < 0:
                    break
                line = bytes(buf[:nl])
                del buf[: nl + 1]
                if len(line) > p.MAX_LINE:
                    await self._too_long(conn)
                    return
                if line.strip():
                    # A fresh borrower per request: equal lines (a repeated request) are not one borrower.
                    token = object()
                    await limiter.acquire_on_behalf_of(token)
                    nursery.start_soon(self._dispatch, conn, line, limiter, token)
            if len(buf) > p.MAX_LINE:
                await self._too_long(conn)
                return

    async def _too_long(self, conn: Connection) -> None:
        await conn.out(p.error(None, p.RpcError(p.LINE_TOO_LONG, f"line longer than {p.MAX_LINE} bytes")))
        conn.send.close()
        # Let the writer flush the error before the connection closes (an empty channel is not
        # enough: the writer may hold the message without having sent it).
        with trio.move_on_after(2):
            await conn.flushed.wait()

    async def _dispatch(
        self, conn: Connection, line: bytes, limiter: trio.CapacityLimiter, token: object
    ) -> None:
        try:
            await self._call(conn, line)
        finally:
            limiter.release_on_behalf_of(token)

    async def _call(self, conn: Connection, line: bytes) -> None:
        id_: Any = None
        notify = False
        try:
            id_, method_name, params, notify = p.parse_request(line)
            method = self.methods.get(method_name)
            if method is None:
                raise p.RpcError(p.METHOD_NOT_FOUND, f"method not found: {method_name}")
            if not conn.initialized and method_name != "initialize":
                raise p.RpcError(p.NOT_INITIALIZED, "call initialize first")
            checked = p.check_params(params, method.params)
            result = await method.handler(conn, checked)
            if not notify:
                await conn.out(p.response(id_, result))
        except p.RpcError as e:
            if e.code == p.INVALID_REQUEST and isinstance(e.data, dict):
                id_, e.data = e.data.get("id"), None
            if not notify or e.code in (p.PARSE_ERROR, p.INVALID_REQUEST):
                await conn.out(p.error(id_, e))
        except Exception as e:
            err = storage_error(e)
            if err is None:
                log.exception("internal error in %r", line[:200])
                err = p.RpcError(p.INTERNAL_ERROR, f"internal error: {e}")
            else:
                log.error("%s", err.message)
            if not notify:
                await conn.out(p.error(id_, err))
