"""The one HTTP port over real sockets (port 0): static site, API, WebSocket, bad input."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from hubbub.errors import LimitExceeded, NotAuthorized, PeerError
from hubbub.transport.websocket import WebSocketTransport, binary_frame
from hubbub.web import Router, StaticSite, WebServer
from hubbub.web.types import HttpApiEvent

# -- the stand-in broker ----------------------------------------------------------------


class Echo(asyncio.Protocol):
    """Echoes bytes; b"close"/b"frame"/b"pause" trigger transport calls. Records calls."""

    instances: list[Echo] = []

    def __init__(self) -> None:
        self.calls: list[object] = []
        self.received = b""
        self.lost = asyncio.Event()
        self.transport: WebSocketTransport | None = None
        Echo.instances.append(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, WebSocketTransport)
        self.transport = transport
        self.calls.append("made")

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        assert self.calls[0] == "made" and not self.lost.is_set()
        self.calls.append("data")
        self.received += data
        if data == b"close":
            self.transport.close()
        elif data == b"frame":
            self.transport.write_frame(binary_frame(b"shared"))
        elif data == b"boom":
            raise RuntimeError("broker bug")
        else:
            self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.calls.append(("lost", exc))
        self.lost.set()


# -- fixtures ---------------------------------------------------------------------------


def _site(root: Path) -> StaticSite:
    (root / "vendor").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>chat</title>")
    (root / "app.js").write_text("console.log(1)")
    (root / "vendor" / "mqtt.min.js").write_text("mqtt")
    (root / ".env").write_text("SECRET")
    (root.parent / "secret.txt").write_text("SECRET")
    os.symlink(root.parent / "secret.txt", root / "link.txt")
    return StaticSite(root)


class SlowDown(PeerError):
    http_status = 429
    retry_after = 7


def _router() -> Router:
    r = Router()

    async def messages(event: HttpApiEvent) -> object:
        return {"room": event["pathParameters"]["room"],
                "query": event.get("queryStringParameters"), "route": event["routeKey"]}

    async def echo(event: HttpApiEvent) -> object:
        return {"body": event.get("body"), "b64": event["isBase64Encoded"],
                "cookies": event.get("cookies")}

    async def explicit(event: HttpApiEvent) -> object:
        return {"statusCode": 201, "headers": {"x-made": "yes"}, "body": "made",
                "cookies": ["sid=1; HttpOnly"]}

    async def text(event: HttpApiEvent) -> object:
        return "plain"

    async def crash(event: HttpApiEvent) -> object:
        raise ValueError("secret internals")

    async def denied(event: HttpApiEvent) -> object:
        raise NotAuthorized("not your inbox")

    async def limited(event: HttpApiEvent) -> object:
        raise SlowDown("slow down")

    async def garbage(event: HttpApiEvent) -> object:
        return {"statusCode": "nope"}

    r.add("GET", "/api/rooms/{room}/messages", messages)
    r.add("POST", "/api/echo", echo)
    r.add("POST", "/api/explicit", explicit)
    r.add("GET", "/api/text", text)
    r.add("GET", "/api/crash", crash)
    r.add("GET", "/api/denied", denied)
    r.add("GET", "/api/limited", limited)
    r.add("GET", "/api/garbage", garbage)
    return r


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[WebServer]:
    Echo.instances.clear()
    srv = WebServer(_router(), _site(tmp_path / "www"), Echo, max_body=1000,
                    max_header_size=4096, header_timeout=0.5, max_ws_message=1000,
                    ws_close_timeout=1.0)
    await srv.start("127.0.0.1", 0)
    yield srv
    await srv.stop(2.0)


# -- raw HTTP helpers -------------------------------------------------------------------

Resp = tuple[int, dict[str, str], bytes]


async def exchange(port: int, data: bytes) -> bytes:
    """Send ``data``, half-close, read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    writer.write_eof()
    out = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return out


