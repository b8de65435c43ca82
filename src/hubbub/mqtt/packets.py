"""MQTT control packets as values: one frozen dataclass per packet type (MQTT 5.0 §3).

The same classes serve MQTT 3.1.1 and 5.0. Fields that only exist in 5.0 (properties,
reason codes on acknowledgements, subscription options beyond QoS) keep their defaults
when a 3.1.1 packet is decoded, and are ignored when one is encoded. Reason codes are
plain ints (``ReasonCode`` members when decoded) so callers can compare with either.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from hubbub.mqtt.reason_codes import ReasonCode


class PacketType(IntEnum):
    """The control packet type, the high nibble of the fixed header (MQTT 5.0 §2.1.2)."""

    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14
    AUTH = 15  # MQTT 5 only


#: ``Connect.protocol_level`` of MQTT 3.1.1 and MQTT 5.0 (3.1.1 §3.1.2.2, 5.0 §3.1.2.2).
MQTT_311 = 4
MQTT_5 = 5


@dataclass(frozen=True, slots=True)
class Properties:
    """MQTT 5 properties (MQTT 5.0 §2.2.2.2); None / empty means "absent".

    Which properties a packet may carry is checked by the codec (Table 2-4 per property).
    """

    payload_format_indicator: int | None = None  # 0x01
    message_expiry_interval: int | None = None  # 0x02, seconds
    content_type: str | None = None  # 0x03
    response_topic: str | None = None  # 0x08
    correlation_data: bytes | None = None  # 0x09
    subscription_identifiers: tuple[int, ...] = ()  # 0x0B, may repeat on PUBLISH
    session_expiry_interval: int | None = None  # 0x11, seconds
    assigned_client_identifier: str | None = None  # 0x12
    server_keep_alive: int | None = None  # 0x13, seconds
    authentication_method: str | None = None  # 0x15
    authentication_data: bytes | None = None  # 0x16
    request_problem_information: int | None = None  # 0x17
    will_delay_interval: int | None = None  # 0x18, seconds
    request_response_information: int | None = None  # 0x19
    response_information: str | None = None  # 0x1A
    server_reference: str | None = None  # 0x1C
    reason_string: str | None = None  # 0x1F
    receive_maximum: int | None = None  # 0x21
    topic_alias_maximum: int | None = None  # 0x22
    topic_alias: int | None = None  # 0x23
    maximum_qos: int | None = None  # 0x24
    retain_available: int | None = None  # 0x25
    user_properties: tuple[tuple[str, str], ...] = ()  # 0x26, ordered, may repeat
    maximum_packet_size: int | None = None  # 0x27
    wildcard_subscription_available: int | None = None  # 0x28
    subscription_identifier_available: int | None = None  # 0x29
    shared_subscription_available: int | None = None  # 0x2A


#: The properties of a packet that carries none; share it instead of building new ones.
EMPTY_PROPERTIES = Properties()


@dataclass(frozen=True, slots=True)
class Will:
    """The will message of a CONNECT (MQTT 5.0 §3.1.3.2-3)."""

    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    properties: Properties = EMPTY_PROPERTIES  # will properties (v5): delay, expiry, ...


@dataclass(frozen=True, slots=True)
class Connect:
    protocol_name: str = "MQTT"
    protocol_level: int = MQTT_311  # 4 = 3.1.1, 5 = 5.0
    clean_start: bool = True  # "clean session" in 3.1.1
    keep_alive: int = 0  # seconds, 0 = off
    client_id: str = ""
    username: str | None = None
    password: bytes | None = None
    will: Will | None = None
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class Connack:
    session_present: bool = False
    reason_code: int = ReasonCode.SUCCESS  # v5 reason code; 3.1.1 is mapped on encode
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class Publish:
    topic: str  # may be "" in v5 when properties.topic_alias is set
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None  # present iff qos > 0 [MQTT-2.2.1-2]
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class Puback:
    packet_id: int
    reason_code: int = ReasonCode.SUCCESS
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class Pubrec:
    packet_id: int
    reason_code: int = ReasonCode.SUCCESS
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class Pubrel:
    packet_id: int
    reason_code: int = ReasonCode.SUCCESS
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class Pubcomp:
    packet_id: int
    reason_code: int = ReasonCode.SUCCESS
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class Subscription:
    """One topic filter and its subscription options (MQTT 5.0 §3.8.3.1)."""

    filter: str
    qos: int = 0
    no_local: bool = False  # v5
    retain_as_published: bool = False  # v5
    retain_handling: int = 0  # v5: 0 send, 1 send if new subscription, 2 don't send


@dataclass(frozen=True, slots=True)
class Subscribe:
    packet_id: int
    subscriptions: tuple[Subscription, ...]
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class Suback:
    packet_id: int
    reason_codes: tuple[int, ...]  # granted QoS 0..2 or a failure code, one per filter
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    packet_id: int
    filters: tuple[str, ...]
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class Unsuback:
    packet_id: int
    reason_codes: tuple[int, ...] = ()  # v5 only; 3.1.1 UNSUBACK has no payload
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class Pingreq:
    pass


@dataclass(frozen=True, slots=True)
class Pingresp:
    pass


@dataclass(frozen=True, slots=True)
class Disconnect:
    reason_code: int = ReasonCode.SUCCESS  # v5; 3.1.1 DISCONNECT is just the fixed header
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class Auth:
    """MQTT 5 enhanced authentication exchange (MQTT 5.0 §3.15)."""

    reason_code: int = ReasonCode.SUCCESS
    properties: Properties = EMPTY_PROPERTIES


Packet = (
    Connect | Connack | Publish | Puback | Pubrec | Pubrel | Pubcomp | Subscribe | Suback
    | Unsubscribe | Unsuback | Pingreq | Pingresp | Disconnect | Auth
)

PINGREQ = Pingreq()
PINGRESP = Pingresp()

#: The packet type of each packet class.
PACKET_TYPES: dict[type[Packet], PacketType] = {
    Connect: PacketType.CONNECT,
    Connack: PacketType.CONNACK,
    Publish: PacketType.PUBLISH,
    Puback: PacketType.PUBACK,
    Pubrec: PacketType.PUBREC,
    Pubrel: PacketType.PUBREL,
    Pubcomp: PacketType.PUBCOMP,
    Subscribe: PacketType.SUBSCRIBE,
    Suback: PacketType.SUBACK,
    Unsubscribe: PacketType.UNSUBSCRIBE,
    Unsuback: PacketType.UNSUBACK,
    Pingreq: PacketType.PINGREQ,
    Pingresp: PacketType.PINGRESP,
    Disconnect: PacketType.DISCONNECT,
    Auth: PacketType.AUTH,
}
