"""Streams of the application and their consumers, on the engine the config chose.

``start_streams`` opens the stream engine (``sqlite``: ``<data>/stream.sqlite3``, a file of
its own so stream puts never contend with table writes for SQLite's one writer lock;
``redis``: ``cfg.redis_url``; ``memory``), creates every declared stream, hands the engine
to ``Services`` (the rules' ``kinesis`` action and the sdk's ``put_record`` reach it
there) and starts one ``StreamConsumer`` per declared consumer, invoking the function
through ``Services.call`` so that the function's sdk calls work.

``Node.housekeep`` trims records past the retention period through ``StreamRuntime``.

Backpressure, two bounds: the engine's put gate refuses a put with ``LimitExceeded`` at
once when too many records wait for storage (``engine.stats.rejected``); the backlog
bound makes a put wait (up to ``MAX_DELAY_S``) while its shard holds ``streamMaxBacklog``
records its consumer has not consumed yet, then sheds it (``engine.stats.delayed``,
``engine.stats.shed``). The rule's kinesis action then fails (the rules engine logs
it and runs the rule's errorAction, if any) and the record is dropped. Nothing waits, so
a burst on ``chat/stream`` cannot hold up ``chat/out`` (other rules, another file), and
the consumer's lag stays bounded by what it has to catch up on, not by the burst.

Consumers start once the node is up (``node.ready``: their function publishes through
the broker). Stop order (``node._stack`` unwinds last-in first-out, and the broker was
pushed after us, so it stops first): consumers (a batch in flight is delivered again
after a restart: at least once), then the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hubbub.app import StreamConsumerDecl, StreamDecl
from hubbub.errors import ConfigError
from hubbub.streams import StreamEngine, create_stream_engine
from hubbub.streams.base import StreamSpec, consumer_lag
from hubbub.streams.batcher import BatchSettings, EventSource
from hubbub.streams.consumer import StreamConsumer
from hubbub.streams.pressure import IngestLimiter

log = logging.getLogger("hubbub.streams")

#: Records waiting for storage before puts are refused (the engine's put gate).
MAX_IN_FLIGHT = 10_000
#: A consumer looks for records put by other processes (other nodes on Redis) this often;
#: records put in this process wake it at once.
POLL_INTERVAL_S = 1.0
#: Application setting that overrides every consumer's batching window (ms), for tests
#: and the benchmark: ``[app] streamBatchingWindowMs = 50`` in the config file.
WINDOW_SETTING = "streamBatchingWindowMs"
#: Application setting: un-consumed records per shard before puts are shed (0: no bound).
BACKLOG_SETTING = "streamMaxBacklog"
#: Its default, in batches of the stream's largest consumer batch: four full batches wait
#: at most, so a consumer that falls behind under a burst is at most four calls behind
#: and what it shows is recent (typing is worth nothing late): under a saturating burst
#: the chat's iterator age stayed under ~0.5 s (bench/NOTES-stream.md).
BACKLOG_BATCHES = 4
MIN_BACKLOG = 1_000
#: How long a put waits for backlog room before it is shed: long enough for the consumer
#: to take a batch while the ingest saturates the core, short against the 6 s after which
#: the chat's typing is stale. A waiting QoS 1 publish holds its PUBACK (flow control).
MAX_DELAY_S = 1.0
#: The loop-lag probe's period, and the lag over which stream ingest is slowed
#: (``hubbub.streams.pressure``): one loop iteration longer than this is what every step
#: of a chat message would wait. 5 ms: in the burst benchmark the chat's p99 was about
#: half of what 10 ms gave, for the same stream throughput.
#: ``[app] streamIngestLagTargetMs = 0`` turns it off.
LAG_PROBE_S = 0.010
LAG_TARGET_SETTING = "streamIngestLagTargetMs"
LAG_TARGET_MS = 5
#: How often ``wait_caught_up`` looks at the checkpoints while a window is open.
CAUGHT_UP_POLL_S = 0.01


@dataclass
class StreamRuntime:
    """What ``start_streams`` started: the engine, the consumers, housekeeping counters."""

    engine: StreamEngine
    consumers: dict[str, StreamConsumer] = field(default_factory=dict)  # "stream/function"
    housekeeping_runs: int = 0
    trimmed_records: int = 0
    housekeeping_errors: int = 0
    started: asyncio.Event = field(default_factory=asyncio.Event)  # consumers running
    loop_lag_ms: float = 0.0  # the probe's last reading

    def stats(self) -> dict[str, Any]:
        """Counters for the benchmark and operators: puts accepted and dropped by the
        put gate, and per consumer its invocations, records and iterator age (ms)."""
        engine = self.engine
        limiter = engine.limiter
        return {
            "engine": {**asdict(engine.stats),
                       "max_backlog": engine.backlog_bound.max_per_shard,
                       "loop_lag_ms": round(self.loop_lag_ms, 2),
                       "ingest_limit_per_s": (round(limiter.rate / LAG_PROBE_S)
                                              if limiter is not None else None)},
            "consumers": {name: {**asdict(c.stats), "iterator_age_ms": c.iterator_age_ms(),
                                 "backlog": {sid: engine.backlog(c.stream, sid)
                                             for sid in engine.shard_ids(c.stream)}}
                          for name, c in self.consumers.items()},
            "housekeeping": {"runs": self.housekeeping_runs,
                             "trimmed_records": self.trimmed_records,
                             "errors": self.housekeeping_errors},
        }

    async def housekeep(self) -> None:
        """One round: trim records past the retention period (``Node.housekeep`` calls it)."""
        self.housekeeping_runs += 1
        try:
            self.trimmed_records += await self.engine.trim_expired()
        except Exception:  # a disk or Redis error: say it, try again next time
            self.housekeeping_errors += 1
            log.exception("housekeeping (trim expired records)")

    async def lag(self, now: float | None = None) -> dict[str, list[dict[str, Any]]]:
        """Per consumer and shard: checkpoint, whether records wait, age of the oldest (ms)."""
        now = time.time() if now is None else now
        out: dict[str, list[dict[str, Any]]] = {}
        for name, c in self.consumers.items():
            out[name] = [asdict(s) for s in await consumer_lag(self.engine, c.stream,
                                                               c.consumer, now)]
        return out

    async def wait_caught_up(self) -> None:
        """Return once every consumer has checkpointed (or discarded) every record put so
        far. For tests, the benchmark and orderly shutdown."""
        await self.started.wait()
        for c in self.consumers.values():
            while True:
                await c.wait_caught_up()
                # StreamConsumer.wait_caught_up also returns while records wait in the
                # batcher for the window to close; the checkpoints say when they are done.
                if await self._checkpointed(c):
                    break
                await asyncio.sleep(CAUGHT_UP_POLL_S)

    async def _checkpointed(self, c: StreamConsumer) -> bool:
        for sid in self.engine.shard_ids(c.stream):
            latest = await self.engine.latest_sequence(c.stream, sid)
            done = await self.engine.get_checkpoint(c.stream, c.consumer, sid)
            if latest is not None and (done is None or int(done) < int(latest)):
                return False
        return True


def max_backlog(streams: Any, settings: Any) -> int:
    """Records per shard before puts are shed: ``[app] streamMaxBacklog`` if set (0: no
    bound), else ``BACKLOG_BATCHES`` of the largest consumer batch (at least MIN_BACKLOG)."""
    override = settings.get(BACKLOG_SETTING) if hasattr(settings, "get") else None
    if override is not None:
        if isinstance(override, bool) or not isinstance(override, int) or override < 0:
            raise ConfigError(f"{BACKLOG_SETTING} must be a whole number of records, 0 for"
                              f" no bound (got {override!r})")
        return override
    sizes = [c.batch_size for decl in streams.values() for c in decl.consumers]
    return max([MIN_BACKLOG, *(BACKLOG_BATCHES * int(n) for n in sizes)])


def lag_target_ms(settings: Any) -> int:
    value = settings.get(LAG_TARGET_SETTING) if hasattr(settings, "get") else None
    if value is None:
        return LAG_TARGET_MS
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{LAG_TARGET_SETTING} must be a whole number of ms, 0 for no"
                          f" limit (got {value!r})")
    return value


async def _probe_loop_lag(runtime: StreamRuntime) -> None:
    # A timer's lateness is the length of the loop iteration it waited behind.
    loop = asyncio.get_running_loop()
    while True:
        t = loop.time()
        await asyncio.sleep(LAG_PROBE_S)
        lag = max(0.0, loop.time() - t - LAG_PROBE_S)
        runtime.loop_lag_ms = lag * 1000
        runtime.engine.tick(lag)


def open_engine(node: Any, data: Path) -> StreamEngine:
    cfg = node.cfg
    clock = getattr(node, "_clock", time.time)
    bounds = {"clock": clock, "max_in_flight": MAX_IN_FLIGHT,
              "max_backlog": max_backlog(node.app.streams, node.services.settings),
              "max_delay": MAX_DELAY_S}
    if cfg.stream_engine == "sqlite":
        return create_stream_engine("sqlite", data / "stream.sqlite3", **bounds)
    if cfg.stream_engine == "redis":
        if not cfg.redis_url:
            raise ConfigError("the redis stream engine needs redis_url")
        return create_stream_engine("redis", cfg.redis_url, **bounds)
    if cfg.stream_engine == "memory":
        return create_stream_engine("memory", **bounds)
    raise ConfigError(f"stream_engine: unknown engine {cfg.stream_engine!r}")


def batch_settings(decl: StreamConsumerDecl, settings: Any) -> BatchSettings:
    """A manifest consumer's settings in Lambda's terms (maxAttempts counts the first try)."""
    window = decl.batching_window_ms
    override = settings.get(WINDOW_SETTING) if hasattr(settings, "get") else None
    if override is not None:
        window = int(override)
    if decl.max_attempts < 1:
        raise ConfigError(f"consumer {decl.function!r}: maxAttempts must be at least 1")
    try:
        return BatchSettings(batch_size=decl.batch_size, window_ms=float(window),
                             max_retry_attempts=decl.max_attempts - 1,
                             max_buffered=max(1000, decl.batch_size))
    except Exception as exc:  # UsageError from BatchSettings: the manifest is wrong
        raise ConfigError(f"consumer {decl.function!r}: {exc}") from None


def _consumer(node: Any, runtime: StreamRuntime, stream: StreamDecl,
              decl: StreamConsumerDecl) -> StreamConsumer:
    services = node.services
    if decl.on_failure is not None and decl.on_failure not in services.functions:
        raise ConfigError(f"streams.{stream.name}: onFailure names unknown function "
                          f"{decl.on_failure!r}")

    async def invoke(event: dict[str, Any]) -> Any:
        return await services.call(decl.function, event)

    on_failure = None
    if decl.on_failure is not None:
        target = decl.on_failure

        async def on_failure(payload: dict[str, Any]) -> None:
            await services.call(target, payload)

    return StreamConsumer(
        runtime.engine, stream.name, decl.function, invoke,
        settings=batch_settings(decl, services.settings), on_failure=on_failure,
        source=EventSource(stream.name, function_name=decl.function),
        poll_interval=POLL_INTERVAL_S, clock=getattr(node, "_clock", time.time))


async def start_streams(node: Any, data: Path) -> StreamRuntime:
    """Open the engine, create the streams, start the consumers; register
    their shutdown on ``node._stack``. The runtime is also ``node.stream_runtime``."""
    engine = open_engine(node, data)
    await engine.open()
    stack: contextlib.AsyncExitStack = node._stack
    stack.push_async_callback(engine.close)
    runtime = StreamRuntime(engine)
    target = lag_target_ms(node.services.settings)
    for decl in node.app.streams.values():
        await engine.create_stream(StreamSpec(decl.name, decl.shards,
                                              decl.retention_hours * 3600.0))
    node.services.streams = engine
    node.stream_runtime = runtime
    consumers = [(decl, c) for decl in node.app.streams.values() for c in decl.consumers]
    for decl, c in consumers:  # built now so that a bad manifest fails the start
        runtime.consumers[f"{decl.name}/{c.function}"] = _consumer(node, runtime, decl, c)

    async def run() -> None:
        # Consumers start once the node is up: a batch left from before a restart calls
        # the function at once, and its publishes need the broker.
        await node.ready.wait()
        for consumer in runtime.consumers.values():
            await consumer.start()
        runtime.started.set()

    task = asyncio.create_task(run(), name="hubbub-streams")
    task.add_done_callback(_log_crash)
    probe: asyncio.Task[None] | None = None
    if target > 0:
        engine.limiter = IngestLimiter(target=target / 1000)
        probe = asyncio.create_task(_probe_loop_lag(runtime), name="hubbub-stream-lag-probe")
        probe.add_done_callback(_log_crash)

    async def stop() -> None:
        for t in (task, probe):
            if t is not None:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):  # crashes: logged
                    await t
        for consumer in runtime.consumers.values():
            await consumer.stop()

    stack.push_async_callback(stop)
    return runtime


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("stream consumers stopped", exc_info=task.exception())


def stream_runtime(node: Any) -> StreamRuntime | None:
    """The node's stream runtime (None when the application declares no streams)."""
    runtime: StreamRuntime | None = getattr(node, "stream_runtime", None)
    return runtime
