"""The generator's MQTT codec: byte-exact templates, splitting at every offset, bad input."""

from __future__ import annotations

import pytest
from bench import mqttwire as mw
from hypothesis import given
from hypothesis import strategies as st


def test_remaining_length_spec_examples() -> None:
    # MQTT 3.1.1 §2.2.3, Table 2.4 boundaries.
    assert mw.remaining_length(0) == b"\x00"
    assert mw.remaining_length(127) == b"\x7f"
    assert mw.remaining_length(128) == b"\x80\x01"
    assert mw.remaining_length(16_383) == b"\xff\x7f"
    assert mw.remaining_length(16_384) == b"\x80\x80\x01"
    assert mw.remaining_length(268_435_455) == b"\xff\xff\xff\x7f"
    with pytest.raises(mw.WireError):
        mw.remaining_length(268_435_456)


def test_connect_bytes() -> None:
    assert mw.connect("c1", keepalive=60) == (b"\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x02c1")
    with pytest.raises(mw.WireError):
        mw.connect("c", keepalive=70_000)


def test_subscribe_and_puback_bytes() -> None:
    assert mw.subscribe(1, "a/b", 1) == b"\x82\x08\x00\x01\x00\x03a/b\x01"
    assert mw.puback(258) == b"\x40\x02\x01\x02"
    with pytest.raises(mw.WireError):
        mw.puback(0)  # [MQTT-2.3.1-1]
    with pytest.raises(mw.WireError):
        mw.subscribe(1, "a", 3)


@pytest.mark.parametrize("qos", [0, 1])
@pytest.mark.parametrize("size", [8, 64, 1024])
def test_publish_template_round_trip(qos: int, size: int) -> None:
    tpl = mw.PublishTemplate("chat/pub/room", qos, size)
    pkt = tpl.build(123_456_789, packet_id=7)
    assert len(pkt) == tpl.size
    [(first, body)] = mw.PacketSplitter().feed(pkt)
    assert first >> 4 == mw.PUBLISH and (first >> 1) & 3 == qos
    assert mw.publish_stamp(first, body) == ((7 if qos else 0), 123_456_789)
    assert body.endswith(b"x" * (size - 8))


def test_publish_template_refuses_bad_use() -> None:
    with pytest.raises(mw.WireError):
        mw.PublishTemplate("t", 0, 4)  # no room for the stamp
    with pytest.raises(mw.WireError):
        mw.PublishTemplate("t", 2, 64)


def test_stamp_in_a_short_payload_is_refused() -> None:
    with pytest.raises(mw.WireError):
        mw.publish_stamp(0x30, b"\x00\x01tabc")


def test_splitter_every_offset() -> None:
    stream = (
        b"\x20\x02\x00\x00"
        + mw.PublishTemplate("t", 1, 200).build(5, 9)
        + b"\xd0\x00"
        + b"\x90\x03\x00\x01\x00"
    )
    whole = mw.PacketSplitter().feed(stream)
    assert [f >> 4 for f, _ in whole] == [mw.CONNACK, mw.PUBLISH, mw.PINGRESP, mw.SUBACK]
    for cut in range(len(stream) + 1):
        sp = mw.PacketSplitter()
        assert sp.feed(stream[:cut]) + sp.feed(stream[cut:]) == whole


def test_splitter_byte_by_byte() -> None:
    stream = mw.PublishTemplate("t", 0, 300).build(1) * 3
    sp = mw.PacketSplitter()
    out = [p for i in range(len(stream)) for p in sp.feed(stream[i : i + 1])]
    assert len(out) == 3


def test_splitter_refuses_five_byte_length() -> None:
    with pytest.raises(mw.WireError):
        mw.PacketSplitter().feed(b"\x30\xff\xff\xff\xff\x01")


@given(st.binary(max_size=64))
def test_splitter_never_crashes_on_garbage(data: bytes) -> None:
    try:
        mw.PacketSplitter().feed(data)
    except mw.WireError:
        pass


@given(st.integers(0, 268_435_455))
def test_remaining_length_round_trip(n: int) -> None:
    encoded = mw.remaining_length(n)
    # Decode through the splitter: a header with that length and no body is incomplete
    # unless n == 0.
    packets = mw.PacketSplitter().feed(b"\x30" + encoded)
    assert packets == ([(0x30, b"")] if n == 0 else [])