def parse(data: bytes, heads: int = 0, head_at: int = -1) -> list[Resp]:
    """Split raw bytes into responses (Content-Length framing; the first ``heads`` and the
    one at index ``head_at`` answer HEAD requests)."""
    out: list[Resp] = []
    while data:
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = 0 if len(out) < heads or len(out) == head_at or status in (304, 100) else int(
            headers.get("content-length", "0"))
        body, data = data[:n], data[n:]
        out.append((status, headers, body))
    return out


async def get(port: int, path: str, *extra: str, method: str = "GET",
              body: bytes = b"") -> Resp:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", *extra]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    (resp,) = parse(await exchange(port, raw), heads=1 if method == "HEAD" else 0)
    return resp


# -- static site ------------------------------------------------------------------------

SECURITY = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer",
            "x-frame-options": "DENY"}


async def test_index_room_fallback_and_security_headers(server: WebServer) -> None:
    for path in ("/", "/lobby", "/my-room"):
        status, headers, body = await get(server.port, path)
        assert status == 200 and body.startswith(b"<!doctype html>")
        assert headers["cache-control"] == "no-cache"
        assert headers["content-type"] == "text/html; charset=utf-8"
        for k, v in SECURITY.items():
            assert headers[k] == v
        csp = headers["content-security-policy"]
        assert "script-src 'self';" in csp and "unsafe" not in csp
        assert "connect-src 'self' ws: wss:" in csp


async def test_etag_304_head_and_vendor_cache(server: WebServer) -> None:
    status, headers, body = await get(server.port, "/app.js")
    assert status == 200 and body == b"console.log(1)"
    assert headers["cache-control"] == "no-cache"
    etag = headers["etag"]
    status, headers, body = await get(server.port, "/app.js", f"If-None-Match: {etag}")
    assert (status, body, headers["etag"]) == (304, b"", etag)
    status, headers, body = await get(server.port, "/app.js", method="HEAD")
    assert status == 200 and body == b"" and headers["content-length"] == "14"
    _, headers, _ = await get(server.port, "/vendor/mqtt.min.js")
    assert "immutable" in headers["cache-control"]


@pytest.mark.parametrize("path", [
    "/../secret.txt", "/%2e%2e/secret.txt", "/vendor/..%2F..%2Fsecret.txt", "/link.txt",
    "/.env", "/%2eenv", "/vendor/../../secret.txt", "/..%5csecret.txt", "/app.js%00",
    "/nothing.css", "/api/unknown", "/a/b",
])
async def test_traversal_and_missing_files_are_404(server: WebServer, path: str) -> None:
    status, headers, body = await get(server.port, path)
    assert status == 404 and b"SECRET" not in body
    assert json.loads(body) == {"message": "Not Found"}
    assert headers["x-frame-options"] == "DENY"


# -- API --------------------------------------------------------------------------------


async def test_route_gets_api_gateway_event(server: WebServer) -> None:
    status, headers, body = await get(server.port, "/api/rooms/caf%C3%A9/messages?limit=5")
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"room": "café", "query": {"limit": "5"},
                                "route": "GET /api/rooms/{room}/messages"}
    assert headers["apigw-requestid"]


async def test_post_bodies_text_and_binary(server: WebServer) -> None:
    _, _, body = await get(server.port, "/api/echo", "Content-Type: application/json",
                           "Cookie: a=1; b=2", method="POST", body=b'{"x":1}')
    assert json.loads(body) == {"body": '{"x":1}', "b64": False, "cookies": ["a=1", "b=2"]}
    _, _, body = await get(server.port, "/api/echo", "Content-Type: application/octet-stream",
                           method="POST", body=b"\x00\xff")
    assert json.loads(body) == {"body": "AP8=", "b64": True, "cookies": None}


async def test_explicit_and_text_responses(server: WebServer) -> None:
    status, headers, body = await get(server.port, "/api/explicit", method="POST", body=b"x")
    assert (status, body, headers["x-made"]) == (201, b"made", "yes")
    assert headers["set-cookie"] == "sid=1; HttpOnly"
    status, headers, body = await get(server.port, "/api/text")
    assert (status, body) == (200, b"plain")
    assert headers["content-type"].startswith("text/plain")


