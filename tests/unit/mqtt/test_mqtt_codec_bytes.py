"""Byte-exact encodings of every packet type in MQTT 3.1.1 and 5.0, and input split at
every offset."""

from __future__ import annotations

import pytest
from mqtt_cases import CASES, case_bytes

from hubbub.errors import UsageError
from hubbub.mqtt.codec import Decoder, encode, encode_publish, publish_template
from hubbub.mqtt.packets import (
    Connect,
    Packet,
    Properties,
    Publish,
    Suback,
    Subscribe,
    Subscription,
    Unsubscribe,
)
from hubbub.mqtt.reason_codes import ReasonCode

IDS = [c[0] for c in CASES]


def decode_all(data: bytes, version: int | None, chunks: list[bytes] | None = None
               ) -> list[Packet]:
    decoder = Decoder(version=version)
    out: list[Packet] = []
    for chunk in chunks if chunks is not None else [data]:
        decoder.feed(chunk)
        while (packet := decoder.next_packet()) is not None:
            out.append(packet)
    assert decoder.buffered == 0
    return out


def decoder_version(packet: Packet, version: int) -> int | None:
    return None if isinstance(packet, Connect) else version


@pytest.mark.parametrize(("name", "packet", "version", "hex_text"), CASES, ids=IDS)
def test_encode_is_byte_exact(name: str, packet: Packet, version: int, hex_text: str) -> None:
    assert encode(packet, version).hex(" ") == case_bytes(hex_text).hex(" ")


@pytest.mark.parametrize(("name", "packet", "version", "hex_text"), CASES, ids=IDS)
def test_decode_gives_the_packet_back(name: str, packet: Packet, version: int,
                                      hex_text: str) -> None:
    [decoded] = decode_all(case_bytes(hex_text), decoder_version(packet, version))
    assert decoded == packet


def test_decoded_reason_codes_are_enum_members() -> None:
    [suback] = decode_all(bytes.fromhex("90 05 00 01 00 01 87"), 5)
    assert isinstance(suback, Suback)
    assert suback.reason_codes == (ReasonCode.GRANTED_QOS_1, ReasonCode.NOT_AUTHORIZED)
    assert all(isinstance(c, ReasonCode) for c in suback.reason_codes)


def test_311_suback_maps_v5_failures_to_0x80() -> None:
    assert encode(Suback(1, (0, 2, 0x87, 0x8F)), 4) == bytes.fromhex("90 06 00 01 00 02 80 80")


def test_311_drops_properties() -> None:
    packet = Publish("t", b"", properties=Properties(message_expiry_interval=5))
    assert encode(packet, 4) == bytes.fromhex("30 03 00 01 74")


def test_encode_publish_matches_encode() -> None:
    props = Properties(content_type="text/plain", user_properties=(("a", "b"),))
    for version in (4, 5):
        for qos, pid in ((0, None), (1, 9), (2, 65535)):
            packet = Publish("room/1", b"x" * 300, qos, True, bool(qos), pid, props)
            assert encode_publish("room/1", b"x" * 300, qos, True, bool(qos), pid, props,
                                  version) == encode(packet, version)


@pytest.mark.parametrize("version", [4, 5])
def test_publish_template_stamps_ids_and_dup(version: int) -> None:
    template = publish_template("chat/pub/lobby", b"hello" * 50, 1, False,
                                Properties(message_expiry_interval=9) if version == 5
                                else Properties(), version)
    for pid in (1, 2, 258, 65535):
        for dup in (False, True):
            expected = encode_publish("chat/pub/lobby", b"hello" * 50, 1, False, dup, pid,
                                      template_props(version), version)
            assert template.with_packet_id(pid, dup) == expected
    assert template.data[template.offset:template.offset + 2] == b"\xff\xff"


def template_props(version: int) -> Properties:
    return Properties(message_expiry_interval=9) if version == 5 else Properties()


def test_publish_template_refuses_qos0_and_bad_ids() -> None:
    with pytest.raises(UsageError):
        publish_template("t", b"", 0)
    template = publish_template("t", b"", 2)
    for bad in (0, 65536, -1):
        with pytest.raises(UsageError):
            template.with_packet_id(bad)


@pytest.mark.parametrize("packet", [
    Publish("t", b"", 1),  # QoS 1 without a packet id
    Publish("t", b"", 0, dup=True),  # [MQTT-3.3.1-2]
    Publish("t", b"", 3, packet_id=1),
    Subscribe(1, ()),
    Unsubscribe(1, ()),
    Subscribe(0, (Subscription("a"),)),  # packet id 0 [MQTT-2.2.1-3]
    Subscribe(1, (Subscription("a", 3),)),
    Publish("x" * 70_000, b""),
    Publish("t", b"", properties=Properties(session_expiry_interval=1)),  # not on PUBLISH
])
def test_encoding_impossible_packets_is_a_usage_error(packet: Packet) -> None:
    with pytest.raises(UsageError):
        encode(packet, 5)


def test_unknown_version_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        encode(Publish("t"), 3)


# -- input split at every offset ------------------------------------------------------

def stream(version: int) -> tuple[bytes, list[Packet]]:
    """A CONNECT followed by every other case of that version, as one byte stream."""
    connect = next(p for _, p, v, _ in CASES if v == version and isinstance(p, Connect))
    packets = [connect] + [p for _, p, v, _ in CASES if v == version
                           and not isinstance(p, Connect)]
    # 3.1.1 SUBACK failure codes decode as 0x80; the case table already uses 0x80 there.
    return b"".join(encode(p, version) for p in packets), packets


@pytest.mark.parametrize("version", [4, 5])
def test_many_packets_in_one_feed(version: int) -> None:
    data, packets = stream(version)
    assert decode_all(data, None) == packets


@pytest.mark.parametrize("version", [4, 5])
def test_byte_by_byte(version: int) -> None:
    data, packets = stream(version)
    chunks = [data[i:i + 1] for i in range(len(data))]
    assert decode_all(data, None, chunks) == packets


@pytest.mark.parametrize("version", [4, 5])
def test_split_at_every_offset(version: int) -> None:
    data, packets = stream(version)
    for cut in range(len(data) + 1):
        assert decode_all(data, None, [data[:cut], data[cut:]]) == packets, cut


@pytest.mark.parametrize(("name", "packet", "version", "hex_text"), CASES, ids=IDS)
def test_each_case_split_in_three_everywhere(name: str, packet: Packet, version: int,
                                             hex_text: str) -> None:
    data = case_bytes(hex_text)
    n = len(data)
    for a in range(n + 1):
        for b in range(a, min(n, a + 12) + 1):
            chunks = [data[:a], data[a:b], data[b:]]
            assert decode_all(data, decoder_version(packet, version), chunks) == [packet]


def test_incomplete_packet_waits() -> None:
    decoder = Decoder(version=4)
    decoder.feed(b"\x30")
    assert decoder.next_packet() is None
    decoder.feed(b"\x80")  # remaining length continues
    assert decoder.next_packet() is None
    decoder.feed(b"\x01" + b"\x00\x01t")  # 128 bytes announced, 3 present
    assert decoder.next_packet() is None
    decoder.feed(b"z" * 125)
    packet = decoder.next_packet()
    assert packet == Publish("t", b"z" * 125)
    assert decoder.next_packet() is None
