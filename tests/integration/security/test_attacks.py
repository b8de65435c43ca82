"""Issue 3's attack battery against a running Node, with real paho-mqtt clients (3.1.1 and 5,
TCP and WebSocket). Each attack gets the refusal docs/security.md documents, and nothing
leaks: a victim subscribed to its inbox and a room sees no foreign message, and an
eavesdropper sees nothing that is not its own.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import socket
import time
from typing import Any

import pytest

from hubbub.auth.keys import Keyring, SigningKey
from hubbub.auth.tokens import TokenService

from .conftest import FakeClock, Server
from .peers import TRANSPORTS, V5, V311, Peer, credentials

VARIANTS = [pytest.param(v, t, id=f"{'v5' if v == V5 else 'v311'}-{t}")
            for v in (V311, V5) for t in TRANSPORTS]
EVIL = b"EVIL-"


def refused(version: int) -> int:
    """CONNACK "not authorized": 0x87 in MQTT 5, return code 5 in 3.1.1."""
    return 0x87 if version == V5 else 5


def bad_client_id(version: int) -> int:
    """CONNACK "client identifier not valid": 0x85 in MQTT 5, return code 2 in 3.1.1."""
    return 0x85 if version == V5 else 2


def sub_denied(version: int) -> int:
    """SUBACK failure: 0x87 Not authorized in MQTT 5, 0x80 in 3.1.1."""
    return 0x87 if version == V5 else 0x80


def unsigned_token(kid: str, client_id: str) -> str:
    """``alg: none`` (RFC 7519 §6): an unsecured JWT must never be accepted."""
    def b64(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    now = int(time.time())
    claims = {"sub": "local:x", "cid": client_id, "iat": now, "exp": now + 3600,
              "guest": True, "policy": "chat-guest"}
    return f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{b64(claims)}."


def forged_tokens(server: Server, client_id: str) -> dict[str, str]:
    """Tokens that must all be refused for ``client_id``, by the reason the server logs."""
    real = server.tokens()
    active = real.keyring.active
    other_ring = Keyring.generate(clock=time.time)
    same_kid = Keyring([SigningKey(active.kid, secrets.token_bytes(32), time.time())],
                       active.kid, clock=time.time)
    claims = {"identity_id": "local:attacker", "client_id": client_id,
              "policy_name": "chat-guest", "guest": True, "ttl": 3600}
    past = time.time() - 7200
    return {
        "garbage": "garbage",
        "unsigned": unsigned_token(active.kid, client_id),
        "unknown_key": TokenService(other_ring, time.time).sign(**claims)[0],  # type: ignore[arg-type]
        "bad_signature": TokenService(same_kid, time.time).sign(**claims)[0],  # type: ignore[arg-type]
        "expired": server.mint(client_id, clock=lambda: past),
        "other_client_id": server.mint("web-someone-else"),
    }


async def connect(server: Server, cid: str, password: str | bytes | None, version: int,
                  transport: str) -> tuple[int, Peer]:
    peer = server.peer(cid, password, version=version, transport=transport)
    return await peer.connect(), peer


# --- CONNECT ---------------------------------------------------------------------------

@pytest.mark.parametrize(("version", "transport"), VARIANTS)
async def test_connect_refusals(server: Server, version: int, transport: str) -> None:
    cid = "web-attacker0001"
    cases: dict[str, str | None] = {"no_token": None, **forged_tokens(server, cid)}
    for why, password in cases.items():
        code, peer = await connect(server, cid, password, version, transport)
        peer.close()
        assert code == refused(version), f"{why}: CONNACK {code:#x}"
    # Each refusal is announced as a lifecycle event with IoT Core's failure reason.
    ev = await server.recorder.wait_for(f"$aws/events/presence/connect_failed/{cid}")
    body = json.loads(ev.payload)
    assert body["eventType"] == "connect_failed" and body["failureReason"] == "AUTH_ERROR"
    assert body["clientId"] == cid and body["ipAddress"] == "127.0.0.1"
    failed = server.recorder.topics("$aws/events/presence/connect_failed/")
    assert len(failed) == len(cases)
    assert not server.recorder.topics("$aws/events/presence/connected/")
    # The server is unharmed: a real guest still gets in.
    creds = await credentials(server.url)
    code, peer = await connect(server, creds["clientId"], creds["token"], version, transport)
    peer.close()
    assert code == 0


@pytest.mark.parametrize(("version", "transport"), VARIANTS)
@pytest.mark.parametrize("client_id", ["+", "#", "web-a/b", "chat/in/+", "web-#"])
async def test_wildcard_or_slash_client_ids_refused(server: Server, version: int,
                                                    transport: str, client_id: str) -> None:
    # Even with a token minted for that very id: such an id would turn
    # chat/in/${iot:ClientId} into a wildcard filter or into another path.
    code, peer = await connect(server, client_id, server.mint(client_id), version, transport)
    peer.close()
    assert code == bad_client_id(version)
    # No lifecycle event whose topic the id would bend into a wildcard or extra levels.
    assert not server.recorder.topics("$aws/events/presence/")


async def test_expired_token_refused_by_injected_clock(
        clocked: tuple[Server, FakeClock]) -> None:
    server, clock = clocked
    creds = await credentials(server.url)
    clock.advance(3600 + 31)  # past exp + the 30 s leeway
    code, peer = await connect(server, creds["clientId"], creds["token"], V5, "tcp")
    peer.close()
    assert code == 0x87
    ev = await server.recorder.wait_for(
        f"$aws/events/presence/connect_failed/{creds['clientId']}")
    assert json.loads(ev.payload)["failureReason"] == "AUTH_ERROR"


# --- SUBSCRIBE / PUBLISH ------------------------------------------------------------------

def foreign(peer_msgs: list[tuple[str, bytes]], *markers: bytes) -> list[tuple[str, bytes]]:
    return [(t, p) for t, p in peer_msgs if any(m in p for m in markers)]


@pytest.mark.parametrize(("version", "transport"), VARIANTS)
async def test_subscribe_and_publish_attacks_leak_nothing(server: Server, version: int,
                                                          transport: str) -> None:
    node = server.node
    creds = await credentials(server.url)
    victim_id = creds["clientId"]
    code, victim = await connect(server, victim_id, creds["token"], version, transport)
    assert code == 0
    assert await victim.subscribe(f"chat/in/{victim_id}", "chat/pub/lobby") == [1, 1]
    no = sub_denied(version)

    # Eavesdroppers: each may subscribe to its own inbox, nothing that reaches another's.
    # At most 4 refusals per connection: the 5th would disconnect (tested below).
    groups = [[f"chat/in/{victim_id}", "chat/in/+", "chat/in/#", "#"],
              ["$aws/#", "$aws/events/presence/+/+", "+/in/" + victim_id, "chat/pub/#"],
              ["+/+/+", "chat/+/" + victim_id, "$aws/events/#", "chat/#"]]
    spies: list[Peer] = []
    for n, group in enumerate(groups):
        sid = f"web-spy{n}{version}{transport[0]}"
        code, spy = await connect(server, sid, server.mint(sid), version, transport)
        assert code == 0
        assert await spy.subscribe(f"chat/in/{sid}", *group) == [1] + [no] * len(group), group
        assert spy.is_connected()
        spies.append(spy)

    # Publishers: a room topic, another client's inbox, the broker's own lifecycle topics.
    pid = f"web-forger{version}{transport[0]}"
    code, forger = await connect(server, pid, server.mint(pid), version, transport)
    assert code == 0
    forged = ["chat/pub/lobby", f"chat/in/{victim_id}",
              f"$aws/events/presence/connected/{victim_id}"]
    for topic in forged:
        forger.send(topic, EVIL + topic.encode(), qos=0)  # QoS 0: silently dropped
    if version == V5:
        for topic in forged[:1]:
            assert await forger.publish(topic, EVIL + b"q1", qos=1) == 0x87  # PUBACK 0x87
        assert forger.is_connected()
    else:
        # 3.1.1 acks carry no reason code: the broker closes the connection instead.
        forger.send("chat/pub/lobby", EVIL + b"q1", qos=1)
        await forger.disconnected()

    # The backend now talks to the victim (inbox) and the room, and to each spy's own inbox.
    await node.broker.publish(f"chat/in/{victim_id}", b"SECRET-inbox", qos=1)
    await node.broker.publish("chat/pub/lobby", b"ROOM-sentinel", qos=1)
    for spy in spies:
        await node.broker.publish(f"chat/in/{spy.client_id}", b"SPY-sentinel", qos=1)

    got = await victim.received(lambda t, p: p == b"ROOM-sentinel")
    assert (f"chat/in/{victim_id}", b"SECRET-inbox") in got
    assert not foreign(got, EVIL), got
    for spy in spies:
        seen = await spy.received(lambda t, p: p == b"SPY-sentinel")
        assert seen == [(f"chat/in/{spy.client_id}", b"SPY-sentinel")], seen
    # No forged message was accepted by the broker: not routed, not seen by any rule.
    assert not [m for m, _ in server.recorder.seen if m.payload.startswith(EVIL)]
    assert len(server.recorder.topics("$aws/events/presence/connected/")) == 5
    for p in (victim, forger, *spies):
        p.close()


@pytest.mark.parametrize(("version", "transport"), VARIANTS)
async def test_repeated_violations_disconnect(server: Server, version: int,
                                              transport: str) -> None:
    cid = f"web-scanner{version}{transport[0]}"
    code, peer = await connect(server, cid, server.mint(cid), version, transport)
    assert code == 0
    for n in range(4):
        assert await peer.subscribe(f"chat/in/web-victim{n}") == [sub_denied(version)]
    assert peer.is_connected()
    peer.mqtt.subscribe("chat/in/web-victim4", qos=1)  # the 5th refusal within 60 s
    reason = await peer.disconnected()
    if version == V5:
        assert reason == 0x87  # DISCONNECT "Not authorized"
    ev = await server.recorder.wait_for(f"$aws/events/presence/disconnected/{cid}")
    assert json.loads(ev.payload)["disconnectReason"] == "AUTH_ERROR"
    peer.close()


@pytest.mark.parametrize(("version", "transport"), VARIANTS)
async def test_client_id_collision_takes_over(server: Server, version: int,
                                              transport: str) -> None:
    creds = await credentials(server.url)
    cid = creds["clientId"]
    code, first = await connect(server, cid, creds["token"], version, transport)
    assert code == 0
    assert await first.subscribe(f"chat/in/{cid}") == [1]
    code, second = await connect(server, cid, creds["token"], version, transport)
    assert code == 0
    reason = await first.disconnected()
    if version == V5:
        assert reason == 0x8E  # DISCONNECT "Session taken over"
    ev = await server.recorder.wait_for(f"$aws/events/presence/disconnected/{cid}")
    body = json.loads(ev.payload)
    assert body["disconnectReason"] == "DUPLICATE_CLIENTID"
    assert body["clientInitiatedDisconnect"] is False
    # Only the newcomer is connected; it receives its own inbox, the first nothing more.
    assert await second.subscribe(f"chat/in/{cid}") == [1]
    await server.node.broker.publish(f"chat/in/{cid}", b"for-the-second", qos=1)
    assert (await second.received(lambda t, p: p == b"for-the-second"))[-1][1] == \
        b"for-the-second"
    assert first.messages.empty()
    first.close()
    second.close()


# --- token lifetime while connected -----------------------------------------------------

@pytest.mark.parametrize("version", [V311, V5])
async def test_connection_closed_when_token_expires(server: Server, version: int) -> None:
    cid = f"web-shortlived{version}"
    token = server.mint(cid, ttl=1.2, clock=time.time)  # real clock: the broker's sweep
    code, peer = await connect(server, cid, token, version, "tcp")
    assert code == 0
    assert await peer.subscribe(f"chat/in/{cid}") == [1]
    started = time.monotonic()
    reason = await peer.disconnected(timeout=5)
    assert time.monotonic() - started < 4
    if version == V5:
        assert reason == 0xA0  # DISCONNECT "Maximum connect time"
    ev = await server.recorder.wait_for(f"$aws/events/presence/disconnected/{cid}")
    assert json.loads(ev.payload)["disconnectReason"] == "CUSTOMAUTH_TTL_EXPIRATION"
    peer.close()


async def test_token_expiry_follows_the_injected_clock(
        clocked: tuple[Server, FakeClock]) -> None:
    server, clock = clocked
    cid = "web-clocked"
    code, peer = await connect(server, cid, server.mint(cid, ttl=60), V5, "tcp")
    assert code == 0
    # 61 s later: the token is dead, the keep-alive (60 s x 1.5) is not yet.
    clock.advance(61)
    assert await peer.disconnected(timeout=3) == 0xA0  # the sweep runs every second
    peer.close()


# --- retained messages and wills --------------------------------------------------------

@pytest.mark.parametrize(("version", "transport"), VARIANTS)
async def test_retained_publish_needs_retain_permission(server: Server, version: int,
                                                        transport: str) -> None:
    # The guest policy grants iot:Publish on chat/out but not iot:RetainPublish: as on IoT
    # Core, a retained publish there is refused (and nothing is retained).
    cid = f"web-retainer{version}{transport[0]}"
    code, peer = await connect(server, cid, server.mint(cid), version, transport)
    assert code == 0
    body = json.dumps({"room": "lobby", "message": {"user": "x", "text": "EVIL-retained"}})
    if version == V5:
        info = peer.mqtt.publish("chat/out", body, qos=1, retain=True)
        assert await peer._await_ack(info.mid) == 0x87  # noqa: SLF001
        assert await peer.publish("chat/out", body.replace("EVIL-", "fine-"), qos=1) == 0
    else:
        peer.mqtt.publish("chat/out", body, qos=1, retain=True)
        await peer.disconnected()
    assert not list(server.node.broker.retained.matching("#", time.time()))
    assert not [m for m, _ in server.recorder.seen if b"EVIL-" in m.payload]
    peer.close()


@pytest.mark.parametrize("version", [V311, V5])
async def test_wills_obey_the_policy(server: Server, version: int) -> None:
    creds = await credentials(server.url)
    victim_id = creds["clientId"]
    code, victim = await connect(server, victim_id, creds["token"], V5, "tcp")
    assert code == 0 and await victim.subscribe(f"chat/in/{victim_id}", "chat/pub/lobby") == [1, 1]
    wills = [("chat/pub/lobby", False), (f"chat/in/{victim_id}", False),
             (f"$aws/events/presence/disconnected/{victim_id}", False), ("chat/out", True),
             ("chat/stream", False)]  # the last one is allowed: the control
    gone: list[Peer] = []
    for n, (topic, retain) in enumerate(wills):
        cid = f"web-testator{n}"
        peer = server.peer(cid, server.mint(cid), version=version)
        peer.mqtt.will_set(topic, (EVIL if n < 4 else b"OK-") + topic.encode(), qos=1,
                           retain=retain)
        assert await peer.connect() == 0
        peer.mqtt.socket().shutdown(socket.SHUT_RDWR)  # vanish without DISCONNECT: will due
        await server.recorder.wait_for(f"$aws/events/presence/disconnected/{cid}")
        gone.append(peer)
    await server.node.broker.publish("chat/pub/lobby", b"ROOM-sentinel", qos=1)
    got = await victim.received(lambda t, p: p == b"ROOM-sentinel")
    assert not foreign(got, EVIL), got
    assert not [m for m, _ in server.recorder.seen if m.payload.startswith(EVIL)]
    assert (await server.recorder.wait_for("chat/stream")).payload == b"OK-chat/stream"
    assert not list(server.node.broker.retained.matching("#", time.time()))
    victim.close()
    await asyncio.gather(*(asyncio.to_thread(p.mqtt.loop_stop) for p in gone))
