"""One HTTP/1.1 connection: an asyncio protocol around an h11 state machine.

Bytes in, h11 events out, one request handled at a time (h11 pauses pipelined requests
until ``start_next_cycle``; reading from the socket pauses meanwhile, so a pipelining
client cannot make us buffer without bound). A WebSocket upgrade at ``/mqtt`` hands the
socket over to ``WebSocketTransport`` for the rest of its life.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import cast
from urllib.parse import urlsplit

import h11

from hubbub.transport.handshake import HandshakeError, accept_response, parse_request
from hubbub.transport.websocket import DEFAULT_MAX_MESSAGE, WebSocketTransport
from hubbub.web.events import SECURITY_HEADERS, error_response
from hubbub.web.types import HttpRequest, HttpResponse

log = logging.getLogger(__name__)

MQTT_PATH = "/mqtt"
#: Subprotocols accepted for MQTT, in our order of preference: "mqtt" is the one MQTT
#: 3.1.1/5 name [MQTT-6.0.0-3]; MQTT.js may offer the older "mqttv3.1".
MQTT_SUBPROTOCOLS = ("mqtt", "mqttv3.1")


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-connection limits; each guards against one way a client can hold resources."""

    max_body: int = 1024 * 1024  # the API takes small JSON bodies
    max_header_size: int = 16 * 1024  # request line + headers; more gets 431
    header_timeout: float = 10.0  # first byte to last header (slowloris)
    body_timeout: float = 30.0  # last header to end of body; also for writing the answer
    keepalive_timeout: float = 15.0  # idle between requests before we close
    max_ws_message: int = DEFAULT_MAX_MESSAGE  # IoT Core's 128 KB payload + headroom
    ws_close_timeout: float = 5.0  # wait for the client's close frame
    linger_timeout: float = 2.0  # after an error answer, drain input before closing


@dataclass(slots=True)
class ConnectionHooks:
    """What a connection needs from its server, passed as values (no back-reference)."""

    dispatch: Callable[[HttpRequest], Awaitable[HttpResponse]]
    mqtt_protocol_factory: Callable[[], asyncio.Protocol] | None
    spawn: Callable[[Awaitable[None]], asyncio.Task[None]]
    http_closed: Callable[[HttpConnection], None]
    ws_opened: Callable[[WebSocketTransport], None]
    ws_closed: Callable[[WebSocketTransport], None]
    limits: Limits = field(default_factory=Limits)


