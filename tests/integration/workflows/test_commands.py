"""The chat's commands on state machines, through a real node and real paho-mqtt clients:
a command typed on ``chat/out`` is answered privately on the sender's inbox."""

from __future__ import annotations

from typing import Any

from hubbub.server import Node

from ..chat.chatclient import ChatClient
from .conftest import seed


def answer(command: str):  # noqa: ANN201
    return lambda t, p: isinstance(p, dict) and p.get("type") == "command" \
        and p.get("command") == command


def error(code: str):  # noqa: ANN201
    return lambda t, p: isinstance(p, dict) and p.get("type") == "error" and p["code"] == code


async def client(node: Node, room: str, user: str) -> ChatClient:
    c = await ChatClient.create(node.url)
    assert await c.connect() == 0
    await c.join(room, user)
    return c


def command(c: ChatClient, room: str, text: str) -> None:
    c.publish("chat/out", {"type": "command", "room": room, "user": "me", "text": text})


ROOM = [("alice", "The cat sat on the mat"), ("bob", "a cat and a dog"),
        ("alice", "dog days, dog nights"), ("carol", "I like the cat"),
        ("alice", "cat"), ("bob", "Hello, hello!")]


async def test_stats_counts_messages_per_person(node: Node) -> None:
    await seed(node, "pets", ROOM)
    await seed(node, "other", [("zed", "elsewhere")])
    c = await client(node, "pets", "dave")
    try:
        command(c, "pets", "/stats")
        got = await c.expect(answer("/stats"))
        assert got["room"] == "pets"
        assert got["data"] == {"counts": {"alice": 3, "bob": 2, "carol": 1}, "messages": 6}
        assert list(got["data"]["counts"]) == ["alice", "bob", "carol"]  # most first
        assert got["text"] == "Messages per person (last 6): alice: 3, bob: 2, carol: 1"
    finally:
        c.close()
    await node.services.workflows.wait_idle()  # the reply is sent before the end is recorded
    names = (await node.services.workflows.list_executions("chat-stats"))["executions"]
    assert [e["status"] for e in names] == ["SUCCEEDED"]


async def test_top_counts_words_without_stop_words(node: Node) -> None:
    await seed(node, "pets", ROOM)
    c = await client(node, "pets", "dave")
    try:
        command(c, "pets", "/top 3")
        got = await c.expect(answer("/top"))
        assert got["data"]["words"] == [{"word": "cat", "count": 4}, {"word": "dog", "count": 3},
                                        {"word": "hello", "count": 2}]
        assert got["text"].startswith("Most used words (last 6 messages): cat (4), dog (3)")
        command(c, "pets", "/TOP")  # default n, case-insensitive; fewer words than n
        got = await c.expect(answer("/top"))
        words = [w["word"] for w in got["data"]["words"]]
        assert words[:3] == ["cat", "dog", "hello"]
        assert set(words[3:]) == {"days", "mat", "nights", "sat"}
        assert not {"the", "a", "and", "on", "i", "like"} & set(words)
    finally:
        c.close()


async def test_commands_in_an_empty_room(node: Node) -> None:
    c = await client(node, "empty", "dave")
    try:
        command(c, "empty", "/stats")
        got = await c.expect(answer("/stats"))
        assert got["data"] == {"counts": {}, "messages": 0}
        command(c, "empty", "/top")
        got = await c.expect(answer("/top"))
        assert got["data"]["words"] == [] and got["text"] == "No words to count yet."
    finally:
        c.close()


async def test_help_is_a_pipeline_too(node: Node) -> None:
    c = await client(node, "lobby", "dave")
    try:
        command(c, "lobby", "/help")
        got = await c.expect(answer("/help"))
        lines = got["text"].split("\n")
        assert [ln.split(":")[0].split()[0] for ln in lines] == ["/help", "/stats", "/top"]
        command(c, "lobby", "/help top")
        got = await c.expect(answer("/help"))
        assert got["text"].startswith("/top [n]:")
    finally:
        c.close()
    await node.services.workflows.wait_idle()
    hist = await node.services.workflows.list_executions("chat-help")
    assert len(hist["executions"]) == 2


