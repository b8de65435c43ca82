"""WebSocketTransport against a recording TCP transport: framing, closing, flow control."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, Pong

from hubbub.transport.websocket import WebSocketTransport, binary_frame


class FakeTcp(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.out = bytearray()
        self.closed = False
        self.aborted = False
        self.reading = True
        self.protocol: asyncio.BaseProtocol | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed
        self.out += data

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            assert self.protocol is not None
            self.protocol.connection_lost(None)

    def abort(self) -> None:
        self.aborted = True
        self.close()

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def get_write_buffer_size(self) -> int:
        return len(self.out)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("10.1.1.1", 4000), "sockname": ("0.0.0.0", 8080)}.get(name, default)


class Recorder(asyncio.Protocol):
    def __init__(self) -> None:
        self.calls: list[object] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.calls.append("made")

    def data_received(self, data: bytes) -> None:
        self.calls.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.calls.append(("lost", exc))


async def _one_tick() -> None:
    # Let callbacks scheduled with call_soon (before this one) run.
    done = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(done.set_result, None)
    await done


def _open() -> tuple[WebSocketTransport, FakeTcp, Recorder, Connection]:
    tcp = FakeTcp()
    ws = WebSocketTransport(tcp, Connection(ConnectionType.SERVER), subprotocol="mqtt",
                            max_message=100)
    proto = Recorder()
    ws.start(lambda: proto)
    return ws, tcp, proto, Connection(ConnectionType.CLIENT)


def _server_events(client: Connection, tcp: FakeTcp) -> list[object]:
    client.receive_data(bytes(tcp.out))
    tcp.out.clear()
    return list(client.events())


async def test_write_and_write_frame_produce_binary_messages() -> None:
    ws, tcp, _, client = _open()
    ws.write(b"\x30\x00")
    ws.write_frame(binary_frame(b"shared"))
    events = _server_events(client, tcp)
    assert [e.data for e in events if isinstance(e, BytesMessage)] == [b"\x30\x00", b"shared"]
    assert ws.get_write_buffer_size() == 0
    assert ws.get_extra_info("transport_kind") == "ws"
    assert ws.get_extra_info("peername") == ("10.1.1.1", 4000)
    assert ws.get_extra_info("subprotocol") == "mqtt"


async def test_several_packets_in_one_read_and_pause_holds_the_rest() -> None:
    ws, tcp, proto, client = _open()
    wire = client.send(Message(data=b"a")) + client.send(Message(data=b"b"))
    ws.pause_reading()
    assert not tcp.reading
    ws.tcp_protocol.data_received(wire)  # arrived before the pause took effect
    ws.resume_reading()
    await _one_tick()  # resume_reading schedules the backlog with call_soon
    assert proto.calls == ["made", b"a", b"b"]


async def test_pause_inside_data_received_stops_delivery() -> None:
    ws, tcp, proto, client = _open()

    def pausing(data: bytes) -> None:
        proto.calls.append(data)
        ws.pause_reading()

    proto.data_received = pausing  # type: ignore[method-assign]
    ws.tcp_protocol.data_received(client.send(Message(data=b"a")) + client.send(
        Message(data=b"b")))
    assert proto.calls == ["made", b"a"]
    ws.resume_reading()
    await _one_tick()
    assert proto.calls == ["made", b"a", b"b"]


class StreamRecorder(Recorder):
    byte_stream = True  # like MQTT: frame boundaries do not matter [MQTT-6.0.0-2]


async def test_a_byte_stream_protocol_gets_the_frames_of_one_read_at_once() -> None:
    tcp = FakeTcp()
    ws = WebSocketTransport(tcp, subprotocol="mqtt", max_message=1000)
    proto = StreamRecorder()
    ws.start(lambda: proto)
    client = Connection(ConnectionType.CLIENT)
    ws.tcp_protocol.data_received(client.send(Message(data=b"a")) + client.send(
        Message(data=b"b" * 200)) + client.send(Message(data=b"c")))
    assert proto.calls == ["made", b"a" + b"b" * 200 + b"c"]


async def test_a_byte_stream_pause_stops_delivery_at_the_next_control_frame() -> None:
    tcp = FakeTcp()
    ws = WebSocketTransport(tcp, subprotocol="mqtt", max_message=100)
    proto = StreamRecorder()
    ws.start(lambda: proto)
    client = Connection(ConnectionType.CLIENT)

    def pausing(data: bytes) -> None:
        proto.calls.append(data)
        ws.pause_reading()

    proto.data_received = pausing  # type: ignore[method-assign]
    ws.tcp_protocol.data_received(client.send(Message(data=b"a")) + client.send(
        Message(data=b"b")) + client.send(Ping(b"p")) + client.send(Message(data=b"c")))
    assert proto.calls == ["made", b"ab"]
    assert _server_events(client, tcp) == []  # the ping waits with the rest
    ws.resume_reading()
    await _one_tick()
    assert proto.calls == ["made", b"ab", b"c"]
    assert _server_events(client, tcp) == [Pong(b"p")]


async def test_close_waits_for_client_close_then_reports_once() -> None:
    ws, tcp, proto, client = _open()
    ws.close()
    ws.write(b"dropped")
    (close,) = _server_events(client, tcp)
    assert isinstance(close, CloseConnection) and close.code == 1000
    assert not tcp.closed and ws.is_closing()
    ws.tcp_protocol.data_received(client.send(close.response()))
    assert tcp.closed
    ws.close()
    ws.tcp_protocol.connection_lost(None)
    assert proto.calls == ["made", ("lost", None)]


async def test_close_with_code_and_timeout_aborts() -> None:
    tcp = FakeTcp()
    ws = WebSocketTransport(tcp, Connection(ConnectionType.SERVER), subprotocol="mqtt",
                            close_timeout=0.01)
    lost = asyncio.Event()
    proto = Recorder()
    proto.connection_lost = lambda exc: lost.set()  # type: ignore[method-assign]
    ws.start(lambda: proto)
    ws.close_with(4000, "bye")
    client = Connection(ConnectionType.CLIENT)
    (close,) = _server_events(client, tcp)
    assert isinstance(close, CloseConnection) and (close.code, close.reason) == (4000, "bye")
    await lost.wait()  # the client never answered: the close timer aborted TCP
    assert tcp.aborted


async def test_oversize_message_counts_across_fragments() -> None:
    ws, tcp, proto, client = _open()
    for _ in range(3):
        ws.tcp_protocol.data_received(client.send(Message(data=b"x" * 40,
                                                          message_finished=False)))
    (close,) = _server_events(client, tcp)
    assert isinstance(close, CloseConnection) and close.code == 1009
    assert sum(len(c) for c in proto.calls if isinstance(c, bytes)) == 80


async def test_failing_factory_closes_1011() -> None:
    tcp = FakeTcp()
    ws = WebSocketTransport(tcp, Connection(ConnectionType.SERVER), subprotocol="mqtt")

    def broken() -> asyncio.Protocol:
        raise RuntimeError("no broker")

    ws.start(broken)
    (close,) = _server_events(Connection(ConnectionType.CLIENT), tcp)
    assert isinstance(close, CloseConnection) and close.code == 1011


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=5), st.booleans())
def test_fuzz_bytes_after_upgrade_never_raise(chunks: list[bytes], masked_prefix: bool) -> None:
    async def run() -> None:
        ws, tcp, proto, client = _open()
        if masked_prefix:
            ws.tcp_protocol.data_received(client.send(Message(data=b"ok")))
        for chunk in chunks:
            if tcp.closed:
                break
            ws.tcp_protocol.data_received(chunk)
        ws.tcp_protocol.connection_lost(None)
        lost = [c for c in proto.calls if isinstance(c, tuple)]
        assert proto.calls[0] == "made" and len(lost) == 1

    asyncio.run(run())
