"""Repeated policy violations disconnect a client (issue 3).

A correct client is never refused anything, so refusals are either a bug in the client or
someone probing topics. One :class:`ViolationCounter` per connection counts denied actions
in a sliding window; when ``limit`` of them fall within ``window`` seconds the broker
disconnects the client (MQTT 5 DISCONNECT reason 0x87 "Not authorized"; 3.1.1 has no
server DISCONNECT, the connection is closed [MQTT-3.14]).

Defaults: 5 denials within 60 s. One or two refusals happen to honest clients after a
policy change (a stale subscription list); five in a minute is a scan, and stopping it there
costs the scanner a reconnect and a new token (which is rate limited).
"""

from __future__ import annotations

from collections import deque

from hubbub.auth.principal import Clock
from hubbub.errors import UsageError

DEFAULT_LIMIT = 5
DEFAULT_WINDOW = 60.0
DISCONNECT_REASON = 0x87  # MQTT 5 "Not authorized"
LIFECYCLE_REASON = "AUTH_ERROR"  # IoT Core's disconnectReason for failed authorization


class ViolationCounter:
    """Counts one connection's denied actions; :meth:`record` says when to disconnect."""

    def __init__(self, clock: Clock, *, limit: int = DEFAULT_LIMIT,
                 window: float = DEFAULT_WINDOW) -> None:
        if limit < 1 or window <= 0:
            raise UsageError("limit must be >= 1 and window > 0 seconds")
        self._clock = clock
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque(maxlen=limit)  # only the last `limit` matter
        self.total = 0

    def record(self) -> bool:
        """Count one denied action; True if the client should now be disconnected."""
        now = self._clock()
        self.total += 1
        self._times.append(now)
        return len(self._times) == self.limit and now - self._times[0] < self.window

    def recent(self) -> int:
        """Denials within the current window."""
        now = self._clock()
        return sum(1 for t in self._times if now - t < self.window)
