"""This node's side of liveness: its client records, and what it does to its broker for
the reaper (publish a dead node's clients' ends, close everything when fenced).

The records mirror ``takeover.Ownership`` (the client ids connected here, from this
node's own lifecycle events): each own connected/disconnected event queues the record
it changes, written in the fan-out sender's pipeline; only a client's last state in a
round trip is written, all of them in one HDEL and one HSET. When writes were
lost (Redis down) or the records were removed (this node was reaped), they are rewritten
whole from the ownership.
"""

from __future__ import annotations

from typing import Any

from hubbub.broker.broker import Broker
from hubbub.fanout.registry import RedisRegistry
from hubbub.fanout.takeover import CONNECTED, DISCONNECTED, Ownership

#: MQTT 5 reason a fenced node closes its connections with: 0x98 Administrative action.
FENCE_REASON = 0x98


class ClientRecords:
    """Queued writes of this node's client records (client id -> connected event)."""

    def __init__(self, ownership: Ownership, node: str) -> None:
        self.ownership = ownership
        self.node = node
        #: client id -> its connected event, or None (forget it); the latest state wins
        self.queued: dict[str, bytes | None] = {}
        self.reset = False  # rewrite them whole from the ownership
        #: True while a dead node's events are published here: not ours to track
        self.replaying = False

    @property
    def pending(self) -> bool:
        return bool(self.queued) or self.reset

    def own_event(self, topic: str, payload: bytes, online: bool) -> bool:
        """Track one of our lifecycle events; True if a record write was queued."""
        if self.replaying:
            return False
        self.ownership.local(topic, payload)
        for prefix in (CONNECTED, DISCONNECTED):
            if topic.startswith(prefix):
                cid = topic[len(prefix):]
                if online:
                    self.queued[cid] = self.ownership.event(cid)
                    return True
                self.reset = True  # written whole when Redis is back
        return False

    def lost(self) -> None:
        """A write failed: rewrite everything once Redis is back."""
        self.queued = {}
        self.reset = True

    def queue(self, registry: RedisRegistry, pipe: Any) -> None:
        """Add what is queued to ``pipe``."""
        queued, self.queued = self.queued, {}
        if self.reset:
            self.reset = False
            # The snapshot already says what the queued writes would.
            registry.queue_reset(pipe, self.node, self.ownership.snapshot())
        elif queued:
            registry.queue_records(pipe, self.node, queued)

    def publish_lost(self, broker: Broker, events: list[tuple[str, bytes]]) -> None:
        """A dead node's clients' disconnects through the broker's normal path: the rules
        run here and the fan-out shares them (not tracked: not our connections)."""
        self.replaying = True
        try:
            for topic, payload in events:
                broker.publish_internal(topic, payload)
        finally:
            self.replaying = False


def close_all(broker: Broker) -> int:
    """Fence: close every connection ``broker`` holds (they were announced as lost)."""
    closed = 0
    for session in list(broker.sessions):
        if session.link is not None and broker.disconnect_client(
                session.client_id, FENCE_REASON, "this node was declared dead"):
            closed += 1
    return closed
