"""MQTT data representations (MQTT 5.0 §1.5): integers, variable byte integers, strings.

Readers take ``(data, offset)`` and return ``(value, new_offset)``; running past the end
of ``data`` is a ``MalformedPacket``. Writers return bytes.
"""

from __future__ import annotations

import re
import struct

from hubbub.errors import MalformedPacket, UsageError

MAX_VARINT = 268_435_455  # four bytes of 7 bits [MQTT 5.0 §1.5.5]

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
pack_u16 = _U16.pack
pack_u32 = _U32.pack

_SMALL_VARINTS = [bytes((n,)) for n in range(128)]

# Code points the spec says SHOULD NOT appear and a receiver MAY treat as malformed
# [MQTT 5.0 §1.5.4]: C0 and C1 controls, and Unicode non-characters. NUL is a MUST
# [MQTT-1.5.4-2] and has its own message.
_ASCII_BAD = re.compile(rb"[\x00-\x1f\x7f]")
_NONCHARS = "".join(f"\\U{p << 16 | 0xFFFE:08x}\\U{p << 16 | 0xFFFF:08x}" for p in range(17))
_TEXT_BAD = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f\\ufdd0-\\ufdef{_NONCHARS}]")


def encode_varint(n: int) -> bytes:
    if n < 128:
        if n < 0:
            raise UsageError(f"variable byte integer {n} is negative")
        return _SMALL_VARINTS[n]
    if n > MAX_VARINT:
        raise UsageError(f"variable byte integer {n} exceeds {MAX_VARINT}")
    out = bytearray()
    while n:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
    return bytes(out)


def read_varint(data: bytes, i: int, what: str) -> tuple[int, int]:
    value = 0
    shift = 0
    for k in range(4):
        if i + k >= len(data):
            raise MalformedPacket(f"{what}: truncated variable byte integer")
        b = data[i + k]
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            if k and b == 0:
                # Non-minimal encodings are not allowed [MQTT 5.0 §1.5.5]
                raise MalformedPacket(f"{what}: variable byte integer not minimally encoded "
                                      "[MQTT-1.5.5-1]")
            return value, i + k + 1
        shift += 7
    raise MalformedPacket(f"{what}: variable byte integer longer than 4 bytes [MQTT 5.0 §1.5.5]")


def read_u8(data: bytes, i: int, what: str) -> tuple[int, int]:
    if i >= len(data):
        raise MalformedPacket(f"{what}: truncated")
    return data[i], i + 1


def read_u16(data: bytes, i: int, what: str) -> tuple[int, int]:
    if i + 2 > len(data):
        raise MalformedPacket(f"{what}: truncated")
    return (data[i] << 8) | data[i + 1], i + 2


def read_u32(data: bytes, i: int, what: str) -> tuple[int, int]:
    if i + 4 > len(data):
        raise MalformedPacket(f"{what}: truncated")
    return int(_U32.unpack_from(data, i)[0]), i + 4


def read_binary(data: bytes, i: int, what: str) -> tuple[bytes, int]:
    if i + 2 > len(data):
        raise MalformedPacket(f"{what}: truncated length")
    j = i + 2 + ((data[i] << 8) | data[i + 1])
    if j > len(data):
        raise MalformedPacket(f"{what}: length runs past the end of the packet")
    return data[i + 2:j], j


def decode_text(raw: bytes, what: str) -> str:
    """Decode an MQTT UTF-8 string, refusing what §1.5.4 forbids or discourages."""
    if raw.isascii():
        bad = _ASCII_BAD.search(raw)
        if bad is None:
            return raw.decode("ascii")
        _refuse(ord(bad.group()), what)
    try:
        # Python's strict UTF-8 decoder refuses overlongs and encoded surrogates
        # U+D800..U+DFFF, which is exactly "well-formed UTF-8" [MQTT-1.5.4-1].
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPacket(f"{what}: invalid UTF-8 ({exc.reason}) [MQTT-1.5.4-1]") from None
    bad_char = _TEXT_BAD.search(text)
    if bad_char is not None:
        _refuse(ord(bad_char.group()), what)
    return text


def _refuse(code_point: int, what: str) -> None:
    if code_point == 0:
        raise MalformedPacket(f"{what}: contains U+0000 [MQTT-1.5.4-2]")
    raise MalformedPacket(f"{what}: contains disallowed code point U+{code_point:04X} "
                          "(control or non-character, MQTT 5.0 §1.5.4)")


def read_text(data: bytes, i: int, what: str) -> tuple[str, int]:
    raw, j = read_binary(data, i, what)
    return decode_text(raw, what), j


def encode_text(s: str) -> bytes:
    raw = s.encode("utf-8")
    n = len(raw)
    if n > 0xFFFF:
        raise UsageError(f"string of {n} bytes exceeds 65535")
    return pack_u16(n) + raw


def encode_binary(b: bytes) -> bytes:
    n = len(b)
    if n > 0xFFFF:
        raise UsageError(f"binary data of {n} bytes exceeds 65535")
    return pack_u16(n) + bytes(b)
