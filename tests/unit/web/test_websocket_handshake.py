"""The hand-written server handshake (RFC 6455 §4.2): the RFC's example, a wsproto client
accepting our 101, and every refusal with its status."""

from __future__ import annotations

import asyncio

import h11
import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request

from hubbub.transport.handshake import (
    ClientHandshake,
    HandshakeError,
    accept_response,
    accept_token,
    parse_request,
)

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3's example
GOOD = [(b"host", b"server.example.com"), (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"), (b"sec-websocket-key", KEY),
        (b"sec-websocket-version", b"13"), (b"sec-websocket-protocol", b"mqtt, mqttv3.1")]


def _without(name: bytes) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in GOOD if k != name]


def _with(name: bytes, value: bytes) -> list[tuple[bytes, bytes]]:
    return [*_without(name), (name, value)]


def test_rfc_example_accept_token() -> None:
    assert accept_token(KEY) == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_good_request_and_byte_exact_response() -> None:
    assert parse_request(b"GET", GOOD) == ClientHandshake(KEY, ("mqtt", "mqttv3.1"))
    assert accept_response(KEY, "mqtt") == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"Sec-WebSocket-Protocol: mqtt\r\n\r\n")
    assert b"Sec-WebSocket-Protocol" not in accept_response(KEY, None)


def test_token_lists_and_case_are_accepted() -> None:
    headers = _with(b"connection", b"keep-alive, UPGRADE")
    headers = [*headers[:1], (b"upgrade", b"WebSocket"), *headers[2:]]
    assert parse_request(b"GET", headers).key == KEY


def test_a_wsproto_client_accepts_our_answer() -> None:
    client = WSConnection(ConnectionType.CLIENT)
    wire = client.send(Request(host="h", target="/mqtt", subprotocols=["mqtt"]))
    server = h11.Connection(h11.SERVER)
    server.receive_data(wire)
    req = server.next_event()
    assert isinstance(req, h11.Request)
    hs = parse_request(req.method, req.headers)
    assert hs.subprotocols == ("mqtt",)
    client.receive_data(accept_response(hs.key, "mqtt"))
    events = list(client.events())
    assert len(events) == 1 and isinstance(events[0], AcceptConnection)
    assert events[0].subprotocol == "mqtt"


@pytest.mark.parametrize(("method", "headers", "status", "text"), [
    (b"POST", GOOD, 400, "GET"),
    (b"GET", _without(b"connection"), 400, "Connection: Upgrade"),
    (b"GET", _with(b"connection", b"keep-alive"), 400, "Connection: Upgrade"),
    (b"GET", _without(b"sec-websocket-version"), 400, "Sec-WebSocket-Version"),
    (b"GET", _with(b"sec-websocket-version", b"8"), 426, "Sec-WebSocket-Version"),
    (b"GET", _without(b"sec-websocket-key"), 400, "Sec-WebSocket-Key"),
    (b"GET", _with(b"sec-websocket-key", b"c2hvcnQ="), 400, "16 bytes"),
    (b"GET", _with(b"sec-websocket-key", b"not base64!!"), 400, "16 bytes"),
    (b"GET", _without(b"upgrade"), 400, "Upgrade: websocket"),
    (b"GET", _with(b"upgrade", b"h2c"), 400, "Upgrade: websocket"),
    (b"GET", _without(b"host"), 400, "Host"),
])
def test_refusals_carry_a_status(method: bytes, headers: list[tuple[bytes, bytes]],
                                 status: int, text: str) -> None:
    with pytest.raises(HandshakeError, match=text) as info:
        parse_request(method, headers)
    assert info.value.http_status == status
    if status == 426:  # RFC 6455 §4.4: say which version we speak
        assert info.value.headers == (("sec-websocket-version", "13"),)


def test_handshake_module_is_pure() -> None:
    from pathlib import Path

    from tests.purity import imported_modules

    import hubbub.transport.handshake as mod

    assert not imported_modules(Path(mod.__file__)) & {"asyncio", "socket", "time"}


class _Tcp(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.out = bytearray()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.out += data

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def can_write_eof(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 5) if name == "peername" else default


async def _answer(request: bytes) -> bytes:
    from hubbub.web.routes import Router
    from hubbub.web.server import WebServer

    web = WebServer(Router(), None, mqtt_protocol_factory=asyncio.Protocol)
    tcp = _Tcp()
    conn = web._make_connection()
    conn.connection_made(tcp)
    conn.data_received(request)
    for _ in range(5):
        await asyncio.sleep(0)
    return bytes(tcp.out)


async def test_the_web_server_answers_426_for_another_version_and_101_for_13() -> None:
    head = (b"GET /mqtt HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + KEY + b"\r\nSec-WebSocket-Protocol: mqtt\r\n")
    refused = await _answer(head + b"Sec-WebSocket-Version: 8\r\n\r\n")
    assert refused.startswith(b"HTTP/1.1 426 ")
    assert b"sec-websocket-version: 13\r\n" in refused.lower()
    accepted = await _answer(head + b"Sec-WebSocket-Version: 13\r\n\r\n")
    assert accepted == accept_response(KEY, "mqtt")
