"""MQTT 3.1.1 and 5.0 packet encoding; the incremental ``Decoder`` lives in decoder.py.

``encode(packet, version)`` turns any packet into bytes; ``version`` is the protocol level
of the connection (4 = 3.1.1, 5 = 5.0): properties and v5-only fields are written only
for 5. PUBLISH is the hot path of a broker (one message, many subscribers), so it has
its own encoder, ``encode_publish``, and ``PublishTemplate`` to patch a packet identifier
into bytes encoded once. Encoding a value the protocol cannot carry is our own bug and
raises ``UsageError``.
"""

from __future__ import annotations

import struct

from hubbub.errors import UsageError
from hubbub.mqtt.decoder import Decoder
from hubbub.mqtt.packets import (
    EMPTY_PROPERTIES,
    MQTT_5,
    MQTT_311,
    Auth,
    Connack,
    Connect,
    Disconnect,
    Packet,
    PacketType,
    Pingreq,
    Pingresp,
    Properties,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    Unsuback,
    Unsubscribe,
)
from hubbub.mqtt.properties import WILL, encode_properties
from hubbub.mqtt.reason_codes import connack_code_311, suback_code_311
from hubbub.mqtt.wire import encode_binary, encode_text, encode_varint, pack_u16

__all__ = ["encode", "encode_publish", "publish_template", "PublishTemplate", "Decoder"]

_ACK_FIRST = {Puback: 0x40, Pubrec: 0x50, Pubrel: 0x62, Pubcomp: 0x70}
_ACK_TYPE = {Puback: PacketType.PUBACK, Pubrec: PacketType.PUBREC,
             Pubrel: PacketType.PUBREL, Pubcomp: PacketType.PUBCOMP}


def encode(packet: Packet, version: int) -> bytes:
    """The bytes of ``packet`` for a connection speaking protocol level ``version``."""
    if version not in (MQTT_311, MQTT_5):
        raise UsageError(f"unknown MQTT protocol level {version}")
    try:
        return _encode(packet, version == MQTT_5)
    except (struct.error, UnicodeEncodeError, OverflowError, ValueError, TypeError) as exc:
        raise UsageError(f"cannot encode {type(packet).__name__}: {exc}") from None


def _frame(first: int, parts: list[bytes]) -> bytes:
    body = b"".join(parts)
    return bytes((first,)) + encode_varint(len(body)) + body


def _props(props: Properties, where: int, v5: bool) -> bytes:
    return encode_properties(props, where) if v5 else b""


def _check_id(packet_id: int) -> bytes:
    if not 0 < packet_id <= 0xFFFF:
        raise UsageError(f"packet identifier {packet_id} outside 1..65535 [MQTT-2.2.1-3]")
    return pack_u16(packet_id)


def _encode(packet: Packet, v5: bool) -> bytes:
    match packet:
        case Publish(topic, payload, qos, retain, dup, packet_id, properties):
            return encode_publish(topic, payload, qos, retain, dup, packet_id, properties,
                                  MQTT_5 if v5 else MQTT_311)
        case Puback() | Pubrec() | Pubrel() | Pubcomp():
            first = _ACK_FIRST[type(packet)]
            pid = _check_id(packet.packet_id)
            if not v5 or (packet.reason_code == 0 and packet.properties == EMPTY_PROPERTIES):
                return bytes((first, 2)) + pid  # short form [MQTT 5.0 §3.4.2.1]
            if packet.properties == EMPTY_PROPERTIES:
                return bytes((first, 3)) + pid + bytes((packet.reason_code,))
            props = encode_properties(packet.properties, _ACK_TYPE[type(packet)])
            return _frame(first, [pid, bytes((packet.reason_code,)), props])
        case Connect():
            return _encode_connect(packet, v5)
        case Connack(session_present, reason_code, properties):
            code = reason_code if v5 else connack_code_311(reason_code)
            return _frame(0x20, [bytes((int(session_present), code)),
                                 _props(properties, PacketType.CONNACK, v5)])
        case Subscribe(packet_id, subscriptions, properties):
            if not subscriptions:
                raise UsageError("SUBSCRIBE needs at least one subscription [MQTT-3.8.3-2]")
            parts = [_check_id(packet_id), _props(properties, PacketType.SUBSCRIBE, v5)]
            for sub in subscriptions:
                if sub.qos not in (0, 1, 2) or sub.retain_handling not in (0, 1, 2):
                    raise UsageError(f"bad subscription options {sub}")
                options = sub.qos
                if v5:
                    options |= (sub.no_local << 2 | sub.retain_as_published << 3
                                | sub.retain_handling << 4)
                parts += (encode_text(sub.filter), bytes((options,)))
            return _frame(0x82, parts)
        case Suback(packet_id, reason_codes, properties):
            codes = reason_codes if v5 else tuple(suback_code_311(c) for c in reason_codes)
            return _frame(0x90, [_check_id(packet_id), _props(properties, PacketType.SUBACK, v5),
                                 bytes(codes)])
        case Unsubscribe(packet_id, filters, properties):
            if not filters:
                raise UsageError("UNSUBSCRIBE needs at least one filter [MQTT-3.10.3-2]")
            parts = [_check_id(packet_id), _props(properties, PacketType.UNSUBSCRIBE, v5)]
            parts += (encode_text(f) for f in filters)
            return _frame(0xA2, parts)
        case Unsuback(packet_id, reason_codes, properties):
            if not v5:
                return b"\xb0\x02" + _check_id(packet_id)
            return _frame(0xB0, [_check_id(packet_id),
                                 encode_properties(properties, PacketType.UNSUBACK),
                                 bytes(reason_codes)])
        case Pingreq():
            return b"\xc0\x00"
        case Pingresp():
            return b"\xd0\x00"
        case Disconnect(reason_code, properties):
            return _short_reason(0xE0, reason_code, properties, PacketType.DISCONNECT, v5)
        case Auth(reason_code, properties):
            if not v5:
                raise UsageError("AUTH does not exist in MQTT 3.1.1")
            return _short_reason(0xF0, reason_code, properties, PacketType.AUTH, v5)
    raise UsageError(f"not an MQTT packet: {packet!r}")


