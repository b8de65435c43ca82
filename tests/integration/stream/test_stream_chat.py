"""The chat on the stream, with a real node and real paho-mqtt clients: typing folded per
window, reactions counted, stored and shown in history, far fewer function calls than
records, bad records skipped, a burst on the stream dropped (and counted) without
holding up chat messages."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from typing import Any

from hubbub.server import Node
from hubbub.stream_wiring import StreamRuntime

from ..chat.chatclient import ChatClient, aget_json


def runtime(node: Node) -> StreamRuntime:
    rt = getattr(node, "stream_runtime", None)
    assert isinstance(rt, StreamRuntime)
    return rt


def calls(node: Node) -> int:
    return node.services.functions.stats["stream"]["invocations"]


def of_type(kind: str, pred: Callable[[dict[str, Any]], bool] = lambda p: True
            ) -> Callable[[str, Any], bool]:
    return lambda t, p: isinstance(p, dict) and p.get("type") == kind and pred(p)


async def acked(*infos: Any) -> None:
    """Wait for the PUBACKs of QoS 1 publishes (acknowledged = put in the stream)."""
    for info in infos:
        await asyncio.to_thread(info.wait_for_publish, 10)
        assert info.is_published()


async def joined(node: Node, room: str, *users: str) -> list[ChatClient]:
    clients = []
    for user in users:
        c = await ChatClient.create(node.url)
        assert await c.connect() == 0
        await c.join(room, user)
        clients.append(c)
    return clients


async def say(c: ChatClient, room: str, user: str, text: str) -> str:
    c.say(room, user, text)
    msg = await c.expect(of_type("message", lambda p: p["text"] == text))
    return str(msg["id"])


def typing(room: str, user: str) -> dict[str, Any]:
    return {"type": "typing", "room": room, "user": user}


def reaction(room: str, user: str, message_id: str, emoji: str) -> dict[str, Any]:
    return {"type": "reaction", "room": room, "user": user, "messageId": message_id,
            "emoji": emoji}


async def test_typing_from_two_clients_is_one_room_update(node: Node) -> None:
    alice, bob, carol = await joined(node, "den", "alice", "bob", "carol")
    try:
        await runtime(node).wait_caught_up()
        before = calls(node)
        infos = [c.publish("chat/stream", typing("den", name))
                 for _ in range(5) for c, name in ((alice, "alice"), (bob, "bob"))]
        await acked(*infos)
        update = await carol.expect(of_type("typing"))
        assert update["room"] == "den" and sorted(update["users"]) == ["alice", "bob"]
        # when each last typed, on the server's clock, for the client to compare with the
        # timestamp of a message that may have overtaken this update
        now_ms = time.time() * 1000
        assert sorted(update["at"]) == ["alice", "bob"]
        assert all(now_ms - 60_000 < t <= now_ms for t in update["at"].values())
        await runtime(node).wait_caught_up()
        assert calls(node) - before == 1  # ten records, one invocation, one update
        # typing records are not chat messages
        status, page = await aget_json(f"{node.url}/api/rooms/den/messages")
        assert status == 200 and page["messages"] == []
    finally:
        for c in (alice, bob, carol):
            c.close()


async def test_typing_at_qos0_as_the_web_client_sends_it(node: Node) -> None:
    # The web client publishes typing and reactions at QoS 0: no PUBACK to wait for.
    alice, bob = await joined(node, "porch", "alice", "bob")
    try:
        alice.publish("chat/stream", typing("porch", "alice"), qos=0)
        update = await bob.expect(of_type("typing"), timeout=5)
        assert update["users"] == ["alice"]
    finally:
        alice.close()
        bob.close()


async def test_reactions_are_counted_stored_and_in_history(node: Node) -> None:
    alice, bob = await joined(node, "hall", "alice", "bob")
    try:
        first = await say(alice, "hall", "alice", "react to me")
        second = await say(alice, "hall", "alice", "and to me")
        await bob.expect(of_type("message", lambda p: p["id"] == second))
        await acked(
            alice.publish("chat/stream", reaction("hall", "alice", first, "👍")),
            alice.publish("chat/stream", reaction("hall", "alice", first, "👍")),  # once
            bob.publish("chat/stream", reaction("hall", "bob", first, "👍")),
            bob.publish("chat/stream", reaction("hall", "bob", first, "❤️")),
            bob.publish("chat/stream", reaction("hall", "bob", second, "🎉")),
            # refused: not an offered emoji, an unknown message, another room's message
            bob.publish("chat/stream", reaction("hall", "bob", first, "<b>x</b>")),
            bob.publish("chat/stream", reaction("hall", "bob", "1-nope", "👍")),
            bob.publish("chat/stream", reaction("elsewhere", "bob", first, "👍")),
        )
        update = await alice.expect(of_type("reactions"))
        assert update == {"type": "reactions", "room": "hall",
                          "counts": {first: {"👍": 2, "❤️": 1}, second: {"🎉": 1}}}
        assert await bob.expect(of_type("reactions")) == update
        # a later window adds to the totals
        await acked(alice.publish("chat/stream", reaction("hall", "alice", first, "❤️")))
        update = await bob.expect(of_type("reactions"))
        assert update["counts"] == {first: {"👍": 2, "❤️": 2}}

        status, page = await aget_json(f"{node.url}/api/rooms/hall/messages")
        assert status == 200
        assert [(m["text"], m.get("reactions")) for m in page["messages"]] == [
            ("react to me", {"👍": 2, "❤️": 2}), ("and to me", {"🎉": 1})]
        status, page = await aget_json(f"{node.url}/api/rooms/hall/messages?after={first}")
        assert [m.get("reactions") for m in page["messages"]] == [{"🎉": 1}]
        carol, = await joined(node, "hall", "carol")  # the welcome's history has them too
        carol.close()
        item = await node.services.table("reactions").get("hall", first)
        assert item is not None and item["counts"] == {"👍": 2, "❤️": 2}
        assert await node.services.table("reactions").get("hall", "1-nope") is None
        assert await node.services.table("reactions").get("elsewhere", first) is None
    finally:
        alice.close()
        bob.close()


async def test_welcome_history_carries_reactions(node: Node) -> None:
    alice, = await joined(node, "attic", "alice")
    try:
        mid = await say(alice, "attic", "alice", "hello")
        await acked(alice.publish("chat/stream", reaction("attic", "alice", mid, "😂")))
        await alice.expect(of_type("reactions"))
        bob = await ChatClient.create(node.url)
        await bob.connect()
        welcome = await bob.join("attic", "bob")
        bob.close()
        assert welcome["history"]["messages"][0]["reactions"] == {"😂": 1}
    finally:
        alice.close()


async def test_function_calls_per_record_far_below_one(node: Node) -> None:
    clients = await joined(node, "arena", "a", "b", "c", "d")
    try:
        mid = await say(clients[0], "arena", "a", "vote")
        await runtime(node).wait_caught_up()
        before = calls(node)
        infos = []
        for i in range(40):  # 80 publishes per client: under IoT Core's 100/s per connection
            for c, name in zip(clients, "abcd", strict=True):
                infos.append(c.publish("chat/stream", typing("arena", name)))
                infos.append(c.publish("chat/stream",
                                       reaction("arena", name, mid, "👍❤️😂🎉"[i % 4])))
        await acked(*infos)
        await runtime(node).wait_caught_up()
        n = calls(node) - before
        assert 1 <= n <= 10, n  # 320 records
        assert n / len(infos) < 0.05
        stats = runtime(node).stats()["consumers"]["chat/stream"]
        assert stats["records_checkpointed"] >= len(infos)
        assert stats["records_discarded"] == 0
        item = await node.services.table("reactions").get("arena", mid)
        assert item is not None and sum(item["counts"].values()) >= 4
    finally:
        for c in clients:
            c.close()


def _record(seq: int, data: bytes, shard: str = "shardId-000000000000",
            arrival: float | None = None) -> dict[str, Any]:
    return {"kinesis": {"partitionKey": "x", "sequenceNumber": f"{seq:040d}",
                        "data": base64.b64encode(data).decode(),
                        "approximateArrivalTimestamp": time.time() if arrival is None
                        else arrival},
            "eventID": f"{shard}:{seq:040d}", "eventSource": "aws:kinesis"}


async def test_bad_records_are_skipped_not_retried(node: Node) -> None:
    garbage = [b"not json", b"[1,2]", b'{"type":"typing","room":"a/b","user":"x"}',
               b'{"type":"typing","room":"r","user":""}',
               b'{"type":"dance","room":"r","user":"x"}',
               b'{"type":"reaction","room":"r","user":"x","emoji":"\xf0\x9f\x91\x8d"}',
               json.dumps({"type": "reaction", "room": "r", "user": "x", "messageId": "m" * 101,
                           "emoji": "👍", "clientId": "c"}).encode()]
    event = {"Records": [_record(i + 1, d) for i, d in enumerate(garbage)]
             + [{"kinesis": "nope"}, 42]}
    result = await node.services.call("stream", event)
    assert result["batchItemFailures"] == [] and result["skipped"] == len(garbage) + 2
    for bad in (None, [], {"Records": "x"}, {"Records": None}):
        assert (await node.services.call("stream", bad))["batchItemFailures"] == []


async def test_a_redelivered_batch_is_not_counted_twice(node: Node) -> None:
    alice, = await joined(node, "loft", "alice")
    try:
        mid = await say(alice, "loft", "alice", "once")
        data = json.dumps({**reaction("loft", "alice", mid, "👍"), "clientId": "c1"}).encode()
        other = json.dumps({**reaction("loft", "bob", mid, "👍"), "clientId": "c2"}).encode()
        batch = {"Records": [_record(7, data), _record(8, other)]}
        await node.services.call("stream", batch)
        await node.services.call("stream", batch)  # at least once: the same records again
        item = await node.services.table("reactions").get("loft", mid)
        assert item is not None and item["counts"] == {"👍": 2}
        # two nodes (no shard leases) on overlapping batches, at once: still counted once
        more = [json.dumps({**reaction("loft", f"u{i}", mid, "🎉"), "clientId": f"k{i}"})
                .encode() for i in range(6)]
        first = {"Records": [_record(9 + i, d) for i, d in enumerate(more[:4])]}
        second = {"Records": [_record(9 + i, d) for i, d in enumerate(more)]}
        await asyncio.gather(*(node.services.call("stream", b) for b in (first, second) * 2))
        item = await node.services.table("reactions").get("loft", mid)
        assert item is not None and item["counts"] == {"👍": 2, "🎉": 6}
    finally:
        alice.close()


async def test_stale_typing_is_not_shown(node: Node) -> None:
    old = json.dumps({**typing("r", "ghost"), "clientId": "c"}).encode()
    result = await node.services.call(
        "stream", {"Records": [_record(1, old, arrival=time.time() - 60)]})
    assert result == {"batchItemFailures": [], "skipped": 0, "stale": 1}


async def test_a_burst_on_the_stream_is_dropped_not_queued(node: Node) -> None:
    rt = runtime(node)
    rt.engine.gate.max_in_flight = 3  # type: ignore[attr-defined]  # a tiny put buffer
    clients = await joined(node, "gym", "a", "b", "c", "d", "e")
    talker, listener = clients[0], clients[1]
    try:
        accepted, rejected = rt.engine.stats.accepted, rt.engine.stats.rejected
        shed = rt.engine.stats.shed
        infos = [c.publish("chat/stream", typing("gym", "x")) for _ in range(80)
                 for c in clients[1:]]
        talker.say("gym", "a", "still heard")
        await listener.expect(of_type("message", lambda p: p["text"] == "still heard"))
        await acked(*infos)  # every PUBACK comes, the record stored or dropped
        await acked(*(c.publish("chat/stream", typing("gym", "x")) for c in clients[1:]))
        stats = rt.engine.stats
        assert stats.rejected > rejected  # dropped, and counted
        assert ((stats.accepted - accepted) + (stats.rejected - rejected)
                + (stats.shed - shed)) == 320 + 4
        assert stats.in_flight == 0
        assert rt.stats()["engine"]["rejected"] == stats.rejected
        assert all(c.disconnects.empty() for c in clients)
    finally:
        for c in clients:
            c.close()


async def test_stats_and_lag_are_visible(node: Node) -> None:
    rt = runtime(node)
    await rt.wait_caught_up()
    info = rt.stats()
    assert set(info) == {"engine", "consumers", "housekeeping"}
    assert set(info["consumers"]) == {"chat/stream"}
    engine = info["engine"]
    assert {"accepted", "rejected", "shed", "delayed", "in_flight", "max_backlog",
            "loop_lag_ms", "ingest_limit_per_s"} <= set(engine)
    assert engine["max_backlog"] == 2000  # four batches of the chat's 500
    assert engine["ingest_limit_per_s"] > 0  # the loop-lag probe runs
    consumer = info["consumers"]["chat/stream"]
    assert consumer["backlog"] == {"shardId-000000000000": 0, "shardId-000000000001": 0}
    assert consumer["checkpoint_errors"] == 0
    lag = await rt.lag()
    assert [s["shard_id"] for s in lag["chat/stream"]] == ["shardId-000000000000",
                                                          "shardId-000000000001"]
    assert all(s["pending"] is False and s["age_ms"] == 0.0 for s in lag["chat/stream"])


async def test_housekeeping_sweeps_expired_items_and_trims_the_stream(node: Node) -> None:
    rt = runtime(node)
    table = node.services.table("reactions")
    await table.put({"room": "old", "messageId": "1-x", "counts": {"👍": 1},
                     "expiresAt": int(time.time()) - 10})
    await table.put({"room": "old", "messageId": "2-x", "counts": {"👍": 1},
                     "expiresAt": int(time.time()) + 3600})
    runs = rt.housekeeping_runs
    await node.housekeep()
    assert rt.housekeeping_runs == runs + 1 and rt.housekeeping_errors == 0
    assert node.housekeeping["swept_items"] >= 1 and node.housekeeping["errors"] == 0
    assert rt.trimmed_records == 0  # nothing is a day old
    assert [i["messageId"] for i in (await table.query("old")).items] == ["2-x"]
