"""MQTT 5 features, IoT Core limits with their reason codes, and the QoS cap."""

from __future__ import annotations

import asyncio

from broker_client import Client
from broker_env import Env, gone, make_env

from hubbub.broker.settings import BrokerSettings
from hubbub.mqtt.packets import (
    Connect,
    Disconnect,
    Properties,
    Puback,
    Publish,
    Subscription,
    Will,
)


async def test_connack_announces_limits_and_assigns_client_id(env: Env) -> None:
    c = await Client.connect(env.port, "")
    p = c.connack.properties
    assert p.assigned_client_identifier and p.assigned_client_identifier.startswith("hubbub-")
    assert p.receive_maximum == 100 and p.topic_alias_maximum == 8
    assert p.maximum_packet_size == env.broker.settings.max_packet_bytes
    assert p.shared_subscription_available == 0
    assert p.maximum_qos is None  # QoS 2 available by default
    old = await Client.connect(env.port, "", version=4)  # 3.1.1 + clean: assigned too
    assert old.connack.reason_code == 0


async def test_311_empty_client_id_with_persistent_session_refused(env: Env) -> None:
    # 3.1.1 return code 2 (identifier rejected); the test client decodes it as 0x85.
    await Client.connect(env.port, "", version=4, clean=False, expect=0x85)


async def test_wildcard_and_long_client_ids_refused(env: Env) -> None:
    await Client.connect(env.port, "a+b", expect=0x85)
    await Client.connect(env.port, "#", version=4, expect=0x85)
    await Client.connect(env.port, "x" * 129, expect=0x85)
    await Client.connect(env.port, "x" * 128)


async def test_message_expiry(env: Env) -> None:
    s = await Client.connect(env.port, "s", properties=Properties(session_expiry_interval=600))
    await s.subscribe("m", qos=1)
    await s.disconnect()
    await gone(env, "s")
    pub = await Client.connect(env.port, "p")
    await pub.publish("m", b"short", qos=1, properties=Properties(message_expiry_interval=5))
    await pub.publish("m", b"long", qos=1, properties=Properties(message_expiry_interval=100))
    env.clock.advance(10)
    s = await Client.connect(env.port, "s", clean=False)
    got = await s.recv_type(Publish)
    assert got.payload == b"long"
    assert got.properties.message_expiry_interval == 90  # the time left [MQTT-3.3.2-6]


async def test_topic_alias_inbound(env: Env) -> None:
    s = await Client.connect(env.port, "s")
    await s.subscribe("alias/t")
    pub = await Client.connect(env.port, "p")
    await pub.publish("alias/t", b"1", properties=Properties(topic_alias=3))
    await pub.publish("", b"2", properties=Properties(topic_alias=3))
    assert [(await s.recv_type(Publish)).topic for _ in range(2)] == ["alias/t", "alias/t"]
    pub.send(Publish("", b"3", properties=Properties(topic_alias=4)))  # never set
    packets = await pub.closed()
    assert isinstance(packets[-1], Disconnect) and packets[-1].reason_code == 0x82
    bad = await Client.connect(env.port, "b")
    bad.send(Publish("x", b"", properties=Properties(topic_alias=9)))  # above maximum 8
    assert (await bad.closed())[-1].reason_code == 0x94


async def test_user_properties_and_reason_strings(env: Env) -> None:
    s = await Client.connect(env.port, "s")
    await s.subscribe("u")
    pub = await Client.connect(env.port, "p")
    props = Properties(user_properties=(("k", "v"), ("k", "w")), content_type="text/plain",
                       response_topic="r/1", correlation_data=b"\x01")
    await pub.publish("u", b"x", properties=props)
    got = await s.recv_type(Publish)
    assert got.properties == props
    pub.send(Publish("u/+", b""))  # wildcard in a topic name
    last = (await pub.closed())[-1]
    assert isinstance(last, Disconnect) and last.reason_code == 0x90
    assert last.properties.reason_string


async def test_receive_maximum_limits_inflight(env: Env) -> None:
    s = await Client.connect(env.port, "s", properties=Properties(receive_maximum=2))
    await s.subscribe("rm", qos=1)
    pub = await Client.connect(env.port, "p")
    for i in range(4):
        await pub.publish("rm", b"%d" % i, qos=1)
    a = await s.recv_type(Publish)
    b = await s.recv_type(Publish)
    try:
        extra = await s.recv(timeout=0.2)  # failsafe window: a third would break the rule
    except TimeoutError:
        extra = None
    assert extra is None
    s.send(Puback(a.packet_id))
    c = await s.recv_type(Publish)
    assert [a.payload, b.payload, c.payload] == [b"0", b"1", b"2"]


async def test_inbound_receive_maximum_exceeded() -> None:
    env = await make_env(BrokerSettings(sweep_interval=0, publish_rate=1000,
                                        publish_burst=1000))
    gate = asyncio.Event()
    env.recorder.gate = gate  # observers hold every PUBACK
    try:
        pub = await Client.connect(env.port, "p")
        for pid in range(1, 102):
            pub.send(Publish("chat/out", b"x", 1, False, False, pid))
        last = (await pub.closed())[-1]
        assert isinstance(last, Disconnect) and last.reason_code == 0x93
    finally:
        gate.set()
        await env.broker.shutdown()


