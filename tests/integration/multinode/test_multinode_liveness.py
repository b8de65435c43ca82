"""When a node dies its clients' ends are still announced: a surviving node publishes
their CONNECTION_LOST disconnects (rules run, the chat's presence drops them). A node
that was only slow is fenced when it comes back. Real redis-server and PostgreSQL, real
paho-mqtt clients; one test kills a real ``hubbub serve`` process with SIGKILL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hubbub.fanout.redis import RedisFanout
from hubbub.fanout.registry import RedisRegistry
from hubbub.server import Node
from tests import servers
from tests.clock import FakeClock

from ..chat.chatclient import ChatClient
from .conftest import StartNode, restart_redis, wait_for
from .mqttclient import Client, close_all, connected
from .test_multinode_chat import acked, members

LOST = "$aws/events/presence/disconnected/+"


def fanout(node: Node) -> RedisFanout:
    f = node.fanout  # type: ignore[attr-defined]
    assert isinstance(f, RedisFanout) and f.reaper is not None
    return f


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Wait for a state the nodes reach on their own (a write to Redis), with a deadline."""
    end = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def next_event(watcher: Client) -> dict[str, Any]:
    ev: dict[str, Any] = json.loads((await watcher.next_message()).payload)
    return ev


async def test_a_silent_node_is_reaped_once_and_fenced_when_it_comes_back(
        cluster: StartNode, redis_url: str) -> None:
    # The reapers tick when the test says so (the interval outlasts the test), all on one
    # fake clock: node A "stops" by not ticking while the clock moves.
    slow = {"heartbeat_interval": 60.0, "node_timeout": 120.0}
    a, b, c = [await cluster(n, **slow) for n in ("node-a", "node-b", "node-c")]
    clock = FakeClock(time.time())
    for n in (a, b, c):
        fanout(n).reaper.clock = clock  # type: ignore[union-attr]
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    registry = RedisRegistry(client)
    ida = fanout(a).node_id
    assert a.mqtt_port and b.mqtt_port
    watcher = await connected(b.mqtt_port, "watcher")
    alice = await connected(a.mqtt_port, "alice")
    ann = await connected(a.mqtt_port, "ann")
    bob = await connected(b.mqtt_port, "bob")
    try:
        await watcher.subscribe(LOST)
        await until(lambda: has_records(registry, ida, {"alice", "ann"}))

        async def tick(*nodes: Node) -> None:
            for n in nodes:
                await fanout(n).reaper.tick()  # type: ignore[union-attr]

        await tick(a, b, c)
        clock.advance(61)  # A is silent for longer than node_timeout; B and C beat on
        await tick(b, c)
        clock.advance(60)
        await tick(b, c)
        lost = sorted([await next_event(watcher), await next_event(watcher)],
                      key=lambda e: str(e["clientId"]))
        assert [e["clientId"] for e in lost] == ["alice", "ann"]
        for e in lost:
            assert e["eventType"] == "disconnected"
            assert e["disconnectReason"] == "CONNECTION_LOST"
            assert e["clientInitiatedDisconnect"] is False
        # exactly one survivor reaped it
        assert [fanout(n).counters["reaped_nodes"] for n in (b, c)] == [1, 0]
        assert fanout(b).counters["lost_clients"] == 2
        assert ida not in await registry.beats()
        assert await registry.clients(ida) == {}
        assert bob.messages.empty()  # bob's own connection on B is untouched

        # A was only slow: its next beat says it was reaped; it closes its connections
        # (announced as lost) and registers again
        await tick(a)
        assert await alice.next_disconnect() == 0x98
        assert await ann.next_disconnect() == 0x98
        fa = fanout(a)
        assert fa.counters["fenced"] == 1 and not fa.reaper.watch.fenced  # type: ignore[union-attr]
        assert ida in await registry.beats()
        ends = {(e["clientId"], e["disconnectReason"])
                for e in [await next_event(watcher), await next_event(watcher)]}
        assert ends == {("alice", "SERVER_INITIATED_DISCONNECT"),
                        ("ann", "SERVER_INITIATED_DISCONNECT")}
        await until(lambda: has_records(registry, ida, set()))
        # and works as before: a client that connects again is recorded, nobody reaps
        alice2 = await connected(a.mqtt_port, "alice")
        try:
            await until(lambda: has_records(registry, ida, {"alice"}))
            clock.advance(1)
            await tick(a, b, c)
            assert sum(fanout(n).counters["reaped_nodes"] for n in (a, b, c)) == 1
            assert fanout(a).counters["fenced"] == 1
        finally:
            alice2.close()
    finally:
        close_all(watcher, bob)
        alice.mqtt.loop_stop()
        ann.mqtt.loop_stop()
        await client.aclose()


async def has_records(registry: RedisRegistry, node: str, cids: set[str]) -> bool:
    return set(await registry.clients(node)) == cids


