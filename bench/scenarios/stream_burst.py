"""A stream burst beside the chat (issue 6: "a burst on the stream never slows the chat's
message path"): chat latency with and without a saturating burst on ``chat/stream``, in
one run on one broker, and what the stream does meanwhile.

Two sets of clients on one broker:

- chat: M rooms x K clients publish ``{"room", "message"}`` on ``chat/out`` at QoS 1 at
  RATE_PER_CLIENT (the chat-path latency run's shape) and hear ``chat/pub/{room}``; the
  latency is publish -> the republished message at a subscriber of the room.
- stream: M other rooms x K clients publish typing records on ``chat/stream`` at QoS 1 as
  fast as a window of 4,000 unacknowledged publishes allows (the ``stream`` scenario's
  throughput load: it saturates the broker's core).

Phases, on the same connections: ``calm`` (chat alone), ``burst`` (chat while the stream
load runs; it starts BURST_LEAD_S before the chat measurement so the backlog has built
up), ``calm_after`` (chat alone again, after the stream drained). Chat p50/p99 per phase
and their ratios burst/calm.

The stream is watched in the broker's own file (``<data>/stream.sqlite3``, read-only,
found through the broker process's working directory, which bench/brokers.py sets to the
run's work folder), every SAMPLE_S: records stored (the shards' last sequence numbers),
records consumed (the ``stream`` consumer's checkpoints), and the iterator age (age of
the oldest record after the checkpoint, what ``StreamRuntime.lag()`` reports). Accepted
= PUBACKed publishes; a PUBACK comes whether the record was stored or shed (IoT Core
acknowledges a publish whose rule action failed), so shed = accepted - stored.
Needs the sqlite stream engine (the default).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

from bench import jsonwire, stats
from bench.context import Context, Result
from bench.scenarios.base import Scenario
from bench.scenarios.stream import QUIET_S, StreamLoad
from bench.traffic import PubSub, Template

RATE_PER_CLIENT = 0.5  # chat msg/s per client (chat-path's latency run)
PAYLOAD = 128
BURST_LEAD_S = 2.0  # the stream load runs this long before the chat is measured
SAMPLE_S = 0.25
CATCHUP_MAX_S = 60.0
STREAM, CONSUMER = "chat", "stream"  # the chat app's stream and its consumer function


class StreamFile:
    """Read-only view of a hubbub SQLite stream file: stored, consumed, iterator age."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5.0)
        return self._db

    def sample(self) -> dict[str, Any]:
        """{stored, consumed, backlog, age_ms (oldest un-consumed record, max over shards)}."""
        db, now = self._conn(), time.time()
        last = dict(db.execute("SELECT shard, last_seq FROM shards WHERE stream = ?", (STREAM,)))
        done = dict(
            db.execute(
                "SELECT shard, seq FROM checkpoints WHERE stream = ? AND consumer = ?",
                (STREAM, CONSUMER),
            )
        )
        age = 0.0
        for shard in last:
            row = db.execute(
                "SELECT arrival FROM records WHERE stream = ? AND shard = ? AND seq > ?"
                " ORDER BY seq LIMIT 1",
                (STREAM, shard, done.get(shard, 0)),
            ).fetchone()
            if row is not None:
                age = max(age, (now - row[0]) * 1000)
        stored, consumed = sum(last.values()), sum(done.values())
        return {
            "t": time.perf_counter(),
            "stored": stored,
            "consumed": consumed,
            "backlog": stored - consumed,
            "age_ms": age,
        }

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


def stream_file(ctx: Context) -> StreamFile:
    return StreamFile(Path(ctx.probe.broker.cwd()) / "data" / "stream.sqlite3")


