"""Node liveness: which nodes are dead, the lifecycle events their clients are owed, and
what a node does when it learns that the others declared it dead.

A node beats in Redis every ``heartbeat_interval`` (registry.py: a sorted set of node ->
last beat, ms). A node whose beat is older than ``node_timeout`` is dead: one surviving
node wins its reap lock and publishes, for every client id the dead node held, the
``$aws/events/presence/disconnected/{clientId}`` event IoT Core publishes when a
connection is lost (AWS IoT Core Developer Guide, "Lifecycle events":
``clientInitiatedDisconnect`` false, ``disconnectReason`` CONNECTION_LOST), then removes
the dead node's records.

A node that was only slow (paused, partitioned) learns it from its next beat and
**fences** itself: it closes every connection it holds, because the others already told
the world those clients were gone (the chat dropped them from presence); they reconnect
and join again. It registers again once the reap is over.

Pure: values in, decisions out (no asyncio, socket or time; times are ms given by the
caller's injected clock).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import Enum, IntEnum

from hubbub.broker.lifecycle import DisconnectedEvent, DisconnectReason

DISCONNECTED = "$aws/events/presence/disconnected/"


class Beat(IntEnum):
    """What a beat found in the registry (the values the Lua script returns)."""

    ALIVE = 1  # registered: the beat was recorded
    REAPING = -1  # another node holds our reap lock: it is publishing our clients' ends
    REAPED = 0  # we were declared dead and our records were removed
    UNKNOWN = 2  # not registered, no trace of a reap (first beat, Redis lost its data)


class Action(Enum):
    """What the node does after a beat."""

    NONE = "none"
    CLOSE_ALL = "close_all"  # fence: close every connection held here
    RESYNC = "resync"  # rewrite this node's client records from what it holds


def stale_nodes(beats: Mapping[str, float], now_ms: int, timeout_ms: int,
                me: str) -> list[str]:
    """Nodes whose last beat is older than ``timeout_ms``, oldest first (never ``me``)."""
    limit = now_ms - timeout_ms
    return sorted((n for n, at in beats.items() if at < limit and n != me),
                  key=lambda n: (beats[n], n))


def fresh_nodes(beats: Mapping[str, float], now_ms: int, timeout_ms: int) -> list[str]:
    """Nodes that beat within ``timeout_ms``."""
    limit = now_ms - timeout_ms
    return sorted(n for n, at in beats.items() if at >= limit)


def connected_at(record: bytes) -> int | None:
    """The ``timestamp`` (ms) of a stored connected event, None if it is not one."""
    try:
        ts = json.loads(record)["timestamp"]
    except (ValueError, TypeError, KeyError):
        return None
    return ts if isinstance(ts, int) and not isinstance(ts, bool) else None


def lost_connection_events(records: Mapping[str, bytes], live: Mapping[str, int],
                           read_ms: int) -> list[tuple[str, bytes]]:
    """The disconnected events owed to a dead node's clients.

    ``records``: client id -> the connected event the dead node published for it.
    ``live``: client id -> when it connected to a node that is alive (if it did).
    ``read_ms``: when the records were read.

    The event's ``timestamp`` is when the loss became known (``read_ms``), except for a
    client that reconnected elsewhere since: then just before that connection, so that
    consumers ordering by timestamp (the chat's presence keeps a room joined after the
    disconnect's timestamp) do not end the new connection's stay. Never before the
    connection it ends.
    """
    out: list[tuple[str, bytes]] = []
    for cid in sorted(records):
        try:
            ev = json.loads(records[cid])
        except ValueError:
            ev = None
        if not isinstance(ev, dict):
            ev = {}
        since = connected_at(records[cid]) or 0
        again = live.get(cid)
        stamp = again - 1 if again is not None and again > since else read_ms
        event: DisconnectedEvent = {
            "clientId": cid, "timestamp": max(stamp, since), "eventType": "disconnected",
            "sessionIdentifier": _text(ev.get("sessionIdentifier")),
            "principalIdentifier": _text(ev.get("principalIdentifier")),
            "clientInitiatedDisconnect": False,
            "disconnectReason": DisconnectReason.CONNECTION_LOST.value,
            "versionNumber": _int(ev.get("versionNumber")),
        }
        out.append((DISCONNECTED + cid, json.dumps(event, separators=(",", ":")).encode()))
    return out


def _text(v: object) -> str:
    return v if isinstance(v, str) else ""


def _int(v: object) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


class Watch:
    """One node's view of its own liveness: fenced or not, and whether it may reap.

    A node reaps only after its own beats have succeeded for a whole ``timeout_ms``:
    after a Redis outage (or at start) the others have not beaten yet, and their old
    beats would look dead to the first node back.
    """

    def __init__(self, timeout_ms: int) -> None:
        self.timeout_ms = timeout_ms
        #: True from the beat that said we were declared dead until we are registered again
        self.fenced = False
        self._healthy_since: int | None = None

    def beat_failed(self) -> None:
        """Redis could not be reached: start counting again once it can."""
        self._healthy_since = None

    def on_beat(self, result: Beat, now_ms: int) -> Action:
        if result is Beat.ALIVE or result is Beat.UNKNOWN:
            if self._healthy_since is None:
                self._healthy_since = now_ms
            if self.fenced or result is Beat.UNKNOWN:
                self.fenced = False
                return Action.RESYNC
            return Action.NONE
        # Declared dead (REAPING, REAPED): every connection here was announced as lost.
        # Keep closing on every beat until registered again: a client that connected
        # meanwhile may be in the records being reaped.
        self.fenced = True
        self._healthy_since = None
        return Action.CLOSE_ALL

    def may_reap(self, now_ms: int) -> bool:
        return (not self.fenced and self._healthy_since is not None
                and now_ms - self._healthy_since >= self.timeout_ms)