@pytest.fixture
def killable(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(10)


def start_serve(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """``hubbub serve`` in its own process; its URL, read from what it prints."""
    conf = tmp_path / "a.toml"
    conf.write_text("[app]\npresenceDebounceSeconds = 0\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hubbub.cli", "serve", "--config", str(conf)],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    for line in proc.stdout:  # blocks until the node says where it listens (or dies)
        text = line.decode()
        if text.startswith("hubbub is running: open "):
            url = text.split("open ", 1)[1].strip()
            return proc, url.rsplit("/", 1)[0]
    raise AssertionError(f"hubbub serve exited with {proc.wait()}")


async def test_a_killed_node_s_clients_leave_the_rooms_of_the_surviving_node(
        cluster: StartNode, redis_url: str, postgres_dsn: str, tmp_path: Path,
        killable: list[subprocess.Popen[bytes]]) -> None:
    fast = {"heartbeat_interval": 0.1, "node_timeout": 1.0}
    b = await cluster("node-b", **fast)
    env = {"HUBBUB_HOST": "127.0.0.1", "HUBBUB_PORT": "0", "HUBBUB_MQTT_PORT": "0",
           "HUBBUB_DATA": str(tmp_path / "node-a"), "HUBBUB_FANOUT": "redis",
           "HUBBUB_REDIS_URL": redis_url, "HUBBUB_STREAM_ENGINE": "redis",
           "HUBBUB_TABLE_ENGINE": "postgres", "HUBBUB_POSTGRES_DSN": postgres_dsn,
           "HUBBUB_HEARTBEAT_INTERVAL": "0.1", "HUBBUB_NODE_TIMEOUT": "1.0",
           "HUBBUB_LOG_LEVEL": "warning"}
    proc, url_a = await asyncio.to_thread(start_serve, tmp_path, env)
    killable.append(proc)
    assert b.mqtt_port
    alice = await ChatClient.create(url_a)
    bob = await ChatClient.create(b.url)
    watcher = await connected(b.mqtt_port, "watcher")
    try:
        assert await alice.connect() == 0 and await bob.connect() == 0
        await watcher.subscribe(LOST)
        await alice.join("lobby", "alice")
        await acked(alice)
        await bob.join("lobby", "bob")
        await acked(bob)
        await bob.expect(members({"alice", "bob"}))

        proc.send_signal(signal.SIGKILL)  # no shutdown path: no disconnected event
        await asyncio.to_thread(proc.wait, 10)
        ev = await next_event(watcher)
        assert ev["clientId"] == alice.client_id and ev["eventType"] == "disconnected"
        assert ev["disconnectReason"] == "CONNECTION_LOST"
        assert ev["clientInitiatedDisconnect"] is False
        # the ChatPresence rule ran on B: its presence function dropped alice from the room
        await bob.expect(members({"bob"}))
        fb = fanout(b)
        assert fb.counters["reaped_nodes"] == 1 and fb.counters["lost_clients"] == 1
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(redis_url)
        try:
            registry = RedisRegistry(client)
            assert list(await registry.beats()) == [fb.node_id]
            keys = {k.decode() for k in await client.keys("hubbub:clients:*")
                    if isinstance(k, bytes)}
            assert keys <= {f"hubbub:clients:{fb.node_id}"}
        finally:
            await client.aclose()
    finally:
        close_all(watcher, bob)
        alice.mqtt.loop_stop()


@pytest.fixture
def own_redis() -> Iterator[servers.Server]:
    try:
        with servers.redis_server() as srv:
            yield srv
    except servers.ServerUnavailable as e:
        pytest.skip(f"redis-server unavailable: {e}")


async def test_after_a_redis_outage_a_node_registers_again_and_rewrites_its_records(
        cluster: StartNode, own_redis: servers.Server) -> None:
    a = await cluster("node-a", redis_url=own_redis.url, heartbeat_interval=60.0,
                      node_timeout=120.0)
    fa = fanout(a)
    assert a.mqtt_port and fa.reaper is not None
    import redis.asyncio as aioredis

    stays = await connected(a.mqtt_port, "stays")
    leaves = await connected(a.mqtt_port, "leaves")
    client = aioredis.Redis.from_url(own_redis.url)
    registry = RedisRegistry(client)
    try:
        await until(lambda: has_records(registry, fa.node_id, {"stays", "leaves"}))
        own_redis.process.send_signal(signal.SIGKILL)  # restarted empty (no persistence)
        own_redis.process.wait()
        with pytest.raises(Exception):  # noqa: B017  (whatever redis-py raises: down)
            await fa.reaper.tick()
        assert fa.counters["beats_failed"] == 1
        leaves.close()
        comes = await connected(a.mqtt_port, "comes")
        await wait_for(lambda: not a.broker.is_connected("leaves"))
        restart_redis(own_redis)
        await client.aclose()  # its pooled connection died with the server
        client = aioredis.Redis.from_url(own_redis.url)
        registry = RedisRegistry(client)
        await wait_for(lambda: fa.publishing.is_set())
        await fa.reaper.tick()  # not registered, no trace of a reap: register, rewrite
        assert fa.node_id in await registry.beats()
        await until(lambda: has_records(registry, fa.node_id, {"stays", "comes"}))
        assert fa.counters["fenced"] == 0 and a.broker.is_connected("stays")
        comes.close()
    finally:
        stays.close()
        await client.aclose()
