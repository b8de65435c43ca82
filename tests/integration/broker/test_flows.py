"""QoS 0/1/2 flows, retained messages, overlapping subscriptions, observers, in-process publish."""

from __future__ import annotations

import asyncio

from broker_client import Client
from broker_env import Env

from hubbub.broker.hooks import BACKEND
from hubbub.mqtt.packets import (
    Properties,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Subscription,
)


async def test_qos0_roundtrip_and_observer_identity(env: Env) -> None:
    sub = await Client.connect(env.port, "sub")
    assert await sub.subscribe("chat/pub/+") == (0,)
    pub = await Client.connect(env.port, "pub", version=4)
    await pub.publish("chat/pub/lobby", b"hello")
    got = await sub.recv_type(Publish)
    assert (got.topic, got.payload, got.qos, got.retain) == ("chat/pub/lobby", b"hello", 0, False)
    msg, origin = await env.recorder.next("chat/")
    assert msg.payload == b"hello" and origin is not None
    assert origin.client_id == "pub" and origin.principal_id == "anonymous:pub"


async def test_qos1_flow_and_downgrade(env: Env) -> None:
    sub1 = await Client.connect(env.port, "s1")
    sub0 = await Client.connect(env.port, "s0")
    assert await sub1.subscribe("a/b", qos=1) == (1,)
    assert await sub0.subscribe("a/b", qos=0) == (0,)
    pub = await Client.connect(env.port, "p")
    ack = await pub.publish("a/b", b"m", qos=1)
    assert ack.reason_code == 0
    p1 = await sub1.recv_type(Publish)
    assert p1.qos == 1 and p1.packet_id is not None and not p1.dup
    sub1.send(Puback(p1.packet_id))
    p0 = await sub0.recv_type(Publish)
    assert p0.qos == 0 and p0.packet_id is None


async def test_qos2_exactly_once_including_resent_publish(env: Env) -> None:
    sub = await Client.connect(env.port, "s")
    assert await sub.subscribe("q/2", qos=2) == (2,)
    pub = await Client.connect(env.port, "p")
    pub.send(Publish("q/2", b"once", 2, False, False, 7))
    rec = await pub.recv_type(Pubrec)
    assert rec.packet_id == 7
    # The client did not see PUBREC and sends again with DUP: acknowledged, not re-routed.
    pub.send(Publish("q/2", b"once", 2, False, True, 7))
    assert (await pub.recv_type(Pubrec)).packet_id == 7
    pub.send(Pubrel(7))
    assert (await pub.recv_type(Pubcomp)).reason_code == 0
    got = await sub.recv_type(Publish)
    assert got.qos == 2 and got.payload == b"once"
    sub.send(Pubrec(got.packet_id))
    assert (await sub.recv_type(Pubrel)).packet_id == got.packet_id
    sub.send(Pubcomp(got.packet_id))
    # Nothing else arrives: a marker publish comes next, not a duplicate.
    await pub.publish("q/2", b"marker", qos=2)
    assert (await sub.recv_type(Publish)).payload == b"marker"


async def test_overlapping_subscriptions_deliver_once_at_highest_qos(env: Env) -> None:
    sub = await Client.connect(env.port, "s")
    props = Properties(subscription_identifiers=(5,))
    await sub.subscribe("room/#", qos=0, properties=props)
    await sub.subscribe(Subscription("room/+", 1), properties=Properties(
        subscription_identifiers=(9,)))
    pub = await Client.connect(env.port, "p")
    await pub.publish("room/x", b"1", qos=1)
    got = await sub.recv_type(Publish)
    assert got.qos == 1
    assert sorted(got.properties.subscription_identifiers) == [5, 9]
    sub.send(Puback(got.packet_id))
    await pub.publish("room/x", b"2", qos=0)
    assert (await sub.recv_type(Publish)).payload == b"2"  # not b"1" again


