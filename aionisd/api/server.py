"""The Unix-socket JSON-RPC server: 0600 socket in a 0700 directory, peer uid checked, bounded."""

from __future__ import annotations

import errno
import logging
import math
import os
import pwd
import socket as stdsocket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from aionisd import errors
from aionisd.api import protocol as p
from aionisd.bus import Subscription
from aionisd.paths import answers, ensure_private_dir
from aionisd.services import Services
from aionisd.store import events as event_log

log = logging.getLogger("aionisd.api")

MAX_CONNECTIONS = 256
RESERVE = 16  # beyond MAX_CONNECTIONS, when no connection is idle: room for `aionis status`
CONTROL_METHODS = frozenset({"initialize", "status"})
IDLE_TIMEOUT_S = 300.0
MAX_IN_FLIGHT = 32
OUT_QUEUE = 256


def storage_error(e: Exception) -> errors.AionisError | None:
    """A full disk or a database held by another process is the user's to fix, not a crash."""
    import apsw

    if isinstance(e, apsw.FullError):
        return errors.AionisError(errors.STORAGE_FULL, errors.APP_ERRORS[errors.STORAGE_FULL])
    if isinstance(e, (apsw.BusyError, apsw.LockedError)):
        return errors.AionisError(errors.STORAGE_BUSY, errors.APP_ERRORS[errors.STORAGE_BUSY])
    return None


class AlreadyRunning(Exception):
    """Another daemon answers on the socket."""


def peer_uid(sock: trio.socket.SocketType) -> int:
    creds = sock.getsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