async def test_errors(server: WebServer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        status, headers, body = await get(server.port, "/api/crash")
    assert status == 500 and json.loads(body) == {"message": "Internal Server Error"}
    assert b"secret internals" not in body
    assert headers["apigw-requestid"] in caplog.text and "secret internals" in caplog.text
    status, _, body = await get(server.port, "/api/denied")
    assert (status, json.loads(body)) == (403, {"message": "not your inbox"})
    status, headers, body = await get(server.port, "/api/limited")
    assert (status, headers["retry-after"]) == (429, "7")
    status, _, _ = await get(server.port, "/api/garbage")
    assert status == 500
    status, headers, _ = await get(server.port, "/api/text", method="DELETE")
    assert (status, headers["allow"]) == (405, "GET")
    status, headers, _ = await get(server.port, "/mqtt")
    assert (status, headers["upgrade"]) == (426, "websocket")


async def test_keep_alive_and_pipelining(server: WebServer) -> None:
    one = b"GET /api/text HTTP/1.1\r\nHost: t\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(one)
    first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\nplain"), 5)
    # Same connection, kept alive: three pipelined requests and a HEAD in one write.
    writer.write(one * 3 + b"HEAD /app.js HTTP/1.1\r\nHost: t\r\n\r\n")
    writer.write_eof()
    rest = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    responses = parse(first) + parse(rest, head_at=3)
    assert [r[2] for r in responses] == [b"plain"] * 4 + [b""]
    assert responses[-1][1]["content-length"] == "14"  # HEAD: the length, not the body


async def test_body_too_large(server: WebServer) -> None:
    status, _, body = await get(server.port, "/api/echo", method="POST", body=b"x" * 1001)
    assert status == 413 and b"body over 1000" in body
    chunked = (b"POST /api/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"200\r\n" + b"x" * 512 + b"\r\n") * 1
    chunked += b"200\r\n" + b"x" * 512 + b"\r\n0\r\n\r\n"
    ((status, _, _),) = parse(await exchange(server.port, chunked))
    assert status == 413


@pytest.mark.parametrize(("raw", "status"), [
    (b"\x00\x01\x02garbage\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: t\r\nX: " + b"a" * 5000 + b"\r\n\r\n", 431),
    (b"POST /api/echo HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n", 400),
    (b"POST /api/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
     400),
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # HTTP/1.1 without Host
    (b"GET * HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    (b"POST /api/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc", 400),
])
async def test_malformed_requests(server: WebServer, raw: bytes, status: int) -> None:
    (resp,) = parse(await exchange(server.port, raw))
    assert resp[0] == status and "message" in json.loads(resp[2])
    assert (await get(server.port, "/api/text"))[0] == 200  # still serving


async def test_slowloris_gets_408(server: WebServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n")  # never finishes its headers
    out = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert out.startswith(b"HTTP/1.1 408 ")


async def test_stop_closes_idle_keepalive_and_finishes_in_flight(tmp_path: Path) -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow(event: HttpApiEvent) -> object:
        started.set()
        await release.wait()
        return "done"

    r = Router()
    r.add("GET", "/api/slow", slow)
    srv = WebServer(r, None, None)
    await srv.start("127.0.0.1", 0)
    idle_r, idle_w = await asyncio.open_connection("127.0.0.1", srv.port)
    busy_r, busy_w = await asyncio.open_connection("127.0.0.1", srv.port)
    busy_w.write(b"GET /api/slow HTTP/1.1\r\nHost: t\r\n\r\n")
    await started.wait()
    stopping = asyncio.create_task(srv.stop(5.0))
    assert await asyncio.wait_for(idle_r.read(), 5) == b""  # idle one closed at once
    release.set()
    ((status, headers, body),) = parse(await asyncio.wait_for(busy_r.read(), 5))
    assert (status, body, headers["connection"]) == (200, b"done", "close")
    await stopping
    idle_w.close()
    busy_w.close()


# -- WebSocket --------------------------------------------------------------------------


class WsClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 ws: WSConnection) -> None:
        self.reader, self.writer, self.ws = reader, writer, ws
        self.pending: list[Event] = []

    @classmethod
    async def open(cls, port: int, subprotocols: list[str] | None = None,
                   path: str = "/mqtt") -> tuple[WsClient, Event]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        ws = WSConnection(ConnectionType.CLIENT)
        writer.write(ws.send(Request(host="test", target=path,
                                     subprotocols=["mqtt"] if subprotocols is None
                                     else subprotocols)))
        client = cls(reader, writer, ws)
        return client, await client.event()

    async def event(self) -> Event:
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(65536), 5)
            self.ws.receive_data(data or None)
            self.pending.extend(self.ws.events())
        return self.pending.pop(0)

    async def message(self) -> bytes:
        out = b""
        while True:
            ev = await self.event()
            assert isinstance(ev, BytesMessage), ev
            out += ev.data
            if ev.message_finished:
                return out

    async def closed(self) -> CloseConnection:
        while True:
            ev = await self.event()
            if isinstance(ev, CloseConnection):
                self.writer.write(self.ws.send(ev.response()))
                return ev

    def send(self, event: Event) -> None:
        self.writer.write(self.ws.send(event))


async def test_upgrade_echo_and_lifecycle(server: WebServer) -> None:
    client, accepted = await WsClient.open(server.port)
    assert isinstance(accepted, AcceptConnection) and accepted.subprotocol == "mqtt"
    client.send(Message(data=b"\x10\x02"))
    assert await client.message() == b"\x10\x02"
    (echo,) = Echo.instances
    assert echo.transport is not None
    assert echo.transport.get_extra_info("transport_kind") == "ws"
    assert echo.transport.get_extra_info("peername")[0] == "127.0.0.1"
    assert echo.transport.get_extra_info("sockname")[1] == server.port
    client.send(Message(data=b"frame"))
    assert await client.message() == b"shared"
    client.send(Ping(b"hi"))
    assert await client.event() == Pong(b"hi")
    client.send(CloseConnection(code=1000))
    assert isinstance(await client.event(), CloseConnection)
    await echo.lost.wait()
    assert echo.calls == ["made", "data", "data", ("lost", None)]
    await server.stop(1.0)
    assert echo.calls.count(("lost", None)) == 1


async def test_fragmented_and_byte_split_frames(server: WebServer) -> None:
    client, _ = await WsClient.open(server.port)
    client.send(Message(data=b"ab", message_finished=False))
    client.send(Message(data=b"cd", message_finished=True))
    raw = WSConnection(ConnectionType.CLIENT)  # a frame fed to the server byte by byte
    frame = client.ws.send(Message(data=b"xyz"))
    for i in range(len(frame)):
        client.writer.write(frame[i:i + 1])
        await client.writer.drain()
    got = b""
    while len(got) < 7:
        got += await client.message()
    assert got == b"abcdxyz"
    assert Echo.instances[0].received == b"abcdxyz"
    del raw


async def test_server_close_sends_1000(server: WebServer) -> None:
    client, _ = await WsClient.open(server.port)
    client.send(Message(data=b"close"))
    ev = await client.closed()
    assert ev.code == 1000
    await Echo.instances[0].lost.wait()
    assert Echo.instances[0].calls[-1] == ("lost", None)


@pytest.mark.parametrize(("event", "code", "exc_type"), [
    (TextMessage(data="hello"), 1003, PeerError),
    (Message(data=b"x" * 1001), 1009, LimitExceeded),
    (Message(data=b"boom"), 1011, RuntimeError),
])
async def test_refused_messages_close_with_code(server: WebServer, event: Event, code: int,
                                                exc_type: type[Exception]) -> None:
    client, _ = await WsClient.open(server.port)
    client.send(event)
    ev = await client.closed()
    assert ev.code == code
    echo = Echo.instances[0]
    await echo.lost.wait()
    lost = [c for c in echo.calls if isinstance(c, tuple)]
    assert len(lost) == 1 and isinstance(lost[0][1], exc_type)


async def test_garbage_after_upgrade_closes_1002(server: WebServer) -> None:
    client, _ = await WsClient.open(server.port)
    client.writer.write(b"\x82\x05hello")  # unmasked client frame: RFC 6455 §5.1
    ev = await client.closed()
    assert ev.code == 1002
    await Echo.instances[0].lost.wait()


async def test_bytes_sent_with_the_upgrade_are_not_lost(server: WebServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    ws = WSConnection(ConnectionType.CLIENT)
    handshake = ws.send(Request(host="t", target="/mqtt", subprotocols=["mqtt"]))
    # wsproto refuses to frame before the answer: build a masked frame by hand.
    masked = bytes([0x82, 0x80 | 3, 0, 0, 0, 0]) + b"abc"
    writer.write(handshake + masked)
    client = WsClient(reader, writer, ws)
    assert isinstance(await client.event(), AcceptConnection)
    assert await client.message() == b"abc"


@pytest.mark.parametrize(("subprotocols", "path", "status"), [
    ([], "/mqtt", 400), (["chat", "wamp"], "/mqtt", 400), (["mqtt"], "/other", 404),
    (["mqtt"], "/api/rooms", 404),
])
async def test_refused_upgrades(server: WebServer, subprotocols: list[str], path: str,
                                status: int) -> None:
    client, ev = await WsClient.open(server.port, subprotocols, path)
    assert isinstance(ev, RejectConnection) and ev.status_code == status
    body = b""
    while True:
        data = await client.event()
        assert isinstance(data, RejectData)
        body += data.data
        if data.body_finished:
            break
    assert "message" in json.loads(body)
    assert not Echo.instances


async def test_mqttv31_subprotocol_accepted(server: WebServer) -> None:
    _, ev = await WsClient.open(server.port, ["mqttv3.1"])
    assert isinstance(ev, AcceptConnection) and ev.subprotocol == "mqttv3.1"


async def test_stop_sends_going_away(server: WebServer) -> None:
    client, _ = await WsClient.open(server.port)
    stopping = asyncio.create_task(server.stop(2.0))
    ev = await client.closed()
    assert ev.code == 1001
    await stopping
    assert Echo.instances[0].calls[-1] == ("lost", None)


async def test_client_vanishing_reports_once(server: WebServer) -> None:
    client, _ = await WsClient.open(server.port)
    client.send(Message(data=b"x"))
    await client.message()
    client.writer.transport.abort()
    echo = Echo.instances[0]
    await echo.lost.wait()
    await server.stop(1.0)
    assert sum(isinstance(c, tuple) for c in echo.calls) == 1


async def test_flow_control_pause_holds_data(server: WebServer) -> None:
    client, _ = await WsClient.open(server.port)
    client.send(Message(data=b"1"))
    await client.message()
    echo = Echo.instances[0]
    assert echo.transport is not None
    echo.transport.pause_reading()
    client.send(Message(data=b"2"))
    client.send(Message(data=b"3"))
    await client.writer.drain()
    ping_wait = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(ping_wait.set_result, None)
    await ping_wait
    assert echo.received == b"1"
    echo.transport.resume_reading()
    assert await client.message() + await client.message() == b"23"


# -- fuzz -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def threaded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A server on its own loop in a thread, so that sync Hypothesis tests can hit it."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, WebServer] = {}
    root = tmp_path_factory.mktemp("fuzz") / "www"

    async def boot() -> None:
        srv = WebServer(_router(), _site(root), Echo, header_timeout=2.0, max_body=1000)
        await srv.start("127.0.0.1", 0)
        holder["srv"] = srv
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(boot()),
                                              loop.run_forever()), daemon=True)
    thread.start()
    ready.wait(5)
    yield holder["srv"].port
    asyncio.run_coroutine_threadsafe(holder["srv"].stop(2.0), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def _blocking_exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may already have answered and closed
        out = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                return out
            out += chunk
        return out


_prefixes = st.sampled_from([b"", b"GET / HTTP/1.1\r\n", b"POST /api/echo HTTP/1.1\r\nHost: t\r\n",
                             b"GET /mqtt HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(prefix=_prefixes, junk=st.binary(max_size=600))
def test_fuzz_never_crashes(threaded_server: int, prefix: bytes, junk: bytes) -> None:
    out = _blocking_exchange(threaded_server, prefix + junk)
    assert out == b"" or out.startswith(b"HTTP/1.1 ")
    ok = _blocking_exchange(threaded_server, b"GET /api/text HTTP/1.1\r\nHost: t\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200 ") and ok.endswith(b"plain")


# -- a real MQTT client over the WebSocket ------------------------------------------------


class ConnackOnly(asyncio.Protocol):
    """Answers CONNECT with CONNACK and PINGREQ with PINGRESP (MQTT 3.1.1 §3.2, §3.13)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, WebSocketTransport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 2:
            length = self.buffer[1]  # packets here are short: one-byte remaining length
            if len(self.buffer) < 2 + length:
                return
            packet, self.buffer = self.buffer[:2 + length], self.buffer[2 + length:]
            if packet[0] == 0x10:
                self.transport.write(b"\x20\x02\x00\x00")
            elif packet[0] == 0xE0:
                self.transport.close()


@pytest.mark.interop
async def test_paho_connects_over_websocket(tmp_path: Path) -> None:
    import paho.mqtt.client as mqtt

    srv = WebServer(Router(), None, ConnackOnly)
    await srv.start("127.0.0.1", 0)
    loop = asyncio.get_running_loop()
    connected: asyncio.Future[object] = loop.create_future()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-ws",
                         transport="websockets")
    client.ws_set_options(path="/mqtt")
    client.on_connect = lambda c, u, f, rc, p: loop.call_soon_threadsafe(
        connected.set_result, rc)
    await loop.run_in_executor(None, client.connect, "127.0.0.1", srv.port, 30)
    client.loop_start()
    try:
        rc = await asyncio.wait_for(connected, 5)
        assert not rc.is_failure  # type: ignore[attr-defined]
    finally:
        client.disconnect()
        client.loop_stop()
        await srv.stop(2.0)


_BROWSER_JS = """
window.addEventListener("load", () => {
  const ws = new WebSocket(`ws://${location.host}/mqtt`, ["mqtt"]);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => ws.send(new Uint8Array([16, 2, 0, 0]));
  ws.onmessage = (e) => {
    document.body.dataset.got = new Uint8Array(e.data).join(",") + " " + ws.protocol;
    ws.close();
  };
  try { eval("1"); document.body.dataset.eval = "allowed"; }
  catch (err) { document.body.dataset.eval = "blocked"; }
});
"""


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists("/usr/bin/chromium"), reason="needs Debian chromium")
async def test_chromium_websocket_and_csp(tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    (tmp_path / "index.html").write_text(
        '<!doctype html><script src="/app.js"></script><body></body>')
    (tmp_path / "app.js").write_text(_BROWSER_JS)

    class EchoOnly(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.WriteTransport)
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data)

    srv = WebServer(Router(), StaticSite(tmp_path), EchoOnly)
    await srv.start("127.0.0.1", 0)
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path="/usr/bin/chromium")
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{srv.port}/some-room")
            # A selector, not wait_for_function: the page's CSP forbids the eval it uses.
            await page.wait_for_selector("body[data-got]", state="attached", timeout=10000)
            data = await page.evaluate("({...document.body.dataset})")
            await browser.close()
        assert data == {"got": "16,2,0,0 mqtt", "eval": "blocked"}
    finally:
        await srv.stop(2.0)


async def test_large_file_survives_write_flow_control(server: WebServer) -> None:
    assert server.static is not None
    blob = os.urandom(3 * 1024 * 1024)  # larger than socket buffers: pause_writing happens
    (server.static.root / "big.bin").write_bytes(blob)
    status, headers, body = await get(server.port, "/big.bin")
    assert status == 200 and body == blob
    assert headers["content-type"] == "application/octet-stream"
