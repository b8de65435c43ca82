"""Session takeover across nodes, from the lifecycle events every node already shares.

IoT Core closes the older connection when a client id connects a second time
[MQTT-3.1.4-3]; on one node the broker does it (admission.attach). Across nodes, each
node's ``$aws/events/presence/connected/{clientId}`` event reaches the others through the
fan-out, so no extra channel or key is needed: a node that holds a connection for that
client id closes it if the remote connection is the newer one.

"Newer" is ``(timestamp ms, node id)``: every node applies the same total order to the
same events, so when a client connects to two nodes at once exactly one connection
survives (the one with the later timestamp, the larger node id on a tie). Timestamps
come from the nodes' clocks, so their skew must be small next to the time between two
connects of one client id (NTP).

Pure: values in, decisions out (no asyncio, socket or time).
"""

from __future__ import annotations

import json

CONNECTED = "$aws/events/presence/connected/"
DISCONNECTED = "$aws/events/presence/disconnected/"


def _event(payload: bytes) -> tuple[int, int] | None:
    """(timestamp, versionNumber) of a lifecycle event, None if it is not one of ours."""
    try:
        ev = json.loads(payload)
        ts, version = ev["timestamp"], ev.get("versionNumber", 0)
    except (ValueError, TypeError, KeyError):
        return None
    if isinstance(ts, int) and isinstance(version, int):
        return ts, version
    return None


class Ownership:
    """Which client ids are connected to this node, since when (from its own events)."""

    def __init__(self, node: str) -> None:
        self.node = node
        #: client id -> (connected timestamp ms, versionNumber); as many as connections
        self._since: dict[str, tuple[int, int]] = {}
        #: client id -> its connected event (the record other nodes reap if we die)
        self._events: dict[str, bytes] = {}

    def __len__(self) -> int:
        return len(self._since)

    def event(self, client_id: str) -> bytes | None:
        """The connected event of ``client_id``'s connection here, None if none."""
        return self._events.get(client_id)

    def since(self, client_id: str) -> int | None:
        """When ``client_id`` connected here (ms), None if it is not connected here."""
        held = self._since.get(client_id)
        return held[0] if held is not None else None

    def snapshot(self) -> dict[str, bytes]:
        """Every client id held here -> its connected event."""
        return dict(self._events)

    def local(self, topic: str, payload: bytes) -> None:
        """Track a lifecycle event this node published."""
        if topic.startswith(CONNECTED):
            ev = _event(payload)
            if ev is not None:
                self._since[topic[len(CONNECTED):]] = ev
                self._events[topic[len(CONNECTED):]] = payload
        elif topic.startswith(DISCONNECTED):
            cid = topic[len(DISCONNECTED):]
            ev = _event(payload)
            held = self._since.get(cid)
            # The disconnect of an older connection (local takeover: it may be published
            # after the new one's connect) must not forget the newer one.
            if held is not None and (ev is None or ev[1] >= held[1]):
                del self._since[cid]
                self._events.pop(cid, None)

    def remote(self, topic: str, payload: bytes, node: str) -> str | None:
        """The client id whose local connection must close because ``node`` has a newer
        one; None if nothing changes here."""
        if not topic.startswith(CONNECTED):
            return None
        cid = topic[len(CONNECTED):]
        held = self._since.get(cid)
        if held is None:
            return None
        ev = _event(payload)
        if ev is None or (held[0], self.node) >= (ev[0], node):
            return None  # ours is newer: the other node closes its connection instead
        del self._since[cid]
        self._events.pop(cid, None)
        return cid
