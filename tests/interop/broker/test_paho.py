"""paho-mqtt (3.1.1 and 5) against the broker, over TCP and WebSocket."""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from broker_interop_env import Servers
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

pytestmark = pytest.mark.interop

WAIT = 5.0  # failsafe for each wait on a paho callback


class Paho:
    """A paho client driven from a worker thread; callbacks land in queues/events."""

    def __init__(self, client_id: str, protocol: int, transport: str, port: int,
                 clean: bool = True, will: tuple[str, bytes] | None = None) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.connected = threading.Event()
        self.subscribed: queue.Queue[list[Any]] = queue.Queue()
        self.connack: Any = None
        self.conn_props: Any = None
        kw: dict[str, Any] = {}
        if protocol != mqtt.MQTTv5:
            kw["clean_session"] = clean
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=protocol, transport=transport, **kw)
        if transport == "websockets":
            self.c.ws_set_options(path="/mqtt")
        if will:
            self.c.will_set(will[0], will[1], qos=1)
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda c, u, m: self.messages.put(m)
        self.c.on_subscribe = lambda c, u, mid, rcs, props: self.subscribed.put(list(rcs))
        self.c.connect("127.0.0.1", port, keepalive=60, clean_start=clean
                       if protocol == mqtt.MQTTv5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY)
        self.c.loop_start()
        assert self.connected.wait(WAIT), "no CONNACK"

    def _on_connect(self, c: Any, u: Any, flags: Any, rc: Any, props: Any) -> None:
        self.connack = rc
        self.conn_props = props
        self.connected.set()

    def subscribe(self, topic: str, qos: int, props: Properties | None = None) -> list[Any]:
        self.c.subscribe(topic, qos, properties=props)
        return self.subscribed.get(timeout=WAIT)

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False,
                props: Properties | None = None) -> None:
        info = self.c.publish(topic, payload, qos, retain, properties=props)
        info.wait_for_publish(WAIT)
        assert info.is_published()

    def get(self) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=WAIT)

    def stop(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def _scenario_basic(port: int, protocol: int, transport: str) -> None:
    sub = Paho(f"sub-{protocol}-{transport}", protocol, transport, port)
    pub = Paho(f"pub-{protocol}-{transport}", protocol, transport, port)
    try:
        granted = sub.subscribe("room/+", 2)
        assert [int(getattr(g, "value", g)) for g in granted] == [2]
        for qos in (0, 1, 2):
            pub.publish("room/a", b"q%d" % qos, qos)
            m = sub.get()
            assert (m.topic, m.payload, m.qos) == ("room/a", b"q%d" % qos, qos)
        pub.publish("state/x", b"kept", 1, retain=True)
        sub.subscribe("state/#", 1)
        m = sub.get()
        assert m.retain and m.payload == b"kept"
    finally:
        sub.stop()
        pub.stop()


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5])
@pytest.mark.parametrize("transport", ["tcp", "websockets"])
async def test_paho_qos_and_retained(servers: Servers, protocol: int, transport: str) -> None:
    port = servers.tcp_port if transport == "tcp" else servers.ws_port
    await asyncio.to_thread(_scenario_basic, port, protocol, transport)


def _scenario_v5(port: int) -> None:
    sub = Paho("v5-sub", mqtt.MQTTv5, "tcp", port)
    pub = Paho("v5-pub", mqtt.MQTTv5, "tcp", port)
    try:
        assert sub.conn_props.ReceiveMaximum == 100
        assert sub.conn_props.TopicAliasMaximum == 8
        sp = Properties(PacketTypes.SUBSCRIBE)
        sp.SubscriptionIdentifier = 42
        sub.subscribe("v5/#", 1, sp)
        pp = Properties(PacketTypes.PUBLISH)
        pp.UserProperty = [("who", "paho")]
        pp.ResponseTopic = "v5/reply"
        pp.MessageExpiryInterval = 60
        pub.publish("v5/t", b"props", 1, props=pp)
        m = sub.get()
        assert m.properties.UserProperty == [("who", "paho")]
        assert m.properties.ResponseTopic == "v5/reply"
        assert m.properties.SubscriptionIdentifier == [42]
        assert 0 < m.properties.MessageExpiryInterval <= 60
        rcs = sub.subscribe("$share/g/x", 0)
        assert int(getattr(rcs[0], "value", rcs[0])) == 0x9E
    finally:
        sub.stop()
        pub.stop()


async def test_paho_v5_properties(servers: Servers) -> None:
    await asyncio.to_thread(_scenario_v5, servers.tcp_port)


def _scenario_will(port: int) -> None:
    watcher = Paho("watcher", mqtt.MQTTv311, "tcp", port)
    try:
        watcher.subscribe("will/#", 1)
        dying = Paho("dying", mqtt.MQTTv311, "tcp", port, will=("will/dying", b"bye"))
        dying.c.loop_stop()
        dying.c.socket().close()  # connection lost without DISCONNECT
        m = watcher.get()
        assert (m.topic, m.payload) == ("will/dying", b"bye")
    finally:
        watcher.stop()


async def test_paho_will_on_connection_lost(servers: Servers) -> None:
    await asyncio.to_thread(_scenario_will, servers.tcp_port)
