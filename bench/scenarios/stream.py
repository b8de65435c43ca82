"""The chat stream (issue 6): typing records from many clients through ``chat/stream``,
the ``ChatStream`` rule, the stream engine and the ``stream`` function's micro-batches.

M rooms x K clients. Every client subscribes to ``chat/pub/{room}`` and publishes
``{"type": "typing", "room": r, "user": u}`` on ``chat/stream`` at QoS 1 (the PUBACK
waits for the rule's put into the stream). The user name is the send stamp (jsonwire),
so each room's ``typing`` update says which records its batch held. One client per room
reads the updates (the other K-1 receive them too: the fan-out is part of the cost).

- throughput: clients publish as fast as a window of unacknowledged publishes allows
  (4,000 in flight in all, below the stream engine's put gate of 10,000). Since the
  backlog bound and the ingest limiter (docs/streams.md), a put may wait up to 1 s and
  then be shed; a shed record is acknowledged too, so accepted = acknowledged holds only
  while nothing is shed (``stream-burst`` reads the stored count from the broker's file).
  Reports records/s accepted, records/s the consumer
  got past (streamstats.consumed_between), its lag and its calls per record.
- latency: each client sends RATE_PER_CLIENT records/s; every record's stamp shows up in
  its room's update (at most 20 names per update: the load keeps rooms below that), so
  the latency is publish -> the room's ``typing`` update, including the batching window.

``stream-mixed`` makes every REACTION_EVERY-th record a reaction
``{"type": "reaction", "room", "user", "messageId", "emoji"}`` on a message posted in the
room at setup (the consumer counts reactions in the ``reactions`` table: a read-modify-
write per message and window, and a ``reactions`` update per room).

The batching window comes from the broker variant (``hubbub+window100``), else the app's.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from functools import partial
from importlib import resources

from bench import jsonwire, stats
from bench.client import Conn
from bench.context import Context, Result, close_all
from bench.scenarios.base import Scenario
from bench.streamstats import Timeline, Update, calls_estimate, consumed_between

RATE_PER_CLIENT = 1.0  # records/s per client in the latency run
IN_FLIGHT = 4_000  # unacknowledged publishes in all (the put gate refuses above 10,000)
BURST = 4
QUIET_S = 2.0  # a drain ends when nothing arrived for this long after the last ack
REACTION_EVERY = 4  # stream-mixed: one record in 4 is a reaction
EMOJI = ("👍", "❤️", "😂", "🎉")  # the four the chat accepts (functions/stream.py)


def app_stream() -> tuple[int, int]:
    """(shards, batching window ms) of the chat app's ``chat`` stream."""
    from hubbub.apps import chat

    doc = json.loads(resources.files(chat).joinpath("hubbub.json").read_text())
    stream = doc["streams"]["chat"]
    return int(stream["shards"]), int(stream["consumers"][0]["batchingWindowMs"])


def window_ms(broker: str, default: int) -> int:
    match = re.search(r"\+window(\d+)", broker)
    return int(match.group(1)) if match else default


@dataclass(eq=False)
class Client:
    room: str
    shard: int
    template: jsonwire.JsonTemplate
    window: int
    reaction: jsonwire.JsonTemplate | None = None
    phase: int = 0  # which of every reaction_every records is this client's reaction
    sent: int = 0
    acked: int = 0
    event: asyncio.Event = field(default_factory=asyncio.Event)


