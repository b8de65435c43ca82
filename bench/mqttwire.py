"""The load generator's MQTT 3.1.1 client codec: byte templates, built for speed.

Pure: no asyncio, socket or time. Only what the generator sends (CONNECT, SUBSCRIBE,
PUBLISH QoS 0/1, PUBACK, PINGREQ, DISCONNECT) is encoded, and only what it receives is
decoded (split into packets; the caller reads the few bytes it needs).
Packet layouts are MQTT 3.1.1 §3 (OASIS standard, 2014).
"""

from __future__ import annotations

import struct

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 12, 13, 14

PINGREQ_BYTES = b"\xc0\x00"
DISCONNECT_BYTES = b"\xe0\x00"
# The payload starts with the publisher's perf_counter_ns, so latency needs no clock sync:
# publisher and subscribers live in the same process.
STAMP = struct.Struct(">Q")


class WireError(ValueError):
    """The broker sent bytes that are not MQTT 3.1.1 (or that we misuse the encoder)."""


def remaining_length(n: int) -> bytes:
    """Variable Byte Integer of §2.2.3: 7 bits per byte, high bit = more bytes follow."""
    if not 0 <= n <= 268_435_455:
        raise WireError(f"remaining length out of range: {n}")
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _utf8(s: str) -> bytes:
    data = s.encode()
    if len(data) > 0xFFFF:
        raise WireError("string longer than 65535 bytes")
    return len(data).to_bytes(2, "big") + data


def connect(client_id: str, keepalive: int = 60, clean: bool = True) -> bytes:
    """CONNECT (§3.1) with protocol level 4 and no will, user name or password."""
    if not 0 <= keepalive <= 0xFFFF:
        raise WireError(f"keepalive out of range: {keepalive}")
    flags = 0x02 if clean else 0x00
    body = _utf8("MQTT") + bytes([4, flags]) + keepalive.to_bytes(2, "big") + _utf8(client_id)
    return b"\x10" + remaining_length(len(body)) + body


def subscribe(packet_id: int, topic_filter: str, qos: int) -> bytes:
    """SUBSCRIBE (§3.8): fixed header flags must be 0010 [MQTT-3.8.1-1]."""
    _check_qos(qos)
    _check_packet_id(packet_id)
    body = packet_id.to_bytes(2, "big") + _utf8(topic_filter) + bytes([qos])
    return b"\x82" + remaining_length(len(body)) + body


def puback(packet_id: int) -> bytes:
    _check_packet_id(packet_id)
    return b"\x40\x02" + packet_id.to_bytes(2, "big")


class PublishTemplate:
    """PUBLISH packets for one topic, QoS and payload size, differing only in stamp and id.

    The fixed header, topic and filler are built once; ``build`` splices in the 8-byte
    stamp (and the packet id for QoS 1), so a publish costs a few byte concatenations.
    """

    def __init__(self, topic: str, qos: int, payload_size: int) -> None:
        _check_qos(qos)
        if qos == 2:
            raise WireError("the generator publishes QoS 0 or 1 only")
        if payload_size < STAMP.size:
            raise WireError(f"payload must hold the {STAMP.size}-byte stamp")
        self.qos = qos
        self.payload_size = payload_size
        topic_bytes = _utf8(topic)
        rest = len(topic_bytes) + (2 if qos else 0) + payload_size
        self._head = bytes([0x30 | (qos << 1)]) + remaining_length(rest) + topic_bytes
        self._filler = b"x" * (payload_size - STAMP.size)
        self.size = len(self._head) - len(topic_bytes) + rest  # whole packet, in bytes

    def build(self, stamp_ns: int, packet_id: int = 0) -> bytes:
        if self.qos:
            return self._head + packet_id.to_bytes(2, "big") + STAMP.pack(stamp_ns) + self._filler
        return self._head + STAMP.pack(stamp_ns) + self._filler


def publish_stamp(first_byte: int, body: bytes) -> tuple[int, int]:
    """(packet id or 0, stamp) of a received PUBLISH body (variable header + payload)."""
    topic_len = int.from_bytes(body[:2], "big")
    at = 2 + topic_len
    packet_id = 0
    if first_byte & 0x06:
        packet_id = int.from_bytes(body[at : at + 2], "big")
        at += 2
    if len(body) < at + STAMP.size:
        raise WireError("PUBLISH payload too short to hold a stamp")
    return packet_id, STAMP.unpack_from(body, at)[0]


class PacketSplitter:
    """Splits a byte stream into (first byte, body) pairs; keeps partial packets."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._buf + data if self._buf else data
        out: list[tuple[int, bytes]] = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            first = buf[pos]
            # Inline Variable Byte Integer decode (§2.2.3), at most 4 bytes.
            length, shift, at = 0, 0, pos + 1
            while True:
                if at >= end:
                    self._buf = buf[pos:]
                    return out
                byte = buf[at]
                at += 1
                length |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    break
                shift += 7
                if shift > 21:
                    raise WireError("malformed remaining length (more than 4 bytes)")
            if at + length > end:
                break
            out.append((first, buf[at : at + length]))
            pos = at + length
        self._buf = buf[pos:]
        return out


def _check_qos(qos: int) -> None:
    if qos not in (0, 1, 2):
        raise WireError(f"invalid QoS {qos}")


def _check_packet_id(packet_id: int) -> None:
    # [MQTT-2.3.1-1]: packet identifiers are non-zero 16-bit integers.
    if not 1 <= packet_id <= 0xFFFF:
        raise WireError(f"invalid packet id {packet_id}")
