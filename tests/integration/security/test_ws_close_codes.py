"""Over WebSocket, a close caused by a policy refusal uses close code 1008 (policy
violation, RFC 6455 §7.4.1), as docs/security.md says. paho does not expose close codes,
so this client is a plain socket with wsproto and hand-built MQTT 5 packets."""

from __future__ import annotations

import asyncio
import socket
import struct

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Request,
)

from .conftest import Server


def _str(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("!H", len(raw)) + raw


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def connect_v5(client_id: str, password: str) -> bytes:
    # [MQTT-3.1]: protocol name, level 5, flags user+password+clean start, keep-alive 60,
    # no properties; payload client id, user name, password.
    body = (_str("MQTT") + bytes([5, 0xC2]) + struct.pack("!H", 60) + b"\x00"
            + _str(client_id) + _str("guest") + _str(password))
    return b"\x10" + _varint(len(body)) + body


def subscribe_v5(packet_id: int, topic_filter: str) -> bytes:
    body = struct.pack("!H", packet_id) + b"\x00" + _str(topic_filter) + b"\x01"
    return b"\x82" + _varint(len(body)) + body


def ws_session(port: int, packets: list[bytes]) -> tuple[list[bytes], int | None]:
    """Send MQTT packets over a WebSocket; return the binary messages and the close code."""
    ws = WSConnection(ConnectionType.CLIENT)
    received: list[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(ws.send(Request(host=f"127.0.0.1:{port}", target="/mqtt",
                                     subprotocols=["mqtt"])))
        sent = False
        while True:
            data = sock.recv(65536)
            ws.receive_data(data or None)
            for event in ws.events():
                if isinstance(event, AcceptConnection) and not sent:
                    for p in packets:
                        sock.sendall(ws.send(Message(data=p)))
                    sent = True
                elif isinstance(event, BytesMessage):
                    received.append(bytes(event.data))
                elif isinstance(event, CloseConnection):
                    sock.sendall(ws.send(event.response()))
                    return received, event.code
            if not data:
                return received, None


async def test_refused_connect_closes_with_1008(server: Server) -> None:
    messages, code = await asyncio.to_thread(
        ws_session, server.node.http_port, [connect_v5("web-nobody", "garbage")])
    assert messages[0][:4] == b"\x20" + messages[0][1:2] + b"\x00\x87"  # CONNACK 0x87
    assert code == 1008


async def test_repeated_violations_close_with_1008(server: Server) -> None:
    cid = "web-wsscanner"
    packets = [connect_v5(cid, server.mint(cid))]
    packets += [subscribe_v5(n + 1, f"chat/in/web-victim{n}") for n in range(5)]
    messages, code = await asyncio.to_thread(ws_session, server.node.http_port, packets)
    assert messages[0][3] == 0  # CONNACK success
    subacks = [m for m in messages if m[0] == 0x90]
    assert len(subacks) == 4 and all(m[-1] == 0x87 for m in subacks)
    disconnect = [m for m in messages if m[0] == 0xE0]
    assert disconnect and disconnect[0][2] == 0x87  # DISCONNECT Not authorized
    assert code == 1008


async def test_takeover_is_a_normal_close(server: Server) -> None:
    # Not a policy refusal: the first connection simply ends (1000).
    cid = "web-twice"
    token = server.mint(cid)
    first = asyncio.create_task(asyncio.to_thread(
        ws_session, server.node.http_port, [connect_v5(cid, token)]))
    await server.recorder.wait_for(f"$aws/events/presence/connected/{cid}")
    second = asyncio.create_task(asyncio.to_thread(
        ws_session, server.node.http_port, [connect_v5(cid, token)]))
    messages, code = await first
    assert [m for m in messages if m[0] == 0xE0][0][2] == 0x8E  # Session taken over
    assert code == 1000
    await server.node.stop()  # ends the second session too
    await second
