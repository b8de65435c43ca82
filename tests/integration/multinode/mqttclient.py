"""A plain MQTT 5 client over TCP (real paho-mqtt) for the multinode tests: the nodes run
with the allow-all anonymous policy, so no credentials are needed."""

from __future__ import annotations

import asyncio
import queue
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class Client:
    def __init__(self, port: int, client_id: str) -> None:
        self.port = port
        self.messages: queue.Queue[Any] = queue.Queue()  # paho MQTTMessage
        self.connack: queue.Queue[int] = queue.Queue()
        self.subacks: queue.Queue[int] = queue.Queue()
        self.disconnects: queue.Queue[int] = queue.Queue()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        c.max_inflight_messages_set(1000)  # never hold QoS 1 back behind QoS 0
        c.on_connect = lambda _c, _u, _f, rc, _p: self.connack.put(rc.value)
        c.on_message = lambda _c, _u, m: self.messages.put(m)
        c.on_subscribe = lambda _c, _u, mid, _rc, _p: self.subacks.put(mid)
        c.on_disconnect = lambda _c, _u, _f, rc, _p: self.disconnects.put(rc.value)
        self.mqtt = c

    async def connect(self) -> int:
        await asyncio.to_thread(self.mqtt.connect, "127.0.0.1", self.port, keepalive=60)
        self.mqtt.loop_start()
        return await asyncio.to_thread(self.connack.get, timeout=10)

    async def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        self.mqtt.subscribe(topic_filter, qos)
        await asyncio.to_thread(self.subacks.get, timeout=10)

    async def publish(self, topic: str, payload: bytes, qos: int = 1,
                      retain: bool = False) -> None:
        # Wait for this message's PUBACK (or, for QoS 0, its write): paho sends QoS 0
        # ahead of QoS 1 messages held back by its own inflight limit.
        info = self.mqtt.publish(topic, payload, qos=qos, retain=retain)
        await asyncio.to_thread(info.wait_for_publish, 10)
        assert info.is_published()

    async def next_message(self, timeout: float = 10) -> Any:
        try:
            return await asyncio.to_thread(self.messages.get, timeout=timeout)
        except queue.Empty:
            raise AssertionError("no message arrived") from None

    async def next_disconnect(self, timeout: float = 10) -> int:
        try:
            return await asyncio.to_thread(self.disconnects.get, timeout=timeout)
        except queue.Empty:
            raise AssertionError("not disconnected") from None

    def close(self) -> None:
        self.mqtt.disconnect()
        self.mqtt.loop_stop()


async def connected(port: int, client_id: str) -> Client:
    c = Client(port, client_id)
    assert await c.connect() == 0
    return c


def close_all(*clients: Any) -> None:
    for c in clients:
        c.close()
