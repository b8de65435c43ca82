"""The fake socket transport the in-process profilers (``profile_broker``,
``profile_chat``, ``profile_connect``) attach the real protocol stack to: it counts what
is written and never pushes back, so only hubbub's own work is timed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class CountingTransport(asyncio.Transport):
    """``kind`` is reported as ``transport_kind`` (None: not reported, as for a socket the
    web server has not upgraded yet); ``on_write`` runs after every write."""

    def __init__(self, kind: str | None = "tcp",
                 on_write: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.on_write = on_write
        self.written = 0
        self.closed = False
        self.protocol: Any = None

    def write(self, data: Any) -> None:
        self.written += len(data)
        if self.on_write is not None:
            self.on_write()

    def write_frame(self, frame: bytes) -> None:
        self.write(frame)

    def get_write_buffer_size(self) -> int:
        return 0

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        # A socket's close ends its protocol; one attached without set_protocol (the
        # broker profilers call connection_made directly) just stops counting.
        if not self.closed:
            self.closed = True
            if self.protocol is not None:
                self.protocol.connection_lost(None)

    abort = close

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        info: dict[str, Any] = {"peername": ("10.0.0.1", 1)}
        if self.kind is not None:
            info["transport_kind"] = self.kind
        return info.get(name, default)


def connected(conn: Any, cid: str) -> Any:
    """Take ``conn`` (an ``MqttProtocol`` already on a transport) through CONNECT and
    CONNACK without the broker's admission, and give it a session; returns the session.
    hubbub is imported here, not above: ``profile_chat --compare`` picks its tree first."""
    from hubbub.broker.protocol import CONNECTED
    from hubbub.broker.sessions import Session
    from hubbub.mqtt.codec import encode
    from hubbub.mqtt.packets import Connack, Connect

    conn.mqtt.receive_data(encode(Connect(protocol_level=4, client_id=cid), 4))
    conn.mqtt.send(Connack())
    assert conn.state is CONNECTED
    session = Session(cid, cid)
    session.link = conn
    conn.session = session
    return session
