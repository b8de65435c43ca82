"""The generator's asyncio MQTT client over raw TCP or WebSocket, one Protocol per connection.

Thin shell around mqttwire and wsframe: bytes in, packets out, callbacks for PUBLISH and
PUBACK so scenario code can count, time and acknowledge without extra tasks.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from bench import mqttwire as mw
from bench import wsframe as wf

OnPublish = Callable[["Conn", int, bytes], None]
OnPuback = Callable[["Conn", int], None]


@dataclass(frozen=True)
class Target:
    """Where a broker listens, for one transport."""

    host: str
    port: int
    ws_path: str | None  # None = raw TCP


class Conn(asyncio.Protocol):
    """One MQTT connection. ``send`` takes MQTT bytes; WebSocket framing is added here."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.ws = target.ws_path is not None
        self.transport: asyncio.Transport | None = None
        self.on_publish: OnPublish | None = None
        self.on_puback: OnPuback | None = None
        self.group: object = None  # scenario bookkeeping (which room/topic)
        self._mqtt = mw.PacketSplitter()
        self._frames = wf.FrameReader()
        self._mask = os.urandom(4)
        self._ws_key = base64.b64encode(os.urandom(16)).decode()
        self._ws_buf = b""
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self._waiters: dict[int, asyncio.Future[bytes]] = {}
        self.closed: asyncio.Future[Exception | None] = loop.create_future()
        self._can_write = asyncio.Event()
        self._can_write.set()
        # Replies queued by callbacks (PUBACKs) go out as one write after each read.
        self.replies: list[bytes] = []

    # asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        if self.ws:
            path = self.target.ws_path or "/"
            host = f"{self.target.host}:{self.target.port}"
            self.transport.write(wf.handshake_request(host, path, self._ws_key))
        else:
            self.opened.set_result(None)

    def data_received(self, data: bytes) -> None:
        try:
            if self.ws:
                data = self._unframe(data)
                if not data:
                    return
            self._dispatch(self._mqtt.feed(data))
            if self.replies:
                self.send(b"".join(self.replies))
                self.replies.clear()
        except (mw.WireError, wf.WsError) as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        err = exc or ConnectionResetError("connection closed by broker")
        if not self.opened.done():
            self.opened.set_exception(err)
        for fut in self._waiters.values():
            if not fut.done():
                fut.set_exception(err)
        if not self.closed.done():
            self.closed.set_result(exc)
        self._can_write.set()

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    # sending ---------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("connection closed by broker")
        if self.ws:
            data = wf.client_frame(data, self._mask)
        self.transport.write(data)

    async def drained(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark."""
        await self._can_write.wait()

    async def request(self, data: bytes, reply_type: int, timeout: float = 10.0) -> bytes:
        """Send a packet and wait for the first packet of ``reply_type`` (CONNACK, SUBACK...)."""
        fut = asyncio.get_running_loop().create_future()
        self._waiters[reply_type] = fut
        self.send(data)
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._waiters.pop(reply_type, None)

    async def mqtt_connect(self, client_id: str, keepalive: int = 60) -> None:
        await asyncio.wait_for(asyncio.shield(self.opened), 10.0)
        body = await self.request(mw.connect(client_id, keepalive), mw.CONNACK)
        if len(body) != 2 or body[1] != 0:
            raise ConnectionRefusedError(f"CONNACK refused: {body.hex()}")

    async def mqtt_subscribe(self, topic_filter: str, qos: int, packet_id: int = 1) -> None:
        body = await self.request(mw.subscribe(packet_id, topic_filter, qos), mw.SUBACK)
        if len(body) < 3 or body[2] == 0x80:
            raise ConnectionRefusedError(f"SUBACK refused: {body.hex()}")

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            try:
                self.send(mw.DISCONNECT_BYTES)
            finally:
                self.transport.close()

    # receiving -------------------------------------------------------------------------
    def _unframe(self, data: bytes) -> bytes:
        if not self.opened.done():
            self._ws_buf += data
            used = wf.parse_handshake_response(self._ws_buf, self._ws_key)
            if used is None:
                return b""
            data, self._ws_buf = self._ws_buf[used:], b""
            self.opened.set_result(None)
        chunks = []
        for opcode, payload in self._frames.feed(data):
            if opcode in (wf.OP_BINARY, wf.OP_CONT):
                chunks.append(payload)
            elif opcode == wf.OP_PING:  # §5.5.2: answer with the same application data
                assert self.transport is not None
                self.transport.write(wf.client_frame(payload, self._mask, wf.OP_PONG))
            elif opcode == wf.OP_CLOSE:
                raise wf.WsError(f"server closed the WebSocket: {payload[:2].hex()}")
            elif opcode == wf.OP_TEXT:
                raise wf.WsError("text frame on an MQTT WebSocket (MQTT 3.1.1 §6)")
        return b"".join(chunks)

    def _dispatch(self, packets: list[tuple[int, bytes]]) -> None:
        on_publish, on_puback = self.on_publish, self.on_puback
        for first, body in packets:
            kind = first >> 4
            if kind == mw.PUBLISH:
                if on_publish is not None:
                    on_publish(self, first, body)
            elif kind == mw.PUBACK:
                if on_puback is not None:
                    on_puback(self, int.from_bytes(body[:2], "big"))
            else:
                fut = self._waiters.get(kind)
                if fut is not None and not fut.done():
                    fut.set_result(body)

    def _fail(self, exc: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()


async def open_conn(target: Target) -> Conn:
    """Open TCP (and, for WebSocket, complete the handshake); MQTT CONNECT is separate."""
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(lambda: Conn(target), target.host, target.port)
    await asyncio.wait_for(asyncio.shield(proto.opened), 10.0)
    return proto


async def connect_client(target: Target, client_id: str, keepalive: int = 60) -> Conn:
    conn = await open_conn(target)
    try:
        await conn.mqtt_connect(client_id, keepalive)
    except BaseException:
        if conn.transport is not None:
            conn.transport.abort()
        raise
    return conn
