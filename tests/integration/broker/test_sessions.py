"""Persistent sessions, DUP redelivery, offline queues, expiry, takeover, wills, keep-alive."""

from __future__ import annotations

import json

from broker_client import Client
from broker_env import Env, gone

from hubbub.mqtt.packets import (
    Connack,
    Disconnect,
    Properties,
    Puback,
    Publish,
    Pubrec,
    Pubrel,
    Will,
)

HOUR = Properties(session_expiry_interval=3600)


async def test_unacked_qos1_is_resent_with_dup_on_persistent_reconnect(env: Env) -> None:
    s = await Client.connect(env.port, "dev", properties=HOUR)
    await s.subscribe("t", qos=1)
    pub = await Client.connect(env.port, "p")
    await pub.publish("t", b"one", qos=1)
    first = await s.recv_type(Publish)
    assert not first.dup
    await s.close()  # no PUBACK
    await gone(env, "dev")
    await pub.publish("t", b"two", qos=1)  # queued while offline
    s2 = await Client.connect(env.port, "dev", clean=False, properties=HOUR)
    assert s2.connack.session_present
    again = await s2.recv_type(Publish)
    assert again.dup and again.payload == b"one" and again.packet_id == first.packet_id
    queued = await s2.recv_type(Publish)
    assert queued.payload == b"two" and not queued.dup
    s2.send(Puback(again.packet_id))
    s2.send(Puback(queued.packet_id))


async def test_qos2_pubrel_is_resent_after_reconnect(env: Env) -> None:
    s = await Client.connect(env.port, "dev2", properties=HOUR)
    await s.subscribe("t2", qos=2)
    pub = await Client.connect(env.port, "p")
    await pub.publish("t2", b"x", qos=2)
    got = await s.recv_type(Publish)
    s.send(Pubrec(got.packet_id))
    assert (await s.recv_type(Pubrel)).packet_id == got.packet_id
    await s.close()
    await gone(env, "dev2")
    s2 = await Client.connect(env.port, "dev2", clean=False, properties=HOUR)
    assert (await s2.recv_type(Pubrel)).packet_id == got.packet_id


async def test_311_persistent_session_and_clean_session_discard(env: Env) -> None:
    s = await Client.connect(env.port, "old", version=4, clean=False)
    assert not s.connack.session_present
    await s.subscribe("x/#", qos=1)
    await s.close()
    await gone(env, "old")
    s = await Client.connect(env.port, "old", version=4, clean=False)
    assert s.connack.session_present
    await s.close()
    await gone(env, "old")
    s = await Client.connect(env.port, "old", version=4, clean=True)
    assert not s.connack.session_present
    pub = await Client.connect(env.port, "p")
    await pub.publish("x/y", b"gone", qos=1)
    assert env.broker.stats()["subscriptions"] == 0


async def test_session_expiry_with_injected_clock(env: Env) -> None:
    s = await Client.connect(env.port, "exp", properties=Properties(session_expiry_interval=60))
    await s.subscribe("e", qos=1)
    await s.disconnect()
    await gone(env, "exp")
    assert env.broker.sessions.get("exp") is not None
    env.clock.advance(59)
    env.broker.sweep()
    assert env.broker.sessions.get("exp") is not None
    env.clock.advance(2)
    env.broker.sweep()
    assert env.broker.sessions.get("exp") is None
    s = await Client.connect(env.port, "exp", clean=False)
    assert not s.connack.session_present


async def test_session_expiry_capped_and_announced(env: Env) -> None:
    s = await Client.connect(env.port, "cap", properties=Properties(
        session_expiry_interval=0xFFFFFFFF))
    assert s.connack.properties.session_expiry_interval == 3600


async def test_takeover_disconnects_first_with_0x8e_and_lifecycle(env: Env) -> None:
    watcher = await Client.connect(env.port, "w")
    await watcher.subscribe("$aws/events/presence/#", qos=1)
    first = await Client.connect(env.port, "dup")
    await Client.connect(env.port, "dup")
    packets = await first.closed()
    assert isinstance(packets[-1], Disconnect) and packets[-1].reason_code == 0x8E
    events = []
    while len(events) < 3:
        p = await watcher.recv_type(Publish)
        watcher.send(Puback(p.packet_id))
        events.append(json.loads(p.payload))
    kinds = [(e["eventType"], e.get("disconnectReason")) for e in events]
    assert kinds == [("connected", None), ("disconnected", "DUPLICATE_CLIENTID"),
                     ("connected", None)]
    assert events[1]["clientInitiatedDisconnect"] is False
    assert [e["versionNumber"] for e in events] == [0, 0, 1]


async def test_lifecycle_payload_fields(env: Env) -> None:
    c = await Client.connect(env.port, "life")
    await c.subscribe("chat/pub/a", "chat/pub/b")
    await c.unsubscribe("chat/pub/a")
    await c.disconnect()
    events = {}
    for _ in range(4):
        msg, origin = await env.recorder.next("$aws/events/")
        assert origin is None
        events[json.loads(msg.payload)["eventType"]] = (msg.topic, json.loads(msg.payload))
    topic, ev = events["connected"]
    assert topic == "$aws/events/presence/connected/life"
    assert set(ev) == {"clientId", "timestamp", "eventType", "sessionIdentifier",
                       "principalIdentifier", "ipAddress", "versionNumber"}
    assert ev["ipAddress"] == "127.0.0.1" and ev["timestamp"] == int(env.clock.now * 1000)
    assert ev["principalIdentifier"] == "anonymous:life"
    topic, ev = events["subscribed"]
    assert topic == "$aws/events/subscriptions/subscribed/life"
    assert ev["topics"] == ["chat/pub/a", "chat/pub/b"]
    assert events["unsubscribed"][1]["topics"] == ["chat/pub/a"]
    topic, ev = events["disconnected"]
    assert ev["disconnectReason"] == "CLIENT_INITIATED_DISCONNECT"
    assert ev["clientInitiatedDisconnect"] is True
    assert ev["sessionIdentifier"] == events["connected"][1]["sessionIdentifier"]


