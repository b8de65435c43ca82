"""binary_frame: byte-exact RFC 6455 §5.2 server frames, readable by a wsproto client."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage

from hubbub.transport.websocket import binary_frame


def test_length_encodings_are_byte_exact() -> None:
    assert binary_frame(b"") == b"\x82\x00"
    assert binary_frame(b"ab") == b"\x82\x02ab"
    assert binary_frame(b"x" * 125)[:2] == b"\x82\x7d"
    assert binary_frame(b"x" * 126)[:4] == b"\x82\x7e\x00\x7e"
    assert binary_frame(b"x" * 65535)[:4] == b"\x82\x7e\xff\xff"
    assert binary_frame(b"x" * 65536)[:10] == b"\x82\x7f" + (65536).to_bytes(8, "big")
    assert binary_frame(memoryview(b"abc")) == b"\x82\x03abc"


@given(st.lists(st.binary(max_size=70000), max_size=3), st.integers(1, 50))
def test_client_parses_frames_split_anywhere(payloads: list[bytes], step: int) -> None:
    client = Connection(ConnectionType.CLIENT)
    wire = b"".join(binary_frame(p) for p in payloads)
    got: list[bytes] = []
    current = b""
    for i in range(0, len(wire), max(1, len(wire) // step)):
        client.receive_data(wire[i:i + max(1, len(wire) // step)])
        for ev in client.events():
            assert isinstance(ev, BytesMessage)
            current += ev.data
            if ev.message_finished:
                got.append(current)
                current = b""
    assert got == payloads
