"""Hypothesis: every packet round-trips in any chunking; garbage only ever gives
HubbubError subclasses, never another exception and never a hang."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mqtt_cases import CASES, case_bytes
from mqtt_strategies import packets

from hubbub.errors import HubbubError, PeerError
from hubbub.mqtt.codec import Decoder, encode
from hubbub.mqtt.connection import ConnectionLimits, ConnectionState, ServerConnection
from hubbub.mqtt.packets import Connack, Connect, Packet

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
FEW = settings(SETTINGS, max_examples=40)
FUZZ = settings(SETTINGS, max_examples=1000)


def decode_chunks(chunks: list[bytes], version: int | None) -> list[Packet]:
    decoder = Decoder(version=version)
    out: list[Packet] = []
    for chunk in chunks:
        decoder.feed(chunk)
        while (packet := decoder.next_packet()) is not None:
            out.append(packet)
    assert decoder.buffered == 0
    return out


def cut(data: bytes, points: list[int]) -> list[bytes]:
    marks = sorted({p % (len(data) + 1) for p in points})
    bounds = [0, *marks, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@pytest.mark.parametrize("version", [4, 5])
@SETTINGS
@given(data=st.data())
def test_round_trip(version: int, data: st.DataObject) -> None:
    packet = data.draw(packets(version))
    wire = encode(packet, version)
    start = None if isinstance(packet, Connect) else version
    assert decode_chunks([wire], start) == [packet]
    points = data.draw(st.lists(st.integers(0, 10_000), max_size=6))
    assert decode_chunks(cut(wire, points), start) == [packet]


@pytest.mark.parametrize("version", [4, 5])
@FEW
@given(data=st.data())
def test_round_trip_of_a_stream(version: int, data: st.DataObject) -> None:
    many = data.draw(st.lists(packets(version).filter(lambda p: not isinstance(p, Connect)),
                              max_size=5))
    wire = b"".join(encode(p, version) for p in many)
    points = data.draw(st.lists(st.integers(0, 100_000), max_size=10))
    assert decode_chunks(cut(wire, points), version) == many


def drain(decoder: Decoder) -> None:
    """Decode until more bytes are needed or the peer is caught; nothing else may escape."""
    for _ in range(100_000):  # each packet consumes at least 2 bytes: this always ends
        try:
            if decoder.next_packet() is None:
                return
        except HubbubError:
            return
    raise AssertionError("decoder loops")


@FUZZ
@given(garbage=st.binary(max_size=400), version=st.sampled_from([None, 4, 5]))
def test_arbitrary_bytes(garbage: bytes, version: int | None) -> None:
    decoder = Decoder(max_packet_size=1000, version=version)
    decoder.feed(garbage)
    drain(decoder)


VALID = [(case_bytes(h), None if isinstance(p, Connect) else v) for _, p, v, h in CASES]


@FUZZ
@given(data=st.data())
def test_mutated_valid_packets(data: st.DataObject) -> None:
    wire, version = data.draw(st.sampled_from(VALID))
    buf = bytearray(wire)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        at = data.draw(st.integers(0, max(len(buf) - 1, 0)))
        if op == "flip" and buf:
            buf[at] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "set" and buf:
            buf[at] = data.draw(st.integers(0, 255))
        elif op == "insert":
            buf[at:at] = data.draw(st.binary(min_size=1, max_size=4))
        elif op == "delete" and buf:
            del buf[at]
        elif op == "truncate":
            del buf[at:]
    decoder = Decoder(max_packet_size=10_000, version=version)
    decoder.feed(bytes(buf))
    drain(decoder)


@pytest.mark.parametrize("version", [4, 5])
@SETTINGS
@given(garbage=st.binary(max_size=300))
def test_garbage_after_connect_ends_in_a_clean_goodbye(version: int, garbage: bytes) -> None:
    conn = ServerConnection()
    conn.receive_data(encode(Connect(protocol_level=version, client_id="fuzz"), version))
    conn.send(Connack())
    try:
        conn.receive_data(garbage)
    except PeerError:
        assert conn.state is ConnectionState.ERROR
        goodbye = conn.goodbye()
        if version == 4:
            assert goodbye == b""
        else:
            [packet] = decode_chunks([goodbye], 5)
            assert type(packet).__name__ == "Disconnect"


CLIENT_TYPES = ("Publish", "Puback", "Pubrec", "Pubrel", "Pubcomp", "Subscribe",
                "Unsubscribe", "Pingreq", "Disconnect", "Auth")


@pytest.mark.parametrize("version", [4, 5])
@FEW
@given(data=st.data())
def test_valid_client_traffic_only_ever_gives_packets_or_peer_errors(
        version: int, data: st.DataObject) -> None:
    traffic = data.draw(st.lists(packets(version).filter(
        lambda p: type(p).__name__ in CLIENT_TYPES), max_size=6))
    conn = ServerConnection(ConnectionLimits(receive_maximum=3, topic_alias_maximum=2))
    conn.receive_data(encode(Connect(protocol_level=version, client_id="c"), version))
    conn.send(Connack())
    try:
        got = conn.receive_data(b"".join(encode(p, version) for p in traffic))
    except PeerError:
        assert conn.state is ConnectionState.ERROR
        assert isinstance(conn.goodbye(), bytes)
    else:
        assert len(got) <= len(traffic)