class StreamLoad:
    def __init__(self, ctx: Context, rooms: int, per_room: int, reaction_every: int = 0) -> None:
        from hubbub.streams.base import shard_for_key

        self.ctx = ctx
        self.reaction_every = reaction_every
        self.message_ids: dict[str, str] = {}  # room -> id of the message reacted to
        self.reaction_updates = 0
        self.reactions_sent = 0
        self.shards, default_window = app_stream()
        self.window_ms = window_ms(ctx.broker, default_window)
        self.rooms = [f"{ctx.run_id}-r{i}" for i in range(rooms)]
        self.shard_of = {r: shard_for_key(r, self.shards) for r in self.rooms}
        self.per_room = per_room
        self.conns: list[Conn] = []
        self.clients: list[tuple[Conn, Client]] = []
        self.updates: list[Update] = []
        self.timed_updates: list[Update] = []  # latency run: updates naming a timed record
        self.timelines: dict[int, Timeline] = {}
        self.samples: list[int] = []
        self.seen: set[int] = set()
        self.rec_from, self.rec_to = 1 << 63, 0
        self.stopping = False
        self.last_update = 0
        self._tasks: list[asyncio.Future[None]] = []

    async def setup(self) -> Result:
        rss0 = self.ctx.probe.broker_rss()
        t0 = time.perf_counter()
        failures = 0
        window = max(2, IN_FLIGHT // (len(self.rooms) * self.per_room))
        for room in self.rooms:
            payload = json.dumps({"type": "typing", "room": room, "user": jsonwire.SLOT})

            async def sub(conn: Conn, room: str = room) -> None:
                await conn.mqtt_subscribe(f"chat/pub/{room}", 0)

            conns, f = await self.ctx.connect_many(self.per_room, setup=sub)
            failures += f
            if conns:
                conns[0].on_publish = self._on_publish  # the room's reader
            for i, conn in enumerate(conns):
                client = Client(
                    room,
                    self.shard_of[room],
                    jsonwire.JsonTemplate("chat/stream", 1, payload),
                    window,
                )
                if self.reaction_every and conns:
                    client.reaction = await self._reaction_template(conns[0], room, i)
                    client.phase = i % self.reaction_every
                conn.group = client
                conn.on_puback = self._on_puback
                self.clients.append((conn, client))
            self.conns += conns
        await asyncio.sleep(0.5)
        return {
            "connections": len(self.conns),
            "connect_failures": failures,
            "setup_s": round(time.perf_counter() - t0, 2),
            "rss_per_conn_kib": round(
                (self.ctx.probe.broker_rss() - rss0) / max(1, len(self.conns)) / 1024, 2
            ),
        }

    async def _reaction_template(self, reader: Conn, room: str, i: int) -> jsonwire.JsonTemplate:
        """Client i's reaction template; the room's first one posts the message to react to
        (through chat/out, so it is stored) and waits until it comes back with its id."""
        if room not in self.message_ids:
            self.message_ids[room] = ""
            text = json.dumps({"room": room, "message": {"user": "bench", "text": "react"}})
            reader.send(
                jsonwire.JsonTemplate("chat/out", 0, text.replace("react", "{stamp}")).build(0)
            )
            for _ in range(500):
                if self.message_ids[room]:
                    break
                await asyncio.sleep(0.01)
            else:
                raise TimeoutError(f"room {room}: the posted message never came back")
        doc = {
            "type": "reaction",
            "room": room,
            "user": jsonwire.SLOT,
            "messageId": self.message_ids[room],
            "emoji": EMOJI[i % len(EMOJI)],
        }
        return jsonwire.JsonTemplate("chat/stream", 1, json.dumps(doc, ensure_ascii=False))

    def _on_publish(self, conn: Conn, first: int, body: bytes) -> None:
        now = time.perf_counter_ns()
        _, payload = jsonwire.split_publish(first, body)
        update = jsonwire.typing_update(payload)
        if update is None:
            if self.reaction_every:
                self._other(payload)
            return
        if not update[1]:
            return
        room, stamps = update
        self.last_update = now
        timed = False
        for s in stamps:
            if self.rec_from <= s <= self.rec_to and s not in self.seen:
                timed = True
                self.seen.add(s)
                self.samples.append(now - s)
        update_ = Update(self.shard_of.get(room, -1), room, now, min(stamps))
        self.updates.append(update_)
        if timed:
            self.timed_updates.append(update_)

    def _other(self, payload: bytes) -> None:
        try:
            doc = json.loads(payload)
        except ValueError:
            return
        if not isinstance(doc, dict):
            return
        if doc.get("type") == "reactions":
            self.reaction_updates += 1
        elif doc.get("type") == "message" and self.message_ids.get(str(doc.get("room"))) == "":
            self.message_ids[str(doc["room"])] = str(doc.get("id"))

    def _on_puback(self, conn: Conn, packet_id: int) -> None:
        c: Client = conn.group  # type: ignore[assignment]
        c.acked += 1
        if not c.event.is_set() and c.sent - c.acked <= c.window // 2:
            c.event.set()

    def _reset(self) -> None:
        for _, c in self.clients:
            c.sent = c.acked = 0
        self.updates, self.timed_updates, self.samples, self.seen = [], [], [], set()
        self.reaction_updates = 0
        self.reactions_sent = 0
        self.timelines = {s: Timeline() for s in range(self.shards)}
        self.rec_from, self.rec_to = 1 << 63, 0
        self.stopping = False

    def start_pumps(self) -> None:
        """Publish as fast as the window allows until ``stop_pumps`` (stream-burst)."""
        self._reset()
        self._tasks = [asyncio.ensure_future(self._pump(c, cl)) for c, cl in self.clients]

    async def stop_pumps(self) -> None:
        self.stopping = True
        for _, c in self.clients:
            c.event.set()
        await asyncio.gather(*self._tasks)
        self._tasks = []

    def acked(self) -> int:
        return self._acked()

    def sent(self) -> int:
        return self._sent()

    def _acked(self) -> int:
        return sum(c.acked for _, c in self.clients)

    def _sent(self) -> int:
        return sum(c.sent for _, c in self.clients)

    async def _pump(self, conn: Conn, c: Client) -> None:
        packet_id = 0
        while not self.stopping and not conn.closed.done():
            if c.sent - c.acked >= c.window:
                c.event.clear()
                try:
                    await asyncio.wait_for(c.event.wait(), QUIET_S)
                except TimeoutError:
                    pass
                continue
            parts: list[bytes] = []
            for _ in range(min(BURST, c.window - (c.sent - c.acked))):
                stamp = time.perf_counter_ns()  # one stamp per record: distinct user names
                packet_id = packet_id % 0xFFFF + 1
                parts.append(self._template(c, c.sent + len(parts)).build(stamp, packet_id))
                self.timelines[c.shard].add(stamp)
            conn.send(b"".join(parts))
            c.sent += len(parts)
            await conn.drained()
            await asyncio.sleep(0)

    def _template(self, c: Client, n: int) -> jsonwire.JsonTemplate:
        if c.reaction is not None and (n + c.phase) % self.reaction_every == 0:
            self.reactions_sent += 1
            return c.reaction
        return c.template

    async def _paced(self, conn: Conn, c: Client, rate: float, t0: int, offset: int) -> None:
        interval = int(1e9 / rate)
        due, packet_id = t0 + offset % interval, 0
        while not self.stopping and not conn.closed.done():
            now = time.perf_counter_ns()
            if due > now:
                await asyncio.sleep((due - now) / 1e9)
                now = time.perf_counter_ns()
            packet_id = packet_id % 0xFFFF + 1
            conn.send(self._template(c, c.sent).build(now, packet_id))
            self.timelines[c.shard].add(now)
            c.sent += 1
            due += interval

    async def _drain(self) -> float:
        """Until every publish is acknowledged and no update came for QUIET_S + window."""
        t0 = time.perf_counter()
        quiet = QUIET_S + self.window_ms / 1000
        while time.perf_counter() - t0 < self.ctx.durations.drain_max:
            idle = (time.perf_counter_ns() - self.last_update) / 1e9
            if self._acked() >= self._sent() and idle > quiet:
                break
            await asyncio.sleep(0.05)
        return round(time.perf_counter() - t0, 1)

    def _calls(self, updates: list[Update]) -> int:
        return sum(calls_estimate(updates, int(self.window_ms * 1e6 / 4)).values())

    async def throughput(self) -> Result:
        self._reset()
        tasks = [asyncio.ensure_future(self._pump(c, cl)) for c, cl in self.clients]
        d = self.ctx.durations
        await asyncio.sleep(d.warmup)
        s0, a0, t0 = self.ctx.probe.snapshot(), self._acked(), time.perf_counter_ns()
        await asyncio.sleep(d.measure)
        s1, a1, t1 = self.ctx.probe.snapshot(), self._acked(), time.perf_counter_ns()
        self.stopping = True
        for _, c in self.clients:
            c.event.set()
        await asyncio.gather(*tasks)
        t_stop = time.perf_counter_ns()
        drain_s = await self._drain()
        wall = (t1 - t0) / 1e9
        consumed = consumed_between(self.updates, self.timelines, t0, t1)
        calls = self._calls([u for u in self.updates if t0 <= u.received <= t1])
        end = time.perf_counter_ns()
        # The consumer alone: what it got through after the publishers stopped, until its
        # last update (it shares the broker's one core with the ingest until then).
        last = max((u.received for u in self.updates), default=t_stop)
        caught_up = consumed_between(self.updates, self.timelines, t_stop, end)
        catchup_s = max(1e-3, (last - t_stop) / 1e9)
        lags = sorted(u.received - u.oldest for u in self.updates if t0 <= u.received <= t1)
        return {
            "accepted_per_s": round((a1 - a0) / wall),
            "consumed_per_s": round(consumed / wall),
            "function_calls": calls,
            # per record the consumer got past in the window (not per accepted record:
            # when the consumer falls behind, those differ)
            "calls_per_record": round(calls / max(1, consumed), 5),
            "consumed_by_end_of_drain": consumed_between(self.updates, self.timelines, 0, end),
            "catchup_consumed": caught_up,
            "catchup_s": round(catchup_s, 2),
            "catchup_consumed_per_s": round(caught_up / catchup_s) if caught_up else None,
            "consumer_lag_p50_ms": _ms(stats.percentile(lags, 50)),
            "consumer_lag_max_ms": _ms(stats.percentile(lags, 100)),
            "room_updates": sum(1 for u in self.updates if t0 <= u.received <= t1),
            "reaction_updates": self.reaction_updates,
            "published": self._sent(),
            "acked": self._acked(),
            "drain_s": drain_s,
            "closed_by_broker": sum(1 for c in self.conns if c.closed.done()),
            **self.ctx.probe.usage(s0, s1),
        }

    async def latency(self, rate: float) -> Result:
        self._reset()
        d = self.ctx.durations
        t0 = time.perf_counter_ns() + 50_000_000
        spread = int(1e9 / rate) // max(1, len(self.clients))
        tasks = [
            asyncio.ensure_future(self._paced(c, cl, rate, t0, i * spread))
            for i, (c, cl) in enumerate(self.clients)
        ]
        self.rec_to = 1 << 63
        await asyncio.sleep(d.warmup)
        self.rec_from, s0 = time.perf_counter_ns(), self.ctx.probe.snapshot()
        sent0, reactions0 = self._sent(), self.reactions_sent
        await asyncio.sleep(d.measure)
        self.rec_to, s1 = time.perf_counter_ns(), self.ctx.probe.snapshot()
        sent_in_window = self._sent() - sent0
        reactions_in_window = self.reactions_sent - reactions0
        self.stopping = True
        await asyncio.gather(*tasks)
        await self._drain()
        calls = self._calls(self.timed_updates)
        return {
            "offered_records_per_s": round(rate * len(self.clients)),
            "window_ms": self.window_ms,
            **stats.latency_summary(self.samples),
            "records_sent": sent_in_window,
            # typing records only: reactions are counted, not named, in their update
            "typing_sent": sent_in_window - reactions_in_window,
            "records_seen_in_updates": len(self.samples),
            "reaction_updates": self.reaction_updates,
            "function_calls": calls,
            "calls_per_record": round(calls / max(1, sent_in_window), 5),
            "acked": self._acked(),
            "published": self._sent(),
            "closed_by_broker": sum(1 for c in self.conns if c.closed.done()),
            **self.ctx.probe.usage(s0, s1),
        }

    async def close(self) -> None:
        await close_all(self.conns)


def _ms(ns: float | None) -> float | None:
    return None if ns is None else round(ns / 1e6, 1)


async def run(ctx: Context, reaction_every: int = 0, rate: float = RATE_PER_CLIENT) -> Result:
    rooms, per_room = (20, 10) if ctx.quick else (100, 10)
    load = StreamLoad(ctx, rooms, per_room, reaction_every)
    try:
        setup = await load.setup()
        result: Result = {
            "setup": setup,
            "params": {
                "rooms": rooms,
                "clients_per_room": per_room,
                "qos": 1,
                "shards": load.shards,
                "window_ms": load.window_ms,
                "rate_per_client": rate,
                "reaction_every": reaction_every,
            },
        }
        if setup["connect_failures"]:
            return result
        result["throughput"] = await load.throughput()
        result["latency"] = await load.latency(rate)
        return result
    finally:
        await load.close()


STREAM = Scenario(
    "stream",
    "typing records on chat/stream -> rule -> stream -> function -> room updates, QoS 1",
    run,
)
# 3 records/s per client: 3,000/s with 100 rooms x 10, ~60% of what the broker accepts at
# most; does the consumer keep up there? (30 per room per second: at most 15 names per
# update with a 500 ms window, below the 20 an update shows.)
STREAM_3K = Scenario(
    "stream-3k",
    "the stream scenario with the latency run at 3 records/s per client",
    partial(run, rate=3.0),
)
STREAM_MIXED = Scenario(
    "stream-mixed",
    f"the stream scenario with one record in {REACTION_EVERY} a reaction (table writes)",
    partial(run, reaction_every=REACTION_EVERY),
)
