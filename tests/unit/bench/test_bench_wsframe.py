"""The generator's client-side WebSocket framing (RFC 6455)."""

from __future__ import annotations

import pytest
from bench import wsframe as wf
from hypothesis import given
from hypothesis import strategies as st
from wsproto.frame_protocol import FrameProtocol, Opcode

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # the RFC 6455 §1.3 example


def test_accept_value_rfc_example() -> None:
    assert wf.accept_value(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_handshake_response() -> None:
    ok = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"Sec-WebSocket-Protocol: mqtt\r\n\r\n"
    )
    assert wf.parse_handshake_response(ok[:-1], KEY) is None
    assert wf.parse_handshake_response(ok + b"\x82\x00", KEY) == len(ok)
    with pytest.raises(wf.WsError, match="refused"):
        wf.parse_handshake_response(b"HTTP/1.1 404 Not Found\r\n\r\n", KEY)
    with pytest.raises(wf.WsError, match="Accept"):
        wf.parse_handshake_response(ok.replace(b"s3pP", b"AAAA"), KEY)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536])
def test_client_frames_decode_with_wsproto(size: int) -> None:
    # wsproto, acting as the server, must accept our masked frames (§5.2, §5.3).
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    server = FrameProtocol(client=False, extensions=[])
    server.receive_bytes(wf.client_frame(payload, b"\x01\x02\x03\x04"))
    [frame] = list(server.received_frames())
    assert frame.opcode is Opcode.BINARY
    assert isinstance(frame.payload, bytes | bytearray) and bytes(frame.payload) == payload


def test_mask_is_an_involution() -> None:
    data = b"hello mqtt" * 7
    masked = wf.mask_payload(data, b"\xaa\xbb\xcc\xdd")
    assert masked != data and wf.mask_payload(masked, b"\xaa\xbb\xcc\xdd") == data


def test_reader_server_frames_split_everywhere() -> None:
    server = FrameProtocol(client=False, extensions=[])
    stream = bytes(
        server.send_data(b"a" * 10, fin=True)
        + server.send_data(b"b" * 300, fin=True)
        + server.ping(b"p")
        + server.send_data(b"c" * 70_000, fin=True)
    )
    whole = wf.FrameReader().feed(stream)
    assert [(op, len(p)) for op, p in whole] == [(2, 10), (2, 300), (9, 1), (2, 70_000)]
    for cut in range(0, len(stream), 97):
        r = wf.FrameReader()
        assert r.feed(stream[:cut]) + r.feed(stream[cut:]) == whole


def test_reader_refuses_masked_and_reserved() -> None:
    with pytest.raises(wf.WsError, match="masked"):
        wf.FrameReader().feed(b"\x82\x81abcdx")
    with pytest.raises(wf.WsError, match="reserved"):
        wf.FrameReader().feed(b"\xc2\x00")
    with pytest.raises(wf.WsError, match="limit"):
        wf.FrameReader().feed(b"\x82\x7f" + (1 << 40).to_bytes(8, "big"))


def test_bad_mask_length() -> None:
    with pytest.raises(wf.WsError):
        wf.client_frame(b"x", b"abc")


@given(st.binary(max_size=40))
def test_reader_never_crashes_on_garbage(data: bytes) -> None:
    try:
        wf.FrameReader().feed(data)
    except wf.WsError:
        pass