class HttpConnection(asyncio.Protocol):
    def __init__(self, hooks: ConnectionHooks) -> None:
        self._hooks = hooks
        self._limits = hooks.limits
        self._h11 = h11.Connection(h11.SERVER,
                                   max_incomplete_event_size=self._limits.max_header_size)
        self._transport: asyncio.Transport | None = None
        self._peer: tuple[str, int] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._request: h11.Request | None = None
        self._headers: list[tuple[bytes, bytes]] = []  # the request's, names lower-case
        self._body = bytearray()
        self._in_flight = False  # a handler runs or its response is being written
        self._keep_alive = True
        self._waiting_first_byte = True
        self._write_paused = False
        self._drained: asyncio.Future[None] | None = None
        self._gone = False
        self._lingering = False
        self._eof = False

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance check: uvloop's transports are not asyncio.Transport subclasses.
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self._peer = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else None
        self._arm(self._limits.keepalive_timeout, "idle")

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # input after an error answer is discarded
        if self._waiting_first_byte and self._request is None:
            self._waiting_first_byte = False
            self._arm(self._limits.header_timeout, "headers")
        try:
            self._h11.receive_data(data)
        except RuntimeError:
            return  # h11 refuses data after it saw the end (or after an error): ignore
        self._process()

    def eof_received(self) -> bool:
        self._eof = True
        if self._lingering:
            return False
        # A client may half-close after its request and still read the answer.
        try:
            self._h11.receive_data(b"")
        except RuntimeError:
            pass
        self._process()
        return True  # we close once the response (if any) is written

    def connection_lost(self, exc: Exception | None) -> None:
        self._gone = True
        self._cancel_timer()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._hooks.http_closed(self)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # -- lifecycle (called by the server) ----------------------------------------------

    def shutdown(self) -> None:
        """Close now if idle; otherwise close after the response in flight."""
        self._keep_alive = False
        if not self._in_flight and self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # -- events ------------------------------------------------------------------------

    def _process(self) -> None:
        while not self._gone and not self._in_flight:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._reject(exc.error_status_hint, str(exc) or "malformed request")
                return
            if event is h11.NEED_DATA:
                return
            if event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
                self._close()
                return
            if isinstance(event, h11.Request):
                if not self._on_request(event):
                    return
            elif isinstance(event, h11.Data):
                if len(self._body) + len(event.data) > self._limits.max_body:
                    self._reject(413, f"body over {self._limits.max_body} bytes")
                    return
                self._body += event.data
            elif isinstance(event, h11.EndOfMessage):
                self._on_complete()

    def _on_request(self, event: h11.Request) -> bool:
        self._request = event
        # h11's Headers is a Sequence whose iteration costs ~0.5 µs per header in Python;
        # this list (names lower-case, as h11 gives them) is read instead, several times.
        self._headers = headers = [(k.lower(), v) for k, v in event.headers.raw_items()]
        self._body.clear()
        self._arm(self._limits.body_timeout, "body")
        # h11 enforces the limit only while headers are incomplete; a request that
        # arrives whole in one read is measured here (RFC 6585 §5).
        size = len(event.target) + sum(len(k) + len(v) + 4 for k, v in headers)
        if size > self._limits.max_header_size:
            self._reject(431, f"request headers over {self._limits.max_header_size} bytes")
            return False
        length = _content_length(headers)
        if length is not None and length > self._limits.max_body:
            self._reject(413, f"body over {self._limits.max_body} bytes")
            return False
        if self._h11.they_are_waiting_for_100_continue:
            self._write(self._h11.send(h11.InformationalResponse(status_code=100, headers=[])))
        return True

    def _on_complete(self) -> None:
        self._cancel_timer()
        event, self._request = self._request, None
        assert event is not None
        headers, self._headers = self._headers, []
        request = _to_request(event, headers, bytes(self._body), self._peer)
        self._body.clear()
        if request is None:
            self._reject(400, "bad request target")
            return
        upgrade = (_header(headers, b"upgrade") or b"").lower()
        if b"websocket" in upgrade:
            self._upgrade(event, headers, request)
            return
        self._in_flight = True
        if self._transport is not None:
            self._transport.pause_reading()  # bound pipelining: h11 holds the rest
        self._hooks.spawn(self._respond(request))

    async def _respond(self, request: HttpRequest) -> None:
        try:
            response = await self._hooks.dispatch(request)
        except Exception:
            log.exception("HTTP dispatch failed for %s %s", request.method, request.path)
            response = error_response(500, "Internal Server Error")
        await self._send(response, head=request.method == "HEAD")

    async def _send(self, response: HttpResponse, *, head: bool = False) -> None:
        if self._gone:
            return
        if not self._keep_alive:
            response = HttpResponse(response.status, (*response.headers, ("connection", "close")),
                                    response.body)
        try:
            data = _serialize(self._h11, response, head)
        except UnicodeEncodeError:
            log.error("response headers are not Latin-1; answering 500 instead")
            data = _serialize(self._h11, error_response(500, "Internal Server Error"), head)
        except h11.LocalProtocolError:
            log.exception("could not send a response with status %s", response.status)
            self.abort()
            return
        self._write(data)
        if self._write_paused and not self._gone:
            self._drained = asyncio.get_running_loop().create_future()
            try:
                # A client that does not read its answer does not hold us forever.
                await asyncio.wait_for(self._drained, self._limits.body_timeout)
            except TimeoutError:
                log.info("HTTP client %s did not read its response in time", self._peer)
                self.abort()
                self._in_flight = False
                return
        self._next_cycle()

    def _next_cycle(self) -> None:
        self._in_flight = False
        if self._gone or self._transport is None:
            return
        if (self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE
                and self._keep_alive):
            self._h11.start_next_cycle()
            self._waiting_first_byte = True
            self._arm(self._limits.keepalive_timeout, "idle")
            self._transport.resume_reading()
            self._process()  # a pipelined request may already wait in h11
        else:
            self._close()

    def _reject(self, status: int, message: str) -> None:
        """Answer a peer fault if the state machine still allows a response, then close."""
        self._keep_alive = False
        self._cancel_timer()
        if self._h11.our_state in (h11.IDLE, h11.SEND_RESPONSE) and not self._in_flight:
            status = status if 400 <= status <= 599 else 400
            response = error_response(status, message, (("connection", "close"),))
            try:
                self._write(_serialize(self._h11, response, False))
            except h11.LocalProtocolError:
                pass  # the machine refused; closing is all that is left
        self._linger()

    def _linger(self) -> None:
        # Closing with unread input makes the kernel send RST, which can destroy the
        # answer before the client reads it: half-close, drain, then close.
        transport = self._transport
        if transport is None or self._in_flight or self._gone:
            return
        if self._eof or not transport.can_write_eof():
            transport.close()
            return
        self._lingering = True
        transport.resume_reading()
        transport.write_eof()
        self._timer = asyncio.get_running_loop().call_later(
            self._limits.linger_timeout, transport.close)

    def _close(self) -> None:
        self._cancel_timer()
        if self._transport is not None and not self._in_flight:
            self._transport.close()

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._gone:
            self._transport.write(data)

    # -- timers ------------------------------------------------------------------------

    def _arm(self, delay: float, phase: str) -> None:
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(delay, self._on_timeout, phase)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timeout(self, phase: str) -> None:
        self._timer = None
        if phase == "idle":
            self._close()
        else:
            self._reject(408, f"request {phase} not received in time")

    # -- WebSocket upgrade -------------------------------------------------------------

    def _upgrade(self, event: h11.Request, headers: list[tuple[bytes, bytes]],
                 request: HttpRequest) -> None:
        factory = self._hooks.mqtt_protocol_factory
        if request.path != MQTT_PATH or factory is None:
            self._reject_soft(404, f"no WebSocket endpoint at {request.path}")
            return
        # The handshake by hand, not wsproto's: see hubbub.transport.handshake for why.
        try:
            hs = parse_request(event.method, headers)
        except HandshakeError as exc:
            self._reject_soft(exc.http_status, f"bad WebSocket handshake: {exc}", exc.headers)
            return
        chosen = next((p for p in hs.subprotocols if p in MQTT_SUBPROTOCOLS), None)
        if chosen is None:
            offered = ", ".join(hs.subprotocols) or "none"
            self._reject_soft(400, f"WebSocket subprotocol 'mqtt' required (offered: {offered})")
            return
        assert self._transport is not None
        trailing = self._h11.trailing_data[0]
        self._cancel_timer()
        self._write(accept_response(hs.key, chosen))
        # No request headers are kept: decisions about them are taken here, and keeping
        # them for the connection's life cost ~1.1 KiB per WebSocket.
        ws_transport = WebSocketTransport(
            self._transport, subprotocol=chosen, path=request.target,
            max_message=self._limits.max_ws_message,
            close_timeout=self._limits.ws_close_timeout, on_lost=self._hooks.ws_closed)
        # From here the socket belongs to the WebSocket: this object is done.
        self._gone = True
        self._hooks.http_closed(self)
        self._hooks.ws_opened(ws_transport)
        ws_transport.start(factory, trailing)

    def _reject_soft(self, status: int, message: str,
                     headers: tuple[tuple[str, str], ...] = ()) -> None:
        # A refused upgrade is an ordinary answer; h11 then knows no switch happened.
        self._in_flight = True
        if self._transport is not None:
            self._transport.pause_reading()
        self._hooks.spawn(self._send(error_response(status, message, headers)))


