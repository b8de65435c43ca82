"""Real MQTT peers for the attack battery: paho-mqtt 3.1.1 or 5, over TCP or WebSocket.

Paho runs its own network thread and its blocking calls (the WebSocket handshake, waiting
for an ack) go through ``asyncio.to_thread``: the server under test runs on the test's event
loop and must keep running while we wait.

Reason codes are reported as they were on the wire: MQTT 5 reason codes as is; for 3.1.1
the CONNACK return code (paho turns 1..5 into v5 reason codes, a bijection we undo) and
the SUBACK return code (0x00..0x02 or 0x80).
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hubbub.broker.hooks import Identity
from hubbub.broker.message import Message

V311, V5 = 4, 5
TRANSPORTS = ("tcp", "websockets")

# paho maps a 3.1.1 CONNACK return code to a v5 reason code; this is the way back.
_V3_CONNACK = {0: 0, 0x84: 1, 0x85: 2, 0x88: 3, 0x86: 4, 0x87: 5}


def post(url: str, body: bytes | None, headers: dict[str, str] | None = None
         ) -> tuple[int, dict[str, str], Any]:
    """POST raw bytes; returns (status, lower-cased headers, parsed JSON or raw text)."""
    req = urllib.request.Request(url, data=body if body is not None else b"", method="POST",
                                 headers=headers or {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, hdrs, raw = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        status, hdrs, raw = exc.code, exc.headers, exc.read()
    try:
        parsed: Any = json.loads(raw)
    except ValueError:
        parsed = raw.decode(errors="replace")
    return status, {k.lower(): v for k, v in hdrs.items()}, parsed


async def credentials(base_url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    status, _, creds = await asyncio.to_thread(
        post, f"{base_url}/api/credentials", json.dumps(body or {}).encode())
    assert status == 200, creds
    return creds  # type: ignore[no-any-return]


class Peer:
    """One MQTT connection; every outcome lands in a thread-safe queue."""

    def __init__(self, *, host: str, port: int, client_id: str, password: str | bytes | None,
                 version: int = V5, transport: str = "tcp", username: str = "guest") -> None:
        self.client_id = client_id
        self.version = version
        self.transport = transport
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._connack: queue.Queue[int] = queue.Queue()
        self._disconnects: queue.Queue[int] = queue.Queue()
        self._acks: dict[int, Any] = {}
        self._cond = threading.Condition()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                        protocol=mqtt.MQTTv5 if version == V5 else mqtt.MQTTv311,
                        transport=transport, reconnect_on_failure=False)
        if transport == "websockets":
            c.ws_set_options(path="/mqtt")
        if password is not None or username:
            c.username_pw_set(username, password)
        c.on_connect = self._on_connect
        c.on_message = lambda _c, _u, m: self.messages.put((m.topic, bytes(m.payload)))
        c.on_subscribe = self._on_subscribe
        c.on_publish = self._on_publish
        c.on_disconnect = self._on_disconnect
        self.mqtt = c
        self._addr = (host, port)

    # -- paho callbacks (network thread) ---------------------------------------------

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        value = int(rc.value)
        self._connack.put(value if self.version == V5 else _V3_CONNACK.get(value, value))

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, codes: Any, _p: Any) -> None:
        with self._cond:
            self._acks[mid] = [int(rc.value) for rc in codes]
            self._cond.notify_all()

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        with self._cond:
            self._acks[mid] = int(rc.value)
            self._cond.notify_all()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self._disconnects.put(int(rc.value))

    def _wait_ack(self, mid: int, timeout: float) -> Any:
        with self._cond:
            if not self._cond.wait_for(lambda: mid in self._acks, timeout):
                raise AssertionError(f"no ack for message id {mid} within {timeout}s")
            return self._acks.pop(mid)

    # -- test API (awaitable) -----------------------------------------------------------

    async def connect(self, timeout: float = 10) -> int:
        """CONNECT; returns the CONNACK code as on the wire (v5 reason / 3.1.1 return code)."""
        await asyncio.to_thread(self.mqtt.connect, *self._addr, keepalive=60)
        self.mqtt.loop_start()
        return await asyncio.to_thread(self._connack.get, timeout=timeout)

    async def subscribe(self, *filters: str, qos: int = 1) -> list[int]:
        """One SUBACK's codes, one per filter, in order."""
        rc, mid = self.mqtt.subscribe([(f, qos) for f in filters])
        assert rc == mqtt.MQTT_ERR_SUCCESS, rc
        codes: list[int] = await asyncio.to_thread(self._wait_ack, mid, 10)
        return codes

    async def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> int | None:
        """Publish; QoS 1 returns the PUBACK reason (v5; 0 for 3.1.1), QoS 0 returns None."""
        info = self.mqtt.publish(topic, payload, qos=qos)
        if qos == 0:
            return None
        code: int = await asyncio.to_thread(self._wait_ack, info.mid, 10)
        return code

    async def _await_ack(self, mid: int, timeout: float = 10) -> Any:
        return await asyncio.to_thread(self._wait_ack, mid, timeout)

    def send(self, topic: str, payload: bytes | str, qos: int = 1) -> None:
        """Publish without waiting for anything (e.g. when the ack never comes)."""
        self.mqtt.publish(topic, payload, qos=qos)

    async def disconnected(self, timeout: float = 10) -> int:
        """Wait until the server ends the connection; the v5 DISCONNECT reason (or paho's
        code for a bare close)."""
        return await asyncio.to_thread(self._disconnects.get, timeout=timeout)

    def is_connected(self) -> bool:
        return self.mqtt.is_connected()

    async def received(self, pred: Callable[[str, bytes], bool], timeout: float = 10
                       ) -> list[tuple[str, bytes]]:
        """Everything received up to and including the first message matching ``pred``."""
        seen: list[tuple[str, bytes]] = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"expected message never came; saw {seen}")
            try:
                item = await asyncio.to_thread(self.messages.get, timeout=left)
            except queue.Empty:
                raise AssertionError(f"expected message never came; saw {seen}") from None
            seen.append(item)
            if pred(*item):
                return seen

    def close(self) -> None:
        self.mqtt.disconnect()
        self.mqtt.loop_stop()


@dataclass
class Recorder:
    """An in-process observer: every publish the broker accepted, with its origin."""

    seen: list[tuple[Message, Identity | None]] = field(default_factory=list)
    _event: asyncio.Event = field(default_factory=asyncio.Event)

    def on_publish(self, msg: Message, origin: Identity | None) -> None:
        self.seen.append((msg, origin))
        self._event.set()

    def topics(self, prefix: str = "") -> list[str]:
        return [m.topic for m, _ in self.seen if m.topic.startswith(prefix)]

    async def wait_for(self, topic: str, timeout: float = 10) -> Message:
        """The first accepted message on ``topic`` (already seen or still to come)."""
        async def find() -> Message:
            while True:
                for m, _ in self.seen:
                    if m.topic == topic:
                        return m
                self._event.clear()
                await self._event.wait()
        return await asyncio.wait_for(find(), timeout)
