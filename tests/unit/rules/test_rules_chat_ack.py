"""The chat path's promise, in process: a chat message's QoS 1 PUBACK leaves only after
ChatRepublish's republish and ChatStore's put have committed (rules evaluated in
``RulesEngine.dispatch``, the put held back on SQLite's writer thread)."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

from hubbub.broker.hooks import Identity
from hubbub.broker.protocol import CONNECTED, MqttProtocol
from hubbub.broker.router import Grant
from hubbub.broker.sessions import Session
from hubbub.config import Config
from hubbub.mqtt.codec import encode
from hubbub.mqtt.packets import Connack, Connect, Publish
from hubbub.server import Node


class Wire(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()
        self.wrote = asyncio.Event()

    def write(self, data: Any) -> None:
        self.data += data
        self.wrote.set()

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"transport_kind": "tcp", "peername": ("10.0.0.1", 1)}.get(name, default)


def attach(node: Node, cid: str) -> tuple[MqttProtocol, Wire]:
    conn, wire = MqttProtocol(node.broker), Wire()
    conn.connection_made(wire)
    conn.mqtt.receive_data(encode(Connect(protocol_level=4, client_id=cid), 4))
    conn.mqtt.send(Connack())
    assert conn.state is CONNECTED
    conn.session = Session(cid, cid)
    conn.session.link = conn
    conn.identity = Identity(principal_id="anonymous", client_id=cid)
    wire.data.clear()
    wire.wrote.clear()
    return conn, wire


async def test_the_puback_waits_for_the_durable_put(tmp_path: Path) -> None:
    cfg = Config(port=0, mqtt_port=0, data=tmp_path, anonymous_policy="allow-all",
                 publish_rate=0, log_level="warning", extra={"presenceDebounceSeconds": 0})
    node = Node(cfg)
    await node.start()
    try:
        sub, sub_wire = attach(node, "reader")
        assert sub.session is not None
        node.broker.router.subscribe(sub.session, "chat/pub/lobby", Grant(1))
        pub, pub_wire = attach(node, "writer")
        writer = node._table_engine.writer
        entered, release = threading.Event(), threading.Event()

        def gate(conn: Any) -> None:  # holds SQLite's writer thread
            entered.set()
            release.wait(10)

        held = asyncio.ensure_future(writer.write(gate))
        assert await asyncio.to_thread(entered.wait, 10)
        message = {"room": "lobby", "message": {"user": "ann", "text": "hello"}}
        pub.data_received(encode(Publish("chat/out", json.dumps(message).encode(), 1,
                                         packet_id=7), 4))
        while writer.pending < 2:  # the gate and ChatStore's put (yields, no timer)
            await asyncio.sleep(0)
        for _ in range(50):  # let every ready callback run: a PUBACK would be out by now
            await asyncio.sleep(0)
        assert sub_wire.data  # the room already heard it (fan-out does not wait) ...
        assert not pub_wire.data  # ... but the publisher has no PUBACK: not stored yet
        release.set()
        await held
        await pub_wire.wrote.wait()
        assert bytes(pub_wire.data) == b"\x40\x02\x00\x07"  # PUBACK 7
        page = await node.services.table("chat").query("lobby")
        assert [(i["user"], i["text"], i["clientId"]) for i in page.items] == [
            ("ann", "hello", "writer")]
    finally:
        release.set()
        await node.stop()


async def test_an_invalid_message_is_acknowledged_without_a_put(tmp_path: Path) -> None:
    """Not valid: ChatRepublish's WHERE is false, the chat function answers instead."""
    cfg = Config(port=0, mqtt_port=0, data=tmp_path, anonymous_policy="allow-all",
                 publish_rate=0, log_level="warning", extra={"presenceDebounceSeconds": 0})
    node = Node(cfg)
    await node.start()
    try:
        pub, pub_wire = attach(node, "writer")
        message = {"room": "-bad-", "message": {"user": "ann", "text": "hello"}}
        pub.data_received(encode(Publish("chat/out", json.dumps(message).encode(), 1,
                                         packet_id=9), 4))
        await pub_wire.wrote.wait()
        assert bytes(pub_wire.data).startswith(b"\x40\x02\x00\x09")
        page = await node.services.table("chat").query("-bad-")
        assert page.items == []
    finally:
        await node.stop()
