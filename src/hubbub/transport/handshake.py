"""The server's side of the WebSocket opening handshake (RFC 6455 §4.2), sans-IO.

Headers in (as h11 parsed them: lower-case names, bytes), a ``ClientHandshake`` or a
``HandshakeError`` (with the HTTP status to answer) out; ``accept_response`` gives the
101 bytes. Written by hand instead of wsproto's ``initiate_upgrade_connection`` and
``send(AcceptConnection)``: those cost ~100 µs per upgrade here (a second h11 request
object, header re-validation, and the Host decoded with the pure-Python IDNA codec), which
was a third of the broker's CPU in a WebSocket connection storm; this costs ~5 µs
(measured with ``bench/profile_connect.py``). The checks are wsproto's (method, Connection,
Upgrade, Sec-WebSocket-Version, -Key, Host) plus the key's form (§4.2.1 item 5); frames
after the handshake are still parsed and checked as ``hubbub.transport.websocket`` says.
No extension is ever accepted (no permessage-deflate), so the offer is ignored (§9.1).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from hubbub.errors import ProtocolError

#: RFC 6455 §1.3: the GUID appended to the client's key for Sec-WebSocket-Accept.
ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WEBSOCKET_VERSION = b"13"


class HandshakeError(ProtocolError):
    """The client's upgrade request is not a valid WebSocket opening handshake."""

    def __init__(self, message: str, http_status: int = 400,
                 headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message, http_status=http_status)
        #: Headers to add to the refusal (426 names the version we speak, §4.4).
        self.headers = headers


@dataclass(frozen=True, slots=True)
class ClientHandshake:
    """What the server needs from a valid upgrade request."""

    key: bytes
    subprotocols: tuple[str, ...]


def _tokens(value: bytes) -> list[str]:
    # A comma-separated header (RFC 9110 §5.6.1); h11 joined repeated fields with ", ".
    return [t.strip() for t in value.decode("latin-1").split(",") if t.strip()]


def parse_request(method: bytes, headers: Iterable[tuple[bytes, bytes]]) -> ClientHandshake:
    """Check an upgrade request (RFC 6455 §4.2.1); raises ``HandshakeError``."""
    if method != b"GET":
        raise HandshakeError("Request method must be GET")
    connection: list[str] = []
    upgrade: list[str] = []
    subprotocols: list[str] = []
    key = version = None
    host = False
    for name, value in headers:
        if name == b"connection":
            connection += _tokens(value)
        elif name == b"upgrade":
            upgrade += _tokens(value)
        elif name == b"sec-websocket-key":
            key = value.strip()
        elif name == b"sec-websocket-version":
            version = value.strip()
        elif name == b"sec-websocket-protocol":
            subprotocols += _tokens(value)
        elif name == b"host":
            host = True
    if not any(t.lower() == "upgrade" for t in connection):
        raise HandshakeError("Missing header, 'Connection: Upgrade'")
    if version != WEBSOCKET_VERSION:
        # §4.4: a version we do not speak gets 426 and the versions we do.
        raise HandshakeError("Missing header, 'Sec-WebSocket-Version'" if version is None
                             else f"unsupported Sec-WebSocket-Version {version!r}",
                             426 if version else 400, (("sec-websocket-version", "13"),))
    if key is None:
        raise HandshakeError("Missing header, 'Sec-WebSocket-Key'")
    try:
        nonce = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        nonce = b""
    if len(nonce) != 16:
        raise HandshakeError("Sec-WebSocket-Key is not 16 bytes in base64 [RFC 6455 §4.2.1]")
    if not any(t.lower() == "websocket" for t in upgrade):
        raise HandshakeError("Missing header, 'Upgrade: websocket'")
    if not host:
        raise HandshakeError("Missing header, 'Host'")
    return ClientHandshake(key, tuple(subprotocols))


def accept_token(key: bytes) -> bytes:
    """Sec-WebSocket-Accept for the client's Sec-WebSocket-Key (RFC 6455 §4.2.2 item 5.4)."""
    return base64.b64encode(hashlib.sha1(key + ACCEPT_GUID).digest())


def accept_response(key: bytes, subprotocol: str | None) -> bytes:
    """The 101 Switching Protocols response accepting the handshake (§4.2.2)."""
    proto = b"Sec-WebSocket-Protocol: " + subprotocol.encode("ascii") + b"\r\n" \
        if subprotocol else b""
    return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept_token(key) + b"\r\n"
            + proto + b"\r\n")
