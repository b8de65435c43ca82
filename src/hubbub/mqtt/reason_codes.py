"""MQTT 5 reason codes (MQTT 5.0 §2.4) and their MQTT 3.1.1 equivalents.

MQTT 3.1.1 has no reason codes: CONNACK carries a return code 0..5 (3.1.1 §3.2.2.3),
SUBACK a granted QoS or 0x80, and every other failure is answered by closing the
network connection. The helpers below map a v5 reason code down to what 3.1.1 can say.
"""

from __future__ import annotations

from enum import IntEnum


class ReasonCode(IntEnum):
    """Every reason code of MQTT 5.0 Table 2-6. Values below 0x80 mean success."""

    SUCCESS = 0x00  # also Normal disconnection and Granted QoS 0
    GRANTED_QOS_1 = 0x01
    GRANTED_QOS_2 = 0x02
    DISCONNECT_WITH_WILL_MESSAGE = 0x04
    NO_MATCHING_SUBSCRIBERS = 0x10
    NO_SUBSCRIPTION_EXISTED = 0x11
    CONTINUE_AUTHENTICATION = 0x18
    RE_AUTHENTICATE = 0x19
    UNSPECIFIED_ERROR = 0x80
    MALFORMED_PACKET = 0x81
    PROTOCOL_ERROR = 0x82
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83
    UNSUPPORTED_PROTOCOL_VERSION = 0x84
    CLIENT_IDENTIFIER_NOT_VALID = 0x85
    BAD_USER_NAME_OR_PASSWORD = 0x86
    NOT_AUTHORIZED = 0x87
    SERVER_UNAVAILABLE = 0x88
    SERVER_BUSY = 0x89
    BANNED = 0x8A
    SERVER_SHUTTING_DOWN = 0x8B
    BAD_AUTHENTICATION_METHOD = 0x8C
    KEEP_ALIVE_TIMEOUT = 0x8D
    SESSION_TAKEN_OVER = 0x8E
    TOPIC_FILTER_INVALID = 0x8F
    TOPIC_NAME_INVALID = 0x90
    PACKET_IDENTIFIER_IN_USE = 0x91
    PACKET_IDENTIFIER_NOT_FOUND = 0x92
    RECEIVE_MAXIMUM_EXCEEDED = 0x93
    TOPIC_ALIAS_INVALID = 0x94
    PACKET_TOO_LARGE = 0x95
    MESSAGE_RATE_TOO_HIGH = 0x96
    QUOTA_EXCEEDED = 0x97
    ADMINISTRATIVE_ACTION = 0x98
    PAYLOAD_FORMAT_INVALID = 0x99
    RETAIN_NOT_SUPPORTED = 0x9A
    QOS_NOT_SUPPORTED = 0x9B
    USE_ANOTHER_SERVER = 0x9C
    SERVER_MOVED = 0x9D
    SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E
    CONNECTION_RATE_EXCEEDED = 0x9F
    MAXIMUM_CONNECT_TIME = 0xA0
    SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1
    WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xA2

    @property
    def is_error(self) -> bool:
        """True for failure codes (0x80 and above) [MQTT 5.0 §2.4]."""
        return self >= 0x80


# Aliases named as the spec names them where one value has several meanings.
NORMAL_DISCONNECTION = ReasonCode.SUCCESS
GRANTED_QOS_0 = ReasonCode.SUCCESS


class ConnackReturnCode311(IntEnum):
    """MQTT 3.1.1 CONNACK return codes (3.1.1 Table 3.1)."""

    ACCEPTED = 0
    UNACCEPTABLE_PROTOCOL_VERSION = 1
    IDENTIFIER_REJECTED = 2
    SERVER_UNAVAILABLE = 3
    BAD_USERNAME_OR_PASSWORD = 4
    NOT_AUTHORIZED = 5


#: MQTT 3.1.1 SUBACK "Failure" return code (3.1.1 §3.9.3).
SUBACK_FAILURE_311 = 0x80

