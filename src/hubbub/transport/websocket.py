"""MQTT over WebSocket: an ``asyncio.Transport`` that the broker's protocol uses exactly as
it uses a TCP transport, carried in binary WebSocket messages (MQTT 5.0 §6, 3.1.1 §6).

Inbound, the client's binary data frames (masked, maybe fragmented) are parsed here by
``_parse``, by hand: through wsproto they cost ~10 µs each, most of the broker's time at
QoS 1 over WebSocket, where every delivery comes back as a PUBACK frame. Everything else
goes to wsproto: each control frame as it arrives (it validates close codes and reasons,
answers pings, and its state machine stays the one source of truth about closing), and
any other frame (text, reserved bits or opcodes, unmasked, non-minimal lengths) along with
the rest of the stream, which ends in a close anyway; a data frame never reaches wsproto,
so the fragmentation rules of data frames are checked here.

Outbound data frames skip wsproto too: a server's frames are unmasked (RFC 6455 §5.1), so
one frame built by ``binary_frame`` can be written to every subscriber as is. That is legal
for wsproto's state because we only ever write whole (FIN) data frames, never a fragment
that a control frame could interrupt wrongly (§5.4), and nothing after our close frame.

Since data frames never reach it, the wsproto ``Connection`` is made only when it is first
needed (a control frame, a frame we leave to it, or our close): until then its state is
OPEN by definition. An idle connection then holds no wsproto objects (~1.3 KiB each,
measured with ``bench/profile_connect.py --hold``).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from typing import Any

from wsproto.connection import Connection, ConnectionState, ConnectionType
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
_DATA = (0, 1, 2)  # continuation, text, binary
_CONTROL = (8, 9, 10)  # close, ping, pong
_READING = (ConnectionState.OPEN, ConnectionState.LOCAL_CLOSING)  # wsproto parses input


def _unmask(mask: bytes, payload: bytes) -> bytes:
    """XOR ``payload`` with the repeated 4-byte ``mask`` (RFC 6455 §5.3), as one big int."""
    n = len(payload)
    if not n:
        return b""
    key = int.from_bytes(mask * ((n + 3) >> 2))
    return (int.from_bytes(payload) ^ (key >> ((-n & 3) << 3))).to_bytes(n)


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

    # Slots: one per WebSocket client, thousands at once.
    __slots__ = ("_tcp", "_ws", "_subprotocol", "_path", "max_message", "_close_timeout",
                 "_on_lost_cb", "_protocol", "_message_size", "_in_message", "_pending",
                 "_skip", "_by_hand", "_closing", "_lost", "_read_paused", "_close_exc",
                 "_close_timer", "tcp_protocol", "_stream")

    def __init__(self, tcp: asyncio.Transport, conn: Connection | None = None, *,
                 subprotocol: str, path: str = "/mqtt",
                 max_message: int = DEFAULT_MAX_MESSAGE,
                 close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
                 on_lost: Callable[[WebSocketTransport], None] | None = None) -> None:
        super().__init__()
        self._tcp = tcp
        self._ws = conn  # wsproto's server connection, made when first needed (_conn)
        self._subprotocol = subprotocol
        self._path = path
        self.max_message = max_message
        self._close_timeout = close_timeout
        self._on_lost_cb = on_lost
        self._protocol: asyncio.BaseProtocol | None = None
        self._message_size = 0  # bytes of the (fragmented) binary message so far
        self._in_message = False  # a binary message is open: the next data frame continues it
        self._pending = b""  # input not parsed yet (a partial frame, or held while paused)
        self._skip = 0  # bytes of a discarded data frame still to come
        self._by_hand = True  # False once the rest of the stream belongs to wsproto
        self._closing = False  # our close frame is out (or TCP is going): write nothing
        self._lost = False
        self._read_paused = False
        self._close_exc: Exception | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self.tcp_protocol = _TcpSide(self)
        self._stream = False  # the protocol reads a byte stream: frames may be joined

    @property
    def _conn(self) -> Connection:
        conn = self._ws
        if conn is None:
            conn = self._ws = Connection(ConnectionType.SERVER)
        return conn

    def _reading(self) -> bool:
        """wsproto would still parse input (OPEN or LOCAL_CLOSING)."""
        return self._ws is None or self._ws.state in _READING

    # -- wiring (called by the HTTP connection that did the upgrade) -------------------

    def start(self, protocol_factory: Callable[[], asyncio.BaseProtocol],
              trailing: bytes = b"") -> None:
        """Take over the TCP transport, make the protocol, feed bytes that came early."""
        self._tcp.set_protocol(self.tcp_protocol)
        try:
            self._protocol = protocol_factory()
            # A protocol with ``byte_stream = True`` (MQTT [MQTT-6.0.0-2]) does not care
            # where frames begin: it gets the data frames of one read in one call; any
            # other gets one call per frame.
            self._stream = getattr(self._protocol, "byte_stream", False) is True
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
                # Frames already received wait (in _pending or in wsproto) until now.
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
        return self._tcp.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self._protocol is not None
        return self._protocol

    # -- inbound -----------------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        if not self._by_hand:
            self._to_wsproto(data)
        elif self._reading():
            self._pending = self._pending + data if self._pending else data
            self._process()
        # else: after the client's close frame nothing more is read (as wsproto does)

    def _process(self) -> None:
        if self._lost:
            return
        if self._by_hand:
            self._parse()
        else:
            self._wsproto_events()

    def _parse(self) -> None:
        """Deliver every complete binary data frame in ``_pending`` (RFC 6455 §5.2-5.4).

        For a ``byte_stream`` protocol (MQTT) the payloads of consecutive data frames go
        in one ``data_received`` call: the MQTT stream does not follow frame boundaries
        [MQTT-6.0.0-2], and at QoS 1 every delivery comes back as its own small PUBACK
        frame, so one call per frame cost ~1 µs per delivery. They are delivered before
        anything that could end or pause reading (a control frame, a refused frame, the
        end of this read); a pause (the protocol's own) then stops parsing, and the rest
        waits in ``_pending``. Other protocols get each frame as it is parsed.
        """
        buf = self._pending
        pos, end = 0, len(buf)
        got: list[bytes] = []
        if self._skip:
            pos = min(self._skip, end)
            self._skip -= pos
        small_ok = self.max_message >= 125
        stream = self._stream
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            # The usual frame first, in a few operations: a whole (FIN) masked binary
            # message under 126 bytes, outside a fragmented one, while we take data
            # (every PUBACK of a QoS 1 delivery is one). The general path below checks
            # the same rules on every other frame.
            if b0 == _FIN_BINARY and 0x80 <= b1 < 0xFE and small_ok and not (
                    self._in_message or self._closing) and self._protocol is not None:
                n = b1 - 0x80
                frame_end = pos + 6 + n
                if frame_end > end:
                    break
                if n:
                    key = int.from_bytes(buf[pos + 2:pos + 6] * ((n + 3) >> 2))
                    got.append((int.from_bytes(buf[pos + 6:frame_end])
                                ^ (key >> ((-n & 3) << 3))).to_bytes(n))
                pos = frame_end
                if not stream and got and not self._deliver(got):
                    break
                continue
            size = b1 & 0x7F
            head = 6
            if size == 126:
                if end - pos < 4:
                    break
                size = int.from_bytes(buf[pos + 2:pos + 4])
                head = 8
                minimal = size > 125
            elif size == 127:
                if end - pos < 10:
                    break
                size = int.from_bytes(buf[pos + 2:pos + 10])
                head = 14
                minimal = 0xFFFF < size < 1 << 63
            else:
                minimal = True
            opcode = b0 & 0x0F
            in_message = self._in_message
            if opcode == 2:
                usual = not in_message
            elif opcode == 0:
                usual = in_message
            else:
                usual = opcode in _CONTROL and bool(b0 & 0x80) and size < 126
            if not (usual and minimal and b1 & 0x80 and not b0 & 0x70):
                if got and not self._deliver(got):
                    break
                if opcode in _DATA and opcode and in_message:
                    # A new message inside a fragmented one (§5.4); wsproto never saw the
                    # first fragment, so this is the one data-frame rule it cannot check.
                    self._pending = b""
                    self._bad_frame(1002, f"expected a continuation frame, got {opcode:#x}")
                    return
                # Text, an error, or a control frame wsproto must refuse: from here on the
                # stream is wsproto's, whose answer is a close (1002, 1003, 1007).
                self._by_hand = False
                self._pending = b""
                self._to_wsproto(buf[pos:])
                return
            frame_end = pos + head + size
            if opcode >= 8:  # control: wsproto validates and answers it
                if frame_end > end:
                    break
                if got and not self._deliver(got):
                    break
                self._to_wsproto(buf[pos:frame_end])
                pos = frame_end
                if self._lost or not self._reading():
                    self._pending = b""
                    return
                continue
            fin = b0 & 0x80
            if self._closing or self._protocol is None:
                discard = True  # draining until the client's close frame
            elif self._message_size + size > self.max_message:
                if got and not self._deliver(got):
                    break
                discard = True
                self._fail(1009, "message too big", LimitExceeded(
                    f"WebSocket message over {self.max_message} bytes", ws_close_code=1009))
            else:
                discard = False
            if discard:
                self._in_message = not fin
                if frame_end > end:
                    self._skip = frame_end - end
                    pos = end
                    break
                pos = frame_end
                continue
            if frame_end > end:
                break
            self._in_message = not fin
            self._message_size = 0 if fin else self._message_size + size
            start = pos + head
            got.append(_unmask(buf[start - 4:start], buf[start:frame_end]))
            pos = frame_end
            if not stream and not self._deliver(got):
                break
        if got:
            self._deliver(got)
        self._pending = buf[pos:] if pos < end else b""

    def _deliver(self, got: list[bytes]) -> bool:
        """Hand the collected payloads to the protocol; False if parsing must stop (it
        paused reading, or the connection is gone)."""
        data = got[0] if len(got) == 1 else b"".join(got)
        got.clear()
        protocol: Any = self._protocol
        if protocol is not None and not self._closing:
            try:
                protocol.data_received(data)
            except Exception as exc:
                log.exception("MQTT protocol failed on WebSocket data")
                self._fail(1011, "internal error", exc)
        return not (self._read_paused or self._lost)

    def _to_wsproto(self, data: bytes) -> None:
        try:
            self._conn.receive_data(data)
        except LocalProtocolError:
            return  # wsproto is CLOSED: bytes after the close handshake are ignored
        self._wsproto_events()

    def _wsproto_events(self) -> None:
        if self._lost:
            return
        for event in self._conn.events():
            if type(event) is BytesMessage:
                # Only after a frame it refuses, as the stream ends: never delivered.
                continue
            if isinstance(event, CloseConnection):
                self._on_close_frame(event)
            elif isinstance(event, Ping):
                if not self._closing:
                    self._tcp.write(self._conn.send(event.response()))
            elif isinstance(event, TextMessage):
                # MQTT over WebSocket is binary only [MQTT-6.0.0-1].
                self._fail(1003, "text frames are not MQTT", ProtocolError(
                    "text WebSocket frame", ws_close_code=1003))
            # Pong: nothing to do, we send no pings of our own.

    def _bad_frame(self, code: int, reason: str) -> None:
        # Nothing after a frame we cannot parse can be trusted: send our close, drop TCP.
        self._fail(code, reason, ProtocolError(f"bad WebSocket frame: {reason}",
                                               ws_close_code=code))
        self._tcp.close()

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
            self._bad_frame(event.code, event.reason or "protocol error")

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
