"""Issue 4's "done when": two real MQTT clients join a room and talk; a third joining
later gets the history and the presence list. Real paho-mqtt, real sockets, port 0."""

from __future__ import annotations

import asyncio

from hubbub.server import Node

from .chatclient import ChatClient, aget_json


def is_msg(text: str):  # noqa: ANN201
    return lambda t, p: isinstance(p, dict) and p.get("type") == "message" and p["text"] == text


async def test_two_talk_third_gets_history_and_presence(node: Node) -> None:
    alice = await ChatClient.create(node.url)
    bob = await ChatClient.create(node.url, transport="tcp", mqtt_port=node.mqtt_port)
    assert await alice.connect() == 0
    assert await bob.connect() == 0
    try:
        w = await alice.join("lobby", "alice")
        assert w["room"] == "lobby" and w["history"]["messages"] == []
        await bob.join("lobby", "bob")

        alice.say("lobby", "alice", "hi bob")
        got = await bob.expect(is_msg("hi bob"))
        assert got["user"] == "alice" and got["clientId"] == alice.client_id
        assert got["room"] == "lobby" and isinstance(got["timestamp"], int)
        bob.say("lobby", "bob", "hello alice")
        await alice.expect(is_msg("hello alice"))

        carol = await ChatClient.create(node.url)
        assert await carol.connect() == 0
        try:
            welcome = await carol.join("lobby", "carol")
            texts = [m["text"] for m in welcome["history"]["messages"]]
            assert texts == ["hi bob", "hello alice"]
            ids = [m["id"] for m in welcome["history"]["messages"]]
            assert ids == sorted(ids)
            people = {p["user"] for p in welcome["presence"]}
            assert people == {"alice", "bob", "carol"}
        finally:
            carol.close()
        # carol leaves: the others see presence without her (debounce is 0 in tests)
        update = await alice.expect(
            lambda t, p: isinstance(p, dict) and p.get("type") == "presence"
            and {m["user"] for m in p["members"]} == {"alice", "bob"})
        assert update["room"] == "lobby"
    finally:
        alice.close()
        bob.close()


async def test_client_cannot_forge_server_fields(node: Node) -> None:
    a = await ChatClient.create(node.url)
    await a.connect()
    try:
        await a.join("r1", "mallory")
        a.publish("chat/out", {"room": "r1", "clientId": "someone-else", "id": "0",
                               "timestamp": 1, "message": {"user": "m", "text": "x"}})
        got = await a.expect(is_msg("x"))
        assert got["clientId"] == a.client_id and got["id"] != "0" and got["timestamp"] > 1
    finally:
        a.close()


async def test_invalid_input_gets_error_and_nothing_else(node: Node) -> None:
    a = await ChatClient.create(node.url)
    await a.connect()
    try:
        await a.join("r2", "ann")
        cases = [
            ({"room": "bad/room", "message": {"user": "ann", "text": "x"}}, "invalid_room"),
            ({"room": "r2", "message": {"user": "ann", "text": "y" * 2001}}, "text_too_long"),
            ({"room": "r2", "message": {"user": "ann"}}, "invalid_message"),
            ({"room": "r2", "message": {"user": "", "text": "hi"}}, "invalid_user"),
            (b"not json at all", "invalid_json"),
            ({"type": "join", "room": "+"}, "invalid_room"),
        ]
        for payload, code in cases:
            a.publish("chat/out", payload)
            err = await a.expect(lambda t, p: isinstance(p, dict) and p.get("type") == "error")
            assert err["code"] == code, (payload, err)
        status, page = await aget_json(f"{node.url}/api/rooms/r2/messages")
        assert status == 200 and page["messages"] == []
    finally:
        a.close()


async def test_history_paging_over_http(node: Node) -> None:
    a = await ChatClient.create(node.url)
    await a.connect()
    try:
        await a.join("paging", "pat")
        for i in range(7):
            info = a.say("paging", "pat", f"m{i}")
            await asyncio.to_thread(info.wait_for_publish, 10)
        status, page = await aget_json(f"{node.url}/api/rooms/paging/messages?limit=3")
        assert status == 200
        assert [m["text"] for m in page["messages"]] == ["m4", "m5", "m6"]
        status, older = await aget_json(
            f"{node.url}/api/rooms/paging/messages?limit=3&before={page['before']}")
        assert [m["text"] for m in older["messages"]] == ["m1", "m2", "m3"]
        status, rest = await aget_json(
            f"{node.url}/api/rooms/paging/messages?limit=3&before={older['before']}")
        assert [m["text"] for m in rest["messages"]] == ["m0"] and rest["before"] is None
        status, after = await aget_json(
            f"{node.url}/api/rooms/paging/messages?after={older['messages'][-1]['id']}")
        assert [m["text"] for m in after["messages"]] == ["m4", "m5", "m6"]
        for bad in ("limit=0", "limit=abc", "limit=1000", "before=a&after=b"):
            status, body = await aget_json(f"{node.url}/api/rooms/paging/messages?{bad}")
            assert status == 400 and body["message"], bad
        status, body = await aget_json(f"{node.url}/api/rooms/bad%2Broom/messages")
        assert status in (400, 404)
    finally:
        a.close()
