"""Two (and three) hubbub nodes sharing a real redis-server (fan-out, stream) and a real
PostgreSQL (tables): the chat works across nodes as on one. Real paho-mqtt clients."""

from __future__ import annotations

import asyncio
from typing import Any

from hubbub.fanout.redis import RedisFanout

from ..chat.chatclient import ChatClient
from .conftest import StartNode


def is_msg(text: str) -> Any:
    return lambda t, p: isinstance(p, dict) and p.get("type") == "message" and p["text"] == text


def members(names: set[str]) -> Any:
    return lambda t, p: isinstance(p, dict) and p.get("type") == "presence" \
        and {m["user"] for m in p["members"]} == names


async def acked(client: ChatClient) -> None:
    # The PUBACK of chat/out waits for the rules on the publishing node, the history
    # write into the shared table included.
    await asyncio.to_thread(client.acks.get, timeout=10)


async def test_alice_on_a_and_bob_on_b_talk_carol_on_b_gets_history_and_presence(
        cluster: StartNode) -> None:
    a = await cluster("node-a")
    b = await cluster("node-b")
    alice = await ChatClient.create(a.url)
    bob = await ChatClient.create(b.url, transport="tcp", mqtt_port=b.mqtt_port)
    assert await alice.connect() == 0
    assert await bob.connect() == 0
    try:
        w = await alice.join("lobby", "alice")
        assert w["history"]["messages"] == []
        await acked(alice)
        await bob.join("lobby", "bob")
        await acked(bob)
        # bob's join ran on B; the presence it published reached alice on A
        await alice.expect(members({"alice", "bob"}))

        alice.say("lobby", "alice", "hi bob, from A")
        got = await bob.expect(is_msg("hi bob, from A"))
        assert got["clientId"] == alice.client_id and got["user"] == "alice"
        await acked(alice)
        bob.say("lobby", "bob", "hello alice, from B")
        await alice.expect(is_msg("hello alice, from B"))
        await acked(bob)

        carol = await ChatClient.create(b.url)
        assert await carol.connect() == 0
        try:
            welcome = await carol.join("lobby", "carol")
            texts = [m["text"] for m in welcome["history"]["messages"]]
            assert texts == ["hi bob, from A", "hello alice, from B"]
            assert {p["user"] for p in welcome["presence"]} == {"alice", "bob", "carol"}
            await alice.expect(members({"alice", "bob", "carol"}))
        finally:
            carol.close()
        # carol left node B; the presence function ran on B, alice on A sees it
        await alice.expect(members({"alice", "bob"}))
    finally:
        alice.close()
        bob.close()
    fa, fb = a.fanout, b.fanout
    assert isinstance(fa, RedisFanout) and isinstance(fb, RedisFanout)
    assert fa.counters["shared"] > 0 and fb.counters["received"] > 0
    assert fa.counters["unshared"] == fb.counters["unshared"] == 0
    assert fa.counters["gaps"] == fb.counters["gaps"] == 0
