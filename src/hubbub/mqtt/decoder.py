"""Incremental MQTT 3.1.1 / 5.0 decoder: bytes in any chunking, packets out, in order.

``feed`` appends bytes; ``next_packet`` returns one packet or None when it needs more.
Every violation the specifications name raises a ``PeerError`` subclass whose
``mqtt_reason`` says what to answer: ``MalformedPacket`` (0x81), ``ProtocolError``
(0x82), ``PacketTooLarge`` (0x95), ``UnsupportedProtocolVersion`` (0x84). After an error
the decoder is spent and raises the same error again: the connection must be closed.

The protocol level is learned from CONNECT, or set up front (``version=5``) by a client.
Before it is known only a CONNECT can be decoded [MQTT-3.1.0-1].
"""

from __future__ import annotations

from collections.abc import Callable

from hubbub.errors import MalformedPacket, PeerError, ProtocolError
from hubbub.mqtt.errors import PacketTooLarge, UnsupportedProtocolVersion
from hubbub.mqtt.packets import (
    EMPTY_PROPERTIES,
    MQTT_5,
    MQTT_311,
    PINGREQ,
    PINGRESP,
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
    Subscription,
    Unsuback,
    Unsubscribe,
    Will,
)
from hubbub.mqtt.properties import WILL, decode_properties
from hubbub.mqtt.reason_codes import (
    ALLOWED_REASON_CODES,
    ReasonCode,
    connack_code_from_311,
    suback_code_from_311,
)
from hubbub.mqtt.wire import decode_text, read_binary, read_text, read_u8, read_u16

#: The largest packet MQTT can frame: 1 + 4 bytes of header + 268,435,455 [MQTT 5.0 §2.1.4].
MAX_PACKET_SIZE = 268_435_460

# Fixed-header flag bits each packet type must carry [MQTT-2.1.3-1]; PUBLISH's are checked
# on their own.
_FLAGS = {1: 0, 2: 0, 4: 0, 5: 0, 6: 2, 7: 0, 8: 2, 9: 0, 10: 2, 11: 0, 12: 0, 13: 0, 14: 0,
          15: 0}
_ACKS: dict[int, type[Puback | Pubrec | Pubrel | Pubcomp]] = {
    4: Puback, 5: Pubrec, 6: Pubrel, 7: Pubcomp}