def _short_reason(first: int, reason: int, props: Properties, where: int, v5: bool) -> bytes:
    # DISCONNECT and AUTH may omit the reason code when it is 0 and there are no
    # properties, and the property length when there are none [MQTT 5.0 §3.14.2.1].
    if not v5 or (reason == 0 and props == EMPTY_PROPERTIES):
        return bytes((first, 0))
    if props == EMPTY_PROPERTIES:
        return bytes((first, 1, reason))
    return _frame(first, [bytes((reason,)), encode_properties(props, where)])


def _encode_connect(c: Connect, v5: bool) -> bytes:
    will = c.will
    flags = int(c.clean_start) << 1
    if will is not None:
        if will.qos not in (0, 1, 2):
            raise UsageError(f"will QoS {will.qos}")
        flags |= 0x04 | will.qos << 3 | int(will.retain) << 5
    if c.password is not None:
        flags |= 0x40
    if c.username is not None:
        flags |= 0x80
    parts = [encode_text(c.protocol_name), bytes((c.protocol_level, flags)),
             pack_u16(c.keep_alive), _props(c.properties, PacketType.CONNECT, v5),
             encode_text(c.client_id)]
    if will is not None:
        parts += (_props(will.properties, WILL, v5), encode_text(will.topic),
                  encode_binary(will.payload))
    if c.username is not None:
        parts.append(encode_text(c.username))
    if c.password is not None:
        parts.append(encode_binary(c.password))
    return _frame(0x10, parts)


def _publish_parts(topic: str, qos: int, retain: bool, dup: bool,
                   properties: Properties, version: int, payload_len: int,
                   ) -> tuple[bytes, bytes, bytes]:
    """(fixed header + topic, properties) around the packet identifier slot."""
    if qos not in (0, 1, 2):
        raise UsageError(f"QoS {qos} [MQTT-3.3.1-4]")
    t = topic.encode("utf-8")
    if len(t) > 0xFFFF:
        raise UsageError(f"topic of {len(t)} bytes exceeds 65535")
    if version == MQTT_5:
        props = (b"\x00" if properties is EMPTY_PROPERTIES
                 else encode_properties(properties, PacketType.PUBLISH))
    elif version == MQTT_311:
        props = b""
    else:
        raise UsageError(f"unknown MQTT protocol level {version}")
    remaining = 2 + len(t) + (2 if qos else 0) + len(props) + payload_len
    first = 0x30 | dup << 3 | qos << 1 | retain
    if remaining < 128:
        header = bytes((first, remaining))
    else:
        header = bytes((first,)) + encode_varint(remaining)
    return header + pack_u16(len(t)), t, props


def encode_publish(topic: str, payload: bytes, qos: int = 0, retain: bool = False,
                   dup: bool = False, packet_id: int | None = None,
                   properties: Properties = EMPTY_PROPERTIES, version: int = MQTT_311) -> bytes:
    """The bytes of a PUBLISH, built with one join (the broker's hot path)."""
    if qos == 0:
        if dup:
            raise UsageError("DUP must be 0 for QoS 0 [MQTT-3.3.1-2]")
        pid = b""
    else:
        pid = _check_id(packet_id or 0)
    head, t, props = _publish_parts(topic, qos, bool(retain), bool(dup), properties,
                                    version, len(payload))
    return b"".join((head, t, pid, props, payload))


class PublishTemplate:
    """A QoS 1/2 PUBLISH encoded once; ``with_packet_id`` stamps each subscriber's id.

    ``data`` is the encoded packet with packet identifier 0 at ``offset`` (two bytes,
    big-endian); patch it in place if you write it out before the next stamp.
    """

    __slots__ = ("data", "offset")

    def __init__(self, data: bytearray, offset: int) -> None:
        self.data = data
        self.offset = offset

    def with_packet_id(self, packet_id: int, dup: bool = False) -> bytes:
        """A copy of the packet with ``packet_id`` and the DUP flag set as given."""
        if not 0 < packet_id <= 0xFFFF:
            raise UsageError(f"packet identifier {packet_id} outside 1..65535")
        data = self.data
        data[self.offset] = packet_id >> 8
        data[self.offset + 1] = packet_id & 0xFF
        data[0] = data[0] | 0x08 if dup else data[0] & 0xF7
        return bytes(data)


def publish_template(topic: str, payload: bytes, qos: int, retain: bool = False,
                     properties: Properties = EMPTY_PROPERTIES,
                     version: int = MQTT_311) -> PublishTemplate:
    """Encode a QoS 1 or 2 PUBLISH once, leaving its packet identifier to patch."""
    if qos not in (1, 2):
        raise UsageError("a publish template is for QoS 1 and 2; QoS 0 has no packet id")
    head, t, props = _publish_parts(topic, qos, bool(retain), False, properties, version,
                                    len(payload))
    offset = len(head) + len(t)
    return PublishTemplate(bytearray(b"".join((head, t, b"\x00\x00", props, payload))), offset)
