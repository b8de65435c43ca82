"""Who is connected: the typed result of verifying a token, and the clock type auth uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: Seconds since the epoch for tokens (``time.time``); any monotonic seconds source for the
#: rate limiter and the violation counter (``time.monotonic``). Injected so tests control time.
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Principal:
    """A verified identity bound to one MQTT client id and one policy.

    ``expires_at`` is the token's ``exp`` in seconds since the epoch: the broker disconnects
    the connection then (issue 3).
    """

    identity_id: str
    client_id: str
    policy_name: str
    expires_at: int
    guest: bool
