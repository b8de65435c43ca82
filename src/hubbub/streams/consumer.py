"""The asyncio shell around the batcher: reads a stream, invokes a function with batches in
Kinesis event shape, checkpoints, retries, and sends what keeps failing to a destination.

One task per shard (one batch in flight per shard). A task waits for new records on the
engine's in-process wake-up, so a record put in this process reaches the function without
a polling delay; ``poll_interval`` bounds the wait for records put by other processes.

Keeping up while the ingest keeps the event loop busy: every ``await`` of a shard task
waits its turn behind all the connections' work of one loop iteration, so the task
awaits as little per batch as it can. Reads near the tail come from the engine's memory
(SQLite's tail cache). The checkpoint write is not awaited before the next batch: it
goes in order behind the ingest's appends on the engine's writer while the next batch
is read and delivered; the following checkpoint (and going idle, and stopping) waits for
it first, so checkpoints stay in order and ``wait_caught_up`` still means "stored". A
crash before it is stored delivers the batch again: at least once, as before. The shard
task also tells the engine what it consumed, which is what bounds the backlog
(``BacklogBound``): the ingest is shed before the consumer falls further behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from hubbub.errors import UsageError
from hubbub.streams.base import StreamEngine, check_consumer
from hubbub.streams.batcher import (
    Batch,
    BatchSettings,
    EventSource,
    Failed,
    Outcome,
    ShardBatcher,
    Succeeded,
    failure_record,
    kinesis_event,
    outcome_from_response,
)

log = logging.getLogger("hubbub.streams")

Invoke = Callable[[dict[str, Any]], Awaitable[Any]]
OnFailure = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class ConsumerStats:
    invocations: int = 0
    records_delivered: int = 0  # records in invocations, retries included
    records_checkpointed: int = 0
    batches_failed: int = 0
    records_discarded: int = 0  # sent to the on-failure destination
    engine_errors: int = 0
    checkpoint_errors: int = 0  # checkpoint writes that failed (the next one covers them)
    iterator_age_ms: dict[str, float] = field(default_factory=dict)  # per shard, last batch


class StreamConsumer:
    """Feeds ``invoke`` (a function taking a Kinesis event) from ``stream`` as ``consumer``.

    ``clock`` returns epoch seconds; ``starting_position`` applies when the consumer has no
    checkpoint yet (Lambda's TRIM_HORIZON or LATEST); ``invoke_timeout`` (seconds) turns a
    hung invocation into a failed one; ``retry_delay`` waits between attempts of a failing
    batch (0: retry at once).
    """

    def __init__(self, engine: StreamEngine, stream: str, consumer: str, invoke: Invoke, *,
                 settings: BatchSettings | None = None, on_failure: OnFailure | None = None,
                 source: EventSource | None = None,
                 starting_position: Literal["TRIM_HORIZON", "LATEST"] = "TRIM_HORIZON",
                 poll_interval: float = 1.0, invoke_timeout: float | None = None,
                 retry_delay: float = 0.0, clock: Callable[[], float] = time.time) -> None:
        if starting_position not in ("TRIM_HORIZON", "LATEST"):
            raise UsageError(f"unknown starting position {starting_position!r}")
        self.engine = engine
        self.stream = stream
        self.consumer = check_consumer(consumer)
        self.invoke = invoke
        self.settings = settings or BatchSettings()
        self.on_failure = on_failure
        self.source = source or EventSource(stream, function_name=consumer)
        self.starting_position = starting_position
        self.poll_interval = poll_interval
        self.invoke_timeout = invoke_timeout
        self.retry_delay = retry_delay
        self.clock = clock
        self.stats = ConsumerStats()
        self._tasks: list[asyncio.Task[None]] = []
        # shard -> engine generation it last went idle at (None: busy); for wait_caught_up
        self._idle: dict[str, int | None] = {}
        self._changed = asyncio.Event()
        self._checkpoints: dict[str, asyncio.Task[None]] = {}  # per shard: its writer
        self._wanted: dict[str, str] = {}  # per shard: checkpoint decided, not yet written

    async def start(self) -> None:
        if self._tasks:
            raise UsageError("consumer already started")
        sids = self.engine.shard_ids(self.stream)  # BadRequest if there is no stream
        self.engine.attach_consumer(self.stream, self.consumer)
        for sid in sids:
            self._idle[sid] = None
            self._tasks.append(asyncio.create_task(
                self._run_shard(sid), name=f"stream-consumer:{self.stream}:{sid}"))

    async def stop(self) -> None:
        """Cancel the shard tasks; a batch in flight is delivered again after restart
        (its checkpoint was not stored: at least once)."""
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for sid in list(self._checkpoints):  # a checkpoint already decided is kept
            await self._checkpoint_written(sid)
        if tasks:
            self.engine.detach_consumer(self.stream, self.consumer)

    @property
    def running(self) -> bool:
        return any(not t.done() for t in self._tasks)

    def _now_ms(self) -> float:
        return self.clock() * 1000.0

    async def _run_shard(self, sid: str) -> None:
        batcher = ShardBatcher(sid, self.settings)
        position = await self._start_position(sid)
        while True:
            seen = self.engine.generation(self.stream, sid)
            more = False
            try:
                room = min(batcher.room(), 10_000)
                if room:
                    records = await self.engine.read(self.stream, sid, position, room)
                    if records:
                        position = records[-1].sequence_number
                        batcher.offer(records, self._now_ms())
                        more = len(records) == room
                batch = batcher.next_batch(self._now_ms())
                if batch is not None:
                    await self._deliver(batcher, batch)
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                # The engine failed (Redis gone, disk error): count it, say it, retry later.
                self.stats.engine_errors += 1
                log.exception("stream consumer %s on %s/%s", self.consumer, self.stream, sid)
                await asyncio.sleep(self.poll_interval)
                continue
            if more:
                continue
            deadline = batcher.deadline()
            timeout = self.poll_interval
            if deadline is not None:
                timeout = max(0.0, min(timeout, (deadline - self._now_ms()) / 1000.0))
            await self._checkpoint_written(sid)
            self._set_idle(sid, seen)
            await self.engine.wait(self.stream, sid, seen, timeout)
            self._idle[sid] = None

    def _set_idle(self, sid: str, generation: int | None) -> None:
        self._idle[sid] = generation
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_caught_up(self) -> None:
        """Return once every shard has handled (checkpointed or discarded) all records put
        in this process so far and waits for more. For tests and orderly shutdown."""
        while True:
            if not self._tasks:
                raise UsageError("consumer not started")
            if all(g is not None and g == self.engine.generation(self.stream, sid)
                   for sid, g in self._idle.items()):
                return
            if not self.running:
                raise UsageError("consumer stopped")
            await self._changed.wait()

    async def _start_position(self, sid: str) -> str | None:
        while True:
            try:
                position = await self.engine.get_checkpoint(self.stream, self.consumer, sid)
                if position is None and self.starting_position == "LATEST":
                    position = await self.engine.latest_sequence(self.stream, sid)
                return position
            except Exception:
                self.stats.engine_errors += 1
                log.exception("stream consumer %s: reading the checkpoint", self.consumer)
                await asyncio.sleep(self.poll_interval)

    async def _deliver(self, batcher: ShardBatcher, batch: Batch) -> None:
        if batch.attempt > 1 and self.retry_delay > 0:
            await asyncio.sleep(self.retry_delay)
        event = kinesis_event(self.source, batch.records)
        self.stats.invocations += 1
        self.stats.records_delivered += len(batch.records)
        self.stats.iterator_age_ms[batch.shard_id] = max(
            0.0, self._now_ms() - batch.records[-1].arrival * 1000.0)
        outcome: Outcome
        try:
            if self.invoke_timeout is not None:
                response = await asyncio.wait_for(self.invoke(event), self.invoke_timeout)
            else:
                response = await self.invoke(event)
            outcome = outcome_from_response(response, self.settings.report_item_failures)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the function failed: the batcher decides how to retry
            log.warning("stream function %s failed on %s (attempt %d): %r",
                        self.source.function_name, batch.shard_id, batch.attempt, e)
            outcome = Failed(f"{type(e).__name__}: {e}")
        if not isinstance(outcome, Succeeded):
            self.stats.batches_failed += 1
        decision = batcher.complete(batch, outcome)
        if decision.discarded is not None and decision.discarded.records:
            self.stats.records_discarded += len(decision.discarded.records)
            if self.on_failure is not None:
                payload = failure_record(self.source, decision.discarded, self.clock(),
                                         str(uuid.uuid4()))
                try:
                    await self.on_failure(payload)
                except Exception:
                    log.exception("on-failure destination of %s", self.source.function_name)
            else:
                log.error("stream function %s: %d records dropped after %d attempts",
                          self.source.function_name, len(decision.discarded.records),
                          decision.discarded.attempts)
        if decision.checkpoint is not None:
            done = _count_until(batch, decision.checkpoint)
            self.engine.consumed(self.stream, self.consumer, batch.shard_id,
                                 batch.records[:done])
            self._checkpoint(batch.shard_id, decision.checkpoint)
            self.stats.records_checkpointed += done

    def _checkpoint(self, sid: str, sequence: str) -> None:
        # The shard's writer task stores the newest checkpoint decided; one write per shard
        # at a time, in order, and a newer one replaces one not yet started.
        self._wanted[sid] = sequence
        task = self._checkpoints.get(sid)
        if task is None or task.done():
            self._checkpoints[sid] = asyncio.create_task(
                self._write_checkpoints(sid), name=f"stream-checkpoint:{self.stream}:{sid}")

    async def _write_checkpoints(self, sid: str) -> None:
        while sid in self._wanted:
            sequence = self._wanted.pop(sid)
            try:
                await self.engine.set_checkpoint(self.stream, self.consumer, sid, sequence)
            except Exception:
                # The batch stays delivered; the shard's next checkpoint covers it, and a
                # restart before that delivers it again (at least once).
                self.stats.checkpoint_errors += 1
                log.exception("stream consumer %s: checkpoint on %s/%s", self.consumer,
                              self.stream, sid)

    async def _checkpoint_written(self, sid: str) -> None:
        """Wait until the checkpoints decided for ``sid`` are stored (or failed)."""
        task = self._checkpoints.get(sid)
        if task is not None and not task.done():
            # shielded: cancelling the shard task must not cancel a write already queued
            await asyncio.shield(task)

    def iterator_age_ms(self) -> dict[str, float]:
        """Per shard, the age of the last record of the latest batch (Lambda's IteratorAge)."""
        return dict(self.stats.iterator_age_ms)


def _count_until(batch: Batch, sequence: str) -> int:
    for i, r in enumerate(batch.records):
        if r.sequence_number == sequence:
            return i + 1
    return 0
