"""The liveness task: beat, notice dead nodes, reap them; fence this node if it was reaped.

Every ``interval`` seconds ``tick()`` beats in the registry and acts on the answer
(liveness.Watch): a node told it was declared dead closes its connections (fence), and
registers again once the reap is over, rewriting its client records. A healthy node then
looks for nodes whose beat is older than ``timeout`` and, for each one whose reap lock it
wins (registry.ELECT), publishes its clients' CONNECTION_LOST disconnects through the
broker (``publish``: the normal path, so rules run here and the fan-out shares them),
then removes its records (registry.FINISH). docs/multinode.md, "When a node dies".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from hubbub.fanout.liveness import (
    Action,
    Beat,
    Watch,
    fresh_nodes,
    lost_connection_events,
    stale_nodes,
)
from hubbub.fanout.registry import Registry

log = logging.getLogger("hubbub.fanout")

#: Publishes a dead node's clients' events through the broker (synchronous).
Publish = Callable[[list[tuple[str, bytes]]], None]


class Reaper:
    """Beats for ``node`` and reaps dead nodes; ``counters`` is the fan-out's dict."""

    def __init__(self, registry: Registry, node: str, *, clock: Callable[[], float],
                 interval: float, timeout: float, publish: Publish,
                 close_all: Callable[[], int], resync: Callable[[], None],
                 held_here: Callable[[str], int | None], counters: dict[str, int],
                 errors: tuple[type[BaseException], ...] = (OSError,)) -> None:
        self.registry = registry
        self.node = node
        self.clock = clock
        self.interval = interval
        self.timeout_ms = int(timeout * 1000)
        self.watch = Watch(self.timeout_ms)
        self._publish = publish
        self._close_all = close_all
        self._resync = resync
        self._held_here = held_here
        self._errors = errors
        self.counters = counters
        for name in ("beats_failed", "fenced", "reaped_nodes", "lost_clients"):
            counters.setdefault(name, 0)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def run(self) -> None:
        """``tick()`` every ``interval`` until cancelled (the first tick is the caller's)."""
        down = False
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.tick()
            except self._errors as exc:
                if not down:  # once per outage: the fan-out says it too
                    log.warning("fan-out liveness: cannot beat (%s); no reaping until "
                                "beats succeed for node_timeout again", exc)
                down = True
                continue
            except Exception:  # a bug: say it loudly, keep beating
                log.exception("fan-out liveness: a tick failed")
            down = False

    async def tick(self) -> None:
        """One beat, then the reap of every node found dead (if this node may reap)."""
        now = self._now_ms()
        try:
            result = await self.registry.beat(self.node, now, self.watch.fenced)
        except self._errors:
            self.watch.beat_failed()
            self.counters["beats_failed"] += 1
            raise
        action = self.watch.on_beat(result, now)
        if action is Action.CLOSE_ALL:
            closed = self._close_all()
            self.counters["fenced"] += 1
            log.warning("fan-out: node %s was declared dead (%s); closed %d connections, "
                        "their clients reconnect", self.node, result.name, closed)
            if result is Beat.REAPED:  # the reap is over: register again at once
                result = await self.registry.beat(self.node, now, True)
                action = self.watch.on_beat(result, now)
        if action is Action.RESYNC:
            self._resync()
        if not self.watch.may_reap(now):
            return
        beats = await self.registry.beats()
        live = fresh_nodes(beats, now, self.timeout_ms)
        for dead in stale_nodes(beats, now, self.timeout_ms, self.node):
            await self._reap(dead, now, live)

    async def _reap(self, dead: str, now: int, live: list[str]) -> None:
        # The lock outlives the reap (milliseconds) by far; if this node dies midway
        # it expires and another one reaps again.
        last = await self.registry.elect(dead, self.node, now, self.timeout_ms,
                                         lock_ms=self.timeout_ms)
        if last is None:
            return  # came back in time, or another node is reaping it
        read_ms = self._now_ms()
        records = await self.registry.clients(dead)
        cids = list(records)
        elsewhere = await self.registry.holders(cids, live)
        for cid in cids:  # connected here, not yet written to the records
            here = self._held_here(cid)
            if here is not None and here > elsewhere.get(cid, -1):
                elsewhere[cid] = here
        events = lost_connection_events(records, elsewhere, read_ms)
        self._publish(events)
        done = await self.registry.finish(dead, self.node)
        self.counters["reaped_nodes"] += 1
        self.counters["lost_clients"] += len(events)
        log.warning("fan-out: node %s missed its beats for %.1f s: published %d "
                    "CONNECTION_LOST disconnects%s", dead, (now - last) / 1000, len(events),
                    "" if done else " (its reap lock expired meanwhile)")