async def test_will_published_on_connection_lost_not_on_disconnect(env: Env) -> None:
    w = await Client.connect(env.port, "watch")
    await w.subscribe("will/#")
    a = await Client.connect(env.port, "a", will=Will("will/a", b"gone-a"))
    b = await Client.connect(env.port, "b", will=Will("will/b", b"gone-b"))
    await b.disconnect()  # normal disconnection discards the will
    await a.close()  # connection lost: will goes out
    got = await w.recv_type(Publish)
    assert (got.topic, got.payload) == ("will/a", b"gone-a")
    c = await Client.connect(env.port, "c", will=Will("will/c", b"asked"))
    await c.disconnect(reason=0x04)  # Disconnect with Will Message
    assert (await w.recv_type(Publish)).topic == "will/c"


async def test_will_delay_and_reconnect_cancels(env: Env) -> None:
    w = await Client.connect(env.port, "watch")
    await w.subscribe("will/#")
    delayed = Will("will/d", b"late", properties=Properties(will_delay_interval=30))
    d = await Client.connect(env.port, "d", will=delayed, properties=HOUR)
    await d.close()
    await gone(env, "d")
    env.clock.advance(29)
    env.broker.sweep()
    assert env.broker.stats()["pending_wills"] == 1
    env.clock.advance(2)
    env.broker.sweep()
    got = await w.recv_type(Publish)
    assert got.payload == b"late"
    # Reconnecting within the delay cancels the will [MQTT-3.1.3-9].
    e = await Client.connect(env.port, "e", will=Will("will/e", b"no", properties=Properties(
        will_delay_interval=30)), properties=HOUR)
    await e.close()
    await gone(env, "e")
    await Client.connect(env.port, "e", clean=False, properties=HOUR)
    env.clock.advance(31)
    env.broker.sweep()
    await w.subscribe("marker")
    pub = await Client.connect(env.port, "p")
    await pub.publish("marker", b"m")
    assert (await w.recv_type(Publish)).topic == "marker"


async def test_keepalive_timeout_publishes_will_and_lifecycle(env: Env) -> None:
    w = await Client.connect(env.port, "watch")
    await w.subscribe("will/k")
    k = await Client.connect(env.port, "k", keep_alive=10, will=Will("will/k", b"dead"))
    # 10 s is clamped to IoT Core's minimum of 30 and announced [MQTT-3.2.2-21].
    assert k.connack.properties.server_keep_alive == 30
    env.clock.advance(44)
    env.broker.sweep()
    assert env.broker.sessions.get("k") is not None
    env.clock.advance(2)  # 46 > 1.5 x 30
    env.broker.sweep()
    packets = await k.closed()
    assert isinstance(packets[-1], Disconnect) and packets[-1].reason_code == 0x8D
    assert (await w.recv_type(Publish)).payload == b"dead"
    assert (await gone(env, "k"))["disconnectReason"] == "MQTT_KEEP_ALIVE_TIMEOUT"


async def test_keepalive_zero_becomes_1200(env: Env) -> None:
    k = await Client.connect(env.port, "z", keep_alive=0)
    assert k.connack.properties.server_keep_alive == 1200


async def test_connect_timeout_for_silent_socket(env: Env) -> None:
    c = await Client.open(env.port)
    env.clock.advance(env.broker.settings.connect_timeout + 1)
    env.broker.sweep()
    assert await c.closed() == []


async def test_offline_queue_bounded(env: Env) -> None:
    from broker_env import make_env

    from hubbub.broker.settings import BrokerSettings

    e = await make_env(BrokerSettings(sweep_interval=0, max_queued_messages=3))
    try:
        s = await Client.connect(e.port, "q", properties=HOUR)
        await s.subscribe("q", qos=1)
        await s.disconnect()
        await gone(e, "q")
        pub = await Client.connect(e.port, "p")
        for i in range(5):
            await pub.publish("q", b"%d" % i, qos=1)
        assert e.broker.stats()["dropped_queue_full"] == 2
        s = await Client.connect(e.port, "q", clean=False, properties=HOUR)
        got = []
        for _ in range(3):
            p = await s.recv_type(Publish)
            got.append(p.payload)
            s.send(Puback(p.packet_id))
        assert got == [b"0", b"1", b"2"]
    finally:
        await e.broker.shutdown()


async def test_connack_is_first(env: Env) -> None:
    c = await Client.connect(env.port, "first")
    assert isinstance(c.connack, Connack)


async def test_takeover_can_be_turned_off() -> None:
    from broker_env import make_env

    from hubbub.broker.settings import BrokerSettings

    e = await make_env(BrokerSettings(sweep_interval=0, allow_takeover=False))
    try:
        first = await Client.connect(e.port, "only")
        await Client.connect(e.port, "only", expect=0x85)
        assert (await first.publish("still/here", qos=1)).reason_code == 0
    finally:
        await e.broker.shutdown()