# The v5 codes with a direct 3.1.1 CONNACK counterpart; the pairs follow MQTT 5.0 §3.2.2.2
# non-normative text and what brokers (Mosquitto, HiveMQ) send to 3.1.1 clients.
_CONNACK_311: dict[int, ConnackReturnCode311] = {
    ReasonCode.SUCCESS: ConnackReturnCode311.ACCEPTED,
    ReasonCode.UNSUPPORTED_PROTOCOL_VERSION: ConnackReturnCode311.UNACCEPTABLE_PROTOCOL_VERSION,
    ReasonCode.CLIENT_IDENTIFIER_NOT_VALID: ConnackReturnCode311.IDENTIFIER_REJECTED,
    ReasonCode.SERVER_UNAVAILABLE: ConnackReturnCode311.SERVER_UNAVAILABLE,
    ReasonCode.SERVER_BUSY: ConnackReturnCode311.SERVER_UNAVAILABLE,
    ReasonCode.SERVER_SHUTTING_DOWN: ConnackReturnCode311.SERVER_UNAVAILABLE,
    ReasonCode.USE_ANOTHER_SERVER: ConnackReturnCode311.SERVER_UNAVAILABLE,
    ReasonCode.SERVER_MOVED: ConnackReturnCode311.SERVER_UNAVAILABLE,
    ReasonCode.CONNECTION_RATE_EXCEEDED: ConnackReturnCode311.SERVER_UNAVAILABLE,
    ReasonCode.BAD_USER_NAME_OR_PASSWORD: ConnackReturnCode311.BAD_USERNAME_OR_PASSWORD,
    ReasonCode.BAD_AUTHENTICATION_METHOD: ConnackReturnCode311.BAD_USERNAME_OR_PASSWORD,
    ReasonCode.NOT_AUTHORIZED: ConnackReturnCode311.NOT_AUTHORIZED,
    ReasonCode.BANNED: ConnackReturnCode311.NOT_AUTHORIZED,
}

_CONNACK_FROM_311: dict[int, ReasonCode] = {
    ConnackReturnCode311.ACCEPTED: ReasonCode.SUCCESS,
    ConnackReturnCode311.UNACCEPTABLE_PROTOCOL_VERSION: ReasonCode.UNSUPPORTED_PROTOCOL_VERSION,
    ConnackReturnCode311.IDENTIFIER_REJECTED: ReasonCode.CLIENT_IDENTIFIER_NOT_VALID,
    ConnackReturnCode311.SERVER_UNAVAILABLE: ReasonCode.SERVER_UNAVAILABLE,
    ConnackReturnCode311.BAD_USERNAME_OR_PASSWORD: ReasonCode.BAD_USER_NAME_OR_PASSWORD,
    ConnackReturnCode311.NOT_AUTHORIZED: ReasonCode.NOT_AUTHORIZED,
}


def connack_code_311(reason: int) -> int:
    """The MQTT 3.1.1 CONNACK return code (0..5) that best says what v5 ``reason`` says.

    Failures without a counterpart become 3 (server unavailable): 3.1.1 has nothing
    closer, and it is the one code clients treat as "try again later".
    """
    code = _CONNACK_311.get(reason)
    if code is not None:
        return int(code)
    return int(ConnackReturnCode311.SERVER_UNAVAILABLE)


def connack_code_311_exact(reason: int) -> int | None:
    """The 3.1.1 CONNACK return code that says exactly what ``reason`` says, or None."""
    code = _CONNACK_311.get(reason)
    return None if code is None else int(code)


def connack_code_from_311(code: int) -> ReasonCode:
    """The v5 reason code for a 3.1.1 CONNACK return code (for decoding 3.1.1 CONNACKs)."""
    reason = _CONNACK_FROM_311.get(code)
    if reason is None:
        raise ValueError(f"no MQTT 3.1.1 CONNACK return code {code}")
    return reason


def suback_code_311(reason: int) -> int:
    """A 3.1.1 SUBACK return code: the granted QoS (0..2) or 0x80 for any failure."""
    if reason in (0, 1, 2):
        return reason
    return SUBACK_FAILURE_311


def suback_code_from_311(code: int) -> ReasonCode:
    """The v5 reason code for a 3.1.1 SUBACK return code."""
    if code in (0, 1, 2):
        return ReasonCode(code)
    if code == SUBACK_FAILURE_311:
        return ReasonCode.UNSPECIFIED_ERROR
    raise ValueError(f"no MQTT 3.1.1 SUBACK return code {code:#x}")


def _codes(*values: int) -> frozenset[int]:
    return frozenset(values)


# Which reason codes each packet may carry in MQTT 5 (the "Reason Code" tables of §3.x),
# keyed by packet type number.
ALLOWED_REASON_CODES: dict[int, frozenset[int]] = {
    2: _codes(0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C,
              0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F),  # CONNACK §3.2.2.2
    4: _codes(0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99),  # PUBACK §3.4.2.1
    5: _codes(0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99),  # PUBREC §3.5.2.1
    6: _codes(0x00, 0x92),  # PUBREL §3.6.2.1
    7: _codes(0x00, 0x92),  # PUBCOMP §3.7.2.1
    9: _codes(0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1,
              0xA2),  # SUBACK §3.9.3
    11: _codes(0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91),  # UNSUBACK §3.11.3
    14: _codes(0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90,
               0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F,
               0xA0, 0xA1, 0xA2),  # DISCONNECT §3.14.2.1
    15: _codes(0x00, 0x18, 0x19),  # AUTH §3.15.2.1
}
