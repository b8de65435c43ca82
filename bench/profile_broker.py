"""The broker's CPU per delivery, in process and without sockets: a profiling helper.

One publisher and N subscribers are real ``MqttProtocol`` objects (over TCP-like fake
transports, or over ``WebSocketTransport`` on fake TCP with masked client frames); only
the broker's own work is timed (publisher's bytes in, subscribers' PUBACK bytes in), not
building the input; CPU time of this process (``process_time``), so other work on the
machine does not count. Much steadier than the end-to-end bench on a shared VM, so it can tell
two versions of the hot path apart; the end-to-end bench stays the measure that counts.

    .venv/bin/python -m bench.profile_broker --transport ws --qos 1 [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import time
from typing import Any

from bench.fakes import CountingTransport, connected
from hubbub.broker import AllowAll, Broker, BrokerSettings
from hubbub.broker.protocol import MqttProtocol
from hubbub.broker.router import Grant
from hubbub.mqtt.codec import encode
from hubbub.mqtt.packets import Puback, Publish


def _mask(data: bytes) -> bytes:
    """One masked client binary frame (RFC 6455 §5.3) for ``data`` (< 126 bytes)."""
    key = os.urandom(4)
    return bytes((0x82, 0x80 | len(data))) + key + bytes(
        b ^ key[i % 4] for i, b in enumerate(data))


def _attach(broker: Broker, cid: str, transport: str, grant: Grant | None) -> Any:
    """A connected client; returns the object its bytes go into (``data_received``)."""
    conn = MqttProtocol(broker)
    if transport == "ws":
        from wsproto.connection import Connection, ConnectionType

        from hubbub.transport.websocket import WebSocketTransport

        ws = WebSocketTransport(CountingTransport("tcp"), Connection(ConnectionType.SERVER),
                                subprotocol="mqtt")
        ws.start(lambda: conn)
        inlet: Any = ws.tcp_protocol
    else:
        conn.connection_made(CountingTransport("tcp"))
        inlet = conn
    session = connected(conn, cid)
    if grant is not None:
        broker.router.subscribe(session, "room/+", grant)
    return conn, inlet


async def run(transport: str, qos: int, subscribers: int, batch: int, rounds: int,
              profile: bool) -> float:
    """Seconds of broker work per delivery."""
    broker = Broker(BrokerSettings(sweep_interval=0, publish_rate=0), authenticator=AllowAll())
    subs = [_attach(broker, f"s{i}", transport, Grant(qos)) for i in range(subscribers)]
    _, pub = _attach(broker, "pub", transport, None)
    frame = _mask if transport == "ws" else bytes
    busy = 0.0
    prof = cProfile.Profile() if profile else None
    pid = 0
    for _ in range(rounds):
        wire = bytearray()
        for _ in range(batch):
            pid = pid % 65_535 + 1
            wire += frame(encode(Publish("room/a", b"x" * 64, qos, packet_id=pid if qos
                                         else None), 4))
        acks = []
        t0 = time.process_time()
        if prof:
            prof.enable()
        pub.data_received(bytes(wire))
        await asyncio.sleep(0)  # the loop's next iteration: the broker writes held output
        if prof:
            prof.disable()
        busy += time.process_time() - t0
        if qos:
            for conn, inlet in subs:
                assert conn.session is not None
                acks.append((inlet, b"".join(frame(encode(Puback(p), 4))
                                             for p in conn.session.inflight)))
            t0 = time.process_time()
            if prof:
                prof.enable()
            for inlet, data in acks:
                inlet.data_received(data)
            await asyncio.sleep(0)
            if prof:
                prof.disable()
            busy += time.process_time() - t0
    if prof:
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    return busy / (rounds * batch * subscribers)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--transport", choices=["tcp", "ws"], default="ws")
    p.add_argument("--qos", type=int, choices=[0, 1], default=1)
    p.add_argument("--subscribers", type=int, default=100)
    p.add_argument("--batch", type=int, default=10, help="publishes per read")
    p.add_argument("--rounds", type=int, default=300)
    p.add_argument("--repeat", type=int, default=5, help="report the best of this many")
    p.add_argument("--profile", action="store_true", help="cProfile one more run")
    a = p.parse_args()

    async def go() -> None:
        best = min([await run(a.transport, a.qos, a.subscribers, a.batch, a.rounds, False)
                    for _ in range(a.repeat)])
        print(f"{a.transport} qos{a.qos}: {best * 1e6:.3f} us of broker CPU per delivery "
              f"({1 / best:,.0f} deliveries/s)")
        if a.profile:
            await run(a.transport, a.qos, a.subscribers, a.batch, a.rounds // 3, True)

    asyncio.run(go())


if __name__ == "__main__":
    main()
