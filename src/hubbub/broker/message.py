"""The message the broker routes, stores and shows to observers: a value, not a packet."""

from __future__ import annotations

from dataclasses import dataclass, field

from hubbub.mqtt.packets import EMPTY_PROPERTIES, Properties


@dataclass(frozen=True, slots=True)
class Message:
    """One application message: what was published, as the broker keeps it.

    ``properties`` holds only what travels with the message (payload format, expiry,
    content type, response topic, correlation data, user properties); never a topic
    alias or subscription identifiers, which are per connection [MQTT-3.3.2-7, 3.3.4-3].
    ``created_at`` is the clock reading when the broker accepted it; with the Message
    Expiry Interval it gives the absolute expiry [MQTT-3.3.2-5].
    """

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    properties: Properties = field(default=EMPTY_PROPERTIES)
    created_at: float = 0.0

    @property
    def expires_at(self) -> float | None:
        interval = self.properties.message_expiry_interval
        return None if interval is None else self.created_at + interval

    def remaining_expiry(self, now: float) -> int | None:
        """Seconds left, as sent on delivery [MQTT-3.3.2-6]; None if it never expires."""
        interval = self.properties.message_expiry_interval
        if interval is None:
            return None
        return max(0, int(self.created_at + interval - now))

    def expired(self, now: float) -> bool:
        exp = self.expires_at
        return exp is not None and now >= exp
