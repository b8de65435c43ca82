"""MQTT over TCP: an asyncio server around the broker's protocol factory."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable


async def start_tcp_server(protocol_factory: Callable[[], asyncio.Protocol], host: str,
                           port: int, *, backlog: int = 1024) -> asyncio.Server:
    """Listen on ``host:port`` (0 picks a free port); each connection gets a new protocol.

    TCP_NODELAY is set per connection by the protocol (small MQTT packets must not wait
    for Nagle's algorithm); ``backlog`` is large enough for connection storms.
    """
    loop = asyncio.get_running_loop()
    server = await loop.create_server(protocol_factory, host, port, backlog=backlog,
                                      reuse_address=True)
    for sock in server.sockets:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return server
