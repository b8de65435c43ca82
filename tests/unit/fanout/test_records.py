"""A node's client records: they mirror its own lifecycle events, coalesced to each
client's last state per round trip, rewritten whole after a lost write; a dead node's
events published here are not mistaken for ours."""

from __future__ import annotations

from typing import Any

from hubbub.broker.lifecycle import DisconnectReason, connected, disconnected
from hubbub.fanout.records import ClientRecords
from hubbub.fanout.registry import RedisRegistry
from hubbub.fanout.takeover import Ownership


class Pipe:
    """Records the commands a pipeline would send."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kw: self.calls.append((name, args, kw))


def conn(cid: str, version: int = 0) -> tuple[str, bytes]:
    return connected(cid, 1.0, "s", "p", "10.0.0.1", version)


def gone(cid: str, version: int = 0) -> tuple[str, bytes]:
    return disconnected(cid, 2.0, "s", "p", DisconnectReason.CONNECTION_LOST, version)


def setup() -> tuple[ClientRecords, RedisRegistry]:
    return ClientRecords(Ownership("me"), "me"), RedisRegistry(client=None)


def test_each_clients_last_state_is_written_in_one_hdel_and_one_hset() -> None:
    rec, reg = setup()
    assert rec.own_event(*conn("a"), online=True)
    assert rec.own_event(*conn("b"), online=True)
    assert rec.own_event(*gone("a"), online=True)
    assert rec.own_event(*conn("c"), online=True)
    assert not rec.own_event("$aws/events/subscriptions/subscribed/b", b"{}", online=True)
    pipe = Pipe()
    rec.queue(reg, pipe)
    assert pipe.calls == [
        ("hdel", ("hubbub:clients:me", "a"), {}),
        ("hset", ("hubbub:clients:me",), {"mapping": {"b": conn("b")[1], "c": conn("c")[1]}}),
    ]
    assert not rec.pending
    pipe = Pipe()
    rec.queue(reg, pipe)
    assert pipe.calls == []


def test_writes_lost_or_made_offline_are_rewritten_whole() -> None:
    rec, reg = setup()
    rec.own_event(*conn("a"), online=True)
    rec.lost()  # the round trip failed
    assert not rec.own_event(*conn("b"), online=False) and rec.pending
    pipe = Pipe()
    rec.queue(reg, pipe)
    assert pipe.calls == [
        ("delete", ("hubbub:clients:me",), {}),
        ("hset", ("hubbub:clients:me",), {"mapping": {"a": conn("a")[1], "b": conn("b")[1]}}),
    ]
    rec, reg = setup()
    rec.reset = True  # nothing held: the hash is only deleted
    pipe = Pipe()
    rec.queue(reg, pipe)
    assert pipe.calls == [("delete", ("hubbub:clients:me",), {})]


def test_a_dead_nodes_events_published_here_do_not_touch_our_records() -> None:
    rec, _ = setup()
    rec.own_event(*conn("a", version=4), online=True)
    rec.queued.clear()

    class Broker:
        def publish_internal(self, topic: str, payload: bytes) -> None:
            # what the fan-out's observer hook does with it, synchronously
            assert not rec.own_event(topic, payload, online=True)

    rec.publish_lost(Broker(), [gone("a", version=9)])  # type: ignore[arg-type]
    assert rec.ownership.since("a") == 1000 and not rec.pending and not rec.replaying