def peer_actor(uid: int) -> str:
    """The person behind a connection as the audit names them (login name and uid), so a
    decision made through the daemon is never logged as the daemon's own."""
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = "unknown user"
    return f"{name} (uid {uid})"


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
    """One client: its out-queue, whether it said initialize, its subscriptions, and whether it
    is idle (nothing in flight, no subscription), which lets the server close it."""

    server: Server
    stream: trio.SocketStream
    send: trio.MemorySendChannel[bytes]
    control_only: bool = False  # admitted past the limit: initialize and status only
    actor: str = ""  # the peer, from SO_PEERCRED: whom the audit names for what this client decides
    initialized: bool = False
    client_info: dict[str, Any] = field(default_factory=dict)
    subs: dict[int, Subscription] = field(default_factory=dict)
    nursery: trio.Nursery | None = None
    flushed: trio.Event = field(default_factory=trio.Event)  # the writer wrote all it was given
    in_flight: int = 0
    last_active: float = field(default_factory=trio.current_time)
    read_scope: trio.CancelScope | None = None  # around the reader's wait for the next bytes
    closing: str | None = None  # why the server is closing it

    @property
    def idle(self) -> bool:
        return not self.in_flight and not self.subs

    def rearm(self) -> None:
        """Restart the idle clock; it runs only while the connection is idle."""
        self.last_active = trio.current_time()
        if self.read_scope is not None:
            idle_for = self.server.idle_timeout if self.idle else math.inf
            self.read_scope.deadline = self.last_active + idle_for

    def close_idle(self, reason: str) -> None:
        """Close it with `reason` (sent as an error) once the reader notices, which is at once."""
        self.closing = reason
        if self.read_scope is not None:
            self.read_scope.cancel()

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
        self.rearm()
        assert self.nursery is not None
        # The pump starts later; events offered meanwhile raise high_water, so fix the start now.
        self.nursery.start_soon(self._pump, sub, sub.high_water)
        return sub

    def unsubscribe(self, sub_id: int) -> bool:
        sub = self.subs.pop(sub_id, None)
        if sub is None:
            return False
        self.server.service.bus.unsubscribe(sub)
        self.rearm()
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
    def __init__(
        self, services: Services, methods: dict[str, Method], *, idle_timeout: float = IDLE_TIMEOUT_S
    ) -> None:
        self.services = services
        self.service = services.ctx
        self.methods = methods
        self.idle_timeout = idle_timeout
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
                await stream.send_all(p.encode(p.error(None, errors.AionisError(code, msg))))
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
            await self._refuse(stream, errors.PEER_REFUSED, f"peer uid {uid} is not the daemon's uid")
            return
        control_only = False
        if not self._room():
            if sum(c.control_only and not c.closing for c in self.connections) >= RESERVE:
                await self._refuse(stream, errors.TOO_MANY_CONNECTIONS, "too many connections")
                return
            control_only = True
        send, recv = trio.open_memory_channel[bytes](OUT_QUEUE)
        conn = Connection(self, stream, send, control_only, actor=peer_actor(uid))
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

    def _room(self) -> bool:
        """Whether a regular slot is free, after closing the longest-idle connection if need be."""
        regular = [c for c in self.connections if not c.control_only and not c.closing]
        if len(regular) < MAX_CONNECTIONS:
            return True
        idle = [c for c in regular if c.idle]
        if not idle:
            return False
        min(idle, key=lambda c: c.last_active).close_idle(
            f"closed: idle while the daemon was at its limit of {MAX_CONNECTIONS} connections"
        )
        return True

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
            if conn.closing is None:
                conn.read_scope = trio.CancelScope()
                conn.rearm()
                with conn.read_scope:
                    try:
                        chunk = await conn.stream.receive_some(65536)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        return
                if conn.read_scope.cancelled_caught and conn.closing is None:
                    conn.closing = f"closed after {self.idle_timeout:g} s idle"
            if conn.closing is not None:
                await self._close_with(conn, errors.AionisError(errors.IDLE_CLOSED, conn.closing))
                return
            if not chunk:
                return
            conn.last_active = trio.current_time()
            start = len(buf)
            buf += chunk
            while True:
                nl = buf.find(b"\n", start if start < len(buf) else 0)
                start = 0
                if nl < 0:
                    break
                line = bytes(buf[:nl])
                del buf[: nl + 1]
                if len(line) > errors.MAX_LINE:
                    await self._too_long(conn)
                    return
                if line.strip():
                    # A fresh borrower per request: equal lines (a repeated request) are not one borrower.
                    token = object()
                    conn.in_flight += 1
                    await limiter.acquire_on_behalf_of(token)
                    nursery.start_soon(self._dispatch, conn, line, limiter, token)
            if len(buf) > errors.MAX_LINE:
                await self._too_long(conn)
                return

    async def _too_long(self, conn: Connection) -> None:
        await self._close_with(
            conn, errors.AionisError(errors.LINE_TOO_LONG, f"line longer than {errors.MAX_LINE} bytes")
        )

    async def _close_with(self, conn: Connection, err: errors.AionisError) -> None:
        """Send `err` as the connection's last message, then let it close."""
        await conn.out(p.encode(p.error(None, err)))
        conn.send.close()
        # Let the writer flush the error before the connection closes (an empty channel is not
        # enough: the writer may hold the message without having sent it).
        with trio.move_on_after(2):
            await conn.flushed.wait()

    async def _dispatch(
        self, conn: Connection, line: bytes, limiter: trio.CapacityLimiter, token: object
    ) -> None:
        try:
            await self._line(conn, line)
        finally:
            limiter.release_on_behalf_of(token)
            conn.in_flight -= 1
            conn.rearm()

    async def _line(self, conn: Connection, line: bytes) -> None:
        """One line: a request, or a batch (an array of requests answered by one array, in order,
        without the notifications' answers; nothing at all when every answer is left out)."""
        try:
            msg = p.decode(line)
        except errors.AionisError as e:
            await conn.out(p.encode(p.error(None, e)))
            return
        if not isinstance(msg, list):
            answer = await self._answer(conn, msg)
            if answer is not None:
                await conn.out(p.encode(answer))
            return
        problem = p.batch_problem(msg)
        if problem is not None:
            await conn.out(p.encode(p.error(None, problem)))
            return
        answers = [a for item in msg if (a := await self._answer(conn, item)) is not None]
        if answers:
            await conn.out(p.encode(answers))

    async def _answer(self, conn: Connection, msg: Any) -> dict[str, Any] | None:
        """The response to one request (None for a notification, unless it is not a valid one)."""
        id_: Any = None
        method_name = "?"
        notify = False
        try:
            id_, method_name, params, notify = p.parse_message(msg)
            method = self.methods.get(method_name)
            if method is None:
                raise errors.AionisError(errors.METHOD_NOT_FOUND, f"method not found: {method_name}")
            if conn.control_only and method_name not in CONTROL_METHODS:
                raise errors.AionisError(
                    errors.TOO_MANY_CONNECTIONS,
                    f"too many connections: this one may call only {', '.join(sorted(CONTROL_METHODS))}",
                )
            if not conn.initialized and method_name != "initialize":
                raise errors.AionisError(errors.NOT_INITIALIZED, "call initialize first")
            checked = p.check_params(params, method.params)
            result = await method.handler(conn, checked)
            return None if notify else p.response(id_, result)
        except errors.AionisError as e:
            if e.code == errors.INVALID_REQUEST and isinstance(e.data, dict):
                id_, e.data = e.data.get("id"), None
            if not notify or e.code in (errors.PARSE_ERROR, errors.INVALID_REQUEST):
                return p.error(id_, e)
            return None
        except Exception as e:
            err = storage_error(e)
            if err is None:
                log.exception("internal error in %s", method_name[:100])  # params may hold secrets
                err = errors.AionisError(errors.INTERNAL_ERROR, f"internal error: {e}")
            else:
                log.error("%s", err.message)
            return None if notify else p.error(id_, err)
