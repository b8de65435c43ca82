"""The fan-out hot path: one encoding per shape, one WebSocket frame shared by all."""

from __future__ import annotations

import asyncio
from typing import Any

from hubbub.broker import AllowAll, Broker, BrokerSettings
from hubbub.broker.message import Message
from hubbub.broker.protocol import CONNECTED, MqttProtocol
from hubbub.broker.router import Grant
from hubbub.broker.sessions import Session
from hubbub.mqtt.codec import encode
from hubbub.mqtt.decoder import Decoder
from hubbub.mqtt.packets import Connack, Connect, Properties, Publish
from hubbub.transport.websocket import binary_frame


class FakeTransport:
    def __init__(self, kind: str, buffered: int = 0) -> None:
        self.kind = kind
        self.buffered = buffered
        self.writes: list[bytes] = []
        self.frames: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def write_frame(self, frame: bytes) -> None:
        self.frames.append(frame)

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"transport_kind": self.kind, "peername": ("10.0.0.1", 1)}.get(name, default)


def attach(broker: Broker, cid: str, version: int, kind: str, grant: Grant,
           buffered: int = 0) -> FakeTransport:
    conn = MqttProtocol(broker)
    transport = FakeTransport(kind, buffered)
    conn.connection_made(transport)  # type: ignore[arg-type]
    # CONNECT and CONNACK through the connection's state machine (no authentication).
    conn.mqtt.receive_data(encode(Connect(protocol_level=version, client_id=cid), version))
    conn.mqtt.send(Connack())
    assert conn.state is CONNECTED and conn.version == version
    session = Session(cid, cid)
    session.link = conn
    conn.session = session
    broker.router.subscribe(session, "room/+", grant)
    return transport


def decode(data: bytes, version: int) -> Publish:
    d = Decoder(version=version)
    d.feed(data)
    p = d.next_packet()
    assert isinstance(p, Publish)
    return p


async def test_one_encoding_and_one_frame_per_shape() -> None:
    broker = Broker(BrokerSettings(sweep_interval=0), authenticator=AllowAll())
    ws = [attach(broker, f"w{i}", 5, "ws", Grant(0)) for i in range(3)]
    tcp4 = [attach(broker, f"t{i}", 4, "tcp", Grant(0)) for i in range(2)]
    tcp5 = attach(broker, "t5", 5, "tcp", Grant(0, identifiers=(7,)))
    slow = attach(broker, "slow", 5, "tcp", Grant(0), buffered=10 * 1024 * 1024)
    props = Properties(user_properties=(("k", "v"),))
    broker.fan_out(Message("room/a", b"hi", 0, False, props), None)
    await asyncio.sleep(0)  # fan-out output leaves at the loop's next iteration

    frames = [t.frames[0] for t in ws]
    assert all(f is frames[0] for f in frames)  # the very same bytes object
    packet = tcp4[0].writes[0]
    assert tcp4[1].writes[0] is packet
    assert decode(packet, 4) == Publish("room/a", b"hi")
    # The WS clients share the v5 encoding without subscription identifiers ...
    assert frames[0] == binary_frame(encode_v5(props))
    # ... while the subscriber with an identifier got its own shape.
    assert decode(tcp5.writes[0], 5).properties.subscription_identifiers == (7,)
    assert slow.writes == [] and broker.stats()["dropped_qos0"] == 1


def encode_v5(props: Properties) -> bytes:
    from hubbub.mqtt.codec import encode_publish

    return encode_publish("room/a", b"hi", 0, False, False, None, props, 5)


async def test_qos1_template_shared_packet_ids_stamped() -> None:
    broker = Broker(BrokerSettings(sweep_interval=0), authenticator=AllowAll())
    subs = [attach(broker, f"s{i}", 4, "tcp", Grant(1)) for i in range(3)]
    broker.fan_out(Message("room/b", b"x", 1), None)
    await asyncio.sleep(0)
    packets = [decode(t.writes[0], 4) for t in subs]
    assert {p.packet_id for p in packets} == {1}
    assert all(p.qos == 1 and p.payload == b"x" and not p.dup for p in packets)


async def test_websocket_output_of_one_iteration_is_one_write_of_one_frame_per_packet(
        ) -> None:
    broker = Broker(BrokerSettings(sweep_interval=0), authenticator=AllowAll())
    ws = attach(broker, "w", 4, "ws", Grant(1))
    for payload in (b"1", b"2", b"3"):
        broker.fan_out(Message("room/c", payload, 1), None)
    assert ws.frames == []
    await asyncio.sleep(0)
    (written,) = ws.frames
    got = []
    while written:  # each packet in a frame of its own (some clients expect that)
        assert written[0] == 0x82
        size = written[1]
        d = Decoder(version=4)
        d.feed(written[2:2 + size])
        got.append(d.next_packet())
        assert d.next_packet() is None
        written = written[2 + size:]
    assert [(p.payload, p.packet_id) for p in got] == [(b"1", 1), (b"2", 2), (b"3", 3)]  # type: ignore[union-attr]