async def _watch(file: StreamFile, out: list[dict[str, Any]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            out.append(file.sample())
        except sqlite3.Error:
            pass  # the file is being created or checkpointed: the next sample
        try:
            await asyncio.wait_for(stop.wait(), SAMPLE_S)
        except TimeoutError:
            pass


def _window(samples: list[dict[str, Any]], t0: float, t1: float) -> list[dict[str, Any]]:
    return [s for s in samples if t0 <= s["t"] <= t1]


def summarize_stream(
    samples: list[dict[str, Any]], acked: int, wall: float
) -> dict[str, Any]:
    """Rates over the samples' span and the iterator age's spread (pure)."""
    if len(samples) < 2:
        return {"samples": len(samples)}
    first, last = samples[0], samples[-1]
    span = max(1e-3, last["t"] - first["t"])
    ages = sorted(s["age_ms"] for s in samples)
    backlogs = sorted(s["backlog"] for s in samples)
    stored = last["stored"] - first["stored"]
    return {
        "samples": len(samples),
        "accepted_per_s": round(acked / wall),
        "stored_per_s": round(stored / span),
        "consumed_per_s": round((last["consumed"] - first["consumed"]) / span),
        "shed_per_s": round(max(0.0, acked / wall - stored / span)),
        "iterator_age_p50_ms": round(stats.percentile(ages, 50) or 0.0),
        "iterator_age_max_ms": round(ages[-1]),
        "backlog_p50": stats.percentile(backlogs, 50),
        "backlog_max": backlogs[-1],
    }


def _ratio(a: Any, b: Any) -> float | None:
    return round(a / b, 2) if a and b else None


async def run(ctx: Context) -> Result:
    rooms, per_room = (10, 10) if ctx.quick else (50, 10)

    def make_group(i: int) -> tuple[str, Template]:
        room = f"{ctx.run_id}-c{i}"
        payload = jsonwire.chat_message(room, f"user{i}", PAYLOAD)
        return f"chat/pub/{room}", jsonwire.JsonTemplate("chat/out", 1, payload)

    chat = PubSub(
        ctx,
        groups=rooms,
        publishers=per_room,
        subscribers=per_room,
        shared=True,
        qos=1,
        payload=PAYLOAD,
        make_group=make_group,
        read_stamp=jsonwire.publish_stamp,
    )
    load = StreamLoad(ctx, rooms, per_room)
    file = stream_file(ctx)
    try:
        setup = await chat.setup()
        setup_stream = await load.setup()
        result: Result = {
            "setup": {"chat": setup, "stream": setup_stream},
            "params": {
                "chat_rooms": rooms,
                "stream_rooms": rooms,
                "clients_per_room": per_room,
                "chat_rate_per_client": RATE_PER_CLIENT,
                "stream_window_ms": load.window_ms,
                "shards": load.shards,
            },
        }
        if setup["connect_failures"] or setup_stream["connect_failures"]:
            return result
        result["calm"] = await chat.latency(RATE_PER_CLIENT, attempts=1)
        result["burst"] = await _burst(ctx, chat, load, file)
        result["calm_after"] = await chat.latency(RATE_PER_CLIENT, attempts=1)
        calm, burst = result["calm"], result["burst"]["chat"]
        result["ratios"] = {
            "chat_p50_burst_over_calm": _ratio(burst.get("p50_ms"), calm.get("p50_ms")),
            "chat_p99_burst_over_calm": _ratio(burst.get("p99_ms"), calm.get("p99_ms")),
            "chat_p50_burst_over_calm_after": _ratio(
                burst.get("p50_ms"), result["calm_after"].get("p50_ms")
            ),
            "chat_p99_burst_over_calm_after": _ratio(
                burst.get("p99_ms"), result["calm_after"].get("p99_ms")
            ),
        }
        return result
    finally:
        file.close()
        await chat.close()
        await load.close()


async def _burst(ctx: Context, chat: PubSub, load: StreamLoad, file: StreamFile) -> Result:
    samples: list[dict[str, Any]] = []
    stop = asyncio.Event()
    watcher = asyncio.ensure_future(_watch(file, samples, stop))
    load.start_pumps()
    await asyncio.sleep(BURST_LEAD_S)
    t0, a0 = time.perf_counter(), load.acked()
    chat_result = await chat.latency(RATE_PER_CLIENT, attempts=1)
    t1, a1 = time.perf_counter(), load.acked()
    await load.stop_pumps()
    t_stop = time.perf_counter()
    # Catch-up: until the consumer's checkpoints reach what was stored.
    while time.perf_counter() - t_stop < CATCHUP_MAX_S:
        await asyncio.sleep(SAMPLE_S)
        if samples and samples[-1]["t"] > t_stop + QUIET_S and samples[-1]["backlog"] <= 0:
            break
    stop.set()
    await watcher
    during = _window(samples, t0, t1)
    caught = next((s for s in samples if s["t"] > t_stop and s["backlog"] <= 0), None)
    return {
        "chat": chat_result,
        "stream": summarize_stream(during, a1 - a0, t1 - t0),
        "stream_published": load.sent(),
        "stream_acked": load.acked(),
        "stored_total": samples[-1]["stored"] if samples else None,
        "catchup_s": round(caught["t"] - t_stop, 2) if caught else None,
        "closed_by_broker": sum(1 for c in load.conns if c.closed.done()),
    }


STREAM_BURST = Scenario(
    "stream-burst",
    "chat latency (chat/out -> chat/pub) calm vs during a saturating chat/stream burst",
    run,
)
