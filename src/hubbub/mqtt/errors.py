"""MQTT-specific peer errors; all are ``hubbub.errors.PeerError`` subclasses.

Every error the codec or the connection raises carries ``mqtt_reason``: the MQTT 5 reason
code to put in a DISCONNECT (or a CONNACK, see ``connack``). MQTT 3.1.1 cannot say why,
so a 3.1.1 peer is simply disconnected, except for CONNECT problems that 3.1.1 CONNACK
return codes cover (``connack`` is set and ``reason_codes.connack_code_311`` maps it).
"""

from __future__ import annotations

from hubbub.errors import MalformedPacket, PeerError, ProtocolError

__all__ = [
    "MalformedPacket", "ProtocolError", "PacketTooLarge", "UnsupportedProtocolVersion",
    "ConnectRefused", "TopicAliasInvalid", "ReceiveMaximumExceeded", "answer_with_connack",
]


class UnsupportedProtocolVersion(ProtocolError):
    """CONNECT names a protocol or level we do not speak [MQTT-3.1.2-2].

    Answer with CONNACK 0x84 (v5) or return code 1 (3.1.1), then close.
    ``protocol_level`` is the level the client asked for, so the caller can pick
    which CONNACK encoding the client will understand.
    """

    mqtt_reason = 0x84
    connack = True

    def __init__(self, message: str, *, protocol_level: int) -> None:
        super().__init__(message)
        self.protocol_level = protocol_level


class ConnectRefused(PeerError):
    """A CONNECT that is well-formed but refused; answer with CONNACK ``mqtt_reason``."""

    connack = True


class PacketTooLarge(PeerError):
    """A packet over the maximum packet size [MQTT-3.2.2-15]."""

    mqtt_reason = 0x95
    ws_close_code = 1009  # message too big (RFC 6455 §7.4.1)
    http_status = 413


class TopicAliasInvalid(ProtocolError):
    """Topic alias 0 or above the Topic Alias Maximum [MQTT-3.3.2-8, 3.3.2-9]."""

    mqtt_reason = 0x94


class ReceiveMaximumExceeded(ProtocolError):
    """More unacknowledged QoS>0 PUBLISHes than our Receive Maximum [MQTT-3.3.4-7]."""

    mqtt_reason = 0x93


def answer_with_connack(exc: BaseException) -> bool:
    """True if ``exc`` happened on CONNECT and must be answered with a CONNACK, not DISCONNECT.

    Any error while decoding the first packet is a CONNECT error: the server MAY send a
    CONNACK with the reason code before closing [MQTT-3.1.4-1 .. 3.1.4-6, MQTT 5.0 §3.2.2.2].
    """
    return bool(getattr(exc, "connack", False))
