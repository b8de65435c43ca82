"""A chat participant for tests: real paho-mqtt (MQTT 5) over WebSocket or TCP, with
credentials from the real ``POST /api/credentials``. Paho runs its own network thread;
tests await messages without blocking the server's event loop."""

from __future__ import annotations

import asyncio
import json
import queue
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties  # noqa: F401  (re-exported for tests)


def post_json(url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any], Any]:
    data = json.dumps(body or {}).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"{}")


async def aget_json(url: str) -> tuple[int, Any]:
    return await asyncio.to_thread(get_json, url)


def get_json(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


class ChatClient:
    @classmethod
    async def create(cls, base_url: str, *, transport: str = "websockets",
                     mqtt_port: int | None = None, token: str | None = None) -> ChatClient:
        status, _, creds = await asyncio.to_thread(
            post_json, f"{base_url}/api/credentials", {"token": token} if token else None)
        assert status == 200, creds
        return cls(base_url, creds, transport=transport, mqtt_port=mqtt_port)

    def __init__(self, base_url: str, creds: dict[str, Any], *, transport: str = "websockets",
                 mqtt_port: int | None = None) -> None:
        self.base = base_url
        self.creds = creds
        self.client_id: str = creds["clientId"]
        self.inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.connack: queue.Queue[Any] = queue.Queue()
        self.acks: queue.Queue[int] = queue.Queue()
        self.disconnects: queue.Queue[Any] = queue.Queue()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                        protocol=mqtt.MQTTv5, transport=transport)
        if transport == "websockets":
            c.ws_set_options(path="/mqtt")
        c.username_pw_set("guest", creds["token"])
        c.on_connect = lambda _c, _u, _f, rc, _p: self.connack.put(rc)
        c.on_message = self._on_message
        c.on_publish = lambda _c, _u, mid, _rc, _p: self.acks.put(mid)
        c.on_disconnect = lambda _c, _u, _f, rc, _p: self.disconnects.put(rc)
        self.mqtt = c
        host, port = base_url.split("//")[1].split(":")
        self._addr = (host, int(port) if transport == "websockets" else int(mqtt_port or 0))

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        try:
            payload = json.loads(msg.payload)
        except ValueError:
            payload = msg.payload
        self.inbox.put((msg.topic, payload))

    async def connect(self) -> Any:
        # connect() blocks on the (WebSocket) handshake: off the server's event loop
        await asyncio.to_thread(self.mqtt.connect, *self._addr, keepalive=60)
        self.mqtt.loop_start()
        rc = await asyncio.to_thread(self.connack.get, timeout=10)
        return rc

    async def join(self, room: str, user: str) -> dict[str, Any]:
        self.mqtt.subscribe([(f"chat/in/{self.client_id}", 1), (f"chat/pub/{room}", 1)])
        await asyncio.sleep(0)  # let the SUBSCRIBE go out before the join (ordered on the wire)
        self.publish("chat/out", {"type": "join", "room": room, "user": user})
        return await self.expect(lambda t, p: isinstance(p, dict) and p.get("type") == "welcome")

    def publish(self, topic: str, obj: Any, qos: int = 1) -> Any:
        payload = obj if isinstance(obj, bytes | str) else json.dumps(obj)
        return self.mqtt.publish(topic, payload, qos=qos)

    def say(self, room: str, user: str, text: str) -> Any:
        return self.publish("chat/out", {"room": room, "message": {"user": user, "text": text}})

    async def expect(self, pred: Callable[[str, Any], bool], timeout: float = 10) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("expected message did not arrive")
            try:
                topic, payload = await asyncio.to_thread(self.inbox.get, timeout=left)
            except queue.Empty:
                raise AssertionError("expected message did not arrive") from None
            if pred(topic, payload):
                return payload

    def close(self) -> None:
        self.mqtt.disconnect()
        self.mqtt.loop_stop()