async def test_unknown_commands_and_bad_arguments_get_helpful_errors(node: Node) -> None:
    c = await client(node, "lobby", "dave")
    cases: list[tuple[Any, str, str]] = [
        ("/nope", "unknown_command", "Unknown command '/nope'"),
        ("/top 0", "bad_arguments", "Usage: /top [n]"),
        ("/top 51", "bad_arguments", "Usage: /top [n]"),
        ("/top many", "bad_arguments", "Usage: /top [n]"),
        ("/top 1 2", "bad_arguments", "Usage: /top [n]"),
        ("/stats now", "bad_arguments", "/stats takes no arguments"),
        ("/help me please", "bad_arguments", "Usage: /help"),
        ("/help nope", "bad_arguments", "No command 'nope'"),
        ("stats", "bad_arguments", "A command starts with '/'"),
        (42, "bad_arguments", "A command starts with '/'"),
    ]
    try:
        for text, code, message in cases:
            command(c, "lobby", text)  # type: ignore[arg-type]
            got = await c.expect(error(code))
            assert message in got["message"], (text, got)
            assert "/help" in got["message"] or "Usage" in got["message"] \
                or "no arguments" in got["message"]
        c.publish("chat/out", {"type": "command", "room": "no/such", "text": "/stats"})
        await c.expect(error("invalid_room"))
    finally:
        c.close()
    # nothing was started for a refused command
    assert (await node.services.workflows.list_executions())["executions"] == []


async def test_a_command_does_not_hold_up_the_chat(node: Node) -> None:
    """The chat function returns once the execution started: messages sent right after a
    command are delivered, and the answer still comes."""
    await seed(node, "busy", [(f"u{i % 7}", f"word{i % 13} text {i}") for i in range(1000)])
    c = await client(node, "busy", "dave")
    try:
        command(c, "busy", "/top 5")
        c.say("busy", "dave", "still here")
        first = await c.expect(lambda t, p: isinstance(p, dict) and p.get("type") in
                               ("message", "command"))
        assert first["type"] == "message" and first["text"] == "still here"
        got = await c.expect(answer("/top"))
        assert got["data"]["messages"] == 1000
        # the window is the last 1,000 messages: "still here" may already be one of them
        top = got["data"]["words"][0]
        assert top["word"] == "text" and top["count"] in (999, 1000)
        assert len(got["data"]["words"]) == 5
    finally:
        c.close()


async def test_command_executions_are_express_and_not_kept_in_the_table(tmp_path) -> None:  # noqa: ANN001
    """A command's execution records thousands of events; the chat creates its machines as
    EXPRESS, so they are kept in memory (describe/list/history work) and never written to
    the executions table, which would otherwise grow by megabytes per command."""
    from .conftest import start_node

    node = await start_node(tmp_path / "data")
    try:
        await seed(node, "pets", ROOM)
        svc = node.services
        await svc.call("chat", {"type": "command", "room": "pets", "text": "/stats",
                                "clientId": "x1"})
        await svc.workflows.wait_idle()
        [ex] = (await svc.workflows.list_executions("chat-stats"))["executions"]
        assert ex["status"] == "SUCCEEDED" and svc.workflows.types["chat-stats"] == "EXPRESS"
        events = (await svc.workflows.get_execution_history(ex["name"]))["events"]
        assert sum(e["type"] == "TaskScheduled" for e in events) == 6 + 2  # by_user x6
        assert await svc.workflows.runner.store.list() == []  # nothing in the table
    finally:
        await node.stop()
    node = await start_node(tmp_path / "data")
    try:
        wf = node.services.workflows
        assert (await wf.list_executions())["executions"] == []
        assert wf.types["chat-stats"] == "EXPRESS"  # the machine itself was kept
    finally:
        await node.stop()


async def test_a_failing_step_is_answered_with_command_failed(node: Node) -> None:
    from hubbub.functions.runtime import FunctionSpec

    async def broken(event: Any, context: Any) -> Any:
        raise RuntimeError("disk on fire")

    node.services.functions.register(FunctionSpec("by_user", "functions.x:broken"), broken)
    await seed(node, "pets", ROOM)
    c = await client(node, "pets", "dave")
    try:
        command(c, "pets", "/stats")
        got = await c.expect(error("command_failed"))
        assert got["message"] == "/stats could not be computed (RuntimeError). Try again later."
    finally:
        c.close()
    await node.services.workflows.wait_idle()
    [ex] = (await node.services.workflows.list_executions("chat-stats"))["executions"]
    assert ex["status"] == "SUCCEEDED"  # the Catch answered: the execution itself ended well
