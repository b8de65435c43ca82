"""The decoder's shortcut for the usual PUBACK (4 bytes, non-zero id) gives exactly what
the general path gives, and leaves every other shape to it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubbub.errors import PeerError
from hubbub.mqtt.decoder import Decoder
from hubbub.mqtt.packets import MQTT_5, MQTT_311, Puback


def _all(data: bytes, version: int | None) -> list[object]:
    d = Decoder(version=version)
    d.feed(data)
    out = []
    while (p := d.next_packet()) is not None:
        out.append(p)
    return out


@given(st.lists(st.integers(1, 65535), max_size=20), st.sampled_from([MQTT_311, MQTT_5]))
def test_runs_of_pubacks_decode_in_order_and_split_anywhere(ids: list[int], v: int) -> None:
    wire = b"".join(b"\x40\x02" + i.to_bytes(2, "big") for i in ids)
    assert _all(wire, v) == [Puback(i) for i in ids]
    d = Decoder(version=v)
    got = []
    for byte in wire:  # one byte at a time: never a packet before its last byte
        d.feed(bytes([byte]))
        while (p := d.next_packet()) is not None:
            got.append(p)
    assert got == [Puback(i) for i in ids]


def test_other_shapes_take_the_general_path() -> None:
    assert _all(b"\x40\x03\x00\x07\x10", MQTT_5) == [Puback(7, 0x10)]  # with a reason code
    with pytest.raises(PeerError):
        _all(b"\x40\x02\x00\x00", MQTT_311)  # packet id 0 [MQTT-2.2.1-3]
    with pytest.raises(PeerError):
        _all(b"\x42\x02\x00\x01", MQTT_311)  # reserved flags [MQTT-2.1.3-1]
    with pytest.raises(PeerError):
        _all(b"\x40\x02\x00\x01", None)  # before CONNECT [MQTT-3.1.0-1]
