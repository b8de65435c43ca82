"""Node liveness, pure: dead-node detection, the events owed to a dead node's clients,
the fence state machine, and the reap election over the in-memory registry with a fake
clock (the Redis registry runs the same scenarios in tests/integration/multinode)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.clock import FakeClock
from tests.purity import imported_modules

import hubbub.fanout
from hubbub.broker.lifecycle import DisconnectReason, connected, disconnected
from hubbub.fanout.liveness import (
    Action,
    Beat,
    Watch,
    connected_at,
    fresh_nodes,
    lost_connection_events,
    stale_nodes,
)
from hubbub.fanout.reaper import Reaper
from hubbub.fanout.registry import MemoryRegistry

T0 = 1_800_000_000_000  # ms


def conn_event(cid: str, at_ms: int, version: int = 3) -> bytes:
    return connected(cid, at_ms / 1000, f"s-{cid}", f"p-{cid}", "10.0.0.1", version)[1]


# --- detection ------------------------------------------------------------------------


def test_stale_nodes_are_older_than_the_timeout_oldest_first_never_me() -> None:
    beats = {"a": T0 - 20_000, "b": T0 - 10_001, "c": T0 - 10_000, "me": T0 - 99_000}
    assert stale_nodes(beats, T0, 10_000, "me") == ["a", "b"]
    assert fresh_nodes(beats, T0, 10_000) == ["c"]
    assert stale_nodes({}, T0, 10_000, "me") == []


def test_a_tie_on_the_beat_orders_by_node_id() -> None:
    assert stale_nodes({"y": 1.0, "x": 1.0}, T0, 10, "me") == ["x", "y"]


def test_connected_at_reads_our_own_event_and_refuses_garbage() -> None:
    assert connected_at(conn_event("c1", T0 + 5)) == T0 + 5
    for bad in (b"", b"{", b"[]", b'{"timestamp": "1"}', b'{"timestamp": true}', b"\xff"):
        assert connected_at(bad) is None


# --- the events owed -----------------------------------------------------------------


def test_lost_connection_event_has_iot_cores_fields_and_connection_lost() -> None:
    [(topic, payload)] = lost_connection_events({"c1": conn_event("c1", T0)}, {}, T0 + 9000)
    assert topic == "$aws/events/presence/disconnected/c1"
    ev = json.loads(payload)
    # the same fields, in the same shape, as the broker's own disconnected events
    _, ref = disconnected("c1", 1.0, "s", "p", DisconnectReason.CONNECTION_LOST, 3)
    assert ev.keys() == json.loads(ref).keys()
    assert ev == {"clientId": "c1", "timestamp": T0 + 9000, "eventType": "disconnected",
                  "sessionIdentifier": "s-c1", "principalIdentifier": "p-c1",
                  "clientInitiatedDisconnect": False, "disconnectReason": "CONNECTION_LOST",
                  "versionNumber": 3}


def test_a_client_that_reconnected_elsewhere_ends_just_before_its_new_connection() -> None:
    records = {"back": conn_event("back", T0), "gone": conn_event("gone", T0),
               "stale": conn_event("stale", T0 + 50)}
    # "stale" is held elsewhere by an *older* connection (its takeover never happened)
    live = {"back": T0 + 3000, "stale": T0 + 10}
    got = {json.loads(p)["clientId"]: json.loads(p)["timestamp"]
           for _, p in lost_connection_events(records, live, T0 + 9000)}
    assert got == {"back": T0 + 2999, "gone": T0 + 9000, "stale": T0 + 9000}


def test_the_disconnect_is_never_stamped_before_the_connection_it_ends() -> None:
    [(_, p)] = lost_connection_events({"c": conn_event("c", T0 + 100)}, {}, T0)
    assert json.loads(p)["timestamp"] == T0 + 100


@pytest.mark.parametrize("record", [b"", b"not json", b"[1]", b'{"versionNumber": "x"}',
                                    b'{"sessionIdentifier": 5, "timestamp": null}'])
def test_a_malformed_record_still_gets_a_well_formed_event(record: bytes) -> None:
    [(topic, p)] = lost_connection_events({"c": record}, {}, T0)
    ev = json.loads(p)
    assert topic.endswith("/c") and ev["clientId"] == "c" and ev["timestamp"] == T0
    assert ev["sessionIdentifier"] == "" and ev["versionNumber"] == 0
    assert ev["disconnectReason"] == "CONNECTION_LOST"


# --- the fence ---------------------------------------------------------------------


def test_watch_fences_while_declared_dead_and_resyncs_when_registered_again() -> None:
    w = Watch(timeout_ms=1000)
    assert w.on_beat(Beat.UNKNOWN, T0) is Action.RESYNC  # first beat: records rewritten
    assert w.on_beat(Beat.ALIVE, T0 + 100) is Action.NONE
    assert w.on_beat(Beat.REAPING, T0 + 200) is Action.CLOSE_ALL and w.fenced
    assert w.on_beat(Beat.REAPING, T0 + 300) is Action.CLOSE_ALL  # new arrivals too
    assert w.on_beat(Beat.REAPED, T0 + 400) is Action.CLOSE_ALL
    assert w.on_beat(Beat.ALIVE, T0 + 500) is Action.RESYNC and not w.fenced
    assert w.on_beat(Beat.ALIVE, T0 + 600) is Action.NONE


def test_a_node_reaps_only_after_a_whole_timeout_of_successful_beats() -> None:
    w = Watch(timeout_ms=1000)
    assert not w.may_reap(T0)
    w.on_beat(Beat.UNKNOWN, T0)
    assert not w.may_reap(T0 + 999) and w.may_reap(T0 + 1000)
    w.beat_failed()  # Redis lost: the others could not beat either
    assert not w.may_reap(T0 + 5000)
    w.on_beat(Beat.ALIVE, T0 + 5000)
    assert not w.may_reap(T0 + 5999) and w.may_reap(T0 + 6000)
    w.on_beat(Beat.REAPING, T0 + 7000)
    assert not w.may_reap(T0 + 99_000)


# --- reapers over the in-memory registry, fake clock ------------------------------------


class FakeNode:
    """What a Reaper drives: a broker that publishes and closes, records that resync."""

    def __init__(self, name: str, registry: MemoryRegistry, clock: FakeClock) -> None:
        self.name = name
        self.registry = registry
        self.held: dict[str, bytes] = {}
        self.published: list[tuple[str, bytes]] = []
        self.closed = 0
        self.resyncs = 0
        self.counters: dict[str, int] = {}
        self.reaper = Reaper(registry, name, clock=clock, interval=1.0, timeout=10.0,
                             publish=self.published.extend, close_all=self.close_all,
                             resync=self.resync, held_here=self.since,
                             counters=self.counters)

    def connect(self, cid: str, at_ms: int) -> None:
        self.held[cid] = conn_event(cid, at_ms)
        self.registry.records.setdefault(self.name, {})[cid] = self.held[cid]

    def since(self, cid: str) -> int | None:
        return connected_at(self.held[cid]) if cid in self.held else None

    def close_all(self) -> int:
        n, self.closed = len(self.held), self.closed + len(self.held)
        self.held.clear()
        return n

    def resync(self) -> None:
        self.resyncs += 1
        self.registry.records[self.name] = dict(self.held)

    def lost(self) -> set[str]:
        return {json.loads(p)["clientId"] for _, p in self.published}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0 / 1000)


async def start(clock: FakeClock, *names: str) -> tuple[MemoryRegistry, list[FakeNode]]:
    reg = MemoryRegistry()
    nodes = [FakeNode(n, reg, clock) for n in names]
    for n in nodes:
        await n.reaper.tick()
    return reg, nodes


async def tick(*nodes: FakeNode) -> None:
    for n in nodes:
        await n.reaper.tick()


async def test_exactly_one_survivor_reaps_a_dead_node(clock: FakeClock) -> None:
    reg, (a, b, c) = await start(clock, "a", "b", "c")
    a.connect("alice", T0)
    a.connect("ann", T0)
    b.connect("bob", T0)
    clock.advance(10)
    await tick(a, b, c)  # everyone beat for a whole timeout: all may reap, none is dead
    assert not (b.published or c.published)
    clock.advance(6)  # a is gone: it beats no more
    await tick(b, c)
    clock.advance(4.001)
    await tick(c, b)
    assert c.lost() == {"alice", "ann"} and b.published == []
    ev = json.loads(c.published[0][1])
    assert ev["disconnectReason"] == "CONNECTION_LOST" and not ev["clientInitiatedDisconnect"]
    assert "a" not in reg.nodes and "a" not in reg.records
    assert c.counters["reaped_nodes"] == 1 and c.counters["lost_clients"] == 2
    assert reg.records["b"] == {"bob": b.held["bob"]}  # the survivors' records stay
    clock.advance(30)
    await tick(b, c)  # nothing more to reap
    assert len(c.published) == 2 and b.published == []


async def test_a_slow_node_that_beats_in_time_is_not_reaped(clock: FakeClock) -> None:
    _, (a, b) = await start(clock, "a", "b")
    a.connect("alice", T0)
    clock.advance(9.999)
    await tick(a, b)
    clock.advance(9.999)
    await tick(a, b)
    assert b.published == [] and a.closed == 0


async def test_a_node_declared_dead_fences_then_registers_again(clock: FakeClock) -> None:
    reg, (a, b) = await start(clock, "a", "b")
    clock.advance(10)
    await tick(a, b)
    a.connect("alice", T0)
    clock.advance(10.5)  # a pauses; b reaps it
    await tick(b)
    assert b.lost() == {"alice"}
    # a comes back: its beat says it was reaped; it closes what it holds and rejoins
    a.connect("late", T0 + 20_400)  # arrived after the reap's read: not announced
    await tick(a)
    assert a.closed == 2 and a.counters["fenced"] == 1 and not a.reaper.watch.fenced
    assert a.resyncs == 2 and "a" in reg.nodes and reg.records["a"] == {}
    # back to normal: a beats, b does not reap it again, a's new clients are recorded
    a.connect("alice", T0 + 21_000)
    clock.advance(5)
    await tick(a, b)
    assert b.lost() == {"alice"} and len(b.published) == 1
    assert "alice" in reg.records["a"]


async def test_a_node_beating_during_its_reap_is_fenced_until_the_reap_ends(
        clock: FakeClock) -> None:
    reg, (a, b) = await start(clock, "a", "b")
    a.connect("alice", T0)
    clock.advance(10.5)
    # b won the election but has not finished (it died, or it is slow)
    assert await reg.elect("a", "b", int(clock() * 1000), 10_000, 10_000) == T0
    await tick(a)
    assert a.closed == 1 and a.reaper.watch.fenced and a.counters["fenced"] == 1
    a.connect("new", T0 + 10_600)
    clock.advance(1)
    await tick(a)  # still being reaped: keeps closing
    assert a.closed == 2 and a.reaper.watch.fenced
    # b never finishes; its lock expires; a registers again (its records rewritten)
    clock.advance(10)
    await tick(a)
    assert not a.reaper.watch.fenced and reg.nodes["a"] == clock() * 1000
    assert await reg.finish("a", "b") is False  # the slow reaper touches nothing


async def test_a_reaper_that_dies_midway_is_replaced_after_its_lock_expires(
        clock: FakeClock) -> None:
    reg, (a, b, c) = await start(clock, "a", "b", "c")
    a.connect("alice", T0)
    clock.advance(10)
    await tick(b, c)
    clock.advance(10)
    assert await reg.elect("a", "b", int(clock() * 1000), 10_000, 10_000) is not None
    await tick(c)  # b holds the lock: c does not reap
    assert c.published == []
    clock.advance(10)  # b is dead too; its lock expired
    await tick(c)
    assert c.lost() == {"alice"} and {"a", "b"} & set(reg.nodes) == set()


async def test_a_dead_nodes_client_back_on_a_survivor_keeps_its_new_stay(
        clock: FakeClock) -> None:
    _, (a, b) = await start(clock, "a", "b")
    a.connect("alice", T0)
    clock.advance(10)
    await tick(a, b)
    b.connect("alice", T0 + 12_000)  # a died, alice came back through b
    clock.advance(10.5)
    await tick(b)
    [(_, p)] = b.published
    assert json.loads(p)["timestamp"] == T0 + 11_999


async def test_a_new_node_does_not_reap_before_it_beat_for_a_whole_timeout(
        clock: FakeClock) -> None:
    reg, (a,) = await start(clock, "a")
    a.connect("alice", T0)
    clock.advance(60)  # a died long ago; a node starts now
    b = FakeNode("b", reg, clock)
    await tick(b)
    assert b.published == []
    clock.advance(10)
    await tick(b)
    assert b.lost() == {"alice"}


async def test_a_failing_registry_stops_reaping_until_a_timeout_of_beats(
        clock: FakeClock) -> None:
    reg, (a, b) = await start(clock, "a", "b")
    clock.advance(10)
    await tick(a, b)
    a.connect("alice", T0)
    beat = reg.beat

    async def down(node: str, now_ms: int, rejoin: bool) -> Beat:
        raise OSError("redis down")

    reg.beat = down  # type: ignore[method-assign]
    clock.advance(5)
    with pytest.raises(OSError):
        await b.reaper.tick()
    assert b.counters["beats_failed"] == 1
    reg.beat = beat  # type: ignore[method-assign]
    clock.advance(6)  # a's beat is 11 s old, but b was cut off too: it waits
    await tick(b)
    assert b.published == []
    clock.advance(10)
    await tick(b)
    assert b.lost() == {"alice"}


def test_the_liveness_core_and_registry_model_are_pure() -> None:
    root = Path(hubbub.fanout.__file__).parent
    for name in ("liveness.py", "registry.py", "takeover.py", "codec.py"):
        bad = imported_modules(root / name) & {"asyncio", "socket", "time", "redis"}
        assert not bad, f"{name} imports {sorted(bad)}"
