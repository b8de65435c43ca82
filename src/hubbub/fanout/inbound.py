"""Fan-in: other nodes' batches delivered into this node's broker, whatever carried them.

Engine-independent (the Redis fan-out feeds it bytes from its channel and entries from its
retained hash). Other nodes' messages are delivered with ``Broker.route``: local
subscribers only, no rules (they ran on the node where the message arrived). It counts
what it sees in the ``counters`` dict it is given, so that the engine reports one set.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from hubbub.broker.broker import Broker
from hubbub.broker.lifecycle import RESERVED_PREFIX, DisconnectReason
from hubbub.broker.message import Message
from hubbub.errors import PeerError
from hubbub.fanout.codec import decode_batch, decode_message, peek_node
from hubbub.fanout.takeover import Ownership

log = logging.getLogger("hubbub.fanout")

#: Remote nodes whose sequence numbers we remember (node ids change on every restart).
MAX_KNOWN_NODES = 1024


class Inbound:
    """Delivers decoded batches into ``broker``; skips ``node``'s own batches."""

    def __init__(self, broker: Broker, node: str, ownership: Ownership,
                 counters: dict[str, int]) -> None:
        self.broker = broker
        self.node = node
        self.ownership = ownership
        self.counters = counters
        self._last_seq: dict[str, int] = {}

    def deliver(self, data: bytes) -> None:
        """One batch as received; never raises (bad input and bugs are counted, logged)."""
        try:
            self._deliver(data)
        except PeerError as exc:  # not ours to crash on: count, say, go on
            self.counters["bad_batches"] += 1
            log.warning("fan-out: dropped a malformed batch: %s", exc)
        except Exception:  # a bug here must not stop fan-in for good: say it, go on
            self.counters["bad_batches"] += 1
            log.exception("fan-out: delivering a batch failed")

    def _deliver(self, data: bytes) -> None:
        if peek_node(data) == self.node:
            return  # our own batch: delivered locally when it was accepted
        batch = decode_batch(data)
        self._check_sequence(batch.node, batch.first_seq, len(batch.messages))
        self.counters["batches_in"] += 1
        self.counters["received"] += len(batch.messages)
        broker = self.broker
        for msg in batch.messages:
            if msg.retain and not self._newer_retained(msg):
                # An older retained message: deliver it, keep the newer one stored.
                broker.fan_out(replace(msg, retain=False), None)
            else:
                broker.route(msg)
            if msg.topic.startswith(RESERVED_PREFIX):
                # After routing: subscribers see the new connect, then the old one's end.
                self._takeover(msg, batch.node)

    def load_retained(self, entries: Mapping[Any, bytes]) -> None:
        """Apply the shared retained store (topic -> encoded message), newest wins; an
        empty payload is a deletion."""
        retained = self.broker.retained
        for topic, data in entries.items():
            try:
                msg = decode_message(data)
            except PeerError as exc:
                self.counters["bad_batches"] += 1
                log.warning("fan-out: bad retained entry %r: %s", topic, exc)
                continue
            if not msg.payload:
                held = retained.get(msg.topic)
                if held is not None and held.created_at <= msg.created_at:
                    retained.set(msg)
            elif self._newer_retained(msg):
                retained.set(msg)
                self.counters["retained_loaded"] += 1

    def _check_sequence(self, node: str, first: int, count: int) -> None:
        last = self._last_seq.pop(node, None)
        if last is not None and first > last + 1:
            self.counters["gaps"] += first - last - 1
        elif len(self._last_seq) >= MAX_KNOWN_NODES:
            self._last_seq.pop(next(iter(self._last_seq)))
        self._last_seq[node] = first + count - 1  # re-inserted: most recent last

    def _takeover(self, msg: Message, node: str) -> None:
        cid = self.ownership.remote(msg.topic, msg.payload, node)
        if cid is None:
            return
        session = self.broker.sessions.get(cid)
        conn: Any = session.link if session is not None else None
        if conn is not None:
            # As a local takeover does (admission.attach) [MQTT-3.1.4-3]: 0x8E Session
            # taken over, lifecycle DUPLICATE_CLIENTID.
            conn.disconnect(0x8E, DisconnectReason.DUPLICATE_CLIENTID,
                            f"session taken over on node {node}")
            self.counters["takeovers"] += 1

    def _newer_retained(self, msg: Message) -> bool:
        held = self.broker.retained.get(msg.topic)
        return held is None or msg.created_at >= held.created_at
