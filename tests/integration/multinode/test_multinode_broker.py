"""The broker across nodes: messages, properties and order; retained messages for nodes
and subscribers that come later; session takeover; garbage on the channel; a Redis outage.
Real redis-server, real PostgreSQL, real paho-mqtt clients over TCP."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator

import pytest

from hubbub.broker.message import Message
from hubbub.fanout.codec import encode_batch, encode_message
from hubbub.fanout.redis import RedisFanout
from hubbub.fanout_wiring import start_fanout
from hubbub.mqtt.packets import Properties
from hubbub.server import Node

from .conftest import StartNode, restart_redis, servers, wait_for
from .mqttclient import close_all, connected


def fanout(node: Node) -> RedisFanout:
    f = node.fanout  # type: ignore[attr-defined]
    assert isinstance(f, RedisFanout)
    return f


async def test_messages_keep_order_and_properties_across_nodes(cluster: StartNode) -> None:
    a = await cluster("node-a", publish_rate=0)  # a burst, not 100/s
    b = await cluster("node-b")
    assert a.mqtt_port and b.mqtt_port
    sub = await connected(b.mqtt_port, "sub-on-b")
    pub = await connected(a.mqtt_port, "pub-on-a")
    try:
        await sub.subscribe("t/#")
        for i in range(300):  # QoS 0 and 1 mixed: one node's order holds across both
            info = pub.mqtt.publish(f"t/{i % 3}", str(i).encode(), qos=i % 2)
            if i % 50 == 49:  # stay under the broker's Receive Maximum (100 unacked)
                await asyncio.to_thread(info.wait_for_publish, 10)
        got = [int((await sub.next_message()).payload) for _ in range(300)]
        assert got == list(range(300))

        props = Properties(content_type="text/plain", message_expiry_interval=60,
                           response_topic="t/reply", correlation_data=b"\x00\x01",
                           user_properties=(("k", "v"), ("k", "w")))
        await a.broker.publish("t/props", b"with properties", qos=1, properties=props)
        m = await sub.next_message()
        assert m.payload == b"with properties"
        assert m.properties.ContentType == "text/plain"
        assert m.properties.ResponseTopic == "t/reply"
        assert m.properties.CorrelationData == b"\x00\x01"
        assert m.properties.UserProperty == [("k", "v"), ("k", "w")]
        assert 0 < m.properties.MessageExpiryInterval <= 60
    finally:
        close_all(sub, pub)
    fa, fb = fanout(a), fanout(b)
    assert await start_fanout(a, node_id="again") is fa  # a second call changes nothing
    assert fa.counters["shared"] >= 301 and fb.counters["received"] >= 301
    assert fb.counters["gaps"] == 0 and fb.counters["bad_batches"] == 0


async def test_retained_reaches_later_subscribers_and_later_nodes(cluster: StartNode) -> None:
    a, b = await cluster("node-a"), await cluster("node-b")
    assert a.mqtt_port and b.mqtt_port
    pub = await connected(a.mqtt_port, "pub-on-a")
    try:
        await pub.publish("news/today", b"retained on A", retain=True)
        await pub.publish("news/gone", b"soon deleted", retain=True)
        await pub.publish("news/gone", b"", retain=True)  # an empty payload deletes
        # B was running: the channel brought it; a subscriber connecting to B now gets it
        later = await connected(b.mqtt_port, "later-on-b")
        try:
            await later.subscribe("news/#")
            m = await later.next_message()
            assert (m.topic, m.payload, m.retain) == ("news/today", b"retained on A", True)
        finally:
            later.close()
        # C starts after the publish: it loads the retained messages from Redis
        c = await cluster("node-c")
        assert c.mqtt_port
        assert c.broker.retained.get("news/gone") is None
        on_c = await connected(c.mqtt_port, "on-c")
        try:
            await on_c.subscribe("news/#")
            m = await on_c.next_message()
            assert (m.topic, m.payload, m.retain) == ("news/today", b"retained on A", True)
            assert fanout(c).counters["retained_loaded"] == 1
        finally:
            on_c.close()
    finally:
        pub.close()


async def test_same_client_id_on_another_node_takes_the_session_over(
        cluster: StartNode) -> None:
    a, b = await cluster("node-a"), await cluster("node-b")
    assert a.mqtt_port and b.mqtt_port
    watcher = await connected(a.mqtt_port, "watcher")
    first = await connected(a.mqtt_port, "device-1")
    try:
        await watcher.subscribe("$aws/events/presence/#")
        second = await connected(b.mqtt_port, "device-1")
        try:
            assert await first.next_disconnect() == 0x8E  # Session taken over
            assert fanout(a).counters["takeovers"] == 1
            assert not a.broker.is_connected("device-1")
            assert b.broker.is_connected("device-1")
            # the watcher on A sees B's connect (fanned out) and A's DUPLICATE_CLIENTID
            events = []
            while not events or events[-1].get("disconnectReason") != "DUPLICATE_CLIENTID":
                events.append(json.loads((await watcher.next_message()).payload))
            connects = [e for e in events if e["eventType"] == "connected"]
            assert [e["clientId"] for e in connects] == ["device-1"]  # B's, fanned out
            await second.publish("t/still-here", b"1")  # B's connection is untouched
            assert fanout(b).counters["takeovers"] == 0
        finally:
            second.close()
    finally:
        close_all(first, watcher)


async def test_garbage_on_the_channel_is_counted_and_gaps_are_seen(cluster: StartNode) -> None:
    import redis.asyncio as aioredis

    a = await cluster("node-a")
    assert a.mqtt_port
    sub = await connected(a.mqtt_port, "sub")
    raw = aioredis.Redis.from_url(a.cfg.redis_url or "")
    try:
        await sub.subscribe("ghost/#")
        for junk in (b"", b"\x00", b"H\x01\x05ab", b"not a batch at all", b"H\x01\x01g" + bytes(9)):
            await raw.publish("hubbub:fanout", junk)
        one = encode_message(Message("ghost/1", b"first", 0, False, created_at=1.0))
        two = encode_message(Message("ghost/2", b"second", 0, False, created_at=2.0))
        await raw.publish("hubbub:fanout", encode_batch("ghost", 0, [one]))
        await raw.publish("hubbub:fanout", encode_batch("ghost", 5, [two]))  # 1..4 lost
        assert (await sub.next_message()).payload == b"first"
        assert (await sub.next_message()).payload == b"second"
        f = fanout(a)
        assert f.counters["bad_batches"] == 5
        assert f.counters["gaps"] == 4
        assert f.counters["received"] == 2
    finally:
        sub.close()
        await raw.aclose()


@pytest.fixture
def own_redis() -> Iterator[servers.Server]:
    try:
        with servers.redis_server() as srv:
            yield srv
    except servers.ServerUnavailable as e:
        pytest.skip(f"redis-server unavailable: {e}")


async def test_redis_outage_keeps_local_delivery_and_recovers(
        cluster: StartNode, own_redis: servers.Server) -> None:
    a = await cluster("node-a", redis_url=own_redis.url)
    b = await cluster("node-b", redis_url=own_redis.url)
    assert a.mqtt_port and b.mqtt_port
    fa, fb = fanout(a), fanout(b)
    sub_a = await connected(a.mqtt_port, "sub-a")
    sub_b = await connected(b.mqtt_port, "sub-b")
    pub = await connected(a.mqtt_port, "pub-a")
    try:
        await sub_a.subscribe("t/#")
        await sub_b.subscribe("t/#")
        await pub.publish("t/x", b"before")
        assert (await sub_a.next_message()).payload == b"before"
        assert (await sub_b.next_message()).payload == b"before"

        own_redis.process.send_signal(signal.SIGKILL)
        own_redis.process.wait()
        await pub.publish("t/x", b"during", qos=1)  # the PUBACK does not wait for Redis
        await pub.publish("t/x", b"during 2", qos=0)
        await pub.publish("keep/r", b"retained during the outage", retain=True)
        assert (await sub_a.next_message()).payload == b"during"
        assert (await sub_a.next_message()).payload == b"during 2"
        await wait_for(lambda: fa.counters["unshared"] >= 1)
        await wait_for(lambda: not fb.subscribed.is_set())

        restart_redis(own_redis)
        await wait_for(lambda: fa.publishing.is_set() and fb.subscribed.is_set())
        await pub.publish("t/x", b"after", qos=1)
        assert (await sub_a.next_message()).payload == b"after"
        assert (await sub_b.next_message()).payload == b"after"  # not "during": lost
        assert fb.counters["reconnects"] >= 1
        # the retained message of the outage is written back once Redis is there again
        await wait_for(lambda: (m := b.broker.retained.get("keep/r")) is not None
                       and m.payload == b"retained during the outage")
    finally:
        close_all(sub_a, sub_b, pub)


async def test_an_older_remote_retained_message_is_delivered_but_not_stored(
        cluster: StartNode) -> None:
    import redis.asyncio as aioredis

    a = await cluster("node-a")
    assert a.mqtt_port
    sub = await connected(a.mqtt_port, "sub")
    raw = aioredis.Redis.from_url(a.cfg.redis_url or "")
    try:
        await a.broker.publish("state/x", b"new", qos=1, retain=True)
        await sub.subscribe("state/#")
        assert (await sub.next_message()).payload == b"new"
        now = a.broker.clock()
        late = encode_message(Message("state/x", b"old", 1, True, created_at=now - 60))
        newer = encode_message(Message("state/x", b"newest", 1, True, created_at=now + 1))
        await raw.publish("hubbub:fanout", encode_batch("ghost", 0, [late, newer]))
        m = await sub.next_message()
        assert (m.payload, m.retain) == (b"old", False)
        m = await sub.next_message()
        assert m.payload == b"newest"
        stored = a.broker.retained.get("state/x")
        assert stored is not None and stored.payload == b"newest"
    finally:
        sub.close()
        await raw.aclose()