async def test_retained_set_replace_delete(env: Env) -> None:
    pub = await Client.connect(env.port, "p")
    await pub.publish("state/a", b"one", qos=1, retain=True)
    await pub.publish("state/a", b"two", qos=1, retain=True)
    await pub.publish("state/b", b"bee", qos=0, retain=True)
    s1 = await Client.connect(env.port, "s1", version=4)
    await s1.subscribe("state/#", qos=1)
    got = {}
    for _ in range(2):
        p = await s1.recv_type(Publish)
        assert p.retain
        got[p.topic] = p.payload
        if p.qos:
            s1.send(Puback(p.packet_id))
    assert got == {"state/a": b"two", "state/b": b"bee"}
    assert env.broker.stats()["retained"] == 2
    # Live delivery to an existing subscriber has RETAIN clear [MQTT-3.3.1-9].
    await pub.publish("state/a", b"", qos=0, retain=True)
    live = await s1.recv_type(Publish)
    assert live.payload == b"" and not live.retain
    assert env.broker.stats()["retained"] == 1
    s2 = await Client.connect(env.port, "s2")
    await s2.subscribe("state/+")
    p = await s2.recv_type(Publish)
    assert p.topic == "state/b"


async def test_retain_handling_and_retain_as_published(env: Env) -> None:
    pub = await Client.connect(env.port, "p")
    await pub.publish("r/t", b"kept", retain=True)
    s = await Client.connect(env.port, "s")
    await s.subscribe(Subscription("r/t", 0, retain_handling=2))
    await s.subscribe(Subscription("r/#", 0, retain_as_published=True, retain_handling=1))
    first = await s.recv_type(Publish)  # from r/# (new subscription)
    assert first.payload == b"kept" and first.retain
    await s.subscribe(Subscription("r/#", 0, retain_as_published=True, retain_handling=1))
    await pub.publish("r/t", b"live", retain=True)
    live = await s.recv_type(Publish)  # no second retained copy; RAP keeps the flag
    assert live.payload == b"live" and live.retain


async def test_no_local(env: Env) -> None:
    c = await Client.connect(env.port, "me")
    await c.subscribe(Subscription("echo/#", 0, no_local=True))
    await c.subscribe("marker")
    await c.publish("echo/1", b"mine")
    await c.publish("marker", b"m")
    assert (await c.recv_type(Publish)).topic == "marker"


async def test_in_process_publish_reaches_clients_and_observers(env: Env) -> None:
    s = await Client.connect(env.port, "s")
    await s.subscribe("chat/in/s", qos=1)
    await env.broker.publish("chat/in/s", {"k": 1}.__repr__(), qos=1,
                             properties=Properties(user_properties=(("a", "b"),)))
    got = await s.recv_type(Publish)
    assert got.properties.user_properties == (("a", "b"),)
    msg, origin = await env.recorder.next("chat/in/")
    assert origin is BACKEND


async def test_puback_waits_for_observers_and_keeps_order(env: Env) -> None:
    gate = asyncio.Event()
    env.recorder.gate = gate
    pub = await Client.connect(env.port, "p")
    for pid in (1, 2, 3):
        pub.send(Publish("chat/out", b"%d" % pid, 1, False, False, pid))
    for _ in range(3):
        await env.recorder.next("chat/out")
    # Observers hold the acks: a PINGREQ still gets its answer (the connection flows).
    from hubbub.mqtt.packets import Pingreq, Pingresp
    pub.send(Pingreq())
    await pub.recv_type(Pingresp)
    gate.set()
    acks = [await pub.recv_type(Puback) for _ in range(3)]
    assert [a.packet_id for a in acks] == [1, 2, 3]


async def test_failing_observer_gives_0x80_in_v5_and_closes_311(env: Env) -> None:
    env.recorder.fail = True
    pub = await Client.connect(env.port, "p5")
    ack = await pub.publish("chat/out", b"x", qos=1)
    assert ack.reason_code == 0x80
    old = await Client.connect(env.port, "p4", version=4)
    old.send(Publish("chat/out", b"x", 1, False, False, 1))
    assert await old.closed() == []  # no PUBACK: the client will resend on reconnect


