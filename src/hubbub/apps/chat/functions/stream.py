"""Micro-batches from the ``chat`` stream (typing, reactions): one call per batch.

The ``ChatStream`` rule puts what clients publish on ``chat/stream`` into the stream,
partitioned by room, with ``clientId`` and ``timestamp`` added by the rule. A batch holds
one window of records (the consumer's batching window); this function folds it per room:

* typing records become one ``{"type": "typing", "room", "users"}`` publish per room;
  records older than ``typingStaleSeconds`` (a backlog after a restart) are dropped, the
  client would hide them at once anyway;
* reaction records are counted per message and emoji (the talk's ``count``), added to
  the ``reactions`` table, and the room gets one ``{"type": "reactions", "room",
  "counts": {messageId: {emoji: total}}}`` with the new totals of every message touched.

Counting rules: a count is a count of reaction events, except that one client's repeats
of the same (message, emoji) within one window count once (a double click is one
reaction). Only the client's four emoji are accepted, and only on a message stored in
the room. Delivery is at least once, but counts are not doubled by a redelivered batch:
each reactions item remembers the shard and sequence number of the last record applied
to it (a room is one partition key, hence one shard, read in order), and older records
are skipped. Bad records are skipped (and counted in the response), never retried;
a table failure reports the message's records in ``batchItemFailures`` so that they (and
the records after them) come again. Neither kind of record is stored as a chat message.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hubbub.functions import sdk
from hubbub.tables.base import ConditionFailed, IfAbsent, IfEquals

from . import validate
from .common import broadcast

log = logging.getLogger("hubbub.apps.chat.stream")

#: The reactions the web client offers (render.js ``REACTIONS``).
EMOJI = frozenset(("👍", "❤️", "😂", "🎉"))
#: A room's typing update names at most this many people (the client says "several").
MAX_TYPING_USERS = 20
MAX_MESSAGE_ID = 100
#: Read-modify-write attempts on one reactions item before the batch reports it failed.
WRITE_ATTEMPTS = 8
#: Messages whose counts are updated at once (the table engine batches the commits).
PARALLEL_WRITES = 16
#: Reactions live as long as their message (ChatStore: one day), plus a margin.
REACTIONS_TTL_S = 2 * 86400


@dataclass(frozen=True)
class Reaction:
    shard: str
    sequence: str
    message_id: str
    emoji: str
    client_id: str


@dataclass
class RoomWindow:
    typing: dict[str, int] = field(default_factory=dict)  # user -> last record's arrival, ms
    reactions: dict[str, list[Reaction]] = field(default_factory=dict)  # by message id


@dataclass
class Fold:
    rooms: dict[str, RoomWindow] = field(default_factory=dict)
    skipped: int = 0  # undecodable or invalid records
    stale: int = 0  # typing records too old to show


def _decode(record: Any) -> tuple[str, str, float, dict[str, Any]] | None:
    """(shard, sequence, arrival, payload) of one Kinesis event record, or None."""
    if not isinstance(record, dict) or not isinstance(record.get("kinesis"), dict):
        return None
    k = record["kinesis"]
    seq, event_id = k.get("sequenceNumber"), record.get("eventID")
    if not isinstance(seq, str) or not isinstance(event_id, str):
        return None
    shard = event_id.rpartition(":")[0]
    try:
        payload = json.loads(base64.b64decode(k.get("data", ""), validate=True))
    except (binascii.Error, ValueError, TypeError):
        return None
    arrival = k.get("approximateArrivalTimestamp")
    if not isinstance(payload, dict) or not isinstance(arrival, int | float):
        return None
    return shard, seq, float(arrival), payload


def fold(records: Iterable[Any], now: float, stale_after: float) -> Fold:
    """Group a batch's valid records per room; pure (``now`` in epoch seconds)."""
    out = Fold()
    for record in records:
        decoded = _decode(record)
        if decoded is None:
            out.skipped += 1
            continue
        shard, seq, arrival, p = decoded
        kind = p.get("type")
        try:
            room = validate.room(p.get("room"))
            user = validate.user(p.get("user"))
        except validate.Invalid:
            out.skipped += 1
            continue
        if kind == "typing":
            if now - arrival > stale_after:
                out.stale += 1
                continue
            window = out.rooms.setdefault(room, RoomWindow())
            # ChatStream stamps timestamp() when the typing is published, on the same
            # clock and in the same order as ChatRepublish stamps messages; the arrival
            # in the stream can come later (ingest backpressure delays puts).
            stamp = p.get("timestamp")
            typed = stamp if type(stamp) is int else round(arrival * 1000)
            if user in window.typing or len(window.typing) < MAX_TYPING_USERS:
                window.typing[user] = max(window.typing.get(user, 0), typed)
        elif kind == "reaction":
            message_id, emoji, client = p.get("messageId"), p.get("emoji"), p.get("clientId")
            if (not isinstance(message_id, str) or not 0 < len(message_id) <= MAX_MESSAGE_ID
                    or not message_id.isprintable() or emoji not in EMOJI
                    or not isinstance(client, str)):
                out.skipped += 1
                continue
            window = out.rooms.setdefault(room, RoomWindow())
            window.reactions.setdefault(message_id, []).append(
                Reaction(shard, seq, message_id, str(emoji), client))
        else:
            out.skipped += 1
    return out


