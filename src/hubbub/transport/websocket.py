"""MQTT over WebSocket: an ``asyncio.Transport`` that the broker's protocol uses exactly as
it uses a TCP transport, carried in binary WebSocket messages (MQTT 5.0 §6, 3.1.1 §6).

wsproto parses what the client sends (masked frames, fragmentation, control frames) and
builds the close and pong frames, so its state machine stays the one source of truth about
closing. Outbound data frames skip it: a server's frames are unmasked (RFC 6455 §5.1), so
one frame built by ``binary_frame`` can be written to every subscriber as is. That is legal
for wsproto's state because we only ever write whole (FIN) data frames, never a fragment
that a control frame could interrupt wrongly (§5.4), and nothing after our close frame.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from typing import Any

from wsproto.connection import Connection, ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.utilities import LocalProtocolError

from hubbub.errors import LimitExceeded, ProtocolError

log = logging.getLogger(__name__)

#: MQTT's payload limit (128 KB, IoT Core) plus room for the topic and properties.
DEFAULT_MAX_MESSAGE = 128 * 1024 + 8 * 1024
#: How long to wait for the client's close frame after ours before dropping TCP.
DEFAULT_CLOSE_TIMEOUT = 5.0

_H16 = struct.Struct("!BBH").pack
_H64 = struct.Struct("!BBQ").pack
_FIN_BINARY = 0x82  # FIN bit + opcode 0x2 (RFC 6455 §5.2)


def binary_frame(payload: bytes | bytearray | memoryview) -> bytes:
    """One unmasked, final binary frame carrying ``payload`` (RFC 6455 §5.2), ready for
    ``WebSocketTransport.write_frame`` on any number of connections."""
    n = len(payload)
    if n < 126:
        return bytes((_FIN_BINARY, n)) + payload
    if n < 65536:
        return _H16(_FIN_BINARY, 126, n) + payload
    return _H64(_FIN_BINARY, 127, n) + payload


class _TcpSide(asyncio.Protocol):
    """What the TCP transport talks to after the upgrade; forwards to the WebSocket."""

    __slots__ = ("ws",)

    def __init__(self, ws: WebSocketTransport) -> None:
        self.ws = ws

    def data_received(self, data: bytes) -> None:
        self.ws._on_data(data)

    def eof_received(self) -> bool | None:
        return None  # no close frame first: let asyncio close, connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.ws._on_lost(exc)

    def pause_writing(self) -> None:
        if self.ws._protocol is not None:
            self.ws._protocol.pause_writing()

    def resume_writing(self) -> None:
        if self.ws._protocol is not None:
            self.ws._protocol.resume_writing()


class WebSocketTransport(asyncio.Transport):
    """The subset of ``asyncio.Transport`` the broker uses, over one WebSocket."""

    def __init__(self, tcp: asyncio.Transport, conn: Connection, *, subprotocol: str,
                 path: str = "/mqtt", headers: tuple[tuple[str, str], ...] = (),
                 max_message: int = DEFAULT_MAX_MESSAGE,
                 close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
                 on_lost: Callable[[WebSocketTransport], None] | None = None) -> None:
        super().__init__()
        self._tcp = tcp
        self._conn = conn
        self._subprotocol = subprotocol
        self._path = path
        self._headers = headers
        self.max_message = max_message
        self._close_timeout = close_timeout
        self._on_lost_cb = on_lost
        self._protocol: asyncio.BaseProtocol | None = None
        self._message_size = 0
        self._closing = False  # our close frame is out (or TCP is going): write nothing
        self._lost = False
        self._read_paused = False
        self._close_exc: Exception | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self.tcp_protocol = _TcpSide(self)

    # -- wiring (called by the HTTP connection that did the upgrade) -------------------

    def start(self, protocol_factory: Callable[[], asyncio.BaseProtocol],
              trailing: bytes = b"") -> None:
        """Take over the TCP transport, make the protocol, feed bytes that came early."""
        self._tcp.set_protocol(self.tcp_protocol)
        try:
            self._protocol = protocol_factory()
            self._protocol.connection_made(self)
        except Exception as exc:
            log.exception("MQTT protocol failed to start on a WebSocket")
            self._protocol = None
            self._fail(1011, "internal error", exc)
            return
        if trailing:
            self._on_data(trailing)

    # -- asyncio.Transport -------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send ``data`` as one binary message (dropped once closing, like TCP after close)."""
        if not self._closing:
            self._tcp.write(binary_frame(data))

    def write_frame(self, frame: bytes) -> None:
        """Write a frame built by ``binary_frame`` (shared between subscribers) as is."""
        if not self._closing:
            self._tcp.write(frame)

    def close(self) -> None:
        self.close_with(1000, "")

    def close_with(self, code: int, reason: str) -> None:
        """Send a close frame with ``code`` and ``reason`` (RFC 6455 §7.4), then close TCP
        once the client answers (or after the close timeout)."""
        if self._closing or self._lost:
            return
        self._closing = True
        try:
            self._tcp.write(self._conn.send(CloseConnection(code=code, reason=reason or None)))
        except LocalProtocolError:
            self._tcp.close()  # wsproto says the close handshake is already over
            return
        if self._conn.state is ConnectionState.CLOSED:
            self._tcp.close()  # we were answering the client's close
            return
        # Keep reading until the client's close frame: closing a socket with unread input
        # sends RST, and the client could lose our close frame (RFC 6455 §7.1.1).
        if self._read_paused:
            self._tcp.resume_reading()
        loop = asyncio.get_running_loop()
        self._close_timer = loop.call_later(self._close_timeout, self._tcp.abort)

    def abort(self) -> None:
        self._closing = True
        self._tcp.abort()

    def is_closing(self) -> bool:
        return self._closing or self._lost or self._tcp.is_closing()

    def is_reading(self) -> bool:
        return not self._read_paused and not self._lost

    def pause_reading(self) -> None:
        if not self._read_paused and not self._closing:
            self._read_paused = True
            self._tcp.pause_reading()

    def resume_reading(self) -> None:
        if self._read_paused:
            self._read_paused = False
            if not self._lost:
                self._tcp.resume_reading()
                # Frames already received stay in wsproto until now.
                asyncio.get_running_loop().call_soon(self._process)

    def get_write_buffer_size(self) -> int:
        return self._tcp.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._tcp.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._tcp.set_write_buffer_limits(high, low)

    def can_write_eof(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "transport_kind":
            return "ws"
        if name == "subprotocol":
            return self._subprotocol
        if name == "path":
            return self._path
        if name == "headers":
            return self._headers
        return self._tcp.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self._protocol is not None
        return self._protocol

    # -- inbound -----------------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        try:
            self._conn.receive_data(data)
        except LocalProtocolError:
            return  # wsproto is CLOSED: bytes after the close handshake are ignored
        self._process()

    def _process(self) -> None:
        if self._lost:
            return
        protocol = self._protocol
        for event in self._conn.events():
            if type(event) is BytesMessage:
                if self._closing or protocol is None:
                    continue  # draining until the client's close frame
                self._message_size += len(event.data)
                if self._message_size > self.max_message:
                    self._fail(1009, "message too big", LimitExceeded(
                        f"WebSocket message over {self.max_message} bytes", ws_close_code=1009))
                    continue
                if event.message_finished:
                    self._message_size = 0
                try:
                    protocol.data_received(bytes(event.data))  # type: ignore[attr-defined]
                except Exception as exc:
                    log.exception("MQTT protocol failed on WebSocket data")
                    self._fail(1011, "internal error", exc)
                    continue
                if self._read_paused:
                    return  # unparsed frames wait in wsproto until resume_reading
            elif isinstance(event, CloseConnection):
                self._on_close_frame(event)
            elif isinstance(event, Ping):
                if not self._closing:
                    self._tcp.write(self._conn.send(event.response()))
            elif isinstance(event, TextMessage):
                # MQTT over WebSocket is binary only [MQTT-6.0.0-1].
                self._fail(1003, "text frames are not MQTT", ProtocolError(
                    "text WebSocket frame", ws_close_code=1003))
            # Pong: nothing to do, we send no pings of our own.

    def _on_close_frame(self, event: CloseConnection) -> None:
        state = self._conn.state
        if state is ConnectionState.REMOTE_CLOSING:
            # The client closes: answer with its code (§5.5.1), then TCP goes.
            self._closing = True
            try:
                self._tcp.write(self._conn.send(event.response()))
            except LocalProtocolError:
                pass  # pragma: no cover - wsproto allowed REMOTE_CLOSING -> CLOSED above
            self._tcp.close()
        elif state is ConnectionState.CLOSED:
            self._tcp.close()  # the answer to our close frame
        else:
            # wsproto reports a frame it could not parse as a close event; state unchanged.
            # Nothing after it can be parsed, so the client's close frame could never be
            # recognised: send ours and close TCP now.
            self._fail(event.code, event.reason or "protocol error", ProtocolError(
                f"bad WebSocket frame: {event.reason}", ws_close_code=event.code))
            self._tcp.close()

    def _fail(self, code: int, reason: str, exc: Exception) -> None:
        if self._close_exc is None and not self._closing:
            self._close_exc = exc
        self.close_with(code, reason)

    def _on_lost(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._closing = True
        if self._close_timer is not None:
            self._close_timer.cancel()
        protocol = self._protocol
        try:
            if protocol is not None:
                protocol.connection_lost(self._close_exc or exc)
        except Exception:
            log.exception("MQTT protocol failed in connection_lost")
        finally:
            if self._on_lost_cb is not None:
                self._on_lost_cb(self)