async def test_maximum_packet_size_of_client_is_respected(env: Env) -> None:
    s = await Client.connect(env.port, "s", properties=Properties(maximum_packet_size=64))
    await s.subscribe("big")
    pub = await Client.connect(env.port, "p")
    await pub.publish("big", b"x" * 100)
    await pub.publish("big", b"small")
    assert (await s.recv_type(Publish)).payload == b"small"
    assert env.broker.stats()["dropped_too_large"] == 1


async def test_payload_limit_packet_limit_and_broker_stays_up(env: Env) -> None:
    pub = await Client.connect(env.port, "p")
    pub.send(Publish("big", b"x" * (128 * 1024 + 1)))
    assert (await pub.closed())[-1].reason_code == 0x95
    huge = await Client.connect(env.port, "h")
    huge.send(Publish("big", b"x" * (200 * 1024)))  # above Maximum Packet Size
    assert [p for p in await huge.closed() if isinstance(p, Publish)] == []
    ok = await Client.connect(env.port, "ok")
    assert (await ok.publish("big", b"x" * (128 * 1024), qos=1)).reason_code == 0


async def test_topic_length_and_levels(env: Env) -> None:
    c = await Client.connect(env.port, "c")
    codes = await c.subscribe("a/b/c/d/e/f/g/h", "a/b/c/d/e/f/g/h/i", "t" * 257, "t" * 256)
    assert codes == (0, 0x8F, 0x8F, 0)
    await c.publish("a/b/c/d/e/f/g/h")
    c.send(Publish("a/b/c/d/e/f/g/h/i", b""))
    assert (await c.closed())[-1].reason_code == 0x90
    d = await Client.connect(env.port, "d", version=4)
    d.send(Publish("t" * 257, b""))
    assert await d.closed() == []  # 3.1.1 cannot say why: the connection closes


async def test_subscription_limit(env: Env) -> None:
    c = await Client.connect(env.port, "c")
    codes = await c.subscribe(*[f"s/{i}" for i in range(50)])
    assert set(codes) == {0}
    assert await c.subscribe("s/50", "s/0") == (0x97, 0)  # re-subscribing is not new
    old = await Client.connect(env.port, "old", version=4)
    await old.subscribe(*[f"s/{i}" for i in range(50)])
    assert await old.subscribe("s/51") == (0x80,)


async def test_publish_rate_limit_disconnects_with_0x96(env: Env) -> None:
    flood = await Client.connect(env.port, "flood")
    for _ in range(150):  # the fake clock stands still: 100 tokens, no refill
        flood.send(Publish("chat/stream", b"x"))
    last = (await flood.closed())[-1]
    assert isinstance(last, Disconnect) and last.reason_code == 0x96
    assert (await gone(env, "flood"))["disconnectReason"] == "THROTTLED"
    other = await Client.connect(env.port, "other")
    await other.publish("chat/stream", b"fine", qos=1)


async def test_rate_limit_refills_with_clock(env: Env) -> None:
    c = await Client.connect(env.port, "c")
    for _ in range(99):
        c.send(Publish("chat/stream", b"x"))
    await c.publish("chat/stream", b"x", qos=1)  # the 100th: the bucket is empty now
    env.clock.advance(1.0)
    assert (await c.publish("chat/stream", b"x", qos=1)).reason_code == 0


async def test_shared_subscription_refused(env: Env) -> None:
    c = await Client.connect(env.port, "c")
    assert await c.subscribe("$share/g/t") == (0x9E,)


async def test_qos_cap_at_1() -> None:
    e = await make_env(BrokerSettings(sweep_interval=0, max_qos=1))
    try:
        c = await Client.connect(e.port, "c")
        assert c.connack.properties.maximum_qos == 1
        assert await c.subscribe("q", qos=2) == (1,)
        old = await Client.connect(e.port, "o", version=4)
        assert await old.subscribe("q2", qos=2) == (1,)  # 3.1.1: QoS 2 asked, 1 granted
        await old.publish("q", b"a", qos=1)
        got = await c.recv_type(Publish)
        assert got.qos == 1
        c.send(Publish("q", b"b", 2, False, False, 1))
        assert (await c.closed())[-1].reason_code == 0x9B
        await Client.connect(e.port, "w", will=Will("w", b"", qos=2), expect=0x9B)
    finally:
        await e.broker.shutdown()


async def test_wrong_protocol_levels() -> None:
    e = await make_env()
    try:
        for level, expected in ((3, 1), (6, 1)):
            c = await Client.open(e.port, version=4)
            c.send_raw(b"\x10\x0c\x00\x04MQTT" + bytes((level,)) + b"\x02\x00\x3c\x00\x00")
            c.decoder.version = 4
            packets = await c.closed()
            assert packets and packets[0].reason_code in (expected, 0x84)
        mqisdp = await Client.open(e.port, version=4)
        mqisdp.send_raw(b"\x10\x0e\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x00")
        mqisdp.decoder.version = 4
        packets = await mqisdp.closed()
        assert not packets or packets[0].reason_code == 0x84
    finally:
        await e.broker.shutdown()


async def test_second_connect_is_a_protocol_error(env: Env) -> None:
    c = await Client.connect(env.port, "twice")
    c.send(Connect("MQTT", 5, True, 60, "twice"))
    assert (await c.closed())[-1].reason_code == 0x82


async def test_unsubscribe_reason_codes(env: Env) -> None:
    c = await Client.connect(env.port, "c")
    await c.subscribe(Subscription("x", 0))
    ack = await c.unsubscribe("x", "y")
    assert tuple(ack.reason_codes) == (0, 0x11)
