"""Authorization hooks, bad input, slow consumers, shutdown and persistence."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field

from broker_client import Client
from broker_env import Env, gone, make_env

from hubbub.broker.hooks import ConnectDecision, ConnectRequest, Identity
from hubbub.broker.settings import BrokerSettings
from hubbub.mqtt.packets import Disconnect, Properties, Puback, Publish, Pubrec, Will


@dataclass
class Policy:
    """Authorizer for tests: publish to chat/out, subscribe to own inbox and rooms."""

    client_id: str

    def can_publish(self, topic: str) -> bool:
        return topic == "chat/out"

    def can_subscribe(self, topic_filter: str) -> bool:
        return topic_filter in (f"chat/in/{self.client_id}", "chat/pub/+", "chat/#")

    def can_receive(self, topic: str) -> bool:
        return not topic.startswith("chat/secret")


@dataclass
class TokenAuth:
    expires_at: float | None = None
    requests: list[ConnectRequest] = field(default_factory=list)

    async def authenticate(self, req: ConnectRequest) -> ConnectDecision:
        self.requests.append(req)
        if req.password != b"good":
            return ConnectDecision.refuse(0x86 if req.password else 0x87)
        ident = Identity(principal_id=f"user:{req.username}", client_id=req.client_id)
        return ConnectDecision.accept(ident, Policy(req.client_id), self.expires_at)


async def authed_env(**kw: object) -> Env:
    return await make_env(authenticator=TokenAuth(**kw))  # type: ignore[arg-type]


async def test_refused_connect_v5_and_311_with_lifecycle() -> None:
    env = await authed_env()
    try:
        await Client.connect(env.port, "x", username="u", password=b"bad", expect=0x86)
        await Client.connect(env.port, "y", version=4, expect=0x87)  # rc 5 on the wire
        msg, _ = await env.recorder.next("$aws/events/presence/connect_failed/x")
        assert json.loads(msg.payload)["failureReason"] == "AUTH_ERROR"
        req = env.broker.authenticator.requests[0]  # type: ignore[attr-defined]
        assert (req.client_id, req.username, req.protocol_version, req.transport_kind,
                req.peer_ip) == ("x", "u", 5, "tcp", "127.0.0.1")
    finally:
        await env.broker.shutdown()


async def test_denied_publish_and_subscribe() -> None:
    env = await authed_env()
    try:
        c = await Client.connect(env.port, "me", username="u", password=b"good")
        assert await c.subscribe("chat/in/me", "chat/in/other", qos=1) == (1, 0x87)
        assert (await c.publish("chat/pub/room", b"x", qos=1)).reason_code == 0x87
        rec = await c.publish("chat/pub/room", b"x", qos=2)
        assert isinstance(rec, Pubrec) and rec.reason_code == 0x87
        assert (await c.publish("chat/out", b"ok", qos=1)).reason_code == 0
        msg, origin = await env.recorder.next("chat/")
        assert msg.topic == "chat/out" and origin.principal_id == "user:u"
        assert not [m for m, _ in env.recorder.seen if m.topic == "chat/pub/room"]
        # 3.1.1 cannot refuse a QoS 1 publish: the connection closes.
        old = await Client.connect(env.port, "old", 4, username="u", password=b"good")
        old.send(Publish("chat/pub/room", b"x", 1, False, False, 1))
        assert await old.closed() == []
        assert (await gone(env, "old"))["disconnectReason"] == "AUTH_ERROR"
        assert env.broker.stats()["denied"] == 4
    finally:
        await env.broker.shutdown()


async def test_clients_cannot_publish_lifecycle_topics(env: Env) -> None:
    c = await Client.connect(env.port, "spoof")
    ack = await c.publish("$aws/events/presence/connected/victim", b"{}", qos=1)
    assert ack.reason_code == 0x87


async def test_can_receive_filters_delivery() -> None:
    env = await authed_env()
    try:
        c = await Client.connect(env.port, "me", username="u", password=b"good")
        await c.subscribe("chat/#")
        await env.broker.publish("chat/secret/x", b"no")
        await env.broker.publish("chat/pub/x", b"yes")
        assert (await c.recv_type(Publish)).payload == b"yes"
    finally:
        await env.broker.shutdown()


async def test_violation_hook_disconnects() -> None:
    strikes: list[Identity] = []

    def on_violation(identity: Identity) -> bool:
        strikes.append(identity)
        return len(strikes) >= 2

    env = await make_env(authenticator=TokenAuth(), on_violation=on_violation)
    try:
        c = await Client.connect(env.port, "me", username="u", password=b"good")
        await c.publish("nope", b"", qos=1)
        c.send(Publish("nope", b"", 1, False, False, 99))
        last = (await c.closed())[-1]
        assert isinstance(last, Disconnect) and last.reason_code == 0x87
        assert strikes[0].client_id == "me"
    finally:
        await env.broker.shutdown()


async def test_expired_credentials_disconnect_with_0xa0() -> None:
    env = await make_env(authenticator=TokenAuth(expires_at=1_800_000_100.0))
    try:
        c = await Client.connect(env.port, "me", username="u", password=b"good",
                                 keep_alive=1200)
        env.clock.advance(99)
        env.broker.sweep()
        env.clock.advance(2)
        env.broker.sweep()
        last = (await c.closed())[-1]
        assert isinstance(last, Disconnect) and last.reason_code == 0xA0
        assert (await gone(env, "me"))["disconnectReason"] == "CUSTOMAUTH_TTL_EXPIRATION"
    finally:
        await env.broker.shutdown()


async def test_will_needs_publish_permission() -> None:
    env = await authed_env()
    try:
        w = await Client.connect(env.port, "w", username="u", password=b"good")
        await w.subscribe("chat/#")
        a = await Client.connect(env.port, "a", username="u", password=b"good",
                                 will=Will("chat/pub/x", b"forbidden"))
        await a.close()
        await gone(env, "a")
        await env.broker.publish("chat/pub/marker", b"m")
        assert (await w.recv_type(Publish)).topic == "chat/pub/marker"
    finally:
        await env.broker.shutdown()


async def test_malformed_packets_close_only_that_client(env: Env) -> None:
    good = await Client.connect(env.port, "good")
    await good.subscribe("t")
    bad_inputs = [
        b"\x00\x00",  # reserved packet type
        b"\x36\x03\x00\x01t",  # QoS 3
        b"\x30\xff\xff\xff\xff\x7f",  # remaining length of five bytes
        b"\x30\x05\x00\x03t\x00a",  # NUL in topic
        b"\x30\x05\x00\x03\xff\xfea",  # invalid UTF-8
        b"\x82\x04\x00\x01\x00\x00",  # SUBSCRIBE with no filters
        b"\x62\x02\x00",  # truncated is fine... then garbage type
    ]
    for data in bad_inputs:
        c = await Client.connect(env.port, "bad")
        c.send_raw(data + b"\x00" * 8)
        await c.closed()
    await good.publish("t", b"still here", qos=0)
    pub = await Client.connect(env.port, "p")
    await pub.publish("t", b"alive")
    assert (await good.recv_type(Publish)).payload in (b"still here", b"alive")


async def test_random_bytes_never_crash_the_broker(env: Env) -> None:
    rng = random.Random(1234)
    for _ in range(40):
        c = await Client.open(env.port)
        c.send_raw(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))
        c.writer.write_eof()
        try:
            await c.closed(timeout=5)
        except ConnectionError:
            pass
    ok = await Client.connect(env.port, "after")
    assert (await ok.publish("x", qos=1)).reason_code == 0
    assert len(env.broker.connections) == 1


async def test_first_packet_not_connect(env: Env) -> None:
    c = await Client.open(env.port)
    c.send_raw(b"\xc0\x00")  # PINGREQ before CONNECT
    assert await c.closed() == []


async def test_half_open_socket_detected_by_keepalive(env: Env) -> None:
    c = await Client.connect(env.port, "half", keep_alive=30)
    c.writer.write_eof()  # half-closed: we stop sending
    await gone(env, "half")
    assert env.broker.sessions.get("half") is None


async def test_slow_consumer_does_not_slow_others() -> None:
    env = await make_env(BrokerSettings(sweep_interval=0, write_buffer_high=64 * 1024,
                                        max_queued_messages=50, max_inflight=10,
                                        publish_rate=1e9,
                                        publish_burst=1e9))
    try:
        slow = await Client.connect(env.port, "slow")
        await slow.subscribe("f/0")
        await slow.subscribe("f/1", qos=1)
        slow.transport_pause = slow.writer.transport.pause_reading()  # never reads
        fast = await Client.connect(env.port, "fast")
        await fast.subscribe("f/0")
        pub = await Client.connect(env.port, "p")
        payload = b"x" * 60_000
        for _ in range(300):  # each message reaches the fast client while slow is stuck
            pub.send(Publish("f/0", payload))
            assert (await fast.recv_type(Publish)).payload == payload
        stats = env.broker.stats()
        assert stats["dropped_qos0"] > 0  # dropped for the slow one only
        for i in range(61):  # 10 in flight + 50 queued, then one too many
            pub.send(Publish("f/1", b"q", 1, False, False, i + 1))
        await gone(env, "slow")
        assert env.broker.stats()["slow_consumer_disconnects"] == 1
    finally:
        await env.broker.shutdown()


async def test_graceful_shutdown_sends_0x8b_and_persists(tmp_path: object) -> None:
    from pathlib import Path

    data = Path(str(tmp_path))
    settings = BrokerSettings(sweep_interval=0, data_dir=data)
    env = await make_env(settings)
    v5 = await Client.connect(env.port, "v5", properties=Properties(session_expiry_interval=600))
    await v5.subscribe("keep/#", qos=1)
    old = await Client.connect(env.port, "v4", version=4)
    pub = await Client.connect(env.port, "p")
    await pub.publish("keep/retained", b"r", qos=1, retain=True)
    got = await v5.recv_type(Publish)  # left unacknowledged on purpose
    await env.broker.shutdown(timeout=2)
    last = (await v5.closed())[-1]
    assert isinstance(last, Disconnect) and last.reason_code == 0x8B
    assert await old.closed() == []
    assert (data / "broker.sqlite3").exists()

    env2 = await make_env(settings)
    try:
        again = await Client.connect(env2.port, "v5", clean=False)
        assert again.connack.session_present
        dup = await again.recv_type(Publish)
        assert dup.dup and dup.payload == b"r" and dup.packet_id == got.packet_id
        again.send(Puback(dup.packet_id))
        fresh = await Client.connect(env2.port, "fresh")
        await fresh.subscribe("keep/+")
        kept = await fresh.recv_type(Publish)
        assert kept.retain and kept.payload == b"r"
        pub = await Client.connect(env2.port, "p")
        await pub.publish("keep/x", b"after restart", qos=1)
        assert (await again.recv_type(Publish)).payload == b"after restart"
    finally:
        await env2.broker.shutdown()


async def test_shutdown_refuses_new_connections(env: Env) -> None:
    await env.broker.shutdown()
    try:
        c = await Client.open(env.port)
    except OSError:
        return
    c.send_raw(b"\x10\x0c\x00\x04MQTT\x05\x02\x00\x3c\x00\x00")
    assert [p for p in await c.closed() if p.reason_code == 0] == []


async def test_stats(env: Env) -> None:
    s = await Client.connect(env.port, "s")
    await s.subscribe("a")
    p = await Client.connect(env.port, "p")
    await p.publish("a", qos=1)
    await s.recv_type(Publish)
    st = env.broker.stats()
    assert st["connections"] == 2 and st["messages_in"] >= 1 and st["messages_out"] >= 1
    assert st["subscriptions"] == 1 and st["sessions"] == 2
    assert asyncio.get_running_loop()


async def test_garbage_after_connect_closes_cleanly(env: Env) -> None:
    rng = random.Random(99)
    for i in range(40):
        c = await Client.connect(env.port, f"g{i}", version=rng.choice((4, 5)))
        c.send_raw(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))))
        c.writer.write_eof()
        try:
            await c.closed(timeout=5)
        except ConnectionError:
            pass
        await gone(env, f"g{i}")
    assert len(env.broker.connections) == 0
    ok = await Client.connect(env.port, "after")
    assert (await ok.publish("x", qos=2)).reason_code == 0


async def test_disconnect_client_and_is_connected(env: Env) -> None:
    c = await Client.connect(env.port, "kick")
    assert env.broker.is_connected("kick") and not env.broker.is_connected("nobody")
    assert env.broker.disconnect_client("kick")
    last = (await c.closed())[-1]
    assert isinstance(last, Disconnect) and last.reason_code == 0x98
    assert (await gone(env, "kick"))["disconnectReason"] == "SERVER_INITIATED_DISCONNECT"
    assert not env.broker.disconnect_client("kick")


async def test_authenticator_that_never_answers_is_timed_out() -> None:
    never = asyncio.Event()

    class Hang:
        async def authenticate(self, req: ConnectRequest) -> ConnectDecision:
            await never.wait()
            raise AssertionError("unreachable")

    env = await make_env(authenticator=Hang())
    try:
        from hubbub.mqtt.packets import Connect

        c = await Client.open(env.port, version=5)
        c.send(Connect("MQTT", 5, True, 60, "hang"))
        while not env.broker.connections:
            await asyncio.sleep(0)  # yield until the broker has the socket (no timer)
        env.clock.advance(env.broker.settings.connect_timeout + 1)
        env.broker.sweep()
        assert await c.closed() == []
    finally:
        never.set()
        await env.broker.shutdown()