def _header(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    values = [v for k, v in headers if k == name]
    return b", ".join(values) if values else None


def _content_length(headers: Sequence[tuple[bytes, bytes]]) -> int | None:
    raw = _header(headers, b"content-length")
    return int(raw) if raw is not None and raw.isdigit() else None  # h11 validated it


def _to_request(event: h11.Request, raw_headers: list[tuple[bytes, bytes]], body: bytes,
                peer: tuple[str, int] | None) -> HttpRequest | None:
    target = event.target.decode("latin-1")
    if not target.startswith("/"):
        # Absolute form (RFC 9112 §3.2.2) is allowed; "*" and the rest are not for us.
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.path.startswith("/"):
            return None
        target = parts.path + (f"?{parts.query}" if parts.query else "")
    path, _, query = target.partition("?")
    headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw_headers)
    return HttpRequest(event.method.decode("ascii", "replace"), target, path, query, headers,
                       body, event.http_version.decode("ascii", "replace"), peer)


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


def _serialize(conn: h11.Connection, response: HttpResponse, head: bool) -> bytes:
    status = response.status
    has_body = status not in (204, 304) and status >= 200
    # Encode all headers before h11 sees any: an error here leaves its state untouched.
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers.extend((k.encode(), v.encode()) for k, v in SECURITY_HEADERS)
    if has_body:
        headers.append((b"content-length", str(len(response.body)).encode()))
    out = [conn.send(h11.Response(status_code=status, headers=headers, reason=_reason(status)))]
    if has_body and not head and response.body:
        out.append(conn.send(h11.Data(data=response.body)))
    out.append(conn.send(h11.EndOfMessage()))
    return b"".join(o for o in out if o)