class Decoder:
    """Turns a byte stream into MQTT packets; see the module docstring."""

    __slots__ = ("max_packet_size", "version", "_buf", "_error")

    def __init__(self, max_packet_size: int = MAX_PACKET_SIZE, version: int | None = None
                 ) -> None:
        self.max_packet_size = max_packet_size
        self.version = version
        self._buf = bytearray()
        self._error: PeerError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as packets."""
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_packet(self) -> Packet | None:
        """The next complete packet, or None if more bytes are needed."""
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except PeerError as exc:
            self._error = exc
            raise

    def _next(self) -> Packet | None:
        buf = self._buf
        n = len(buf)
        if not n:
            return None
        first = buf[0]
        if first == 0x40 and n >= 4 and buf[1] == 2 and self.version is not None \
                and (buf[2] or buf[3]) and self.max_packet_size >= 4:
            # The usual PUBACK, one per QoS 1 delivery: only a non-zero packet id
            # [MQTT-2.2.1-3]; the checks below would all pass, in many more steps.
            packet_id = (buf[2] << 8) | buf[3]
            del buf[:4]
            return Puback(packet_id)
        ptype = first >> 4
        flags = first & 0x0F
        if ptype == 3:
            if flags & 0x06 == 0x06:
                raise MalformedPacket("PUBLISH with QoS 3 [MQTT-3.3.1-4]")
            if flags & 0x0E == 0x08:
                raise MalformedPacket("PUBLISH with DUP set at QoS 0 [MQTT-3.3.1-2]")
        elif ptype == 0 or (ptype == 15 and self.version == MQTT_311):
            raise MalformedPacket(f"reserved packet type {ptype} [MQTT 5.0 §2.1.2]")
        elif _FLAGS[ptype] != flags:
            raise MalformedPacket(f"{PacketType(ptype).name} with reserved flag bits "
                                  f"{flags:#06b} [MQTT-2.1.3-1]")
        if self.version is None and ptype != 1:
            raise ProtocolError(f"first packet is {PacketType(ptype).name}, not CONNECT "
                                "[MQTT-3.1.0-1]")
        # Remaining Length: a variable byte integer of at most four bytes [MQTT 5.0 §2.1.4]
        length = 0
        i = 1
        while True:
            if i >= n:
                return None
            b = buf[i]
            length |= (b & 0x7F) << (7 * (i - 1))
            i += 1
            if not b & 0x80:
                if i > 2 and b == 0:
                    raise MalformedPacket("remaining length not minimally encoded "
                                          "[MQTT-1.5.5-1]")
                break
            if i == 5:
                raise MalformedPacket("remaining length longer than 4 bytes [MQTT 5.0 §2.1.4]")
        total = i + length
        if total > self.max_packet_size:
            # Refuse before buffering the body [MQTT-3.2.2-15]
            raise PacketTooLarge(f"{PacketType(ptype).name} of {total} bytes exceeds the "
                                 f"maximum packet size {self.max_packet_size}")
        if n < total:
            return None
        body = bytes(buf[i:total])
        del buf[:total]
        if ptype == 3:
            return self._publish(flags, body)
        return _DECODERS[ptype](self, flags, body)

    # -- per packet type --------------------------------------------------------------

    def _publish(self, flags: int, d: bytes) -> Publish:
        qos = (flags >> 1) & 3
        n = len(d)
        if n < 2:
            raise MalformedPacket("PUBLISH: truncated topic name")
        i = 2 + ((d[0] << 8) | d[1])
        if i > n:
            raise MalformedPacket("PUBLISH: topic name runs past the end")
        topic = decode_text(d[2:i], "topic name")
        packet_id = None
        if qos:
            if i + 2 > n:
                raise MalformedPacket("PUBLISH: truncated packet identifier")
            packet_id = (d[i] << 8) | d[i + 1]
            i += 2
            if packet_id == 0:
                raise MalformedPacket("PUBLISH with packet identifier 0 [MQTT-2.2.1-3]")
        props = EMPTY_PROPERTIES
        if self.version == MQTT_5:
            if i < n and d[i] == 0:
                i += 1
            else:
                props, i = decode_properties(d, i, PacketType.PUBLISH)
        return Publish(topic, d[i:], qos, bool(flags & 1), bool(flags & 8), packet_id, props)

    def _connect(self, flags: int, d: bytes) -> Connect:
        name, i = read_text(d, 0, "protocol name")
        level, i = read_u8(d, i, "protocol level")
        if name != "MQTT" or level not in (MQTT_311, MQTT_5):
            raise UnsupportedProtocolVersion(
                f"protocol {name!r} level {level} is not supported; hubbub speaks MQTT 3.1.1 "
                "(level 4) and 5.0 (level 5) [MQTT-3.1.2-1, MQTT-3.1.2-2]",
                protocol_level=level)
        try:
            packet = self._connect_rest(d, i, level)
        except PeerError as exc:
            # A v5 server may answer a bad CONNECT with CONNACK 0x81/0x82 [MQTT 5.0 §3.2.2.2]
            if level == MQTT_5:
                exc.connack = True  # type: ignore[attr-defined]
            exc.protocol_level = level  # type: ignore[attr-defined]
            raise
        if self.version is None:
            self.version = level
        return packet

    def _connect_rest(self, d: bytes, i: int, level: int) -> Connect:
        v5 = level == MQTT_5
        cflags, i = read_u8(d, i, "connect flags")
        if cflags & 0x01:
            raise MalformedPacket("CONNECT reserved flag is set [MQTT-3.1.2-3]")
        has_will = bool(cflags & 0x04)
        will_qos = (cflags >> 3) & 3
        will_retain = bool(cflags & 0x20)
        if will_qos == 3:
            raise MalformedPacket("CONNECT will QoS 3 [MQTT-3.1.2-12]")
        if not has_will and (will_qos or will_retain):
            raise MalformedPacket("CONNECT will QoS/retain set without the will flag "
                                  "[MQTT-3.1.2-11, MQTT-3.1.2-13]")
        has_password = bool(cflags & 0x40)
        has_username = bool(cflags & 0x80)
        if has_password and not has_username and not v5:
            raise MalformedPacket("CONNECT password without user name in MQTT 3.1.1 "
                                  "[MQTT-3.1.2-22]")
        keep_alive, i = read_u16(d, i, "keep alive")
        props = EMPTY_PROPERTIES
        if v5:
            props, i = decode_properties(d, i, PacketType.CONNECT)
        client_id, i = read_text(d, i, "client identifier")
        will = None
        if has_will:
            will_props = EMPTY_PROPERTIES
            if v5:
                will_props, i = decode_properties(d, i, WILL)
            will_topic, i = read_text(d, i, "will topic")
            will_payload, i = read_binary(d, i, "will payload")
            will = Will(will_topic, will_payload, will_qos, will_retain, will_props)
        username = password = None
        if has_username:
            username, i = read_text(d, i, "user name")
        if has_password:
            password, i = read_binary(d, i, "password")
        _end(d, i, "CONNECT")
        return Connect("MQTT", level, bool(cflags & 0x02), keep_alive, client_id, username,
                       password, will, props)

    def _connack(self, flags: int, d: bytes) -> Connack:
        ack_flags, i = read_u8(d, 0, "CONNACK flags")
        if ack_flags & 0xFE:
            raise MalformedPacket("CONNACK reserved flag bits set [MQTT-3.2.2-1]")
        code, i = read_u8(d, i, "CONNACK reason code")
        props = EMPTY_PROPERTIES
        if self.version == MQTT_5:
            reason = _reason(code, PacketType.CONNACK)
            props, i = decode_properties(d, i, PacketType.CONNACK)
        else:
            try:
                reason = connack_code_from_311(code)
            except ValueError:
                raise MalformedPacket(f"CONNACK return code {code} [MQTT 3.1.1 §3.2.2.3]"
                                      ) from None
        _end(d, i, "CONNACK")
        return Connack(bool(ack_flags), reason, props)

    def _ack(self, ptype: int, d: bytes) -> Puback | Pubrec | Pubrel | Pubcomp:
        if len(d) == 2 and (d[0] or d[1]):
            # The usual shape, one per QoS 1 delivery: only the packet identifier.
            return _ACKS[ptype]((d[0] << 8) | d[1])
        name = PacketType(ptype).name
        packet_id, i = _packet_id(d, 0, name)
        if self.version != MQTT_5 or len(d) == 2:
            _end(d, i, name)
            return _ACKS[ptype](packet_id)
        # The reason code, then the property length, may be omitted [MQTT 5.0 §3.4.2.1]
        reason = _reason(d[2], ptype)
        props = EMPTY_PROPERTIES
        if len(d) > 3:
            props, i = decode_properties(d, 3, ptype)
            _end(d, i, name)
        return _ACKS[ptype](packet_id, reason, props)

    def _subscribe(self, flags: int, d: bytes) -> Subscribe:
        v5 = self.version == MQTT_5
        packet_id, i = _packet_id(d, 0, "SUBSCRIBE")
        props = EMPTY_PROPERTIES
        if v5:
            props, i = decode_properties(d, i, PacketType.SUBSCRIBE)
        subs: list[Subscription] = []
        while i < len(d):
            flt, i = read_text(d, i, "topic filter")
            options, i = read_u8(d, i, "subscription options")
            qos = options & 3
            if qos == 3:
                raise MalformedPacket("SUBSCRIBE with QoS 3 [MQTT-3.8.3-4]")
            if not v5:
                if options & 0xFC:
                    raise MalformedPacket("SUBSCRIBE reserved option bits set (3.1.1 "
                                          "[MQTT-3-8.3-4])")
                subs.append(Subscription(flt, qos))
                continue
            if options & 0xC0:
                raise MalformedPacket("SUBSCRIBE reserved option bits set [MQTT-3.8.3-5]")
            no_local = bool(options & 0x04)
            retain_handling = (options >> 4) & 3
            if retain_handling == 3:
                raise ProtocolError("SUBSCRIBE retain handling 3 [MQTT 5.0 §3.8.3.1]")
            if no_local and flt.startswith("$share/"):
                raise ProtocolError("No Local on a shared subscription [MQTT-3.8.3-4]")
            subs.append(Subscription(flt, qos, no_local, bool(options & 0x08), retain_handling))
        if not subs:
            raise ProtocolError("SUBSCRIBE without a topic filter [MQTT-3.8.3-2]")
        return Subscribe(packet_id, tuple(subs), props)

    def _suback(self, flags: int, d: bytes) -> Suback:
        packet_id, i = _packet_id(d, 0, "SUBACK")
        props = EMPTY_PROPERTIES
        if self.version == MQTT_5:
            props, i = decode_properties(d, i, PacketType.SUBACK)
            codes = tuple(_reason(c, PacketType.SUBACK) for c in d[i:])
        else:
            try:
                codes = tuple(suback_code_from_311(c) for c in d[i:])
            except ValueError as exc:
                raise MalformedPacket(f"SUBACK: {exc}") from None
        if not codes:
            raise ProtocolError("SUBACK without a return code [MQTT-3.9.3-1]")
        return Suback(packet_id, codes, props)

    def _unsubscribe(self, flags: int, d: bytes) -> Unsubscribe:
        packet_id, i = _packet_id(d, 0, "UNSUBSCRIBE")
        props = EMPTY_PROPERTIES
        if self.version == MQTT_5:
            props, i = decode_properties(d, i, PacketType.UNSUBSCRIBE)
        filters: list[str] = []
        while i < len(d):
            flt, i = read_text(d, i, "topic filter")
            filters.append(flt)
        if not filters:
            raise ProtocolError("UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]")
        return Unsubscribe(packet_id, tuple(filters), props)

    def _unsuback(self, flags: int, d: bytes) -> Unsuback:
        packet_id, i = _packet_id(d, 0, "UNSUBACK")
        if self.version != MQTT_5:
            _end(d, i, "UNSUBACK")
            return Unsuback(packet_id)
        props, i = decode_properties(d, i, PacketType.UNSUBACK)
        codes = tuple(_reason(c, PacketType.UNSUBACK) for c in d[i:])
        if not codes:
            raise ProtocolError("UNSUBACK without a reason code [MQTT-3.11.3-1]")
        return Unsuback(packet_id, codes, props)

    def _pingreq(self, flags: int, d: bytes) -> Pingreq:
        _end(d, 0, "PINGREQ")
        return PINGREQ

    def _pingresp(self, flags: int, d: bytes) -> Pingresp:
        _end(d, 0, "PINGRESP")
        return PINGRESP

    def _disconnect(self, flags: int, d: bytes) -> Disconnect:
        if self.version != MQTT_5:
            _end(d, 0, "DISCONNECT")
            return Disconnect()
        reason, props = self._reason_and_props(d, PacketType.DISCONNECT)
        return Disconnect(reason, props)

    def _auth(self, flags: int, d: bytes) -> Auth:
        reason, props = self._reason_and_props(d, PacketType.AUTH)
        return Auth(reason, props)

    def _reason_and_props(self, d: bytes, ptype: int) -> tuple[int, Properties]:
        # Reason code and property length may be omitted [MQTT 5.0 §3.14.2.1, §3.15.2.1]
        if not d:
            return ReasonCode.SUCCESS, EMPTY_PROPERTIES
        reason = _reason(d[0], ptype)
        if len(d) == 1:
            return reason, EMPTY_PROPERTIES
        props, i = decode_properties(d, 1, ptype)
        _end(d, i, PacketType(ptype).name)
        return reason, props


def _end(d: bytes, i: int, what: str) -> None:
    if i != len(d):
        raise MalformedPacket(f"{what}: {len(d) - i} unexpected bytes at the end")


def _packet_id(d: bytes, i: int, what: str) -> tuple[int, int]:
    packet_id, i = read_u16(d, i, f"{what} packet identifier")
    if packet_id == 0:
        raise MalformedPacket(f"{what} with packet identifier 0 [MQTT-2.2.1-3]")
    return packet_id, i


def _reason(code: int, ptype: int) -> ReasonCode:
    if code not in ALLOWED_REASON_CODES[ptype]:
        raise MalformedPacket(f"reason code {code:#04x} is not defined for "
                              f"{PacketType(ptype).name} [MQTT 5.0 §2.4]")
    return ReasonCode(code)


_Handler = Callable[[Decoder, int, bytes], Packet]
_DECODERS: dict[int, _Handler] = {
    1: Decoder._connect,
    2: Decoder._connack,
    4: lambda self, flags, d: self._ack(4, d),
    5: lambda self, flags, d: self._ack(5, d),
    6: lambda self, flags, d: self._ack(6, d),
    7: lambda self, flags, d: self._ack(7, d),
    8: Decoder._subscribe,
    9: Decoder._suback,
    10: Decoder._unsubscribe,
    11: Decoder._unsuback,
    12: Decoder._pingreq,
    13: Decoder._pingresp,
    14: Decoder._disconnect,
    15: Decoder._auth,
}