def _after(r: Reaction, item: dict[str, Any] | None) -> bool:
    """Whether ``r`` is newer than what ``item`` already counts (see the module doc)."""
    if item is None or item.get("shardId") != r.shard:
        return True
    applied = item.get("sequenceNumber")
    return not isinstance(applied, str) or int(r.sequence) > int(applied)


def count(reactions: Iterable[Reaction]) -> dict[str, int]:
    """Reactions per emoji, one per (client, emoji) in the window."""
    seen: set[tuple[str, str]] = set()
    counts: dict[str, int] = {}
    for r in reactions:
        if (r.client_id, r.emoji) in seen:
            continue
        seen.add((r.client_id, r.emoji))
        counts[r.emoji] = counts.get(r.emoji, 0) + 1
    return counts


async def add_reactions(room: str, message_id: str,
                        reactions: list[Reaction]) -> dict[str, int] | None:
    """Add a window's reactions to the message's totals; the new totals, or None if the
    room has no such message. Optimistic: retried when another writer got there first."""
    table, chat = sdk.table("reactions"), sdk.table("chat")
    last = max(reactions, key=lambda r: int(r.sequence))
    for _ in range(WRITE_ATTEMPTS):
        item = await table.get(room, message_id)
        fresh = [r for r in reactions if _after(r, item)]
        if item is not None and not fresh:
            return dict(item.get("counts") or {})  # a redelivered batch: already counted
        if item is None:
            message = await chat.get(room, message_id)
            if message is None:
                return None
            expires = message.get("expiresAt")
            base: dict[str, Any] = {
                "room": room, "messageId": message_id, "counts": {}, "version": 0,
                "expiresAt": expires if isinstance(expires, int | float)
                else int(time.time()) + REACTIONS_TTL_S}
        else:
            base = item
        counts: dict[str, int] = dict(base.get("counts") or {})
        for emoji, n in count(fresh).items():
            counts[emoji] = int(counts.get(emoji, 0)) + n
        version = int(base.get("version", 0))
        new = {**base, "counts": counts, "version": version + 1,
               "shardId": last.shard, "sequenceNumber": last.sequence}
        condition = IfEquals("version", version) if item is not None else IfAbsent()
        try:
            await table.put(new, condition=condition)
        except ConditionFailed:
            continue
        return counts
    raise RuntimeError(f"reactions of {room}/{message_id}: still contended after "
                       f"{WRITE_ATTEMPTS} attempts")


async def _publish(room: str, payload: dict[str, Any], qos: int) -> None:
    # The counts are stored already; a lost live update is refreshed by the next one and
    # by history, so a failed publish (shutting down) is logged, not retried.
    try:
        await broadcast(room, payload, qos=qos)
    except Exception as exc:
        log.warning("stream: %s update for room %s not sent: %r", payload["type"], room, exc)


async def handler(event: Any, context: Any) -> dict[str, Any]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        return {"batchItemFailures": []}
    settings = sdk.settings()
    folded = fold(records, time.time(), float(settings.get("typingStaleSeconds", 6)))
    limit = asyncio.Semaphore(PARALLEL_WRITES)
    failures: list[str] = []

    async def one(room: str, message_id: str, rs: list[Reaction]) -> dict[str, int] | None:
        async with limit:
            try:
                return await add_reactions(room, message_id, rs)
            except Exception as exc:
                log.warning("stream: reactions of %s/%s failed: %r", room, message_id, exc)
                failures.extend(r.sequence for r in rs)
                return None

    jobs = [(room, mid, rs) for room, w in folded.rooms.items()
            for mid, rs in w.reactions.items()]
    totals = await asyncio.gather(*(one(*job) for job in jobs))
    updates: dict[str, dict[str, dict[str, int]]] = {}
    for (room, mid, _), counts in zip(jobs, totals, strict=True):
        if counts is not None:
            updates.setdefault(room, {})[mid] = counts
    sends = []
    for room, w in folded.rooms.items():
        if w.typing:
            # "at": when each one last typed (server clock, ms). The update comes a batching
            # window after the typing, often after the message it led to: the client
            # drops a name whose message (its server timestamp) is newer than this.
            sends.append(_publish(room, {"type": "typing", "room": room,
                                         "users": list(w.typing), "at": w.typing}, 0))
        if room in updates:
            sends.append(_publish(room, {"type": "reactions", "room": room,
                                         "counts": updates[room]}, 1))
    await asyncio.gather(*sends)
    return {"batchItemFailures": [{"itemIdentifier": s} for s in sorted(set(failures))],
            "skipped": folded.skipped, "stale": folded.stale}
