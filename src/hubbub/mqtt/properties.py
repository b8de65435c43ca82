"""MQTT 5 properties on the wire (MQTT 5.0 §2.2.2): the table, the reader, the writer.

The table is MQTT 5.0 Table 2-4: identifier, data type, and the packets that may carry
each property. ``WILL`` (0, a reserved packet type) stands for the will properties of a
CONNECT (§3.1.3.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from itertools import compress
from operator import attrgetter, is_not
from typing import Any

from hubbub.errors import MalformedPacket, ProtocolError, UsageError
from hubbub.mqtt.packets import EMPTY_PROPERTIES, PacketType, Properties
from hubbub.mqtt.wire import (
    encode_binary,
    encode_text,
    encode_varint,
    pack_u16,
    pack_u32,
    read_binary,
    read_text,
    read_u8,
    read_u16,
    read_u32,
    read_varint,
)

WILL = 0

BYTE, U16, U32, VARINT, TEXT, BINARY, PAIR = range(7)

_P = PacketType
_ACKS = (_P.PUBACK, _P.PUBREC, _P.PUBREL, _P.PUBCOMP)
_EVERY = (_P.CONNECT, _P.CONNACK, _P.PUBLISH, WILL, *_ACKS, _P.SUBSCRIBE, _P.SUBACK,
          _P.UNSUBSCRIBE, _P.UNSUBACK, _P.DISCONNECT, _P.AUTH)


@dataclass(frozen=True, slots=True)
class PropertySpec:
    ident: int
    name: str  # the Properties field
    kind: int
    allowed: frozenset[int]
    boolean: bool = False  # a byte that must be 0 or 1


def _spec(ident: int, name: str, kind: int, allowed: tuple[int, ...],
          boolean: bool = False) -> PropertySpec:
    return PropertySpec(ident, name, kind, frozenset(allowed), boolean)


SPECS: tuple[PropertySpec, ...] = (
    _spec(0x01, "payload_format_indicator", BYTE, (_P.PUBLISH, WILL), boolean=True),
    _spec(0x02, "message_expiry_interval", U32, (_P.PUBLISH, WILL)),
    _spec(0x03, "content_type", TEXT, (_P.PUBLISH, WILL)),
    _spec(0x08, "response_topic", TEXT, (_P.PUBLISH, WILL)),
    _spec(0x09, "correlation_data", BINARY, (_P.PUBLISH, WILL)),
    _spec(0x0B, "subscription_identifiers", VARINT, (_P.PUBLISH, _P.SUBSCRIBE)),
    _spec(0x11, "session_expiry_interval", U32, (_P.CONNECT, _P.CONNACK, _P.DISCONNECT)),
    _spec(0x12, "assigned_client_identifier", TEXT, (_P.CONNACK,)),
    _spec(0x13, "server_keep_alive", U16, (_P.CONNACK,)),
    _spec(0x15, "authentication_method", TEXT, (_P.CONNECT, _P.CONNACK, _P.AUTH)),
    _spec(0x16, "authentication_data", BINARY, (_P.CONNECT, _P.CONNACK, _P.AUTH)),
    _spec(0x17, "request_problem_information", BYTE, (_P.CONNECT,), boolean=True),
    _spec(0x18, "will_delay_interval", U32, (WILL,)),
    _spec(0x19, "request_response_information", BYTE, (_P.CONNECT,), boolean=True),
    _spec(0x1A, "response_information", TEXT, (_P.CONNACK,)),
    _spec(0x1C, "server_reference", TEXT, (_P.CONNACK, _P.DISCONNECT)),
    _spec(0x1F, "reason_string", TEXT, (_P.CONNACK, *_ACKS, _P.SUBACK, _P.UNSUBACK,
                                        _P.DISCONNECT, _P.AUTH)),
    _spec(0x21, "receive_maximum", U16, (_P.CONNECT, _P.CONNACK)),
    _spec(0x22, "topic_alias_maximum", U16, (_P.CONNECT, _P.CONNACK)),
    _spec(0x23, "topic_alias", U16, (_P.PUBLISH,)),
    _spec(0x24, "maximum_qos", BYTE, (_P.CONNACK,), boolean=True),
    _spec(0x25, "retain_available", BYTE, (_P.CONNACK,), boolean=True),
    _spec(0x26, "user_properties", PAIR, _EVERY),
    _spec(0x27, "maximum_packet_size", U32, (_P.CONNECT, _P.CONNACK)),
    _spec(0x28, "wildcard_subscription_available", BYTE, (_P.CONNACK,), boolean=True),
    _spec(0x29, "subscription_identifier_available", BYTE, (_P.CONNACK,), boolean=True),
    _spec(0x2A, "shared_subscription_available", BYTE, (_P.CONNACK,), boolean=True),
)
BY_ID = {s.ident: s for s in SPECS}
_ALL_VALUES = attrgetter(*(s.name for s in SPECS))  # one C call instead of 27 getattrs
_NOT_NONE = partial(is_not, None)
SUBSCRIPTION_IDENTIFIER = 0x0B
USER_PROPERTY = 0x26


def _where(where: int) -> str:
    return "will properties" if where == WILL else PacketType(where).name


def decode_properties(data: bytes, i: int, where: int) -> tuple[Properties, int]:
    """Read a property length and the properties after it, checking Table 2-4."""
    length, i = read_varint(data, i, "property length")
    if length == 0:
        return EMPTY_PROPERTIES, i
    end = i + length
    if end > len(data):
        raise MalformedPacket(f"{_where(where)}: property length {length} runs past the end")
    data = data[:end]  # a value must not run past the properties into the payload
    fields: dict[str, Any] = {}
    sub_ids: list[int] = []
    users: list[tuple[str, str]] = []
    while i < end:
        ident, i = read_varint(data, i, "property identifier")
        spec = BY_ID.get(ident)
        if spec is None:
            raise MalformedPacket(f"{_where(where)}: unknown property identifier {ident:#04x}")
        if where not in spec.allowed:
            raise ProtocolError(f"property {spec.name} ({ident:#04x}) is not allowed in "
                                f"{_where(where)} [MQTT 5.0 Table 2-4]")
        value: Any
        kind = spec.kind
        if kind == BYTE:
            value, i = read_u8(data, i, spec.name)
        elif kind == U16:
            value, i = read_u16(data, i, spec.name)
        elif kind == U32:
            value, i = read_u32(data, i, spec.name)
        elif kind == VARINT:
            value, i = read_varint(data, i, spec.name)
        elif kind == TEXT:
            value, i = read_text(data, i, spec.name)
        elif kind == BINARY:
            value, i = read_binary(data, i, spec.name)
        else:
            key, i = read_text(data, i, "user property name")
            val, i = read_text(data, i, "user property value")
            users.append((key, val))
            continue
        if ident == SUBSCRIPTION_IDENTIFIER:
            if value == 0:
                raise ProtocolError("subscription identifier 0 [MQTT-3.8.2.1.2]")
            if sub_ids and where == PacketType.SUBSCRIBE:
                raise ProtocolError("more than one subscription identifier in SUBSCRIBE")
            sub_ids.append(value)
            continue
        if spec.name in fields:
            raise ProtocolError(f"property {spec.name} appears twice [MQTT 5.0 §2.2.2.2]")
        if spec.boolean and value > 1:
            raise ProtocolError(f"property {spec.name} must be 0 or 1, got {value}")
        if value == 0 and ident in (0x21, 0x27):
            raise ProtocolError(f"property {spec.name} must not be 0 [MQTT-3.1.2-24]")
        fields[spec.name] = value
    if sub_ids:
        fields["subscription_identifiers"] = tuple(sub_ids)
    if users:
        fields["user_properties"] = tuple(users)
    return Properties(**fields), end


def encode_properties(props: Properties, where: int) -> bytes:
    """The property length and properties; ``b"\\x00"`` for none."""
    if props is EMPTY_PROPERTIES:
        return b"\x00"
    out: list[bytes] = []
    values = _ALL_VALUES(props)
    # compress/map run in C and skip the absent (None) fields, usually all but a few
    for spec, value in compress(zip(SPECS, values, strict=True), map(_NOT_NONE, values)):
        if value == ():
            continue
        if where not in spec.allowed:
            raise UsageError(f"property {spec.name} is not allowed in {_where(where)}")
        ident = bytes((spec.ident,))
        kind = spec.kind
        if kind == PAIR:
            for key, val in value:
                out += (ident, encode_text(key), encode_text(val))
        elif kind == VARINT:
            for sub_id in value:
                if sub_id == 0:
                    raise UsageError("subscription identifier 0")
                out += (ident, encode_varint(sub_id))
        elif kind == BYTE:
            out += (ident, bytes((value,)))
        elif kind == U16:
            out += (ident, pack_u16(value))
        elif kind == U32:
            out += (ident, pack_u32(value))
        elif kind == TEXT:
            out += (ident, encode_text(value))
        else:
            out += (ident, encode_binary(value))
    body = b"".join(out)
    return encode_varint(len(body)) + body
