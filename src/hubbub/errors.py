"""hubbub's exceptions: one root, split by who is at fault.

``PeerError`` and its subclasses mean "the other side sent something we refuse"; each
carries what to send back (an MQTT reason code, a WebSocket close code, an HTTP status).
``UsageError`` means hubbub's own API was misused: a bug on our side, never a peer's.
"""

from __future__ import annotations


class HubbubError(Exception):
    """Root of every exception hubbub raises on purpose."""


class UsageError(HubbubError):
    """Our own API was misused (a bug, not bad input)."""


class ConfigError(HubbubError):
    """The configuration (file, environment, command line) is invalid."""


class PeerError(HubbubError):
    """The peer sent something we refuse. Subclasses say how to answer."""

    #: MQTT 5 reason code to send back (CONNACK/DISCONNECT); 3.1.1 maps it down.
    mqtt_reason: int = 0x80  # Unspecified error
    #: WebSocket close code to send back (RFC 6455 §7.4.1).
    ws_close_code: int = 1002  # protocol error
    #: HTTP status to answer with.
    http_status: int = 400

    def __init__(self, message: str, *, mqtt_reason: int | None = None,
                 ws_close_code: int | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        if mqtt_reason is not None:
            self.mqtt_reason = mqtt_reason
        if ws_close_code is not None:
            self.ws_close_code = ws_close_code
        if http_status is not None:
            self.http_status = http_status


class ProtocolError(PeerError):
    """The peer broke the MQTT, WebSocket or HTTP protocol."""

    mqtt_reason = 0x82  # Protocol Error


class MalformedPacket(ProtocolError):
    """Bytes that do not decode to a valid MQTT packet [MQTT-1.5.4-1, 4.13]."""

    mqtt_reason = 0x81  # Malformed Packet


class NotAuthorized(PeerError):
    """Credentials or policy refuse the request."""

    mqtt_reason = 0x87
    ws_close_code = 1008  # policy violation
    http_status = 403


class LimitExceeded(PeerError):
    """A configured limit (size, rate, count) was broken."""

    mqtt_reason = 0x97  # Quota exceeded
    ws_close_code = 1009
    http_status = 429


class BadRequest(PeerError):
    """Input that is well-formed at the protocol level but invalid for the application."""

    mqtt_reason = 0x83  # Implementation specific error
    http_status = 400