async def test_pipelined_connect_subscribe_publish(env: Env) -> None:
    """Packets sent with CONNECT in one write wait for authentication, then run in order."""
    from hubbub.mqtt.codec import encode
    from hubbub.mqtt.packets import Connack, Connect, Suback, Subscribe

    c = await Client.open(env.port, version=5)
    c.send_raw(b"".join([
        encode(Connect("MQTT", 5, True, 60, "pipe"), 5),
        encode(Subscribe(1, (Subscription("pipe/t", 1),)), 5),
        encode(Publish("pipe/t", b"to myself", 1, False, False, 2), 5),
    ]))
    assert isinstance(await c.recv(), Connack)
    assert isinstance(await c.recv(), Suback)
    kinds = {type(await c.recv()).__name__ for _ in range(2)}
    assert kinds == {"Puback", "Publish"}


async def test_takeover_keeps_persistent_session(env: Env) -> None:
    props = Properties(session_expiry_interval=300)
    first = await Client.connect(env.port, "dev", properties=props)
    await first.subscribe("keep/t", qos=1)
    second = await Client.connect(env.port, "dev", clean=False, properties=props)
    assert second.connack.session_present
    await first.closed()
    await env.broker.publish("keep/t", b"still subscribed", qos=1)
    assert (await second.recv_type(Publish)).payload == b"still subscribed"


async def test_async_observers_run_for_qos0_publishes(env: Env) -> None:
    ran = asyncio.Event()

    class AsyncObserver:
        async def on_publish(self, msg: object, origin: object) -> None:
            ran.set()

    env.broker.add_observer(AsyncObserver())
    pub = await Client.connect(env.port, "p")
    await pub.publish("chat/stream", b"typing", qos=0)
    await asyncio.wait_for(ran.wait(), 5)


async def test_dollar_topics_not_matched_by_leading_wildcards(env: Env) -> None:
    everything = await Client.connect(env.port, "all")
    await everything.subscribe("#", "+/events/#")
    events = await Client.connect(env.port, "ev")
    await events.subscribe("$aws/events/presence/connected/+")
    await Client.connect(env.port, "someone")
    got = await events.recv_type(Publish)
    assert got.topic == "$aws/events/presence/connected/someone"
    await env.broker.publish("plain/topic", b"x")
    assert (await everything.recv_type(Publish)).topic == "plain/topic"  # not the event


async def test_failed_observer_frees_qos2_packet_id(env: Env) -> None:
    env.recorder.fail = True
    pub = await Client.connect(env.port, "p")
    pub.send(Publish("chat/out", b"a", 2, False, False, 5))
    assert (await pub.recv_type(Pubrec)).reason_code == 0x80
    env.recorder.fail = False
    pub.send(Publish("chat/out", b"b", 2, False, False, 5))  # same id, a new message
    assert (await pub.recv_type(Pubrec)).reason_code == 0
    assert [m.payload for m, _ in env.recorder.seen if m.topic == "chat/out"] == [b"a", b"b"]


async def test_packets_split_into_single_bytes(env: Env) -> None:
    from hubbub.mqtt.codec import encode
    from hubbub.mqtt.packets import Connack, Connect, Suback, Subscribe

    c = await Client.open(env.port, version=4)
    data = b"".join([
        encode(Connect("MQTT", 4, True, 60, "bytewise"), 4),
        encode(Subscribe(1, (Subscription("b/t", 1),)), 4),
        encode(Publish("b/t", b"slowly", 1, False, False, 2), 4),
    ])
    for i in range(len(data)):
        c.send_raw(data[i:i + 1])
        await c.writer.drain()
    assert isinstance(await c.recv(), Connack)
    assert isinstance(await c.recv(), Suback)
    got = {type(p).__name__: p for p in [await c.recv(), await c.recv()]}
    assert got["Publish"].payload == b"slowly" and got["Puback"].packet_id == 2
