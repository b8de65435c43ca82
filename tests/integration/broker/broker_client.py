"""A tiny asyncio MQTT client for broker tests, on top of hubbub's codec."""

from __future__ import annotations

import asyncio
from typing import Any

from hubbub.mqtt.codec import encode
from hubbub.mqtt.decoder import Decoder
from hubbub.mqtt.packets import (
    EMPTY_PROPERTIES,
    Connack,
    Connect,
    Disconnect,
    Packet,
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

TIMEOUT = 5.0  # failsafe only: every wait is on an event, this bounds a broken test


class Client:
    """Raw packets in and out; ``recv`` waits for the next packet (or EOF -> None)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 version: int) -> None:
        self.reader = reader
        self.writer = writer
        self.version = version
        self.decoder = Decoder(version=version)
        self._next_pid = 0

    @classmethod
    async def open(cls, port: int, version: int = 5) -> Client:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        return cls(r, w, version)

    @classmethod
    async def connect(cls, port: int, client_id: str = "c1", version: int = 5, *,
                      clean: bool = True, keep_alive: int = 60,
                      properties: Properties = EMPTY_PROPERTIES, will: Will | None = None,
                      username: str | None = None, password: bytes | None = None,
                      expect: int = 0) -> Client:
        c = await cls.open(port, version)
        c.send(Connect("MQTT", version, clean, keep_alive, client_id, username, password,
                       will, properties))
        ack = await c.recv()
        assert isinstance(ack, Connack), ack
        assert ack.reason_code == expect, ack
        c.connack = ack
        return c

    def pid(self) -> int:
        self._next_pid = self._next_pid % 65535 + 1
        return self._next_pid

    def send(self, packet: Packet) -> None:
        self.writer.write(encode(packet, self.version))

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def recv(self, timeout: float = TIMEOUT) -> Packet | None:
        while True:
            p = self.decoder.next_packet()
            if p is not None:
                return p
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                return None
            self.decoder.feed(data)

    async def recv_type(self, kind: type[Any], timeout: float = TIMEOUT) -> Any:
        p = await self.recv(timeout)
        assert isinstance(p, kind), f"expected {kind.__name__}, got {p!r}"
        return p

    async def closed(self, timeout: float = TIMEOUT) -> list[Packet]:
        """Read until EOF; returns the packets received before it."""
        out = []
        while True:
            try:
                p = await self.recv(timeout)
            except (ConnectionResetError, BrokenPipeError):
                return out
            if p is None:
                return out
            out.append(p)

    async def subscribe(self, *filters: str | Subscription, qos: int = 0,
                        properties: Properties = EMPTY_PROPERTIES) -> tuple[int, ...]:
        subs = tuple(f if isinstance(f, Subscription) else Subscription(f, qos)
                     for f in filters)
        pid = self.pid()
        self.send(Subscribe(pid, subs, properties))
        ack = await self.recv_type(Suback)
        assert ack.packet_id == pid
        return tuple(ack.reason_codes)

    async def unsubscribe(self, *filters: str) -> Unsuback:
        pid = self.pid()
        self.send(Unsubscribe(pid, filters))
        ack: Unsuback = await self.recv_type(Unsuback)
        return ack

    async def publish(self, topic: str, payload: bytes = b"x", qos: int = 0,
                      retain: bool = False, properties: Properties = EMPTY_PROPERTIES) -> Any:
        """Publish and complete the QoS flow; returns the PUBACK/PUBREC (or None)."""
        pid = self.pid() if qos else None
        self.send(Publish(topic, payload, qos, retain, False, pid, properties))
        if qos == 1:
            return await self.recv_type(Puback)
        if qos == 2:
            rec = await self.recv_type(Pubrec)
            if rec.reason_code < 0x80:
                self.send(Pubrel(rec.packet_id))
                await self.recv_type(Pubcomp)
            return rec
        return None

    async def disconnect(self, reason: int = 0, properties: Properties = EMPTY_PROPERTIES) -> None:
        self.send(Disconnect(reason, properties))
        await self.close()

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionResetError, BrokenPipeError):
            pass
