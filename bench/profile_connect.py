"""The broker's CPU and memory per connection, in process and without sockets: a profiling
helper for connection storms and idle connections (``profile_broker.py`` does deliveries).

Each connection is the real stack on a fake TCP transport: for ``tcp`` an ``MqttProtocol``;
for ``ws`` the web server's ``HttpConnection``, which reads the HTTP upgrade request and
hands the socket to ``WebSocketTransport`` and the broker. Timed: CONNECT (or upgrade +
CONNECT) until CONNACK is written, then DISCONNECT (or a close frame) until the connection
is gone, lifecycle events included (no observers: the rules engine is not the broker's).
Memory: ``tracemalloc``'s growth while ``--hold`` connections stay open after CONNACK,
per connection (the asyncio transport and socket of a real server come on top).

    .venv/bin/python -m bench.profile_connect --transport ws [--profile] [--hold 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import gc
import os
import pstats
import time
import tracemalloc
from typing import Any

from bench.fakes import CountingTransport
from hubbub.broker import AllowAll, Broker, BrokerSettings
from hubbub.mqtt.codec import encode
from hubbub.mqtt.packets import Connect, Disconnect
from hubbub.web.routes import Router
from hubbub.web.server import WebServer


def _masked(data: bytes, opcode: int = 2) -> bytes:
    """One masked client frame (RFC 6455 §5.3) for ``data`` (< 126 bytes)."""
    key = os.urandom(4)
    return bytes((0x80 | opcode, 0x80 | len(data))) + key + bytes(
        b ^ key[i % 4] for i, b in enumerate(data))


def _upgrade_request() -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return ("GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n").encode()


async def _settle() -> None:
    for _ in range(3):  # authentication (if it is a task), uncorking
        await asyncio.sleep(0)


async def run(transport: str, n: int, profile: bool) -> float:
    """Seconds of CPU per connection: connect, CONNACK, disconnect, gone."""
    broker = Broker(BrokerSettings(sweep_interval=0, publish_rate=0), authenticator=AllowAll())
    web = WebServer(Router(), None, broker.protocol_factory)
    prof = cProfile.Profile() if profile else None
    busy = 0.0
    for i in range(n):
        cid = f"c{i}"
        tcp = CountingTransport(None)
        connect = encode(Connect(protocol_level=4, client_id=cid, keep_alive=60), 4)
        bye = encode(Disconnect(), 4)
        if transport == "ws":
            hello, goodbye = _upgrade_request() + _masked(connect), _masked(bye)
        else:
            hello, goodbye = connect, bye
        t0 = time.process_time()
        if prof:
            prof.enable()
        proto: Any = web._make_connection() if transport == "ws" else broker.protocol_factory()
        tcp.protocol = proto
        proto.connection_made(tcp)
        proto.data_received(hello)
        await _settle()
        inlet = tcp.protocol
        assert broker.is_connected(cid), "no CONNACK"
        inlet.data_received(goodbye)
        if transport == "ws":  # the client answers our close frame
            inlet.data_received(_masked(b"\x03\xe8", 8))
        await _settle()
        if prof:
            prof.disable()
        busy += time.process_time() - t0
        assert not broker.is_connected(cid)
    if prof:
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
    return busy / n


async def hold(transport: str, n: int) -> float:
    """Bytes of Python heap per open, idle connection (after CONNACK)."""
    broker = Broker(BrokerSettings(sweep_interval=0, publish_rate=0), authenticator=AllowAll())
    web = WebServer(Router(), None, broker.protocol_factory)
    keep: list[Any] = []

    async def open_one(i: int) -> None:
        tcp = CountingTransport(None)
        connect = encode(Connect(protocol_level=4, client_id=f"idle{i}", keep_alive=60), 4)
        proto: Any = web._make_connection() if transport == "ws" else broker.protocol_factory()
        tcp.protocol = proto
        proto.connection_made(tcp)
        proto.data_received(_upgrade_request() + _masked(connect) if transport == "ws"
                            else connect)
        keep.append(tcp)

    for i in range(50):  # warm caches and lazily created module state
        await open_one(-i - 1)
    await _settle()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        await open_one(i)
    await _settle()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    snap = tracemalloc.take_snapshot()
    tracemalloc.stop()
    top = snap.statistics("lineno")[:12]
    for stat in top:
        print(f"  {stat.size / n:8.1f} B/conn  {stat.traceback}")
    return (after - before) / n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--transport", choices=["tcp", "ws"], default="ws")
    p.add_argument("--connections", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=5, help="report the best of this many")
    p.add_argument("--hold", type=int, default=0, help="measure memory with this many open")
    p.add_argument("--profile", action="store_true", help="cProfile one more run")
    a = p.parse_args()

    async def go() -> None:
        best = min([await run(a.transport, a.connections, False) for _ in range(a.repeat)])
        print(f"{a.transport}: {best * 1e6:.1f} us of broker CPU per connection "
              f"({1 / best:,.0f} connections/s)")
        if a.profile:
            await run(a.transport, a.connections, True)
        if a.hold:
            per = await hold(a.transport, a.hold)
            print(f"{a.transport}: {per:,.0f} B of Python heap per idle connection")

    asyncio.run(go())


if __name__ == "__main__":
    main()
