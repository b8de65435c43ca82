"""Publish/subscribe traffic shared by fan-out and chat: groups of publishers and subscribers.

A group is one topic with P publishing and S subscribed connections (the same ones for
chat rooms). Two measurements on the same connections:

- throughput: publishers send as fast as flow control allows: the TCP write buffer and
  an end-to-end window (at most ``window`` messages per publisher's group not yet
  delivered to every subscriber), so no broker queue grows without bound and QoS 0 losses
  are not hidden behind buffering;
- latency: publishers send at a fixed rate; each payload carries perf_counter_ns at the
  moment of sending, and subscribers in this same process subtract it on receipt.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from bench import mqttwire as mw
from bench import stats
from bench.client import Conn
from bench.context import Context, Result, close_all

BURST = 16  # publishes per write in the throughput loop: fewer syscalls, same bytes
DELIVERY_BUDGET = 10_000  # deliveries in flight across all groups (see PubSub.__init__)
STALL_LIMIT_MS = 20.0  # generator loop stall above which a latency run is repeated
STALL_S = 2.0  # no delivery at all for this long = the broker dropped what is outstanding


class Template(Protocol):
    """What the publisher loops need of a template (mqttwire's or jsonwire's)."""

    qos: int

    def build(self, stamp_ns: int, packet_id: int = 0) -> bytes: ...


#: group index -> (topic the group's subscribers subscribe to, template its publishers use)
GroupMaker = Callable[[int], tuple[str, Template]]
#: (first byte, PUBLISH body) -> (packet id or 0, stamp; 0 = not timed)
StampReader = Callable[[int, bytes], tuple[int, int]]


@dataclass(eq=False)
class Group:
    topic: str
    template: Template
    subscribers: int
    window: int
    sent: int = 0
    delivered: int = 0
    forgiven: int = 0  # deliveries given up on after a stall (counted as lost)
    acked: int = 0
    stalls: int = 0
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def outstanding(self) -> int:
        return self.sent * self.subscribers - self.delivered - self.forgiven

    def blocked(self) -> bool:
        if self.outstanding() > self.window * self.subscribers:
            return True
        return bool(self.template.qos) and self.sent - self.acked > self.window

    def reopened(self) -> bool:
        """Hysteresis: wake a blocked publisher only at half the window, so it sends in
        bursts instead of one wake-up per delivered message."""
        if self.outstanding() > self.window * self.subscribers // 2:
            return False
        return not self.template.qos or self.sent - self.acked <= self.window // 2


class PubSub:
    def __init__(
        self,
        ctx: Context,
        groups: int,
        publishers: int,
        subscribers: int,
        shared: bool,
        qos: int,
        payload: int,
        window: int | None = None,
        make_group: GroupMaker | None = None,
        read_stamp: StampReader = mw.publish_stamp,
    ) -> None:
        """``make_group`` lets a group publish somewhere else than it subscribes (the chat
        path: publish on ``chat/out``, hear ``chat/pub/{room}``) and with other payloads;
        by default group i publishes and subscribes ``bench/{run_id}/g{i}``."""
        self.ctx, self.qos = ctx, qos
        self.read_stamp = read_stamp
        self.n_groups, self.n_pub, self.n_sub, self.shared = groups, publishers, subscribers, shared
        if window is None:
            # ~10,000 deliveries in flight in all: enough to keep a fast broker busy, and
            # a slow one drains it in seconds (per-subscriber windows would let 1,000
            # subscribers x 64 messages queue for 12 s in amqtt).
            window = max(4, DELIVERY_BUDGET // (groups * subscribers))
        self.window = window
        if make_group is None:

            def make_group(i: int) -> tuple[str, Template]:
                topic = f"bench/{ctx.run_id}/g{i}"
                return topic, mw.PublishTemplate(topic, qos, payload)

        self.groups = [Group(*make_group(i), subscribers, window) for i in range(groups)]
        self.pubs: list[tuple[Conn, Group]] = []
        self.conns: list[Conn] = []
        self.samples: list[int] = []
        self.ack_samples: list[int] = []  # publish -> PUBACK (QoS 1, latency run only)
        self._sent_at: dict[tuple[int, int], int] = {}  # (id(conn), packet id) -> send ns
        self.rec_from, self.rec_to = 1 << 63, 0
        self.stopping = False
        self.publisher_errors = 0
        self.acked_since_setup = 0  # every PUBACK, all phases and repeated latency runs

    # setup -----------------------------------------------------------------------------
    async def setup(self) -> Result:
        rss0 = self.ctx.probe.broker_rss()
        t0 = time.perf_counter()
        failures = 0
        for g in self.groups:

            async def sub(conn: Conn, g: Group = g) -> None:
                conn.group = g
                conn.on_publish = self._on_publish
                await conn.mqtt_subscribe(g.topic, self.qos)

            subs, f1 = await self.ctx.connect_many(self.n_sub, setup=sub)
            failures += f1
            self.conns += subs
            if self.shared:
                self.pubs += [(c, g) for c in subs[: self.n_pub]]
            else:
                pubs, f2 = await self.ctx.connect_many(self.n_pub)
                failures += f2
                self.conns += pubs
                self.pubs += [(c, g) for c in pubs]
        for conn, g in self.pubs:
            conn.group = g
            conn.on_puback = self._on_puback
        await asyncio.sleep(0.5)  # let the broker finish subscription bookkeeping before RSS
        rss1 = self.ctx.probe.broker_rss()
        return {
            "connections": len(self.conns),
            "connect_failures": failures,
            "setup_s": round(time.perf_counter() - t0, 2),
            "rss_per_conn_kib": round((rss1 - rss0) / max(1, len(self.conns)) / 1024, 2),
        }

    async def close(self) -> None:
        await close_all(self.conns)

    # callbacks (hot path) --------------------------------------------------------------
    def _on_publish(self, conn: Conn, first: int, body: bytes) -> None:
        g: Group = conn.group  # type: ignore[assignment]
        g.delivered += 1
        if first & 0x06 or self.rec_to:
            packet_id, stamp = self.read_stamp(first, body)
            if packet_id:
                conn.replies.append(mw.puback(packet_id))
            if self.rec_from <= stamp <= self.rec_to:
                self.samples.append(time.perf_counter_ns() - stamp)
        if not g.event.is_set() and g.reopened():
            g.event.set()

    def _on_puback(self, conn: Conn, packet_id: int) -> None:
        g: Group = conn.group  # type: ignore[assignment]
        g.acked += 1
        self.acked_since_setup += 1
        if self._sent_at:
            sent = self._sent_at.pop((id(conn), packet_id), None)
            if sent is not None and self.rec_from <= sent <= self.rec_to:
                self.ack_samples.append(time.perf_counter_ns() - sent)
        if not g.event.is_set() and g.reopened():
            g.event.set()

    # phases ----------------------------------------------------------------------------
    def _reset(self) -> None:
        for g in self.groups:
            g.sent = g.delivered = g.forgiven = g.acked = g.stalls = 0
        self.samples = []
        self.ack_samples = []
        self._sent_at = {}
        self.rec_from, self.rec_to = 1 << 63, 0

    async def _drain(self) -> float:
        """Wait for outstanding deliveries and PUBACKs until all arrived or none arrived for
        STALL_S. PUBACKs too: a PUBACK that waits for a durable store can come after the
        last delivery, and one arriving in the next phase would be counted (and, packet
        ids starting again at 1, timed) there."""
        t0 = time.perf_counter()
        last, last_change = -1, t0
        while time.perf_counter() - t0 < self.ctx.durations.drain_max:
            if all(
                g.outstanding() <= 0 and (not g.template.qos or g.acked >= g.sent)
                for g in self.groups
            ):
                break
            now_total = self._delivered() + sum(g.acked for g in self.groups)
            if now_total != last:
                last, last_change = now_total, time.perf_counter()
            elif time.perf_counter() - last_change > STALL_S:
                break
            await asyncio.sleep(0.02)
        return time.perf_counter() - t0

    def _totals(self) -> dict[str, int]:
        sent = sum(g.sent for g in self.groups)
        expected = sum(g.sent * g.subscribers for g in self.groups)
        delivered = sum(g.delivered for g in self.groups)
        return {
            "publisher_errors": self.publisher_errors,
            "closed_by_broker": sum(1 for c in self.conns if c.closed.done()),
            "published": sent,
            "acked": sum(g.acked for g in self.groups),
            "acked_since_setup": self.acked_since_setup,
            "expected": expected,
            "delivered": delivered,
            "lost": max(0, expected - delivered),
            "stalls": sum(g.stalls for g in self.groups),
        }

    async def throughput(self) -> Result:
        self._reset()
        self.stopping = False
        tasks = [asyncio.ensure_future(self._pump(c, g)) for c, g in self.pubs]
        d = self.ctx.durations
        await asyncio.sleep(d.warmup)
        s0, n0, p0 = self.ctx.probe.snapshot(), self._delivered(), self._published()
        a0 = sum(g.acked for g in self.groups)
        await asyncio.sleep(d.measure)
        s1, n1, p1 = self.ctx.probe.snapshot(), self._delivered(), self._published()
        a1 = sum(g.acked for g in self.groups)
        self.stopping = True
        for g in self.groups:
            g.event.set()
        await asyncio.gather(*tasks)
        await self._drain()
        wall = s1.wall - s0.wall
        return {
            "delivered_per_s": round((n1 - n0) / wall),
            "published_per_s": round((p1 - p0) / wall),
            "acked_per_s": round((a1 - a0) / wall),  # QoS 1: PUBACKs received
            **self._totals(),
            **self.ctx.probe.usage(s0, s1),
        }

    async def latency(self, rate_per_publisher: float, attempts: int = 3) -> Result:
        """The latency run, repeated (up to ``attempts``) while the generator itself stalled
        more than STALL_LIMIT_MS: such a stall is the shared VM's doing, not the broker's,
        and would land in every sample taken during it. The kept run's stall is reported."""
        best: Result | None = None
        for attempt in range(1, attempts + 1):
            result = await self._latency_once(rate_per_publisher)
            result["attempts"] = attempt
            if best is None or result["generator_stall_max_ms"] < best["generator_stall_max_ms"]:
                best = result
            if result["generator_stall_max_ms"] <= STALL_LIMIT_MS:
                break
        assert best is not None
        return best

    async def _latency_once(self, rate_per_publisher: float) -> Result:
        self._reset()
        self.stopping = False
        d = self.ctx.durations
        lags: list[int] = []
        t0 = time.perf_counter_ns() + 50_000_000
        tasks = [
            asyncio.ensure_future(self._paced(c, g, rate_per_publisher, t0, lags))
            for c, g in self.pubs
        ]
        stalls: list[float] = []
        monitor = asyncio.ensure_future(self._watch_loop(stalls))
        self.rec_to = 1 << 63
        await asyncio.sleep(d.warmup)
        self.rec_from = time.perf_counter_ns()
        s0 = self.ctx.probe.snapshot()
        await asyncio.sleep(d.measure)
        self.rec_to = time.perf_counter_ns()
        s1 = self.ctx.probe.snapshot()
        self.stopping = True
        await asyncio.gather(*tasks)
        monitor.cancel()
        await self._drain()
        offered = rate_per_publisher * len(self.pubs) * self.n_sub
        lags.sort()
        acks = stats.latency_summary(self.ack_samples)
        return {
            "offered_deliveries_per_s": round(offered),
            "published_per_s": round(rate_per_publisher * len(self.pubs)),
            **stats.latency_summary(self.samples),
            **{f"puback_{k}": v for k, v in acks.items() if k != "max_ms"},
            "send_lag_p99_ms": round((stats.percentile(lags, 99) or 0) / 1e6, 3),
            "generator_stall_max_ms": round(max(stalls, default=0.0) * 1000, 1),
            **self._totals(),
            **self.ctx.probe.usage(s0, s1),
        }

    async def _watch_loop(self, stalls: list[float]) -> None:
        """Record how late a 5 ms timer fires: a stall of the generator's loop (GC, the
        VM descheduling us) lands in every latency sample taken during it."""
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            stalls.append(time.perf_counter() - t - 0.005)

    def _delivered(self) -> int:
        return sum(g.delivered for g in self.groups)

    def _published(self) -> int:
        return sum(g.sent for g in self.groups)

    # publisher loops -------------------------------------------------------------------
    async def _pump(self, conn: Conn, g: Group) -> None:
        try:
            await self._pump_loop(conn, g)
        except ConnectionError:
            self.publisher_errors += 1  # the broker closed a publisher: reported, not fatal

    async def _pump_loop(self, conn: Conn, g: Group) -> None:
        tpl, packet_id = g.template, 0
        while not self.stopping:
            if g.blocked():
                g.event.clear()
                seen = g.delivered + g.acked
                try:
                    await asyncio.wait_for(g.event.wait(), STALL_S)
                except TimeoutError:
                    if g.delivered + g.acked == seen:
                        # Nothing at all arrived: the broker dropped what is outstanding.
                        # Count it as lost and reopen the window instead of deadlocking.
                        g.stalls += 1
                        g.forgiven += max(0, g.outstanding())
                        g.acked = g.sent
                continue
            stamp = time.perf_counter_ns()
            if tpl.qos:
                parts = []
                for _ in range(BURST):
                    packet_id = packet_id % 0xFFFF + 1
                    parts.append(tpl.build(stamp, packet_id))
                conn.send(b"".join(parts))
            else:
                conn.send(tpl.build(stamp) * BURST)
            g.sent += BURST
            await conn.drained()
            await asyncio.sleep(0)  # subscribers share this loop: let them read

    async def _paced(self, conn: Conn, g: Group, rate: float, t0: int, lags: list[int]) -> None:
        try:
            await self._paced_loop(conn, g, rate, t0, lags)
        except ConnectionError:
            self.publisher_errors += 1

    async def _paced_loop(
        self, conn: Conn, g: Group, rate: float, t0: int, lags: list[int]
    ) -> None:
        interval = int(1e9 / rate)
        due = t0 + random.randrange(interval)  # spread publishers over the interval
        tpl, packet_id = g.template, 0
        while not self.stopping:
            now = time.perf_counter_ns()
            if due > now:
                await asyncio.sleep((due - now) / 1e9)
                now = time.perf_counter_ns()
            lags.append(now - due)
            packet_id = packet_id % 0xFFFF + 1
            if tpl.qos:
                self._sent_at[(id(conn), packet_id)] = now
            # Stamp with the real send time; send_lag_p99 shows when we fell behind schedule.
            conn.send(tpl.build(now, packet_id))
            g.sent += 1
            due += interval
