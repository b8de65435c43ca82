"""The load generator's client-side WebSocket: opening handshake and framing (RFC 6455).

Pure: no asyncio, socket, random or time; the caller supplies the key and mask bytes.
Client frames are masked (RFC 6455 §5.3); server frames must not be (§5.1).
"""

from __future__ import annotations

import base64
import hashlib

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
MAX_FRAME = 1 << 24  # refuse absurd frames instead of buffering them


class WsError(ValueError):
    """The server broke RFC 6455 (handshake or framing)."""


def accept_value(key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2 step 5.4)."""
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


def handshake_request(host: str, path: str, key: str, protocol: str = "mqtt") -> bytes:
    """The opening GET; MQTT over WebSocket asks for subprotocol "mqtt" (MQTT 3.1.1 §6)."""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {protocol}\r\n\r\n"
    ).encode()


def parse_handshake_response(buf: bytes, key: str) -> int | None:
    """Bytes consumed by a valid 101 response, None if incomplete; raises WsError if refused."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > 16384:
            raise WsError("handshake response headers too long")
        return None
    lines = buf[:end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or parts[1] != "101":
        raise WsError(f"handshake refused: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if headers.get("sec-websocket-accept") != accept_value(key):
        raise WsError("bad Sec-WebSocket-Accept")
    return end + 4


def mask_payload(payload: bytes, mask: bytes) -> bytes:
    """XOR with the 4-byte key repeated (§5.3), done as one big-integer XOR for speed."""
    n = len(payload)
    if not n:
        return b""
    keystream = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(keystream, "big")).to_bytes(n, "big")


def client_frame(payload: bytes, mask: bytes, opcode: int = OP_BINARY) -> bytes:
    """One final, masked frame (§5.2)."""
    if len(mask) != 4:
        raise WsError("the masking key is 4 bytes")
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + mask_payload(payload, mask)


class FrameReader:
    """Turns server bytes into (opcode, payload) frames; continuation frames keep OP_CONT.

    The MQTT stream is the concatenation of binary and continuation payloads, so the
    caller does not need to reassemble messages.
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._buf + data if self._buf else data
        out: list[tuple[int, bytes]] = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            if b0 & 0x70:
                raise WsError("reserved bits set without a negotiated extension (§5.2)")
            if b1 & 0x80:
                raise WsError("server frames must not be masked (§5.1)")
            n, at = b1 & 0x7F, pos + 2
            if n == 126:
                if end - at < 2:
                    break
                n, at = int.from_bytes(buf[at : at + 2], "big"), at + 2
            elif n == 127:
                if end - at < 8:
                    break
                n, at = int.from_bytes(buf[at : at + 8], "big"), at + 8
            if n > MAX_FRAME:
                raise WsError(f"frame of {n} bytes exceeds the generator's limit")
            if end - at < n:
                break
            out.append((b0 & 0x0F, buf[at : at + n]))
            pos = at + n
        self._buf = buf[pos:]
        return out
