"""Fan-out between nodes over Redis pub/sub (redis-py's asyncio client).

One channel for every message (``hubbub:fanout``), not one per topic hash: every node
needs every message (any node may hold a subscriber), so sharding would not cut what a
node reads, only add channels; one channel keeps a node's messages in the order it
accepted them, which Redis preserves per connection and channel. On Redis Cluster,
sharded pub/sub (SPUBLISH) would be the way to spread the load; see docs/multinode.md.

Send path (``on_publish``, synchronous, on the event loop): encode the message once
(codec.encode_message) and append it to a bounded pending list. One sender task takes
everything pending, packs it into batches and writes them with one pipelined round trip
(HSET of retained messages, then PUBLISH of the batch). While that round trip is in
flight new messages accumulate, so batches grow with the load without a timer: one
message per round trip when idle, thousands under a burst. QoS 0 is never awaited; a
QoS 1/2 message returns a future that completes once its batch was written (or counted
as unshared), which the broker chains before the PUBACK: Redis's speed is the client's
back-pressure. The future never fails: a Redis outage must not fail local publishes.

Receive path: one task reads the channel and hands each batch to ``inbound.Inbound``
(skips our own batches by node id, routes the others' with ``Broker.route``, newest-wins
for retained messages, cross-node takeover) as it is read (no queue of ours: the bound is Redis's
``client-output-buffer-limit pubsub``, beyond which Redis cuts the subscriber off; we
reconnect and count the missed sequence numbers in ``gaps``).

Retained messages are also kept in the hash ``hubbub:retained`` (topic -> encoded
message, a deletion as an empty payload so that "newest wins" also holds for deletes),
loaded at start and after every reconnect.

While Redis is unreachable, local delivery goes on; what could not be shared is counted
in ``unshared``, and both connections retry with exponential backoff.

Liveness (reaper.py, registry.py): the node beats in Redis and records the client ids it
holds (``hubbub:clients:{node}``, written in the sender's pipeline, in the order of its
lifecycle events, rewritten whole after an outage); the survivors publish a dead node's
clients' CONNECTION_LOST disconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from hubbub.broker.broker import Broker
from hubbub.broker.hooks import Identity
from hubbub.broker.lifecycle import RESERVED_PREFIX
from hubbub.broker.message import Message
from hubbub.errors import ConfigError, UsageError
from hubbub.fanout.codec import (
    MAX_BATCH,
    created_at_of,
    encode_batch,
    encode_message,
)
from hubbub.fanout.inbound import Inbound
from hubbub.fanout.reaper import Reaper
from hubbub.fanout.records import ClientRecords, close_all
from hubbub.fanout.registry import RedisRegistry
from hubbub.fanout.takeover import Ownership

try:
    import redis.asyncio as aioredis
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError
    from redis.retry import Retry
except ImportError:  # pragma: no cover - the "redis" extra is not installed
    aioredis = None  # type: ignore[assignment]
    RedisError = OSError  # type: ignore[assignment,misc]

log = logging.getLogger("hubbub.fanout")

#: Messages waiting for the sender; beyond this they are counted as unshared.
MAX_PENDING = 10_000
#: Bytes waiting for the sender (payloads up to 128 KiB make the count alone too loose).
MAX_PENDING_BYTES = 16 * 1024 * 1024
#: A batch's size cap: Redis takes up to 512 MB, but big batches delay the first message.
MAX_BATCH_BYTES = 256 * 1024
#: Reconnect backoff: first wait and cap (seconds), doubled with jitter in between.
BACKOFF = (0.05, 5.0)
#: How long stop() waits for the last pending messages to be written.
STOP_FLUSH_S = 2.0
#: Connect and command timeouts: a hung Redis must not hold PUBACKs forever.
CONNECT_TIMEOUT_S = 2.0
COMMAND_TIMEOUT_S = 5.0

_DOWN = (RedisError, OSError, asyncio.TimeoutError)

#: HSET only if not older than what the hash holds: newest wins in Redis as on the nodes
#: when two nodes write one topic, or a node writes back after an outage. An entry is an
#: encoded message: a flags byte, then created_at as a big-endian double (codec.py).
SET_IF_NEWER = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and struct.unpack('>d', string.sub(cur, 2, 9)) >
           struct.unpack('>d', string.sub(ARGV[2], 2, 9)) then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""
#: Retained topics changed while they could not be shared, written back on reconnect.
MAX_DIRTY = 10_000
#: Liveness defaults (Config.heartbeat_interval, Config.node_timeout), seconds.
HEARTBEAT_INTERVAL = 2.0
NODE_TIMEOUT = 10.0


class RedisFanout:
    """Shares accepted messages through Redis pub/sub; see the module docstring."""

    def __init__(self, url: str, *, node_id: str, channel: str = "hubbub:fanout",
                 retained_key: str = "hubbub:retained", max_pending: int = MAX_PENDING,
                 max_pending_bytes: int = MAX_PENDING_BYTES,
                 max_batch_bytes: int = MAX_BATCH_BYTES,
                 backoff: tuple[float, float] = BACKOFF,
                 heartbeat_interval: float = HEARTBEAT_INTERVAL,
                 node_timeout: float = NODE_TIMEOUT,
                 clock: Callable[[], float] | None = None) -> None:
        if aioredis is None:
            raise UsageError("the redis fan-out needs redis: pip install hubbub[redis]")
        if not url:
            raise ConfigError("the redis fan-out needs redis_url")
        self._url = url
        self._node = node_id
        self._channel = channel
        self._retained_key = retained_key
        self._max_pending = max_pending
        self._max_pending_bytes = max_pending_bytes
        self._max_batch_bytes = max_batch_bytes
        self._backoff = backoff
        if not 0 < heartbeat_interval < node_timeout:
            raise ConfigError("heartbeat_interval: more than 0 and less than node_timeout")
        self._heartbeat = heartbeat_interval
        self._node_timeout = node_timeout
        self._clock = clock
        self.reaper: Reaper | None = None
        self._registry: RedisRegistry | None = None
        self._broker: Broker | None = None
        self._inbound: Inbound | None = None
        self._pub: Any = None
        self._sub: Any = None
        #: (encoded message, topic if retained)
        self._pending: list[tuple[bytes, str | None]] = []
        self._pending_bytes = 0
        self._acked: asyncio.Future[None] | None = None  # QoS>0 of the pending list
        self._wake = asyncio.Event()
        self._seq = 0
        self._ownership = Ownership(node_id)
        self._records = ClientRecords(self._ownership, node_id)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._idle = asyncio.Event()  # nothing pending and nothing being written
        self._idle.set()
        self._pubsub: Any = None
        #: retained topic -> when it changed, to write back on reconnect (MAX_DIRTY)
        self._dirty: dict[str, float] = {}
        #: Set while the publishing connection works (else messages are counted, not
        #: queued) and while the subscriber is subscribed; tests and health checks wait.
        self.publishing = asyncio.Event()
        self.subscribed = asyncio.Event()
        self.counters: dict[str, int] = dict.fromkeys(
            ("shared", "batches_out", "unshared", "received", "batches_in", "gaps",
             "bad_batches", "reconnects", "retained_loaded", "takeovers"), 0)

    @property
    def node_id(self) -> str:
        return self._node

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self, broker: Broker) -> None:
        """Connect both sides and load the retained messages; ``ConfigError`` if Redis
        cannot be reached now (a node should not start half-connected)."""
        self._broker = broker
        self._inbound = Inbound(broker, self._node, self._ownership, self.counters)
        options: dict[str, Any] = dict(socket_connect_timeout=CONNECT_TIMEOUT_S,
                                       retry=Retry(NoBackoff(), 0))
        self._pub = aioredis.Redis.from_url(self._url, socket_timeout=COMMAND_TIMEOUT_S,
                                            **options)
        # No read timeout on the subscriber: it waits for messages; TCP keepalive notices
        # a peer that vanished without closing.
        self._sub = aioredis.Redis.from_url(self._url, socket_keepalive=True, **options)
        try:
            await self._pub.ping()
            pubsub = await self._subscribe()
        except _DOWN as exc:
            await self._close_clients()
            raise ConfigError(f"redis fan-out: cannot reach {self._url}: {exc}") from None
        self._registry = RedisRegistry(self._pub)
        clock: Callable[[], float] = self._clock or getattr(broker, "clock", None) or time.time
        self.reaper = Reaper(
            self._registry, self._node, clock=clock,
            interval=self._heartbeat, timeout=self._node_timeout,
            publish=lambda events: self._records.publish_lost(broker, events),
            close_all=lambda: close_all(broker), resync=self._resync,
            held_here=self._ownership.since, counters=self.counters, errors=_DOWN)
        try:
            await self.reaper.tick()  # registered before the first client connects
        except _DOWN as exc:
            with contextlib.suppress(*_DOWN):
                await pubsub.aclose()
            await self._close_clients()
            raise ConfigError(f"redis fan-out: cannot reach {self._url}: {exc}") from None
        self.publishing.set()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._send_loop(), name="hubbub-fanout-send"),
                       loop.create_task(self._receive_loop(pubsub), name="hubbub-fanout-recv"),
                       loop.create_task(self.reaper.run(), name="hubbub-fanout-liveness")]

    async def stop(self) -> None:
        if self.publishing.is_set() and not self._idle.is_set():
            # Let what is pending or being written go out (bounded): the broker shut down
            # first, so its last lifecycle events are in there.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), STOP_FLUSH_S)
        # redis-py can swallow a cancellation that lands inside a pipeline's execute, so
        # the loops also check this flag and the wait below is bounded.
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=STOP_FLUSH_S)
        self._tasks = []
        if self._pubsub is not None:
            with contextlib.suppress(*_DOWN):
                await self._pubsub.aclose()
        if self._registry is not None:
            # A clean stop is not a death: no one publishes our clients' ends (the
            # broker's shutdown did, with SERVER_INITIATED_DISCONNECT).
            with contextlib.suppress(*_DOWN):
                await asyncio.wait_for(self._registry.leave(self._node), STOP_FLUSH_S)
        self._drop_pending()
        await self._close_clients()

    async def _close_clients(self) -> None:
        for client in (self._pub, self._sub):
            if client is not None:
                with contextlib.suppress(*_DOWN):
                    await client.aclose()
        self._pub = self._sub = None

    def stats(self) -> dict[str, int]:
        out = dict(self.counters)
        out.update(pending=len(self._pending), redis_up=int(self.publishing.is_set()),
                   owned_clients=len(self._ownership))
        return out

    # --- send -------------------------------------------------------------------------

    def on_publish(self, msg: Message, origin: Identity | None) -> Awaitable[None] | None:
        if origin is None and msg.topic.startswith(RESERVED_PREFIX) and \
                self._records.own_event(msg.topic, msg.payload, self.publishing.is_set()):
            self._wake.set()
            self._idle.clear()
        if self._stopping or not self.publishing.is_set() \
                or len(self._pending) >= self._max_pending \
                or self._pending_bytes >= self._max_pending_bytes:
            self.counters["unshared"] += 1
            if msg.retain and len(self._dirty) < MAX_DIRTY:
                self._dirty[msg.topic] = msg.created_at
            return None
        data = encode_message(msg)
        self._pending.append((data, msg.topic if msg.retain else None))
        self._pending_bytes += len(data)
        self._wake.set()
        self._idle.clear()
        if not msg.qos:
            return None
        if self._acked is None:
            self._acked = asyncio.get_running_loop().create_future()
        return self._acked

    def _resync(self) -> None:
        self._records.reset = True
        self._wake.set()
        self._idle.clear()

    async def _send_loop(self) -> None:
        while not self._stopping:
            if not (self._pending or self._records.pending):
                self._idle.set()
                await self._wake.wait()
            self._wake.clear()
            while (self._pending or self._records.pending) and not self._stopping:
                items, done = self._pending, self._acked
                self._pending, self._pending_bytes, self._acked = [], 0, None
                try:
                    await self._send(items)
                except _DOWN as exc:
                    self._records.lost()
                    self.publishing.clear()
                    self.counters["unshared"] += len(items)
                    self._mark_dirty(items + self._pending)
                    log.warning("redis fan-out: publishing failed (%s); local delivery "
                                "goes on, reconnecting", exc)
                    self._drop_pending()
                    _resolve(done)
                    await self._reconnect_publisher()
                except Exception:  # a bug, not Redis: say it loudly, keep the loop alive
                    self.counters["unshared"] += len(items)
                    log.exception("redis fan-out: sending a batch failed")
                finally:
                    _resolve(done)  # also when cancelled: a PUBACK must not wait for good

    async def _send(self, items: list[tuple[bytes, str | None]]) -> None:
        """Everything pending, in order, in one pipelined round trip."""
        pipe = self._pub.pipeline(transaction=False)
        assert self._registry is not None
        self._records.queue(self._registry, pipe)
        if not items:
            await pipe.execute()
            return
        batch: list[bytes] = []
        size = 0
        count = 0
        for data, retained_topic in items:
            if retained_topic is not None:
                pipe.eval(SET_IF_NEWER, 1, self._retained_key, retained_topic, data)
            if batch and (size + len(data) > self._max_batch_bytes or len(batch) >= MAX_BATCH):
                self._publish_batch(pipe, batch)
                count += 1
                batch, size = [], 0
            batch.append(data)
            size += len(data)
        self._publish_batch(pipe, batch)
        await pipe.execute()
        self.counters["batches_out"] += count + 1
        self.counters["shared"] += len(items)

    def _publish_batch(self, pipe: Any, batch: list[bytes]) -> None:
        pipe.publish(self._channel, encode_batch(self._node, self._seq, batch))
        self._seq += len(batch)

    def _mark_dirty(self, items: list[tuple[bytes, str | None]]) -> None:
        for data, topic in items:
            if topic is not None and len(self._dirty) < MAX_DIRTY:
                self._dirty[topic] = created_at_of(data)

    def _drop_pending(self) -> None:
        self.counters["unshared"] += len(self._pending)
        self._pending, self._pending_bytes = [], 0
        _resolve(self._acked)
        self._acked = None

    async def _reconnect_publisher(self) -> None:
        delay = self._backoff[0]
        while True:
            await asyncio.sleep(delay * (0.5 + random.random() / 2))
            try:
                await self._pub.ping()
            except _DOWN:
                delay = min(delay * 2, self._backoff[1])
                continue
            self.publishing.set()
            self.counters["reconnects"] += 1
            log.info("redis fan-out: publishing again")
            self._write_back_retained()
            return

    def _write_back_retained(self) -> None:
        """Share again the retained messages (and deletions) of the outage: the hash and
        the other nodes keep them only if nothing newer came meanwhile."""
        broker = self._broker
        assert broker is not None
        dirty, self._dirty = self._dirty, {}
        for topic, changed_at in dirty.items():
            # What the broker holds now; nothing means it was deleted at changed_at.
            msg = broker.retained.get(topic) or Message(topic, b"", 0, True,
                                                       created_at=changed_at)
            data = encode_message(msg)
            self._pending.append((data, topic))
            self._pending_bytes += len(data)
        if dirty:
            self._idle.clear()

    # --- receive ----------------------------------------------------------------------

    async def _subscribe(self) -> Any:
        """Subscribe first, then read the retained hash: a retained message set in
        between arrives on the channel too, and newest-wins keeps the right one."""
        pubsub = self._sub.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._channel)
            await self._load_retained()
        except BaseException:
            with contextlib.suppress(*_DOWN):
                await pubsub.aclose()
            raise
        self.subscribed.set()
        return pubsub

    async def _receive_loop(self, pubsub: Any) -> None:
        inbound = self._inbound
        assert inbound is not None
        delay = self._backoff[0]
        while not self._stopping:
            try:
                if pubsub is None:
                    pubsub = await self._subscribe()
                    self.counters["reconnects"] += 1
                    log.info("redis fan-out: receiving again")
                delay = self._backoff[0]
                self._pubsub = pubsub
                async for item in pubsub.listen():
                    if self._stopping:
                        return
                    if item.get("type") == "message":
                        inbound.deliver(item["data"])
                raise ConnectionError("subscription ended")
            except Exception as exc:  # Redis lost (_DOWN) or a bug: both reconnect
                self.subscribed.clear()
                if not isinstance(exc, _DOWN):  # a bug, not Redis: loudly, then go on
                    log.exception("redis fan-out: receiving failed")
                if pubsub is not None:
                    log.warning("redis fan-out: subscriber lost (%s); reconnecting", exc)
                    with contextlib.suppress(*_DOWN):
                        await pubsub.aclose()
                    pubsub = None
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
                delay = min(delay * 2, self._backoff[1])

    async def _load_retained(self) -> None:
        assert self._inbound is not None
        self._inbound.load_retained(await self._sub.hgetall(self._retained_key))


def _resolve(fut: asyncio.Future[None] | None) -> None:
    if fut is not None and not fut.done():
        fut.set_result(None)
